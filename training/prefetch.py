"""Read a table ahead, on a background thread, for the next ``load_table`` of the same file.

The local run knows the user's file before its own start-up is over (the SDK's import and the
definition build on a first run, the training stack's import): ``prefetch_table`` parses the file
meanwhile on one core (pyarrow parses without holding the GIL; the imports it runs beside use
the other core, and a parse on pyarrow's whole pool slowed them about as much as it gained), and
the preprocess job's ``load_table`` of that file, staged as a hard link, takes the parsed table
instead of parsing it again. A job in a SageMaker container never finds one: nothing prefetches there.

A prefetched table is used only when everything its parse depends on matches: the same file on
disk (device, inode, size and modification time, so a file changed since is read afresh), the
same target and positive label, and the same column-role settings (``ROLE_FLAGS``, the data
section's fields the preprocess job receives). It is handed over once, then forgotten; a parse
that failed is never handed over, so the job's own parse words the problem as ever.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

__all__ = ["prefetch_table", "take"]

_jobs: dict[tuple[Any, ...], _Job] = {}
_lock = threading.Lock()


class _Job:
    """One table being read ahead: the parsed Dataset once ``done`` is set (None if it failed)."""

    def __init__(self) -> None:
        self.done = threading.Event()
        self.dataset: Any = None


def prefetch_table(path: str | Path, target: str, positive_label: Any = None, *,
                   roles: Any = None) -> Callable[[], None]:
    """Start parsing the table at ``path`` on a daemon thread; returns the function that forgets
    it (call it when the run is over, so an unused table does not stay in memory)."""
    from trainguard.training.data import resolve_data_file

    try:
        file = resolve_data_file(path)
        key = _key(file, target, positive_label, roles)
    except Exception:  # whatever is wrong, the job's own read reports it
        return _nothing
    job = _Job()
    with _lock:
        _jobs[key] = job

    def read() -> None:
        from trainguard.training.data import _load

        try:
            job.dataset = _load(file, target, positive_label, str(file), roles, threads=False)
        except BaseException:  # not handed over: the job parses and words it
            job.dataset = None
        finally:
            job.done.set()

    threading.Thread(target=read, name="trainguard-prefetch", daemon=True).start()

    def forget() -> None:
        with _lock:
            if _jobs.get(key) is job:
                del _jobs[key]

    return forget


def take(file: Path, target: str, positive_label: Any, roles: Any) -> Any:
    """The Dataset read ahead for exactly this read of ``file`` (waiting for it), else None."""
    if not _jobs:  # the usual case, and always in a container
        return None
    try:
        key = _key(file, target, positive_label, roles)
    except OSError:
        return None
    with _lock:
        job = _jobs.pop(key, None)
    if job is None:
        return None
    job.done.wait()
    dataset, job.dataset = job.dataset, None  # the caller's now: nothing else may keep it alive
    return dataset


def _key(file: Path, target: str, positive_label: Any, roles: Any) -> tuple[Any, ...]:
    from trainguard.training.job_contract import ROLE_FLAGS

    st = os.stat(file)
    settings = None if roles is None else tuple(repr(getattr(roles, f, None)) for f in ROLE_FLAGS)
    return (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, target, repr(positive_label), settings)


def _nothing() -> None:
    return None
