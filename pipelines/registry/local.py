"""The local model registry: SageMaker model package groups, versions and approvals in one SQLite file.

A group holds versions 1, 2, ... (like ``ModelPackageVersion``), each with an approval status,
its holdout metrics, the evaluation report, lineage, the model artifact URI and an audit of every
status change. The champion of a group is its most recently approved package. ``LocalRegistry``
is the embedded ``ModelRegistry``; ``trainguard.pipelines.registry.sagemaker`` is its sibling.
Every write is one ``BEGIN IMMEDIATE`` transaction: a failed or interrupted write leaves nothing
behind, and concurrent writers get distinct versions.
"""

from __future__ import annotations

import contextlib
import getpass
import json
import math
import os
import re
import sqlite3
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from trainguard.pipelines.registry.base import (
    STATUSES,
    ModelRegistry,
    Package,
    PackageNotFoundError,
    RegistryError,
    StatusChange,
    decision_reasons,
    metric_value,
    metrics_from_evaluation,
)
from trainguard.training.files import write_bytes

__all__ = ["APPLICATION_ID", "SCHEMA_VERSION", "LocalRegistry", "open_registry"]

SCHEMA_VERSION = 1
"""Recorded as ``PRAGMA user_version``; a later schema migrates from the number it finds."""

APPLICATION_ID = 0x54475247  # "TGRG": marks the SQLite file as a trainguard registry
_GROUP_NAME = re.compile(r"^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}$")  # SageMaker's rule for group names
_BUSY_TIMEOUT_SECONDS = 30.0


def open_registry(path: str | os.PathLike[str]) -> LocalRegistry:
    """The registry at ``path`` (the config's ``registry.local_path``); nothing is created until a write."""
    return LocalRegistry(path)


