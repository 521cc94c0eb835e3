"""Tabular data in and out: load and validate CSV/Parquet, check it can be trained, split the holdout.

Validation happens before any work and reports every problem at once in one DataError, naming
the file, column and row, so a data scientist fixes the file in one pass. Empty cells and
NA/nan/null are missing values (XGBoost handles them) in features, never in the target.
"""

from __future__ import annotations

import csv
import hashlib
import io
import math
import threading
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
from trainguard.training.columns import (
    id_texts,
    parse_categorical,
    parse_timestamps,
    plan_columns,
    text_column_kind,
    unusable_message,
)
from trainguard.training.errors import DataError
from trainguard.training.files import open_for_write

__all__ = [
    "MISSING_TOKENS",
    "Dataset",
    "check_trainable",
    "embedded_dataset",
    "holdout_rows",
    "holdout_split",
    "load_table",
    "resolve_data_file",
    "write_csv",
]

MISSING_TOKENS = frozenset({"", "na", "n/a", "nan", "null", "none"})
"""Cell texts (case-insensitive, stripped) read as a missing value."""

_FAST_NAN = {t: "nan" for token in MISSING_TOKENS
             for t in (token, token.upper(), token.capitalize(), "NaN", "N/A")}

_POSITIVE_WORDS = ("1", "true", "yes", "y", "positive", "pos")
_TABLE_SUFFIXES = (".csv", ".parquet", ".pq")
_SHOW = 3  # offending rows shown per column before "+N more"


@dataclass(frozen=True, eq=False)
class Dataset:
    """A binary-classification table: float features (NaN = missing) and 0/1 labels."""

    X: np.ndarray
    """Features, float64, shape (n_rows, n_features); NaN marks a missing value."""
    y: np.ndarray
    """Labels as int 0/1; 1 is ``classes[1]``, the positive class."""
    feature_names: list[str]
    target: str
    classes: tuple[Any, Any]
    """The original label values, negative first."""
    source: str
    categories: dict[str, tuple[str, ...]] = field(default_factory=dict)
    """Categorical feature name -> its vocabulary (sorted distinct texts); X holds the index, NaN
    for missing (``trainguard.training.columns``). Empty for an all-numeric table."""
    timestamps: np.ndarray | None = None
    """Seconds since the epoch per row from ``data.timestamp`` (never a feature), else None."""
    ids: np.ndarray | None = None
    """Each row's ``data.id`` text (object array, None = missing; never a feature), else None:
    the key that joins a holdout prediction to its row's ground truth."""
    id_name: str | None = None
    """The ID column's name (``data.id``)."""
    timestamp_name: str | None = None
    """The time column's name (``data.timestamp``)."""

    @property
    def categorical_index(self) -> dict[int, tuple[str, ...]]:
        """Feature column index -> vocabulary, for the categorical features."""
        return {j: self.categories[n] for j, n in enumerate(self.feature_names) if n in self.categories}

    @property
    def n_rows(self) -> int:
        """Number of rows."""
        return int(self.X.shape[0])

    @property
    def positive_rate(self) -> float:
        """Share of rows in the positive class."""
        return float(self.y.mean()) if len(self.y) else math.nan

    def subset(self, rows: np.ndarray, source: str | None = None) -> Dataset:
        """The same table restricted to ``rows`` (indices or a boolean mask)."""
        return Dataset(self.X[rows], self.y[rows], list(self.feature_names), self.target,
                       self.classes, source or self.source, dict(self.categories),
                       None if self.timestamps is None else self.timestamps[rows],
                       None if self.ids is None else self.ids[rows], self.id_name, self.timestamp_name)


# --------------------------------------------------------------------------------------------
# loading


def resolve_data_file(path: str | Path) -> Path:
    """The table file at ``path``; a folder must hold exactly one CSV/Parquet file (any depth).

    A processing job receives a prefix, not a file, hence the folder case. Raises DataError when
    the path is missing or the folder holds no table or several.
    """
    p = Path(path)
    if not p.exists():
        raise DataError(f"the data file {p} does not exist; check data.uri (or --data) points at a "
                        "CSV or Parquet file.")
    if p.is_file():
        return p
    files = sorted(f for f in p.rglob("*") if f.is_file()
                   and not any(part.startswith((".", "_")) for part in f.relative_to(p).parts))
    tables = [f for f in files if f.name.lower().endswith(_TABLE_SUFFIXES)]
    if len(tables) == 1:
        return tables[0]
    if not tables:
        seen = ", ".join(str(f.relative_to(p)) for f in files[:10]) or "nothing"
        raise DataError(f"the data folder {p} holds no .csv or .parquet file (found: {seen}); "
                        "point data.uri at the table file or a folder holding exactly one.")
    names = ", ".join(str(f.relative_to(p)) for f in tables)
    raise DataError(f"the data folder {p} holds {len(tables)} table files ({names}); point data.uri "
                    "at one file, or keep exactly one table in the folder.")


