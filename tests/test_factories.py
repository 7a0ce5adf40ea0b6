"""Models and datasets of the user's own: factories in configs, registration, one-line errors
before any work, and stage keys that follow the factory's source."""

import textwrap
from pathlib import Path

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

import landform.data
import landform.models
from landform.cli import app
from landform.data import Dataset, Split, as_dataset, load
from landform.errors import ConfigError, ShapeError, UnknownNameError
from landform.models import build
from landform.models.factory import fingerprint, source_fingerprints
from landform.store.stages import stage_key
from landform.studies import load_config, run_config_file

REPO = Path(__file__).resolve().parents[1]
CONFIGS = REPO / "configs" / "volume"
runner = CliRunner()

#: settings that make a volume run take seconds
TINY = [
    "data.levels=[0, 40]",
    "data.options={n_train: 200, n_test: 100, noise: 0.3}",
    "train.epochs=200",
    "train.eval_every=100",
    "volume.directions=8",
    "volume.thresholds=[0.3]",
    "volume.bootstrap=10",
    "seeds={model: [0], data: [0]}",
]

USER_CODE = """
import flax.linen as nn
import numpy as np


class Net(nn.Module):
    width: int

    @nn.compact
    def __call__(self, x):
        return nn.Dense(OUTPUTS)(nn.relu(nn.Dense(self.width)(x.reshape((x.shape[0], -1)))))


OUTPUTS = 1


def net(width=8):
    return Net(width)


def wrong_kind(width=8):
    return {"width": width}


def spirals(seed=0, n=120):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, 2)).astype(np.float32)
    y = (x[:, 0] * x[:, 1] > 0).astype(np.int32)
    return {"train": (x[: n // 2], y[: n // 2]), "test": (x[n // 2 :], y[n // 2 :])}
"""


def tiny_config(tmp_path: Path, model: str, dataset: str = "swiss_roll", **extra) -> Path:
    """A volume config with ``model`` (a YAML flow mapping) on ``dataset``."""
    options = "{n_train: 200, n_test: 100, noise: 0.3}" if dataset == "swiss_roll" else "{}"
    path = tmp_path / "config.yaml"
    path.write_text(
        textwrap.dedent(
            f"""
            study: volume
            name: tiny
            data: {{dataset: "{dataset}", options: {options}, base: 20, levels: [0, 40]}}
            model: {model}
            loss: binary_cross_entropy
            train: {{optimizer: adamw, learning_rate: 0.01, epochs: 200, eval_every: 100}}
            volume: {{directions: 8, thresholds: [0.3], bootstrap: 10}}
            seeds: {{model: [0], data: [0]}}
            """
        )
    )
    return path


@pytest.fixture
def user_file(tmp_path):
    path = tmp_path / "user_models.py"
    path.write_text(USER_CODE)
    return path


@pytest.mark.slow  # the README test below runs the same config from Python
def test_example_flax_config_runs_end_to_end_from_the_command_line(tmp_path, monkeypatch):
    monkeypatch.chdir(REPO)  # `examples.my_model` is importable from the repository root
    args = ["run", str(CONFIGS / "own_flax_model.yaml"), "--variant", "quick", "--out", str(tmp_path / "run")]
    result = runner.invoke(app, args + [item for setting in TINY for item in ("--set", setting)])
    assert result.exit_code == 0, result.output
    table = pd.read_parquet(tmp_path / "run" / "tables" / "volumes.parquet")
    assert set(table.model_examples) == {20, 60}
    # the model is the residual MLP of examples/my_model.py: width 32, depth 2, 2 inputs, 1 output
    assert (table.parameters == 2 * 32 + 32 + 2 * (32 * 32 + 32) + 32 + 1).all()
    inside = table[table.status != "outside"]
    assert len(inside) and np.isfinite(inside.mean_log_radius).all()