class LocalRegistry(ModelRegistry):
    """The embedded registry: one SQLite file, one connection and one transaction per operation."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)

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
        _check_group(group)
        _check_status(status)
        if metrics is None:
            if evaluation is None:
                raise RegistryError(
                    f"register({group!r}) got neither metrics nor an evaluation report; pass the "
                    "holdout metrics or the evaluation.json they come from.")
            metrics = metrics_from_evaluation(evaluation)
        metric_rows = _metric_rows(metrics)
        evaluation_json = _to_json(evaluation, "evaluation") if evaluation is not None else None
        lineage_json = _to_json({**(lineage or {}), **({"registration_key": registration_key}
                                                       if registration_key else {})}, "lineage")
        if reason is None and evaluation is not None:
            reason = "; ".join(decision_reasons(evaluation)) or None
        who = actor or _current_user()
        now = _now()
        with self._transaction(write=True) as db:
            assert db is not None
            if registration_key:
                done = db.execute("SELECT version FROM model_packages WHERE group_name = ? AND"
                                  " json_extract(lineage, '$.registration_key') = ?",
                                  (group, registration_key)).fetchone()
                if done is not None:
                    return _load(db, group, done[0])
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
            _insert_metrics(db, package_id, metric_rows)
            _insert_audit(db, package_id, now, who, None, status, reason)
            return _load(db, group, version)

    def set_status(self, group: str, version: int, status: str, reason: str | None = None, *,
                   actor: str | None = None) -> Package:
        """Move a package to ``status`` with an audit row; rejecting needs a reason.

        Setting the status a package already has changes nothing and records nothing.
        """
        _check_status(status)
        if status == "Rejected" and not (reason and reason.strip()):
            raise RegistryError(
                f"rejecting {group}/{version} needs a reason; say why (e.g. --reason 'recall too "
                "low on the new holdout').")
        who = actor or _current_user()
        now = _now()
        with self._transaction(write=True) as db:
            assert db is not None
            package_id, current = _find(db, self.path, group, version)
            if current == status:
                return _load(db, group, version)
            db.execute("UPDATE model_packages SET status = ?, status_reason = ?, updated_at = ?"
                       " WHERE id = ?", (status, reason, now, package_id))
            _insert_audit(db, package_id, now, who, current, status, reason)
            return _load(db, group, version)

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
            return _load(db, group, row[0]) if row is not None else None

    def list(self, group: str | None = None) -> list[Package]:
        """All packages (or one group's), by group then version; an unknown group is an error."""
        with self._transaction(write=False) as db:
            if db is None:
                if group is not None:
                    raise PackageNotFoundError(self._missing_message(f"group {group!r}"))
                return []
            if group is not None:
                _check_group_exists(db, self.path, group)
                rows = db.execute("SELECT group_name, version FROM model_packages WHERE group_name = ?"
                                  " ORDER BY version", (group,)).fetchall()
            else:
                rows = db.execute("SELECT group_name, version FROM model_packages"
                                  " ORDER BY group_name, version").fetchall()
            return [_load(db, g, v) for g, v in rows]

    def get(self, group: str, version: int) -> Package:
        """One package; PackageNotFoundError names the versions that do exist."""
        with self._transaction(write=False) as db:
            if db is None:
                raise PackageNotFoundError(self._missing_message(f"{group}/{version}"))
            _find(db, self.path, group, version)
            return _load(db, group, version)

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

    @contextlib.contextmanager
    def _transaction(self, *, write: bool) -> Iterator[sqlite3.Connection | None]:
        """One connection, one transaction: committed on success, rolled back on any error.

        Yields None for a read of a registry file that does not exist (nothing is created).
        """
        if self.path.is_dir():
            raise RegistryError(f"registry path {self.path} is a folder; point --registry / "
                                "registry.local_path at a file, e.g. .trainguard/registry.db.")
        if not write and not self.path.exists():
            yield None
            return
        if write:
            try:
                self.path.parent.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise RegistryError(f"cannot create the registry folder {self.path.parent}: "
                                    f"{exc.strerror}; choose a writable registry.local_path.") from None
        try:
            db = sqlite3.connect(self.path, timeout=_BUSY_TIMEOUT_SECONDS, isolation_level=None)
        except sqlite3.Error as exc:
            raise RegistryError(f"cannot open the registry {self.path}: {exc}; check the path and "
                                "its permissions.") from None
        try:
            try:
                db.execute("PRAGMA foreign_keys = ON")  # the schema's REFERENCES are enforced
                db.execute("BEGIN IMMEDIATE" if write else "BEGIN")
                ready = _prepare_schema(db, self.path, write=write)
            except sqlite3.DatabaseError as exc:
                raise self._not_a_registry(exc) from None
            try:
                yield db if ready else None
            except BaseException:
                with contextlib.suppress(sqlite3.Error):
                    db.execute("ROLLBACK")
                raise
            db.execute("COMMIT")
            if write:
                self._backup(db)
        except sqlite3.OperationalError as exc:
            if db.in_transaction:
                with contextlib.suppress(sqlite3.Error):
                    db.execute("ROLLBACK")
            raise RegistryError(f"the registry {self.path} could not be written: {exc}; if another "
                                "process holds it, retry when it is done.") from None
        except sqlite3.DatabaseError as exc:  # a damaged page met mid-query: never a traceback
            if getattr(exc, "sqlite_errorcode", None) not in _DAMAGE_CODES:
                raise
            raise self._damaged(exc) from None
        finally:
            db.close()

    @property
    def backup_path(self) -> Path:
        """The rolling backup: a copy of the registry as it was after its last good write."""
        return self.path.with_name(self.path.name + ".bak")

    def _backup(self, db: sqlite3.Connection) -> None:
        """After a committed write, copy the registry to ``backup_path`` if it checks out whole.

        Best effort: a failed backup never fails the write it follows, and a registry that does
        not pass ``PRAGMA quick_check`` is never copied over the last good backup.
        """
        try:
            if db.execute("PRAGMA quick_check").fetchone()[0] != "ok":
                return
            write_bytes(self.backup_path, db.serialize())
        except (sqlite3.Error, OSError):
            return

    def _damaged(self, exc: sqlite3.DatabaseError) -> RegistryError:
        bak = self.backup_path
        if bak.is_file():
            when = datetime.fromtimestamp(bak.stat().st_mtime, UTC).isoformat(timespec="seconds")
            backup = (f"a backup from its last good write ({when.replace('+00:00', 'Z')}) is at {bak}: "
                      f"keep the damaged file aside and restore it with 'cp {bak} {self.path}'")
        else:
            backup = f"no backup was found at {bak}"
        return RegistryError(
            f"the registry {self.path} is damaged ({exc}); check it with "
            f"\"sqlite3 {self.path} 'PRAGMA integrity_check'\"; {backup}. Nothing was changed.")

    def _not_a_registry(self, exc: sqlite3.DatabaseError) -> RegistryError:
        if getattr(exc, "sqlite_errorcode", None) in _DAMAGE_CODES and _sqlite_header(self.path):
            return self._damaged(exc)  # an SQLite file, so ours or someone's, whose pages are broken
        if not isinstance(exc, sqlite3.OperationalError) and self.backup_path.is_file():
            return RegistryError(
                f"{self.path} is not an SQLite database ({exc}), but a registry backup is beside it "
                f"at {self.backup_path}: if {self.path.name} was that registry, it is damaged "
                f"(truncated or overwritten); keep it aside and restore with "
                f"'cp {self.backup_path} {self.path}'.")
        if getattr(exc, "sqlite_errorcode", None) in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED):
            return RegistryError(f"the registry {self.path} stayed locked by another process for "
                                 f"{_BUSY_TIMEOUT_SECONDS:.0f} s; retry when it is done.")
        if isinstance(exc, sqlite3.OperationalError):
            return RegistryError(f"cannot use the registry {self.path} ({exc}); check that the file "
                                 "and its folder are readable and writable.")
        return RegistryError(
            f"{self.path} is not a trainguard registry ({exc}); point --registry / "
            "registry.local_path at a registry file or at a new path to create one. If this file "
            "held your registry it is damaged past its header: keep it (do not start a new one "
            f"over it) and restore a copy; trainguard keeps one at {self.backup_path.name} beside "
            "the registry after every write.")


