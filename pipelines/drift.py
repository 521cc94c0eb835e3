"""``check_drift()``: check new data against a model's baselines, from Python or the CLI.

The baseline is a folder (data_quality/ and model_quality/ as the Baseline job writes them, or a
folder holding statistics.json and constraints.json) or a package of the local registry,
``GROUP/VERSION`` or ``GROUP`` (its champion), whose stored DriftCheckBaselines and model are
used. The result is ``trainguard.training.monitor.DriftResult``; with ``out`` the Model Monitor
files and drift_report.html are written there (nothing is written when the input is bad).
"""

from __future__ import annotations

import contextlib
import json
import re
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from trainguard.training.errors import DataError
from trainguard.training.files import write_text
from trainguard.training.monitor.check import DriftResult, write_result
from trainguard.training.monitor.check import check_drift as _check

__all__ = ["REPORT_HTML", "check_drift", "resolve_package_baseline"]

REPORT_HTML = "drift_report.html"
_PACKAGE = re.compile(r"^(?P<group>[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)(?:/(?P<version>\d+))?$")


def check_drift(baseline: str | Path, data: str | Path, *, labels: str | Path | None = None,
                label_column: str | None = None, model: str | Path | None = None,
                method: str | None = None, out: str | Path | None = None,
                registry: str | Path | None = None, exclude: Sequence[str] = ()) -> DriftResult:
    """Check ``data`` (CSV, Parquet, a folder, or data-capture JSONL) against ``baseline``.

    ``baseline``: a folder, or ``GROUP/VERSION`` / ``GROUP`` of the local registry at
    ``registry`` (default ``.trainguard/registry.db``). ``labels`` (ground-truth JSONL or CSV) or
    ``label_column`` turn on the model-quality check with the package's model (or ``model``).
    ``out`` receives constraint_violations.json, statistics.json, drift_report.json and
    drift_report.html. Raises DataError/ConfigError on bad input, before writing anything.
    """
    with _baseline_folder(baseline, registry) as (folder, package_model):
        result = _check(folder, data, method=method, labels=labels, label_column=label_column,
                        model=model if model is not None else package_model, exclude=exclude)
    if out is not None:
        from trainguard.pipelines.report.drift import write_drift_report

        write_result(result, Path(out))
        write_drift_report(Path(out) / REPORT_HTML, result.to_dict())
    return result


@contextlib.contextmanager
def _baseline_folder(baseline: str | Path, registry: str | Path | None
                     ) -> Iterator[tuple[Path, Path | None]]:
    path = Path(baseline)
    text = str(baseline)
    if path.exists() or not _PACKAGE.match(text):
        yield path, None
        return
    with tempfile.TemporaryDirectory(prefix="trainguard-baseline-") as tmp:
        yield resolve_package_baseline(text, registry, Path(tmp))


def resolve_package_baseline(ref: str, registry: str | Path | None, dest: Path) -> tuple[Path, Path | None]:
    """Write a registered package's baselines into ``dest``; (folder, its model file or None)."""
    from trainguard.pipelines.registry import open_registry

    m = _PACKAGE.match(ref)
    if not m:
        raise DataError(f"{ref!r} is neither a baseline folder nor a package reference "
                        "(GROUP/VERSION or GROUP for its champion).")
    path = Path(registry) if registry is not None else Path(".trainguard/registry.db")
    if not path.is_file():
        raise DataError(f"{ref!r} is not a baseline folder, and there is no local registry at {path} "
                        "to find it in as a package; pass the folder the baseline job or "
                        "trainguard monitor baseline wrote, or --registry.")
    reg = open_registry(path)
    group, version = m.group("group"), m.group("version")
    if version is None:
        pkg = reg.champion(group)
        if pkg is None:
            raise DataError(f"model package group {group!r} in {path} has no Approved version "
                            "(no champion); pass GROUP/VERSION or a baseline folder.")
    else:
        pkg = reg.get(group, int(version))
    docs = (pkg.lineage or {}).get("drift_check_baselines") or {}
    if not docs.get("data_quality"):
        raise DataError(f"package {pkg.group}/{pkg.version} in {path} carries no drift check "
                        "baselines (registered before the Baseline step existed?); build one with "
                        "trainguard monitor baseline and pass its folder.")
    for folder in ("data_quality", "model_quality"):
        for name, document in (docs.get(folder) or {}).items():
            target = dest / folder / f"{name}.json"
            target.parent.mkdir(parents=True, exist_ok=True)
            write_text(target, json.dumps(document))
    model = pkg.lineage.get("model_path")
    model_path: Any = Path(model) if model and Path(model).exists() else None
    return dest, model_path
