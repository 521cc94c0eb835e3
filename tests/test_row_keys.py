"""The ID and time columns travel with the splits as keys, never as features.

A table with ``data.id`` and ``data.timestamp`` gives the same model and metrics as the same table
without those columns; the evaluate job's predictions.csv carries each holdout row's ID and time;
the baseline leaves the keys and excluded columns out; and the drift job joins labels keyed by
the ID to the monitored table's rows (scoring its categorical feature with the model's codes), and
reads the same rows captured at the endpoint (categories as codes) as the same categories.
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import shutil
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
from test_jobs import Container
from test_monitor_jobs import _capture, _ground_truth
from trainguard.training.config import load_config
from trainguard.training.data import load_table
from trainguard.training.encoding import FeatureEncoding
from trainguard.training.jobs import baseline_arguments, drift_arguments, main, run_job
from trainguard.training.metrics import binary_metrics
from trainguard.training.monitor.scoring import load_model
from trainguard.training.trainable import holdout_rows

FAST = {"data.target": "label", "cv.folds": 2, "xgboost.num_round": 30, "xgboost.early_stopping_rounds": 5,
        "xgboost.nthread": 1, "tuning.max_jobs": 1, "resampling.method": "random_over",
        "data.min_category_count": 3}
KEYS = {"data.id": "cust", "data.timestamp": "when", "data.exclude": ["notes"]}


def _rows(n: int, seed: int) -> list[dict[str, str]]:
    rng = np.random.default_rng(seed)
    plans = np.array(["basic", "plus", "pro"])
    rows = []
    for i in range(n):
        plan = plans[rng.integers(0, 3)]
        x0 = rng.normal()
        logit = 0.8 * x0 + (2.5 if plan == "pro" else -1.5)
        rows.append({"cust": f"C{seed}-{i:05d}", "when": f"2024-{1 + i % 12:02d}-{1 + i % 28:02d}",
                     "x0": f"{x0:.5f}", "plan": "" if i % 17 == 0 else str(plan),
                     "x1": f"{rng.normal():.5f}", "notes": f"call #{i}",
                     "label": "yes" if rng.random() < 1 / (1 + np.exp(-logit)) else "no"})
    return rows


def _write(path: Path, rows: list[dict[str, str]], columns: list[str]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=columns, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)
    return path


def _chain(root: Path, rows: list[dict[str, str]], columns: list[str], cfg) -> tuple[Container, dict]:
    c = Container(root)
    _write(root / "processing" / "input" / "data" / "table.csv", rows, columns)
    with contextlib.redirect_stdout(io.StringIO()):
        c.preprocess(cfg)
        c.train(cfg)
        ev = c.evaluate(cfg)
    return c, ev


def test_id_and_time_are_keys_not_features_and_predictions_join_on_the_id(tmp_path: Path) -> None:
    rows = _rows(300, 0)
    full = ["cust", "when", "x0", "plan", "x1", "notes", "label"]
    cfg = load_config(None, {**FAST, **KEYS})
    keyed, ev = _chain(tmp_path / "keyed", rows, full, cfg)
    _, plain_ev = _chain(tmp_path / "plain", rows, ["x0", "plan", "x1", "label"], load_config(None, FAST))
    # the keys change nothing the model sees
    assert ev["model"]["features"] == ["x0", "plan", "x1"]
    for block in ("binary_classification_metrics", "cross_validation", "model", "leakage_screen"):
        assert ev[block] == plain_ev[block], block
    split = pq.read_table(tmp_path / "keyed" / "processing" / "test" / "test.parquet")
    assert split.column_names[:2] == ["cust", "when"] and "notes" not in split.column_names
    # predictions.csv: one line per holdout row, in table order, with its ID and time
    with (tmp_path / "keyed" / "processing" / "evaluation" / "predictions.csv").open(newline="") as fh:
        got = list(csv.DictReader(fh))
    table = load_table(tmp_path / "plain" / "processing" / "input" / "data" / "table.csv", "label",
                       roles=load_config(None, FAST).data)
    _, test_idx = holdout_rows(table, cfg.data.test_size, cfg.seed)
    assert [r["cust"] for r in got] == [rows[i]["cust"] for i in test_idx]
    assert [r["when"] for r in got] == [rows[i]["when"] + "T00:00:00Z" for i in test_idx]
    assert [r["label"] for r in got] == [rows[i]["label"] for i in test_idx]
    assert list(got[0]) == ["cust", "when", "label", "probability", "prediction"]
    with (tmp_path / "plain" / "processing" / "evaluation" / "predictions.csv").open(newline="") as fh:
        plain = list(csv.DictReader(fh))
    assert [r["probability"] for r in got] == [r["probability"] for r in plain]
    assert list(plain[0]) == ["label", "probability", "prediction"]
    # the baseline profiles the features only, and knows the keys and the excluded column
    run_job("baseline", baseline_arguments(cfg), keyed.env)
    out = tmp_path / "keyed" / "processing" / "baseline" / "data_quality"
    stats = json.loads((out / "statistics.json").read_text())
    assert [f["name"] for f in stats["features"]] == ["x0", "plan", "x1"]
    td = json.loads((out / "constraints.json").read_text())["monitoring_config"]["trainguard_drift"]
    assert td["id_column"] == "cust" and {"cust", "when", "notes"} <= set(td["excluded"])


def test_drift_job_joins_labels_on_the_table_id_and_scores_categories(tmp_path: Path) -> None:
    """New rows as the business has them (ID, time, notes); their labels arrive later, by ID."""
    full = ["cust", "when", "x0", "plan", "x1", "notes", "label"]
    cfg = load_config(None, {**FAST, **KEYS})
    keyed, _ = _chain(tmp_path / "keyed", _rows(400, 1), full, cfg)
    run_job("baseline", baseline_arguments(cfg), keyed.env)
    job = tmp_path / "drift"
    for folder in ("baseline", "model"):
        shutil.copytree(keyed.root / "processing" / folder, job / "processing" / folder)
    new = _rows(600, 2)
    for r in new[::200]:
        r["plan"] = "enterprise"  # a plan launched after training: scored, never refused
    _write(job / "processing" / "input" / "data" / "new.csv", new, full[:-1])
    labels = list(reversed(new))  # any order: they join on the ID
    _write(job / "processing" / "labels" / "labels.csv", labels, ["cust", "label"])
    env = {"TRAINGUARD_OPT_ML": str(job)}
    assert main(["drift", *drift_arguments(cfg)], env) == 0
    report = json.loads((job / "processing" / "monitor" / "drift_report.json").read_text())
    assert report["labelled_rows"] == 600 and report["clean"], report["first_violation"]
    # the rows were scored with the model's own codes for 'plan' (the unseen plan as 'other')
    auc = next(q for q in report["model_quality"] if q["metric"] == "auc")
    booster = load_model(job / "processing" / "model")[0]
    enc = FeatureEncoding.from_booster(booster)
    X = np.column_stack([[float(r["x0"]) for r in new], enc.columns[1].codes_of([r["plan"] or None for r in new]),
                         [float(r["x1"]) for r in new]])
    y = np.array([r["label"] == "yes" for r in new], dtype=np.int64)
    assert auc["value"] == binary_metrics(y, booster.inplace_predict(X))["auc"] > 0.8
    plan = next(f for f in report["features"] if f["name"] == "plan")
    assert plan["inferred_type"] == "String" and {"basic", "plus", "pro"} <= set(plan["bins"])
    # the same rows as the endpoint captured them (the plan as its code), labels by inference id
    capture = tmp_path / "capture"
    for folder in ("baseline", "model"):
        shutil.copytree(keyed.root / "processing" / folder, capture / "processing" / folder)
    ids = [r["cust"] for r in new]
    _capture(capture / "processing" / "input" / "data", X, ids)
    _ground_truth(capture / "processing" / "labels" / "gt.jsonl", y, ids)
    assert main(["drift", *drift_arguments(cfg)], {"TRAINGUARD_OPT_ML": str(capture)}) == 0
    captured = json.loads((capture / "processing" / "monitor" / "drift_report.json").read_text())
    assert captured["clean"], captured["first_violation"]  # codes counted as their categories
    plan_codes = next(f for f in captured["features"] if f["name"] == "plan")
    assert {"basic", "plus", "pro"} <= set(plan_codes["bins"]) and not {"0.00000", "1.00000"} & set(plan_codes["bins"])
    assert next(q for q in captured["model_quality"] if q["metric"] == "auc")["value"] == auc["value"]