def test_readme_shows_the_example_first_and_its_python_runs(tmp_path, monkeypatch):
    readme = (REPO / "README.md").read_text()
    setup = readme.index("make test")
    example = readme.index("factory: examples.my_model:flax_mlp")
    assert setup < example < readme.index("## Data")
    assert "factory: examples.my_model:flax_mlp" in (CONFIGS / "own_flax_model.yaml").read_text()
    source = readme[example:].split("```python\n", 1)[1].split("```", 1)[0]
    assert "landform.models.register" in source
    # run the README's code as it is, on the tiny settings, into a temporary folder
    monkeypatch.chdir(REPO)
    import landform.studies

    runs = []

    def tiny_run(path, *, variant=None, overrides=(), **_):
        runs.append(landform.studies.load_config(path, variant, [*overrides, *TINY])[1])
        return run_config_file(
            path,
            variant=variant,
            overrides=[*overrides, *TINY],
            out=tmp_path / "run",
            progress=False,
            log=lambda line: None,
        )

    monkeypatch.setattr(landform.studies, "run_config_file", tiny_run)
    exec(compile(source, "README.md", "exec"), {})
    assert runs[0].model == {"name": "residual_mlp", "width": 16}
    table = pd.read_parquet(tmp_path / "run" / "tables" / "volumes.parquet")
    assert (table.parameters == 2 * 16 + 16 + 2 * (16 * 16 + 16) + 16 + 1).all()


def test_factory_models_from_files_rebuild_from_their_spec(user_file):
    spec = {"factory": f"{user_file}:net", "options": {"width": 5}, "input_shape": [2]}
    model = build(spec)
    params = model.init(jax.random.key(0))
    assert model.apply(params, jnp.ones((3, 2))).shape == (3, 1)
    assert model.spec["fingerprint"] == fingerprint(landform.models.factory.resolve(f"{user_file}:net"))
    again = build(model.spec)  # what load_trained does with a saved model.json
    np.testing.assert_array_equal(
        jax.tree.leaves(again.init(jax.random.key(0)))[0], jax.tree.leaves(model.init(jax.random.key(0)))[0]
    )


def test_each_return_kind_becomes_a_model():
    import equinox as eqx
    from flax import nnx

    def linen(input_shape):
        return nn.Dense(3)

    def with_key(key, input_shape):
        return eqx.nn.MLP(input_shape[0], 3, 4, 1, key=key)

    def nnx_module(width=4):
        return nnx.Linear(2, width, rngs=nnx.Rngs(0))

    def landform_model(input_shape):
        return landform.models.mlp(input_shape, [4], 3)

    for factory, outputs in ((linen, 3), (with_key, 3), (nnx_module, 4), (landform_model, 3)):
        landform.models.register(factory.__name__, factory, replace=True)
        model = build({"name": factory.__name__, "input_shape": [2]})
        params = model.init(jax.random.key(1))
        assert model.apply(params, jnp.ones((5, 2))).shape == (5, outputs)
    # a factory taking `key` gives each key its own parameters
    model = build({"name": "with_key", "input_shape": [2]})
    one, two = (jax.tree.leaves(model.init(jax.random.key(k)))[0] for k in (1, 2))
    assert not np.allclose(one, two)
    assert model.unit_axis == 0  # Equinox layout


def test_registration_rules():
    with pytest.raises(ConfigError, match="zoo"):
        landform.models.register("mlp", lambda: None)
    landform.models.register("twice", lambda: None, replace=True)
    with pytest.raises(ConfigError, match="already registered"):
        landform.models.register("twice", lambda: None)
    with pytest.raises(UnknownNameError, match="factory"):
        build({"name": "never_registered"})
    with pytest.raises(ConfigError, match="built-in"):
        landform.data.register("mnist", lambda: None)


def test_registered_datasets_and_splits_become_datasets(user_file):
    split = load(f"{user_file}:spirals", seed=3)
    assert isinstance(split, Dataset) and split.task == "classification" and split.num_classes == 2
    assert split.train.x.dtype == np.float32 and split.train.y.dtype == np.int32 and len(split.test) == 60

    def regression(n=10):
        x = np.linspace(0, 1, n)[:, None]
        return {"train": Split(x.astype(np.float32), (2 * x).astype(np.float32))}

    landform.data.register("my_regression", regression, replace=True)
    data = load("my_regression", n=7)
    assert data.task == "regression" and len(data.train) == 7
    with pytest.raises(ConfigError, match="does not accept options"):
        load("my_regression", size=3)
    with pytest.raises(ConfigError, match="'train' split"):
        as_dataset({"test": (np.ones((2, 1)), np.ones(2))}, "mine")
    with pytest.raises(ConfigError, match="returned a list"):
        as_dataset([1, 2], "mine")


