"""evaluation.json: holdout metrics, CV summary, overfitting signals, the decision and the model.

The layout is the contract of docs/design.md: the pipeline's ConditionStep reads it with JsonGet,
the registry stores it, the report draws it. ``write_evaluation`` is atomic (temp file + rename)
and writes strict JSON (NaN and infinities become null), so a reader never sees half a report.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
from trainguard.training.cv import CVResult
from trainguard.training.files import write_text
from trainguard.training.metrics import (
    METRIC_NAMES,
    ResampledMetrics,
    binary_metrics,
    confusion_matrix,
    curves,
)
from trainguard.training.threads import helper_threads

__all__ = ["SERVING_CONTENT_TYPE", "bootstrap_std", "build_evaluation", "json_safe", "serving_block",
           "write_evaluation"]

SERVING_CONTENT_TYPE = "text/csv"
"""What the registered package accepts: the XGBoost image's CSV, one row per line, no header, no
label, features in the training order."""
METADATA_VALUE_MAX = 256
"""CreateModelPackage's limit on a CustomerMetadataProperties value (letters, digits, spaces, _.:/=+-@)."""

_BOOTSTRAP_BLOCK = 1 << 22  # row indices drawn at once (32 MB)
_THREADED_ROWS = 50_000  # holdouts from this size score their resamples on two threads


def build_evaluation(y_test: Any, proba: Any, cv: CVResult | Mapping[str, Any], decision: Any,
                     model_info: Mapping[str, Any], *, threshold: float = 0.5,
                     bootstrap: int = 200, seed: int = 0,
                     leakage: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The evaluation.json dict for holdout predictions ``proba`` of labels ``y_test``.

    Each metric's ``standard_deviation`` is a seeded bootstrap estimate over ``bootstrap``
    resamples of the holdout (0 resamples: 0.0). ``decision`` is an approval Decision or its
    dict; ``cv`` a CVResult or its dict; ``model_info`` goes in as the ``model`` block.
    ``leakage`` is the leakage screen's table; ``leakage_screen.blocking`` (what CheckApproval
    reads) is the value of the decision's leakage check: how many findings block approval.
    """
    y = np.asarray(y_test).reshape(-1)
    p = np.asarray(proba, dtype=float).reshape(-1)
    cv_result = cv if isinstance(cv, CVResult) else CVResult.from_dict(cv)
    values = binary_metrics(y, p, threshold)
    stds = bootstrap_std(y, p, threshold, bootstrap, seed)
    block: dict[str, Any] = {name: {"value": values[name], "standard_deviation": stds[name]}
                             for name in METRIC_NAMES}
    block["confusion_matrix"] = confusion_matrix(y, p, threshold)
    block.update(curves(y, p))
    cv_auc, test_auc = cv_result.mean("auc"), values["auc"]
    decision_dict = decision.to_dict() if hasattr(decision, "to_dict") else dict(decision)
    return json_safe({
        "binary_classification_metrics": block,
        "cross_validation": cv_result.to_dict(),
        "overfitting": {
            "train_auc": cv_result.train_mean("auc"),
            "cv_auc": cv_auc,
            "test_auc": test_auc,
            "train_cv_gap": cv_result.train_cv_gap,
            "cv_test_gap": cv_auc - test_auc,
        },
        "decision": decision_dict,
        "leakage_screen": _leakage_block(leakage, decision_dict),
        "model": {**model_info, "serving": serving_block(model_info.get("features") or [])},
    })


def serving_block(features: list[str]) -> dict[str, Any]:
    """How to call the served model: content type, feature count, order and its sha256.

    ``feature_order`` is the names joined by spaces when that fits a model-package metadata value
    (names of letters, digits and ``_.:/=+-@``, 256 characters at most); otherwise it points to
    ``model.features``. The sha256 is of the names joined by newlines, to compare orders cheaply.
    """
    names = [str(f) for f in features]
    joined = " ".join(names)
    fits = len(joined) <= METADATA_VALUE_MAX and all(
        name and all(c.isalnum() or c in "_.:/=+-@" for c in name) for name in names)
    return {
        "content_type": SERVING_CONTENT_TYPE,
        "csv_header": False,
        "feature_count": len(names),
        "feature_order": joined if fits and names else "see evaluation.json model.features",
        "features_sha256": hashlib.sha256("\n".join(names).encode("utf-8")).hexdigest(),
    }


def _leakage_block(screen: Mapping[str, Any] | None, decision: Mapping[str, Any]) -> dict[str, Any]:
    check = next((c for c in decision.get("checks", []) if c.get("name") == "leakage"), None)
    blocking = int(check["value"] or 0) if check else 0
    return {**(dict(screen) if screen else {"features": []}), "blocking": blocking,
            "passed": bool(check["passed"]) if check else True,
            "reason": check["reason"] if check else "no leakage screen"}


def bootstrap_std(y: np.ndarray, proba: np.ndarray, threshold: float = 0.5, n: int = 200,
                  seed: int = 0) -> dict[str, float]:
    """Standard deviation of each metric over ``n`` seeded bootstrap resamples of the holdout."""
    if n <= 0 or y.size == 0:
        return dict.fromkeys(METRIC_NAMES, 0.0)
    rng = np.random.default_rng(seed)
    resampled = ResampledMetrics(y, proba, threshold)
    # draws a block of resamples at a time: the same stream as one (n, size) draw, less memory;
    # on a big holdout two resamples are scored at a time (numpy releases the GIL), in order
    block = max(1, _BOOTSTRAP_BLOCK // y.size)
    draws: list[dict[str, float]] = []
    with ThreadPoolExecutor(max_workers=helper_threads(y.size, _THREADED_ROWS)) as pool:
        for start in range(0, n, block):
            draws.extend(pool.map(resampled.metrics, rng.integers(0, y.size, size=(min(block, n - start), y.size))))
    return {name: float(np.std([d[name] for d in draws], ddof=1)) for name in METRIC_NAMES}


def json_safe(obj: Any) -> Any:
    """A copy with numpy scalars/arrays as Python values and non-finite floats as None."""
    if isinstance(obj, Mapping):
        return {str(k): json_safe(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple, np.ndarray)):
        return [json_safe(v) for v in obj]
    if isinstance(obj, (bool, np.bool_)):
        return bool(obj)
    if isinstance(obj, (int, np.integer)):
        return int(obj)
    if isinstance(obj, (float, np.floating)):
        f = float(obj)
        return f if math.isfinite(f) else None
    return obj


def write_evaluation(path: str | Path, evaluation: Mapping[str, Any]) -> Path:
    """Write ``evaluation`` as JSON at ``path`` atomically; returns the path.

    The JSON goes to a temporary file in the same folder and is renamed over ``path``, so a
    crash leaves either the old file or the new one, never a truncated report.
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps(json_safe(evaluation), indent=2, allow_nan=False) + "\n"
    write_text(target, text, fsync=True)
    return target
