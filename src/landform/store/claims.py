"""Claims: which process is working on a run right now, safe across processes and hosts.

A claim is a small JSON file (owner host, PID, the process's start time, a random token, the
session that asked for the work) created atomically: the content is written to a private
temporary file and *hard-linked* to the claim's name, which fails if the name exists. That is
atomic on local file systems and on NFS alike, so of several processes claiming the same run at
the same moment exactly one wins, and a reader never sees a half-written claim.

While a claim is held a background thread refreshes the file's modification time every
``heartbeat`` seconds. A claim is *stale*, and may be taken over, when

- its owner ran on this host and that process is gone (or its PID now belongs to a process
  started at another time: the PID was reused), or
- its heartbeat is older than ``stale_after`` seconds (an owner on another host that died, or a
  hung one).

So a run whose process was killed (even with SIGKILL) is picked up again at once on the same
host and after ``stale_after`` seconds elsewhere. Breaking a stale claim renames it away first
(one rename wins), then claims as usual.

Times across hosts come from the hosts' clocks (and the file server's, for the heartbeat);
keep ``stale_after`` well above the clock skew of the cluster.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import threading
import time
import uuid
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

#: Seconds between two refreshes of a held claim's heartbeat.
HEARTBEAT_SECONDS = 10.0
#: Seconds without a heartbeat after which any claim counts as abandoned.
STALE_SECONDS = 120.0


def hostname() -> str:
    return socket.gethostname()


def process_start(pid: int) -> str | None:
    """The start time of process ``pid`` in clock ticks since boot (Linux), else None.

    Together with the PID it names one process: a PID reused by a later process has another
    start time.
    """
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # the command name (field 2) is in parentheses and may contain spaces: split after it
    fields = stat[stat.rfind(")") + 2 :].split()
    return fields[19] if len(fields) > 19 else None


def pid_alive(pid: int) -> bool:
    """Whether a process with this PID exists on this host (zombies count as gone)."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # exists, owned by someone else
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        return stat[stat.rfind(")") + 2 :].split()[0] != "Z"
    except OSError:
        return True


@dataclass(frozen=True)
class ClaimInfo:
    """The owner of a claim."""

    host: str
    pid: int
    process_start: str | None
    token: str
    session: str
    claimed_at: float
    note: str = ""

    @classmethod
    def mine(cls, session: str = "", note: str = "") -> ClaimInfo:
        pid = os.getpid()
        return cls(hostname(), pid, process_start(pid), uuid.uuid4().hex, session, time.time(), note)

    def describe(self) -> str:
        return f"pid {self.pid} on {self.host}" + (f" ({self.note})" if self.note else "")


def read_claim(path: str | os.PathLike) -> ClaimInfo | None:
    """The claim at ``path``, or None if there is none (or it is unreadable garbage)."""
    try:
        data = json.loads(Path(path).read_text())
        return ClaimInfo(**data)
    except (OSError, ValueError, TypeError):
        return None


def heartbeat_age(path: str | os.PathLike) -> float | None:
    try:
        return max(0.0, time.time() - Path(path).stat().st_mtime)
    except OSError:
        return None


def stale_reason(
    path: str | os.PathLike, info: ClaimInfo | None = None, *, stale_after: float = STALE_SECONDS
) -> str | None:
    """Why the claim at ``path`` is stale, or None while its owner looks alive."""
    path = Path(path)
    info = info if info is not None else read_claim(path)
    age = heartbeat_age(path)
    if age is None:
        return None  # gone: nothing to break
    if info is None:
        # unreadable: only a claim written by something else can look like this
        return f"unreadable claim, {age:.0f} s old" if age > stale_after else None
    if info.host == hostname():
        if not pid_alive(info.pid):
            return f"its process (pid {info.pid}) is gone"
        started = process_start(info.pid)
        if info.process_start is not None and started is not None and started != info.process_start:
            return f"pid {info.pid} now belongs to another process"
    if age > stale_after:
        return f"no heartbeat for {age:.0f} s ({info.describe()})"
    return None


class Claim:
    """A held claim; refreshes its heartbeat until :meth:`release` (or the end of a ``with``)."""

    def __init__(
        self,
        path: Path,
        info: ClaimInfo,
        *,
        heartbeat: float = HEARTBEAT_SECONDS,
        took_over: ClaimInfo | None = None,
        took_over_reason: str | None = None,
    ):
        self.path = path
        self.info = info
        self.took_over = took_over
        self.took_over_reason = took_over_reason
        self.lost = False
        self._stop = threading.Event()
        self._thread = threading.Thread(
            target=self._beat, args=(heartbeat,), name=f"claim-heartbeat-{path.name}", daemon=True
        )
        self._thread.start()

    def _beat(self, every: float) -> None:
        while not self._stop.wait(every):
            if not self.held():
                self.lost = True
                return
            with contextlib.suppress(OSError):
                os.utime(self.path)

    def held(self) -> bool:
        current = read_claim(self.path)
        return current is not None and current.token == self.info.token

    def release(self) -> None:
        """Stop the heartbeat and remove the claim file if it is still ours."""
        self._stop.set()
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join(timeout=5)
        if self.held():
            with contextlib.suppress(OSError):
                self.path.unlink()

    def __enter__(self) -> Claim:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.release()


