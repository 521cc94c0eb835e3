"""The local SQLite model registry: versions, champion, audit, atomic writes, concurrency, bad input."""

from __future__ import annotations

import json
import re
import sqlite3
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import numpy as np
import pytest
from trainguard.pipelines.registry import (
    SCHEMA_VERSION,
    LocalRegistry,
    ModelRegistry,
    PackageNotFoundError,
    RegistryError,
    metrics_from_evaluation,
    rows,
)
from trainguard.pipelines.registry import local as registry_module
from trainguard.training.errors import TrainguardError

ISO_UTC = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")


def evaluation(auc: float = 0.93, approved: bool = True) -> dict:
    """A small evaluation.json in the documented layout."""
    return {
        "binary_classification_metrics": {
            "auc": {"value": auc, "standard_deviation": 0.0},
            "recall": {"value": 0.8, "standard_deviation": 0.0},
            "pr_auc": {"value": 0.7, "standard_deviation": 0.0},
            "confusion_matrix": {"0": {"0": 410, "1": 12}, "1": {"0": 7, "1": 31}},
        },
        "decision": {"approved": approved,
                     "reasons": ["auc 0.930 >= 0.750", "recall 0.800 >= 0.500"],
                     "checks": [], "champion": None},
    }


@pytest.fixture()
def reg(tmp_path: Path) -> LocalRegistry:
    return LocalRegistry(tmp_path / "nested" / "dir" / "registry.db")


def test_register_numbers_versions_per_group_and_round_trips_everything(reg: LocalRegistry) -> None:
    assert isinstance(reg, ModelRegistry)
    assert not reg.path.parent.exists()
    lineage = {"data_uri": "s3://bucket/data.csv", "hyperparameters": {"eta": 0.1},
               "cv_scores": [0.9, 0.91], "code_version": "abc123"}
    first = reg.register("fraud", "PendingManualApproval", {"auc": 0.91, "recall": 0.7},
                         evaluation(), lineage, "s3://bucket/model.tar.gz", "first try")
    second = reg.register("fraud", "Approved", {"auc": 0.92})
    other = reg.register("churn", "Rejected", {"auc": 0.5}, reason="auc below floor")
    assert reg.path.is_file()  # parent folders were created
    assert (first.version, second.version, other.version) == (1, 2, 1)
    got = reg.get("fraud", 1)
    assert got == first
    assert got.metrics == {"auc": 0.91, "recall": 0.7}
    assert got.lineage == lineage and got.model_uri == "s3://bucket/model.tar.gz"
    assert got.description == "first try" and got.evaluation == evaluation()
    assert ISO_UTC.match(got.created_at) and got.created_at == got.updated_at
    assert [(p.group, p.version) for p in reg.list()] == [("churn", 1), ("fraud", 1), ("fraud", 2)]
    assert [p.version for p in reg.list("fraud")] == [1, 2]
    assert reg.groups() == ["churn", "fraud"]
    assert other.status_reason == "auc below floor"
    json.dumps(got.to_dict())  # JSON ready
    with sqlite3.connect(reg.path) as db:
        assert db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
        assert db.execute("PRAGMA application_id").fetchone()[0] == registry_module.APPLICATION_ID


def test_metrics_and_reason_default_to_the_evaluation_report(reg: LocalRegistry) -> None:
    pkg = reg.register("fraud", "Approved", evaluation=evaluation(auc=0.88))
    assert pkg.metrics == {"auc": 0.88, "recall": 0.8, "pr_auc": 0.7}
    assert pkg.status_reason == "auc 0.930 >= 0.750; recall 0.800 >= 0.500"
    assert pkg.decision_reasons == ["auc 0.930 >= 0.750", "recall 0.800 >= 0.500"]
    assert metrics_from_evaluation(evaluation(auc=0.5))["auc"] == 0.5
    with pytest.raises(RegistryError, match="no 'binary_classification_metrics'"):
        metrics_from_evaluation({"decision": {}})
    with pytest.raises(RegistryError, match="neither metrics nor an evaluation report"):
        reg.register("fraud", "Approved")


def test_numpy_values_become_plain_numbers_and_nan_becomes_none(reg: LocalRegistry) -> None:
    pkg = reg.register("fraud", "Approved", {"auc": np.float32(0.75), "log_loss": float("nan")},
                       lineage={"cv_scores": np.array([0.8, 0.9]), "n": np.int64(3),
                                "gap": float("inf")})
    assert pkg.metrics["auc"] == pytest.approx(0.75) and pkg.metrics["log_loss"] is None
    assert pkg.lineage == {"cv_scores": [0.8, 0.9], "n": 3, "gap": None}


