"""S3 URIs mapped to a local object-store folder: ``s3://bucket/key`` is ``<root>/bucket/key``.

Uploads and downloads copy whole files or every object under a prefix, as SageMaker's File mode
does; ``digest`` fingerprints the objects under a URI for the step cache.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path
from typing import Any

from trainguard.training.errors import DataError
from trainguard.training.files import copy_file

__all__ = ["LocalStore"]


class LocalStore:
    """An object store in a folder, addressed by s3:// URIs."""

    def __init__(self, root: Path | str) -> None:
        self.root = Path(root)

    def path(self, uri: str) -> Path:
        """Local path of an s3:// URI; DataError for any other scheme or a key escaping the root."""
        if not isinstance(uri, str) or not uri.startswith("s3://"):
            raise DataError(f"{uri!r} is not an s3:// URI; the local run maps only s3://bucket/key URIs.")
        key = uri[len("s3://"):].strip("/")
        parts = [p for p in key.split("/") if p]
        if not parts or any(p in (".", "..") for p in parts):
            raise DataError(f"{uri!r} has no bucket or holds '.'/'..' segments.")
        return self.root.joinpath(*parts)

    def objects(self, uri: str) -> list[tuple[str, Path]]:
        """(relative name, path) of the object at ``uri`` itself, else of every object under it."""
        base = self.path(uri)
        if base.is_file():
            return [(base.name, base)]
        if base.is_dir():
            return sorted((p.relative_to(base).as_posix(), p) for p in base.rglob("*") if p.is_file())
        return []

    def exists(self, uri: str) -> bool:
        """True when an object or at least one object under the prefix exists."""
        return bool(self.objects(uri))

    def download(self, uri: str, dest: Path) -> int:
        """Copy what is at ``uri`` into folder ``dest`` (hard links when possible); object count."""
        found = self.objects(uri)
        dest.mkdir(parents=True, exist_ok=True)
        for rel, src in found:
            target = dest / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            try:
                target.hardlink_to(src)
            except OSError:
                shutil.copy2(src, target)
        return len(found)

    def upload_dir(self, src: Path, uri: str) -> int:
        """Copy every file under folder ``src`` to the prefix ``uri``; object count."""
        base = self.path(uri)
        count = 0
        for p in sorted(src.rglob("*")):
            if p.is_file():
                target = base / p.relative_to(src)
                target.parent.mkdir(parents=True, exist_ok=True)
                _replace_with_copy(p, target)
                count += 1
        return count

    def upload_file(self, src: Path, uri: str) -> None:
        """Copy one file to the object ``uri``."""
        target = self.path(uri)
        target.parent.mkdir(parents=True, exist_ok=True)
        _replace_with_copy(src, target)

    def read_json(self, uri: str) -> Any:
        """The JSON document stored at the object ``uri``; DataError when missing or not JSON."""
        path = self.path(uri)
        try:
            return json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise DataError(f"{uri} does not exist in the local store.") from None
        except (OSError, ValueError) as exc:
            raise DataError(f"{uri} is not a readable JSON document: {exc}") from None

    def digest(self, uri: str) -> str:
        """sha256 over the names and contents of the objects at ``uri``; '' when there are none."""
        found = self.objects(uri)
        if not found:
            return ""
        h = hashlib.sha256()
        for rel, p in found:
            h.update(rel.encode() + b"\0" + _file_sha(p).encode() + b"\0")
        return h.hexdigest()


def _file_sha(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _replace_with_copy(src: Path, target: Path) -> None:
    # Write beside, then rename: a reader never sees half an object, and a hard link taken
    # earlier by a download keeps its old content.
    copy_file(src, target)
