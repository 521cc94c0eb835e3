"""Model degradation checks: data-quality baselines, drift and model-quality checks (docs/drift.md).

Model Monitor's file formats (statistics.json, constraints.json, constraint_violations.json),
computed here so that the same check runs as a processing job and on a laptop.
"""

from __future__ import annotations

from trainguard.training.monitor.baseline import BaselineSettings, build_baseline, load_baseline, write_baseline
from trainguard.training.monitor.check import DriftResult, FeatureDrift, check_drift, write_result
from trainguard.training.monitor.quality import quality_constraints

__all__ = ["BaselineSettings", "DriftResult", "FeatureDrift", "build_baseline", "check_drift",
           "load_baseline", "quality_constraints", "write_baseline", "write_result"]
