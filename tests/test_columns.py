"""Column roles, categorical features, the serving contract of categories, and the leakage screen."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import xgboost as xgb
from trainguard.training.config import load_config
from trainguard.training.cv import FoldPlan, cross_validate, fit_final
from trainguard.training.data import Dataset, load_table, write_csv
from trainguard.training.encoding import FeatureEncoding
from trainguard.training.errors import ConfigError, DataError
from trainguard.training.jobs import preprocess_arguments
from trainguard.training.leakage import findings, screen_features
from trainguard.training.resampling import resample
from trainguard.training.trainable import check_trainable, holdout_split


def _table(path: Path, header: list[str], rows: list[list[object]]) -> Path:
    path.write_text("\n".join([",".join(header), *(",".join(map(str, r)) for r in rows)]) + "\n")
    return path


def _customers(path: Path, n: int = 120) -> Path:
    plans = ["basic", "plus", "pro"]
    rows = []
    for i in range(n):
        churned = "yes" if i % 4 == 0 else "no"
        region = "" if i % 11 == 0 else ["north", "south", "east"][i % 3]
        rows.append([f"C{i:04d}", f"2024-01-{1 + i % 28:02d}", plans[(i // 3) % 3], region, i % 9, churned])
    return _table(path, ["customer_id", "signup", "plan", "region", "tenure", "churned"], rows)


def _cfg(**over: object):
    return load_config(None, {"data.target": "churned", **over})


# ---- roles -----------------------------------------------------------------------------------


def test_roles_pick_features_and_text_columns_become_categories(tmp_path: Path) -> None:
    cfg = _cfg(**{"data.id": "customer_id", "data.timestamp": "signup"})
    ds = load_table(_customers(tmp_path / "c.csv"), "churned", roles=cfg.data)
    assert ds.feature_names == ["plan", "region", "tenure"]
    assert ds.categories == {"plan": ("basic", "plus", "pro"), "region": ("east", "north", "south")}
    assert np.isnan(ds.X[0, 1])  # an empty region is a missing category
    assert ds.X[:3, 0].tolist() == [0.0, 0.0, 0.0] and ds.X[3, 0] == 1.0
    assert ds.timestamps is not None and ds.timestamps[1] - ds.timestamps[0] == 86400.0
    only = load_table(tmp_path / "c.csv", "churned",
                      roles=_cfg(**{"data.features": ["tenure", "plan"], "data.id": "customer_id"}).data)
    assert only.feature_names == ["plan", "tenure"]  # table order


def test_unmentioned_unusable_columns_are_reported_once_with_the_fix(tmp_path: Path) -> None:
    with pytest.raises(DataError) as err:
        load_table(_customers(tmp_path / "c.csv"), "churned", roles=_cfg().data)
    text = str(err.value)
    assert text.count("cannot be used as features") == 1
    assert "'customer_id': text with a different value on every row" in text
    assert "'signup': dates as text" in text
    assert "data.exclude: [customer_id, signup]" in text and "data.timestamp" in text


def test_explicit_categorical_keeps_number_like_text(tmp_path: Path) -> None:
    rows = [[f"0{2100 + i % 5}", i % 3, "yes" if i % 2 else "no"] for i in range(40)]
    path = _table(tmp_path / "z.csv", ["zip", "n", "churned"], rows)
    ds = load_table(path, "churned", roles=_cfg(**{"data.categorical": ["zip", "n"]}).data)
    assert ds.categories["zip"] == ("02100", "02101", "02102", "02103", "02104")
    assert ds.categories["n"] == ("0", "1", "2")
    assert load_table(path, "churned", roles=_cfg().data).categories == {}  # numbers unless told


def test_numbers_with_stray_text_stay_an_error_naming_rows(tmp_path: Path) -> None:
    rows = [[i, "yes" if i % 2 else "no"] for i in range(30)]
    rows[4][0] = "unknown"
    path = _table(tmp_path / "m.csv", ["income", "churned"], rows)
    with pytest.raises(DataError, match=r"column 'income' has 1 non-numeric value\(s\): row 5 \(line 6\) "
                                        r"'unknown'.*list it in data\.categorical"):
        load_table(path, "churned", roles=_cfg().data)


def test_bad_roles_each_get_a_clear_message_before_any_job(tmp_path: Path) -> None:
    path = _customers(tmp_path / "c.csv")
    with pytest.raises(DataError, match=r"data.exclude names 'nope'.*data.id names 'cust'"):
        load_table(path, "churned", roles=_cfg(**{"data.exclude": ["nope"], "data.id": "cust"}).data)
    with pytest.raises(ConfigError, match=r"data.id .customer_id. is also listed as a feature"):
        _cfg(**{"data.id": "customer_id", "data.features": ["customer_id", "plan"]})
    with pytest.raises(ConfigError, match=r"data.split is .time. but data.timestamp is not set"):
        _cfg(**{"data.split": "time"})
    with pytest.raises(ConfigError, match=r"data.features and data.exclude are both set"):
        _cfg(**{"data.features": ["plan"], "data.exclude": ["region"]})
    text = path.read_text().replace("2024-01-05", "last tuesday")
    (tmp_path / "t.csv").write_text(text)
    with pytest.raises(DataError, match=r"time column 'signup' .* not a date or time: row 5 \(line 6\) "
                                        r"'last tuesday'.*ISO 8601"):
        load_table(tmp_path / "t.csv", "churned",
                   roles=_cfg(**{"data.id": "customer_id", "data.timestamp": "signup"}).data)


def test_a_categorical_with_100000_values_is_refused_with_the_cap(tmp_path: Path) -> None:
    path = tmp_path / "big.csv"
    path.write_text("account,churned\n" + "".join(f"A{i},{'yes' if i % 2 else 'no'}\n" for i in range(100_000)))
    with pytest.raises(DataError, match=r"categorical column 'account' has 100000 distinct values, more than "
                                        r"data.max_categories=1000.*Exclude it"):
        load_table(path, "churned", roles=_cfg(**{"data.categorical": ["account"]}).data)
    ds = load_table(path, "churned", roles=_cfg(**{"data.categorical": ["account"],
                                                   "data.max_categories": 200_000}).data)
    assert len(ds.categories["account"]) == 100_000


def test_time_split_keeps_the_latest_rows_as_holdout(tmp_path: Path) -> None:
    cfg = _cfg(**{"data.id": "customer_id", "data.timestamp": "signup", "data.split": "time",
                  "data.test_size": 0.25, "resampling.method": "random_over", "cv.folds": 3})
    ds = load_table(_customers(tmp_path / "c.csv"), "churned", roles=cfg.data)
    check_trainable(ds, cfg)
    train, test = holdout_split(ds, 0.25, cfg.seed, "time")
    assert test.n_rows == 30 and train.timestamps.max() <= test.timestamps.min()


def test_split_csv_round_trips_categories_as_text(tmp_path: Path) -> None:
    ds = Dataset(np.array([[0.0, 1.5], [1.0, np.nan], [np.nan, 2.0]]), np.array([1, 0, 1]),
                 ["stage", "x"], "y", ("n", "p"), "t", {"stage": ("Adult, 1 Egg", "Chick \"B\"")})
    path = write_csv(ds, tmp_path / "s.csv")
    back = load_table(path, "y", roles=_cfg(**{"data.target": "y", "data.categorical": ["stage"]}).data)
    assert back.categories == ds.categories
    np.testing.assert_array_equal(back.X, ds.X)


# ---- encoding: learned on fit rows, unseen and missing at scoring and serving ----------------


def test_encoding_learns_on_fit_rows_pools_rare_and_maps_unseen() -> None:
    vocab = {0: ("a", "b", "c", "z")}
    X = np.array([[0], [0], [0], [1], [1], [1], [2], [3], [np.nan]], dtype=float)
    enc = FeatureEncoding.fit(X, np.arange(7), ["k"], vocab, min_count=2)  # row 7 ('z') is not a fit row
    cmap = enc.columns[0]
    assert cmap.categories == ("a", "b") and cmap.other == 2 and cmap.pooled == ("c",)
    out = enc.transform(X, vocab)[:, 0]
    assert out[:7].tolist() == [0, 0, 0, 1, 1, 1, 2]
    assert out[7] == 2  # 'z' was never seen at fit time: it is scored as the rare pool
    assert math.isnan(out[8])
    # another table's vocabulary maps by text, not by position
    other = enc.transform(np.array([[0.0], [1.0], [2.0]]), {0: ("b", "q", "a")})[:, 0]
    assert other.tolist() == [1.0, 2.0, 0.0]
    assert FeatureEncoding.from_dict(enc.to_dict()) == enc
    none_rare = FeatureEncoding.fit(X, np.arange(6), ["k"], vocab, 1)
    assert none_rare.columns[0].other is None and math.isnan(none_rare.columns[0].codes_of(["c"])[0])


def _cat_data(n: int = 600, seed: int = 0) -> tuple[np.ndarray, np.ndarray, dict[int, tuple[str, ...]]]:
    rng = np.random.default_rng(seed)
    cat = rng.integers(0, 6, n).astype(float)
    cat[rng.random(n) < 0.05] = np.nan
    num = rng.normal(size=n)
    y = (((cat == 2) | (cat == 4)) ^ (rng.random(n) < 0.1)).astype(np.int64)
    return np.column_stack([num, cat]), y, {1: tuple("abcdef")}


def test_each_fold_learns_its_categories_from_its_own_fit_rows() -> None:
    X, y, vocab = _cat_data()
    X[5, 1] = 7.0  # a category ('h') on one row only
    vocab = {1: (*"abcdefg", "h")}
    cfg = load_config(None, {"cv.folds": 3, "xgboost.num_round": 30, "xgboost.nthread": 1,
                             "data.min_category_count": 1})
    plan = FoldPlan(X, y, cfg, vocab, ["num", "cat"])
    result = cross_validate(X, y, cfg, plan=plan)
    assert result.mean("auc") > 0.8
    for i in range(3):
        kept = plan._encodings[i].columns[1].categories
        assert ("h" in kept) == (5 in plan.fold(i).fit_idx)


def test_smote_nc_keeps_categories_whole_and_missing_missing() -> None:
    X, y, _ = _cat_data()
    cfg = load_config()
    Xr, yr = resample(X, y, cfg.resampling, 7, categorical=[1])
    synthetic = Xr[y.size:, 1]
    assert yr.size > y.size
    present = synthetic[~np.isnan(synthetic)]
    assert np.all(present == np.round(present)) and set(present.tolist()) <= set(range(6))
    np.testing.assert_array_equal(Xr[: y.size], X)


def test_a_served_csv_row_of_codes_scores_unseen_and_missing_categories() -> None:
    """The serving image parses text/csv into a plain float DMatrix ('' -> nan) and predicts."""
    X, y, vocab = _cat_data()
    cfg = load_config(None, {"xgboost.num_round": 20, "xgboost.nthread": 1})
    booster = fit_final(X, y, cfg, categorical=vocab, feature_names=["num", "cat"])
    enc = FeatureEncoding.from_booster(booster)
    assert enc is not None and enc.feature_types == ["q", "c"]
    raw = bytearray(booster.save_raw("json"))
    served = xgb.Booster()
    served.load_model(raw)  # model.json alone, as the endpoint loads it
    body = "0.1,2\n0.1,3\n0.1,999\n0.1,\n0.1,-1"
    rows = np.array([["nan" if c == "" else c for c in line.split(",")] for line in body.split("\n")]).astype(float)
    proba = served.predict(xgb.DMatrix(rows), validate_features=False)
    assert proba.shape == (5,) and np.all(np.isfinite(proba))
    assert proba[0] > proba[1]  # category 'c' (code 2) is the positive one
    # the caller's side of the contract: an unknown category is sent as missing (no rare pool here)
    codes = enc.columns[1].codes_of(["c", "a category never seen", None])
    assert codes[0] == 2.0 and np.isnan(codes[1:]).all()
    assert served.predict(xgb.DMatrix(np.array([[0.1, codes[1]]])), validate_features=False)[0] == \
        pytest.approx(proba[3])


# ---- leakage screen ------------------------------------------------------------------------------


def test_screen_scores_each_feature_alone_out_of_fold() -> None:
    rng = np.random.default_rng(1)
    n = 1000
    y = (rng.random(n) < 0.3).astype(np.int64)
    leak = y + rng.normal(0, 0.2, n)
    gap = rng.normal(size=n)
    gap[y == 1] = np.nan
    ident = np.arange(n, dtype=float)
    unique_text = np.arange(n, dtype=float)  # a categorical with a value per row
    noise = rng.normal(size=n)
    X = np.column_stack([leak, gap, ident, unique_text, noise])
    names = ["leak", "gap", "ident", "code", "noise"]
    screen = screen_features(X, y, names, {3: tuple(f"v{i:04d}" for i in range(n))}, seed=3)
    rows = {r["feature"]: r for r in screen["features"]}
    assert rows["leak"]["auc"] > 0.95 and rows["noise"]["auc"] < 0.6
    assert rows["gap"]["missing_auc"] == pytest.approx(1.0)
    assert rows["ident"]["unique_per_row"] and rows["code"]["unique_per_row"]
    assert abs(rows["code"]["auc"] - 0.5) < 0.06  # out-of-fold: unique values carry no target rate
    assert [f["feature"] for f in findings(screen, 0.95)] == ["leak", "gap", "ident", "code"]


def test_role_flags_reach_the_preprocess_job_only_when_set() -> None:
    assert "--exclude" not in preprocess_arguments(load_config())
    args = preprocess_arguments(_cfg(**{"data.exclude": ["notes"], "data.split": "time",
                                        "data.timestamp": "signup"}))
    assert args[args.index("--exclude") + 1] == '["notes"]'
    assert args[args.index("--split") + 1] == '"time"'


# ---- bad input through the local run: one message each, exit 2, nothing trained or registered ----


_RUN_FAST = {"cv.folds": 2, "tuning.max_jobs": 1, "xgboost.num_round": 10, "xgboost.nthread": 1}


def _run(tmp_path: Path, data: Path, capsys: pytest.CaptureFixture[str], **over: object) -> tuple[int, str]:
    from trainguard.pipelines.cli import main

    sets = [w for k, v in {**_RUN_FAST, **over}.items()
            for w in ("--set", f"{k}={v if not isinstance(v, list) else '[' + ','.join(v) + ']'}")]
    code = main(["run", "--local", "--data", str(data), "--target", "churned", "--workdir", str(tmp_path / "w"),
                 "--registry", str(tmp_path / "r.db"), *sets])
    err = capsys.readouterr().err
    assert "Traceback" not in err
    return code, err


def test_names_missing_from_the_table_and_an_id_as_feature_are_refused_before_the_run(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Found from the config and the header alone: the pipeline is never built, no work dir made."""
    data = _customers(tmp_path / "c.csv")
    code, err = _run(tmp_path, data, capsys, **{"data.exclude": ["notes"], "data.id": "customer_id",
                                               "data.timestamp": "signed_up"})
    assert code == 2 and "data.exclude names 'notes', data.timestamp names 'signed_up'" in err
    assert "'customer_id', 'signup', 'plan'" in err  # the columns the table has
    code, err = _run(tmp_path, data, capsys, **{"data.id": "customer_id", "data.features": ["customer_id", "plan"]})
    assert code == 2 and "data.id 'customer_id' is also listed as a feature" in err
    assert not (tmp_path / "w").exists()