class ClaimHeld(Exception):
    """Raised by :func:`claim` when a live owner holds the claim (not a user error)."""

    def __init__(self, path: Path, owner: ClaimInfo | None):
        self.path, self.owner = path, owner
        super().__init__(f"{path} is claimed by {owner.describe() if owner else 'another process'}")


def _link_new(path: Path, info: ClaimInfo) -> bool:
    """Create ``path`` holding ``info`` atomically; False if it already exists."""
    temporary = path.with_name(f".{path.name}.{info.token}.tmp")
    temporary.write_text(json.dumps(asdict(info)))
    try:
        os.link(temporary, path)
        return True
    except FileExistsError:
        return False
    finally:
        with contextlib.suppress(OSError):
            temporary.unlink()


def _break(path: Path, stale: ClaimInfo | None) -> bool:
    """Move a stale claim out of the way; True if this process moved exactly that claim."""
    aside = path.with_name(f".{path.name}.stale.{uuid.uuid4().hex}")
    try:
        os.rename(path, aside)
    except FileNotFoundError:
        return False  # someone else broke it first
    moved = read_claim(aside)
    if stale is not None and (moved is None or moved.token != stale.token):
        # between our check and the rename the stale claim was replaced by a fresh one: put it back
        with contextlib.suppress(OSError):
            os.link(aside, path)
        with contextlib.suppress(OSError):
            aside.unlink()
        return False
    with contextlib.suppress(OSError):
        aside.unlink()
    return True


def claim(
    path: str | os.PathLike,
    *,
    session: str = "",
    note: str = "",
    stale_after: float = STALE_SECONDS,
    heartbeat: float = HEARTBEAT_SECONDS,
    same_session_stale_after: float | None = None,
) -> Claim:
    """Claim ``path`` for this process, taking over a stale claim; raises :class:`ClaimHeld`.

    ``same_session_stale_after`` (seconds) applies instead of ``stale_after`` to a claim made by
    the same ``session``: a session runs each piece of work once at a time, so its own earlier
    claim can only be left by an attempt that died (a killed worker on another host).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    mine = ClaimInfo.mine(session, note)
    took_over: ClaimInfo | None = None
    reason: str | None = None
    for _ in range(20):
        if _link_new(path, mine):
            return Claim(path, mine, heartbeat=heartbeat, took_over=took_over, took_over_reason=reason)
        owner = read_claim(path)
        limit = stale_after
        if owner is not None and session and owner.session == session and same_session_stale_after is not None:
            limit = same_session_stale_after
        why = stale_reason(path, owner, stale_after=limit)
        if why is None:
            if heartbeat_age(path) is None:
                continue  # released meanwhile: try again
            raise ClaimHeld(path, owner)
        if _break(path, owner):
            took_over, reason = owner, why
    raise ClaimHeld(path, read_claim(path))


def wait_for_claim(
    path: str | os.PathLike,
    *,
    session: str = "",
    note: str = "",
    stale_after: float = STALE_SECONDS,
    heartbeat: float = HEARTBEAT_SECONDS,
    same_session_stale_after: float | None = None,
    wait: float = 0.0,
    poll: float = 0.5,
) -> Claim:
    """:func:`claim`, retrying for up to ``wait`` seconds while a live owner holds it."""
    deadline = time.monotonic() + wait
    while True:
        try:
            return claim(
                path,
                session=session,
                note=note,
                stale_after=stale_after,
                heartbeat=heartbeat,
                same_session_stale_after=same_session_stale_after,
            )
        except ClaimHeld:
            if time.monotonic() >= deadline:
                raise
            time.sleep(poll)


def claim_status(
    path: str | os.PathLike, *, stale_after: float = STALE_SECONDS
) -> tuple[str, ClaimInfo | None, str | None]:
    """("free" | "live" | "stale", owner, reason) of the claim at ``path``."""
    path = Path(path)
    if not path.exists():
        return "free", None, None
    owner = read_claim(path)
    why = stale_reason(path, owner, stale_after=stale_after)
    if why is None:
        return ("live", owner, None) if path.exists() else ("free", None, None)
    return "stale", owner, why
