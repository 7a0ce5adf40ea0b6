"""Tests of landform.train: SAM/ASAM against hand-derived updates, real training runs (MNIST,
modular addition), determinism, early stopping, non-finite handling, ensembles, checkpoints
and config validation."""

from __future__ import annotations

import gzip
import os
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pydantic
import pytest

from landform.data.base import Split
from landform.errors import DataError, LandformError, TrainingError, UnknownNameError
from landform.losses import get_loss
from landform.models import Model, from_apply, mlp
from landform.train import (
    CheckpointError,
    TrainConfig,
    evaluate,
    fit,
    fit_ensemble,
    init_ensemble,
    load_trained,
    make_optimizer,
    make_schedule,
    sam_gradient,
    save_trained,
)

MNIST_FOLDER = Path(os.environ.get("LANDFORM_DATA", "/work/shared/datasets")) / "mnist"
if not MNIST_FOLDER.is_dir():
    MNIST_FOLDER = Path("/work/shared/datasets/mnist")


# --------------------------------------------------------------------------------------------
# helpers


def tree_equal(a, b) -> bool:
    leaves_a, leaves_b = jax.tree_util.tree_leaves(a), jax.tree_util.tree_leaves(b)
    return len(leaves_a) == len(leaves_b) and all(
        np.array_equal(np.asarray(x), np.asarray(y)) for x, y in zip(leaves_a, leaves_b)
    )


def tree_close(a, b, rtol=1e-5, atol=1e-6) -> bool:
    return all(
        np.allclose(np.asarray(x), np.asarray(y), rtol=rtol, atol=atol)
        for x, y in zip(jax.tree_util.tree_leaves(a), jax.tree_util.tree_leaves(b))
    )


def quadratic_model(curvatures: np.ndarray) -> Model:
    """Outputs sqrt(d·a_j/2)·θ_j for every example, so that the mse loss against zero targets is
    exactly L(θ) = ½ Σ_j a_j θ_j² = ½ θᵀAθ with A = diag(a)."""
    d = len(curvatures)
    scale = jnp.sqrt(d * jnp.asarray(curvatures, jnp.float32) / 2)

    def apply(params, x):
        return jnp.broadcast_to(scale * params["theta"], (x.shape[0], d))

    return Model(init=lambda key: {"theta": jnp.ones(d)}, apply=apply, name="quadratic")


def quadratic_split(d: int, n: int = 4) -> Split:
    return Split(np.zeros((n, 1), np.float32), np.zeros((n, d), np.float32))


