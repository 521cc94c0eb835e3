"""Column roles: which columns of a table are features, which are categories, the ID and the time.

``data.features`` / ``data.exclude`` choose the feature columns; ``data.id`` and
``data.timestamp`` are never features; ``data.categorical`` names columns to read as categories
even when they hold numbers, and any other column of text is read as categorical by itself. A
column that mixes numbers with a few stray words stays an error naming its rows. Columns the
config does not mention and that cannot be features as they are (free text, a different value on
every row, dates, too many distinct values) are reported together in one message that says how
to exclude them or give them a role. Everything here runs before any job trains.

A categorical column is held in ``Dataset.X`` as the index of its text in the column's
vocabulary (the sorted distinct texts, ``Dataset.categories[name]``) with NaN for missing: a
lossless, label-free spelling of the text. Which categories a model keeps is learned later, on
the fit rows only (``trainguard.training.encoding``).
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timezone
from typing import Any

import numpy as np

__all__ = ["ColumnPlan", "category_text", "id_texts", "is_missing_text", "parse_categorical", "parse_timestamps",
           "plan_columns", "unusable_message"]

_MISSING = frozenset({"", "na", "n/a", "nan", "null", "none"})
_SHOW = 3
_MIN_ROWS_FOR_ID = 20  # below this a column unique per row proves nothing
_DATE_TEXT = re.compile(r"^\d{4}-\d{2}-\d{2}([ T]\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?)?$")


@dataclass(frozen=True)
class ColumnPlan:
    """The roles of one table's columns, resolved against its header (indices into the header)."""

    features: list[int]
    """Feature columns, in table order."""
    categorical: frozenset[int]
    """Columns named in ``data.categorical`` (others may still be inferred from their text)."""
    mentioned: frozenset[int]
    """Columns the config names (features list, categorical): never reported as unusable."""
    id: int | None
    timestamp: int | None


def plan_columns(header: Sequence[str], data: Any, problems: list[str]) -> ColumnPlan:
    """Resolve ``data``'s column roles (a DataConfig) against ``header``; names not in it are problems."""
    index = {h: i for i, h in enumerate(header)}
    target = data.target
    named: list[tuple[str, str]] = [("data.features", c) for c in (data.features or [])]
    named += [("data.exclude", c) for c in data.exclude] + [("data.categorical", c) for c in data.categorical]
    named += [(k, c) for k, c in (("data.id", data.id), ("data.timestamp", data.timestamp)) if c is not None]
    missing = [(key, col) for key, col in named if col not in index]
    if missing:
        shown = ", ".join(f"{key} names {col!r}" for key, col in missing[:6])
        more = f" (+{len(missing) - 6} more)" if len(missing) > 6 else ""
        problems.append(f"the config names column(s) the table does not have: {shown}{more}. The "
                        f"table's columns are {_names(header)}; fix the names in the config.")
    roles = {index[c] for c in (data.id, data.timestamp) if c in index}
    if data.features is not None:
        chosen = {index[c] for c in data.features if c in index}
        features = [i for i, h in enumerate(header) if i in chosen and h != target and i not in roles]
    else:
        dropped = {index[c] for c in data.exclude if c in index} | roles
        features = [i for i, h in enumerate(header) if h != target and i not in dropped]
    categorical = frozenset(index[c] for c in data.categorical if c in index)
    mentioned = categorical | frozenset(index[c] for c in (data.features or []) if c in index)
    return ColumnPlan(features, categorical, mentioned, index.get(data.id) if data.id else None,
                      index.get(data.timestamp) if data.timestamp else None)


def is_missing_text(v: Any) -> bool:
    """True for None, NaN and the usual spellings of missing (empty, NA, n/a, nan, null, none)."""
    if v is None:
        return True
    if isinstance(v, float):
        return math.isnan(v)
    return isinstance(v, str) and v.strip().lower() in _MISSING


def category_text(v: Any) -> str | None:
    """One cell as its category text (None when missing): numbers spelled as written, 1.0 as '1'."""
    if is_missing_text(v):
        return None
    if isinstance(v, (bool, np.bool_)):
        return "true" if v else "false"
    if isinstance(v, (int, np.integer)):
        return str(int(v))
    if isinstance(v, (float, np.floating)):
        f = float(v)
        return str(int(f)) if f.is_integer() else repr(f)
    return str(v).strip()


def id_texts(values: Any) -> np.ndarray:
    """The ID column as its cell texts (object array; None when missing), as ``category_text``
    spells them: the key that joins a row's prediction to its ground truth."""
    if isinstance(values, np.ndarray) and values.dtype.kind == "f":
        values = values.tolist()
    out = np.empty(len(values), dtype=object)
    out[:] = [category_text(v) for v in values]
    return out


def parse_categorical(values: Any) -> tuple[np.ndarray, tuple[str, ...]]:
    """A column as (vocabulary index per row, NaN = missing; the sorted distinct texts)."""
    if isinstance(values, np.ndarray) and values.dtype.kind == "f":
        values = [None if v != v else v for v in values.tolist()]  # one key for every NaN
    raw: dict[Any, int] = {}
    setdefault = raw.setdefault
    first = np.fromiter((setdefault(v, len(raw)) for v in values), dtype=np.int64, count=len(values))
    texts = [category_text(v) for v in raw]
    vocab = tuple(sorted({t for t in texts if t is not None}))
    where = {t: float(k) for k, t in enumerate(vocab)}
    lut = np.array([math.nan if t is None else where[t] for t in texts], dtype=np.float64)
    return lut[first] if len(first) else np.empty(0), vocab


