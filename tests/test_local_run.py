"""``trainguard run --local`` / ``run_local()`` end to end: the built definition executed here.

Fast settings (2 folds, 2 trials, few rounds) on the embedded data or a tiny CSV; asserts the
work dir's files, statuses, registry rows, the champion bar and the exit statuses 0/3/2.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from trainguard.pipelines.bundle import build_bundle
from trainguard.pipelines.cli import main
from trainguard.pipelines.local.run import run_local
from trainguard.pipelines.registry import open_registry
from trainguard.training.errors import DataError

FAST = {"cv.folds": 2, "tuning.max_jobs": 2, "xgboost.num_round": 30, "xgboost.early_stopping_rounds": 5,
        "xgboost.nthread": 1}  # one thread: the 2 shared cores are oversubscribed otherwise
FAST_ARGS = [w for k, v in FAST.items() for w in ("--set", f"{k}={v}")]


def _csv(path: Path, rows: int = 200, bad: bool = False) -> Path:
    lines = ["a,b,label"]
    for i in range(rows):
        pos = i % 4 == 0
        lines.append(f"{i % 7 + (3 if pos else 0)},{(i * 13) % 5},{'yes' if pos else 'no'}")
    if bad:
        lines[5] = "1,2"
    path.write_text("\n".join(lines) + "\n")
    return path


def test_run_local_approves_and_writes_the_evidence(tmp_path: Path) -> None:
    reg = tmp_path / "reg.db"
    result = run_local(workdir=tmp_path / "w", registry=reg, overrides=FAST)
    assert result.exit_code == 0 and result.status == "Approved" and result.approved
    w = tmp_path / "w"
    for name in ("definition.json", "evaluation.json", "model.tar.gz", "model.json", "report.html"):
        assert (w / name).is_file(), name
    definition = json.loads((w / "definition.json").read_text())
    assert [s["Name"] for s in definition["Steps"]] == ["Preprocess", "Tune", "Evaluate", "Baseline",
                                                        "CheckApproval"]
    evaluation = json.loads((w / "evaluation.json").read_text())
    assert evaluation["decision"]["approved"] is True
    assert evaluation["cross_validation"]["folds"] == 2
    assert len(result.trials) == 2
    [pkg] = open_registry(reg).list()
    assert (pkg.status, pkg.version) == ("PendingManualApproval", 1)
    # the package keeps its drift check baselines (the train split's and the holdout's)
    baselines = pkg.lineage["drift_check_baselines"]
    assert len(baselines["data_quality"]["statistics"]["features"]) == 64  # the digits' pixels
    assert baselines["data_quality"]["constraints"]["monitoring_config"]["trainguard_drift"]
    auc = baselines["model_quality"]["constraints"]["binary_classification_constraints"]["auc"]
    assert auc["threshold"] <= evaluation["binary_classification_metrics"]["auc"]["value"]
    assert Path(pkg.lineage["model_path"]).is_file()
    assert result.registered[0]["version"] == 1
    assert "<html" in (w / "report.html").read_text().lower()
    text = result.summary()
    assert "safeguards: passed" in text and "trainguard-models version 1" in text
    first = text.splitlines()[0]
    assert first.startswith("trainguard run: passed the safeguards; registry status: PendingManualApproval "
                            "(trainguard-models version 1)") and "Approved" not in first.replace(
                                "PendingManualApproval", "")
    report = (w / "report.html").read_text()
    assert "PASSED THE SAFEGUARDS" in report and "APPROVED<" not in report
    assert "registry status: PendingManualApproval (trainguard-models version 1)" in report


def test_champion_bar_from_the_registry_rejects_and_cli_exits_3(tmp_path: Path,
                                                                 capsys: pytest.CaptureFixture[str]) -> None:
    reg = tmp_path / "reg.db"
    open_registry(reg).register("trainguard-models", "Approved", metrics={"auc": 0.9999})
    w = tmp_path / "w"
    code = main(["run", "--local", "--workdir", str(w), "--registry", str(reg), *FAST_ARGS,
                 "--set", "approval.champion_margin=0.0001"])
    out = capsys.readouterr()
    assert code == 3, out.err
    assert "safeguards: rejected" in out.out and "rejected by the safeguards" in out.out
    evaluation = json.loads((w / "evaluation.json").read_text())
    assert evaluation["decision"]["approved"] is False
    assert (w / "report.html").is_file()  # evidence even when rejected
    params = {p["Name"]: p for p in json.loads((w / "definition.json").read_text())["Parameters"]}
    assert params["ChampionBar"]["DefaultValue"] == 0.0  # set per execution, not baked in
    pkgs = open_registry(reg).list("trainguard-models")
    assert [p.status for p in pkgs] == ["Approved", "Rejected"]
    assert pkgs[1].lineage["parameters"]["ChampionBar"] == pytest.approx(1.0)


def test_caller_champion_bar_and_parameters_win(tmp_path: Path) -> None:
    reg = tmp_path / "reg.db"
    open_registry(reg).register("trainguard-models", "Approved", metrics={"auc": 0.9999})
    result = run_local(workdir=tmp_path / "w", registry=reg, overrides=FAST,
                       parameters={"ChampionBar": "0.0", "ModelApprovalStatus": "Approved"})
    assert result.exit_code == 0 and result.champion_bar == 0.0
    assert open_registry(reg).champion("trainguard-models").version == 2
    rejected = run_local(workdir=tmp_path / "w2", registry=reg, overrides=FAST,
                         parameters={"ChampionBar": 0.0, "MinAuc": "0.99999"})
    assert rejected.exit_code == 3 and rejected.status == "Rejected"
    assert rejected.outcome.step("FailRejected").status == "Failed"


def test_bad_data_exits_2_with_the_core_message_and_leaves_nothing(tmp_path: Path,
                                                                    capsys: pytest.CaptureFixture[str]) -> None:
    reg = tmp_path / "reg.db"
    w = tmp_path / "w"
    w.mkdir()
    (w / "evaluation.json").write_text("{}")  # from an earlier run: must not survive a failed one
    data = _csv(tmp_path / "bad.csv", bad=True)
    code = main(["run", "--local", "--data", str(data), "--target", "label", "--workdir", str(w),
                 "--registry", str(reg), *FAST_ARGS])
    err = capsys.readouterr().err
    assert code == 2
    assert "Preprocess" in err and "line 6" in err and "Traceback" not in err
    assert not (w / "evaluation.json").exists()
    assert open_registry(reg).list() == []


def test_own_parquet_with_target_runs(tmp_path: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    rows = [line.split(",") for line in _csv(tmp_path / "mine.csv").read_text().splitlines()[1:]]
    table = pa.table({"a": [float(r[0]) for r in rows], "b": [float(r[1]) for r in rows],
                      "label": [r[2] for r in rows]})
    data = tmp_path / "mine.parquet"
    pq.write_table(table, data)
    result = run_local(data=data, target="label", workdir=tmp_path / "w", registry=tmp_path / "r.db",
                       overrides={**FAST, "approval.min_recall": 0.0, "approval.min_auc": 0.0,
                                  "approval.max_overfit_gap": 1.0})
    assert result.exit_code == 0, result.message
    assert result.evaluation["model"]["features"] == ["a", "b"]
    [pkg] = open_registry(tmp_path / "r.db").list()
    assert pkg.lineage["data"] == str(data.resolve())
    assert pkg.lineage["code_version"] == build_bundle().sha256 and "code_sha" not in pkg.lineage
    staged = list((tmp_path / "w" / "s3").rglob("mine.parquet"))
    assert len(staged) == 1 and "data" in staged[0].parts


def test_input_errors_before_the_run(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(DataError, match="does not exist; pass an existing CSV"):
        run_local(data=tmp_path / "nope.csv", target="x", workdir=tmp_path / "w")
    with pytest.raises(DataError, match="is a folder; pass one CSV or Parquet file"):
        run_local(data=tmp_path, target="x", workdir=tmp_path / "w")
    (tmp_path / "afile").write_text("not a folder")
    assert main(["run", "--local", "--workdir", str(tmp_path / "afile"), "--registry", str(tmp_path / "r.db")]) == 2
    err = capsys.readouterr().err
    assert "work dir" in err and "is a file; pass a folder with --workdir" in err and "Traceback" not in err
    assert main(["run", "--local", "--workdir", str(tmp_path / "afile" / "sub")]) == 2
    assert "cannot create the work dir" in capsys.readouterr().err
    assert main(["run", "--local", "--workdir", str(tmp_path / "w"), "--param", "Nope=1"]) == 2
    assert "--param 'Nope' is not a parameter of the pipeline" in capsys.readouterr().err
    # refused before the run: an earlier run's evidence in the work dir is left as it was
    earlier = tmp_path / "earlier"
    earlier.mkdir()
    for name in ("evaluation.json", "report.html", "definition.json"):
        (earlier / name).write_text("earlier run")
    for bad in (["--param", "MinAuc=high"], ["--set", "data.target=churned"]):
        assert main(["run", "--local", "--workdir", str(earlier), "--registry", str(tmp_path / "r.db"), *bad]) == 2
        err = capsys.readouterr().err
        assert "Traceback" not in err and ("MinAuc is of type Float" in err or "label is 'is_eight'" in err)
        assert all((earlier / n).read_text() == "earlier run" for n in ("evaluation.json", "report.html",
                                                                          "definition.json"))
    assert sorted(p.name for p in earlier.iterdir()) == ["definition.json", "evaluation.json", "report.html"]
    assert not (tmp_path / "r.db").exists()
    assert main(["run", "--local", "--set", "cv.folds=1"]) == 2
    assert "cv.folds" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exc:
        main(["run"])
    assert exc.value.code == 2
    assert "--local" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["run", "--help"])
    help_text = " ".join(capsys.readouterr().out.split())
    assert "[--data PATH] [--target COL] [--workdir DIR]" in help_text
    assert "exit status: 0 passed the safeguards, 3 rejected by a safeguard" in help_text and "2 bad input" in help_text


def test_staging_never_removes_what_it_did_not_write(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """An InputDataUri prefix above the data (here: the whole bucket) holds an earlier run's model
    artifact: the run is refused before anything changes, and the artifact survives."""
    w = tmp_path / "w"
    definition = json.loads(run_local.__globals__["definition_cache"].load_or_build(
        run_local.__globals__["load_config"](None, FAST), w / "cache" / ".definitions")[0])
    default = next(p["DefaultValue"] for p in definition["Parameters"] if p["Name"] == "InputDataUri")
    bucket = default[len("s3://"):].split("/")[0]
    artifact = w / "s3" / bucket / "trainguard" / "Tune-1" / "output" / "model.tar.gz"
    artifact.parent.mkdir(parents=True)
    artifact.write_bytes(b"registered model")
    split = w / "s3" / bucket / "trainguard" / "Preprocess-1" / "train.csv"
    split.parent.mkdir(parents=True)
    split.write_text("a,label\n1,yes\n")
    (w / "evaluation.json").write_text("earlier")
    for uri in (f"s3://{bucket}/", f"s3://{bucket}/trainguard", f"s3://{bucket}/trainguard/Tune-1/output/",
                f"s3://{bucket}/trainguard/Preprocess-1/train.csv"):
        code = main(["run", "--local", "--workdir", str(w), "--registry", str(tmp_path / "r.db"),
                     "--param", f"InputDataUri={uri}", *FAST_ARGS])
        err = capsys.readouterr().err
        assert code == 2, err
        assert "did not stage there" in err and "Traceback" not in err
        assert artifact.read_bytes() == b"registered model"
        assert split.read_text() == "a,label\n1,yes\n"
        assert (w / "evaluation.json").read_text() == "earlier"


def test_staging_replaces_only_its_own_earlier_file(tmp_path: Path) -> None:
    from trainguard.pipelines.local.run import _plan_staging, _stage_data

    w = tmp_path / "w"
    first, second = _csv(tmp_path / "first.csv"), _csv(tmp_path / "second.csv", rows=50)
    _stage_data(w, _plan_staging(w, "s3://b/data/", first), first)
    _stage_data(w, _plan_staging(w, "s3://b/data/", second), second)
    assert sorted(p.name for p in (w / "s3" / "b" / "data").iterdir()) == ["second.csv"]
    (w / "s3" / "b" / "data" / "user.csv").write_text("x")
    with pytest.raises(Exception, match=r"already holds 1 object\(s\) .*s3://b/data/user.csv"):
        _plan_staging(w, "s3://b/data/", first)


def test_staging_links_the_users_file_and_never_writes_to_it(tmp_path: Path,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    """The staged object is a hard link (no copy of a big table); writes to the store replace it
    by rename, so the user's file keeps its bytes, mode and time. Without links it is a copy."""
    import os

    from trainguard.pipelines.local.run import _plan_staging, _stage_data
    from trainguard.pipelines.local.store import LocalStore

    w = tmp_path / "w"
    data = _csv(tmp_path / "mine.csv")
    data.chmod(0o444)
    before = (data.read_bytes(), data.stat().st_mode, data.stat().st_mtime_ns)
    _stage_data(w, _plan_staging(w, "s3://b/data/", data), data)
    staged = w / "s3" / "b" / "data" / "mine.csv"
    assert staged.stat().st_ino == data.stat().st_ino
    _stage_data(w, _plan_staging(w, "s3://b/data/", data), data)  # a second run, the same file
    assert [p.name for p in staged.parent.iterdir()] == ["mine.csv"]
    LocalStore(w / "s3").upload_file(_csv(tmp_path / "other.csv", rows=50), "s3://b/data/mine.csv")
    _stage_data(w, _plan_staging(w, "s3://b/data/", data), data)  # staged again over the link
    assert (data.read_bytes(), data.stat().st_mode, data.stat().st_mtime_ns) == before

    def no_links(*args: object, **kwargs: object) -> None:
        raise PermissionError(1, "Operation not permitted")  # as fs.protected_hardlinks refuses

    monkeypatch.setattr(os, "link", no_links)
    w2 = tmp_path / "w2"
    _stage_data(w2, _plan_staging(w2, "s3://b/data/", data), data)
    copied = w2 / "s3" / "b" / "data" / "mine.csv"
    assert copied.stat().st_ino != data.stat().st_ino and copied.read_bytes() == before[0]
    assert sorted(p.name for p in copied.parent.iterdir()) == ["mine.csv"]


