"""Step caching like SageMaker's CacheConfig: same resolved arguments and inputs → reuse outputs.

A cache entry is a JSON file ``<workdir>/cache/<step>/<key>.json`` holding the step's properties,
property files, trials and the digests of the outputs it wrote. The key hashes the step type, the
resolved arguments SageMaker keys its cache on (not the output paths, which name the execution:
a hit hands on the earlier execution's outputs, as SageMaker does) and the digests of its input
objects; an entry is used only while younger than ``ExpireAfter`` and while its outputs are
still in the store unchanged.
"""

from __future__ import annotations

import hashlib
import json
import re
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from trainguard.pipelines.local.errors import DefinitionError
from trainguard.pipelines.local.store import LocalStore
from trainguard.training.files import write_text

__all__ = ["StepCache", "cache_key", "parse_duration"]

_DURATION = re.compile(
    r"^P(?:(?P<Y>\d+)Y)?(?:(?P<M>\d+)M)?(?:(?P<W>\d+)W)?(?:(?P<D>\d+)D)?"
    r"(?:T(?:(?P<h>\d+)H)?(?:(?P<m>\d+)M)?(?:(?P<s>\d+)S)?)?$"
)
_SECONDS = {"Y": 365 * 86400, "M": 30 * 86400, "W": 7 * 86400, "D": 86400, "h": 3600, "m": 60, "s": 1}


def parse_duration(text: str) -> float:
    """Seconds in an ISO 8601 duration such as ``P30D`` or ``PT1H``; DefinitionError if malformed."""
    m = _DURATION.match(text or "")
    if not m or text in ("P", "PT") or text.endswith("T"):
        raise DefinitionError(f"CacheConfig ExpireAfter {text!r} is not an ISO 8601 duration like P30D or PT1H.")
    return float(sum(int(v) * _SECONDS[k] for k, v in m.groupdict().items() if v))


def cache_key(step_type: str, arguments: Any, input_digests: Mapping[str, str]) -> str:
    """Hash of what determines a step's result: its type, resolved arguments and input objects."""
    blob = json.dumps({"type": step_type, "arguments": arguments, "inputs": dict(input_digests)},
                      sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()


class StepCache:
    """Cache entries under one folder; ``lookup`` validates, ``save`` records after success."""

    def __init__(self, root: Path, store: LocalStore) -> None:
        self.root = Path(root)
        self.store = store

    def _file(self, step: str, key: str) -> Path:
        return self.root / step / f"{key}.json"

    def lookup(self, step: str, key: str, expire_after: str) -> dict[str, Any] | None:
        """The entry for ``key`` if it is fresh and its outputs are intact, else None."""
        path = self._file(step, key)
        if not path.is_file():
            return None
        try:
            entry = json.loads(path.read_text(encoding="utf-8"))
            if not _well_formed(entry):
                return None  # a truncated or foreign entry is a miss; the step runs and rewrites it
            created = float(entry["created"])
        except (OSError, ValueError, UnicodeDecodeError):
            return None
        if time.time() - created > parse_duration(expire_after):
            return None
        for uri, digest in entry["outputs"].items():
            if not isinstance(uri, str) or self.store.digest(uri) != digest:
                return None
        return entry

    def save(self, step: str, key: str, result: Mapping[str, Any], output_uris: list[str]) -> None:
        """Record a successful step's result and the digests of the outputs it wrote."""
        entry = dict(result)
        entry["created"] = time.time()
        entry["outputs"] = {uri: self.store.digest(uri) for uri in output_uris}
        path = self._file(step, key)
        path.parent.mkdir(parents=True, exist_ok=True)
        write_text(path, json.dumps(entry, sort_keys=True, default=str))


def _well_formed(entry: Any) -> bool:
    """True when a cache entry has every field a hit is rebuilt from, each of the right type."""
    return (isinstance(entry, dict) and isinstance(entry.get("created"), (int, float))
            and not isinstance(entry.get("created"), bool)
            and isinstance(entry.get("outputs"), dict) and isinstance(entry.get("properties"), dict)
            and isinstance(entry.get("property_files"), dict)
            and isinstance(entry.get("trials", []), list))
