"""Read the data to monitor in batches: CSV, Parquet, a folder of them, or endpoint data capture.

Nothing here holds a whole table: CSV and Parquet are read batch by batch with pyarrow (a CSV
without pyarrow, or one pyarrow cannot type, goes through the csv module, also in batches), and
SageMaker data-capture JSONL line by line. Each batch is a mapping ``column -> Chunk``; numeric
columns come as float arrays (NaN = missing) with the count of cells that were not numbers.
Every problem names the file and, where there is one, the line.
"""

from __future__ import annotations

import base64
import csv
import io
import json
import math
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from trainguard.training.data import MISSING_TOKENS
from trainguard.training.errors import DataError

__all__ = ["CAPTURE_SUFFIXES", "TABLE_SUFFIXES", "Chunk", "DataSource", "ReadAgain",
           "iter_capture", "iter_table", "open_source", "read_header"]

TABLE_SUFFIXES = (".csv", ".parquet", ".pq")
CAPTURE_SUFFIXES = (".jsonl",)
BATCH_ROWS = 65536
_BLOCK_BYTES = 8 << 20
_NULLS = sorted({t for token in MISSING_TOKENS
                 for t in (token, token.upper(), token.capitalize(), "NaN", "N/A")})


@dataclass
class Chunk:
    """One column of one batch: numbers (float64, NaN = missing) or texts (None = missing)."""

    numbers: np.ndarray | None = None
    texts: list[Any] | None = None
    counts: dict[str, int] | None = None
    """For text columns read by pyarrow: value -> count (``texts`` is then None)."""
    n_missing: int = 0
    n_bad: int = 0
    """Cells of a numeric column holding text that is not a number."""
    bad_example: str | None = None
    first_line: int | None = None


@dataclass
class DataSource:
    """The files to read and how: ``kind`` is ``table`` or ``capture``."""

    files: list[Path]
    kind: str
    label: str
    event_ids: list[str] = field(default_factory=list)
    """Data capture only: each row's inference id (else event id), in row order."""
    outputs: list[str] = field(default_factory=list)
    """Data capture only: each row's captured model output text."""


def open_source(path: str | Path) -> DataSource:
    """The files under ``path`` (a file or a folder of tables or capture files) and their kind."""
    p = Path(path)
    if not p.exists():
        raise DataError(f"the data path {p} does not exist; pass a CSV, Parquet or data-capture "
                        "JSONL file, or a folder of them.")
    if p.is_file():
        files = [p]
    else:
        files = sorted(f for f in p.rglob("*") if f.is_file() and not any(
            part.startswith((".", "_")) for part in f.relative_to(p).parts))
        files = [f for f in files if f.name.lower().endswith(TABLE_SUFFIXES + CAPTURE_SUFFIXES)]
        if not files:
            raise DataError(f"the data folder {p} holds no .csv, .parquet or .jsonl file; point "
                            "--data at the table or the data-capture prefix.")
    kinds = {"capture" if f.name.lower().endswith(CAPTURE_SUFFIXES) else "table" for f in files}
    if len(kinds) > 1:
        raise DataError(f"the data folder {p} mixes tables and data-capture files; point --data "
                        "at one kind.")
    for f in files:
        if f.stat().st_size == 0:
            raise DataError("the file is empty (0 bytes); expected a header line and data rows "
                            "(or data-capture records).", str(f))
    return DataSource(files, kinds.pop(), str(p))


def read_header(file: Path) -> list[str]:
    """Column names of a CSV or Parquet file, read without reading the rows."""
    if _is_parquet(file):
        pq = _pyarrow_parquet(file)
        try:
            return [str(n) for n in pq.read_schema(file).names]
        except Exception as exc:  # pyarrow raises several unrelated types for a bad file
            raise DataError(f"the file is not a readable Parquet table: {_reason(exc)}.",
                            str(file)) from None
    try:
        with file.open("r", encoding="utf-8-sig", newline="") as fh:
            for row in csv.reader(fh):
                if row and any(c.strip() for c in row):
                    return [h.strip() for h in row]
    except UnicodeDecodeError as exc:
        raise DataError(f"the file is not UTF-8 text (byte {exc.start}); save it as UTF-8 CSV "
                        "or Parquet.", str(file)) from None
    except csv.Error as exc:
        raise DataError(f"the file is not readable as CSV: {exc}.", str(file)) from None
    raise DataError("the file holds no header line (only blank lines); expected column names "
                    "and data rows.", str(file))