def blobs(n: int = 240, classes: int = 3, features: int = 5, seed: int = 0) -> Split:
    """Gaussian blobs: an easy classification problem."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(0, 3, (classes, features))
    y = rng.integers(0, classes, n).astype(np.int32)
    x = (centres[y] + rng.normal(0, 1, (n, features))).astype(np.float32)
    return Split(x, y)


def read_idx(path: Path) -> np.ndarray:
    """A minimal IDX reader (magic: two zero bytes, a type byte, the number of dimensions)."""
    raw = gzip.open(path).read()
    ndim = raw[3]
    dims = np.frombuffer(raw, ">u4", ndim, 4)
    return np.frombuffer(raw, np.uint8, offset=4 + 4 * ndim).reshape(dims)


def mnist_split(kind: str, count: int | None = None) -> Split:
    images = read_idx(MNIST_FOLDER / f"{kind}-images-idx3-ubyte.gz")[:count]
    labels = read_idx(MNIST_FOLDER / f"{kind}-labels-idx1-ubyte.gz")[:count]
    x = (images.reshape(len(images), -1).astype(np.float32) / 255.0 - 0.1307) / 0.3081
    return Split(x, labels.astype(np.int32))


# Tests share one small model, data size and config where they can: fits that differ only in
# seed, epochs, target or checkpoints reuse one compilation.
BLOBS = blobs()
BLOB_MODEL = mlp(input_shape=(5,), hidden=[16], outputs=3)
BASE = TrainConfig(batch_size=32, epochs=4, eval_every=2)


# --------------------------------------------------------------------------------------------
# SAM and ASAM against hand-derived updates

CURVATURES = np.array([1.0, 2.0, 5.0, 0.5])
THETA0 = np.array([1.0, -2.0, 0.5, 3.0])
LEARNING_RATE, RHO, ETA, STEPS = 0.05, 0.1, 0.01, 6


def sam_trajectory(adaptive: bool) -> list[np.ndarray]:
    """Plain SGD with the SAM/ASAM gradient on L = ½θᵀAθ, derived by hand in float64:
    g = Aθ; SAM: ε = ρ·g/‖g‖; ASAM: ε = ρ·t²g/‖t g‖ with t = |θ| + η;
    θ ← θ − lr·A(θ + ε)."""
    theta, out = THETA0.copy(), [THETA0.copy()]
    for _ in range(STEPS):
        g = CURVATURES * theta
        if adaptive:
            t = np.abs(theta) + ETA
            epsilon = RHO * t**2 * g / np.sqrt(np.sum((t * g) ** 2))
        else:
            epsilon = RHO * g / np.sqrt(np.sum(g**2))
        theta = theta - LEARNING_RATE * CURVATURES * (theta + epsilon)
        out.append(theta.copy())
    return out


@pytest.mark.parametrize("adaptive", [False, True], ids=["sam", "asam"])
def test_sam_gradient_matches_hand_derived_sgd_steps(adaptive):
    expected = sam_trajectory(adaptive)
    a = jnp.asarray(CURVATURES, jnp.float32)

    def loss_fn(params):
        return 0.5 * jnp.sum(a * params["theta"] ** 2)

    params = {"theta": jnp.asarray(THETA0, jnp.float32)}
    step = jax.jit(lambda p: sam_gradient(loss_fn, p, RHO, adaptive=adaptive, eta=ETA))
    for k in range(STEPS):
        gradient = step(params)
        params = jax.tree_util.tree_map(lambda p, g: p - LEARNING_RATE * g, params, gradient)
        np.testing.assert_allclose(params["theta"], expected[k + 1], rtol=2e-5, atol=1e-6)


@pytest.mark.parametrize("method", ["sam", "asam"])
def test_fit_with_sam_matches_hand_derived_sgd_steps(method):
    """The same trajectory through fit: full batch, SGD without momentum, one step per epoch."""
    expected = sam_trajectory(method == "asam")
    model = quadratic_model(CURVATURES)
    config = TrainConfig(
        optimizer="sgd",
        momentum=0.0,
        learning_rate=LEARNING_RATE,
        epochs=STEPS,
        sam=method,
        sam_rho=RHO,
        sam_eta=ETA,
        checkpoint_epochs=list(range(STEPS + 1)),
    )
    params = {"theta": jnp.asarray(THETA0, jnp.float32)}
    split = quadratic_split(len(CURVATURES))
    result = fit(model, params, split, "mse", config, test=split)
    assert sorted(result.checkpoints) == list(range(STEPS + 1))
    assert set(result.history) == {"epoch", "train_loss", "test_loss", "seconds"}  # no accuracy
    for k in range(STEPS + 1):
        np.testing.assert_allclose(result.checkpoints[k]["theta"], expected[k], rtol=2e-5, atol=1e-6)
    # history: the full-batch loss is ½θᵀAθ at each epoch
    for k, value in zip(result.history["epoch"], result.history["train_loss"]):
        assert value == pytest.approx(0.5 * np.sum(CURVATURES * expected[k] ** 2), rel=1e-4)


def test_sam_gradient_at_a_stationary_point_is_zero():
    loss_fn = lambda p: jnp.sum(p["w"] ** 2)  # noqa: E731
    for adaptive in (False, True):
        g = sam_gradient(loss_fn, {"w": jnp.zeros(3)}, 0.05, adaptive=adaptive)
        assert np.all(np.asarray(g["w"]) == 0)


def test_default_sam_radius_depends_on_method():
    assert TrainConfig(sam="sam").resolved_sam_rho == 0.05
    assert TrainConfig(sam="asam").resolved_sam_rho == 0.5
    assert TrainConfig(sam="asam", sam_rho=0.2).resolved_sam_rho == 0.2
    assert TrainConfig().resolved_sam_rho is None


# --------------------------------------------------------------------------------------------
# real training runs


@pytest.mark.slow
def test_mnist_mlp_full_batch_adamw_reaches_93_percent(monkeypatch):
    if not MNIST_FOLDER.is_dir():
        pytest.skip(f"MNIST not found in {MNIST_FOLDER}")
    monkeypatch.setenv("LANDFORM_DATA", str(MNIST_FOLDER.parent))
    train, test = mnist_split("train", 6000), mnist_split("t10k")
    model = mlp(input_shape=(784,), hidden=[256, 128], outputs=10)
    config = TrainConfig(optimizer="adamw", learning_rate=1e-3, weight_decay=0.01, epochs=100, eval_every=50)
    result = fit(model, model.init(jax.random.PRNGKey(0)), train, "cross_entropy", config, test=test)
    assert result.epochs_run == 100 and not result.stopped_early
    assert result.history["epoch"] == [0, 50, 100]
    assert result.history["train_accuracy"][-1] > 0.99
    assert result.history["test_accuracy"][-1] >= 0.93
    assert evaluate(model, result.params, test, "cross_entropy")["accuracy"] == pytest.approx(
        result.history["test_accuracy"][-1], abs=1e-6
    )


def test_modular_addition_mlp_fits_the_training_set():
    p = 97
    a, b = (v.ravel() for v in np.meshgrid(np.arange(p), np.arange(p), indexing="ij"))
    eye = np.eye(p, dtype=np.float32)
    x = np.concatenate([eye[a], eye[b]], axis=1)
    y = ((a + b) % p).astype(np.int32)
    chosen = np.random.default_rng(0).permutation(p * p)[: p * p // 2]
    model = mlp(input_shape=(2 * p,), hidden=[250], outputs=p)
    config = TrainConfig(learning_rate=1e-2, epochs=100, eval_every=25)
    result = fit(model, model.init(jax.random.PRNGKey(0)), Split(x[chosen], y[chosen]), "cross_entropy", config)
    assert result.history["train_accuracy"][-1] == 1.0


# --------------------------------------------------------------------------------------------
# loop behaviour


def test_minibatch_training_is_deterministic_and_seeded():
    params = BLOB_MODEL.init(jax.random.PRNGKey(1))
    config = BASE.model_copy(update={"seed": 7})
    first = fit(BLOB_MODEL, params, BLOBS, "cross_entropy", config)
    second = fit(BLOB_MODEL, params, BLOBS, "cross_entropy", config)
    other = fit(BLOB_MODEL, params, BLOBS, "cross_entropy", config.model_copy(update={"seed": 8}))
    assert tree_equal(first.params, second.params)
    assert first.history["train_loss"] == second.history["train_loss"]
    assert not tree_equal(first.params, other.params)
    assert first.history["epoch"] == [0, 2, 4]
    assert first.history["train_loss"][-1] < first.history["train_loss"][0]


def test_early_stopping_at_target_training_loss():
    config = BASE.model_copy(update={"epochs": 400, "target_train_loss": 0.1})
    result = fit(BLOB_MODEL, BLOB_MODEL.init(jax.random.PRNGKey(0)), BLOBS, "cross_entropy", config)
    assert result.stopped_early
    assert result.epochs_run < 400 and result.epochs_run % 2 == 0
    assert result.history["epoch"][-1] == result.epochs_run
    assert result.history["train_loss"][-1] <= 0.1 < result.history["train_loss"][-2]
    assert "target" in result.reason and str(result.epochs_run) in result.reason
    assert evaluate(BLOB_MODEL, result.params, BLOBS, "cross_entropy")["loss"] <= 0.1


DIVERGENT = dict(optimizer="sgd", momentum=0.0, learning_rate=100.0, epochs=40, eval_every=7)
QUADRATIC = quadratic_model(np.array([1.0, 1.0]))


def test_non_finite_loss_stops_and_keeps_the_last_finite_parameters():
    """SGD with lr·a = 100 multiplies θ by −99 per step until the loss overflows float32."""
    split = quadratic_split(2)
    config = TrainConfig(**DIVERGENT, checkpoint_epochs=list(range(41)))
    result = fit(QUADRATIC, {"theta": jnp.array([1.0, -1.0])}, split, "mse", config)
    assert result.stopped_early
    assert result.reason.startswith("non-finite loss at epoch")
    assert 0 < result.epochs_run < 40
    theta = np.asarray(result.params["theta"])
    assert np.all(np.isfinite(theta))
    assert np.isfinite(np.float32(0.5) * np.sum(theta**2, dtype=np.float32))
    # the next SGD step (θ ← θ − lr·θ) would have given a non-finite loss
    following = (theta - np.float32(100.0) * theta).astype(np.float32)
    with np.errstate(over="ignore"):
        assert not np.isfinite(np.float32(0.5) * np.sum(following**2, dtype=np.float32))
    assert tree_equal(result.checkpoints[result.epochs_run], result.params)
    assert max(result.checkpoints) == result.epochs_run
    assert result.history["epoch"][-1] == result.epochs_run
    assert all(np.isfinite(result.history["train_loss"]))


def test_non_finite_loss_raises_when_asked_and_attaches_the_result():
    config = TrainConfig(**DIVERGENT, on_nonfinite="raise")
    with pytest.raises(TrainingError, match="non-finite loss at epoch") as caught:
        fit(QUADRATIC, {"theta": jnp.array([1.0, -1.0])}, quadratic_split(2), "mse", config)
    assert np.all(np.isfinite(np.asarray(caught.value.result.params["theta"])))


def test_minibatch_non_finite_loss_keeps_finite_parameters():
    train, model = BLOBS, BLOB_MODEL
    config = TrainConfig(optimizer="sgd", learning_rate=1e4, batch_size=32, epochs=30, eval_every=10)
    result = fit(model, model.init(jax.random.PRNGKey(0)), train, "cross_entropy", config)
    assert result.stopped_early and "non-finite" in result.reason
    leaves = jax.tree_util.tree_leaves(result.params)
    assert all(np.all(np.isfinite(np.asarray(leaf))) for leaf in leaves)
    assert np.isfinite(evaluate(model, result.params, train, "cross_entropy")["loss"])


def test_checkpoint_epochs_are_recorded():
    params = BLOB_MODEL.init(jax.random.PRNGKey(0))
    config = BASE.model_copy(update={"epochs": 5, "checkpoint_epochs": (0, 3, 4, 5)})
    result = fit(BLOB_MODEL, params, BLOBS, "cross_entropy", config)
    assert sorted(result.checkpoints) == [0, 3, 4, 5]
    assert tree_equal(result.checkpoints[0], params)
    assert tree_equal(result.checkpoints[5], result.params)
    assert not tree_equal(result.checkpoints[3], result.checkpoints[4])
    assert result.history["epoch"] == [0, 2, 4, 5]
    # the checkpointed parameters are those a shorter run ends with
    short = fit(BLOB_MODEL, params, BLOBS, "cross_entropy", BASE.model_copy(update={"epochs": 3}))
    assert tree_close(short.params, result.checkpoints[3])


def test_ensemble_of_three_equals_three_separate_fits():
    train, test, model = BLOBS, blobs(n=90, seed=1), BLOB_MODEL
    keys = jax.random.split(jax.random.PRNGKey(3), 3)
    stack = init_ensemble(model, keys)
    config = BASE.model_copy(update={"seed": 5, "checkpoint_epochs": (2,)})
    ensemble = fit_ensemble(model, stack, train, "cross_entropy", config, test=test)
    assert ensemble.size == 3 and ensemble.history["epoch"] == [0, 2, 4]
    base = jax.random.PRNGKey(5)
    for i in range(3):
        single = fit(
            model, model.init(keys[i]), train, "cross_entropy", config, test=test, key=jax.random.fold_in(base, i)
        )
        member = ensemble.member(i)
        assert tree_close(member.params, single.params)
        assert tree_close(member.checkpoints[2], single.checkpoints[2])
        for name in ("train_loss", "train_accuracy", "test_loss", "test_accuracy"):
            np.testing.assert_allclose(member.history[name], single.history[name], rtol=1e-5, atol=1e-6)
        assert member.epochs_run == single.epochs_run == 4


def test_ensemble_members_stop_independently():
    """Member 0 starts far out and overflows early; member 1 starts tiny and finishes."""
    model = QUADRATIC
    stack = {"theta": jnp.array([[1e15, 1e15], [1e-30, 1e-30]])}
    config = TrainConfig(**{**DIVERGENT, "epochs": 8})
    ensemble = fit_ensemble(model, stack, quadratic_split(2), "mse", config)
    assert ensemble.stopped_early == (True, False)
    assert "non-finite" in ensemble.reasons[0] and ensemble.epochs_run[1] == 8
    alone = fit(model, {"theta": stack["theta"][0]}, quadratic_split(2), "mse", config)
    assert alone.epochs_run == ensemble.epochs_run[0]
    assert tree_equal(alone.params, ensemble.member(0).params)
    assert np.all(np.isfinite(np.asarray(ensemble.params["theta"])))


def test_progress_reporter_sees_every_epoch():
    class Recorder:
        def __init__(self):
            self.calls = []

        def start(self, description, total):
            self.calls.append(("start", total))

        def advance(self, n=1, **fields):
            self.calls.append(("advance", n, sorted(fields)))

        def stop(self):
            self.calls.append(("stop",))

    recorder = Recorder()
    fit(BLOB_MODEL, BLOB_MODEL.init(jax.random.PRNGKey(0)), BLOBS, "cross_entropy", BASE, progress=recorder)
    assert recorder.calls[0] == ("start", 4) and recorder.calls[-1] == ("stop",)
    advances = [call for call in recorder.calls if call[0] == "advance"]
    assert sum(call[1] for call in advances) == 4
    assert "train_loss" in advances[-1][2]


def test_nan_in_data_is_a_data_error():
    train, model = BLOBS, BLOB_MODEL
    x = train.x.copy()
    x[3, 1] = np.nan
    with pytest.raises(DataError, match="NaN"):
        fit(model, model.init(jax.random.PRNGKey(0)), Split(x, train.y), "cross_entropy", TrainConfig(epochs=1))
    with pytest.raises(DataError, match="test"):
        y = train.y.astype(np.float32)
        y[0] = np.inf
        bad = Split(train.x, y)
        fit(model, model.init(jax.random.PRNGKey(0)), train, "cross_entropy", TrainConfig(epochs=1), test=bad)


# --------------------------------------------------------------------------------------------
# configuration


def test_invalid_configs_give_clear_errors():
    with pytest.raises(UnknownNameError, match="unknown optimizer 'adagrad'.*adam, adamw, sgd"):
        TrainConfig(optimizer="adagrad")
    with pytest.raises(pydantic.ValidationError, match="learning_rate"):
        TrainConfig(learning_rate=-0.1)
    with pytest.raises(pydantic.ValidationError, match="learning_rate"):
        TrainConfig(learning_rate=float("inf"))
    with pytest.raises(pydantic.ValidationError, match="extra"):
        TrainConfig(learnin_rate=0.1)
    with pytest.raises(UnknownNameError, match="schedule"):
        TrainConfig(schedule="linear")
    with pytest.raises(UnknownNameError, match="asam, sam"):
        TrainConfig(sam="gsam")
    with pytest.raises(pydantic.ValidationError, match="checkpoint_epochs"):
        TrainConfig(epochs=5, checkpoint_epochs=[7])
    with pytest.raises(UnknownNameError, match="optimizer"):
        make_optimizer(TrainConfig.model_construct(optimizer="lion"))


def test_weight_decay_defaults_and_schedules():
    assert TrainConfig().resolved_weight_decay == 0.01
    assert TrainConfig(optimizer="sgd").resolved_weight_decay == 0.0
    cosine = make_schedule(TrainConfig(schedule="cosine", epochs=10, learning_rate=0.1), steps_per_epoch=2)
    assert float(cosine(0)) == pytest.approx(0.1) and float(cosine(20)) == pytest.approx(0.0, abs=1e-8)
    assert float(cosine(10)) == pytest.approx(0.05)
    warm = make_schedule(TrainConfig(schedule="warmup_cosine", epochs=10, warmup_fraction=0.1), 10)
    assert float(warm(0)) == 0.0 and float(warm(10)) == pytest.approx(1e-3)
    decay = make_schedule(TrainConfig(schedule="exponential", decay_rate=0.5), steps_per_epoch=4)
    assert float(decay(8)) == pytest.approx(1e-3 / 4)
    # plain SGD with a cosine schedule: θ_1 = θ_0 − η_0·g
    params = {"w": jnp.array([2.0])}
    optimizer = make_optimizer(TrainConfig(optimizer="sgd", momentum=0.0, learning_rate=0.1, schedule="cosine"))
    updates, _ = optimizer.update({"w": jnp.array([3.0])}, optimizer.init(params), params)
    assert float(updates["w"][0]) == pytest.approx(-0.3)


def test_config_round_trips_through_json():
    config = TrainConfig(optimizer="sgd", sam="asam", checkpoint_epochs=[5, 1, 5], epochs=10)
    assert config.checkpoint_epochs == (1, 5)
    assert TrainConfig.model_validate_json(config.model_dump_json()) == config


# --------------------------------------------------------------------------------------------
# checkpoints


def test_save_and_load_round_trip(tmp_path):
    train, model, config = BLOBS, BLOB_MODEL, BASE.model_copy(update={"epochs": 2})
    result = fit(model, model.init(jax.random.PRNGKey(0)), train, "cross_entropy", config)
    folder = save_trained(
        tmp_path / "run",
        model,
        result.params,
        config=config,
        dataset_description={"name": "blobs", "sizes": {"train": len(train)}},
        history=result.history,
        extra={"note": "round trip"},
    )
    assert sorted(p.name for p in folder.iterdir()) == ["model.json", "theta.npy"]
    loaded_model, params, metadata = load_trained(folder)
    assert loaded_model.spec == model.spec
    assert tree_equal(params, result.params)
    assert np.array_equal(loaded_model.apply(params, train.x), model.apply(result.params, train.x))
    assert TrainConfig.model_validate(metadata["train_config"]) == config
    assert metadata["history"]["train_loss"] == pytest.approx(result.history["train_loss"])
    assert metadata["dataset"]["name"] == "blobs" and metadata["extra"] == {"note": "round trip"}


def test_load_errors_are_clear(tmp_path):
    with pytest.raises(CheckpointError, match="does not exist"):
        load_trained(tmp_path / "nowhere")
    model = BLOB_MODEL
    params = model.init(jax.random.PRNGKey(0))
    folder = save_trained(tmp_path / "a", model, params, config=TrainConfig(), dataset_description={}, history={})
    (folder / "theta.npy").unlink()
    with pytest.raises(CheckpointError, match="incomplete.*theta.npy"):
        load_trained(folder)
    # a model made by an adapter cannot be rebuilt from its spec, but can be passed in
    adapted, adapted_params = from_apply(model.apply, params)
    folder = save_trained(tmp_path / "b", adapted, adapted_params, config=None, dataset_description={}, history={})
    with pytest.raises(LandformError, match="model="):
        load_trained(folder)
    _, loaded, _ = load_trained(folder, model=adapted)
    assert tree_equal(loaded, adapted_params)


def test_load_checks_the_layout_not_only_the_count(tmp_path):
    """Two MLPs with the same number of parameters in other shapes: loading one's parameters
    into the other is an error, not a silent unravel into the wrong tensors."""
    from landform.models import build

    wide = build({"name": "mlp", "input_shape": [2], "hidden": [4], "outputs": 3})  # 2·4+4+4·3+3 = 27
    other = build({"name": "mlp", "input_shape": [4], "hidden": [3], "outputs": 3})  # 4·3+3+3·3+3 = 27
    params = wide.init(jax.random.PRNGKey(0))
    assert sum(np.size(leaf) for leaf in jax.tree_util.tree_leaves(params)) == 27
    assert sum(np.size(leaf) for leaf in jax.tree_util.tree_leaves(other.init(jax.random.PRNGKey(0)))) == 27
    folder = save_trained(tmp_path / "wide", wide, params, config=None, dataset_description={}, history={})
    with pytest.raises(CheckpointError, match="layout of model"):
        load_trained(folder, model=other)
    _, loaded, _ = load_trained(folder, model=wide)
    assert tree_equal(loaded, params)


def test_loss_names_resolve():
    assert get_loss("cross_entropy").accuracy_kind == "multiclass"


def test_python_driven_epochs_match_the_compiled_loop(monkeypatch):
    """Convolutional models on CPU train epoch by epoch from Python (see landform.loops);
    both drivers must give the same parameters."""
    import landform.train.engine as engine_module
    import landform.train.loop as loop_module
    from landform.models import cnn

    model = cnn(input_shape=(8, 8, 1), channels=[2], dense=[8], outputs=3)
    rng = np.random.default_rng(0)
    split = Split(rng.normal(size=(40, 8, 8, 1)).astype(np.float32), rng.integers(0, 3, 40).astype(np.int32))
    params = model.init(jax.random.key(0))
    config = TrainConfig(epochs=3, batch_size=16, eval_every=3, seed=1)
    results = {}
    for flag in (True, False):
        monkeypatch.setattr(engine_module, "python_loops", lambda *args, flag=flag: flag)
        loop_module._compiled.cache_clear()
        results[flag] = fit(model, params, split, "cross_entropy", config)
    jax.tree_util.tree_map(
        lambda a, b: np.testing.assert_allclose(a, b, rtol=2e-5, atol=1e-6), results[True].params, results[False].params
    )
    assert results[True].history["train_loss"] == pytest.approx(results[False].history["train_loss"], rel=1e-5)
