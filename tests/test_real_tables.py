"""Real business-like tables with categories, missing values, an ID, a date and free text, end to end.

Both tables ship inside the installed ``palmerpenguins`` package (no download): ``penguins-raw.csv``
(344 field records: study, species, island, nest ID, egg date, measurements with gaps, sex with
gaps, and a free-text Comments column) and ``penguins.csv`` (the tidy version). Each is trained
through the local run (``run_local``: the pipeline definition executed by the local runner) with
small settings: 2 folds, 2 trials.
"""

from __future__ import annotations

import csv
import json
import math
import tarfile
from pathlib import Path

import numpy as np
import palmerpenguins  # a dev dependency (pyproject [dev]): a missing one fails, never skips
import pytest
import xgboost as xgb
from trainguard.pipelines.cli import main
from trainguard.pipelines.local.run import run_local
from trainguard.pipelines.registry import open_registry
from trainguard.training.encoding import ENCODING_ATTR, FeatureEncoding

DATA = Path(palmerpenguins.__file__).parent / "data"

FAST = {"cv.folds": 2, "tuning.max_jobs": 2, "xgboost.num_round": 40, "xgboost.early_stopping_rounds": 5,
        "xgboost.nthread": 1}
RAW_ROLES = {"data.target": "Clutch Completion", "data.positive_label": "No", "data.id": "Individual ID",
             "data.timestamp": "Date Egg", "data.split": "time", "data.test_size": 0.25,
             "data.exclude": ["Sample Number"], "resampling.method": "random_over",
             "data.min_category_count": 5}


def _booster(workdir: Path) -> xgb.Booster:
    with tarfile.open(workdir / "model.tar.gz", "r:gz") as tar:
        names = [m.name for m in tar.getmembers() if m.isfile()]
        raw = tar.extractfile("model.json").read()  # type: ignore[union-attr]
    assert "model.json" in names
    booster = xgb.Booster()
    booster.load_model(bytearray(raw))
    return booster


def test_raw_penguins_leak_in_free_text_blocks_approval(tmp_path: Path) -> None:
    """The Comments column says 'Nest never observed with full clutch.': the label, in words."""
    result = run_local(data=DATA / "penguins-raw.csv", workdir=tmp_path / "w", registry=tmp_path / "r.db",
                       overrides={**FAST, **RAW_ROLES})
    assert result.exit_code == 3 and result.status == "Rejected", result.message
    ev = result.evaluation
    screen = ev["leakage_screen"]
    assert screen["blocking"] == 1 and screen["passed"] is False
    comments = next(r for r in screen["features"] if r["feature"] == "Comments")
    assert comments["kind"] == "categorical" and comments["auc"] >= 0.95
    assert any("leakage screen flagged 1 feature" in r and "'Comments'" in r for r in ev["decision"]["reasons"][:5])
    features = ev["model"]["features"]
    for never in ("Individual ID", "Date Egg", "Sample Number", "Clutch Completion"):
        assert never not in features
    assert {"Species", "Island", "Sex", "studyName", "Comments"} <= set(ev["model"]["encoding"]["categorical"])
    assert screen["flagged"] == ["Comments"] and screen["max_feature_auc"] == 0.95
    page = (tmp_path / "w" / "report.html").read_text()
    table = page[page.index("<h2>Leakage screen</h2>"):]
    assert table.index("Comments") < table.index("Species")


def test_raw_penguins_without_the_leak_trains_and_serves_unseen_categories(tmp_path: Path) -> None:
    w = tmp_path / "w"
    result = run_local(data=DATA / "penguins-raw.csv", workdir=w, registry=tmp_path / "r.db",
                       overrides={**FAST, **RAW_ROLES,
                                  "data.exclude": ["Sample Number", "Comments"],
                                  "approval.min_auc": 0.0, "approval.min_recall": 0.0,
                                  "approval.max_overfit_gap": 1.0})
    assert result.exit_code == 0, result.message
    ev = result.evaluation
    assert ev["leakage_screen"]["blocking"] == 0
    assert ev["model"]["n_test"] == math.ceil(0.25 * 344)
    enc = FeatureEncoding.from_dict(ev["model"]["encoding"])
    study = next(c for c in enc.columns.values() if c.name == "studyName")
    assert study.categories == ("PAL0708", "PAL0809", "PAL0910")  # sorted text order, codes 0, 1, 2
    # the booster in the model artifact carries the same encoding, and scores served rows
    booster = _booster(w)
    assert json.loads(booster.attr(ENCODING_ATTR)) == ev["model"]["encoding"]
    [pkg] = open_registry(tmp_path / "r.db").list()  # the package keeps the categories and their order
    assert pkg.evaluation["model"]["encoding"] == ev["model"]["encoding"]
    assert booster.feature_types == enc.feature_types
    row = _served_row(enc, {"studyName": "PAL1011", "Species": "a species never seen", "Sex": None})
    rows = np.array([row, [math.nan] * len(row)])
    proba = booster.predict(xgb.DMatrix(rows), validate_features=False)  # as the serving image does
    assert proba.shape == (2,) and np.all((proba > 0) & (proba < 1))


def _served_row(enc: FeatureEncoding, cells: dict[str, object]) -> list[float]:
    """A text/csv row as the serving contract says: codes in the stored order, NaN = empty cell."""
    row = []
    for j, name in enumerate(enc.features):
        if j in enc.columns:
            row.append(float(enc.columns[j].codes_of([cells.get(name)])[0]))
        else:
            row.append(float(cells.get(name, math.nan)))  # type: ignore[arg-type]
    return row


def test_tidy_penguins_with_smote_nc(tmp_path: Path) -> None:
    """Species and island as categories, SMOTE-NC in the folds; rows with no recorded sex dropped."""
    with (DATA / "penguins.csv").open(newline="") as fh:
        rows = [r for r in csv.DictReader(fh) if r["sex"] not in ("", "NA")]
    data = tmp_path / "penguins.csv"
    with data.open("w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    result = run_local(data=data, target="sex", workdir=tmp_path / "w", registry=tmp_path / "r.db",
                       overrides={**FAST, "data.positive_label": "female", "data.exclude": ["year"]})
    assert result.exit_code == 0, result.message
    ev = result.evaluation
    assert set(ev["model"]["encoding"]["categorical"]) == {"species", "island"}
    assert ev["binary_classification_metrics"]["auc"]["value"] > 0.85
    assert ev["leakage_screen"]["blocking"] == 0
    assert ev["decision"]["approved"] is True


def test_raw_penguins_as_they_come_get_one_message_with_the_fix(tmp_path: Path,
                                                                capsys: pytest.CaptureFixture[str]) -> None:
    """No roles given: the date column is reported up front with the line to add; exit 2, nothing kept."""
    code = main(["run", "--local", "--data", str(DATA / "penguins-raw.csv"), "--target", "Clutch Completion",
                 "--workdir", str(tmp_path / "w"), "--registry", str(tmp_path / "r.db"),
                 *[w for k, v in FAST.items() for w in ("--set", f"{k}={v}")]])
    err = capsys.readouterr().err
    assert code == 2 and "Traceback" not in err
    assert "'Date Egg': dates as text (a time column: set data.timestamp" in err
    assert "data.exclude: [Date Egg]" in err
    assert open_registry(tmp_path / "r.db").list() == []
