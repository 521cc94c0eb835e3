"""``run_monitoring_local()``: the monitoring pipeline's definition executed on this machine.

Builds ``build_monitoring_pipeline``'s definition, stages the data (a file or a folder) at
``MonitorDataUri`` and the baseline (a folder, or a package of the local registry: GROUP/VERSION
or GROUP for its champion) at ``BaselineUri`` in the local store, and runs it with the same
runner as ``trainguard run --local``. The work dir receives definition.json and the check's
outputs (constraint_violations.json, drift_report.json, drift_report.html).
"""

from __future__ import annotations

import json
import shutil
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from trainguard.pipelines.bundle import build_bundle
from trainguard.pipelines.definition import resolve_parameters
from trainguard.pipelines.local import RunOutcome, run_definition
from trainguard.pipelines.local.store import LocalStore
from trainguard.training.config import load_config
from trainguard.training.errors import DataError
from trainguard.training.files import copy_file, write_text

__all__ = ["MonitorRunResult", "run_monitoring_local"]


@dataclass
class MonitorRunResult:
    """What a local monitoring execution found; ``exit_code`` 0 clean, 1 drift, 2 bad input."""

    status: str
    exit_code: int
    message: str
    workdir: Path
    outcome: RunOutcome
    report: dict[str, Any] | None


def run_monitoring_local(config: Any = None, *, data: str | Path, baseline: str | Path,
                         workdir: str | Path = "trainguard-monitor",
                         registry: str | Path | None = None,
                         overrides: Mapping[str, Any] | None = None,
                         on_event: Callable[..., None] | None = None) -> MonitorRunResult:
    """Run the monitoring pipeline locally on ``data`` against ``baseline``."""
    from trainguard.pipelines.drift import resolve_package_baseline
    from trainguard.pipelines.monitoring import monitoring_definition_json
    from trainguard.pipelines.report.drift import write_drift_report

    cfg = load_config(config, overrides)
    data_path = Path(data)
    if not data_path.exists():
        raise DataError(f"the data {data_path} does not exist; pass a file or a folder to check.")
    text = monitoring_definition_json(cfg)
    definition = json.loads(text)
    values = resolve_parameters(definition, {})
    work = Path(workdir)
    work.mkdir(parents=True, exist_ok=True)
    store = LocalStore(work / "s3")
    with tempfile.TemporaryDirectory(prefix="trainguard-baseline-") as tmp:
        base = Path(baseline)
        if not base.exists():
            reg = registry if registry is not None else cfg.registry.local_path
            base, _model = resolve_package_baseline(str(baseline), reg, Path(tmp))
        if not base.is_dir():
            raise DataError(f"the baseline {base} is not a folder; pass the baseline folder.")
        _stage(store, str(values["BaselineUri"]), base)
    _stage(store, str(values["MonitorDataUri"]), data_path)
    write_text(work / "definition.json", text)
    outcome = run_definition(definition, work, code_sha=build_bundle().sha256,
                             pipeline_name=definition.get("PipelineName", "trainguard-monitor"),
                             use_cache=False, on_event=on_event, seed=cfg.seed)
    report = (outcome.property_files.get("CheckDrift") or {}).get("DriftReport")
    if report:
        write_text(work / "drift_report.json", json.dumps(report, indent=1))
        write_drift_report(work / "drift_report.html", report)
    if outcome.status == "Succeeded":
        return MonitorRunResult("Clean", 0, "no violation", work, outcome, report)
    drifted = any(s.name == "DriftDetected" for s in outcome.steps)
    code = 1 if drifted and report else (outcome.exit_code or 1)
    return MonitorRunResult("Drift" if code == 1 else "Failed", code, outcome.failure or "failed",
                            work, outcome, report)


def _stage(store: LocalStore, uri: str, source: Path) -> None:
    """Put ``source`` (a file or a folder) under the prefix ``uri``, replacing what was there."""
    target = store.path(uri.rstrip("/"))
    if target.exists():
        shutil.rmtree(target) if target.is_dir() else target.unlink()
    if source.is_dir():
        shutil.copytree(source, target)
    else:
        target.mkdir(parents=True, exist_ok=True)
        copy_file(source, target / source.name)
