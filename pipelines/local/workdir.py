"""One run at a time per work dir: an advisory lock that names who holds it.

Two runs on one ``--workdir`` would race on the same partial files and overwrite each other's
evidence, so a run takes ``<workdir>/.trainguard.lock`` (``fcntl.flock``, released by the kernel
when the process ends, so a crashed run never leaves a stale lock) and writes its pid, host and
start time into it. A second run is refused at once with those three facts. The lock is
re-entrant within one process (``run_local`` holds it and calls ``run_definition``, which takes it too).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import socket
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

from trainguard.training.errors import ConfigError

__all__ = ["LOCK_NAME", "WorkdirBusyError", "lock_workdir"]

LOCK_NAME = ".trainguard.lock"
_held: dict[str, int] = {}
_guard = threading.Lock()


class WorkdirBusyError(ConfigError):
    """Another process is running on this work dir (exit 2: pick another --workdir or wait)."""


@contextlib.contextmanager
def lock_workdir(workdir: str | os.PathLike[str]) -> Iterator[Path]:
    """Hold ``workdir``'s lock for the block; WorkdirBusyError naming the holder when it is taken."""
    folder = Path(workdir)
    folder.mkdir(parents=True, exist_ok=True)
    key = os.path.realpath(folder)
    with _guard:
        if key in _held:
            _held[key] += 1
            fd = None
        else:
            fd = _acquire(folder / LOCK_NAME)
            _held[key] = 1
    try:
        yield folder
    finally:
        with _guard:
            _held[key] -= 1
            if _held[key] == 0:
                del _held[key]
                if fd is not None:
                    os.close(fd)  # closing the descriptor releases the flock


def _acquire(path: Path) -> int:
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = _holder(fd)
        os.close(fd)
        raise WorkdirBusyError(
            f"work dir {path.parent} is in use by another trainguard run ({holder}); wait for it to "
            "finish or pass another --workdir.") from None
    except BaseException:
        os.close(fd)
        raise
    info = {"pid": os.getpid(), "host": socket.gethostname(),
            "since": datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")}
    os.ftruncate(fd, 0)
    os.pwrite(fd, (json.dumps(info) + "\n").encode(), 0)
    return fd


def _holder(fd: int) -> str:
    try:
        info = json.loads(os.pread(fd, 4096, 0).decode("utf-8"))
        return f"pid {info['pid']} on host {info['host']} since {info['since']}"
    except (OSError, ValueError, KeyError, TypeError):
        return "holder unknown: it is still starting"
