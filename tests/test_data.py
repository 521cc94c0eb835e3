"""Data loading and validation: every bad input gets its message; split, embedded data, round trip."""

from __future__ import annotations

import sys

import numpy as np
import pytest
from trainguard.training.config import load_config
from trainguard.training.data import (
    Dataset,
    embedded_dataset,
    load_table,
    write_csv,
)
from trainguard.training.errors import DataError
from trainguard.training.trainable import check_trainable, holdout_rows, holdout_split


def _write(path, text: str):
    path.write_text(text, encoding="utf-8")
    return path


def _toy(n_pos: int, n_neg: int, n_features: int = 3, seed: int = 0) -> Dataset:
    rng = np.random.default_rng(seed)
    n = n_pos + n_neg
    y = np.array([1] * n_pos + [0] * n_neg)
    return Dataset(rng.normal(size=(n, n_features)), y, [f"f{i}" for i in range(n_features)],
                   "label", (0, 1), "toy")


# --------------------------------------------------------------------------------------------
# loading good files


def test_csv_loads_with_missing_features_as_nan_and_labels_mapped(tmp_path):
    f = _write(tmp_path / "d.csv", "a,b,label\n1.5,,yes\nNA,2,no\nnan,3e2,no\n4,null,yes\n")
    ds = load_table(f, "label")
    assert ds.feature_names == ["a", "b"]
    assert ds.X.dtype == np.float64
    assert np.isnan(ds.X[1, 0]) and np.isnan(ds.X[2, 0]) and np.isnan(ds.X[0, 1])
    assert ds.X[2, 1] == 300.0
    assert ds.classes == ("no", "yes")
    assert ds.y.tolist() == [1, 0, 0, 1]
    assert ds.source == str(f)


def test_default_positive_is_one_true_or_larger_and_can_be_chosen(tmp_path):
    f = _write(tmp_path / "d.csv", "x,t\n1,3\n2,7\n3,7\n")
    assert load_table(f, "t").classes == (3, 7)
    ds = load_table(f, "t", positive_label="3")
    assert ds.classes == (7, 3)
    assert ds.y.tolist() == [1, 0, 0]
    g = _write(tmp_path / "g.csv", "x,t\n1,True\n2,False\n")
    assert load_table(g, "t").y.tolist() == [1, 0]
    with pytest.raises(DataError, match=r"positive label 'maybe' is not one of the target's values "
                                        r"\(3, 7\); set data.positive_label"):
        load_table(f, "t", positive_label="maybe")


def test_directory_with_one_table_is_used_and_blank_lines_skipped(tmp_path):
    (tmp_path / "in" / "part").mkdir(parents=True)
    (tmp_path / "in" / "_SUCCESS").write_text("")
    _write(tmp_path / "in" / "part" / "data.csv", "\ufeffx,y\n1,0\n\n2,1\n")
    ds = load_table(tmp_path / "in", "y")
    assert ds.n_rows == 2
    assert ds.source.endswith("data.csv")


def test_parquet_loads_with_nulls_as_nan(tmp_path):
    pa = pytest.importorskip("pyarrow")
    import pyarrow.parquet as pq

    table = pa.table({"a": [1.0, None, 3.0], "b": [1, 2, 3], "s": ["4", "", "6"],
                      "y": ["neg", "pos", "pos"]})
    pq.write_table(table, tmp_path / "d.parquet")
    ds = load_table(tmp_path / "d.parquet", "y", positive_label="pos")
    assert ds.feature_names == ["a", "b", "s"]
    assert np.isnan(ds.X[1, 0]) and np.isnan(ds.X[1, 2])
    assert ds.X[2].tolist() == [3.0, 3.0, 6.0]
    assert ds.y.tolist() == [0, 1, 1]