def iter_table(file: Path, numeric: Sequence[str], texts: Sequence[str],
               as_text: Sequence[str] = (), *, discover: bool = False,
               keep_texts: bool = False) -> Iterator[dict[str, Chunk]]:
    """Batches of the columns ``numeric`` (read as numbers) and ``texts`` of one table file.

    Text columns come as value counts, or with ``keep_texts`` (scoring: a categorical feature's
    category per row) as each row's cell text, None for missing.

    A numeric column holding text deep in a CSV raises ReadAgain naming it: read the file again
    with that column in ``as_text`` (its cells are then parsed one by one and the text counted).
    ``discover`` (building a baseline, where types are not known yet) raises ReadAgain on any
    such column, even in the first batch, so the caller can read it as a text column instead.
    """
    wanted = list(numeric) + list(texts)
    if not wanted:
        return
    if _is_parquet(file):
        yield from _iter_parquet(file, set(numeric), wanted, keep_texts)
        return
    try:
        import pyarrow  # noqa: F401
    except ImportError:
        yield from _iter_csv_module(file, set(numeric), wanted, keep_texts)
        return
    yield from _iter_csv_arrow(file, set(numeric), wanted, set(as_text), discover, keep_texts)


# ------------------------------------------------------------------------------------------------
# CSV


def _iter_csv_arrow(file: Path, numeric: set[str], wanted: list[str], as_text: set[str],
                    discover: bool = False, keep_texts: bool = False) -> Iterator[dict[str, Chunk]]:
    import pyarrow as pa
    import pyarrow.csv as pacsv

    as_text = set(as_text)
    for _attempt in range(len(wanted) + 1):
        types = {n: (pa.float64() if n in numeric and n not in as_text else pa.string())
                 for n in wanted}
        convert = pacsv.ConvertOptions(column_types=types, include_columns=wanted,
                                       null_values=_NULLS, strings_can_be_null=True,
                                       quoted_strings_can_be_null=True)
        rows_seen = 0
        try:
            reader = pacsv.open_csv(file, read_options=pacsv.ReadOptions(block_size=_BLOCK_BYTES),
                                    convert_options=convert)
            for batch in reader:
                out = {}
                for name, col in zip(batch.schema.names, batch.columns, strict=True):
                    out[name] = _arrow_chunk(col, name in numeric, keep_texts)
                rows_seen += batch.num_rows
                yield out
            return
        except pa.ArrowInvalid as exc:
            text = str(exc)
            bad = _conversion_column(text, file)
            if bad is not None and discover:
                raise ReadAgain(bad) from None
            if bad is not None and bad in numeric and bad not in as_text and rows_seen == 0:
                as_text.add(bad)  # text in a numeric column: read it as text, count the cells
                continue
            if bad is not None and rows_seen:
                raise ReadAgain(bad) from None
            _raise_structure(file, text)
    raise DataError("the file cannot be read as CSV.", str(file))  # pragma: no cover


class ReadAgain(Exception):
    """The CSV must be read again from the start with ``column`` read as text."""

    def __init__(self, column: str) -> None:
        super().__init__(column)
        self.column = column


def _conversion_column(text: str, file: Path) -> str | None:
    """The column named in pyarrow's 'In CSV column #N: CSV conversion error' message."""
    import re

    m = re.search(r"In CSV column #(\d+)", text)
    if not m or "conversion error" not in text:
        return None
    header = read_header(file)
    i = int(m.group(1))
    return header[i] if i < len(header) else None


def _raise_structure(file: Path, text: str) -> None:
    """A CSV pyarrow cannot parse: find the first bad line with the csv module and name it."""
    for _row in _data_rows(file, read_header(file)):
        pass  # _data_rows names the first line with the wrong field count
    first = text.strip().splitlines()[0] if text.strip() else "unknown reason"
    raise DataError(f"the file is not readable as CSV: {first}.", str(file))


def _arrow_chunk(col: Any, numeric: bool, keep_texts: bool = False) -> Chunk:
    import pyarrow as pa
    import pyarrow.compute as pc

    n_missing = col.null_count
    if numeric and pa.types.is_float64(col.type):
        return Chunk(numbers=float64_values(col), n_missing=n_missing)
    if numeric:  # a numeric column read as text: parse each cell
        return _parse_numbers(col.to_pylist())
    if keep_texts:
        return _text_chunk(col.to_pylist(), keep_texts)
    counts = {str(d["values"]): int(d["counts"]) for d in pc.value_counts(col.drop_null()).to_pylist()}
    return Chunk(counts=counts, n_missing=n_missing)


