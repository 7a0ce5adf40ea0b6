"""Progress reporting for long work, shown with rich and switchable off.

Numerical code never prints; it accepts a ``progress`` argument, which is ``None``/``False``
(silent), ``True`` or any object with ``start(description, total)``, ``advance(n, **fields)`` and
``stop()`` methods.

``True`` means: a rich progress bar on standard error when it is a terminal; otherwise (a job
writing to a log file) a plain line at most every ``LANDFORM_PROGRESS_EVERY`` seconds (default
60), so long work in the background shows how far it got and how long it has left. The
environment variable ``LANDFORM_PROGRESS`` overrides the choice: ``0`` silences progress, ``1``
forces the bar, ``lines`` forces the lines.
"""

from __future__ import annotations

import os
import sys
import time
from contextlib import contextmanager
from typing import Any, Protocol


class Reporter(Protocol):
    def start(self, description: str, total: int | None) -> None: ...
    def advance(self, n: int = 1, **fields: Any) -> None: ...
    def stop(self) -> None: ...


class Silent:
    def start(self, description: str, total: int | None) -> None:
        pass

    def advance(self, n: int = 1, **fields: Any) -> None:
        pass

    def stop(self) -> None:
        pass


def _fields_text(fields: dict[str, Any]) -> str:
    """The latest metrics as ``name=value`` pairs (floats to four significant digits)."""
    return "  ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in fields.items())


class RichBar:
    """A rich progress bar with a free-text field for the latest metrics."""

    def __init__(self) -> None:
        self._progress = None
        self._task = None

    def start(self, description: str, total: int | None) -> None:
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

        self._progress = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeRemainingColumn(),
            TextColumn("{task.fields[info]}"),
            console=Console(stderr=True),
            transient=False,
        )
        self._progress.start()
        self._task = self._progress.add_task(description, total=total, info="")

    def advance(self, n: int = 1, **fields: Any) -> None:
        self._progress.update(self._task, advance=n, info=_fields_text(fields))

    def stop(self) -> None:
        if self._progress is not None:
            self._progress.stop()
            self._progress = None


def _duration(seconds: float) -> str:
    seconds = int(round(seconds))
    hours, rest = divmod(seconds, 3600)
    minutes, seconds = divmod(rest, 60)
    return f"{hours}h{minutes:02d}m{seconds:02d}s" if hours else f"{minutes}m{seconds:02d}s"


class Lines:
    """Plain progress lines on standard error, at most one every ``every`` seconds, for jobs whose
    output goes to a log file. Work that ends before the first interval prints nothing."""

    def __init__(self, every: float = 60.0, stream: Any = None, clock: Any = time.monotonic) -> None:
        self.every = float(every)
        self._stream = stream
        self._clock = clock
        self._description = ""
        self._total: int | None = None
        self._done = 0
        self._fields: dict[str, Any] = {}
        self._started = 0.0
        self._last = 0.0
        self._printed = False
        self._printed_done = 0

    def start(self, description: str, total: int | None) -> None:
        self._description, self._total, self._done, self._fields = description, total, 0, {}
        self._started = self._last = self._clock()
        self._printed = False

    def _line(self, now: float) -> str:
        elapsed = now - self._started
        parts = [f"{self._description}: {self._done}"]
        if self._total:
            parts[0] += f"/{self._total} ({100 * self._done / self._total:.0f}%)"
        parts.append(f"{_duration(elapsed)} elapsed")
        if self._total and 0 < self._done < self._total:
            parts.append(f"about {_duration(elapsed * (self._total - self._done) / self._done)} left")
        if self._fields:
            parts.append(_fields_text(self._fields))
        return ", ".join(parts)

    def _print(self, now: float) -> None:
        stream = self._stream if self._stream is not None else sys.stderr
        print(self._line(now), file=stream, flush=True)
        self._last, self._printed, self._printed_done = now, True, self._done

    def advance(self, n: int = 1, **fields: Any) -> None:
        self._done += n
        self._fields.update(fields)
        now = self._clock()
        if now - self._last >= self.every:
            self._print(now)

    def stop(self) -> None:
        if self._printed and self._printed_done != self._done:  # close a reported run with its final count
            self._print(self._clock())


def _mode() -> str:
    """'bar', 'lines' or 'silent', from ``LANDFORM_PROGRESS`` and whether stderr is a terminal."""
    flag = os.environ.get("LANDFORM_PROGRESS")
    if flag is None:
        return "bar" if sys.stderr.isatty() else "lines"
    flag = flag.strip().lower()
    if flag in ("0", "false", "no", "off", ""):
        return "silent"
    return "lines" if flag == "lines" else "bar"


def _every() -> float:
    text = os.environ.get("LANDFORM_PROGRESS_EVERY", "60")
    try:
        every = float(text)
    except ValueError:
        every = -1.0
    if not every >= 0:
        raise ValueError(f"LANDFORM_PROGRESS_EVERY={text!r}: give the seconds between progress lines, a number ≥ 0")
    return every


def enabled_by_default() -> bool:
    """Whether ``progress=True`` shows anything (see the module docstring)."""
    return _mode() != "silent"


def reporter(progress: Any) -> Reporter:
    """Turn a ``progress`` argument into a reporter."""
    if progress is None or progress is False:
        return Silent()
    if progress is True:
        mode = _mode()
        if mode == "silent":
            return Silent()
        if mode == "lines":
            return Lines(every=_every())
        return RichBar()
    return progress


@contextmanager
def track(progress: Any, description: str, total: int | None):
    """Context manager yielding a started reporter that is always stopped."""
    rep = reporter(progress)
    rep.start(description, total)
    try:
        yield rep
    finally:
        rep.stop()
