"""Built definitions kept on disk, so a local run that changes nothing does not import the SDK.

Building a definition imports the SageMaker SDK (seconds of start-up) and is a pure function of
the config, the code bundle, the builders' own source and the SDK's version. The key below is
exactly those, so a repeat run reads the JSON it built before, and any change to one of them
builds afresh.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import json
from pathlib import Path

from trainguard.pipelines.bundle import build_bundle
from trainguard.training.config import Config
from trainguard.training.files import write_text

__all__ = ["SDK_DISTRIBUTIONS", "definition_key", "load_or_build", "store"]

SDK_DISTRIBUTIONS = ("sagemaker", "sagemaker-core", "sagemaker-train", "sagemaker-mlops",
                     "sagemaker-serve", "botocore")
"""Distributions whose version can change what the builder emits."""

_PACKAGE_ROOT = Path(__file__).resolve().parents[2]
"""The repository (or install) root holding the steps/ and pipelines/ folders."""


def definition_key(cfg: Config) -> str:
    """sha256 over the config, the bundle's sha, the builders' source files and the SDK versions."""
    digest = hashlib.sha256()
    digest.update(json.dumps(cfg.to_dict(), sort_keys=True).encode())
    digest.update(build_bundle().sha256.encode())
    for path in _builder_sources():
        digest.update(str(path.relative_to(_PACKAGE_ROOT)).encode())
        digest.update(hashlib.sha256(path.read_bytes()).digest())
    for dist in SDK_DISTRIBUTIONS:
        try:
            version = importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            version = "absent"
        digest.update(f"{dist}=={version}".encode())
    return digest.hexdigest()


def load_or_build(cfg: Config, cache_dir: Path) -> tuple[str, str, bool]:
    """The definition JSON for ``cfg``: (text, key, hit). Builds it (importing the SDK) on a miss.

    Nothing is written here: the caller stores a miss with ``store`` once the run is accepted, so
    bad input found later leaves the cache folder as it was.
    """
    key = definition_key(cfg)
    path = cache_dir / f"definition-{key}.json"
    if path.is_file():
        text = _read_entry(path)
        if text is not None:
            return text, key, True  # else a truncated or damaged entry: a miss, rebuilt and rewritten
    from trainguard.pipelines.build import definition_json  # the SDK, only on a miss

    return definition_json(cfg), key, False


def store(cache_dir: Path, key: str, text: str) -> Path:
    """Write a built definition under its key, atomically (a reader never sees half a file)."""
    cache_dir.mkdir(parents=True, exist_ok=True)
    path = cache_dir / f"definition-{key}.json"
    return write_text(path, text)


def _builder_sources() -> list[Path]:
    steps = sorted((_PACKAGE_ROOT / "steps").glob("*.py"))
    return [*steps, _PACKAGE_ROOT / "pipelines" / "build.py", _PACKAGE_ROOT / "pipelines" / "bundle.py"]


def _read_entry(path: Path) -> str | None:
    """A cached definition's text when it is whole (a JSON object with a Steps list), else None."""
    try:
        text = path.read_text(encoding="utf-8")
        data = json.loads(text)
    except (OSError, ValueError, RecursionError):
        return None
    return text if isinstance(data, dict) and isinstance(data.get("Steps"), list) else None
