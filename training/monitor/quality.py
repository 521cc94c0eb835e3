"""Model-quality constraints from the holdout evaluation, and their check on labelled new data.

Thresholds follow Model Monitor's ``binary_classification_constraints`` layout: each metric's
holdout value less ``sigmas`` times its bootstrap standard deviation, ``LessThanThreshold``. The
``trainguard_quality`` block keeps the value, spread and holdout size, so the check can widen the
band for a smaller labelled sample (the spread of a metric shrinks as one over the square root of
the sample size).
"""

from __future__ import annotations

import csv
import json
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from trainguard.training.errors import DataError
from trainguard.training.monitor.read import DataSource

__all__ = ["QUALITY_METRICS", "check_labelled_quality", "check_quality", "quality_constraints", "read_labels",
           "to_binary"]

QUALITY_METRICS = ("auc", "precision", "recall", "f1")
DEFAULT_SIGMAS = 3.0


def quality_constraints(evaluation: Mapping[str, Any], sigmas: float = DEFAULT_SIGMAS
                        ) -> dict[str, Any]:
    """Model Monitor's model-quality constraints.json from an evaluation.json."""
    block = evaluation.get("binary_classification_metrics")
    if not isinstance(block, Mapping):
        raise DataError("evaluation.json has no binary_classification_metrics block; it must come "
                        "from trainguard's evaluate job.")
    n = int((evaluation.get("model") or {}).get("n_test") or 0)
    cons: dict[str, Any] = {}
    extra: dict[str, Any] = {}
    for name in QUALITY_METRICS:
        m = block.get(name)
        if not isinstance(m, Mapping) or m.get("value") is None:
            continue
        value, std = float(m["value"]), float(m.get("standard_deviation") or 0.0)
        cons[name] = {"threshold": max(0.0, value - sigmas * std),
                      "comparison_operator": "LessThanThreshold"}
        extra[name] = {"value": value, "standard_deviation": std, "n": n}
    return {"version": 0, "binary_classification_constraints": cons,
            "trainguard_quality": {"sigmas": sigmas, "metrics": extra}}