_REUSE_SIZE = 2
_loaded: OrderedDict[tuple[Any, ...], Dataset] = OrderedDict()
_loaded_lock = threading.Lock()


def load_table(path: str | Path, target: str, positive_label: Any = None, *,
               reuse: bool = False, roles: Any = None) -> Dataset:
    """Load a CSV or Parquet table as a Dataset, validating everything before returning.

    ``positive_label`` names which of the two target values is the positive class; None picks
    1/true/yes, else the larger value. ``roles`` is the config's data section (a DataConfig) whose
    column roles apply (``trainguard.training.columns``); None: every other column is a feature.
    Raises one DataError listing every problem found.

    ``reuse=True`` (the train job: the local runner runs every tuning trial in one process on the
    same split file) returns, for a file whose bytes, kind, target and positive label match one
    of the last two loaded so in this process, that result's arrays under this file's name
    instead of parsing again. Such arrays are read-only, so no job can change another's data;
    failed loads are never kept.
    """
    file = resolve_data_file(path)
    source = str(file)
    if file.stat().st_size == 0:
        raise DataError("the file is empty (0 bytes); expected a header line with column names "
                        "followed by data rows.", source)
    if not reuse:
        return _load(file, target, positive_label, source, roles)
    key = (_file_digest(file), file.suffix.lower(), target, repr(positive_label), repr(roles))
    with _loaded_lock:
        hit = _loaded.get(key)
        if hit is not None:
            _loaded.move_to_end(key)
            return replace(hit, feature_names=list(hit.feature_names), source=source)
    ds = _load(file, target, positive_label, source, roles)
    for array in (ds.X, ds.y, ds.timestamps, ds.ids):
        if array is not None:
            array.flags.writeable = False
    with _loaded_lock:
        _loaded[key] = ds
        while len(_loaded) > _REUSE_SIZE:
            _loaded.popitem(last=False)
    return replace(ds, feature_names=list(ds.feature_names), source=source)


def _no_declared_roles(roles: Any) -> bool:
    """True when no column is given a role (features, exclude, id, timestamp, categorical)."""
    return roles is None or not any(getattr(roles, k, None) for k in
                                    ("features", "exclude", "id", "timestamp", "categorical"))


def _file_digest(file: Path) -> bytes:
    """BLAKE2 of a file's bytes, read in blocks (the file is never held whole for this)."""
    h = hashlib.blake2b(digest_size=32)
    with file.open("rb") as fh:
        while block := fh.read(1 << 24):
            h.update(block)
    return h.digest()


def _load(file: Path, target: str, positive_label: Any, source: str, roles: Any = None) -> Dataset:
    """Parse and validate one table: in bulk when plain (all numeric, no declared column roles),
    else the detailed pass that applies the roles and words every problem."""
    from trainguard.training.tables import read_bulk  # imports this module: imported on use

    if _no_declared_roles(roles):
        bulk = read_bulk(file, target, positive_label, source)
        if bulk is not None:
            return bulk
    raw = file.read_bytes()
    if raw[:4] == b"PAR1" or file.suffix.lower() in (".parquet", ".pq"):
        header, columns, lines, problems = _read_parquet(file, source)
    else:
        fast = _read_csv_fast(raw, target, frozenset(roles.categorical) if roles is not None else frozenset())
        if fast is not None:
            header, columns, lines = fast
            problems: list[str] = []
        else:  # anything unusual: the detailed pass, which finds and words every problem
            header, columns, lines, problems = _read_csv(file, source)
    return _build_dataset(header, columns, lines, target, positive_label, source, problems, roles)


