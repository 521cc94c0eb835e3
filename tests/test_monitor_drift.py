"""The drift check's statistics: quiet on the same distribution, loud on changes that matter.

Each case builds a baseline from one sample and checks another, at the sizes the design names:
from 200 to 1,000,000 rows per side nothing drawn from the baseline's own distribution is
flagged, a 0.05 sd shift at 1,000,000 rows is not flagged, and at 2,000 rows a 0.5 sd mean
shift, a 1.5x scale change, a bimodal feature with the same mean and variance and a category
going from 10% to 30% each are. Data is generated with fixed seeds.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from trainguard.training.monitor import build_baseline, check_drift, write_baseline

CATS = np.array(["a", "b", "c", "d"])


def _frame(rng: np.random.Generator, n: int, *, shift: float = 0.0, scale: float = 1.0,
           bimodal: bool = False, shares: tuple[float, ...] = (0.4, 0.3, 0.2, 0.1)) -> dict:
    x = rng.normal(size=n) * scale + shift
    if bimodal:  # modes at +-0.8 sd, same mean 0 and variance 1 as N(0, 1)
        x = rng.normal(0.0, 0.6, n) + np.where(rng.random(n) < 0.5, -0.8, 0.8)
    return {"x": x, "y": rng.normal(size=n), "k": rng.integers(0, 12, size=n),
            "seg": rng.choice(CATS, size=n, p=list(shares))}


def _write(path: Path, cols: dict) -> Path:
    pq.write_table(pa.table(cols), path)
    return path


def _baseline(tmp_path: Path, cols: dict, **kw) -> Path:
    stats, cons = build_baseline(_write(tmp_path / "base.parquet", cols), **kw)
    return write_baseline(tmp_path / "baseline", stats, cons)


@pytest.mark.parametrize("n", [200, 2_000, 50_000])
def test_same_distribution_flags_nothing(tmp_path: Path, n: int) -> None:
    rng = np.random.default_rng(n)
    base = _baseline(tmp_path, _frame(rng, n))
    result = check_drift(base, _write(tmp_path / "cur.parquet", _frame(rng, n)))
    assert result.clean, result.violations
    assert {f.name for f in result.features} == {"x", "y", "k", "seg"}


def test_a_million_rows_same_distribution_and_a_tiny_shift_are_quiet(tmp_path: Path) -> None:
    """At 1,000,000 rows a 0.05 sd shift is statistically certain yet too small to matter."""
    rng = np.random.default_rng(1)
    n = 1_000_000
    base = _baseline(tmp_path, {"x": rng.normal(size=n)})
    same = check_drift(base, _write(tmp_path / "same.parquet", {"x": rng.normal(size=n)}))
    assert same.clean, same.violations
    tiny = check_drift(base, _write(tmp_path / "tiny.parquet", {"x": rng.normal(size=n) + 0.05}))
    assert tiny.clean, tiny.violations
    row = tiny.features[0]
    assert row.p_value < 1e-10  # detected, and judged too small: the effect floor decides
    assert row.distance < row.threshold


@pytest.mark.parametrize("change", ["shift", "scale", "bimodal", "category"])
def test_changes_that_matter_are_flagged_at_2000_rows(tmp_path: Path, change: str) -> None:
    rng = np.random.default_rng(20)
    base = _baseline(tmp_path, _frame(rng, 2_000))
    kw = {"shift": {"shift": 0.5}, "scale": {"scale": 1.5}, "bimodal": {"bimodal": True},
          "category": {"shares": (0.3, 0.2, 0.2, 0.3)}}[change]
    result = check_drift(base, _write(tmp_path / "cur.parquet", _frame(rng, 2_000, **kw)))
    expected = "seg" if change == "category" else "x"
    assert result.drifted == [expected]
    kinds = {(v["feature_name"], v["constraint_check_type"]) for v in result.violations}
    assert kinds == {(expected, "baseline_drift_check")}


def test_model_monitor_default_misses_the_scale_change(tmp_path: Path) -> None:
    """The anchor: L-infinity between CDFs above 0.1 cannot see a 1.5x scale change."""
    rng = np.random.default_rng(20)
    base = _baseline(tmp_path, _frame(rng, 2_000))
    cur = _write(tmp_path / "cur.parquet", _frame(rng, 2_000, scale=1.5))
    simple = check_drift(base, cur, method="model_monitor")
    assert "x" not in simple.drifted
    assert check_drift(base, cur).drifted == ["x"]


def test_model_monitor_methods_are_honoured_from_the_constraints(tmp_path: Path) -> None:
    rng = np.random.default_rng(5)
    base = _baseline(tmp_path, _frame(rng, 2_000))
    cons_path = base / "constraints.json"
    cons = json.loads(cons_path.read_text())
    del cons["monitoring_config"]["trainguard_drift"]  # as Model Monitor writes it
    dist = cons["monitoring_config"]["distribution_constraints"]
    dist.update(comparison_method="Simple", comparison_threshold=0.1,
                categorical_drift_method="ChiSquared", categorical_comparison_threshold=0.001)
    cons_path.write_text(json.dumps(cons))
    result = check_drift(base, _write(tmp_path / "cur.parquet",
                                      _frame(rng, 2_000, shift=0.5, shares=(0.3, 0.2, 0.2, 0.3))))
    rows = {f.name: f for f in result.features}
    assert rows["x"].method == "model_monitor:Simple" and rows["x"].drifted
    assert rows["x"].distance == pytest.approx(rows["x"].linf)
    assert rows["seg"].method == "model_monitor:ChiSquared" and rows["seg"].drifted
    assert not rows["y"].drifted
    dist.update(comparison_method="Robust", comparison_threshold=0.15)
    cons_path.write_text(json.dumps(cons))
    robust = {f.name: f for f in check_drift(base, tmp_path / "cur.parquet").features}
    assert robust["x"].method == "model_monitor:Robust"
    n = 2_000
    assert robust["x"].distance == pytest.approx(max(0.0, rows["x"].linf - 1.8 * (2 / n) ** 0.5))


def test_schema_and_quality_problems_are_their_own_check_types(tmp_path: Path) -> None:
    rng = np.random.default_rng(9)
    base = _baseline(tmp_path, _frame(rng, 2_000))
    cur = _frame(rng, 2_000)
    del cur["y"]                                              # missing column
    cur["extra"] = rng.normal(size=2_000)                     # extra column
    cur["seg"] = cur["seg"].astype(object)
    cur["seg"][:200] = "zz"                                   # a new category, 10% of rows
    cur["k"] = np.where(rng.random(2_000) < 0.5, "high", "low")  # Integral became text
    x = cur["x"].copy()
    x[:300] = np.nan                                          # 15% missing, none in baseline
    cur["x"] = x
    result = check_drift(base, _write(tmp_path / "cur.parquet", cur))
    kinds = {(v["feature_name"], v["constraint_check_type"]) for v in result.violations}
    assert ("y", "missing_column_check") in kinds
    assert ("extra", "extra_column_check") in kinds
    assert ("seg", "categorical_values_check") in kinds
    assert ("k", "data_type_check") in kinds
    assert ("x", "completeness_check") in kinds
    assert ("x", "baseline_drift_check") not in kinds  # the present values did not move
    new_cat = next(v for v in result.violations if v["constraint_check_type"] == "categorical_values_check")
    assert "'zz' (200)" in new_cat["description"]


def test_csv_with_text_deep_in_a_numeric_column_is_read_again(tmp_path: Path,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    """The streaming reader meets the text after its first block; the check still counts it."""
    import trainguard.training.monitor.read as read

    rng = np.random.default_rng(2)
    base = _baseline(tmp_path, {"x": rng.normal(size=3_000)})
    lines = ["x"] + [f"{v:.4f}" for v in rng.normal(size=3_000)]
    lines[2_900] = "oops"
    path = tmp_path / "cur.csv"
    path.write_text("\n".join(lines) + "\n")
    monkeypatch.setattr(read, "_BLOCK_BYTES", 4096)
    result = check_drift(base, path)
    assert not result.drifted
    assert result.rows == 3_000
    assert result.statistics["features"][0]["numerical_statistics"]["common"]["num_missing"] == 1


def test_the_sketch_ranks_within_its_bound() -> None:
    from trainguard.training.monitor.sketch import KLLSketch

    rng = np.random.default_rng(0)
    values = rng.normal(size=200_000)
    sk = KLLSketch(k=512)
    for part in np.array_split(values, 17):
        sk.update(part)
    points = np.quantile(values, np.linspace(0.01, 0.99, 99))
    exact = np.searchsorted(np.sort(values), points, "right") / values.size
    assert sk.count == values.size
    assert np.max(np.abs(sk.cdf(points) - exact)) < 0.01
    again = KLLSketch.from_json(json.loads(json.dumps(sk.to_json())))
    assert np.allclose(again.cdf(points), sk.cdf(points))


def test_grid_counts_are_the_per_value_lookup_counts() -> None:
    """The sorted-batch counting gives exactly bincount(searchsorted(grid, v, 'left')): values
    on a cut point, below the first, above the last, ties and signed zeros included."""
    from trainguard.training.monitor.profile import grid_counts

    rng = np.random.default_rng(3)
    grid = np.unique(np.round(rng.normal(size=40), 1))
    grid = np.unique(np.concatenate([grid, [0.0]]))
    values = np.concatenate([np.round(rng.normal(scale=2, size=5_000), 1), grid, grid, [-0.0, 0.0, -50.0, 50.0]])
    rng.shuffle(values)
    expected = np.bincount(np.searchsorted(grid, values, "left"), minlength=grid.size + 1)
    got = grid_counts(grid, values)
    assert got.tolist() == expected.tolist()
    assert got.sum() == values.size


def test_a_feature_empty_in_the_baseline_is_noted_not_tested(tmp_path: Path) -> None:
    rng = np.random.default_rng(4)
    base = _baseline(tmp_path, {"x": rng.normal(size=500), "gone": np.full(500, np.nan)})
    result = check_drift(base, _write(tmp_path / "cur.parquet", {"x": rng.normal(size=500),
                                                                 "gone": rng.normal(size=500)}))
    row = {f.name: f for f in result.features}["gone"]
    assert not row.drifted and row.note == "no values in the baseline to compare with"
    assert result.clean


def test_chi2_survival_matches_scipy_down_to_tiny_p_values() -> None:
    from scipy.special import chdtrc
    from trainguard.training.monitor.distance import chi2_sf

    for df in (1, 2, 5, 19, 200):
        for x in (0.01, 0.5, df * 0.8, df, df + 3, df * 3 + 10, df * 10 + 100):
            want = float(chdtrc(df, x))
            assert chi2_sf(x, df) == pytest.approx(want, rel=1e-9, abs=1e-300), (df, x)


def test_columns_folded_in_on_two_threads_give_the_one_thread_baseline(tmp_path: Path, monkeypatch) -> None:
    """A batch's numeric columns are folded in two at a time while the next batch is read; each
    column must still take its batches in order (its sketch depends on it): the baseline over
    five batches is the one-thread baseline, byte for byte."""
    from trainguard.training.monitor import profile

    rng = np.random.default_rng(11)
    wide = _write(tmp_path / "wide.parquet", {**_frame(rng, 300_000, bimodal=True),
                                              **{f"n{j}": rng.standard_t(3, size=300_000) for j in range(6)}})
    # one numeric column: the two threads would take consecutive batches of the same column
    narrow = _write(tmp_path / "narrow.parquet", {"x": rng.standard_t(3, size=600_000)})
    monkeypatch.setattr(profile, "helper_threads", lambda: 2)
    two = [json.dumps(build_baseline(p), sort_keys=True) for p in (wide, narrow)]
    monkeypatch.setattr(profile, "helper_threads", lambda: 1)
    one = [json.dumps(build_baseline(p), sort_keys=True) for p in (wide, narrow)]
    assert two == one


def test_monitor_json_is_strict_readable_and_round_trips(tmp_path: Path) -> None:
    from trainguard.training.monitor.baseline import write_json_atomic

    data = {"features": [{"name": "x", "sketch": {"data": [[0.5, -1e-300, 3.0], []]}}],
            "version": 0, "empty": {}, "pairs": [[1, 2], [3]], "text": "é\"q", "none": None}
    path = write_json_atomic(tmp_path / "s.json", data)
    text = path.read_text()
    assert json.loads(text) == data
    assert '\n   "sketch": {\n' in text and '"data": [[0.5, -1e-300, 3.0], []]' in text
    with pytest.raises(ValueError):
        write_json_atomic(tmp_path / "nan.json", {"x": [float("nan")]})
    assert not (tmp_path / "nan.json").exists()