def float64_values(col: Any) -> np.ndarray:
    """A pyarrow float64 array as numpy, nulls as NaN, read from its buffers.

    ``Array.to_numpy`` imports pandas (seconds of start-up) even for a zero-copy view; the
    buffers give the same values without it.
    """
    values = np.frombuffer(col.buffers()[1], dtype=np.float64, count=len(col), offset=col.offset * 8)
    if not col.null_count:
        return values
    valid = np.unpackbits(np.frombuffer(col.buffers()[0], dtype=np.uint8),
                          bitorder="little")[col.offset:col.offset + len(col)].astype(bool)
    out = values.copy()
    out[~valid] = np.nan
    return out


def _parse_numbers(cells: Sequence[Any]) -> Chunk:
    values = np.empty(len(cells), dtype=np.float64)
    n_missing = n_bad = 0
    example = None
    for i, cell in enumerate(cells):
        if cell is None or str(cell).strip().lower() in MISSING_TOKENS:
            values[i] = math.nan
            n_missing += 1
            continue
        try:
            values[i] = float(cell)
        except (TypeError, ValueError):
            values[i] = math.nan
            n_bad += 1
            example = example or str(cell)
    return Chunk(numbers=values, n_missing=n_missing, n_bad=n_bad, bad_example=example)


def _iter_csv_module(file: Path, numeric: set[str], wanted: list[str],
                     keep_texts: bool = False) -> Iterator[dict[str, Chunk]]:
    header = read_header(file)
    idx = {n: header.index(n) for n in wanted}
    rows: list[list[str]] = []
    for row in _data_rows(file, header):
        rows.append(row)
        if len(rows) >= BATCH_ROWS:
            yield _rows_to_chunks(rows, idx, numeric, keep_texts)
            rows = []
    if rows:
        yield _rows_to_chunks(rows, idx, numeric, keep_texts)


def _data_rows(file: Path, header: Sequence[str]) -> Iterator[list[str]]:
    """The CSV's data rows (blank lines and the header skipped); DataError names the first line
    whose field count differs from the header's."""
    with file.open("r", encoding="utf-8-sig", newline="") as fh:
        reader = csv.reader(fh)
        seen_header = False
        for row in reader:
            if not row:
                continue
            if not seen_header:
                seen_header = True
                continue
            if len(row) != len(header):
                raise DataError(f"line {reader.line_num} has {len(row)} fields but the header has "
                                f"{len(header)}; fix the separators or quoting on that line.",
                                str(file))
            yield row


def _rows_to_chunks(rows: list[list[str]], idx: Mapping[str, int],
                    numeric: set[str], keep_texts: bool = False) -> dict[str, Chunk]:
    out = {}
    for name, i in idx.items():
        cells = [r[i] for r in rows]
        out[name] = _parse_numbers(cells) if name in numeric else _text_chunk(cells, keep_texts)
    return out


def _text_chunk(cells: Sequence[Any], keep_texts: bool = False) -> Chunk:
    """Value counts of text cells (stripped), or with ``keep_texts`` each cell as read (None = missing)."""
    counts: dict[str, int] = {}
    texts: list[Any] = []
    n_missing = 0
    for cell in cells:
        if cell is None or str(cell).strip().lower() in MISSING_TOKENS:
            n_missing += 1
            texts.append(None)
        elif keep_texts:
            texts.append(cell)
        else:
            key = str(cell).strip()
            counts[key] = counts.get(key, 0) + 1
    return Chunk(texts=texts, n_missing=n_missing) if keep_texts else Chunk(counts=counts, n_missing=n_missing)


# ------------------------------------------------------------------------------------------------
# Parquet


def _iter_parquet(file: Path, numeric: set[str], wanted: list[str],
                  keep_texts: bool = False) -> Iterator[dict[str, Chunk]]:
    import pyarrow as pa
    import pyarrow.compute as pc

    pq = _pyarrow_parquet(file)
    try:
        pf = pq.ParquetFile(file)
        for batch in pf.iter_batches(batch_size=BATCH_ROWS, columns=wanted):
            out = {}
            for name, col in zip(batch.schema.names, batch.columns, strict=True):
                if name in numeric:
                    t = col.type
                    if pa.types.is_integer(t) or pa.types.is_floating(t) or pa.types.is_boolean(t) \
                            or pa.types.is_decimal(t):
                        out[name] = Chunk(numbers=float64_values(pc.cast(col, pa.float64())),
                                          n_missing=col.null_count)
                    else:
                        out[name] = _parse_numbers(col.to_pylist())
                else:
                    out[name] = _text_chunk(col.to_pylist(), keep_texts)
            yield out
    except DataError:
        raise
    except Exception as exc:  # pyarrow raises several unrelated types for a bad file
        raise DataError(f"the file is not a readable Parquet table: {_reason(exc)}.",
                        str(file)) from None