def _read_csv_fast(raw: bytes, target: str,
                   keep_text: frozenset[str] = frozenset()) -> tuple[list[str], list[Any], list[int]] | None:
    """A plain, well-formed CSV parsed in bulk; None whenever the detailed pass must decide.

    Plain means: UTF-8, no quotes, no NUL or lone CR, no blank lines, a header of at least two
    columns naming ``target`` once, every row with the header's field count, every feature cell
    a number or a usual spelling of missing (the cells ``_fast_floats`` accepts), no infinity.
    Splitting such a file on newlines and commas is exactly what the csv module does with it, so
    the result equals the detailed pass's; any other file returns None and takes that pass, whose
    checks and messages are unchanged. Feature columns come back as float arrays, the target as
    its cell texts, and each row's line number (row k is on line k + 2). A column that is not all
    numbers, or is named in ``keep_text`` (declared categorical), comes back as its cell texts
    (empty cells spelled nan): the column roles decide what it is, and name its rows if bad.
    """
    if b'"' in raw or b"\0" in raw:
        return None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        return None
    if "\r" in text:
        text = text.replace("\r\n", "\n")
        if "\r" in text:
            return None
    rows = text.split("\n")
    if rows[-1] == "":
        rows.pop()
    if len(rows) < 2:
        return None
    n_sep = rows[0].count(",")
    header = [h.strip() for h in rows[0].split(",")]
    if n_sep < 1 or header.count(target) != 1 or len(set(header)) != len(header) or "" in header:
        return None
    body = rows[1:]
    if any(r.count(",") != n_sep for r in body):  # ragged, or blank lines
        return None
    # empty cells (missing) spelled "nan" in the text: one C-level pass instead of a retry per cell
    padded = "," + ",".join(body) + ","
    while ",," in padded:
        padded = padded.replace(",,", ",nan,")
    cells = padded[1:-1].split(",")
    t, width = header.index(target), n_sep + 1
    labels = cells[t::width]
    del cells[t::width]  # the feature cells, row by row
    names = header[:t] + header[t + 1:]
    try:
        if keep_text.intersection(names):
            raise ValueError("declared categorical")
        X = _fast_floats(cells).reshape(len(body), n_sep)
        columns: list[Any] = [X[:, j] for j in range(n_sep)]
    except (ValueError, TypeError):  # some column holds text: parse column by column
        columns = []
        for j, name in enumerate(names):
            col = cells[j::n_sep]
            try:
                columns.append(col if name in keep_text else _fast_floats(col))
            except (ValueError, TypeError):
                columns.append(col)
    if any(isinstance(c, np.ndarray) and np.isinf(c).any() for c in columns):
        return None  # reported with the cells' own text by the detailed pass
    columns.insert(t, labels)
    return header, columns, list(range(2, len(body) + 2))


def _read_csv(file: Path,
              source: str) -> tuple[list[str], list[list[Any]], list[int] | None, list[str]]:
    """Header, columns of cell texts, line number of each kept row, and structural problems."""
    try:
        with file.open("r", encoding="utf-8-sig", newline="") as fh:
            reader = csv.reader(fh)
            header: list[str] | None = None
            rows: list[list[str]] = []
            lines: list[int] = []
            ragged: list[tuple[int, int]] = []
            for row in reader:
                if not row or (len(row) == 1 and not row[0].strip()):
                    continue  # blank line
                if header is None:
                    header = [h.strip() for h in row]
                    continue
                if len(row) != len(header):
                    ragged.append((reader.line_num, len(row)))
                    continue
                rows.append(row)
                lines.append(reader.line_num)
    except UnicodeDecodeError as exc:
        raise DataError(f"the file is not UTF-8 text (byte {exc.start}: {exc.reason}); save it as "
                        "UTF-8 CSV or as Parquet.", source) from None
    except csv.Error as exc:
        raise DataError(f"the file is not readable as CSV: {exc}.", source) from None
    if header is None:
        raise DataError("the file is empty (only blank lines); expected a header line with column "
                        "names followed by data rows.", source)
    if not rows and not ragged:
        raise DataError(f"the file has a header ({_names(header)}) but no data rows; add rows "
                        "below the header.", source)
    problems: list[str] = []
    if ragged:
        shown = ", ".join(f"line {ln} has {n}" for ln, n in ragged[:5])
        more = f" (+{len(ragged) - 5} more)" if len(ragged) > 5 else ""
        problems.append(f"{len(ragged)} row(s) do not have the header's {len(header)} fields: "
                        f"{shown}{more}; fix the quoting or the separators on those lines.")
    if not rows:
        raise DataError(problems, source)
    columns = [list(col) for col in zip(*rows, strict=True)]
    return header, columns, lines, problems


