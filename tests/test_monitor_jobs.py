"""The baseline and drift jobs under the container contract, with a real model and data capture.

One module-scoped chain runs preprocess, train and evaluate on a small informative table, then
the baseline job; the drift job then checks endpoint data-capture records (with ground truth
joined on the inference id) against that baseline and scores them with the trained model.
"""

from __future__ import annotations

import base64
import json
import shutil
import tarfile
from pathlib import Path

import numpy as np
import pytest
from trainguard.training.config import load_config
from trainguard.training.data import Dataset, write_csv
from trainguard.training.jobs import (
    baseline_arguments,
    drift_arguments,
    evaluate_arguments,
    hyperparameters_from_config,
    main,
    preprocess_arguments,
    run_job,
)

SMALL = {"data.target": "label", "cv.folds": 3, "xgboost.num_round": 30,
         "xgboost.early_stopping_rounds": 8, "xgboost.nthread": 1, "tuning.max_jobs": 1,
         "resampling.method": "random_over"}


def _data(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 4))
    y = (rng.random(n) < 1 / (1 + np.exp(-(2.5 * X[:, 0] - 1.5 * X[:, 1] - 1.0)))).astype(int)
    return X, y


@pytest.fixture(scope="module")
def chain(tmp_path_factory):
    """(opt_ml root, env, cfg) after preprocess, train, evaluate and baseline."""
    root = tmp_path_factory.mktemp("opt_ml")
    env = {"TRAINGUARD_OPT_ML": str(root), "SM_MODEL_DIR": str(root / "model"),
           "SM_CHANNEL_TRAIN": str(root / "processing" / "train")}
    cfg = load_config(None, SMALL)
    X, y = _data(800, 0)
    write_csv(Dataset(X, y, [f"x{i}" for i in range(4)], "label", (0, 1), "t"),
              root / "processing" / "input" / "data" / "table.csv")
    run_job("preprocess", preprocess_arguments(cfg), env)
    (root / "input" / "config").mkdir(parents=True)
    (root / "input" / "config" / "hyperparameters.json").write_text(
        json.dumps(hyperparameters_from_config(cfg)))
    run_job("train", [], env)
    tarball = root / "processing" / "model" / "model.tar.gz"
    tarball.parent.mkdir(parents=True)
    with tarfile.open(tarball, "w:gz") as tar:
        for p in sorted((root / "model").iterdir()):
            tar.add(p, arcname=p.name)
    run_job("evaluate", [str(a) for a in evaluate_arguments(cfg)], env)
    run_job("baseline", baseline_arguments(cfg), env)
    return root, env, cfg


def test_baseline_job_writes_data_and_model_quality_in_model_monitor_layout(chain):
    root, _env, _cfg = chain
    out = root / "processing" / "baseline"
    stats = json.loads((out / "data_quality" / "statistics.json").read_text())
    cons = json.loads((out / "data_quality" / "constraints.json").read_text())
    assert [f["name"] for f in stats["features"]] == ["x0", "x1", "x2", "x3"]  # label excluded
    f0 = stats["features"][0]
    assert f0["inferred_type"] == "Fractional"
    kll = f0["numerical_statistics"]["distribution"]["kll"]
    assert len(kll["buckets"]) == 10 and kll["sketch"]["parameters"]["k"] == 2048
    assert sum(b["count"] for b in kll["buckets"]) == f0["numerical_statistics"]["common"]["num_present"]
    dist = cons["monitoring_config"]["distribution_constraints"]
    assert dist["comparison_method"] == "Robust" and dist["comparison_threshold"] == 0.1
    assert cons["monitoring_config"]["trainguard_drift"]["method"] == "calibrated"
    evaluation = json.loads((root / "processing" / "evaluation" / "evaluation.json").read_text())
    mq = json.loads((out / "model_quality" / "constraints.json").read_text())
    auc = evaluation["binary_classification_metrics"]["auc"]
    c = mq["binary_classification_constraints"]["auc"]
    assert c["comparison_operator"] == "LessThanThreshold"
    assert c["threshold"] == pytest.approx(auc["value"] - 3 * auc["standard_deviation"])
    assert set(mq["binary_classification_constraints"]) == {"auc", "precision", "recall", "f1"}


