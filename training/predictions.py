"""The holdout's predictions as a CSV that joins to ground truth on the table's own ID column.

The evaluate job writes ``predictions.csv`` beside evaluation.json: one line per holdout row, in
table order, with the row's ``data.id`` and ``data.timestamp`` values (when the config names
them; never features), its true label, the model's positive-class probability and the predicted
label at the evaluation's threshold. A user (or a model-quality check on labels that arrive
later) joins on the ID column, which keeps its name from the data.
"""

from __future__ import annotations

import csv
import math
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
from trainguard.training.files import open_for_write

__all__ = ["PREDICTIONS_FILE", "prediction_columns", "write_predictions"]

PREDICTIONS_FILE = "predictions.csv"
"""The evaluate job's holdout predictions, beside evaluation.json."""


def prediction_columns(ds: Any) -> list[str]:
    """The header ``write_predictions`` writes for ``ds``: ID, time, label, probability, prediction."""
    keys = [n for n in (ds.id_name if ds.ids is not None else None,
                        ds.timestamp_name if ds.timestamps is not None else None) if n]
    taken = {*keys, ds.target}
    scores = [n if n not in taken else f"trainguard_{n}" for n in ("probability", "prediction")]
    return [*keys, ds.target, *scores]


def write_predictions(path: str | Path, ds: Any, proba: np.ndarray, threshold: float = 0.5) -> Path:
    """Write ``ds``'s holdout rows with their scores ``proba`` as CSV, whole or not at all.

    The time is written as ISO 8601 UTC text; labels as the data's own values; a missing ID or
    time as an empty cell.
    """
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    columns: list[list[Any]] = []
    if ds.ids is not None and ds.id_name:
        columns.append(["" if v is None else v for v in ds.ids.tolist()])
    if ds.timestamps is not None and ds.timestamp_name:
        columns.append([_iso(t) for t in ds.timestamps.tolist()])
    labels = [str(c) for c in ds.classes]
    proba = np.asarray(proba, dtype=np.float64).reshape(-1)
    columns.append([labels[int(v)] for v in ds.y.tolist()])
    columns.append([repr(float(v)) for v in proba.tolist()])
    columns.append([labels[1] if v >= threshold else labels[0] for v in proba.tolist()])
    with open_for_write(p, "w", newline="") as fh:
        writer = csv.writer(fh, lineterminator="\n")
        writer.writerow(prediction_columns(ds))
        writer.writerows(zip(*columns, strict=True))
    return p


def _iso(seconds: float) -> str:
    if math.isnan(seconds):
        return ""
    when = datetime.fromtimestamp(seconds, tz=timezone.utc)
    text = when.isoformat(timespec="microseconds" if when.microsecond else "seconds")
    return text.replace("+00:00", "Z")