def _read_parquet(file: Path, source: str) -> tuple[list[str], list[Any], None, list[str]]:
    """Header and columns (float arrays for numeric types, Python lists otherwise)."""
    try:
        import pyarrow.parquet as pq
    except ImportError:
        raise DataError("reading Parquet needs pyarrow, which is not installed; install it with "
                        "pip install 'trainguard[parquet]' (or pip install pyarrow), or convert "
                        "the table to CSV.", source) from None
    try:
        table = pq.read_table(file)
    except Exception as exc:  # pyarrow raises several unrelated types for a bad file
        reason = str(exc).strip().rstrip(".")  # pyarrow's own text often ends in a period
        raise DataError(f"the file is not a readable Parquet table: {reason}.", source) from None
    header = [str(n) for n in table.column_names]
    if table.num_rows == 0:
        raise DataError(f"the file has columns ({_names(header)}) but no data rows.", source)
    columns: list[Any] = []
    for col in table.columns:
        if _arrow_is_numeric(col.type):
            columns.append(np.asarray(col.to_numpy(zero_copy_only=False), dtype=np.float64))
        else:
            columns.append(col.to_pylist())
    return header, columns, None, []


def _arrow_is_numeric(arrow_type: Any) -> bool:
    import pyarrow.types as pat

    return bool(pat.is_integer(arrow_type) or pat.is_floating(arrow_type)
                or pat.is_boolean(arrow_type) or pat.is_decimal(arrow_type))


def _build_dataset(header: list[str], columns: list[Any], lines: list[int] | None, target: str,
                   positive_label: Any, source: str, problems: list[str], roles: Any = None) -> Dataset:
    """Validate every column, collecting all problems, then assemble the Dataset."""
    dupes = sorted({h for h in header if header.count(h) > 1})
    if dupes:
        problems.append(f"duplicate column name(s) {_names(dupes)}; every column needs a unique "
                        "name.")
    blank = [i + 1 for i, h in enumerate(header) if not h]
    if blank:
        problems.append(f"column(s) {', '.join(map(str, blank))} have an empty name; name them.")
    if target not in header:
        problems.append(f"target column {target!r} is not in the table; the columns are "
                        f"{_names(header)}. Set data.target (or --target) to the label column.")
    elif header.count(target) == 1 and len(header) == 1:
        problems.append(f"the table has only the target column {target!r}; add feature columns.")

    n_rows = len(columns[0]) if columns else 0
    categories: dict[str, tuple[str, ...]] = {}
    timestamps = ids = None
    id_name = timestamp_name = None
    if roles is None:
        feature_idx = [i for i, h in enumerate(header) if h != target]
        X = np.empty((n_rows, len(feature_idx)), dtype=np.float64)
        for j, i in enumerate(feature_idx):
            X[:, j] = _parse_feature(header[i], columns[i], lines, problems)
    else:
        plan = plan_columns(header, roles, problems)
        feature_idx = plan.features
        X = np.empty((n_rows, len(feature_idx)), dtype=np.float64)
        unusable: list[tuple[str, str]] = []
        for j, i in enumerate(feature_idx):
            X[:, j] = _parse_role_feature(header[i], columns[i], lines, problems, i in plan.categorical,
                                          i in plan.mentioned, roles.max_categories, categories,
                                          unusable)
        if unusable:
            problems.append(unusable_message(unusable, roles.max_categories))
        if plan.timestamp is not None:
            timestamp_name = header[plan.timestamp]
            timestamps = parse_timestamps(timestamp_name, columns[plan.timestamp], lines,
                                          problems, required=roles.split == "time")
        if plan.id is not None:
            id_name, ids = header[plan.id], id_texts(columns[plan.id])

    classes: tuple[Any, Any] = (0, 1)
    y = np.zeros(n_rows, dtype=np.int64)
    if target in header and header.count(target) == 1:
        parsed = _parse_target(target, columns[header.index(target)], lines, positive_label,
                               problems)
        if parsed is not None:
            classes, y = parsed
    if problems:
        raise DataError(problems, source)
    return Dataset(X, y, [header[i] for i in feature_idx], target, classes, source, categories,
                   timestamps, ids, id_name, timestamp_name)


