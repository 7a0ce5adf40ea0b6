"""Videos of a plane across nested landscapes: one frame per amount of data.

For three points θ0, θ1, θ2 (e.g. minima trained on little, some and much data; Fan, Sandlund,
Ko 2025, arXiv 2511.04808) and nested landscapes L_k (the first k examples), each frame shows
L_k on the plane through the three points (:func:`landform.views.planes.plane_losses`, one
per-example evaluation per grid point for all k), on one log colour scale shared by all frames,
so one sees the basins shrink and move as data is added.

Frames are drawn with matplotlib's Agg canvas into RGB arrays (:func:`render_frames`) and written
(:func:`write_video`) as an animated GIF (pillow, always available) and an MP4 (imageio with its
ffmpeg plugin: the ``video`` extra, ``pip install 'landform[video]'``). Files are written
atomically (temporary name, then rename).
"""

from __future__ import annotations

import io
import os
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from landform.errors import ConfigError, ShapeError
from landform.files import atomic_path, atomic_write_bytes
from landform.landscape import Landscape
from landform.views.figures import DEFAULT_LABELS, figure_to_rgb, plane_figure, shared_norm
from landform.views.planes import PlaneGrid, PlaneLosses, plane_losses, plane_through

VIDEO_FORMATS = ("mp4", "gif")
_MACRO_BLOCK = 16  # H.264 encoders want frame sides divisible by 16


class VideoUnavailableError(ConfigError):
    """The MP4 could not be written because imageio or its ffmpeg binary is missing.

    ``written`` maps the formats that were written anyway (the GIF) to their paths.
    """

    def __init__(self, message: str, written: dict[str, Path] | None = None):
        super().__init__(message)
        self.written = dict(written or {})


def ffmpeg_executable() -> str | None:
    """The ffmpeg binary imageio would use (from ``imageio-ffmpeg`` or ``IMAGEIO_FFMPEG_EXE``),
    or ``None`` when MP4s cannot be written."""
    try:
        import imageio  # noqa: F401
        import imageio_ffmpeg
    except ImportError:
        return None
    try:
        return imageio_ffmpeg.get_ffmpeg_exe()
    except RuntimeError:
        return None


def render_frames(
    losses: PlaneLosses,
    *,
    labels: Sequence[str] | None = DEFAULT_LABELS,
    norm=None,
    title: Callable[[int, int], str] | None = None,
    figsize: tuple[float, float] = (6.4, 5.6),
    dpi: int = 100,
    **options: Any,
) -> list[np.ndarray]:
    """One RGB frame (H, W, 3) per landscape of ``losses``, all on one colour scale.

    ``norm`` defaults to :func:`shared_norm` over every frame; ``title(index, size)`` gives each
    frame's title (default: the landscape's size and the frame number). Options go to
    :func:`landform.views.figures.plot_plane`.
    """
    log = losses.metric == "loss"
    norm = norm or shared_norm(losses.losses, log=log)
    count = len(losses.sizes)

    def default_title(index: int, size: int) -> str:
        return f"{size}-example landscape ({index + 1}/{count})"

    title = title or default_title
    frames = []
    for index, size in enumerate(losses.sizes):
        figure = plane_figure(
            losses, index, norm=norm, labels=labels, title=title(index, size), figsize=figsize, dpi=dpi, **options
        )
        frames.append(figure_to_rgb(figure))
    return frames