def test_parquet_problems_are_reported_too(tmp_path):
    pa = pytest.importorskip("pyarrow")
    import pyarrow.parquet as pq

    pq.write_table(pa.table({"a": ["1", "oops"], "y": [0, None]}), tmp_path / "d.parquet")
    with pytest.raises(DataError, match=r"(?s)column 'a' has 1 non-numeric value\(s\): row 2 "
                                        r"'oops'.*target column 'y' has 1 missing value\(s\): row 2"):
        load_table(tmp_path / "d.parquet", "y")


def test_unreadable_parquet_is_one_sentence(tmp_path):
    pytest.importorskip("pyarrow")
    bad = tmp_path / "broken.parquet"
    bad.write_bytes(b"PAR1 this is not a parquet file")
    with pytest.raises(DataError, match=r"not a readable Parquet table: ") as info:
        load_table(bad, "y")
    assert str(info.value).endswith(".") and not str(info.value).endswith("..")


def test_parquet_without_pyarrow_says_to_install_it(tmp_path, monkeypatch):
    (tmp_path / "d.parquet").write_bytes(b"PAR1....")
    monkeypatch.setitem(sys.modules, "pyarrow", None)
    monkeypatch.setitem(sys.modules, "pyarrow.parquet", None)
    with pytest.raises(DataError, match=r"reading Parquet needs pyarrow.*pip install"):
        load_table(tmp_path / "d.parquet", "y")


# --------------------------------------------------------------------------------------------
# bad input: each problem gets its message


def test_missing_file(tmp_path):
    with pytest.raises(DataError, match=r"the data file .*nope.csv does not exist; check data.uri"):
        load_table(tmp_path / "nope.csv", "y")


def test_empty_file_and_blank_file(tmp_path):
    with pytest.raises(DataError, match=r"e.csv: the file is empty \(0 bytes\)"):
        load_table(_write(tmp_path / "e.csv", ""), "y")
    with pytest.raises(DataError, match=r"the file is empty \(only blank lines\)"):
        load_table(_write(tmp_path / "b.csv", "\n\n  \n"), "y")


def test_header_only(tmp_path):
    with pytest.raises(DataError, match=r"has a header \('a', 'y'\) but no data rows"):
        load_table(_write(tmp_path / "h.csv", "a,y\n"), "y")


def test_ragged_rows_name_their_lines(tmp_path):
    f = _write(tmp_path / "r.csv", "a,b,y\n1,2,0\n1,2\n3,4,1\n1,2,3,4\n5,6,1\n")
    with pytest.raises(DataError, match=r"2 row\(s\) do not have the header's 3 fields: line 3 has "
                                        r"2, line 5 has 4"):
        load_table(f, "y")


def test_target_absent_lists_the_columns(tmp_path):
    f = _write(tmp_path / "t.csv", "a,b,label\n1,2,0\n3,4,1\n")
    with pytest.raises(DataError, match=r"target column 'y' is not in the table; the columns are "
                                        r"'a', 'b', 'label'\. Set data.target"):
        load_table(f, "y")


def test_target_with_one_or_three_classes_says_how_many_and_which(tmp_path):
    one = _write(tmp_path / "one.csv", "a,y\n1,0\n2,0\n")
    with pytest.raises(DataError, match=r"target column 'y' has 1 distinct value\(s\) \(0\); a "
                                        r"binary classifier needs exactly two classes"):
        load_table(one, "y")
    three = _write(tmp_path / "three.csv", "a,y\n1,cat\n2,dog\n3,bird\n")
    with pytest.raises(DataError, match=r"has 3 distinct value\(s\) \('cat', 'dog', 'bird'\)"):
        load_table(three, "y")


def test_non_numeric_features_name_column_rows_and_values(tmp_path):
    rows = "\n".join(f"{'abc' if i % 2 else i},{i % 2}" for i in range(10))
    f = _write(tmp_path / "n.csv", "age,y\n" + rows + "\n")
    with pytest.raises(DataError, match=r"column 'age' has 5 non-numeric value\(s\): row 2 \(line 3\)"
                                        r" 'abc', row 4 \(line 5\) 'abc', row 6 \(line 7\) 'abc' "
                                        r"\(\+2 more\); features must be numbers"):
        load_table(f, "y")


