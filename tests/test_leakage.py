"""The leakage screen counts rows per (fold, bin) instead of ranking every row: same figures."""

from __future__ import annotations

import numpy as np
from scipy.stats import rankdata
from trainguard.training.leakage import _FOLDS, screen_features


def _rank_auc(score, y):
    """ROC AUC by the rank sum (ties count half): the textbook figure the screen must equal."""
    n_pos = int(y.sum())
    n_neg = y.size - n_pos
    ranks = rankdata(score)
    return float((ranks[y == 1].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def _row_by_row(bins, y, fold):
    """Each row scored with the target rate of its bin learned on the other folds, then ranked."""
    prior = float(y.mean())
    score = np.empty(y.size)
    for i in range(y.size):
        others = (fold != fold[i]) & (bins == bins[i])
        score[i] = (y[others].sum() + prior) / (others.sum() + 1.0)
    return _rank_auc(score, y)


def test_screen_figures_equal_ranking_every_row_bit_for_bit():
    rng = np.random.default_rng(5)
    n = 600
    y = (rng.random(n) < 0.1).astype(np.int64)
    few = rng.integers(0, 4, n).astype(float)  # fewer distinct values than bins: each its own bin
    few[rng.random(n) < 0.2] = np.nan
    cat = rng.integers(0, 3, n).astype(float)
    X = np.column_stack([few, rng.normal(size=n) + y, cat, np.where(y == 1, np.nan, 2.0)])
    screen = screen_features(X, y, ["few", "many", "cat", "gap"], {2: ("a", "b", "c")}, seed=11)
    fold = np.random.default_rng(11).permutation(n) % _FOLDS
    rows = {r["feature"]: r for r in screen["features"]}

    few_bins = np.where(np.isnan(few), 4, np.nan_to_num(few)).astype(int)
    assert rows["few"]["auc"] == _row_by_row(few_bins, y, fold)
    gaps = _rank_auc(np.isnan(few).astype(float), y)
    assert rows["few"]["missing_auc"] == max(gaps, 1 - gaps)
    edges = np.unique(np.quantile(X[:, 1], np.linspace(0, 1, 33)[1:-1]))
    assert rows["many"]["auc"] == _row_by_row(np.searchsorted(edges, X[:, 1], side="right"), y, fold)
    assert rows["cat"]["auc"] == _row_by_row(cat.astype(int), y, fold)
    assert rows["gap"]["missing_auc"] == 1.0 and rows["gap"]["missing_share"] == y.mean()
    assert rows["many"]["missing_auc"] is None and not any(r["unique_per_row"] for r in rows.values())


def test_whole_numbers_all_different_are_an_id_and_repeats_are_not():
    rng = np.random.default_rng(2)
    n = 200
    y = (rng.random(n) < 0.3).astype(np.int64)
    ids = rng.permutation(n).astype(float)
    repeated = ids.copy()
    repeated[0] = repeated[1]
    screen = screen_features(np.column_stack([ids, repeated, ids + 0.5]), y, ["id", "rep", "half"])
    assert [r["unique_per_row"] for r in screen["features"]] == [True, False, False]


def test_the_screen_on_two_threads_equals_the_screen_on_one(monkeypatch) -> None:
    """A big table is screened two columns at a time; every figure is the one-thread figure, in
    the columns' order (numbers, a category, an ID, a column missing exactly when positive)."""
    from trainguard.training import leakage

    rng = np.random.default_rng(5)
    n = 60_000
    y = (rng.random(n) < 0.1).astype(int)
    X = rng.normal(size=(n, 20))
    X[:, 1] = rng.integers(0, 6, size=n)
    X[:, 2] = np.arange(n)
    X[:, 3] = np.where(y == 1, np.nan, X[:, 3])
    X[::11, 4] = np.nan
    names = [f"c{j}" for j in range(20)]
    monkeypatch.setenv("OMP_NUM_THREADS", "2")
    assert leakage._workers(X) == 2
    both = leakage.screen_features(X, y, names, {1: [str(v) for v in range(6)]}, seed=3)
    monkeypatch.setattr(leakage, "_workers", lambda X: 1)
    one = leakage.screen_features(X, y, names, {1: [str(v) for v in range(6)]}, seed=3)
    assert both == one
    assert [r["feature"] for r in both["features"]] == names
    assert both["features"][2]["unique_per_row"] and both["features"][3]["missing_auc"] == 1.0


def test_a_constant_column_scores_exactly_half() -> None:
    """One value on every row ranks nothing: AUC 0.5, not the few hundredths under it that
    out-of-fold rates alone would give (each fold's rate differs from the others')."""
    from trainguard.training import leakage

    rng = np.random.default_rng(2)
    y = (rng.random(3_000) < 0.3).astype(int)
    X = np.column_stack([np.full(y.size, 7.0), np.full(y.size, np.nan), rng.normal(size=y.size)])
    rows = leakage.screen_features(X, y, ["const", "empty", "noise"])["features"]
    assert rows[0]["auc"] == 0.5 and rows[1]["auc"] == 0.5
    assert rows[1]["missing_auc"] is None  # all missing: says nothing either
    assert 0.4 < rows[2]["auc"] < 0.6