def _pyarrow_parquet(file: Path) -> Any:
    try:
        import pyarrow.parquet as pq
    except ImportError:
        raise DataError("reading Parquet needs pyarrow (pip install pyarrow), or convert the "
                        "table to CSV.", str(file)) from None
    return pq


def _is_parquet(file: Path) -> bool:
    if file.suffix.lower() in (".parquet", ".pq"):
        return True
    with file.open("rb") as fh:
        return fh.read(4) == b"PAR1"


def _reason(exc: BaseException) -> str:
    return str(exc).strip().rstrip(".") or type(exc).__name__


# ------------------------------------------------------------------------------------------------
# data capture


def iter_capture(source: DataSource, features: Sequence[str], numeric: set[str]
                 ) -> Iterator[dict[str, Chunk]]:
    """Batches of the features from SageMaker endpoint data-capture JSONL (CSV or BASE64 input).

    Each record's ``captureData.endpointInput.data`` holds CSV lines without a header, in the
    model's feature order. The inference id (else the event id) of every row and the captured
    output are kept on ``source`` for joining labels. A malformed record names its file and line.
    """
    rows: list[list[str]] = []
    source.event_ids.clear()
    source.outputs.clear()
    for file in source.files:
        with file.open("r", encoding="utf-8") as fh:
            for line_no, line in enumerate(fh, start=1):
                if not line.strip():
                    continue
                for row, event_id, output in _capture_rows(line, file, line_no, len(features)):
                    rows.append(row)
                    source.event_ids.append(event_id)
                    source.outputs.append(output)
                if len(rows) >= BATCH_ROWS:
                    yield _rows_to_chunks(rows, {n: i for i, n in enumerate(features)}, numeric)
                    rows = []
    if rows:
        yield _rows_to_chunks(rows, {n: i for i, n in enumerate(features)}, numeric)


def _capture_rows(line: str, file: Path, line_no: int,
                  width: int) -> Iterator[tuple[list[str], str, str]]:
    where = f"{file}: line {line_no}"
    try:
        record = json.loads(line)
        capture = record["captureData"]
        inp = capture["endpointInput"]
        data, encoding = str(inp["data"]), str(inp.get("encoding", "CSV")).upper()
        ctype = str(inp.get("observedContentType", "text/csv")).lower()
    except (ValueError, KeyError, TypeError) as exc:
        what = f"missing {exc}" if isinstance(exc, KeyError) else str(exc).split(":")[0]
        raise DataError(f"{where}: not a data-capture record ({what}); each line must be a JSON "
                        "object with captureData.endpointInput.data, as SageMaker writes them.") from None
    if encoding == "BASE64":
        try:
            data = base64.b64decode(data).decode("utf-8")
        except ValueError:
            raise DataError(f"{where}: endpointInput.data is not valid BASE64 text.") from None
    elif encoding not in ("CSV", "JSON"):
        raise DataError(f"{where}: endpointInput encoding {encoding!r} is not supported; "
                        "capture CSV or BASE64-encoded CSV input.")
    if "csv" not in ctype:
        raise DataError(f"{where}: captured input of type {ctype!r}; the check reads text/csv "
                        "input (the model's feature order, no header).")
    meta = record.get("eventMetadata") or {}
    event_id = str(meta.get("inferenceId") or meta.get("eventId") or "")
    out = capture.get("endpointOutput") or {}
    output_text = str(out.get("data", ""))
    if str(out.get("encoding", "CSV")).upper() == "BASE64" and output_text:
        try:
            output_text = base64.b64decode(output_text).decode("utf-8")
        except ValueError:
            output_text = ""
    rows = [r for r in csv.reader(io.StringIO(data)) if r]
    outputs = output_text.replace("\n", ",").split(",") if output_text else []
    for k, row in enumerate(rows):
        if len(row) != width:
            raise DataError(f"{where}: the captured row has {len(row)} values but the baseline "
                            f"has {width} features; capture the model's input as it was trained.")
        rid = event_id if len(rows) == 1 else f"{event_id}:{k}"
        yield row, rid, (outputs[k].strip() if k < len(outputs) else "")
