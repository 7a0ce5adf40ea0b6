"""A config naming a PyTorch module runs the minima-volume study end to end (through the
module's JAX twin, from PyTorch's own initialisation), and a checkpoint saved by PyTorch
loads into the twin."""

from pathlib import Path

import jax
import numpy as np
import pandas as pd
import pytest

torch = pytest.importorskip("torch")

from landform.models import build  # noqa: E402
from landform.models.torch import load_state_dict, twin  # noqa: E402
from landform.studies import run_config_file  # noqa: E402
from landform.train import load_trained  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
CONFIG = REPO / "configs" / "volume" / "own_torch_model.yaml"
TINY = [
    "data.levels=[0, 40]",
    "data.options={n_train: 200, n_test: 100, noise: 0.3}",
    "train.epochs=200",
    "train.eval_every=100",
    "volume.directions=8",
    "volume.thresholds=[0.3]",
    "volume.bootstrap=10",
    "seeds={model: [3], data: [0]}",
]


def test_a_config_naming_a_pytorch_module_runs_the_volume_study(tmp_path, monkeypatch):
    monkeypatch.chdir(REPO)
    report = run_config_file(
        CONFIG, variant="quick", out=tmp_path / "run", overrides=TINY, progress=False, log=lambda line: None
    )
    table = pd.read_parquet(report.parent / "tables" / "volumes.parquet")
    assert set(table.model_examples) == {20, 60}
    assert (table.parameters == 2 * 32 + 32 + 2 * (32 * 32 + 32) + 32 + 1).all()
    inside = table[table.status != "outside"]
    assert len(inside) and np.isfinite(inside.mean_log_radius).all()

    # training started from PyTorch's initialisation of the factory's module under seed 3
    from examples.my_model import torch_mlp

    model = build(
        {
            "factory": "examples.my_model:torch_mlp",
            "options": {"hidden": [32, 32, 32], "outputs": 1},
            "input_shape": [2],
        }
    )
    torch.manual_seed(3)
    module = torch_mlp((2,), [32, 32, 32], 1)
    expected = load_state_dict(twin(module, (2,))[0], module.state_dict())
    for got, want in zip(jax.tree.leaves(model.init(jax.random.key(3))), jax.tree.leaves(expected)):
        np.testing.assert_array_equal(got, want)
    # the saved minima rebuild from their spec (the factory is called again)
    saved = next((tmp_path / "run" / "stages").glob("train-*/final"))
    rebuilt, params, _ = load_trained(saved)
    assert rebuilt.spec["factory"] == "examples.my_model:torch_mlp" and rebuilt.apply(
        params, np.ones((3, 2))
    ).shape == (3, 1)


def test_a_project_checkpoint_file_loads_into_the_twin(tmp_path):
    # the minima-volume project's MNIST MLP: `model` = Sequential(Linear, ReLU, Linear, ReLU, Linear)
    torch.manual_seed(0)
    network = torch.nn.Sequential(
        torch.nn.Linear(784, 256), torch.nn.ReLU(), torch.nn.Linear(256, 128), torch.nn.ReLU(), torch.nn.Linear(128, 10)
    )
    holder = torch.nn.Module()
    holder.model = network
    torch.save(holder.state_dict(), tmp_path / "model.pt")
    twin = build({"name": "mlp", "input_shape": [784], "hidden": [256, 128], "outputs": 10})
    params = load_state_dict(twin, tmp_path / "model.pt")
    x = np.random.default_rng(0).standard_normal((5, 784)).astype(np.float32)
    with torch.no_grad():
        expected = network(torch.as_tensor(x)).numpy()
    np.testing.assert_allclose(np.asarray(twin.apply(params, x)), expected, rtol=1e-5, atol=1e-5)
