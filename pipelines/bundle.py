"""The code bundle every job runs: a deterministic, content-addressed ``sourcedir.tar.gz``.

The tarball holds the installed ``trainguard.training`` package (under a stub ``trainguard``
package, so the job imports the same names as the user's side), the pure-Python libraries the XGBoost image
lacks (``imblearn``, ``sklearn_compat``), ``entry.py`` (script mode's entry point) and a
``pyproject.toml`` with an in-tree build backend, so script mode's ``pip install .`` needs
nothing but pip (no setuptools, no wheel, no index: it works offline on any image). Entries are
sorted, with fixed mtimes, owners and modes and a gzip header without a timestamp, so the same
code gives the same bytes and the same sha256 (for a given zlib); the S3 key carries that sha, so
jobs, caching and upserts see a new key exactly when the code changes. Never imports the SDK.
"""

from __future__ import annotations

import gzip
import hashlib
import importlib.util
import io
import tarfile
from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "BUILD_BACKEND",
    "BUNDLED_PACKAGES",
    "BUNDLE_FILENAME",
    "ENTRY_SCRIPT",
    "Bundle",
    "build_bundle",
    "bundle_s3_uri",
    "code_prefix",
]

BUNDLE_FILENAME = "sourcedir.tar.gz"
BUNDLED_PACKAGES = ("trainguard.training", "imblearn", "sklearn_compat")
"""Packages copied into the bundle, located through their installed ``__init__.py``."""
PARENT_STUB = '"""trainguard inside a job: only the packages a job runs are shipped."""\n'
"""``__init__.py`` of a bundled package's parents (``trainguard``): the real one is the user-side
API, which a job has no use for."""
ENTRY_SCRIPT = "entry.py"
ENTRY_SOURCE = (
    '"""Script-mode entry point of the training job: the train job of ``trainguard.training.jobs``."""\n'
    "import sys\n\n"
    "from trainguard.training.jobs import main\n\n"
    'if __name__ == "__main__":\n'
    '    sys.exit(main(["train"]))\n'
)
"""``entry.py``. Script mode also passes the hyperparameters as ``--name value`` flags; the train
job reads them from ``hyperparameters.json`` instead, so the flags are not forwarded."""

BUILD_BACKEND = "_trainguard_build.py"
BUILD_BACKEND_SOURCE = '''"""PEP 517 build backend of the job bundle: an empty wheel, built with the standard library.

Script mode runs ``pip install .`` on the bundle before it runs entry.py. With this backend pip
needs no setuptools, no wheel and no index, so the install works offline on any image; the code
itself runs from the unpacked folder (entry.py's working directory), so the wheel carries only
its metadata.
"""
import base64
import hashlib
import os
import zipfile

NAME = "trainguard_job"
VERSION = "0"
DIST_INFO = NAME + "-" + VERSION + ".dist-info"
FILES = {
    "METADATA": "Metadata-Version: 2.1\\nName: " + NAME + "\\nVersion: " + VERSION + "\\n",
    "WHEEL": "Wheel-Version: 1.0\\nGenerator: trainguard\\nRoot-Is-Purelib: true\\nTag: py3-none-any\\n",
}


def get_requires_for_build_wheel(config_settings=None):
    return []


def prepare_metadata_for_build_wheel(metadata_directory, config_settings=None):
    folder = os.path.join(metadata_directory, DIST_INFO)
    os.makedirs(folder, exist_ok=True)
    for name, text in FILES.items():
        with open(os.path.join(folder, name), "w", encoding="utf-8") as fh:
            fh.write(text)
    return DIST_INFO


def build_wheel(wheel_directory, config_settings=None, metadata_directory=None):
    filename = NAME + "-" + VERSION + "-py3-none-any.whl"
    record = []
    with zipfile.ZipFile(os.path.join(wheel_directory, filename), "w") as whl:
        for name, text in FILES.items():
            data = text.encode("utf-8")
            digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
            whl.writestr(zipfile.ZipInfo(DIST_INFO + "/" + name, (1980, 1, 1, 0, 0, 0)), data)
            record.append(DIST_INFO + "/" + name + ",sha256=" + digest + "," + str(len(data)))
        record.append(DIST_INFO + "/RECORD,,")
        whl.writestr(zipfile.ZipInfo(DIST_INFO + "/RECORD", (1980, 1, 1, 0, 0, 0)),
                     "\\n".join(record) + "\\n")
    return filename
'''
"""The bundle's own build backend (``pyproject.toml`` names it with ``backend-path = ["."]``)."""
PYPROJECT_SOURCE = (
    "# script mode runs `pip install .` here: the in-tree backend needs nothing from an index\n"
    "[build-system]\n"
    "requires = []\n"
    'build-backend = "_trainguard_build"\n'
    'backend-path = ["."]\n'
)