def test_champion_is_the_newest_approved_version(reg: LocalRegistry) -> None:
    assert reg.champion("fraud") is None  # no registry file yet
    assert not reg.path.exists()  # reads create nothing
    reg.register("fraud", "Approved", {"auc": 0.8})
    reg.register("fraud", "Approved", {"auc": 0.85})
    reg.register("fraud", "PendingManualApproval", {"auc": 0.9})
    reg.register("fraud", "Rejected", {"auc": 0.6})
    assert reg.champion("fraud").version == 2
    assert reg.champion("nobody") is None
    reg.set_status("fraud", 3, "Approved", "reviewed by risk")
    assert reg.champion("fraud").version == 3
    reg.set_status("fraud", 3, "Rejected", "drift found")
    reg.set_status("fraud", 2, "Rejected", "drift found")
    assert reg.champion("fraud").version == 1


def test_status_changes_are_audited_with_who_when_from_to_why(reg: LocalRegistry) -> None:
    reg.register("fraud", "PendingManualApproval", {"auc": 0.9}, actor="pipeline")
    approved = reg.set_status("fraud", 1, "Approved", "looks good", actor="alice")
    rejected = reg.set_status("fraud", 1, "Rejected", "label leak found", actor="bob")
    assert approved.status == "Approved" and rejected.status == "Rejected"
    assert rejected.status_reason == "label leak found"
    assert rejected.updated_at >= rejected.created_at
    rows = [(h.changed_by, h.from_status, h.to_status, h.reason) for h in rejected.history]
    assert rows == [("pipeline", None, "PendingManualApproval", None),
                    ("alice", "PendingManualApproval", "Approved", "looks good"),
                    ("bob", "Approved", "Rejected", "label leak found")]
    assert all(ISO_UTC.match(h.changed_at) for h in rejected.history)
    same = reg.set_status("fraud", 1, "Rejected", "again")
    assert len(same.history) == 3  # no change, no audit row


@pytest.mark.parametrize("call, message", [
    (lambda r: r.register("fraud", "approved", {"auc": 0.9}),
     "unknown approval status 'approved'.*Approved, Rejected, PendingManualApproval"),
    (lambda r: r.set_status("fraud", 1, "Done"), "unknown approval status 'Done'"),
    (lambda r: r.set_status("fraud", 1, "Rejected", "  "), "rejecting fraud/1 needs a reason"),
    (lambda r: r.get("fraud", 9), r"group 'fraud' has no version 9 \(versions: 1-2\)"),
    (lambda r: r.get("fruad", 1), r"no model package group 'fruad' .*\(groups: fraud\)"),
    (lambda r: r.set_status("fruad", 1, "Approved"), "no model package group 'fruad'"),
    (lambda r: r.list("fruad"), "no model package group 'fruad'"),
    (lambda r: r.register("bad name!", "Approved", {"auc": 0.9}), "group name 'bad name!' is not valid"),
    (lambda r: r.register("fraud", "Approved", {"auc": "high"}), "metric 'auc' must be a number"),
    (lambda r: r.register("fraud", "Approved", {"auc": 0.9}, lineage={"x": object()}),
     "lineage cannot be stored as JSON"),
])
def test_bad_input_names_the_problem_and_writes_nothing(reg: LocalRegistry, call, message) -> None:
    reg.register("fraud", "Approved", {"auc": 0.8})
    reg.register("fraud", "PendingManualApproval", {"auc": 0.9})
    before = reg.list()
    with pytest.raises(RegistryError, match=message) as info:
        call(reg)
    assert isinstance(info.value, TrainguardError) and info.value.exit_code == 2
    assert reg.list() == before


def test_unknown_group_or_version_is_a_lookup_error(reg: LocalRegistry) -> None:
    with pytest.raises(PackageNotFoundError, match=r"no registry at .*registry\.db"):
        reg.get("fraud", 1)
    reg.register("fraud", "Approved", {"auc": 0.8})
    with pytest.raises(LookupError):
        reg.get("fraud", 2)


