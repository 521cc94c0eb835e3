"""Tables in bulk: the user's CSV or Parquet read once through pyarrow, and the typed split files.

The preprocess job parses the input table once; its train and test splits travel to the train and
evaluate jobs as Parquet files (float64 feature columns, the labels as their text), which the
XGBoost image reads natively, so no job parses text twice. ``read_bulk`` gives exactly the
Dataset the detailed loader in ``trainguard.training.data`` gives, or None whenever a file is
anything but plain (a non-numeric or infinite cell, a missing label, an odd header, labels that
do not name exactly two classes, a ragged row): the detailed loader then decides, and every
message stays as it was.
"""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

import numpy as np
from trainguard.training.cells import FAST_NAN, parse_target
from trainguard.training.data import Dataset
from trainguard.training.files import open_for_write

__all__ = ["SPLIT_CONTENT_TYPE", "SPLIT_FILES", "read_bulk", "write_split"]

SPLIT_FILES = {"train": "train.parquet", "test": "test.parquet"}
"""File name of each split the preprocess job writes (one file per output folder)."""
SPLIT_CONTENT_TYPE = "application/x-parquet"
"""The train channel's ContentType: SageMaker's name for Parquet input."""

_ROW_GROUP = 1 << 17  # rows per Parquet row group: readers parallelize over groups
_NULLS = sorted(FAST_NAN)  # the usual spellings of a missing cell, as the CSV fast path has them
_MAX_LABELS = 64  # distinct label texts decided here ('1', '1.0' and ' 1' are one class)


def read_bulk(file: Path, target: str, positive_label: Any, source: str, *,
              threads: bool = True) -> Dataset | None:
    """The Dataset of a plain CSV or Parquet table, read in bulk; None when the detailed pass must.

    ``threads=False`` parses on the calling thread alone instead of pyarrow's pool: the local
    run's read-ahead shares the machine with the run's own imports, which use one core.
    """
    try:
        import pyarrow  # noqa: F401  (a core dependency; without it the detailed pass reads)
    except ImportError:  # pragma: no cover - pyarrow is a core dependency and in the image
        return None
    with file.open("rb") as fh:
        magic = fh.read(4)
    if magic == b"PAR1" or file.suffix.lower() in (".parquet", ".pq"):
        return _read_parquet(file, target, positive_label, source, threads)
    return _read_csv(file, target, positive_label, source, threads)


