"""Real business-like tables with categories, missing values, an ID, a date and free text, end to end.

Both tables ship inside the installed ``palmerpenguins`` package (no download): ``penguins-raw.csv``
(344 field records: study, species, island, nest ID, egg date, measurements with gaps, sex with
gaps, and a free-text Comments column) and ``penguins.csv`` (the tidy version). Each is trained
through the local run (``run_local``: the pipeline definition executed by the local runner) with
small settings: 2 folds, 2 trials.
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import math
import tarfile
from pathlib import Path
from typing import Any

import numpy as np
import palmerpenguins  # a dev dependency (pyproject [dev]): a missing one fails, never skips
import pytest
import xgboost as xgb
from trainguard.pipelines.cli import main
from trainguard.pipelines.local.run import run_local
from trainguard.pipelines.registry import open_registry
from trainguard.training.config import load_config
from trainguard.training.data import load_table
from trainguard.training.encoding import ENCODING_ATTR, FeatureEncoding
from trainguard.training.metrics import binary_metrics

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


NO_LEAK = {**FAST, **RAW_ROLES, "data.exclude": ["Sample Number", "Comments"], "approval.min_auc": 0.0,
           "approval.min_recall": 0.0, "approval.max_overfit_gap": 1.0}


@pytest.fixture(scope="module")
def raw_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Any]:
    """(work dir, registry, result) of one local run on the raw table without its leaking column."""
    tmp = tmp_path_factory.mktemp("raw")
    result = run_local(data=DATA / "penguins-raw.csv", workdir=tmp / "w", registry=tmp / "r.db",
                       overrides=NO_LEAK)
    assert result.exit_code == 0, result.message
    return tmp / "w", tmp / "r.db", result


def test_raw_penguins_without_the_leak_trains_and_serves_unseen_categories(raw_run) -> None:
    w, registry, result = raw_run
    ev = result.evaluation
    assert ev["leakage_screen"]["blocking"] == 0
    assert ev["model"]["n_test"] == math.ceil(0.25 * 344)
    enc = FeatureEncoding.from_dict(ev["model"]["encoding"])
    study = next(c for c in enc.columns.values() if c.name == "studyName")
    assert study.categories == ("PAL0708", "PAL0809", "PAL0910")  # sorted text order, codes 0, 1, 2
    # the booster in the model artifact carries the same encoding, and scores served rows
    booster = _booster(w)
    assert json.loads(booster.attr(ENCODING_ATTR)) == ev["model"]["encoding"]
    [pkg] = open_registry(registry).list()  # the package keeps the categories and their order
    assert pkg.evaluation["model"]["encoding"] == ev["model"]["encoding"]
    assert booster.feature_types == enc.feature_types
    row = _served_row(enc, {"studyName": "PAL1011", "Species": "a species never seen", "Sex": None})
    rows = np.array([row, [math.nan] * len(row)])
    proba = booster.predict(xgb.DMatrix(rows), validate_features=False)  # as the serving image does
    assert proba.shape == (2,) and np.all((proba > 0) & (proba < 1))


def test_raw_penguins_holdout_predictions_carry_the_id_and_the_time(raw_run) -> None:
    """data.split=time: the predictions are the latest quarter of the nests, each with its ID."""
    w, _, result = raw_run
    assert result.predictions_path == w / "predictions.csv"
    with result.predictions_path.open(newline="") as fh:
        got = list(csv.DictReader(fh))
    with (DATA / "penguins-raw.csv").open(newline="") as fh:
        table = list(csv.DictReader(fh))
    assert list(got[0]) == ["Individual ID", "Date Egg", "Clutch Completion", "probability", "prediction"]
    order = sorted(range(len(table)), key=lambda i: table[i]["Date Egg"])  # stable: ties keep table order
    holdout = sorted(order[len(table) - len(got):])
    assert len(got) == result.evaluation["model"]["n_test"]
    assert [r["Individual ID"] for r in got] == [table[i]["Individual ID"] for i in holdout]
    assert [r["Date Egg"] for r in got] == [table[i]["Date Egg"] + "T00:00:00Z" for i in holdout]
    assert [r["Clutch Completion"] for r in got] == [table[i]["Clutch Completion"] for i in holdout]


def test_raw_penguins_monitoring_scores_with_the_model_categories_and_drifts_by_shares(raw_run, tmp_path: Path) -> None:
    """Baseline (the training run's Baseline step), drift check and model-quality check on a table
    with categorical columns: new rows from one island plus an island the model never saw."""
    from trainguard.pipelines.local.monitoring import run_monitoring_local

    from trainguard import check_drift

    _, registry, _ = raw_run
    with (DATA / "penguins-raw.csv").open(newline="") as fh:
        rows = list(csv.DictReader(fh))
    new = [r for r in rows if r["Island"] == "Biscoe"] + [{**r, "Island": "Atlantis"} for r in rows[:3]]
    data = tmp_path / "new.csv"
    with data.open("w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(new)
    package = f"{open_registry(registry).list()[0].group}/1"
    checked = check_drift(package, data, label_column="Clutch Completion", registry=registry)
    assert "Island" in checked.drifted
    island = next(f for f in checked.features if f.name == "Island")
    assert island.inferred_type == "String" and island.current_shares[island.bins.index("Biscoe")] > 0.95
    # the ID, the date and the excluded columns are known to the baseline, never "extra"
    assert not [v for v in checked.violations if v["constraint_check_type"] == "extra_column_check"]
    # the model scored the rows with its own categories ('Atlantis' as unseen), as the evaluate job does
    cfg = load_config(None, NO_LEAK)
    ds = load_table(data, cfg.data.target, cfg.data.positive_label, roles=cfg.data)
    booster = _booster(raw_run[0])
    enc = FeatureEncoding.from_booster(booster)
    assert enc is not None and list(enc.features) == ds.feature_names
    proba = booster.inplace_predict(enc.transform(ds.X, ds.categorical_index))
    auc = next(q for q in checked.quality if q["metric"] == "auc")
    assert checked.labelled_rows == len(new) and auc["value"] == pytest.approx(binary_metrics(ds.y, proba)["auc"])
    # and the monitoring pipeline's drift job, run locally against the package, finds the same drift
    mon = run_monitoring_local(data=data, baseline=package, registry=registry, workdir=tmp_path / "mon",
                               overrides={"data.target": "Clutch Completion"})
    assert mon.exit_code == 1 and "Island" in mon.report["drifted"], mon.message


def _served_row(enc: FeatureEncoding, cells: dict[str, object]) -> list[float]:
    """A text/csv row as the serving contract says: codes in the stored order, NaN = empty cell."""
    row = []
    for j, name in enumerate(enc.features):
        if j in enc.columns:
            row.append(float(enc.columns[j].codes_of([cells.get(name)])[0]))
        else:
            row.append(float(cells.get(name, math.nan)))  # type: ignore[arg-type]
    return row


def test_the_readme_categorical_example_runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The README's penguins example as written (with this file's small settings): species and island
    as categories, SMOTE-NC in the folds, rows with no recorded sex dropped; it passes the safeguards."""
    from trainguard.pipelines.local.run import DEFAULT_WORKDIR

    import trainguard

    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    section = readme[readme.index("Try it on a real table"):]
    start = section.index("```python\n") + len("```python\n")
    code = section[start:section.index("```\n", start)]
    real = trainguard.run_local
    monkeypatch.setattr(trainguard, "run_local",
                        lambda **kw: real(**{**kw, "overrides": {**FAST, **kw.get("overrides", {})}}))
    monkeypatch.chdir(tmp_path)
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(code, "README.md", "exec"), {})
    assert "['Biscoe', 'Dream', 'Torgersen']" in out.getvalue()
    ev = json.loads((tmp_path / DEFAULT_WORKDIR / "evaluation.json").read_text())
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