def test_a_second_run_on_one_workdir_is_refused_naming_the_holder(tmp_path: Path,
                                                                  capsys: pytest.CaptureFixture[str]) -> None:
    import os
    import socket
    import subprocess
    import sys

    w = tmp_path / "w"
    w.mkdir()
    (w / "evaluation.json").write_text("the other run's evidence")
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys, time\nfrom trainguard.pipelines.local.workdir import lock_workdir\n"
         "with lock_workdir(sys.argv[1]):\n    print('held', flush=True)\n    time.sleep(60)\n", str(w)],
        stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        code = main(["run", "--local", "--workdir", str(w), "--registry", str(tmp_path / "r.db"), *FAST_ARGS])
        err = capsys.readouterr().err
        assert code == 2 and "Traceback" not in err
        assert f"in use by another trainguard run (pid {holder.pid} on host {socket.gethostname()} since " in err
        assert (w / "evaluation.json").read_text() == "the other run's evidence"
    finally:
        holder.kill()
        holder.wait()
    from trainguard.pipelines.local.workdir import lock_workdir

    with lock_workdir(w), lock_workdir(w):  # free again once the holder is gone; re-entrant in a process
        assert os.getpid() == json.loads((w / ".trainguard.lock").read_text())["pid"]


def test_bad_data_messages_name_the_users_file_not_the_container_path(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = _csv(tmp_path / "mine.csv", bad=True)
    code = main(["run", "--local", "--data", str(data), "--target", "label", "--workdir", str(tmp_path / "w"),
                 "--registry", str(tmp_path / "r.db"), *FAST_ARGS])
    err = capsys.readouterr().err
    assert code == 2
    assert f"{data}: " in err and "/opt/ml/" not in err


def test_a_symlink_loop_or_dangling_link_is_not_called_missing(tmp_path: Path) -> None:
    a, b = tmp_path / "a.csv", tmp_path / "b.csv"
    a.symlink_to(b)
    b.symlink_to(a)
    with pytest.raises(DataError, match="is a loop of symbolic links"):
        run_local(data=a, target="label", workdir=tmp_path / "w")
    dangling = tmp_path / "d.csv"
    dangling.symlink_to(tmp_path / "gone.csv")
    with pytest.raises(DataError, match=r"is a symbolic link to .*gone\.csv, which does not exist"):
        run_local(data=dangling, target="label", workdir=tmp_path / "w")
