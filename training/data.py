"""Tabular data in and out: load and validate CSV/Parquet, write CSV, the embedded data set.

Cells are parsed by ``training.cells``; the holdout split and whether a table can be trained as
configured are ``training.trainable``'s.

Validation happens before any work and reports every problem at once in one DataError, naming
the file, column and row, so a data scientist fixes the file in one pass. Empty cells and
NA/nan/null are missing values (XGBoost handles them) in features, never in the target.
"""

from __future__ import annotations

import csv
import math
import threading
from collections import OrderedDict
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
from trainguard.training.cells import (
    MISSING_TOKENS,
    csv_line,
    fast_floats,
    name_list,
    parse_feature,
    parse_role_feature,
    parse_target,
)
from trainguard.training.columns import (
    id_texts,
    parse_timestamps,
    plan_columns,
    unusable_message,
)
from trainguard.training.digest import file_digest
from trainguard.training.errors import DataError
from trainguard.training.files import open_for_write
from trainguard.training.prefetch import take as take_prefetched

__all__ = [
    "MISSING_TOKENS",
    "Dataset",
    "embedded_dataset",
    "load_table",
    "resolve_data_file",
    "write_csv",
]

_TABLE_SUFFIXES = (".csv", ".parquet", ".pq")


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
    ahead = take_prefetched(file, target, positive_label, roles)  # read ahead by the local run, if at all
    if ahead is not None:
        return replace(ahead, source=source)
    if not reuse:
        return _load(file, target, positive_label, source, roles)
    key = (file_digest(file), file.suffix.lower(), target, repr(positive_label), repr(roles))
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


def _load(file: Path, target: str, positive_label: Any, source: str, roles: Any = None, *,
          threads: bool = True) -> Dataset:
    """Parse and validate one table: in bulk when plain (all numeric, no declared column roles),
    else the detailed pass that applies the roles and words every problem. ``threads=False``
    keeps the bulk parse on the calling thread (see ``read_bulk``)."""
    from trainguard.training.tables import read_bulk  # imports this module: imported on use

    if _no_declared_roles(roles):
        bulk = read_bulk(file, target, positive_label, source, threads=threads)
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
    a number or a usual spelling of missing (the cells ``fast_floats`` accepts), no infinity.
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
        X = fast_floats(cells).reshape(len(body), n_sep)
        columns: list[Any] = [X[:, j] for j in range(n_sep)]
    except (ValueError, TypeError):  # some column holds text: parse column by column
        columns = []
        for j, name in enumerate(names):
            col = cells[j::n_sep]
            try:
                columns.append(col if name in keep_text else fast_floats(col))
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
        raise DataError(f"the file has a header ({name_list(header)}) but no data rows; add rows "
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
        raise DataError(f"the file has columns ({name_list(header)}) but no data rows.", source)
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
        problems.append(f"duplicate column name(s) {name_list(dupes)}; every column needs a unique "
                        "name.")
    blank = [i + 1 for i, h in enumerate(header) if not h]
    if blank:
        problems.append(f"column(s) {', '.join(map(str, blank))} have an empty name; name them.")
    if target not in header:
        problems.append(f"target column {target!r} is not in the table; the columns are "
                        f"{name_list(header)}. Set data.target (or --target) to the label column.")
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
            X[:, j] = parse_feature(header[i], columns[i], lines, problems)
    else:
        plan = plan_columns(header, roles, problems)
        feature_idx = plan.features
        X = np.empty((n_rows, len(feature_idx)), dtype=np.float64)
        unusable: list[tuple[str, str]] = []
        for j, i in enumerate(feature_idx):
            X[:, j] = parse_role_feature(header[i], columns[i], lines, problems, i in plan.categorical,
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
        parsed = parse_target(target, columns[header.index(target)], lines, positive_label,
                              problems)
        if parsed is not None:
            classes, y = parsed
    if problems:
        raise DataError(problems, source)
    return Dataset(X, y, [header[i] for i in feature_idx], target, classes, source, categories,
                   timestamps, ids, id_name, timestamp_name)


# --------------------------------------------------------------------------------------------
# embedded data, writing


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
    quoted = [csv_line([str(c)]) for c in ds.classes]  # the two labels, quoted if need be
    if ds.categories:  # categories written as their text, quoted where need be
        _write_csv_text(ds, p)
        return p
    has_nan = np.isnan(ds.X).any(axis=1).tolist()
    with open_for_write(p, "w", newline="") as fh:
        fh.write(csv_line([*ds.feature_names, ds.target]) + "\n")
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