def write_split(ds: Dataset, path: str | Path) -> Path:
    """Write ``ds`` as Parquet: the ID as text and the time as float64 epoch seconds when the
    table has them (never features: the readers give them their roles back from columns.json),
    float64 features, categorical ones as their text, then the target as the labels' text.

    The labels are written as ``str(label)``, the text a CSV split held, so reading the file back
    gives the same classes and 0/1 labels as before. Written in row groups from the matrix (no
    second copy of the table), whole or not at all (``training.files.open_for_write``).
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    label_type = pa.dictionary(pa.int32(), pa.string())
    cats = getattr(ds, "categories", None) or {}
    roles = [(ds.id_name, ds.ids, pa.string()), (ds.timestamp_name, ds.timestamps, pa.float64())]
    roles = [r for r in roles if r[0] is not None and r[1] is not None]
    schema = pa.schema([*(pa.field(n, t) for n, _, t in roles),
                        *(pa.field(n, pa.string() if n in cats else pa.float64()) for n in ds.feature_names),
                        pa.field(ds.target, label_type)])
    labels = pa.array([str(c) for c in ds.classes], type=pa.string())
    # no dictionary for the features: building one for float columns is most of a write's time
    with open_for_write(p, "wb") as fh, pq.ParquetWriter(fh, schema, compression="snappy",
                                                          use_dictionary=[ds.target]) as writer:
        for start in range(0, max(ds.n_rows, 1), _ROW_GROUP):
            block = ds.X[start:start + _ROW_GROUP]
            columns = [pa.array(values[start:start + _ROW_GROUP], type=t, from_pandas=True)
                       for _, values, t in roles]
            columns += [_category_text(block[:, j], cats[n]) if n in cats else
                        pa.array(np.ascontiguousarray(block[:, j])) for j, n in enumerate(ds.feature_names)]
            codes = pa.array(ds.y[start:start + _ROW_GROUP].astype(np.int32))
            columns.append(pa.DictionaryArray.from_arrays(codes, labels))
            writer.write_batch(pa.RecordBatch.from_arrays(columns, schema=schema))
    _release()
    return p


# --------------------------------------------------------------------------------------------
# internals


def _category_text(codes: np.ndarray, categories: Any) -> Any:
    """A categorical feature's codes as its category text (missing stays null), as a CSV split held
    it: the reader of the split learns the categories again from the text, per fold."""
    import pyarrow as pa

    lut = np.array([*categories, None], dtype=object)
    index = np.where(np.isnan(codes), len(lut) - 1, codes).astype(np.intp)
    return pa.array(lut[index].tolist(), type=pa.string())


def _read_csv(file: Path, target: str, positive_label: Any, source: str,
              threads: bool = True) -> Dataset | None:
    import pyarrow as pa
    import pyarrow.csv as pacsv

    header = _csv_header(file)
    if header is None or not _plain_header(header, target):
        return None
    types = {h: (pa.string() if h == target else pa.float64()) for h in header}
    try:
        table = pacsv.read_csv(
            file,
            read_options=pacsv.ReadOptions(skip_rows=1, column_names=header, use_threads=threads),
            parse_options=pacsv.ParseOptions(delimiter=",", quote_char='"', double_quote=True,
                                             escape_char=False, newlines_in_values=_has_quote(file),
                                             ignore_empty_lines=True),
            convert_options=pacsv.ConvertOptions(column_types=types, null_values=_NULLS,
                                                 strings_can_be_null=False, check_utf8=True))
    except (pa.ArrowException, ValueError, OSError):  # not plain: the detailed pass words it
        return None
    holder = [table]
    del table  # _dataset frees the columns one by one: no other reference may keep them
    return _dataset(holder, header, target, positive_label, source)


def _read_parquet(file: Path, target: str, positive_label: Any, source: str,
                  threads: bool = True) -> Dataset | None:
    import pyarrow as pa
    import pyarrow.parquet as pq
    import pyarrow.types as pat

    try:
        schema = pq.read_schema(file)
        header = [str(n) for n in schema.names]
        if not _plain_header(header, target):
            return None
        if any(not (pat.is_integer(f.type) or pat.is_floating(f.type))
               for f in schema if f.name != target):
            return None  # booleans, decimals, text...: the detailed pass
        table = pq.read_table(file, use_threads=threads)
    except (pa.ArrowException, ValueError, OSError):
        return None
    holder = [table]
    del table
    return _dataset(holder, header, target, positive_label, source)


def _dataset(holder: list[Any], header: list[str], target: str, positive_label: Any,
             source: str) -> Dataset | None:
    """Features into one float64 matrix, column by column, freeing each column as it is copied.

    ``holder`` holds the only reference to the table, so each column's memory goes as soon as
    it is copied.
    """
    import pyarrow as pa

    table = holder.pop()
    n = table.num_rows
    if n == 0:
        return None
    columns = list(table.columns)
    del table
    t = header.index(target)
    label_col = columns.pop(t)
    names = [h for h in header if h != target]
    X = np.empty((n, len(names)), dtype=np.float64)
    for j in range(len(names)):
        # the detailed loader's conversion (nulls become NaN), the whole column in one call
        # rather than one per block pyarrow read
        X[:, j] = np.asarray(columns[j].to_numpy(), dtype=np.float64)
        columns[j] = None  # this column's buffers go now, not after the last one
    if np.isinf(X).any():
        return None
    if pa.types.is_dictionary(label_col.type):
        label_col = label_col.cast(label_col.type.value_type)
    parsed = _labels(target, label_col, positive_label)
    if parsed is None:
        return None
    classes, y = parsed
    del label_col, columns
    _release()
    return Dataset(X, y, names, target, classes, source)


def _labels(name: str, col: Any, positive_label: Any) -> tuple[tuple[Any, Any], np.ndarray] | None:
    """Classes and 0/1 labels, deciding on each distinct value once, in order of first appearance.

    ``parse_target`` sees the distinct values in that order, which is all its result depends on,
    so classes and labels are the detailed loader's; any problem (a missing label, not two values)
    returns None for the detailed pass to report with rows.
    """
    import pyarrow as pa
    import pyarrow.compute as pc

    if pa.types.is_string(col.type) or pa.types.is_large_string(col.type):
        distinct = pc.unique(col)
        values: list[Any] = distinct.to_pylist()
        codes = np.asarray(pc.index_in(col, value_set=distinct).to_numpy(zero_copy_only=False))
    elif pa.types.is_integer(col.type) or pa.types.is_floating(col.type):
        raw = np.asarray(col.to_numpy(), dtype=np.float64)  # as the detailed loader converts it
        uniq, first, inverse = np.unique(raw, return_index=True, return_inverse=True)
        order = np.argsort(first, kind="stable")
        values = list(uniq[order])
        rank = np.empty(order.size, dtype=np.int64)
        rank[order] = np.arange(order.size)
        codes = rank[inverse.reshape(-1)]
    else:
        return None
    if len(values) > _MAX_LABELS or any(v is None for v in values):
        return None  # a null label, or a column that is no label at all: the detailed pass
    problems: list[str] = []
    parsed = parse_target(name, values, None, positive_label, problems)
    if parsed is None or problems:
        return None
    classes, per_value = parsed
    return classes, per_value[codes].astype(np.int64)


def _release() -> None:
    """Hand the memory pyarrow's allocator kept after a read or write back to the system.

    The jobs run one after another in one process locally, and a parse's freed buffers kept by
    the allocator would otherwise sit under the next job's peak.
    """
    import pyarrow as pa

    release = getattr(pa.default_memory_pool(), "release_unused", None)
    if release is not None:
        release()


def _csv_header(file: Path) -> list[str] | None:
    """The first line's column names (stripped), as the detailed loader reads them; None if odd."""
    try:
        with file.open("r", encoding="utf-8-sig", newline="") as fh:
            reader = csv.reader(fh)
            row = next(reader, None)
            if row is None or reader.line_num != 1:
                return None
    except (UnicodeDecodeError, csv.Error, OSError):
        return None
    return [h.strip() for h in row]


def _plain_header(header: list[str], target: str) -> bool:
    return (len(header) >= 2 and header.count(target) == 1 and "" not in header
            and len(set(header)) == len(header))


def _has_quote(file: Path) -> bool:
    """Whether the file holds a double quote anywhere (then quoted values may span lines)."""
    with file.open("rb") as fh:
        while chunk := fh.read(1 << 24):
            if b'"' in chunk:
                return True
    return False