def test_infinite_values_are_rejected(tmp_path):
    f = _write(tmp_path / "i.csv", "a,y\n1,0\n-inf,1\n1e400,0\n")
    with pytest.raises(DataError, match=r"column 'a' has 2 infinite value\(s\): row 2 \(line 3\) "
                                        r"'-inf', row 3 \(line 4\) '1e400'; replace them"):
        load_table(f, "y")


def test_duplicate_column_names(tmp_path):
    f = _write(tmp_path / "d.csv", "a,a,y\n1,2,0\n3,4,1\n")
    with pytest.raises(DataError, match=r"duplicate column name\(s\) 'a'; every column needs a "
                                        r"unique name"):
        load_table(f, "y")


def test_missing_target_values_are_not_allowed(tmp_path):
    f = _write(tmp_path / "m.csv", "a,y\n1,0\n2,\n3,NA\n4,1\n")
    with pytest.raises(DataError, match=r"target column 'y' has 2 missing value\(s\): row 2 \(line "
                                        r"3\), row 3 \(line 4\); every row needs a label"):
        load_table(f, "y")


def test_every_problem_is_reported_at_once(tmp_path):
    f = _write(tmp_path / "all.csv", "a,a,b,y\n1,2,x,0\n1,2\n3,4,inf,\n5,6,7,2\n8,9,1,5\n")
    with pytest.raises(DataError) as info:
        load_table(f, "y")
    text = str(info.value)
    assert text.startswith(f"{f}: 6 problems found:")
    for part in ("line 3 has 2", "duplicate column name(s) 'a'", "column 'b' has 1 non-numeric",
                 "column 'b' has 1 infinite", "target column 'y' has 1 missing",
                 "has 3 distinct value(s)"):
        assert part in text


def test_folder_with_several_or_no_tables(tmp_path):
    (tmp_path / "many").mkdir()
    _write(tmp_path / "many" / "a.csv", "x,y\n1,0\n")
    _write(tmp_path / "many" / "b.parquet", "x")
    with pytest.raises(DataError, match=r"holds 2 table files \(a.csv, b.parquet\); point data.uri"):
        load_table(tmp_path / "many", "y")
    (tmp_path / "none").mkdir()
    _write(tmp_path / "none" / "notes.txt", "hi")
    with pytest.raises(DataError, match=r"holds no .csv or .parquet file \(found: notes.txt\)"):
        load_table(tmp_path / "none", "y")


def test_not_utf8(tmp_path):
    (tmp_path / "l.csv").write_bytes(b"a,y\n\xff\xfe,0\n")
    with pytest.raises(DataError, match=r"the file is not UTF-8 text"):
        load_table(tmp_path / "l.csv", "y")


# --------------------------------------------------------------------------------------------
# trainability


def test_trainable_data_passes():
    check_trainable(_toy(60, 400), load_config())


def test_check_trainable_returns_the_holdout_it_counted():
    """The rows the check counts are the split's: the preprocess job splits on them, not on a
    second draw, and gets the same train and test parts a fresh draw gives."""
    ds = _toy(60, 400, seed=5)
    cfg = load_config(None, {"seed": 9, "data.test_size": 0.25})
    rows = check_trainable(ds, cfg)
    fresh = holdout_rows(ds, 0.25, 9)
    assert all(np.array_equal(a, b) for a, b in zip(rows, fresh, strict=True))
    given, drawn = holdout_split(ds, 0.25, 9, rows=rows), holdout_split(ds, 0.25, 9)
    for a, b in zip(given, drawn, strict=True):
        assert np.array_equal(a.X, b.X) and np.array_equal(a.y, b.y)
    assert not np.array_equal(rows[1], holdout_rows(ds, 0.25, 10)[1])  # the seed is honoured


