"""The user's side: a local training run registers baselines; ``trainguard monitor`` and the
Python API check new data against the registered package; the monitoring pipeline runs under
``trainguard run --local --monitoring``; the HTML report draws each drifted feature.

One local training run on a small informative table (module fixture) feeds every test.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from trainguard.pipelines.cli import main

FAST = {"cv.folds": 2, "tuning.max_jobs": 1, "xgboost.num_round": 30,
        "xgboost.early_stopping_rounds": 5, "xgboost.nthread": 1, "resampling.method": "none",
        "approval.min_auc": 0.5, "approval.min_recall": 0.0}


def _table(path: Path, n: int, seed: int, shift: float = 0.0, flip: float = 0.0) -> Path:
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 3))
    y = (rng.random(n) < 1 / (1 + np.exp(-(2.5 * X[:, 0] - 1.5 * X[:, 1])))).astype(int)
    y = np.where(rng.random(n) < flip, 1 - y, y)
    X[:, 2] += shift
    rows = ["f0,f1,f2,label"] + [f"{a:.5f},{b:.5f},{c:.5f},{t}" for (a, b, c), t in zip(X, y, strict=True)]
    path.write_text("\n".join(rows) + "\n")
    return path


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """The registry path after one local training run that registered version 1."""
    from trainguard import run_local

    tmp = tmp_path_factory.mktemp("user")
    reg = tmp / "reg.db"
    result = run_local(data=_table(tmp / "train.csv", 1_000, 0), target="label",
                       workdir=tmp / "w", registry=reg, overrides=FAST)
    assert result.registered and result.registered[0]["version"] == 1, result.message
    return reg


def test_cli_check_against_a_registered_package_with_labels(trained, tmp_path, capsys):
    reg = trained
    data = _table(tmp_path / "new.csv", 1_500, 1)
    code = main(["monitor", "check", "--baseline", "trainguard-models/1", "--registry", str(reg),
                 "--data", str(data), "--label-column", "label", "--json"])
    assert code == 0, capsys.readouterr().err
    report = json.loads(capsys.readouterr().out)
    assert report["clean"] and report["labelled_rows"] == 1_500
    assert {q["metric"] for q in report["model_quality"]} == {"auc", "precision", "recall", "f1"}


def test_python_api_finds_drift_and_a_quality_drop_and_writes_the_report(trained, tmp_path):
    from trainguard import check_drift

    reg = trained
    data = _table(tmp_path / "new.csv", 1_500, 2, shift=0.8, flip=0.4)
    out = tmp_path / "out"
    result = check_drift("trainguard-models/1", data, label_column="label", registry=reg, out=out)
    assert result.drifted == ["f2"] and result.exit_code == 1
    assert any(v["metric_name"] == "auc" for v in result.quality_violations)
    names = sorted(p.name for p in out.iterdir())
    assert names == ["constraint_violations.json", "drift_report.html", "drift_report.json",
                     "statistics.json"]
    page = (out / "drift_report.html").read_text()
    assert "<svg" in page and "f2" in page and "VIOLATION" in page


def test_a_group_without_an_approved_version_has_no_champion(trained, tmp_path, capsys):
    reg = trained
    data = _table(tmp_path / "new.csv", 100, 3)
    assert main(["monitor", "check", "--baseline", "trainguard-models", "--registry", str(reg),
                 "--data", str(data)]) == 2
    assert "no Approved version" in capsys.readouterr().err


def test_monitoring_pipeline_under_run_local(trained, tmp_path, capsys):
    reg = trained
    work = tmp_path / "mon"
    drifted = _table(tmp_path / "new.csv", 1_500, 4, shift=0.8)
    code = main(["run", "--local", "--monitoring", "--data", str(drifted), "--baseline",
                 "trainguard-models/1", "--registry", str(reg), "--workdir", str(work),
                 "--set", "data.target=label"])
    out = capsys.readouterr()
    assert code == 1, out.err
    assert "Drift check found 1 violation(s)" in out.out
    assert (work / "drift_report.html").is_file()
    clean = _table(tmp_path / "clean.csv", 1_500, 5)
    assert main(["run", "--local", "--monitoring", "--data", str(clean), "--baseline",
                 "trainguard-models/1", "--registry", str(reg), "--workdir", str(work),
                 "--set", "data.target=label"]) == 0


def test_cli_baseline_of_a_table_then_check(tmp_path, capsys):
    data = _table(tmp_path / "t.csv", 800, 6)
    out = tmp_path / "bl"
    assert main(["monitor", "baseline", "--data", str(data), "--out", str(out),
                 "--set", "data.target=label"]) == 0
    assert "left out: label" in capsys.readouterr().out
    assert main(["monitor", "check", "--baseline", str(out), "--data",
                 str(_table(tmp_path / "n.csv", 800, 7))]) == 0
