"""Bulk reading and the Parquet split files: the same Dataset as the detailed loader, or a fallback."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from trainguard.training import data, tables
from trainguard.training.data import Dataset, load_table, write_csv
from trainguard.training.errors import DataError
from trainguard.training.tables import read_bulk, write_split


def _detailed(path, target, positive_label=None, monkeypatch=None) -> Dataset:
    """What load_table gives without the bulk reader (the loader as it was)."""
    monkeypatch.setattr(tables, "read_bulk", lambda *a, **k: None)
    try:
        return load_table(path, target, positive_label)
    finally:
        monkeypatch.undo()


def _same(a: Dataset, b: Dataset) -> None:
    assert a.feature_names == b.feature_names and a.target == b.target
    assert a.classes == b.classes and [type(c) for c in a.classes] == [type(c) for c in b.classes]
    assert a.X.dtype == b.X.dtype == np.float64 and a.X.flags.c_contiguous
    np.testing.assert_array_equal(a.X, b.X)
    assert a.y.dtype == b.y.dtype == np.int64
    np.testing.assert_array_equal(a.y, b.y)


@pytest.mark.parametrize("text, target, positive", [
    # every usual spelling of missing, exponents, signs, long digit strings, spaces around numbers
    ("a,b,label\n1.5,,yes\nNA,2,no\nnan,3e2,no\n4,null,yes\n-0,N/A,no\n+.5,None,yes\n"
     "0.1000000000000000055511151231257827,1e-320,no\n 7 ,NaN,yes\n", "label", None),
    # a BOM, CRLF line ends, quoted labels and numbers, spaces in a header name
    ('\ufeffx, y z ,t\r\n1,"2",\"True\"\r\n3,4,False\r\n5,6,True\r\n', "t", None),
    # numeric labels spelled three ways are one class; a chosen positive label
    ("f,t\n1,3\n2,7.0\n3, 7\n4,3\n", "t", "3"),
    # quoted text spanning lines in a label: the bulk reader must agree with the csv module
    ('f,t\n1,"a\nb"\n2,c\n3,c\n', "t", None),
])
def test_bulk_csv_equals_the_detailed_loader(tmp_path, monkeypatch, text, target, positive):
    f = tmp_path / "d.csv"
    f.write_bytes(text.encode("utf-8"))
    bulk = read_bulk(f, target, positive, str(f))
    assert bulk is not None
    _same(bulk, _detailed(f, target, positive, monkeypatch))


@pytest.mark.parametrize("text", [
    "a,label\n1_000,0\n2,1\n",           # Python reads 1_000; the detailed pass decides
    "a,label\nx,0\n2,1\n",               # not a number
    "a,label\ninf,0\n2,1\n",             # infinite
    "a,label\n1,\n2,1\n",                # missing label
    "a,label\n1,0\n2\n",                 # ragged
    "a,label\n1,0\n2,1\n3,2\n",          # three classes
    "a,a,label\n1,2,0\n2,3,1\n",         # duplicate column
    "\na,label\n1,0\n2,1\n",             # header not on the first line
    "a,label\n",                         # no rows
    "a,label\n1,0\n  \n2,1\n",           # a blank-looking line
])
def test_bulk_csv_defers_anything_unusual_to_the_detailed_loader(tmp_path, text):
    f = tmp_path / "d.csv"
    f.write_text(text, encoding="utf-8")
    assert read_bulk(f, "label", None, str(f)) is None


def test_messages_for_bad_files_are_unchanged(tmp_path):
    f = tmp_path / "d.csv"
    f.write_text("a,b,label\n1,x,0\n2,3\n4,inf,1\n5,6,\n", encoding="utf-8")
    with pytest.raises(DataError) as err:
        load_table(f, "label")
    text = str(err.value)
    assert "line 3 has 2" in text and "column 'b' has 1 non-numeric value(s): row 1 (line 2) 'x'" in text
    assert "infinite value(s): row 2 (line 4) 'inf'" in text
    assert "target column 'label' has 1 missing value(s): row 3 (line 5)" in text


def test_bulk_parquet_equals_the_detailed_loader(tmp_path, monkeypatch):
    table = pa.table({"i": pa.array([1, None, 3, 4], pa.int64()),
                      "f": pa.array([0.5, 1.5, None, float("nan")], pa.float32()),
                      "label": pa.array([1, 0, 0, 1], pa.int8())})
    f = tmp_path / "d.parquet"
    pq.write_table(table, f, row_group_size=2)
    bulk = read_bulk(f, "label", None, str(f))
    assert bulk is not None
    _same(bulk, _detailed(f, "label", None, monkeypatch))
    g = tmp_path / "text.parquet"
    pq.write_table(table.set_column(2, "label", pa.array(["no", "yes", "yes", "no"])), g)
    _same(read_bulk(g, "label", "no", str(g)), _detailed(g, "label", "no", monkeypatch))
    # booleans, text features and null labels go the detailed way
    for name, col in (("i", pa.array([True, False, True, False])), ("i", pa.array(list("abcd"))),
                      ("label", pa.array(["no", None, "yes", "no"]))):
        h = tmp_path / f"odd-{name}.parquet"
        pq.write_table(table.set_column(table.schema.get_field_index(name), name, col), h)
        assert read_bulk(h, "label", None, str(h)) is None


@pytest.mark.parametrize("classes", [(0, 1), ("no", "yes"), (0.5, 1.5), (False, True), (-1, "x y")])
def test_a_parquet_split_reads_back_as_a_csv_split_did(tmp_path, monkeypatch, classes):
    """Same X (bit for bit, NaN kept), labels and classes as writing and reading a CSV split."""
    monkeypatch.setattr(tables, "_ROW_GROUP", 7)  # several row groups
    rng = np.random.default_rng(3)
    X = rng.normal(size=(30, 3)) * 10.0 ** rng.integers(-300, 300, size=(30, 3))
    X[rng.random(X.shape) < 0.1] = np.nan
    X[0, 0] = -0.0
    y = np.array([0, 1] * 15, dtype=np.int64)
    ds = Dataset(X, y, ["a", "b c", "ü"], "target", classes, "mem")
    via_csv = load_table(write_csv(ds, tmp_path / "s.csv"), "target")
    path = write_split(ds, tmp_path / "s.parquet")
    assert sorted(f.name for f in tmp_path.iterdir()) == ["s.csv", "s.parquet"]  # no temp file left
    assert pq.ParquetFile(path).num_row_groups == 5
    via_parquet = load_table(path, "target")
    _same(via_parquet, via_csv)
    assert np.signbit(via_parquet.X[0, 0])


def test_reuse_key_hashes_the_file_without_reading_it_whole(tmp_path, monkeypatch):
    f = tmp_path / "d.csv"
    f.write_text("a,label\n1,0\n2,1\n3,0\n", encoding="utf-8")
    monkeypatch.setattr(data, "_loaded", data.OrderedDict())
    first = load_table(f, "label", reuse=True)
    again = load_table(f, "label", reuse=True)
    assert again.X is first.X and not first.X.flags.writeable
    f.write_text("a,label\n1,0\n2,1\n4,0\n", encoding="utf-8")
    assert load_table(f, "label", reuse=True).X[2, 0] == 4.0


@pytest.mark.parametrize("threads", [True, False])
def test_bulk_csv_of_many_blocks_on_one_thread_or_the_pool(tmp_path, threads):
    """A table of many pyarrow blocks (columns arrive in chunks) with missing cells late in the
    file reads the same on one thread (the local run's read-ahead) as on pyarrow's pool."""
    rng = np.random.default_rng(3)
    n = 120_000  # about 5 MB: several of pyarrow's 1 MB blocks
    X = rng.normal(size=(n, 3)).round(6)
    X[[5, n // 2, n - 1], [0, 1, 2]] = np.nan
    y = (rng.random(n) < 0.1).astype(int)
    f = tmp_path / "big.csv"
    lines = ["a,b,c,label", *(",".join("" if np.isnan(v) else repr(float(v)) for v in row) + f",{t}"
                             for row, t in zip(X, y, strict=True))]
    f.write_text("\n".join(lines) + "\n", encoding="utf-8")
    ds = read_bulk(f, "label", None, str(f), threads=threads)
    assert ds is not None and ds.X.flags.c_contiguous
    np.testing.assert_array_equal(ds.X, X)
    np.testing.assert_array_equal(ds.y, y)
    assert ds.classes == (0, 1)