def test_a_failure_midway_through_a_write_leaves_nothing(reg: LocalRegistry, monkeypatch) -> None:
    reg.register("fraud", "Approved", {"auc": 0.8})

    def fail(*args, **kwargs):
        raise RuntimeError("disk pulled out after the package row was inserted")

    monkeypatch.setattr(rows, "insert_audit", fail)
    with pytest.raises(RuntimeError, match="disk pulled out"):
        reg.register("fraud", "Approved", {"auc": 0.9})
    with pytest.raises(RuntimeError, match="disk pulled out"):
        reg.register("brand-new", "Approved", {"auc": 0.9})
    with pytest.raises(RuntimeError, match="disk pulled out"):
        reg.set_status("fraud", 1, "Rejected", "oops")
    monkeypatch.undo()
    assert [(p.group, p.version, p.status) for p in reg.list()] == [("fraud", 1, "Approved")]
    assert reg.groups() == ["fraud"]
    with sqlite3.connect(reg.path) as db:
        assert db.execute("SELECT count(*) FROM package_metrics").fetchone()[0] == 1
        assert db.execute("SELECT count(*) FROM status_changes").fetchone()[0] == 1
    assert reg.register("fraud", "Approved", {"auc": 0.9}).version == 2


def test_a_writer_killed_mid_transaction_leaves_nothing(reg: LocalRegistry) -> None:
    reg.register("fraud", "Approved", {"auc": 0.8})
    script = textwrap.dedent(f"""
        import os
        from trainguard.pipelines.registry import local as registry, rows
        def die(*args, **kwargs):
            os._exit(9)  # no rollback, no cleanup: as if the process were killed
        rows.insert_audit = die
        registry.LocalRegistry({str(reg.path)!r}).register("fraud", "Approved", {{"auc": 0.99}})
    """)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, timeout=60)
    assert done.returncode == 9, done.stderr
    assert [p.version for p in reg.list()] == [1]
    assert reg.register("fraud", "Approved", {"auc": 0.9}).version == 2


def test_concurrent_writers_get_distinct_versions(reg: LocalRegistry) -> None:
    reg.register("fraud", "Approved", {"auc": 0.5})  # create the file before the race
    script = textwrap.dedent(f"""
        import sys
        from trainguard.pipelines.registry import LocalRegistry
        reg = LocalRegistry({str(reg.path)!r})
        print(" ".join(str(reg.register("fraud", "PendingManualApproval", {{"auc": 0.9}}).version)
                       for _ in range(6)))
    """)
    procs = [subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
             for _ in range(2)]
    versions: list[int] = []
    errors: list[BaseException] = []

    def in_thread() -> None:
        try:
            versions.extend(LocalRegistry(reg.path).register("fraud", "Approved", {"auc": 0.7}).version
                            for _ in range(4))
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=in_thread) for _ in range(2)]
    for t in threads:
        t.start()
    for p in procs:
        out, _ = p.communicate(timeout=120)
        assert p.returncode == 0
        versions.extend(int(v) for v in out.split())
    for t in threads:
        t.join()
    assert not errors
    assert sorted(versions) == list(range(2, 2 + 2 * 6 + 2 * 4))
    assert [p.version for p in reg.list("fraud")] == list(range(1, 2 + 2 * 6 + 2 * 4))


def test_a_file_that_is_not_a_registry_is_refused_and_left_alone(tmp_path: Path) -> None:
    text_file = tmp_path / "notes.db"
    text_file.write_text("these are my notes, not a database\n" * 20)
    for call in (lambda r: r.list(), lambda r: r.register("fraud", "Approved", {"auc": 0.9})):
        with pytest.raises(RegistryError, match=r"notes.db is not a trainguard registry .*--registry"):
            call(LocalRegistry(text_file))
    assert text_file.read_text().startswith("these are my notes")

    foreign = tmp_path / "app.sqlite"
    with sqlite3.connect(foreign) as db:
        db.execute("CREATE TABLE users (name TEXT)")
    with pytest.raises(RegistryError, match="SQLite database but not a trainguard registry"):
        LocalRegistry(foreign).register("fraud", "Approved", {"auc": 0.9})
    with sqlite3.connect(foreign) as db:
        assert [r[0] for r in db.execute("SELECT name FROM sqlite_master")] == ["users"]

    with pytest.raises(RegistryError, match="is a folder"):
        LocalRegistry(tmp_path).list()


def test_a_newer_schema_is_refused_with_an_upgrade_hint(reg: LocalRegistry) -> None:
    reg.register("fraud", "Approved", {"auc": 0.9})
    with sqlite3.connect(reg.path) as db:
        db.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    with pytest.raises(RegistryError, match=r"schema version 2, newer .* upgrade trainguard"):
        reg.list()


def test_an_empty_file_reads_as_an_empty_registry_and_becomes_one_on_write(tmp_path: Path) -> None:
    empty = tmp_path / "registry.db"
    empty.touch()
    reg = LocalRegistry(empty)
    assert reg.list() == [] and reg.champion("fraud") is None
    assert reg.register("fraud", "Approved", {"auc": 0.9}).version == 1