def text_column_kind(values: Sequence[Any], vocab: tuple[str, ...], n_present: int) -> str | None:
    """Why an unmentioned column of text cannot be a feature as it is, or None if it can."""
    if not vocab:
        return None
    if all(_DATE_TEXT.match(t) for t in vocab[:200]) and all(_DATE_TEXT.match(t) for t in vocab):
        return "dates"
    if n_present >= _MIN_ROWS_FOR_ID and len(vocab) == n_present:
        return "unique"
    return None


def unusable_message(items: list[tuple[str, str]], max_categories: int) -> str:
    """One message for every unmentioned column that cannot be a feature, with how to fix each."""
    words = {
        "dates": "dates as text (a time column: set data.timestamp to it, or exclude it)",
        "unique": "text with a different value on every row (an identifier or free text: set data.id "
                  "to it, or exclude it)",
        "many": f"text with more distinct values than data.max_categories={max_categories} (free "
                "text or an identifier: exclude it, or raise data.max_categories to use it as "
                "categories)",
    }
    shown = "; ".join(f"{name!r}: {words.get(kind, kind)}" for name, kind in items)
    names = ", ".join(name for name, _ in items)
    return (f"{len(items)} column(s) cannot be used as features as they are: {shown}. Leave them "
            f"out with data.exclude: [{names}] (or list the columns to train on in data.features), "
            "or give each its role (data.id, data.timestamp, data.categorical).")


def parse_timestamps(name: str, values: Any, lines: list[int] | None, problems: list[str], *,
                     required: bool) -> np.ndarray:
    """The time column as seconds since the epoch (UTC; NaN = missing); unparseable cells are problems.

    Accepts ISO 8601 dates and datetimes (``2024-03-01``, ``2024-03-01T12:00:00Z``, with an
    offset), epoch seconds as numbers, and Parquet timestamps. ``required`` (a time split) makes a
    missing cell a problem too.
    """
    if isinstance(values, np.ndarray) and values.dtype.kind == "f":
        out = values.astype(np.float64, copy=True)
        bad: list[tuple[int, Any]] = []
    else:
        seen: dict[Any, float | None] = {}
        out = np.empty(len(values), dtype=np.float64)
        bad = []
        for k, v in enumerate(values):
            t = seen[v] if v in seen else seen.setdefault(v, _seconds(v))
            if t is None:
                bad.append((k, v))
                out[k] = math.nan
            else:
                out[k] = t
    if bad:
        shown = [f"{_where(k, lines)} {v!r}" for k, v in bad[:_SHOW]]
        problems.append(f"time column {name!r} (data.timestamp) has {len(bad)} value(s) that are not "
                        f"a date or time: {_listing(shown, len(bad))}; write them as ISO 8601 "
                        "(2024-03-01 or 2024-03-01T12:30:00) or as epoch seconds.")
    if required:
        gaps = [k for k in np.flatnonzero(np.isnan(out)).tolist() if k not in {b for b, _ in bad}]
        if gaps:
            shown = [_where(k, lines) for k in gaps[:_SHOW]]
            problems.append(f"time column {name!r} has {len(gaps)} missing value(s): "
                            f"{_listing(shown, len(gaps))}; data.split=time orders rows by it, so "
                            "every row needs a time (fill them in or drop those rows).")
    return out


def _seconds(v: Any) -> float | None:
    """Seconds since the epoch for one cell; NaN for missing; None when it is not a time."""
    if is_missing_text(v):
        return math.nan
    if isinstance(v, datetime):
        return (v if v.tzinfo else v.replace(tzinfo=timezone.utc)).timestamp()
    if isinstance(v, date):
        return datetime(v.year, v.month, v.day, tzinfo=timezone.utc).timestamp()
    if isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, bool):
        return float(v) if math.isfinite(float(v)) else None
    text = str(v).strip()
    try:
        f = float(text)
        return f if math.isfinite(f) else None
    except ValueError:
        pass
    if not _DATE_TEXT.match(text):
        return None
    text = text[:-1] + "+00:00" if text.endswith("Z") else text
    if re.search(r"[+-]\d{4}$", text):
        text = text[:-2] + ":" + text[-2:]
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        return None
    return (when if when.tzinfo else when.replace(tzinfo=timezone.utc)).timestamp()


def _where(k: int, lines: list[int] | None) -> str:
    return f"row {k + 1} (line {lines[k]})" if lines else f"row {k + 1}"


def _listing(items: list[str], total: int) -> str:
    more = f" (+{total - len(items)} more)" if total > len(items) else ""
    return ", ".join(items) + more


def _names(names: Sequence[str]) -> str:
    shown = ", ".join(repr(n) for n in names[:20])
    return shown + (f" and {len(names) - 20} more" if len(names) > 20 else "")
