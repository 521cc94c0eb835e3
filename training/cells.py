"""A table's columns as features and labels: every cell parsed, every bad one reported.

Numbers, missing values (``MISSING_TOKENS``), categorical and time columns, and the binary target
with its positive label; problems are collected per column with the rows that hold them, so one
DataError lists them all.
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Sequence
from typing import Any

import numpy as np
from trainguard.training.columns import parse_categorical, text_column_kind

__all__ = ["FAST_NAN", "MISSING_TOKENS", "POSITIVE_WORDS", "SHOW", "csv_line", "fast_floats", "is_missing", "name_list",
           "parse_feature", "parse_role_feature", "parse_target", "row_listing", "row_where"]

MISSING_TOKENS = frozenset({"", "na", "n/a", "nan", "null", "none"})
"""Cell texts (case-insensitive, stripped) read as a missing value."""

FAST_NAN = {t: "nan" for token in MISSING_TOKENS
             for t in (token, token.upper(), token.capitalize(), "NaN", "N/A")}

POSITIVE_WORDS = ("1", "true", "yes", "y", "positive", "pos")
SHOW = 3  # offending rows shown per column before "+N more"


def parse_role_feature(name: str, values: Any, lines: list[int] | None, problems: list[str],
                       explicit: bool, mentioned: bool, cap: int,
                       categories: dict[str, tuple[str, ...]],
                       unusable: list[tuple[str, str]]) -> np.ndarray:
    """One feature column under the config's roles: numbers, or categories (declared or text)."""
    if not explicit:
        if isinstance(values, np.ndarray):
            return parse_feature(name, values, lines, problems)
        try:
            return _check_finite(name, fast_floats(values), values, lines, problems)
        except (ValueError, TypeError):
            pass
        codes, vocab = parse_categorical(values)  # counted per distinct text, not per cell
        counts = np.bincount(codes[~np.isnan(codes)].astype(np.intp), minlength=len(vocab))
        numeric = sum(int(n) for word, n in zip(vocab, counts.tolist(), strict=True)
                      if not math.isnan(_cell(word)))
        if numeric * 2 >= int(counts.sum()):  # numbers with stray text: name the rows, as always
            out = parse_feature(name, values, lines, problems)
            if problems and problems[-1].startswith(f"column {name!r} has"):
                problems[-1] += (f" If {name!r} holds categories, list it in data.categorical; if it "
                                 "is not a feature, add it to data.exclude.")
            return out
    else:
        codes, vocab = parse_categorical(values)
    if len(vocab) > cap:
        if explicit or mentioned:
            problems.append(f"categorical column {name!r} has {len(vocab)} distinct values, more than "
                            f"data.max_categories={cap}: that many categories are an identifier or "
                            "free text, not a feature. Exclude it (data.exclude), or raise "
                            "data.max_categories if every value really is a category.")
        else:
            unusable.append((name, "many"))
        return codes
    if not (explicit or mentioned):
        kind = text_column_kind(values, vocab, int(np.count_nonzero(~np.isnan(codes))))
        if kind is not None:
            unusable.append((name, kind))
    categories[name] = vocab
    return codes


def _check_finite(name: str, out: np.ndarray, values: Any, lines: list[int] | None,
                  problems: list[str]) -> np.ndarray:
    inf = np.flatnonzero(np.isinf(out))
    if len(inf):
        shown = [f"{row_where(int(k), lines)} {values[int(k)]!r}" for k in inf[:SHOW]]
        problems.append(f"column {name!r} has {len(inf)} infinite value(s): "
                        f"{row_listing(shown, len(inf))}; replace them with finite numbers or leave "
                        "the cells empty (missing).")
    return out


def row_where(k: int, lines: list[int] | None) -> str:
    """Where a bad cell is: its file line (or row number), for messages."""
    return f"row {k + 1} (line {lines[k]})" if lines else f"row {k + 1}"


def row_listing(items: list[str], total: int) -> str:
    """The first few offending cells and how many more there are."""
    more = f" (+{total - len(items)} more)" if total > len(items) else ""
    return ", ".join(items) + more


def parse_feature(name: str, values: Any, lines: list[int] | None,
                  problems: list[str]) -> np.ndarray:
    """A feature column as floats (NaN = missing); problems name the column and rows."""
    if isinstance(values, np.ndarray):  # already numeric (Parquet)
        out = values.astype(np.float64, copy=False)
    else:
        try:
            out = fast_floats(values)
        except (ValueError, TypeError):  # slow path: find and report every offending cell
            out = np.empty(len(values), dtype=np.float64)
            bad: list[tuple[int, Any]] = []
            for k, v in enumerate(values):
                out[k] = _cell(v)
                if math.isnan(out[k]) and not is_missing(v):
                    bad.append((k, v))
            if bad:
                shown = [f"{row_where(k, lines)} {v!r}" for k, v in bad[:SHOW]]
                problems.append(f"column {name!r} has {len(bad)} non-numeric value(s): "
                                f"{row_listing(shown, len(bad))}; features must be numbers (encode "
                                "categories as numbers, or drop the column). Empty, NA and nan "
                                "cells are fine: they mean missing.")
    inf = np.flatnonzero(np.isinf(out))
    if len(inf):
        src = values if not isinstance(values, np.ndarray) else out
        shown = [f"{row_where(int(k), lines)} {src[int(k)]!r}" for k in inf[:SHOW]]
        problems.append(f"column {name!r} has {len(inf)} infinite value(s): "
                        f"{row_listing(shown, len(inf))}; replace them with finite numbers or leave "
                        "the cells empty (missing).")
    return out


