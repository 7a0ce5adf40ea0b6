"""Views: planes and slices through parameter space, figures, videos and the `video` command."""

import json
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from landform.errors import ConfigError, LandformError
from landform.flat import ravel
from landform.landscape import Landscape
from landform.views import (
    PlaneGrid,
    direction_losses,
    framing_grid,
    interpolation_losses,
    plane_coordinates,
    plane_grid,
    plane_losses,
    plane_points,
    plane_through,
)

# ---------------------------------------------------------------- fixtures


def apply_mlp(params, x):
    """A hand-written two-layer tanh network."""
    hidden = jnp.tanh(x @ params["w1"] + params["b1"])
    return hidden @ params["w2"] + params["b2"]


def init_mlp(key, inputs=3, hidden=5, outputs=3):
    k1, k2 = jax.random.split(key)
    return {
        "w1": jax.random.normal(k1, (inputs, hidden)) / math.sqrt(inputs),
        "b1": jnp.zeros(hidden),
        "w2": jax.random.normal(k2, (hidden, outputs)) / math.sqrt(hidden),
        "b2": 0.1 * jnp.arange(outputs, dtype=jnp.float32),
    }


@pytest.fixture(scope="module")
def mlp_landscape():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(48, 3)).astype(np.float32)
    y = rng.integers(0, 3, size=48).astype(np.int32)
    params = [init_mlp(jax.random.key(i)) for i in range(3)]
    landscape = Landscape.from_apply(apply_mlp, params[0], x, y, "cross_entropy")
    thetas = jnp.stack([ravel(p)[0] for p in params])
    return landscape, thetas


# Analytic landscape: ℓ_i(θ) = ‖θ − m_i‖², so L_k(θ) = mean_{i≤k} ‖θ − m_i‖².
CENTRES = np.array([[0.5, -1.0, 0.25], [2.0, 1.0, -0.5], [-1.0, 0.5, 1.0], [0.0, 3.0, 0.0]], np.float32)


def analytic_landscape():
    centres = jnp.asarray(CENTRES)
    return Landscape.from_function(lambda t: jnp.sum((t[None, :] - centres) ** 2, axis=1), 3, per_example=True)


def analytic_loss(points, k):
    """Exact L_k at points (..., 3), in float64."""
    diff = np.asarray(points, np.float64)[..., None, :] - CENTRES[:k].astype(np.float64)
    return np.mean(np.sum(diff**2, axis=-1), axis=-1)


# ---------------------------------------------------------------- plane coordinates


