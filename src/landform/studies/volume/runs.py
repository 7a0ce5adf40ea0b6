"""Finding the minima and data of a finished minima-volume run (``landform run`` of a volume
config; Fan, Sandlund, Ko 2025, arXiv 2511.04808), for views of the landscapes around them.

The run folder's stages and files are those of :mod:`landform.studies.volume.layout`. This
module only reads; it depends on the layout alone (not on the study's config schema or stages),
so old run folders stay readable.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from landform.errors import LandformError
from landform.studies.volume import layout


class RunFolderError(LandformError, FileNotFoundError):
    """A run folder is missing, is not a finished volume run, or lacks the asked-for minimum."""


class VolumeRun(NamedTuple):
    """What a volume run folder holds: its config and its finished stages."""

    folder: Path
    config: dict[str, Any]
    base: int
    levels: tuple[int, ...]
    seed_pairs: tuple[tuple[int, int], ...]  # (model seed, data seed)
    arms: tuple[str, ...]
    train_stages: tuple[tuple[Path, dict[str, Any]], ...]  # (folder, its stage marker)
    data_stages: dict[str, tuple[Path, dict[str, Any]]]  # key -> (folder, its stage marker)

    @property
    def sizes(self) -> tuple[int, ...]:
        """Examples of each level: base + q."""
        return tuple(self.base + q for q in self.levels)

    @property
    def loss(self) -> str:
        """The name of the run's loss."""
        return str(self.config["loss"])


class SavedMinimum(NamedTuple):
    """One trained minimum saved in a finished volume run folder and where its data are (the
    study's own record of a minimum while it runs is :class:`landform.studies.volume.Minimum`)."""

    level: int
    size: int
    model_seed: int
    data_seed: int
    arm: str
    checkpoint: str
    model_folder: Path  # load with landform.train.load_trained
    data_file: Path  # data.npz of its data stage (pool_x, pool_y, test_x, test_y)


def _seed_pairs(seeds: dict[str, Any]) -> tuple[tuple[int, int], ...]:
    model, data = list(seeds.get("model") or [0]), list(seeds.get("data") or [0])
    n = max(len(model), len(data))
    model = model * n if len(model) == 1 else model
    data = data * n if len(data) == 1 else data
    return tuple((int(m), int(d)) for m, d in zip(model, data))


