"""Progress reporting for long work, shown with rich and switchable off.

Numerical code never prints; it accepts a ``progress`` argument, which is ``None``/``False``
(silent), ``True`` (a rich progress bar on standard error, when it is a terminal or when
``LANDFORM_PROGRESS=1``), or any object with ``start(description, total)``, ``advance(n,
**fields)`` and ``stop()`` methods.
"""

from __future__ import annotations

import os
import sys
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
        info = "  ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in fields.items())
        self._progress.update(self._task, advance=n, info=info)

    def stop(self) -> None:
        if self._progress is not None:
            self._progress.stop()
            self._progress = None


def enabled_by_default() -> bool:
    flag = os.environ.get("LANDFORM_PROGRESS")
    if flag is not None:
        return flag not in ("0", "false", "no", "")
    return sys.stderr.isatty()


def reporter(progress: Any) -> Reporter:
    """Turn a ``progress`` argument into a reporter."""
    if progress is None or progress is False:
        return Silent()
    if progress is True:
        return RichBar() if enabled_by_default() else Silent()
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
