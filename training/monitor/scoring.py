"""Score monitored rows with the package's model, batch by batch, and read a label column."""

from __future__ import annotations

import json
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from trainguard.training.errors import DataError
from trainguard.training.monitor.read import DataSource, ReadAgain, iter_capture, iter_table

__all__ = ["load_model", "read_column", "score_source"]


def load_model(path: str | Path) -> tuple[Any, list[str], list[Any] | None]:
    """(booster, feature names, classes) from a model.tar.gz, or a folder holding it or model.json."""
    import xgboost as xgb
    from trainguard.training.job_contract import CV_RECORD, MODEL_FILE
    from trainguard.training.job_files import extract_model

    with tempfile.TemporaryDirectory(prefix="trainguard-monitor-model-") as tmp:
        folder = extract_model(Path(path), Path(tmp))
        booster = xgb.Booster()
        try:
            booster.load_model(str(folder / MODEL_FILE))
        except xgb.core.XGBoostError as exc:
            raise DataError(f"model.json under {path} is not a readable XGBoost model: "
                            f"{str(exc).splitlines()[0]}") from None
        cv_path = next((p for p in (folder / CV_RECORD, folder / "cv.json") if p.is_file()), folder / CV_RECORD)
        info = json.loads(cv_path.read_text(encoding="utf-8")) if cv_path.is_file() else {}
    features = list(info.get("features") or booster.feature_names or [])
    if not features:
        raise DataError(f"the model under {path} does not record its feature names (cv.json); "
                        "use the training job's model artifact.")
    return booster, features, info.get("classes")


def score_source(source: DataSource, features: Sequence[str], header: Sequence[str],
                 booster: Any) -> np.ndarray:
    """The model's positive-class probability for every row of ``source``, in row order.

    ``header`` is the data's column order (for data capture: the baseline's feature order, which
    is how the captured CSV rows are laid out). A table's categorical features hold category
    text: each is given the model's own code (``model.json``'s encoding), a category the model
    did not keep its ``other`` code or missing, as the evaluate job scored the holdout. Captured
    rows already carry the codes (the serving contract) and are scored as they are.
    """
    from trainguard.training.encoding import FeatureEncoding

    missing = [f for f in features if f not in header]
    if missing:
        raise DataError(f"the data lacks the model's feature(s) {', '.join(missing[:8])}; it cannot "
                        "be scored.", source.label)
    encoding = FeatureEncoding.from_booster(booster) if source.kind == "table" else None
    cats = {encoding.features[j]: c for j, c in encoding.columns.items()} if encoding else {}
    numeric = [f for f in features if f not in cats]
    as_text: list[str] = []
    while True:
        out = []
        batches: Any
        if source.kind == "capture":
            batches = iter_capture(source, list(header), set(features))
        else:
            batches = (b for f in source.files
                       for b in iter_table(Path(f), numeric, list(cats), as_text=as_text, keep_texts=True))
        try:
            for batch in batches:
                X = np.column_stack([_codes(cats[f], batch[f].texts or []) if f in cats else batch[f].numbers
                                     for f in features]).astype(np.float64)
                out.append(np.asarray(booster.inplace_predict(X), dtype=np.float64))
        except ReadAgain as again:
            as_text.append(again.column)
            continue
        return np.concatenate(out) if out else np.empty(0)


def _codes(cmap: Any, texts: Sequence[Any]) -> np.ndarray:
    """The model's codes for a batch of category cells, each distinct text looked up once."""
    index: dict[Any, int] = {}
    rows = np.fromiter((index.setdefault(t, len(index)) for t in texts), dtype=np.intp, count=len(texts))
    return cmap.codes_of(list(index))[rows] if len(texts) else np.empty(0)


def read_column(source: DataSource, name: str) -> list[str | None]:
    """One column's cell texts (None when missing), in row order, over every table file."""
    import csv

    from trainguard.training.data import MISSING_TOKENS
    from trainguard.training.monitor.read import read_header

    values: list[str | None] = []
    for f in source.files:
        header = read_header(Path(f))
        i = header.index(name)
        if Path(f).suffix.lower() in (".parquet", ".pq"):
            import pyarrow.parquet as pq

            cells = pq.read_table(f, columns=[name]).column(0).to_pylist()
            values += [None if c is None else str(c) for c in cells]
            continue
        with Path(f).open("r", encoding="utf-8-sig", newline="") as fh:
            reader = csv.reader(fh)
            next(reader, None)
            for row in reader:
                if not row:
                    continue
                cell = row[i].strip() if i < len(row) else ""
                values.append(None if cell.lower() in MISSING_TOKENS else cell)
    return values