def read_volume_run(folder: str | os.PathLike) -> VolumeRun:
    """Read ``config.json`` and the finished stages of a volume run folder."""
    folder = Path(folder)
    if not folder.is_dir():
        raise RunFolderError(
            f"run folder {str(folder)!r} does not exist; pass the folder given to 'landform run --out'"
        )
    try:
        config = json.loads((folder / layout.CONFIG_FILE).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise RunFolderError(
            f"{str(folder)!r} holds no config.json, so it is not a landform run folder; pass the folder of a "
            "finished volume run"
        ) from None
    except (OSError, ValueError) as error:
        raise RunFolderError(f"cannot read {str(folder / layout.CONFIG_FILE)!r}: {error}") from None
    if not isinstance(config, dict) or config.get("study") != "volume":
        kind = config.get("study") if isinstance(config, dict) else None
        raise RunFolderError(f"{str(folder)!r} is a run of the {kind!r} study, not of the volume study")
    try:
        data = config["data"]
        base, levels = int(data["base"]), tuple(int(q) for q in data["levels"])
    except (KeyError, TypeError, ValueError):
        raise RunFolderError(f"{str(folder / layout.CONFIG_FILE)!r} lacks data.base and data.levels") from None
    arms = tuple(str(arm.get("label")) for arm in config.get("arms") or [{"label": "default"}])
    train_stages, data_stages = [], {}
    stages = layout.stages_folder(folder)
    for path, marker in layout.finished_stages(stages, layout.TRAIN_STAGE):
        if isinstance(marker.get("inputs"), dict):
            train_stages.append((path, marker))
    for path, marker in layout.finished_stages(stages, layout.DATA_STAGE):
        data_stages[str(marker.get("key", path.name.split("-", 1)[-1]))] = (path, marker)
    return VolumeRun(
        folder, config, base, levels, _seed_pairs(config.get("seeds") or {}), arms, tuple(train_stages), data_stages
    )


def _train_dump(run: VolumeRun, arm: str, model_seed: int) -> dict[str, Any] | None:
    """The training config the study records for ``arm`` and ``model_seed`` (JSON form), or
    ``None`` when it cannot be rebuilt (then arms are not told apart by it)."""
    try:
        from landform.train import TrainConfig

        record = next(a for a in run.config.get("arms") or [] if str(a.get("label")) == arm)
        settings = {**(run.config.get("train") or {}), **(record.get("train") or {}), "seed": model_seed}
        if run.config.get("checkpoints"):
            settings["checkpoint_epochs"] = sorted(set(run.config["checkpoints"]))
        dump = TrainConfig.model_validate(settings).model_dump()
        return json.loads(json.dumps(dump, sort_keys=True, default=str))
    except Exception:  # noqa: BLE001 - any failure: fall back to not distinguishing arms
        return None


def available_minima(run: VolumeRun) -> list[tuple[int, int]]:
    """(model seed, level) of every finished train stage of the run's levels, sorted."""
    level_of = {size: q for q, size in zip(run.levels, run.sizes)}
    found = set()
    for _, marker in run.train_stages:
        inputs = marker["inputs"]
        size = inputs.get("size")
        if size in level_of and "model_seed" in inputs:
            found.add((int(inputs["model_seed"]), level_of[size]))
    return sorted(found)


def find_minimum(
    run: VolumeRun,
    level: int,
    *,
    model_seed: int | None = None,
    arm: str | None = None,
    checkpoint: str = layout.FINAL,
) -> SavedMinimum:
    """The trained minimum of ``level`` (q, trained on base + q examples) for ``model_seed``
    (default: the first seed) and ``arm`` (default: the first arm).

    Raises :class:`RunFolderError` listing the available levels (and seeds) when the run has no
    such minimum.
    """
    pairs = dict(run.seed_pairs)
    model_seed = run.seed_pairs[0][0] if model_seed is None else int(model_seed)
    arm = run.arms[0] if arm is None else str(arm)
    available = available_minima(run)
    levels_here = sorted({q for s, q in available if s == model_seed})
    seeds_here = sorted({s for s, _ in available})
    where = f"in run {str(run.folder)!r}"
    if arm not in run.arms:
        raise RunFolderError(f"arm {arm!r} is not part of {where}; its arms are: {', '.join(run.arms)}")
    if model_seed not in pairs:
        raise RunFolderError(
            f"model seed {model_seed} is not part of {where}; its model seeds are: {', '.join(str(s) for s in pairs)}"
        )
    if level not in run.levels or level not in levels_here:
        listed = ", ".join(str(q) for q in levels_here) or "none (is the run finished?)"
        configured = "" if level in run.levels else f" (the configured levels are {list(run.levels)})"
        raise RunFolderError(
            f"no trained minimum of level {level} for seed {model_seed} {where}{configured}; "
            f"available levels for seed {model_seed}: {listed}"
            + (f"; seeds with minima: {', '.join(map(str, seeds_here))}" if seeds_here else "")
        )
    size = run.base + level
    candidates = []
    for path, marker in run.train_stages:
        inputs = marker["inputs"]
        if inputs.get("size") != size or inputs.get("model_seed") != model_seed:
            continue
        if "loss" in inputs and inputs["loss"] != run.config.get("loss"):
            continue
        data_key = str(inputs.get("data"))
        data = run.data_stages.get(data_key)
        if data is None:
            continue
        data_inputs = data[1].get("inputs") or {}
        if data_inputs.get("seed", pairs[model_seed]) != pairs[model_seed]:
            continue
        if "data" in data_inputs and json.dumps(data_inputs["data"], sort_keys=True, default=str) != json.dumps(
            run.config["data"], sort_keys=True, default=str
        ):
            continue  # a stage of an earlier config of this folder
        candidates.append((path, marker, data[0]))
    if len(run.arms) > 1 and candidates:
        expected = _train_dump(run, arm, model_seed)
        if expected is not None:
            same = [
                c
                for c in candidates
                if json.dumps(c[1]["inputs"].get("train"), sort_keys=True, default=str)
                == json.dumps(expected, sort_keys=True, default=str)
            ]
            candidates = same
    if not candidates:
        raise RunFolderError(
            f"no finished train stage of level {level} (seed {model_seed}, arm {arm!r}) matches the config of {where}; "
            "rerun the study to finish it"
        )
    # the most recently finished, if an interrupted config change left several
    path, _, data_folder = max(candidates, key=lambda c: layout.finished_at(c[0]))
    model_folder = path / checkpoint
    if not model_folder.is_dir():
        saved = sorted(p.name for p in path.iterdir() if p.is_dir())
        raise RunFolderError(
            f"minimum of level {level} (seed {model_seed}) has no checkpoint {checkpoint!r}; saved: {', '.join(saved)}"
        )
    data_file = layout.data_file(data_folder)
    if not data_file.is_file():
        raise RunFolderError(f"the data stage {str(data_folder)!r} of this minimum has no {layout.DATA_FILE}")
    return SavedMinimum(level, size, model_seed, pairs[model_seed], arm, checkpoint, model_folder, data_file)


def load_pool(minimum: SavedMinimum, size: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """The first ``size`` examples of the minimum's ordered pool (default: all), as (x, y)."""
    try:
        with np.load(minimum.data_file, allow_pickle=False) as data:
            x, y = data[layout.POOL_X], data[layout.POOL_Y]
    except (OSError, KeyError, ValueError) as error:
        raise RunFolderError(f"cannot read the pool from {str(minimum.data_file)!r}: {error}") from None
    if size is not None:
        if size > len(x):
            raise RunFolderError(f"the pool in {str(minimum.data_file)!r} has {len(x)} examples, fewer than {size}")
        x, y = x[:size], y[:size]
    return x, y


def default_levels(run: VolumeRun, model_seed: int | None = None) -> tuple[int, int, int]:
    """The smallest, middle and largest level with a trained minimum for ``model_seed``
    (default: the first seed)."""
    model_seed = run.seed_pairs[0][0] if model_seed is None else int(model_seed)
    levels = sorted(q for s, q in available_minima(run) if s == model_seed)
    if len(levels) < 3:
        raise RunFolderError(
            f"a plane needs three minima, but run {str(run.folder)!r} has {len(levels)} for seed {model_seed} "
            f"(levels: {', '.join(map(str, levels)) or 'none'})"
        )
    return levels[0], levels[len(levels) // 2], levels[-1]


class ThreeMinima(NamedTuple):
    """Three minima of one seed of a volume run, loaded: the spanning points of a plane."""

    run: VolumeRun
    minima: tuple[SavedMinimum, SavedMinimum, SavedMinimum]
    model: Any  # the model (shared)
    params: Any  # the first minimum's parameters (the landscape's centre)
    thetas: Any  # (3, n) flat parameters
    seed: int
    levels: tuple[int, int, int]


def load_three_minima(
    folder: str | os.PathLike | VolumeRun,
    levels: tuple[int, int, int] | None = None,
    *,
    model_seed: int | None = None,
    arm: str | None = None,
) -> ThreeMinima:
    """The minima of ``levels`` (default :func:`default_levels`) of ``model_seed`` and ``arm``,
    loaded; they must share one data stage and one model."""
    import jax.numpy as jnp

    from landform.errors import ConfigError
    from landform.flat import ravel
    from landform.train import load_trained

    run = folder if isinstance(folder, VolumeRun) else read_volume_run(folder)
    seed = run.seed_pairs[0][0] if model_seed is None else int(model_seed)
    levels = default_levels(run, seed) if levels is None else tuple(int(q) for q in levels)
    if len(levels) != 3 or len(set(levels)) != 3:
        raise ConfigError(f"give three distinct levels for the plane's three minima, got {list(levels)}")
    minima = tuple(find_minimum(run, q, model_seed=seed, arm=arm) for q in levels)
    if len({m.data_file for m in minima}) != 1:
        raise RunFolderError("the three minima were trained on different data stages; pick minima of one seed")
    thetas, model, centre = [], None, None
    for minimum in minima:
        loaded, params, _ = load_trained(minimum.model_folder, model=model)
        model, centre = model or loaded, centre or params
        thetas.append(ravel(params)[0])
    if len({t.shape for t in thetas}) != 1:
        raise RunFolderError("the three minima have different numbers of parameters; they are not one model")
    return ThreeMinima(run, minima, model, centre, jnp.stack(thetas), seed, levels)


def volume_run_video(
    folder: str | os.PathLike,
    levels: tuple[int, int, int] | None = None,
    *,
    model_seed: int | None = None,
    arm: str | None = None,
    resolution: int = 41,
    out: str | os.PathLike | None = None,
    fps: float = 2,
    kind: str = "affine",
    formats: tuple[str, ...] = ("mp4", "gif"),
    progress: Any = None,
) -> dict[str, Path]:
    """The video of the plane through three minima of a volume run across all its nested
    landscapes (:func:`landform.views.video.landscape_video`).

    ``levels`` (default :func:`default_levels`) pick the minima of ``model_seed`` and ``arm``;
    the landscapes are the run's levels, on the minima's shared ordered pool. ``out`` is the
    path stem (default ``<run>/figures/plane_seed<S>_levels<q0>-<q1>-<q2>``). Returns
    ``{format: path}``.
    """
    from landform.landscape import Landscape
    from landform.views.planes import framing_grid, plane_through
    from landform.views.video import landscape_video

    three = load_three_minima(folder, levels, model_seed=model_seed, arm=arm)
    run, minima, model, centre, thetas = three.run, three.minima, three.model, three.params, three.thetas
    seed, levels = three.seed, three.levels
    sizes = sorted(set(run.sizes))
    x, y = load_pool(minima[0], max(sizes))
    land = Landscape.from_apply(
        model.apply, centre, x, y, run.loss, expected_input_shape=model.input_shape, first_layer=model.first_layer
    )
    plane = plane_through(*thetas, kind=kind)
    stem = (
        Path(out)
        if out is not None
        else run.folder / layout.FIGURES / (f"plane_seed{seed}_levels{'-'.join(map(str, levels))}")
    )
    return landscape_video(
        land,
        thetas,
        sizes,
        stem,
        grid=framing_grid(plane, resolution),
        labels=[f"trained on {m.size}" for m in minima],
        fps=fps,
        kind=kind,
        formats=formats,
        progress=progress,
    )


__all__ = [
    "RunFolderError",
    "SavedMinimum",
    "ThreeMinima",
    "VolumeRun",
    "available_minima",
    "default_levels",
    "find_minimum",
    "load_pool",
    "load_three_minima",
    "read_volume_run",
    "volume_run_video",
]