_MTIME = 0
_SKIP_DIRS = {"__pycache__"}
_SKIP_SUFFIXES = {".pyc", ".pyo"}


@dataclass(frozen=True)
class Bundle:
    """The tarball's bytes and their sha256 (hex), which names its S3 key."""

    data: bytes
    sha256: str

    def s3_uri(self, bucket: str, prefix: str) -> str:
        """``s3://<bucket>/<prefix>/code/<sha256>/sourcedir.tar.gz``."""
        return bundle_s3_uri(bucket, prefix, self.sha256)


_CACHE: dict[tuple[str, ...], Bundle] = {}


def build_bundle(packages: tuple[str, ...] = BUNDLED_PACKAGES) -> Bundle:
    """Build (once per process) the deterministic ``sourcedir.tar.gz`` of ``packages`` + entry.py.

    The result is cached: the same process always references the same code. Raises
    ModuleNotFoundError if a bundled package is not installed (an installation problem).
    """
    key = tuple(packages)
    if key not in _CACHE:
        _CACHE[key] = _build(key)
    return _CACHE[key]


def bundle_s3_uri(bucket: str, prefix: str, sha256: str) -> str:
    """The content-addressed S3 URI of a bundle with this sha256."""
    return f"{code_prefix(bucket, prefix)}{sha256}/{BUNDLE_FILENAME}"


def code_prefix(bucket: str, prefix: str) -> str:
    """``s3://<bucket>/<prefix>/code/``: where every bundle version lives."""
    parts = [p for p in prefix.strip("/").split("/") if p]
    return "s3://" + "/".join([bucket, *parts, "code"]) + "/"


# --------------------------------------------------------------------------------------------
# internals


def _package_files(name: str) -> list[tuple[str, Path]]:
    """(archive name, path) for every file of an installed package, skipping bytecode."""
    spec = importlib.util.find_spec(name)  # locate without importing (imblearn imports sklearn)
    if spec is None:
        raise ModuleNotFoundError(f"cannot bundle {name!r}: it is not installed")
    init = spec.origin
    if not init or not spec.submodule_search_locations:  # namespace package or plain module
        raise ModuleNotFoundError(f"cannot bundle {name!r}: it has no __init__.py to locate it by")
    root = Path(init).resolve().parent
    out = []
    for path in root.rglob("*"):
        rel = path.relative_to(root)
        if not path.is_file() or path.suffix in _SKIP_SUFFIXES:
            continue
        if any(part in _SKIP_DIRS or part.startswith(".") for part in rel.parts):
            continue  # bytecode caches, editor and tool droppings (.swp, .pytest_cache)
        if rel.name.endswith("~"):
            continue
        out.append((f"{name.replace('.', '/')}/{rel.as_posix()}", path))
    return out


def _add(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mtime = _MTIME
    info.mode = 0o644
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    info.type = tarfile.REGTYPE
    tar.addfile(info, io.BytesIO(data))


def _build(packages: tuple[str, ...]) -> Bundle:
    entries: dict[str, bytes] = {ENTRY_SCRIPT: ENTRY_SOURCE.encode(),
                                 BUILD_BACKEND: BUILD_BACKEND_SOURCE.encode(),
                                 "pyproject.toml": PYPROJECT_SOURCE.encode()}
    for package in packages:
        parents = package.split(".")[:-1]
        for depth in range(1, len(parents) + 1):
            entries["/".join(parents[:depth]) + "/__init__.py"] = PARENT_STUB.encode()
        for arcname, path in _package_files(package):
            entries[arcname] = path.read_bytes()
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for arcname in sorted(entries):
            _add(tar, arcname, entries[arcname])
    out = io.BytesIO()
    with gzip.GzipFile(filename="", mode="wb", fileobj=out, mtime=0, compresslevel=6) as gz:
        gz.write(raw.getvalue())
    data = out.getvalue()
    return Bundle(data=data, sha256=hashlib.sha256(data).hexdigest())