def test_too_few_minority_rows_for_smote_gives_counts_and_fixes():
    cfg = load_config(None, {"cv.folds": 5, "resampling.k_neighbors": 5})
    with pytest.raises(DataError, match=r"the minority class 1 has 10 rows: 8 after the holdout "
                                        r"\(data.test_size=0.2\), 6 in the smallest fit part of "
                                        r"cv.folds=5 and 5 after its early-stopping carve-out .*"
                                        r"k_neighbors=5 needs at least 6\. Fix: "
                                        r"resampling.k_neighbors=4 or lower, or fewer folds "
                                        r"\(cv.folds=4\), or resampling.method=random_over"):
        check_trainable(_toy(10, 300), cfg)
    # the same data is fine with the fixes the message proposes
    check_trainable(_toy(10, 300), cfg.replace(**{"resampling.k_neighbors": 4}))
    check_trainable(_toy(10, 300), cfg.replace(**{"resampling.method": "random_over"}))


def test_trainability_counts_are_those_of_the_real_folds():
    """The mirror of the CV splits agrees with trainguard.training.cv.FoldPlan, fold by fold."""
    from trainguard.training.cv import FoldPlan
    from trainguard.training.trainable import _fold_fit_counts

    ds = _toy(23, 300, seed=4)
    cfg = load_config(None, {"cv.folds": 4, "resampling.method": "random_over", "seed": 11})
    train, _ = holdout_split(ds, cfg.data.test_size, cfg.seed)
    plan = FoldPlan(train.X, train.y, cfg)
    real = min(int(train.y[plan.fold(i).fit_idx].sum()) for i in range(len(plan)))
    mirrored = _fold_fit_counts(train.y, 4, True, cfg.xgboost.validation_fraction, cfg.seed)
    assert mirrored[1][1] == real
    # at the boundary: k_neighbors = real - 1 passes, real fails
    check_trainable(ds, cfg.replace(**{"resampling.method": "smote",
                                       "resampling.k_neighbors": real - 1}))
    with pytest.raises(DataError, match=rf"and {real} after its early-stopping carve-out"):
        check_trainable(ds, cfg.replace(**{"resampling.method": "smote",
                                           "resampling.k_neighbors": real}))


def test_fewer_minority_rows_than_folds():
    cfg = load_config(None, {"cv.folds": 10})
    with pytest.raises(DataError, match=r"class 1 has 5 rows left for training after the holdout, "
                                        r"fewer than cv.folds=10.*Use cv.folds=5 or fewer"):
        check_trainable(_toy(6, 300), cfg)


def test_single_minority_row_cannot_be_split():
    with pytest.raises(DataError, match=r"class 1 has 1 row\(s\); the stratified holdout split "
                                        r"needs at least 2"):
        check_trainable(_toy(1, 300), load_config())


# --------------------------------------------------------------------------------------------
# split, embedded data set, CSV round trip


def test_holdout_split_is_stratified_and_deterministic():
    ds = _toy(50, 450)
    train, test = holdout_split(ds, 0.2, seed=3)
    assert (train.n_rows, test.n_rows) == (400, 100)
    assert int(test.y.sum()) == 10 and int(train.y.sum()) == 40
    again_train, again_test = holdout_split(ds, 0.2, seed=3)
    assert np.array_equal(again_test.X, test.X) and np.array_equal(again_train.y, train.y)
    _, other = holdout_split(ds, 0.2, seed=4)
    assert not np.array_equal(other.X, test.X)
    # disjoint and complete
    rows = {tuple(r) for r in train.X} | {tuple(r) for r in test.X}
    assert len(rows) == 500