def fast_floats(values: list[Any]) -> np.ndarray:
    """Numbers, then numbers with the usual spellings of missing; ValueError if anything else."""
    try:
        return np.array(values, dtype=np.float64)
    except (ValueError, TypeError):
        return np.array([FAST_NAN.get(v, v) if isinstance(v, str) else v for v in values],
                        dtype=np.float64)


def is_missing(v: Any) -> bool:
    """True for a missing cell (None, NaN or one of ``MISSING_TOKENS``)."""
    if v is None:
        return True
    if isinstance(v, float):
        return math.isnan(v)
    return isinstance(v, str) and v.strip().lower() in MISSING_TOKENS


def _cell(v: Any) -> float:
    """One feature cell as float; NaN for missing and for text that is not a number."""
    if is_missing(v):
        return math.nan
    if isinstance(v, bool):
        return float(v)
    try:
        return float(v)
    except (TypeError, ValueError):
        return math.nan


def _label(v: Any) -> Any:
    """A target cell as its natural value: int for whole numbers, float, else stripped text."""
    if isinstance(v, (bool, np.bool_)):
        return bool(v)
    if isinstance(v, (int, np.integer)):
        return int(v)
    if isinstance(v, (float, np.floating)):
        return int(v) if float(v).is_integer() else float(v)
    text = str(v).strip()
    try:
        num = float(text)
    except ValueError:
        return text
    return int(num) if num.is_integer() else num


def _label_key(v: Any) -> Any:
    """A comparison key so '1', 1 and 1.0 (and 'True'/true) name the same class."""
    v = _label(v)
    if isinstance(v, bool):
        return float(v)
    if isinstance(v, (int, float)):
        return float(v)
    low = v.lower()
    return {"true": 1.0, "false": 0.0}.get(low, low)


def parse_target(name: str, values: Any, lines: list[int] | None, positive_label: Any,
                 problems: list[str]) -> tuple[tuple[Any, Any], np.ndarray] | None:
    # labels repeat: classify each distinct raw value once
    """The target column as 0/1 labels and its two classes; the positive one by ``positive_label``."""
    seen: dict[Any, tuple[Any, Any] | None] = {}
    keys: list[Any] = []
    missing: list[int] = []
    first: dict[Any, Any] = {}
    for k, v in enumerate(values):
        try:
            entry = seen[v]
        except KeyError:  # (NaN never equals itself: each one lands here, harmlessly)
            entry = seen[v] = None if is_missing(v) else (_label_key(v), _label(v))
        if entry is None:
            missing.append(k)
            keys.append(None)
            continue
        keys.append(entry[0])
        first.setdefault(entry[0], entry[1])
    if missing:
        shown = [row_where(k, lines) for k in missing[:SHOW]]
        problems.append(f"target column {name!r} has {len(missing)} missing value(s): "
                        f"{row_listing(shown, len(missing))}; every row needs a label (drop those "
                        "rows or fill them in).")
    if len(first) != 2:
        shown = ", ".join(repr(first[k]) for k in list(first)[:10])
        more = f" and {len(first) - 10} more" if len(first) > 10 else ""
        problems.append(f"target column {name!r} has {len(first)} distinct value(s) ({shown}{more}); "
                        "a binary classifier needs exactly two classes. Map the labels to two "
                        "values (e.g. 0/1) or pick another data.target.")
        return None
    a, b = list(first)
    if positive_label is not None and str(positive_label).strip() != "":
        want = _label_key(positive_label)
        if want not in first:
            problems.append(f"positive label {positive_label!r} is not one of the target's values "
                            f"({first[a]!r}, {first[b]!r}); set data.positive_label to one of them.")
            return None
        pos = want
    else:
        words = [k for k in (a, b) if str(k).lower() in POSITIVE_WORDS or k == 1.0]
        if len(words) == 1:
            pos = words[0]
        elif isinstance(a, float) and isinstance(b, float):
            pos = max(a, b)
        else:
            pos = max(a, b, key=str)
    neg = b if pos == a else a
    y = np.fromiter((1 if k == pos else 0 for k in keys), dtype=np.int64, count=len(keys))
    return (first[neg], first[pos]), y


def csv_line(cells: list[str]) -> str:
    """One CSV line of cells, quoted as the csv module quotes."""
    buf = io.StringIO()
    csv.writer(buf, lineterminator="").writerow(cells)
    return buf.getvalue()


def name_list(names: Sequence[str]) -> str:
    """Up to 20 names, quoted, and how many more."""
    shown = ", ".join(repr(n) for n in names[:20])
    return shown + (f" and {len(names) - 20} more" if len(names) > 20 else "")
