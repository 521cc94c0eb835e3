"""The one way trainguard writes a file: whole or not at all, and never over something that is not a file.

Every writer (``definition --out``, ``iam --out/--split``, reports, registry exports, the
definition and step caches, evaluation.json, model artifacts, data splits) goes through
``open_for_write``; what it does depends on what the target already is:

- nothing, or a regular file: the content goes to a temporary file in the same folder, which is
  flushed and renamed over the target, so a reader or a crash sees the old file or the new one,
  never half of one. An existing file keeps its permission bits; a new one gets 0666 less umask.
- a symbolic link: followed on purpose, as shell redirection does. The link stays; the file it
  points to is replaced as above (or created, when the link dangles into an existing folder).
- a character or block device, or a FIFO (``/dev/null``, ``/dev/stdout``, a named pipe): written
  through in place, as ``> FILE`` does. Such targets are never renamed over.
- a folder, a socket or anything else: refused with ``OSError`` (``strerror`` says why), before
  anything is written.

Python 3.10 syntax, standard library only: the training jobs use it inside the container too.
"""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
import stat
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

__all__ = ["copy_file", "link_or_copy", "open_for_write", "resolve_target", "write_bytes", "write_text"]

_MAX_LINKS = 40  # as the kernel's own limit on symbolic links followed in one lookup


def resolve_target(path: str | os.PathLike[str]) -> Path:
    """The path a write to ``path`` lands on: symbolic links followed (a loop is an OSError)."""
    p = Path(path)
    for _ in range(_MAX_LINKS):
        try:
            info = os.lstat(p)
        except FileNotFoundError:
            return p
        if not stat.S_ISLNK(info.st_mode):
            return p
        p = p.parent / os.readlink(p)
    raise OSError(errno.ELOOP, f"{path} is a loop of symbolic links")


@contextlib.contextmanager
def open_for_write(path: str | os.PathLike[str], mode: str = "w", *, encoding: str | None = "utf-8",
                   newline: str | None = None, fsync: bool = False) -> Iterator[IO[Any]]:
    """Yield a handle whose content replaces ``path`` only when the block ends without an error.

    ``mode`` is "w" (text) or "wb" (bytes). See the module docstring for what each kind of
    existing target gets. The folder must exist (callers create it when they mean to).
    """
    if mode not in ("w", "wb"):
        raise ValueError(f"mode must be 'w' or 'wb', not {mode!r}")
    binary = mode == "wb"
    target = resolve_target(path)
    try:
        info: os.stat_result | None = os.stat(target)
    except FileNotFoundError:
        info = None
    if info is not None and not stat.S_ISREG(info.st_mode):
        if stat.S_ISCHR(info.st_mode) or stat.S_ISBLK(info.st_mode) or stat.S_ISFIFO(info.st_mode):
            # write through, as shell redirection does; never rename over a device or a pipe
            with open(target, mode, **({} if binary else {"encoding": encoding, "newline": newline})) as fh:
                yield fh
            return
        kind = "a folder" if stat.S_ISDIR(info.st_mode) else \
            "a socket" if stat.S_ISSOCK(info.st_mode) else "not a regular file"
        raise OSError(errno.EISDIR if stat.S_ISDIR(info.st_mode) else errno.EINVAL,
                      f"{path} is {kind}; trainguard replaces only regular files")
    folder = target.parent
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=folder)
    try:
        with os.fdopen(fd, mode, **({} if binary else {"encoding": encoding, "newline": newline})) as fh:
            yield fh
            fh.flush()
            if fsync:
                os.fsync(fh.fileno())
        os.chmod(tmp, stat.S_IMODE(info.st_mode) if info is not None else 0o666 & ~_umask())
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def write_text(path: str | os.PathLike[str], text: str, *, encoding: str = "utf-8",
               fsync: bool = False) -> Path:
    """Write ``text`` to ``path`` through ``open_for_write``; returns ``Path(path)``."""
    with open_for_write(path, "w", encoding=encoding, fsync=fsync) as fh:
        fh.write(text)
    return Path(path)


def write_bytes(path: str | os.PathLike[str], data: bytes, *, fsync: bool = False) -> Path:
    """Write ``data`` to ``path`` through ``open_for_write``; returns ``Path(path)``."""
    with open_for_write(path, "wb", fsync=fsync) as fh:
        fh.write(data)
    return Path(path)


def copy_file(src: str | os.PathLike[str], dst: str | os.PathLike[str]) -> Path:
    """Copy the file ``src`` to ``dst`` through ``open_for_write`` (a hard link to the old ``dst`` keeps it)."""
    with open(src, "rb") as source, open_for_write(dst, "wb") as fh:
        shutil.copyfileobj(source, fh, 1 << 20)
    return Path(dst)


def link_or_copy(src: str | os.PathLike[str], dst: str | os.PathLike[str]) -> bool:
    """Give ``dst`` the content of the file ``src`` without copying it where the filesystem allows:
    a hard link (same filesystem), else a copy through ``copy_file``. True when linked.

    For inputs trainguard only reads (the data staged into the local store): ``src`` is never
    written to, here or later, because every trainguard write replaces a file by renaming a new
    one over it, which leaves the other name's content alone. A hard link, like the copy, is
    renamed over ``dst``, so a reader sees the old file or the new one.
    """
    target = resolve_target(dst)
    try:
        info: os.stat_result | None = os.stat(target)
    except FileNotFoundError:
        info = None
    if info is not None and stat.S_ISREG(info.st_mode) and os.path.samestat(info, os.stat(src)):
        return True  # already a link to it (renaming a link over its twin would do nothing)
    if info is None or stat.S_ISREG(info.st_mode):
        tmp = target.parent / f".{target.name}.{os.urandom(6).hex()}.tmp"
        try:
            os.link(src, tmp)
        except OSError:  # another filesystem, links not allowed (fs.protected_hardlinks), no support
            pass
        else:
            try:
                os.replace(tmp, target)
            finally:  # gone after a rename; left when the rename failed or was a no-op
                with contextlib.suppress(OSError):
                    os.unlink(tmp)
            return True
    copy_file(src, dst)
    return False


def _read_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


_UMASK = _read_umask()  # read once: os.umask is process-wide and not safe to flip in threads


def _umask() -> int:
    return _UMASK