def test_embedded_dataset_is_digits_is_eight():
    ds = embedded_dataset()
    assert ds.X.shape == (1797, 64)
    assert ds.feature_names[0] == "pixel_0_0" and ds.feature_names[-1] == "pixel_7_7"
    assert ds.target == "is_eight"
    assert int(ds.y.sum()) == 174
    assert 0.09 < ds.positive_rate < 0.11
    check_trainable(ds, load_config())


def test_write_csv_round_trips_with_nan_and_labels(tmp_path):
    ds = Dataset(np.array([[0.1, np.nan], [1e-300, 2.0], [3.0, -4.5]]), np.array([1, 0, 1]),
                 ["p", "q"], "outcome", ("stay", "churn"), "mem")
    out = write_csv(ds, tmp_path / "sub" / "x.csv")
    assert out.read_text().splitlines()[:2] == ["p,q,outcome", "0.1,,churn"]
    back = load_table(out, "outcome", positive_label="churn")
    assert np.array_equal(back.X, ds.X, equal_nan=True)
    assert back.y.tolist() == ds.y.tolist()
    assert back.classes == ("stay", "churn")
    assert not list((tmp_path / "sub").glob("*.partial"))


def test_missing_values_with_smote_are_refused_but_fine_with_random_over():
    ds = _toy(60, 400)
    ds.X[[3, 7], 1] = np.nan
    with pytest.raises(DataError, match=r"1 feature column\(s\) have missing values \('f1' \(2\)\); "
                                        r"resampling.method=smote interpolates.*Fix: "
                                        r"resampling.method=random_over"):
        check_trainable(ds, load_config())
    check_trainable(ds, load_config(None, {"resampling.method": "random_over"}))


def test_write_csv_quotes_labels_that_need_it_and_repeated_labels_map_consistently(tmp_path):
    ds = Dataset(np.array([[1.0], [2.0], [3.0]]), np.array([0, 1, 0]), ["v"], "t",
                 ("no, never", 'yes "really"'), "mem")
    back = load_table(write_csv(ds, tmp_path / "q.csv"), "t", positive_label='yes "really"')
    assert back.classes == ("no, never", 'yes "really"')
    assert back.y.tolist() == [0, 1, 0]


def test_too_few_rows_for_any_stratified_holdout():
    with pytest.raises(DataError, match=r"5 rows are too few for a stratified holdout with "
                                        r"data.test_size=0.2"):
        check_trainable(_toy(2, 3), load_config())
    with pytest.raises(DataError, match=r"cannot make a stratified holdout split with "
                                        r"data.test_size=0.2"):
        holdout_split(_toy(2, 3), 0.2, seed=0)


# --------------------------------------------------------------------------------------------
# the bulk fast path and reuse


PLAIN_FILES = {
    "numbers": "a,b,y\n1,2.5,0\n-3e2,0.1,1\n4,5,0\n",
    "crlf_bom_spaces": "\ufeff a , b ,y\r\n 1 ,2,yes\r\n3, 4 ,no\r\n5,6,yes\r\n",
    "missing_tokens": "a,b,y\n,NA,1\nnan,2,0\nNULL,None,1\n7,n/a,0\nN/A,NaN,1\n",
    "target_in_the_middle": "a,label,b\n1,cat,2\n3,dog,4\n5,cat,6\n",
    "unicode_digits_underscores": "a,b,y\n\u0661\u0662,1_000,1\n3,4,0\n",
    "empty_last_feature": "a,b,y\n1,,0\n2,,1\n",
    "adjacent_empties": "a,b,c,y\n,,1,1\n2,,,0\n,3,,1\n,,,\n",
    "a_text_column": "a,b,y\n1,x,0\n2,,1\n3,z,1\n",
    "missing_labels_and_three_classes": "a,y\n1,0\n2,\n3,NA\n4,1\n5,2\n",
    "feature_words": "a,b,y\n1,x,0\n2,3,1\n",
    "infinity": "a,y\n1,0\n-Infinity,1\n1e400,0\n",
    "ragged": "a,b,y\n1,2,0\n3,1\n4,5,1\n",
    "blank_lines": "a,y\n\n1,0\n  \n2,1\n",
    "quotes": 'a,y\n"1",0\n"2,5",1\n',
    "duplicate_header": "a,a,y\n1,2,0\n3,4,1\n",
}


