"""``trainguard registry``: list, show, approve, reject through the CLI, with exit codes and messages."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from trainguard.pipelines.cli import main
from trainguard.pipelines.registry import LocalRegistry

EVALUATION = {
    "binary_classification_metrics": {
        "auc": {"value": 0.9312, "standard_deviation": 0.0},
        "recall": {"value": 0.81, "standard_deviation": 0.0},
    },
    "overfitting": {"train_auc": 0.99, "cv_auc": 0.91, "test_auc": 0.93, "train_cv_gap": 0.08},
    "decision": {"approved": True, "reasons": ["auc 0.931 >= floor 0.750", "train-CV gap 0.080 <= 0.100"],
                 "checks": [{"name": "auc", "passed": True, "value": 0.9312, "threshold": 0.75,
                             "reason": "ok"}], "champion": None},
}


@pytest.fixture()
def db(tmp_path: Path) -> Path:
    path = tmp_path / "reg.db"
    reg = LocalRegistry(path)
    reg.register("fraud", "Approved", {"auc": 0.88}, actor="pipeline")
    reg.register("fraud", "PendingManualApproval", evaluation=EVALUATION, model_uri="s3://b/model.tar.gz",
                 lineage={"data_uri": "s3://b/data.csv", "hyperparameters": {"eta": 0.1, "max_depth": 4},
                          "cv_scores": [0.9, 0.92], "code_version": "deadbeef"}, actor="pipeline")
    reg.register("churn", "Rejected", {"auc": 0.61}, reason="auc below floor", actor="pipeline")
    return path


def test_list_prints_a_table_with_auc_and_created(db: Path, capsys) -> None:
    assert main(["registry", "list", "--registry", str(db)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["GROUP", "VERSION", "STATUS", "AUC", "CREATED"]
    assert lines[1].split()[:4] == ["churn", "1", "Rejected", "0.6100"]
    assert lines[3].split()[:4] == ["fraud", "2", "PendingManualApproval", "0.9312"]
    assert len(lines) == 4


def test_list_json_filters_by_group(db: Path, capsys) -> None:
    assert main(["registry", "list", "--group", "fraud", "--json", "--registry", str(db)]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [(r["group"], r["version"], r["status"]) for r in rows] == [
        ("fraud", 1, "Approved"), ("fraud", 2, "PendingManualApproval")]
    assert rows[1]["metrics"]["auc"] == 0.9312


def test_list_of_a_missing_registry_is_empty_and_says_where_it_looked(tmp_path: Path, capsys) -> None:
    missing = tmp_path / "nowhere" / "reg.db"
    assert main(["registry", "list", "--registry", str(missing)]) == 0
    assert f"no registry at {missing}" in capsys.readouterr().out
    assert main(["registry", "list", "--json", "--registry", str(missing)]) == 0
    captured = capsys.readouterr()
    assert json.loads(captured.out) == [] and str(missing) in captured.err
    assert not missing.parent.exists()  # looking creates nothing


def test_default_path_comes_from_the_config(tmp_path: Path, monkeypatch, capsys) -> None:
    monkeypatch.chdir(tmp_path)
    LocalRegistry(tmp_path / ".trainguard" / "registry.db").register("fraud", "Approved", {"auc": 0.7})
    assert main(["registry", "list", "--json", "--set", "registry.local_path=elsewhere/r.db"]) == 0
    captured = capsys.readouterr()
    assert json.loads(captured.out) == []
    assert f"no registry at elsewhere/r.db ({tmp_path / 'elsewhere' / 'r.db'})" in captured.err
    assert main(["registry", "list", "--json"]) == 0
    assert [r["version"] for r in json.loads(capsys.readouterr().out)] == [1]
    other = tmp_path / "other.db"
    LocalRegistry(other).register("churn", "Approved", {"auc": 0.7})
    cfg = tmp_path / "cfg.yaml"
    cfg.write_text(f"registry:\n  local_path: {other}\n")
    assert main(["registry", "list", "--json", "--config", str(cfg)]) == 0
    assert [r["group"] for r in json.loads(capsys.readouterr().out)] == ["churn"]
    assert main(["registry", "list", "--json", "--set", f"registry.local_path={other}"]) == 0
    assert [r["group"] for r in json.loads(capsys.readouterr().out)] == ["churn"]


def test_show_prints_metrics_lineage_decision_reasons_and_history(db: Path, capsys) -> None:
    assert main(["registry", "show", "fraud", "2", "--registry", str(db)]) == 0
    out = capsys.readouterr().out
    for text in ("fraud version 2: PendingManualApproval", "auc          0.9312", "recall       0.8100",
                 "safeguards at evaluation: passed the safeguards (registry status now: PendingManualApproval)",
                 "- auc 0.931 >= floor 0.750",
                 "- train-CV gap 0.080 <= 0.100", "[pass] auc: 0.9312 vs 0.7500",
                 "train_cv_gap 0.0800", "data_uri: s3://b/data.csv",
                 'hyperparameters: {"eta": 0.1, "max_depth": 4}', "code_version: deadbeef",
                 "cv_scores: [0.9, 0.92]", "s3://b/model.tar.gz",
                 "pipeline: registered as PendingManualApproval"):
        assert text in out, text


def test_show_json_is_the_whole_package(db: Path, capsys) -> None:
    assert main(["registry", "show", "fraud", "2", "--json", "--registry", str(db)]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["evaluation"] == EVALUATION and data["lineage"]["code_version"] == "deadbeef"
    assert data["history"][0]["to_status"] == "PendingManualApproval"


def test_approve_makes_the_champion_and_records_the_audit(db: Path, capsys) -> None:
    assert main(["registry", "approve", "fraud", "2", "--reason", "risk review ok", "--by", "alice",
                 "--registry", str(db)]) == 0
    out = capsys.readouterr().out
    assert "fraud version 2: PendingManualApproval -> Approved (risk review ok)." in out
    assert "now the champion of fraud" in out
    reg = LocalRegistry(db)
    assert reg.champion("fraud").version == 2
    last = reg.get("fraud", 2).history[-1]
    assert (last.changed_by, last.from_status, last.to_status, last.reason) == (
        "alice", "PendingManualApproval", "Approved", "risk review ok")
    assert main(["registry", "approve", "fraud", "2", "--registry", str(db)]) == 0
    assert "already Approved; nothing changed" in capsys.readouterr().out


def test_reject_needs_a_reason_and_hands_the_crown_back(db: Path, capsys) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["registry", "reject", "fraud", "1", "--registry", str(db)])
    assert exc.value.code == 2
    assert "--reason" in capsys.readouterr().err
    assert main(["registry", "reject", "fraud", "1", "--reason", "leak", "--registry", str(db)]) == 0
    out = capsys.readouterr().out
    assert "fraud version 1: Approved -> Rejected (leak)." in out
    assert "fraud now has no champion" in out
    assert LocalRegistry(db).get("fraud", 1).status == "Rejected"


def test_approving_a_package_its_evaluation_rejected_says_so(tmp_path: Path, capsys) -> None:
    db = tmp_path / "reg.db"
    rejected = json.loads(json.dumps(EVALUATION))
    rejected["decision"].update(approved=False, checks=[
        {"name": "min_auc", "passed": False, "value": 0.7, "threshold": 0.75,
         "reason": "holdout AUC 0.700 is below the floor 0.750 (approval.min_auc)"},
        {"name": "min_recall", "passed": True, "value": 0.8, "threshold": 0.5, "reason": "ok"}])
    LocalRegistry(db).register("fraud", "Rejected", evaluation=rejected, actor="pipeline")
    LocalRegistry(db).register("fraud", "PendingManualApproval", evaluation=EVALUATION, actor="pipeline")
    assert main(["registry", "approve", "fraud", "1", "--reason", "floor too strict", "--registry", str(db)]) == 0
    out = capsys.readouterr().out
    assert ("Note: its evaluation rejected it (holdout AUC 0.700 is below the floor 0.750 "
            "(approval.min_auc)); approving overrides that safeguard.") in out
    assert main(["registry", "approve", "fraud", "2", "--registry", str(db)]) == 0
    assert "Note:" not in capsys.readouterr().out  # its evaluation approved it


def test_approve_and_reject_json_print_the_package_after_the_change(db: Path, capsys) -> None:
    assert main(["registry", "approve", "fraud", "2", "--json", "--registry", str(db)]) == 0
    data = json.loads(capsys.readouterr().out)
    assert (data["group"], data["version"], data["status"]) == ("fraud", 2, "Approved")
    assert (data["previous_status"], data["changed"], data["champion_version"]) == (
        "PendingManualApproval", True, 2)
    assert main(["registry", "reject", "fraud", "2", "--reason", "leak", "--json", "--registry", str(db)]) == 0
    data = json.loads(capsys.readouterr().out)
    assert (data["status"], data["status_reason"], data["previous_status"], data["champion_version"]) == (
        "Rejected", "leak", "Approved", 1)
    assert main(["registry", "reject", "fraud", "2", "--reason", "again", "--json", "--registry", str(db)]) == 0
    assert json.loads(capsys.readouterr().out)["changed"] is False


@pytest.mark.parametrize("argv, message", [
    (["registry", "show", "fraud", "7"], r"group 'fraud' has no version 7 \(versions: 1-2\)"),
    (["registry", "approve", "frod", "1"], r"no model package group 'frod' .*\(groups: churn, fraud\)"),
    (["registry", "list", "--group", "frod"], "no model package group 'frod'"),
])
def test_unknown_group_or_version_exits_2_with_the_fix(db: Path, capsys, argv, message) -> None:
    assert main([*argv, "--registry", str(db)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("trainguard registry: error: ") and "Traceback" not in err
    assert re.search(message, err), err


@pytest.mark.parametrize("action", [["show", "fraud", "1"], ["approve", "fraud", "1"],
                                    ["reject", "fraud", "1", "--reason", "x"]])
def test_show_or_change_in_a_missing_registry_exits_2_naming_the_path(tmp_path, capsys, action) -> None:
    missing = tmp_path / "reg.db"
    assert main(["registry", *action, "--registry", str(missing)]) == 2
    assert f"no registry at {missing}" in capsys.readouterr().err
    assert not missing.exists()


def test_a_file_that_is_not_a_registry_exits_2(tmp_path: Path, capsys) -> None:
    bogus = tmp_path / "model.json"
    bogus.write_text('{"not": "a database"}' * 10)
    assert main(["registry", "list", "--registry", str(bogus)]) == 2
    assert "is not a trainguard registry" in capsys.readouterr().err


def test_bad_version_is_a_usage_error(db: Path, capsys) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["registry", "show", "fraud", "two", "--registry", str(db)])
    assert exc.value.code == 2
    assert "VERSION must be a whole number >= 1; got 'two'" in capsys.readouterr().err


def test_console_script_runs_without_importing_the_aws_sdk(db: Path) -> None:
    script = Path(sys.executable).with_name("trainguard")
    done = subprocess.run([str(script), "registry", "list", "--json", "--registry", str(db)],
                          capture_output=True, text=True, timeout=60, env={**os.environ})
    assert done.returncode == 0, done.stderr
    assert len(json.loads(done.stdout)) == 3
    done = subprocess.run([str(script), "registry", "show", "fraud", "9", "--registry", str(db)],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 2 and "has no version 9" in done.stderr and "Traceback" not in done.stderr
    code = ("import sys; from trainguard.pipelines.cli import main; "
            f"rc = main(['registry', 'list', '--registry', {str(db)!r}]); "
            "bad = [m for m in ('sagemaker', 'boto3', 'botocore') if m in sys.modules]; "
            "print('SDK', bad); sys.exit(rc or (1 if bad else 0))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and "SDK []" in done.stdout, done.stdout + done.stderr


def test_show_html_writes_the_report_of_the_stored_evaluation(db: Path, tmp_path: Path, capsys) -> None:
    out = tmp_path / "reports" / "fraud-2.html"
    assert main(["registry", "show", "fraud", "2", "--html", str(out), "--registry", str(db)]) == 0
    assert f"report written to {out}" in capsys.readouterr().err
    text = out.read_text(encoding="utf-8")
    assert "<title>fraud version 2: evaluation</title>" in text
    assert "auc 0.931 &gt;= floor 0.750" in text and "s3://b/data.csv" in text
    assert main(["registry", "show", "fraud", "1", "--html", str(out), "--registry", str(db)]) == 2
    assert "registered without an evaluation report" in capsys.readouterr().err