def _pad(frames: Sequence[np.ndarray], multiple: int) -> np.ndarray:
    """Stack frames, padding them with white to a common size divisible by ``multiple``."""
    if not frames:
        raise ShapeError("no frames to write")
    if any(np.ndim(f) != 3 or np.shape(f)[2] != 3 for f in frames):
        raise ShapeError(f"frames must be RGB arrays (H, W, 3); got shapes {sorted({np.shape(f) for f in frames})}")
    height = max(f.shape[0] for f in frames)
    width = max(f.shape[1] for f in frames)
    height, width = -(-height // multiple) * multiple, -(-width // multiple) * multiple
    out = np.full((len(frames), height, width, 3), 255, dtype=np.uint8)
    for i, f in enumerate(frames):
        out[i, : f.shape[0], : f.shape[1]] = f
    return out


def _written(path: Path, write: Callable[[Path], None]) -> Path:
    """Call ``write(temporary)`` with a temporary path of the same suffix, then move it onto ``path``."""
    with atomic_path(path) as temporary:
        write(temporary)
    return path


def _write_gif(path: Path, frames: np.ndarray, fps: float) -> None:
    from PIL import Image

    images = [Image.fromarray(f) for f in frames]
    images[0].save(path, format="GIF", save_all=True, append_images=images[1:], duration=int(round(1000 / fps)), loop=0)


def _write_mp4(path: Path, frames: np.ndarray, fps: float) -> None:
    with warnings.catch_warnings():
        # ffmpeg runs as a subprocess (fork + exec at once), which JAX's fork warning does not concern
        warnings.filterwarnings("ignore", message=r"os\.fork\(\) was called", category=RuntimeWarning)
        _append_frames(path, frames, fps)


def _append_frames(path: Path, frames: np.ndarray, fps: float) -> None:
    import imageio.v2 as imageio

    writer = imageio.get_writer(
        path,
        format="FFMPEG",
        mode="I",
        fps=fps,
        codec="libx264",
        pixelformat="yuv420p",
        quality=8,
        macro_block_size=_MACRO_BLOCK,
        ffmpeg_log_level="error",
    )
    try:
        for frame in frames:
            writer.append_data(frame)
    finally:
        writer.close()


def write_video(
    frames: Sequence[np.ndarray],
    out_path_stem: str | os.PathLike,
    *,
    fps: float = 2,
    formats: Sequence[str] = VIDEO_FORMATS,
) -> dict[str, Path]:
    """Write ``frames`` (RGB arrays) as ``<stem>.gif`` and/or ``<stem>.mp4``; returns
    ``{format: path}``.

    Frames are padded with white to one size divisible by 16. The GIF is written first; if the
    MP4 is asked for but ffmpeg is unavailable, :class:`VideoUnavailableError` says how to get
    it (its ``written`` holds the GIF's path).
    """
    formats = [f.lower().lstrip(".") for f in formats]
    unknown = [f for f in formats if f not in VIDEO_FORMATS]
    if unknown or not formats:
        raise ConfigError(f"unknown video format(s) {unknown or formats}; use any of {', '.join(VIDEO_FORMATS)}")
    if not fps > 0:
        raise ConfigError(f"fps must be positive, got {fps}")
    stack = _pad(list(frames), _MACRO_BLOCK)
    stem = Path(out_path_stem)
    if stem.suffix.lower() in (".gif", ".mp4"):
        stem = stem.with_suffix("")
    written: dict[str, Path] = {}
    if "gif" in formats:
        written["gif"] = _written(stem.with_name(stem.name + ".gif"), lambda p: _write_gif(p, stack, fps))
    if "mp4" in formats:
        if ffmpeg_executable() is None:
            where = f"; the GIF was written to {written['gif']}" if "gif" in written else ""
            raise VideoUnavailableError(
                "cannot write the MP4: imageio with an ffmpeg binary is needed; install it with "
                f"pip install 'landform[video]' (or set IMAGEIO_FFMPEG_EXE to an ffmpeg binary){where}",
                written,
            )
        written["mp4"] = _written(stem.with_name(stem.name + ".mp4"), lambda p: _write_mp4(p, stack, fps))
    return written


def landscape_video(
    landscape: Landscape,
    thetas: Any,
    sizes: Sequence[int],
    out_path_stem: str | os.PathLike,
    *,
    grid: PlaneGrid | int | None = None,
    labels: Sequence[str] | None = DEFAULT_LABELS,
    fps: float = 2,
    kind: str = "affine",
    formats: Sequence[str] = VIDEO_FORMATS,
    save_data: bool = True,
    norm=None,
    title: Callable[[int, int], str] | None = None,
    progress: Any = None,
    **options: Any,
) -> dict[str, Path]:
    """Render the plane through ``thetas`` (3, n) in every nested landscape of ``sizes`` as a
    video, one frame per size (ascending order as given); returns ``{format: path}``.

    The losses come from one per-example evaluation per grid point
    (:func:`~landform.views.planes.plane_losses`); ``grid`` is a :class:`PlaneGrid` or a
    resolution (default 41 × 41 over [−0.5, 1.5]² for an affine plane). ``kind`` is "affine" or
    "orthonormal" (:func:`~landform.views.planes.plane_through`). With ``save_data`` the grid
    and losses are also saved to ``<stem>.npz`` (key "data") for redrawing without recomputing.
    The GIF is written even when the MP4 cannot be (see :func:`write_video`).
    """
    thetas = np.asarray(thetas) if not hasattr(thetas, "shape") else thetas
    if thetas.ndim != 2 or thetas.shape[0] != 3:
        raise ShapeError(f"give three points as an array of shape (3, n); got shape {tuple(thetas.shape)}")
    plane = plane_through(thetas[0], thetas[1], thetas[2], kind=kind)
    losses = plane_losses(landscape, plane, sizes, grid=grid, progress=progress)
    frames = render_frames(losses, labels=labels, norm=norm, title=title, **options)
    stem = Path(out_path_stem)
    if stem.suffix.lower() in (".gif", ".mp4"):
        stem = stem.with_suffix("")
    written: dict[str, Path] = {}
    if save_data:
        written["data"] = _written(stem.with_name(stem.name + ".npz"), lambda p: save_plane_losses(p, losses))
    try:
        written.update(write_video(frames, stem, fps=fps, formats=formats))
    except VideoUnavailableError as error:
        error.written = {**written, **error.written}
        raise
    return written


def save_plane_losses(path: str | os.PathLike, losses: PlaneLosses, /, **extra: Any) -> Path:
    """Save a :class:`PlaneLosses` (and any ``extra`` arrays) as an ``.npz`` file, atomically; read
    it back with :func:`load_plane_losses`. Returns the path written."""
    buffer = io.BytesIO()
    np.savez(
        buffer,
        a=losses.a,
        b=losses.b,
        sizes=np.asarray(losses.sizes),
        losses=losses.losses,
        anchors=losses.anchors,
        anchor_losses=losses.anchor_losses,
        kind=losses.kind,
        metric=losses.metric,
        **{k: np.asarray(v) for k, v in extra.items()},
    )
    return atomic_write_bytes(Path(path), buffer.getvalue())


def load_plane_losses(path: str | os.PathLike) -> PlaneLosses:
    """Read a file written by :func:`save_plane_losses`."""
    with np.load(path, allow_pickle=False) as data:
        return PlaneLosses(
            data["a"],
            data["b"],
            tuple(int(k) for k in data["sizes"]),
            data["losses"],
            data["anchors"],
            data["anchor_losses"],
            str(data["kind"]),
            str(data["metric"]),
        )