_DAMAGE_CODES = (getattr(sqlite3, "SQLITE_CORRUPT", 11), getattr(sqlite3, "SQLITE_NOTADB", 26))
"""SQLite's result codes for a damaged file (not a constraint or a programming error)."""


def _sqlite_header(path: Path) -> bool:
    """True when the file starts with SQLite's magic string (so damage, not a foreign file)."""
    try:
        with path.open("rb") as fh:
            return fh.read(16) == b"SQLite format 3\x00"
    except OSError:
        return False


# -------------------------------------------------------------------- schema

_SCHEMA = """
CREATE TABLE model_package_groups (
    name TEXT PRIMARY KEY,
    created_at TEXT NOT NULL
);
CREATE TABLE model_packages (
    id INTEGER PRIMARY KEY,
    group_name TEXT NOT NULL REFERENCES model_package_groups(name),
    version INTEGER NOT NULL CHECK (version >= 1),
    status TEXT NOT NULL CHECK (status IN ('Approved', 'Rejected', 'PendingManualApproval')),
    status_reason TEXT,
    description TEXT,
    model_uri TEXT,
    evaluation TEXT,
    lineage TEXT NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    UNIQUE (group_name, version)
);
CREATE TABLE package_metrics (
    package_id INTEGER NOT NULL REFERENCES model_packages(id),
    name TEXT NOT NULL,
    value REAL,
    PRIMARY KEY (package_id, name)
);
CREATE TABLE status_changes (
    id INTEGER PRIMARY KEY,
    package_id INTEGER NOT NULL REFERENCES model_packages(id),
    changed_at TEXT NOT NULL,
    changed_by TEXT NOT NULL,
    from_status TEXT,
    to_status TEXT NOT NULL,
    reason TEXT
);
CREATE INDEX status_changes_by_package ON status_changes (package_id, id);
"""


def _prepare_schema(db: sqlite3.Connection, path: Path, *, write: bool) -> bool:
    """Check the file is ours (or empty) and bring its schema to SCHEMA_VERSION inside the transaction.

    Returns False for a read of an empty SQLite file (nothing registered yet), True otherwise.
    """
    app_id = db.execute("PRAGMA application_id").fetchone()[0]
    version = db.execute("PRAGMA user_version").fetchone()[0]
    tables = db.execute("SELECT count(*) FROM sqlite_master").fetchone()[0]
    if app_id == 0 and tables == 0:
        if write:
            for statement in _SCHEMA.split(";"):
                if statement.strip():
                    db.execute(statement)
            db.execute(f"PRAGMA application_id = {APPLICATION_ID}")
            db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
            return True
        return False
    if app_id != APPLICATION_ID:
        raise RegistryError(
            f"{path} is an SQLite database but not a trainguard registry (it has other tables); "
            "point --registry / registry.local_path at a registry file or at a new path to create one.")
    if version > SCHEMA_VERSION:
        raise RegistryError(
            f"{path} has registry schema version {version}, newer than this trainguard knows "
            f"({SCHEMA_VERSION}); upgrade trainguard to read it.")
    # Later schema versions migrate here, one step at a time, from `version` to SCHEMA_VERSION.
    return True


# -------------------------------------------------------------------- rows


def _find(db: sqlite3.Connection, path: Path, group: str, version: int) -> tuple[int, str]:
    _check_group_exists(db, path, group)
    row = db.execute("SELECT id, status FROM model_packages WHERE group_name = ? AND version = ?",
                     (group, version)).fetchone()
    if row is None:
        versions = [r[0] for r in db.execute(
            "SELECT version FROM model_packages WHERE group_name = ? ORDER BY version", (group,))]
        have = _ranges(versions) if versions else "none"
        raise PackageNotFoundError(
            f"model package group {group!r} has no version {version} (versions: {have}) in {path}; "
            f"run 'trainguard registry list --group {group}' to see them.")
    return row[0], row[1]