@pytest.mark.parametrize("name", sorted(PLAIN_FILES))
def test_fast_path_gives_what_the_detailed_pass_gives(tmp_path, monkeypatch, name):
    """Same Dataset, or the same DataError text, with and without the bulk parse."""
    import trainguard.training.data as data

    target = "label" if name == "target_in_the_middle" else "y"
    f = tmp_path / "t.csv"
    f.write_bytes(PLAIN_FILES[name].encode("utf-8"))

    def outcome():
        try:
            ds = load_table(f, target)
        except DataError as exc:
            return str(exc)
        return (ds.X.tobytes(), ds.X.shape, ds.y.tolist(), ds.classes, ds.feature_names)

    fast = outcome()
    monkeypatch.setattr(data, "_read_csv_fast", lambda *args: None)
    assert outcome() == fast


def test_plain_csv_takes_the_bulk_path_and_odd_ones_the_detailed_pass(tmp_path, monkeypatch):
    import trainguard.training.data as data

    calls = []
    real = data._read_csv
    monkeypatch.setattr(data, "_read_csv", lambda *a: calls.append(a) or real(*a))
    ds = load_table(_write(tmp_path / "p.csv", "a,b,y\n1,,0\n2,NA,1\n3,4,1\n"), "y")
    assert calls == [] and ds.n_rows == 3 and np.isnan(ds.X[:2, 1]).all()
    with pytest.raises(DataError, match=r"column 'a' has 1 infinite value\(s\): row 2 \(line 3\) "
                                        r"'-Infinity'"):
        load_table(_write(tmp_path / "i.csv", "a,y\n1,0\n-Infinity,1\n"), "y")
    assert len(calls) == 1


def test_reuse_returns_the_earlier_parse_read_only_under_the_new_name(tmp_path, monkeypatch):
    import trainguard.training.data as data

    monkeypatch.setattr(data, "_loaded", data.OrderedDict())
    text = "a,b,y\n1,2,0\n3,4,1\n5,6,0\n"
    first = load_table(_write(tmp_path / "one.csv", text), "y", reuse=True)
    parses = []
    monkeypatch.setattr(data, "_load", lambda *a: parses.append(a) or pytest.fail("parsed again"))
    second = load_table(_write(tmp_path / "two.csv", text), "y", reuse=True)
    assert parses == [] and second.source == str(tmp_path / "two.csv")
    assert second.X is first.X and second.y.tolist() == [0, 1, 0]
    with pytest.raises(ValueError, match="read-only"):
        second.X[0, 0] = 99.0
    assert first.X[0, 0] == 1.0


def test_reuse_parses_other_bytes_settings_and_never_keeps_failures(tmp_path, monkeypatch):
    import trainguard.training.data as data

    monkeypatch.setattr(data, "_loaded", data.OrderedDict())
    f = _write(tmp_path / "d.csv", "a,y\n1,0\n2,1\n3,1\n")
    load_table(f, "y", reuse=True)
    assert load_table(f, "y", positive_label="0", reuse=True).y.tolist() == [1, 0, 0]
    _write(f, "a,y\n1,0\n2,1\n9,0\n")
    assert load_table(f, "y", reuse=True).X[:, 0].tolist() == [1.0, 2.0, 9.0]
    assert len(data._loaded) == 2  # bounded: the oldest was dropped
    _write(f, "a,y\n1,0\nx,1\n")
    for _ in range(2):
        with pytest.raises(DataError, match=r"column 'a' has 1 non-numeric value"):
            load_table(f, "y", reuse=True)
    assert len(data._loaded) == 2