def _parse_role_feature(name: str, values: Any, lines: list[int] | None, problems: list[str],
                        explicit: bool, mentioned: bool, cap: int,
                        categories: dict[str, tuple[str, ...]],
                        unusable: list[tuple[str, str]]) -> np.ndarray:
    """One feature column under the config's roles: numbers, or categories (declared or text)."""
    if not explicit:
        if isinstance(values, np.ndarray):
            return _parse_feature(name, values, lines, problems)
        try:
            return _check_finite(name, _fast_floats(values), values, lines, problems)
        except (ValueError, TypeError):
            pass
        codes, vocab = parse_categorical(values)  # counted per distinct text, not per cell
        counts = np.bincount(codes[~np.isnan(codes)].astype(np.intp), minlength=len(vocab))
        numeric = sum(int(n) for word, n in zip(vocab, counts.tolist(), strict=True)
                      if not math.isnan(_cell(word)))
        if numeric * 2 >= int(counts.sum()):  # numbers with stray text: name the rows, as always
            out = _parse_feature(name, values, lines, problems)
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
        shown = [f"{_where(int(k), lines)} {values[int(k)]!r}" for k in inf[:_SHOW]]
        problems.append(f"column {name!r} has {len(inf)} infinite value(s): "
                        f"{_listing(shown, len(inf))}; replace them with finite numbers or leave "
                        "the cells empty (missing).")
    return out


def _where(k: int, lines: list[int] | None) -> str:
    return f"row {k + 1} (line {lines[k]})" if lines else f"row {k + 1}"


def _listing(items: list[str], total: int) -> str:
    more = f" (+{total - len(items)} more)" if total > len(items) else ""
    return ", ".join(items) + more


def _parse_feature(name: str, values: Any, lines: list[int] | None,
                   problems: list[str]) -> np.ndarray:
    if isinstance(values, np.ndarray):  # already numeric (Parquet)
        out = values.astype(np.float64, copy=False)
    else:
        try:
            out = _fast_floats(values)
        except (ValueError, TypeError):  # slow path: find and report every offending cell
            out = np.empty(len(values), dtype=np.float64)
            bad: list[tuple[int, Any]] = []
            for k, v in enumerate(values):
                out[k] = _cell(v)
                if math.isnan(out[k]) and not _is_missing(v):
                    bad.append((k, v))
            if bad:
                shown = [f"{_where(k, lines)} {v!r}" for k, v in bad[:_SHOW]]
                problems.append(f"column {name!r} has {len(bad)} non-numeric value(s): "
                                f"{_listing(shown, len(bad))}; features must be numbers (encode "
                                "categories as numbers, or drop the column). Empty, NA and nan "
                                "cells are fine: they mean missing.")
    inf = np.flatnonzero(np.isinf(out))
    if len(inf):
        src = values if not isinstance(values, np.ndarray) else out
        shown = [f"{_where(int(k), lines)} {src[int(k)]!r}" for k in inf[:_SHOW]]
        problems.append(f"column {name!r} has {len(inf)} infinite value(s): "
                        f"{_listing(shown, len(inf))}; replace them with finite numbers or leave "
                        "the cells empty (missing).")
    return out


def _fast_floats(values: list[Any]) -> np.ndarray:
    """Numbers, then numbers with the usual spellings of missing; ValueError if anything else."""
    try:
        return np.array(values, dtype=np.float64)
    except (ValueError, TypeError):
        return np.array([_FAST_NAN.get(v, v) if isinstance(v, str) else v for v in values],
                        dtype=np.float64)


def _is_missing(v: Any) -> bool:
    if v is None:
        return True
    if isinstance(v, float):
        return math.isnan(v)
    return isinstance(v, str) and v.strip().lower() in MISSING_TOKENS


def _cell(v: Any) -> float:
    """One feature cell as float; NaN for missing and for text that is not a number."""
    if _is_missing(v):
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