def test_the_registry_and_report_modules_never_import_the_aws_sdk() -> None:
    code = ("import sys, trainguard.pipelines.registry, trainguard.pipelines.report; "
            "bad = [m for m in ('sagemaker', 'boto3', 'botocore') if m in sys.modules]; "
            "print(bad); sys.exit(1 if bad else 0)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr


def test_champion_is_the_most_recently_approved_not_the_highest_version(reg: LocalRegistry) -> None:
    reg.register("fraud", "PendingManualApproval", {"auc": 0.91})
    reg.register("fraud", "Approved", {"auc": 0.93})
    assert reg.champion("fraud").version == 2
    reg.set_status("fraud", 1, "Approved", "reviewed: the older model generalises better")
    assert reg.champion("fraud").version == 1
    reg.set_status("fraud", 1, "Rejected", "rolled back")
    assert reg.champion("fraud").version == 2  # the last approval still standing


def test_foreign_keys_are_enforced(reg: LocalRegistry) -> None:
    reg.register("fraud", "Approved", {"auc": 0.93})
    with pytest.raises(sqlite3.IntegrityError), reg._transaction(write=True) as db:
        assert db.execute("PRAGMA foreign_keys").fetchone()[0] == 1
        db.execute("INSERT INTO package_metrics (package_id, name, value) VALUES (999, 'auc', 1)")
    assert reg.get("fraud", 1).metrics == {"auc": 0.93}


def test_champion_bar_of_reads_the_champion_and_never_silently_drops_it(reg: LocalRegistry) -> None:
    from trainguard.pipelines.registry import champion_bar_of
    from trainguard.training.config import load_config

    cfg = load_config(None, {"registry.model_package_group": "fraud", "approval.champion_margin": 0.005})
    assert champion_bar_of(reg, cfg).value == 0.0 and champion_bar_of(reg, cfg).champion is None
    reg.register("fraud", "Approved", {"auc": 0.9})
    found = champion_bar_of(reg, cfg)
    assert found.value == pytest.approx(0.905) and found.champion.version == 1 and found.note is None
    reg.register("fraud", "Approved", {"auc": 0.998})
    found = champion_bar_of(reg, cfg)
    assert found.value == pytest.approx(0.998) and "capped" in found.note
    reg.register("fraud", "Approved", {"recall": 0.8})  # no auc recorded
    with pytest.raises(RegistryError, match=r"has no auc recorded.*ChampionBar"):
        champion_bar_of(reg, cfg)


def _corrupt_a_page(path: Path) -> None:
    """Overwrite the middle of the file (past the header page) with garbage, as a bad disk would."""
    data = bytearray(path.read_bytes())
    page = 4096
    assert len(data) > 3 * page
    data[page + 50: 2 * page + 500] = b"\xde\xad\xbe\xef" * ((page + 450) // 4)
    path.write_bytes(bytes(data))


def test_a_damaged_registry_says_so_how_to_check_and_where_the_backup_is(tmp_path: Path) -> None:
    path = tmp_path / "reg.db"
    reg = LocalRegistry(path)
    for i in range(40):
        reg.register("g", "PendingManualApproval", metrics={"auc": 0.5 + i / 100},
                     evaluation={"blob": "x" * 200, "binary_classification_metrics": {}})
    backup = path.with_name("reg.db.bak")
    assert backup.is_file()
    assert [p.version for p in LocalRegistry(backup).list()] == list(range(1, 41))
    good = backup.read_bytes()
    _corrupt_a_page(path)
    for action in (lambda: reg.list(), lambda: reg.register("g", "Approved", metrics={"auc": 1.0}),
                   lambda: reg.get("g", 3)):
        with pytest.raises(RegistryError) as exc:
            action()
        text = str(exc.value)
        assert "is damaged" in text and "PRAGMA integrity_check" in text and str(backup) in text
        assert "new path" not in text
    assert backup.read_bytes() == good  # a damaged registry never overwrites the good backup
    path.write_bytes(path.read_bytes()[:10])  # truncated inside the magic string
    with pytest.raises(RegistryError, match=r"not an SQLite database .*backup is beside it .*cp "):
        reg.list()
    path.write_bytes(good)
    assert len(reg.list()) == 40


def test_a_truncated_registry_without_backup_is_not_called_expendable(tmp_path: Path) -> None:
    path = tmp_path / "reg.db"
    LocalRegistry(path).register("g", "PendingManualApproval", metrics={"auc": 0.7})
    path.with_name("reg.db.bak").unlink()
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(RegistryError) as exc:
        LocalRegistry(path).list()
    assert "damaged" in str(exc.value) and "Traceback" not in str(exc.value)