def test_volume_study_with_a_data_factory_and_a_model_factory(user_file, tmp_path):
    path = tiny_config(tmp_path, f'{{factory: "{user_file}:net", options: {{width: 8}}}}', f"{user_file}:spirals")
    report = run_config_file(path, out=tmp_path / "run", progress=False, log=lambda line: None)
    table = pd.read_parquet(report.parent / "tables" / "volumes.parquet")
    assert set(table.model_examples) == {20, 60} and (table.parameters == 2 * 8 + 8 + 8 + 1).all()


def test_errors_are_one_line_before_any_work(user_file, tmp_path):
    # an import path that does not import: at validation, exit 2 from the command line
    path = tiny_config(tmp_path, '{factory: "no_such_package.models:net"}')
    with pytest.raises(ConfigError, match="model.factory.*no_such_package"):
        load_config(path)
    result = runner.invoke(app, ["run", str(path), "--out", str(tmp_path / "never")])
    assert result.exit_code == 2 and "no_such_package" in result.output and "Traceback" not in result.output
    assert not (tmp_path / "never" / "stages").exists()
    missing = tiny_config(tmp_path, f'{{factory: "{user_file}:not_there"}}')
    with pytest.raises(ConfigError, match="has no attribute 'not_there'"):
        load_config(missing)
    data = tiny_config(tmp_path, f'{{factory: "{user_file}:net"}}', "nowhere.data:make")
    with pytest.raises(ConfigError, match="data.dataset.*nowhere"):
        load_config(data)

    # a factory returning the wrong kind: before any model is trained
    logs: list[str] = []
    wrong = tiny_config(tmp_path, f'{{factory: "{user_file}:wrong_kind"}}')
    with pytest.raises(ConfigError, match="returned a builtins.dict; return a landform Model"):
        run_config_file(wrong, out=tmp_path / "wrong", progress=False, log=logs.append)
    assert not any("stage train" in line for line in logs)
    # outputs that do not fit the loss: ten logits for binary targets
    user_file.write_text(USER_CODE.replace("OUTPUTS = 1", "OUTPUTS = 10"))
    shape = tiny_config(tmp_path, f'{{factory: "{user_file}:net"}}')
    with pytest.raises(ShapeError, match="binary_cross_entropy needs one logit"):
        run_config_file(shape, out=tmp_path / "shape", progress=False, log=logs.append)
    assert not any("stage train" in line for line in logs)
    # unknown options
    options = tiny_config(tmp_path, f'{{factory: "{user_file}:net", options: {{depth: 3}}}}')
    with pytest.raises(ConfigError, match="does not accept options"):
        run_config_file(options, out=tmp_path / "options", progress=False, log=logs.append)


def test_editing_the_factory_source_invalidates_the_cached_minima(user_file, tmp_path):
    path = tiny_config(tmp_path, f'{{factory: "{user_file}:net", options: {{width: 4}}}}', f"{user_file}:spirals")
    settings = {"model": {"factory": f"{user_file}:net", "options": {"width": 4}}}
    before = stage_key("train", settings)
    assert source_fingerprints(settings) == {
        f"{user_file}:net": fingerprint(landform.models.factory.resolve(f"{user_file}:net"))
    }
    assert stage_key("train", {"model": {"name": "mlp"}}) == stage_key("train", {"model": {"name": "mlp"}})

    def run() -> list[str]:
        logs: list[str] = []
        run_config_file(path, out=tmp_path / "run", progress=False, log=logs.append)
        return [line for line in logs if line.startswith("stage ")]

    first = run()
    assert all(line.endswith("running") for line in first)
    assert all(line.endswith("cached") for line in run())
    user_file.write_text(USER_CODE + "\n# an edit that changes nothing but the source\n")
    assert stage_key("train", settings) != before
    third = run()
    assert any(line.startswith("stage train") and line.endswith("running") for line in third)
    assert any(line.startswith("stage data") and line.endswith("running") for line in third)  # same file