def _parse_target(name: str, values: Any, lines: list[int] | None, positive_label: Any,
                  problems: list[str]) -> tuple[tuple[Any, Any], np.ndarray] | None:
    # labels repeat: classify each distinct raw value once
    seen: dict[Any, tuple[Any, Any] | None] = {}
    keys: list[Any] = []
    missing: list[int] = []
    first: dict[Any, Any] = {}
    for k, v in enumerate(values):
        try:
            entry = seen[v]
        except KeyError:  # (NaN never equals itself: each one lands here, harmlessly)
            entry = seen[v] = None if _is_missing(v) else (_label_key(v), _label(v))
        if entry is None:
            missing.append(k)
            keys.append(None)
            continue
        keys.append(entry[0])
        first.setdefault(entry[0], entry[1])
    if missing:
        shown = [_where(k, lines) for k in missing[:_SHOW]]
        problems.append(f"target column {name!r} has {len(missing)} missing value(s): "
                        f"{_listing(shown, len(missing))}; every row needs a label (drop those "
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
        words = [k for k in (a, b) if str(k).lower() in _POSITIVE_WORDS or k == 1.0]
        if len(words) == 1:
            pos = words[0]
        elif isinstance(a, float) and isinstance(b, float):
            pos = max(a, b)
        else:
            pos = max(a, b, key=str)
    neg = b if pos == a else a
    y = np.fromiter((1 if k == pos else 0 for k in keys), dtype=np.int64, count=len(keys))
    return (first[neg], first[pos]), y


def _csv_line(cells: list[str]) -> str:
    buf = io.StringIO()
    csv.writer(buf, lineterminator="").writerow(cells)
    return buf.getvalue()


def _names(names: Sequence[str]) -> str:
    shown = ", ".join(repr(n) for n in names[:20])
    return shown + (f" and {len(names) - 20} more" if len(names) > 20 else "")


# --------------------------------------------------------------------------------------------
# trainability, split, embedded data, writing


def check_trainable(ds: Dataset, cfg: Any) -> None:
    """Raise one DataError if either class is too small for the holdout, the folds or the resampler.

    Counts are exact, from the real splits on the labels alone: the stratified holdout
    (``data.test_size``, ``seed``), ``cv.folds`` stratified folds, the early-stopping carve-out
    (``xgboost.validation_fraction``) from each fold's fit part; SMOTE-like resamplers then need
    ``k_neighbors + 1`` minority rows in what remains (and no missing values: they interpolate).
    Each message gives the counts and the settings that would fix it.
    """
    problems: list[str] = []
    folds, k = int(cfg.cv.folds), int(cfg.resampling.k_neighbors)
    method, vf = cfg.resampling.method, float(cfg.xgboost.validation_fraction)
    test_size, seed = float(cfg.data.test_size), int(cfg.seed)
    counts = [int(np.count_nonzero(ds.y == c)) for c in (0, 1)]
    minority = int(np.argmin(counts))
    by_time = getattr(cfg.data, "split", "stratified") == "time"
    if by_time:
        train_idx = holdout_rows(ds, test_size, seed, "time")[0] if ds.timestamps is not None else None
        if train_idx is None:
            raise DataError("data.split=time needs the time column (data.timestamp) in the table.",
                            ds.source)
    else:
        train_idx = _holdout_train_rows(ds.y, test_size, seed) if min(counts) >= 2 else None
    if train_idx is None:
        for c in (0, 1):
            if counts[c] < 2:
                problems.append(f"class {ds.classes[c]!r} has {counts[c]} row(s); the stratified "
                                "holdout split needs at least 2 rows of each class (and training "
                                "many more). Add rows of that class.")
        if min(counts) >= 2:
            problems.append(f"{ds.n_rows} rows are too few for a stratified holdout with "
                            f"data.test_size={test_size:g}; add rows or change data.test_size.")
        raise DataError(problems, ds.source)
    y_train = ds.y[train_idx]
    split_ok = True
    for c in (0, 1):
        who, n = f"class {ds.classes[c]!r}", counts[c]
        n_train = int(np.count_nonzero(y_train == c))
        if n_train == n:
            where = "the latest rows (data.split=time)" if by_time else "the holdout"
            problems.append(f"{who} has {n} rows, so {where} (data.test_size={test_size:g}) "
                            "would get none of them and its metrics would be undefined; raise "
                            "data.test_size or add rows of that class.")
        if n_train < folds:
            split_ok = False
            problems.append(f"{who} has {n_train} rows left for training after the holdout, "
                            f"fewer than cv.folds={folds}: every fold must score rows of both "
                            f"classes. Use cv.folds={max(2, n_train)} or fewer, or add rows of "
                            "that class.")
    fold_counts = _fold_fit_counts(y_train, folds, bool(cfg.cv.shuffle), vf, seed) \
        if split_ok else {}
    if split_ok and fold_counts is None:
        problems.append(f"the fit parts of cv.folds={folds} are too small to carve out an "
                        f"early-stopping set (xgboost.validation_fraction={vf:g}) with both "
                        "classes; use fewer folds or add rows.")
    for c, (fold_fit, fit) in (fold_counts or {}).items():
        who, n = f"class {ds.classes[c]!r}", counts[c]
        if fit < 1:
            problems.append(f"{who} has {fold_fit} rows in the smallest fold fit part, too few to "
                            f"carve out an early-stopping set (xgboost.validation_fraction={vf:g}) "
                            "and still fit on the rest; use fewer folds or add rows of that class.")
        elif c == minority and method in _NEIGHBOUR_METHODS and fit < k + 1:
            fixes = [f"resampling.k_neighbors={fit - 1} or lower" if fit >= 2 else None,
                     f"fewer folds (cv.folds={folds - 1})" if folds > 2 else None,
                     "resampling.method=random_over", "more rows of that class"]
            n_train = int(np.count_nonzero(y_train == c))
            problems.append(
                f"the minority {who} has {n} rows: {n_train} after the holdout "
                f"(data.test_size={test_size:g}), {fold_fit} in the smallest fit part of "
                f"cv.folds={folds} and {fit} after its early-stopping carve-out "
                f"(xgboost.validation_fraction={vf:g}); resampling.method={method} with "
                f"resampling.k_neighbors={k} needs at least {k + 1}. Fix: "
                + ", or ".join(f for f in fixes if f) + ".")
    if ds.categories and method in ("adasyn", "borderline_smote"):
        problems.append(f"resampling.method={method} interpolates between rows and does not respect "
                        f"categories, and the table has categorical features ({_names(list(ds.categories))}). "
                        "Use resampling.method=smote (SMOTE-NC with categories), random_over or none.")
    if method in _NEIGHBOUR_METHODS:
        # missing categories are a category of their own for the sampler; missing numbers are not
        nan_cols = [(name, int(n)) for name, n in zip(ds.feature_names, np.isnan(ds.X).sum(axis=0),
                                                      strict=True) if n and name not in ds.categories]
        if nan_cols:
            shown = ", ".join(f"{name!r} ({n})" for name, n in nan_cols[:5])
            more = f" and {len(nan_cols) - 5} more" if len(nan_cols) > 5 else ""
            problems.append(
                f"{len(nan_cols)} feature column(s) have missing values ({shown}{more}); "
                f"resampling.method={method} interpolates between neighbours and cannot use rows "
                "with missing values. Fix: resampling.method=random_over (keeps missing values for "
                "XGBoost), resampling.method=none, or fill the missing values in the data.")
    if problems:
        raise DataError(problems, ds.source)


_NEIGHBOUR_METHODS = ("smote", "adasyn", "borderline_smote")


def _holdout_train_rows(y: np.ndarray, test_size: float, seed: int) -> np.ndarray | None:
    """Training rows of the real stratified holdout (as ``holdout_split``); None if it cannot split."""
    from sklearn.model_selection import train_test_split

    try:
        train_idx, _ = train_test_split(np.arange(y.size), test_size=test_size, random_state=seed,
                                        shuffle=True, stratify=y)
    except ValueError:
        return None
    return np.sort(train_idx)


def _fold_fit_counts(y: np.ndarray, folds: int, shuffle: bool, vf: float,
                     seed: int) -> dict[int, tuple[int, int]] | None:
    """Per class, the smallest (fit part, fit part minus carve-out) row counts over the folds.

    Mirrors the splits of ``trainguard.training.cv.FoldPlan`` (same splitters, same seeds) on labels alone,
    so the counts are exact. None when a carve-out cannot be split.
    """
    from sklearn.model_selection import StratifiedKFold, train_test_split

    splitter = StratifiedKFold(folds, shuffle=shuffle, random_state=seed if shuffle else None)
    worst: dict[int, tuple[int, int]] = {}
    for i, (fit_part, _) in enumerate(splitter.split(np.zeros(y.size), y)):
        try:
            fit_idx, _ = train_test_split(fit_part, test_size=vf, stratify=y[fit_part],
                                          random_state=seed + i, shuffle=True)
        except ValueError:
            return None
        for c in (0, 1):
            pair = (int(np.count_nonzero(y[fit_part] == c)), int(np.count_nonzero(y[fit_idx] == c)))
            if c not in worst or pair[1] < worst[c][1]:
                worst[c] = pair
    return worst


def holdout_rows(ds: Dataset, test_size: float, seed: int,
                 split: str = "stratified") -> tuple[np.ndarray, np.ndarray]:
    """Sorted (train, test) row indices of the holdout split (see ``holdout_split``)."""
    if split == "time":
        if ds.timestamps is None:
            raise DataError("data.split=time needs data.timestamp: name the time column.", ds.source)
        n_test = math.ceil(test_size * ds.n_rows)
        order = np.argsort(ds.timestamps, kind="stable")  # ties keep table order
        return np.sort(order[: ds.n_rows - n_test]), np.sort(order[ds.n_rows - n_test:])
    from sklearn.model_selection import train_test_split

    idx = np.arange(ds.n_rows)
    try:
        train_idx, test_idx = train_test_split(idx, test_size=test_size, random_state=seed,
                                               shuffle=True, stratify=ds.y)
    except ValueError as exc:
        raise DataError(f"cannot make a stratified holdout split with data.test_size={test_size:g}: "
                        f"{exc} Add rows of the smaller class or change data.test_size.",
                        ds.source) from None
    return np.sort(train_idx), np.sort(test_idx)


def holdout_split(ds: Dataset, test_size: float, seed: int,
                  split: str = "stratified") -> tuple[Dataset, Dataset]:
    """(train, test) split, deterministic for a seed; the test part stays untouched.

    ``split="stratified"`` draws the holdout at random keeping the class ratio; ``"time"`` keeps
    the latest ``test_size`` share of rows by ``ds.timestamps`` as the holdout, as a model meets
    the future. Raises DataError when a class is too small to be split.
    """
    train_idx, test_idx = holdout_rows(ds, test_size, seed, split)
    return (ds.subset(train_idx, f"{ds.source} (train split)"),
            ds.subset(test_idx, f"{ds.source} (holdout split)"))


def embedded_dataset() -> Dataset:
    """The embedded default: scikit-learn's bundled handwritten digits as "is this digit an eight?".

    Real data (1,797 8x8 grey-level images, UCI), shipped inside scikit-learn so nothing is
    downloaded; about 10% of rows are eights, an imbalanced binary problem.
    """
    from sklearn.datasets import load_digits

    digits = load_digits()
    X = np.asarray(digits.data, dtype=np.float64)
    y = (np.asarray(digits.target) == 8).astype(np.int64)
    names = [f"pixel_{r}_{c}" for r in range(8) for c in range(8)]
    return Dataset(X, y, names, "is_eight", (0, 1),
                   "scikit-learn load_digits (bundled), binarized: is this digit an eight?")


def write_csv(ds: Dataset, path: str | Path) -> Path:
    """Write ``ds`` as CSV (header: features then target, labels as original values, NaN empty).

    Floats are written with ``repr`` (shortest exact round trip); the file appears complete or
    not at all (written aside, then renamed).
    """
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    quoted = [_csv_line([str(c)]) for c in ds.classes]  # the two labels, quoted if need be
    if ds.categories:  # categories written as their text, quoted where need be
        _write_csv_text(ds, p)
        return p
    has_nan = np.isnan(ds.X).any(axis=1).tolist()
    with open_for_write(p, "w", newline="") as fh:
        fh.write(_csv_line([*ds.feature_names, ds.target]) + "\n")
        for row, label, nan in zip(ds.X.tolist(), ds.y.tolist(), has_nan, strict=True):
            cells = [("" if v != v else repr(v)) for v in row] if nan else map(repr, row)
            fh.write(",".join(cells) + ("," if row else "") + quoted[int(label)] + "\n")
    return p


def _write_csv_text(ds: Dataset, path: Path) -> None:
    """``write_csv`` for a table with categorical features: each written as its category text."""
    cols: list[list[str]] = []
    for j, name in enumerate(ds.feature_names):
        col = ds.X[:, j]
        if name in ds.categories:
            lut = np.array([*ds.categories[name], ""], dtype=object)
            cols.append(lut[np.where(np.isnan(col), len(lut) - 1, col).astype(np.intp)].tolist())
        else:
            cols.append(["" if v != v else repr(v) for v in col.tolist()])
    cols.append([str(ds.classes[int(v)]) for v in ds.y.tolist()])
    with open_for_write(path, "w", newline="") as fh:
        writer = csv.writer(fh, lineterminator="\n")
        writer.writerow([*ds.feature_names, ds.target])
        writer.writerows(zip(*cols, strict=True))