def check_quality(constraints: Mapping[str, Any], y: np.ndarray, proba: np.ndarray
                  ) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(per-metric rows, violations) of labels ``y`` and scores ``proba`` against the constraints."""
    from trainguard.training.metrics import binary_metrics

    values = binary_metrics(y, proba)
    cons = constraints.get("binary_classification_constraints") or {}
    tq = (constraints.get("trainguard_quality") or {})
    sigmas = float(tq.get("sigmas", DEFAULT_SIGMAS))
    rows, violations = [], []
    for name, c in cons.items():
        if name not in values:
            continue
        threshold = float(c["threshold"])
        extra = (tq.get("metrics") or {}).get(name)
        if extra and extra.get("n") and y.size:
            # the baseline's spread, scaled to this sample's size, added to its own
            std = float(extra["standard_deviation"])
            widened = std * math.sqrt(1.0 + float(extra["n"]) / y.size)
            threshold = min(threshold, float(extra["value"]) - sigmas * widened)
        op = c.get("comparison_operator", "LessThanThreshold")
        current = float(values[name])
        bad = current < threshold if op == "LessThanThreshold" else current > threshold
        rows.append({"metric": name, "value": current, "threshold": threshold,
                     "baseline": (extra or {}).get("value"), "violated": bad})
        if bad:
            violations.append({"metric_name": name, "constraint_check_type": op,
                               "description": f"Metric {name} with {current:.4f} was {op} "
                                              f"'{threshold:.4f}' ({y.size} labelled rows)."})
    return rows, violations


_POSITIVE = {"1", "1.0", "true", "yes", "y", "positive", "pos"}
_NEGATIVE = {"0", "0.0", "false", "no", "n", "negative", "neg"}


def to_binary(labels: Sequence[Any], classes: Sequence[Any] | None, where: str) -> np.ndarray:
    """0/1 labels from their texts; ``classes`` = (negative, positive) as the model was trained."""
    out = np.empty(len(labels), dtype=np.int64)
    pos = str(classes[1]) if classes else None
    neg = str(classes[0]) if classes else None
    for i, raw in enumerate(labels):
        t = str(raw).strip()
        if pos is not None and t == pos:
            out[i] = 1
        elif neg is not None and t == neg:
            out[i] = 0
        elif t.lower() in _POSITIVE:
            out[i] = 1
        elif t.lower() in _NEGATIVE:
            out[i] = 0
        else:
            known = f"{neg!r}/{pos!r}" if classes else "0/1, true/false or yes/no"
            raise DataError(f"{where}: label {t!r} (label {i + 1}) is not one of the model's "
                            f"classes {known}.")
    return out


def read_labels(path: str | Path, key: str | None = None) -> tuple[dict[str, str] | None, list[str] | None]:
    """Labels from Model Monitor ground-truth JSONL (id -> label) or a CSV.

    A CSV with an ``inference_id`` (or ``eventId``, or ``key``: the table's ID column) column and
    one other column gives id -> label; a CSV of one column gives labels in row order.
    """
    p = Path(path)
    if not p.is_file() or p.stat().st_size == 0:
        raise DataError(f"the labels file {p} is missing or empty; pass ground-truth JSONL or a "
                        "CSV of labels.")
    if p.suffix.lower() in (".jsonl", ".json"):
        by_id: dict[str, str] = {}
        with p.open("r", encoding="utf-8") as fh:
            for line_no, line in enumerate(fh, start=1):
                if not line.strip():
                    continue
                try:
                    rec = json.loads(line)
                    label = str(rec["groundTruthData"]["data"]).strip()
                    key = str(rec["eventMetadata"]["eventId"])
                except (ValueError, KeyError, TypeError):
                    raise DataError(f"{p}: line {line_no}: not a ground-truth record; each line "
                                    "needs groundTruthData.data and eventMetadata.eventId.") from None
                by_id[key] = label
        return by_id, None
    with p.open("r", encoding="utf-8-sig", newline="") as fh:
        rows = [r for r in csv.reader(fh) if r]
    if len(rows) < 2:
        raise DataError(f"{p}: a labels CSV needs a header and at least one row.")
    header = [h.strip() for h in rows[0]]
    ids = [i for i, h in enumerate(header) if h.lower() in ("inference_id", "inferenceid", "eventid",
                                                              "event_id") or (key and h == key)]
    if ids and len(header) == 2:
        k, v = ids[0], 1 - ids[0]
        return {r[k].strip(): r[v].strip() for r in rows[1:]}, None
    if len(header) == 1:
        return None, [r[0].strip() for r in rows[1:]]
    keyed = f"inference_id (or {key})" if key else "inference_id"
    raise DataError(f"{p}: a labels CSV holds one label column, or {keyed} and one label "
                    f"column; got {', '.join(header)}.")


def check_labelled_quality(source: DataSource, names: Sequence[str], header: Sequence[str],
                           label_column: str | None, labels: str | Path | None,
                           model: str | Path | None, constraints: Mapping[str, Any] | None,
                           id_column: str | None = None
                           ) -> tuple[list[dict[str, Any]], list[dict[str, Any]], int]:
    """Score the rows with the model and check the metrics against labels: a label column, labels
    in row order, or labels keyed by inference id (data capture) or by the table's ID column.
    Returns (quality rows, violations, labelled rows)."""
    from trainguard.training.monitor.scoring import load_model, read_column, score_source

    if constraints is None:
        raise DataError("labels were given but the baseline has no model-quality constraints "
                        "(model_quality/constraints.json); baseline the model's evaluation first.")
    if model is None:
        raise DataError("labels were given but no model to score the rows with; check against a "
                        "model package (its baseline and model.tar.gz).")
    booster, features, classes = load_model(model)
    proba = score_source(source, features, names if source.kind == "capture" else header, booster)
    if labels is None:
        texts = read_column(source, str(label_column))
        keep = np.asarray([t is not None for t in texts])
        y = to_binary([t for t in texts if t is not None], classes, f"column {label_column!r}")
        proba = proba[keep]
    else:
        by_id, in_order = read_labels(labels, key=id_column)
        if in_order is not None:
            if source.kind == "capture" or len(in_order) != proba.size:
                raise DataError(f"the labels do not join: {len(in_order)} labels in row order for "
                                f"{proba.size} data rows; give one label per row, or an "
                                "inference_id column to join on.", str(labels))
            y = to_binary(in_order, classes, str(labels))
        else:
            ids = source.event_ids
            if source.kind == "table" and id_column and id_column in header:
                ids = [t or "" for t in read_column(source, id_column)]
            if not ids:
                raise DataError("the labels are keyed by inference id but the data is a table "
                                "without ids; label a data-capture prefix, give one label per "
                                "row, or train with data.id naming the table's ID column.", str(labels))
            assert by_id is not None
            hits = [i for i, k in enumerate(ids) if k in by_id]
            if not hits:
                sample = ", ".join(list(by_id)[:3])
                rows = "captured rows' inference ids" if source.kind == "capture" else f"rows' {id_column!r}"
                raise DataError(f"the labels do not join: none of their {len(by_id)} ids "
                                f"(e.g. {sample}) matches one of the {len(ids)} {rows}.", str(labels))
            y = to_binary([by_id[ids[i]] for i in hits], classes, str(labels))
            proba = proba[np.asarray(hits)]
    rows, violations = check_quality(constraints, y, proba)
    return rows, violations, int(y.size)
