"""The local registry's SQLite file: one transaction per operation, its schema, its backup.

Every write is one ``BEGIN IMMEDIATE`` transaction: a failed or interrupted write leaves nothing
behind, and concurrent writers queue. After each committed write a checked copy goes to a rolling
backup; a damaged, foreign or locked file is reported with what to do, never with a traceback.
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

from trainguard.pipelines.registry.base import RegistryError
from trainguard.training.files import write_bytes

__all__ = ["APPLICATION_ID", "SCHEMA_VERSION", "RegistryFile", "prepare_schema"]

SCHEMA_VERSION = 1
"""Recorded as ``PRAGMA user_version``; a later schema migrates from the number it finds."""

APPLICATION_ID = 0x54475247  # "TGRG": marks the SQLite file as a trainguard registry
_BUSY_TIMEOUT_SECONDS = 30.0


class RegistryFile:
    """The registry file at ``path``: transactions on it and what to say when it is not usable."""

    def __init__(self, path: Path) -> None:
        self.path = path

    @contextlib.contextmanager
    def transaction(self, *, write: bool) -> Iterator[sqlite3.Connection | None]:
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
                ready = prepare_schema(db, self.path, write=write)
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


def prepare_schema(db: sqlite3.Connection, path: Path, *, write: bool) -> bool:
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