def test_affine_plane_puts_the_points_at_their_anchors_exactly():
    rng = np.random.default_rng(1)
    thetas = jnp.asarray(rng.normal(size=(3, 37)).astype(np.float32))
    plane = plane_through(*thetas)
    np.testing.assert_array_equal(plane.anchors, [[0, 0], [1, 0], [0, 1]])
    at_anchors = plane_points(plane, [0.0, 1.0, 0.0], [0.0, 0.0, 1.0])
    np.testing.assert_array_equal(np.asarray(at_anchors), np.asarray(thetas))  # bit for bit
    # the definition θ0 + a(θ1 − θ0) + b(θ2 − θ0) at an interior point
    expected = thetas[0] + 0.3 * (thetas[1] - thetas[0]) - 0.2 * (thetas[2] - thetas[0])
    np.testing.assert_allclose(plane_points(plane, 0.3, -0.2), expected, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(plane_coordinates(plane, thetas), plane.anchors, atol=1e-5)
    # shapes broadcast
    assert plane_points(plane, np.zeros((2, 4)), 0.5).shape == (2, 4, 37)


def test_orthonormal_plane_has_true_distances():
    thetas = jnp.asarray([[1.0, 1.0, 0.0, 0.0], [3.0, 1.0, 0.0, 0.0], [2.0, 4.0, 0.0, 0.0]])
    plane = plane_through(*thetas, kind="orthonormal")
    np.testing.assert_allclose(plane.anchors, [[0, 0], [2, 0], [1, 3]], atol=1e-6)
    basis = np.asarray(plane.basis)
    np.testing.assert_allclose(basis @ basis.T, np.eye(2), atol=1e-6)
    np.testing.assert_allclose(plane_points(plane, plane.anchors[:, 0], plane.anchors[:, 1]), thetas, atol=1e-6)


def test_collinear_points_and_bad_kinds_are_rejected():
    a = jnp.zeros(4)
    with pytest.raises(ConfigError, match="collinear"):
        plane_through(a, a + 1.0, a + 2.0)
    with pytest.raises(ConfigError, match="same point"):
        plane_through(a, a, a + 1.0)
    with pytest.raises(ConfigError, match="unknown plane kind"):
        plane_through(a, a + jnp.eye(4)[0], a + jnp.eye(4)[1], kind="polar")
    with pytest.raises(ConfigError, match="at least 2"):
        plane_grid(1)


def test_default_grid_frames_the_anchors():
    plane = plane_through(jnp.zeros(3), jnp.eye(3)[0], jnp.eye(3)[1])
    grid = framing_grid(plane, 41)
    np.testing.assert_allclose(grid.a, np.linspace(-0.5, 1.5, 41))
    np.testing.assert_allclose(grid.b, np.linspace(-0.5, 1.5, 41))
    assert 0.0 in grid.a and 1.0 in grid.a  # the anchors lie on grid lines


# ---------------------------------------------------------------- evaluation on a plane


def test_grid_evaluation_equals_direct_per_point_evaluation(mlp_landscape):
    landscape, thetas = mlp_landscape
    plane = plane_through(*thetas)
    grid = plane_grid((5, 4), (-0.5, 1.5), (-0.25, 1.25))
    result = plane_losses(landscape, plane, grid=grid)
    assert result.losses.shape == (1, 4, 5) and result.sizes == (48,)
    for j, b in enumerate(grid.b):
        for i, a in enumerate(grid.a):
            direct = landscape.loss(plane_points(plane, a, b))
            np.testing.assert_allclose(result.losses[0, j, i], direct, rtol=2e-5)
    for p in range(3):
        np.testing.assert_allclose(result.anchor_losses[0, p], landscape.loss(thetas[p]), rtol=2e-5)


def test_nested_frames_equal_separately_computed_landscapes(mlp_landscape):
    landscape, thetas = mlp_landscape
    plane = plane_through(*thetas)
    sizes = [7, 20, 48, 20]
    # a small memory budget: several evaluation blocks, the last one padded
    small = Landscape.from_apply(
        apply_mlp, init_mlp(jax.random.key(0)), landscape.x, landscape.y, "cross_entropy", memory_budget=1 << 14
    )
    result = plane_losses(small, plane, sizes, grid=17)
    assert result.losses.shape == (4, 17, 17)
    ga, gb = np.meshgrid(result.a, result.b)
    points = plane_points(plane, ga, gb).reshape(-1, landscape.dim)
    for k, size in enumerate(sizes):
        separate = landscape.subset(size).loss_batch(points)
        np.testing.assert_allclose(result.losses[k], np.asarray(separate).reshape(17, 17), rtol=2e-5)


def test_analytic_landscape_on_affine_and_orthonormal_planes():
    landscape = analytic_landscape()
    sizes = [1, 2, 4]
    # θ0 = 0, θ1 = e1, θ2 = e2: θ(a, b) = (a, b, 0)
    plane = plane_through(jnp.zeros(3), jnp.eye(3)[0], jnp.eye(3)[1])
    result = plane_losses(landscape, plane, sizes, grid=PlaneGrid(np.linspace(-1, 2, 7), np.linspace(-2, 1, 5)))
    ga, gb = np.meshgrid(result.a, result.b)
    points = np.stack([ga, gb, np.zeros_like(ga)], axis=-1)
    for k, size in enumerate(sizes):
        np.testing.assert_allclose(result.losses[k], analytic_loss(points, size), rtol=1e-5)
    # orthonormal coordinates are distances: θ1 = 2·e1, θ2 = e1 + 3·e2 give the same axes
    plane = plane_through(jnp.zeros(3), 2 * jnp.eye(3)[0], jnp.eye(3)[0] + 3 * jnp.eye(3)[1], kind="orthonormal")
    result = plane_losses(landscape, plane, sizes, grid=9)
    ga, gb = np.meshgrid(result.a, result.b)
    points = np.stack([ga, gb, np.zeros_like(ga)], axis=-1)
    for k, size in enumerate(sizes):
        np.testing.assert_allclose(result.losses[k], analytic_loss(points, size), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(
        result.anchor_losses[:, 1], [analytic_loss(np.array([2.0, 0, 0]), k) for k in sizes], rtol=1e-5
    )


def test_slices_along_a_direction_and_between_two_points():
    landscape = analytic_landscape()
    t = np.linspace(-1, 2, 13)
    along = direction_losses(landscape, jnp.zeros(3), jnp.asarray([1.0, 0.0, 0.0]), t, sizes=[2, 4])
    points = np.stack([t, 0 * t, 0 * t], axis=1)
    np.testing.assert_allclose(along.losses, [analytic_loss(points, 2), analytic_loss(points, 4)], rtol=1e-5)
    start, end = jnp.asarray([1.0, -1.0, 0.5]), jnp.asarray([-2.0, 0.5, 1.0])
    between = interpolation_losses(landscape, start, end, t=[0.0, 0.5, 1.0])
    assert between.losses.shape == (1, 3)
    np.testing.assert_allclose(
        between.losses[0], [landscape.loss(start), landscape.loss((start + end) / 2), landscape.loss(end)], rtol=1e-6
    )
    with pytest.raises(ConfigError, match="1..4"):
        direction_losses(landscape, jnp.zeros(3), jnp.ones(3), sizes=[5])


# ---------------------------------------------------------------- figures


def test_log_ticks_labels_only_the_given_values():
    from landform.views import log_ticks, new_figure

    figure = new_figure()
    ax = figure.add_subplot()
    ax.plot([10, 100, 1000], [1, 2, 3])
    log_ticks(ax, [10, 40, 1000])
    assert ax.get_xscale() == "log"
    np.testing.assert_allclose(ax.get_xticks(), [10, 40, 1000])
    assert [t.get_text() for t in ax.get_xticklabels()] == ["10", "40", "1000"]
    assert len(ax.xaxis.get_minorticklocs()) == 0
    with pytest.raises(ConfigError):
        log_ticks(ax, [0, 10])


def test_plane_figure_renders_with_a_shared_log_scale():
    from matplotlib.colors import LogNorm

    from landform.views import figure_to_rgb, plane_figure, shared_norm

    landscape = analytic_landscape()
    plane = plane_through(jnp.zeros(3), jnp.eye(3)[0], jnp.eye(3)[1])
    result = plane_losses(landscape, plane, [1, 4], grid=9)
    norm = shared_norm(result.losses)
    assert isinstance(norm, LogNorm)
    assert norm.vmin == pytest.approx(result.losses.min()) and norm.vmax == pytest.approx(result.losses.max())
    figure = plane_figure(result, 0, norm=norm, labels=["A", "B", "C"], figsize=(4, 3), dpi=50)
    texts = [t.get_text().split("\n")[0] for t in figure.axes[0].texts]
    assert texts == ["A", "B", "C"]
    pixels = figure_to_rgb(figure)
    assert pixels.shape == (150, 200, 3) and pixels.dtype == np.uint8


# ---------------------------------------------------------------- videos


def _video(tmp_path, formats, sizes=(1, 2, 4)):
    from landform.views import landscape_video

    thetas = jnp.stack([jnp.zeros(3), jnp.eye(3)[0], jnp.eye(3)[1]])
    return landscape_video(
        analytic_landscape(),
        thetas,
        list(sizes),
        tmp_path / "plane",
        grid=9,
        fps=4,
        formats=formats,
        figsize=(3.2, 2.8),
        dpi=50,
    )


def test_video_writes_a_gif_with_one_frame_per_landscape(tmp_path):
    import imageio.v3 as iio

    from landform.views import load_plane_losses

    written = _video(tmp_path, ("gif",))
    assert set(written) == {"gif", "data"}
    frames = iio.imread(written["gif"], index=None)
    assert frames.shape[0] == 3
    assert frames.shape[1] % 16 == 0 and frames.shape[2] % 16 == 0
    saved = load_plane_losses(written["data"])
    assert saved.sizes == (1, 2, 4) and saved.losses.shape == (3, 9, 9)
    assert not list(tmp_path.glob(".*tmp*"))  # no temporary files left


@pytest.mark.filterwarnings("ignore:os.fork:RuntimeWarning")  # reading the MP4 back starts ffmpeg
def test_video_writes_an_mp4(tmp_path):
    from landform.views import ffmpeg_executable

    if ffmpeg_executable() is None:
        pytest.skip("imageio-ffmpeg is not installed (pip install 'landform[video]'), so no MP4 can be written")
    import imageio.v2 as imageio

    written = _video(tmp_path, ("mp4", "gif"), sizes=(1, 2, 3, 4))
    reader = imageio.get_reader(written["mp4"], format="FFMPEG")
    try:
        assert reader.count_frames() == 4
        assert reader.get_meta_data()["fps"] == pytest.approx(4)
    finally:
        reader.close()
    assert written["gif"].exists()


def test_missing_ffmpeg_is_a_clear_error_and_the_gif_is_still_written(tmp_path, monkeypatch):
    import landform.views.video as video

    monkeypatch.setattr(video, "ffmpeg_executable", lambda: None)
    with pytest.raises(video.VideoUnavailableError, match="landform\\[video\\]") as caught:
        _video(tmp_path, ("mp4", "gif"))
    assert isinstance(caught.value, LandformError)
    assert caught.value.written["gif"].exists()
    assert not (tmp_path / "plane.mp4").exists()


# ---------------------------------------------------------------- volume runs and the CLI


def _fake_volume_run(root, levels=(0, 6, 16, 36), base=4):
    """A folder laid out as the volume study writes it, with tiny untrained minima."""
    from landform.models import build
    from landform.train import save_trained

    config = {
        "study": "volume",
        "name": "fake",
        "variant": "quick",
        "loss": "cross_entropy",
        "data": {"dataset": "fake", "base": base, "levels": list(levels)},
        "arms": [{"label": "default", "train": {}}],
        "train": {},
        "checkpoints": [],
        "seeds": {"model": [3], "data": [5]},
    }
    root.mkdir()
    (root / "config.json").write_text(json.dumps(config))
    rng = np.random.default_rng(0)
    data = root / "stages" / "data-d1"
    data.mkdir(parents=True)
    n = base + max(levels)
    np.savez(
        data / "data.npz",
        pool_x=rng.normal(size=(n, 2)).astype(np.float32),
        pool_y=rng.integers(0, 2, n).astype(np.int32),
    )
    (data / "_stage.json").write_text(
        json.dumps({"stage": "data", "key": "d1", "inputs": {"data": config["data"], "seed": 5}, "summary": {}})
    )
    model = build({"name": "mlp", "input_shape": [2], "hidden": [4], "outputs": 2})
    for q in levels:
        stage = root / "stages" / f"train-t{q}"
        stage.mkdir()
        save_trained(
            stage / "final", model, model.init(jax.random.key(q)), config={}, dataset_description={}, history={}
        )
        inputs = {
            "data": "d1",
            "size": base + q,
            "model_seed": 3,
            "loss": "cross_entropy",
            "train": {},
            "model": model.spec,
        }
        (stage / "_stage.json").write_text(
            json.dumps({"stage": "train", "key": f"t{q}", "inputs": inputs, "summary": {}})
        )
    return root


def test_run_lookup_finds_minima_and_lists_levels_when_one_is_missing(tmp_path):
    from landform.studies.volume import RunFolderError, default_levels, find_minimum, load_pool, read_volume_run

    run = read_volume_run(_fake_volume_run(tmp_path / "run"))
    assert run.sizes == (4, 10, 20, 40)
    assert default_levels(run) == (0, 16, 36)
    minimum = find_minimum(run, 16)
    assert (minimum.size, minimum.model_seed, minimum.data_seed) == (20, 3, 5)
    assert (minimum.model_folder / "theta.npy").exists()
    x, y = load_pool(minimum, 10)
    assert x.shape == (10, 2) and y.shape == (10,)
    with pytest.raises(RunFolderError, match="available levels for seed 3: 0, 6, 16, 36"):
        find_minimum(run, 7)
    with pytest.raises(RunFolderError, match="model seeds are: 3"):
        find_minimum(run, 0, model_seed=0)


def test_cli_video_on_a_run_folder(tmp_path):
    import imageio.v3 as iio
    from typer.testing import CliRunner

    from landform.cli import app

    root = _fake_volume_run(tmp_path / "run")
    out = tmp_path / "out" / "plane"
    result = CliRunner().invoke(
        app, ["video", str(root), "--levels", "0", "6", "36", "--resolution", "5", "--out", str(out)]
    )
    assert result.exit_code == 0, result.output
    frames = iio.imread(out.with_suffix(".gif"), index=None)
    assert frames.shape[0] == 4  # one frame per level of the run


def test_cli_video_errors_are_one_line_and_exit_2(tmp_path):
    from typer.testing import CliRunner

    import landform.cli as cli

    runner = CliRunner()
    result = runner.invoke(cli.app, ["video", str(tmp_path / "missing")])
    assert result.exit_code == 2
    assert "Traceback" not in result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:") and "does not exist" in lines[0]
    root = _fake_volume_run(tmp_path / "run")
    result = runner.invoke(cli.app, ["video", str(root), "--levels", "0", "5", "36"])
    assert result.exit_code == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "available levels for seed 3: 0, 6, 16, 36" in lines[0]
