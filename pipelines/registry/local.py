"""The local model registry: SageMaker model package groups, versions and approvals in one SQLite file.

A group holds versions 1, 2, ... (like ``ModelPackageVersion``), each with an approval status,
its holdout metrics, the evaluation report, lineage, the model artifact URI and an audit of every
status change. The champion of a group is its most recently approved package. ``LocalRegistry``
is the embedded ``ModelRegistry``; ``trainguard.pipelines.registry.sagemaker`` is its sibling.
Every write is one ``BEGIN IMMEDIATE`` transaction (``sqlite_file``): a failed or interrupted
write leaves nothing behind, and concurrent writers get distinct versions; ``rows`` reads and
writes the tables.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Mapping
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

from trainguard.pipelines.registry import rows
from trainguard.pipelines.registry.base import (
    ModelRegistry,
    Package,
    PackageNotFoundError,
    RegistryError,
    decision_reasons,
    metrics_from_evaluation,
)
from trainguard.pipelines.registry.sqlite_file import APPLICATION_ID, SCHEMA_VERSION, RegistryFile

__all__ = ["APPLICATION_ID", "SCHEMA_VERSION", "LocalRegistry", "open_registry"]


def open_registry(path: str | os.PathLike[str]) -> LocalRegistry:
    """The registry at ``path`` (the config's ``registry.local_path``); nothing is created until a write."""
    return LocalRegistry(path)


class LocalRegistry(ModelRegistry):
    """The embedded registry: one SQLite file, one connection and one transaction per operation."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self._file = RegistryFile(self.path)

    def __repr__(self) -> str:
        return f"LocalRegistry({str(self.path)!r})"

    def exists(self) -> bool:
        """True when the registry file is there (reads of a missing registry see nothing)."""
        return self.path.is_file()

    # ---------------------------------------------------------------- writes

    def register(self, group: str, status: str, metrics: Mapping[str, Any] | None = None,
                 evaluation: Mapping[str, Any] | None = None,
                 lineage: Mapping[str, Any] | None = None, model_uri: str | None = None,
                 description: str | None = None, *, reason: str | None = None,
                 actor: str | None = None, registration_key: str | None = None) -> Package:
        """Add the next version of ``group`` with ``status``; metrics default to the evaluation's.

        ``reason`` (default: the evaluation's decision reasons) is recorded on the first audit row.
        ``registration_key`` (the local run passes its execution id, step and work dir) makes the
        call idempotent: when a package of ``group`` already carries that key, it is returned and
        nothing is written, so a rerun after a crash never registers the same execution twice.
        Raises RegistryError for a bad group name, status or unserializable value; then nothing is
        written.
        """
        rows.check_group(group)
        rows.check_status(status)
        if metrics is None:
            if evaluation is None:
                raise RegistryError(
                    f"register({group!r}) got neither metrics nor an evaluation report; pass the "
                    "holdout metrics or the evaluation.json they come from.")
            metrics = metrics_from_evaluation(evaluation)
        metric_rows = rows.metric_rows(metrics)
        evaluation_json = rows.to_json(evaluation, "evaluation") if evaluation is not None else None
        lineage_json = rows.to_json({**(lineage or {}), **({"registration_key": registration_key}
                                                       if registration_key else {})}, "lineage")
        if reason is None and evaluation is not None:
            reason = "; ".join(decision_reasons(evaluation)) or None
        who = actor or rows.current_user()
        now = rows.now()
        with self._transaction(write=True) as db:
            assert db is not None
            if registration_key:
                done = db.execute("SELECT version FROM model_packages WHERE group_name = ? AND"
                                  " json_extract(lineage, '$.registration_key') = ?",
                                  (group, registration_key)).fetchone()
                if done is not None:
                    return rows.load_package(db, group, done[0])
            db.execute("INSERT OR IGNORE INTO model_package_groups (name, created_at) VALUES (?, ?)",
                       (group, now))
            (version,) = db.execute(
                "SELECT COALESCE(MAX(version), 0) + 1 FROM model_packages WHERE group_name = ?",
                (group,)).fetchone()
            cur = db.execute(
                "INSERT INTO model_packages (group_name, version, status, status_reason, description,"
                " model_uri, evaluation, lineage, created_at, updated_at)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (group, version, status, reason, description, model_uri, evaluation_json,
                 lineage_json, now, now))
            package_id = cur.lastrowid
            rows.insert_metrics(db, package_id, metric_rows)
            rows.insert_audit(db, package_id, now, who, None, status, reason)
            return rows.load_package(db, group, version)

    def set_status(self, group: str, version: int, status: str, reason: str | None = None, *,
                   actor: str | None = None) -> Package:
        """Move a package to ``status`` with an audit row; rejecting needs a reason.

        Setting the status a package already has changes nothing and records nothing.
        """
        rows.check_status(status)
        if status == "Rejected" and not (reason and reason.strip()):
            raise RegistryError(
                f"rejecting {group}/{version} needs a reason; say why (e.g. --reason 'recall too "
                "low on the new holdout').")
        who = actor or rows.current_user()
        now = rows.now()
        with self._transaction(write=True) as db:
            assert db is not None
            package_id, current = rows.find_package(db, self.path, group, version)
            if current == status:
                return rows.load_package(db, group, version)
            db.execute("UPDATE model_packages SET status = ?, status_reason = ?, updated_at = ?"
                       " WHERE id = ?", (status, reason, now, package_id))
            rows.insert_audit(db, package_id, now, who, current, status, reason)
            return rows.load_package(db, group, version)

    # ---------------------------------------------------------------- reads

    def champion(self, group: str) -> Package | None:
        """The most recently approved package of ``group`` that is still Approved; None when none is.

        "Most recently approved" is what a reviewer means by approving an older version: it
        becomes the champion. The audit rows' order decides, not the version number.
        """
        with self._transaction(write=False) as db:
            if db is None:
                return None
            row = db.execute(
                "SELECT p.version FROM model_packages p JOIN status_changes s ON s.package_id = p.id"
                " WHERE p.group_name = ? AND p.status = 'Approved' AND s.to_status = 'Approved'"
                " ORDER BY s.id DESC LIMIT 1", (group,)).fetchone()
            return rows.load_package(db, group, row[0]) if row is not None else None

    def list(self, group: str | None = None) -> list[Package]:
        """All packages (or one group's), by group then version; an unknown group is an error."""
        with self._transaction(write=False) as db:
            if db is None:
                if group is not None:
                    raise PackageNotFoundError(self._missing_message(f"group {group!r}"))
                return []
            if group is not None:
                rows.check_group_exists(db, self.path, group)
                found = db.execute("SELECT group_name, version FROM model_packages WHERE group_name = ?"
                                   " ORDER BY version", (group,)).fetchall()
            else:
                found = db.execute("SELECT group_name, version FROM model_packages"
                                   " ORDER BY group_name, version").fetchall()
            return [rows.load_package(db, g, v) for g, v in found]

    def get(self, group: str, version: int) -> Package:
        """One package; PackageNotFoundError names the versions that do exist."""
        with self._transaction(write=False) as db:
            if db is None:
                raise PackageNotFoundError(self._missing_message(f"{group}/{version}"))
            rows.find_package(db, self.path, group, version)
            return rows.load_package(db, group, version)

    def groups(self) -> list[str]:
        """The names of all model package groups, sorted."""
        with self._transaction(write=False) as db:
            if db is None:
                return []
            return [r[0] for r in db.execute("SELECT name FROM model_package_groups ORDER BY name")]

    # ---------------------------------------------------------------- internals

    def _missing_message(self, what: str) -> str:
        return (f"no registry at {self.path}, so {what} does not exist; register a model first "
                "(trainguard run) or point --registry / registry.local_path at an existing registry.")

    def _transaction(self, *, write: bool) -> AbstractContextManager[sqlite3.Connection | None]:
        """One connection, one transaction (``RegistryFile.transaction``)."""
        return self._file.transaction(write=write)

    @property
    def backup_path(self) -> Path:
        """The rolling backup: a copy of the registry as it was after its last good write."""
        return self._file.backup_path
