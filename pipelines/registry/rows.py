"""Rows of the local registry's tables, and the checks values pass before they are written."""

from __future__ import annotations

import getpass
import json
import math
import re
import sqlite3
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from trainguard.pipelines.registry.base import (
    STATUSES,
    Package,
    PackageNotFoundError,
    RegistryError,
    StatusChange,
    metric_value,
)

__all__ = ["check_group", "check_group_exists", "check_status", "current_user", "find_package",
           "insert_audit", "insert_metrics", "load_package", "metric_rows", "now", "to_json"]

_GROUP_NAME = re.compile(r"^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}$")  # SageMaker's rule for group names


def find_package(db: sqlite3.Connection, path: Path, group: str, version: int) -> tuple[int, str]:
    """(row id, status) of one package; PackageNotFoundError names the versions there are."""
    check_group_exists(db, path, group)
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


def check_group_exists(db: sqlite3.Connection, path: Path, group: str) -> None:
    """PackageNotFoundError naming the known groups unless ``group`` has a row."""
    if db.execute("SELECT 1 FROM model_package_groups WHERE name = ?", (group,)).fetchone():
        return
    known = [r[0] for r in db.execute("SELECT name FROM model_package_groups ORDER BY name")]
    listing = ", ".join(known) if known else "none yet"
    raise PackageNotFoundError(
        f"no model package group {group!r} in {path} (groups: {listing}); check the name or "
        "register a model in it first.")


def load_package(db: sqlite3.Connection, group: str, version: int) -> Package:
    """One package with its metrics and its audit history."""
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


def insert_metrics(db: sqlite3.Connection, package_id: int | None,
                    rows: list[tuple[str, float | None]]) -> None:
    """The package's metric rows."""
    db.executemany("INSERT INTO package_metrics (package_id, name, value) VALUES (?, ?, ?)",
                   [(package_id, name, value) for name, value in rows])


def insert_audit(db: sqlite3.Connection, package_id: int | None, when: str, who: str,
                  from_status: str | None, to_status: str, reason: str | None) -> None:
    """One audit row: who moved the package from which status to which, when and why."""
    db.execute("INSERT INTO status_changes (package_id, changed_at, changed_by, from_status,"
               " to_status, reason) VALUES (?, ?, ?, ?, ?, ?)",
               (package_id, when, who, from_status, to_status, reason))


# -------------------------------------------------------------------- validation


def check_status(status: str) -> None:
    """RegistryError unless ``status`` is one of the approval statuses."""
    if status not in STATUSES:
        raise RegistryError(f"unknown approval status {status!r}; use one of "
                            f"{', '.join(STATUSES)} (spelled exactly so).")


def check_group(group: str) -> None:
    """RegistryError unless ``group`` is a name SageMaker accepts for a model package group."""
    if not isinstance(group, str) or not _GROUP_NAME.match(group):
        raise RegistryError(
            f"model package group name {group!r} is not valid; use 1-63 letters, digits and "
            "hyphens, starting and ending with a letter or digit (as SageMaker requires).")


def metric_rows(metrics: Mapping[str, Any]) -> list[tuple[str, float | None]]:
    """(name, value) rows of a metrics mapping, each value checked as a metric."""
    if not isinstance(metrics, Mapping):
        raise RegistryError(f"metrics must be a mapping of metric name to number; got "
                            f"{type(metrics).__name__}.")
    return [(str(name), metric_value(str(name), value)) for name, value in metrics.items()]


def to_json(value: Any, what: str) -> str:
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


def now() -> str:
    """The current UTC time as ISO 8601 with milliseconds and a Z."""
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def current_user() -> str:
    """The login name recorded on audit rows (``unknown`` when there is none)."""
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"