def _check_group_exists(db: sqlite3.Connection, path: Path, group: str) -> None:
    if db.execute("SELECT 1 FROM model_package_groups WHERE name = ?", (group,)).fetchone():
        return
    known = [r[0] for r in db.execute("SELECT name FROM model_package_groups ORDER BY name")]
    listing = ", ".join(known) if known else "none yet"
    raise PackageNotFoundError(
        f"no model package group {group!r} in {path} (groups: {listing}); check the name or "
        "register a model in it first.")


def _load(db: sqlite3.Connection, group: str, version: int) -> Package:
    row = db.execute(
        "SELECT id, status, status_reason, description, model_uri, evaluation, lineage,"
        " created_at, updated_at FROM model_packages WHERE group_name = ? AND version = ?",
        (group, version)).fetchone()
    package_id, status, reason, description, model_uri, evaluation, lineage, created, updated = row
    metrics = {name: value for name, value in db.execute(
        "SELECT name, value FROM package_metrics WHERE package_id = ? ORDER BY rowid", (package_id,))}
    history = tuple(StatusChange(*r) for r in db.execute(
        "SELECT changed_at, changed_by, from_status, to_status, reason FROM status_changes"
        " WHERE package_id = ? ORDER BY id", (package_id,)))
    return Package(group=group, version=version, status=status, metrics=metrics,
                   evaluation=json.loads(evaluation) if evaluation is not None else None,
                   lineage=json.loads(lineage), model_uri=model_uri, description=description,
                   status_reason=reason, created_at=created, updated_at=updated, history=history)


def _insert_metrics(db: sqlite3.Connection, package_id: int | None,
                    rows: list[tuple[str, float | None]]) -> None:
    db.executemany("INSERT INTO package_metrics (package_id, name, value) VALUES (?, ?, ?)",
                   [(package_id, name, value) for name, value in rows])


def _insert_audit(db: sqlite3.Connection, package_id: int | None, when: str, who: str,
                  from_status: str | None, to_status: str, reason: str | None) -> None:
    db.execute("INSERT INTO status_changes (package_id, changed_at, changed_by, from_status,"
               " to_status, reason) VALUES (?, ?, ?, ?, ?, ?)",
               (package_id, when, who, from_status, to_status, reason))


# -------------------------------------------------------------------- validation


def _check_status(status: str) -> None:
    if status not in STATUSES:
        raise RegistryError(f"unknown approval status {status!r}; use one of "
                            f"{', '.join(STATUSES)} (spelled exactly so).")


def _check_group(group: str) -> None:
    if not isinstance(group, str) or not _GROUP_NAME.match(group):
        raise RegistryError(
            f"model package group name {group!r} is not valid; use 1-63 letters, digits and "
            "hyphens, starting and ending with a letter or digit (as SageMaker requires).")


def _metric_rows(metrics: Mapping[str, Any]) -> list[tuple[str, float | None]]:
    if not isinstance(metrics, Mapping):
        raise RegistryError(f"metrics must be a mapping of metric name to number; got "
                            f"{type(metrics).__name__}.")
    return [(str(name), metric_value(str(name), value)) for name, value in metrics.items()]


def _to_json(value: Any, what: str) -> str:
    """JSON text of ``value``; numpy-like scalars and arrays become plain numbers, NaN becomes null."""
    try:
        return json.dumps(_plain(value), allow_nan=False, sort_keys=False)
    except (TypeError, ValueError) as exc:
        raise RegistryError(f"the {what} cannot be stored as JSON ({exc}); pass plain numbers, "
                            "strings, lists and mappings.") from None


def _plain(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, (str, int, bool)) or value is None:
        return value
    for method in ("tolist", "item"):  # numpy arrays and scalars, without importing numpy
        if callable(getattr(value, method, None)):
            return _plain(getattr(value, method)())
    raise TypeError(f"{type(value).__name__} value {value!r} is not JSON serializable")


def _ranges(versions: list[int]) -> str:
    """'1-3, 5' for [1, 2, 3, 5]: short listings in messages."""
    parts: list[str] = []
    start = prev = versions[0]
    for v in [*versions[1:], None]:
        if v is not None and v == prev + 1:
            prev = v
            continue
        parts.append(str(start) if start == prev else f"{start}-{prev}")
        if v is not None:
            start = prev = v
    return ", ".join(parts)


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _current_user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"