def _capture(folder: Path, X: np.ndarray, ids: list[str], bad_line: int | None = None) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    lines = []
    for i, (row, rid) in enumerate(zip(X, ids, strict=True)):
        text = ",".join(f"{v:.5f}" for v in row)
        data, enc = (base64.b64encode(text.encode()).decode(), "BASE64") if i % 2 else (text, "CSV")
        lines.append(json.dumps({
            "captureData": {"endpointInput": {"observedContentType": "text/csv", "mode": "INPUT",
                                              "data": data, "encoding": enc},
                            "endpointOutput": {"observedContentType": "text/csv", "mode": "OUTPUT",
                                               "data": "0.5", "encoding": "CSV"}},
            "eventMetadata": {"eventId": f"e-{rid}", "inferenceId": rid,
                              "inferenceTime": "2026-01-01T00:00:00Z"},
            "eventVersion": "0"}))
    if bad_line is not None:
        lines[bad_line - 1] = '{"captureData": {"endpointInput": '
    (folder / "capture.jsonl").write_text("\n".join(lines) + "\n")


def _ground_truth(path: Path, y: np.ndarray, ids: list[str]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(json.dumps({"groundTruthData": {"data": str(int(v)), "encoding": "CSV"},
                                          "eventMetadata": {"eventId": rid}, "eventVersion": "0"})
                              for v, rid in zip(y, ids, strict=True)) + "\n")


def _drift_env(chain, tmp_path: Path, X: np.ndarray, y: np.ndarray | None, *,
               bad_line: int | None = None) -> tuple[Path, dict]:
    root, _env, _cfg = chain
    job = tmp_path / "opt_ml"
    shutil.copytree(root / "processing" / "baseline", job / "processing" / "baseline")
    shutil.copytree(root / "processing" / "model", job / "processing" / "model")
    ids = [f"inf-{i}" for i in range(len(X))]
    _capture(job / "processing" / "input" / "data" / "2026" / "01" / "01", X, ids, bad_line)
    if y is not None:
        _ground_truth(job / "processing" / "labels" / "gt.jsonl", y, ids)
    return job, {"TRAINGUARD_OPT_ML": str(job)}


def test_drift_job_checks_capture_and_model_quality_clean(chain, tmp_path):
    X, y = _data(1500, 7)
    job, env = _drift_env(chain, tmp_path, X, y)
    assert main(["drift", *drift_arguments(chain[2])], env) == 0
    out = job / "processing" / "monitor"
    assert json.loads((out / "constraint_violations.json").read_text()) == {"violations": []}
    report = json.loads((out / "drift_report.json").read_text())
    assert report["clean"] and report["rows"] == 1500 and report["labelled_rows"] == 1500
    assert {q["metric"] for q in report["model_quality"]} == {"auc", "precision", "recall", "f1"}
    assert all(not q["violated"] for q in report["model_quality"])


def test_drift_job_reports_drift_and_a_quality_drop_as_output_not_failure(chain, tmp_path):
    X, y = _data(1500, 8)
    X[:, 2] += 0.6
    flipped = np.where(np.random.default_rng(0).random(y.size) < 0.35, 1 - y, y)
    job, env = _drift_env(chain, tmp_path, X, flipped)
    assert main(["drift", *drift_arguments(chain[2])], env) == 0  # the pipeline's condition decides
    viol = json.loads((job / "processing" / "monitor" / "constraint_violations.json").read_text())
    kinds = {(v.get("feature_name") or v.get("metric_name"), v["constraint_check_type"])
             for v in viol["violations"]}
    assert ("x2", "baseline_drift_check") in kinds
    assert ("auc", "LessThanThreshold") in kinds
    assert not any(name in ("x0", "x1", "x3") for name, _ in kinds)


def test_malformed_capture_line_is_named_and_nothing_is_written(chain, tmp_path, capsys):
    X, _y = _data(50, 9)
    job, env = _drift_env(chain, tmp_path, X, None, bad_line=7)
    assert main(["drift"], env) == 2
    err = capsys.readouterr().err
    assert "capture.jsonl: line 7: not a data-capture record" in err
    assert not (job / "processing" / "monitor").exists()


def test_labels_that_do_not_join_are_named(chain, tmp_path, capsys):
    X, y = _data(60, 10)
    job, env = _drift_env(chain, tmp_path, X, y)
    gt = job / "processing" / "labels" / "gt.jsonl"
    gt.write_text(gt.read_text().replace('"inf-', '"other-'))
    assert main(["drift"], env) == 2
    err = capsys.readouterr().err
    assert "gt.jsonl" in err and "the labels do not join" in err and "other-0" in err
    assert not (job / "processing" / "monitor").exists()