def test_bad_values_are_refused_by_the_first_job_before_any_training(tmp_path: Path) -> None:
    """A categorical column with 100,000 values, a time that does not parse: the Preprocess job (the
    pipeline's first) says so, exit 2, no other step runs and nothing is registered."""
    from trainguard.pipelines.local.run import run_local
    from trainguard.pipelines.registry import open_registry

    big = tmp_path / "big.csv"
    big.write_text("account,tenure,churned\n" + "".join(f"A{i},{i % 7},{'yes' if i % 2 else 'no'}\n"
                                                       for i in range(100_000)))
    when = tmp_path / "t.csv"
    when.write_text(_customers(tmp_path / "c.csv").read_text().replace("2024-01-05", "last tuesday"))
    cases = [(big, {"data.categorical": ["account"]}, "categorical column 'account' has 100000 distinct values"),
             (when, {"data.id": "customer_id", "data.timestamp": "signup"},
              "'last tuesday' (+2 more); write them as ISO 8601")]
    for data, roles, words in cases:
        result = run_local(data=data, target="churned", workdir=tmp_path / "w", registry=tmp_path / "r.db",
                           overrides={**_RUN_FAST, **roles})
        assert result.exit_code == 2 and words in (result.message or ""), result.message
        ran = {s.name: s.status for s in result.steps if s.status not in ("NotRun", "Skipped")}
        assert ran == {"Preprocess": "Failed"}, ran
    assert open_registry(tmp_path / "r.db").list() == []
