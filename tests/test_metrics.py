"""Metrics agree with scikit-learn, stay defined on degenerate folds and keep Model Monitor's layout."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from sklearn import metrics as skm
from trainguard.training.metrics import METRIC_NAMES, binary_metrics, confusion_matrix, curves


@pytest.fixture
def sample() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    y = (rng.random(500) < 0.2).astype(int)
    # rounded scores force many ties, the case rank-based AUC must handle like sklearn
    p = np.round(np.clip(0.3 * y + rng.random(500) * 0.7, 0, 1), 2)
    return y, p


def test_binary_metrics_match_sklearn(sample: tuple[np.ndarray, np.ndarray]) -> None:
    y, p = sample
    m = binary_metrics(y, p, threshold=0.5)
    assert list(m) == list(METRIC_NAMES)
    pred = (p >= 0.5).astype(int)
    assert m["auc"] == pytest.approx(skm.roc_auc_score(y, p), abs=1e-12)
    assert m["pr_auc"] == pytest.approx(skm.average_precision_score(y, p), abs=1e-12)
    assert m["f1"] == pytest.approx(skm.f1_score(y, pred))
    assert m["precision"] == pytest.approx(skm.precision_score(y, pred))
    assert m["recall"] == pytest.approx(skm.recall_score(y, pred))
    assert m["accuracy"] == pytest.approx(skm.accuracy_score(y, pred))
    assert m["log_loss"] == pytest.approx(skm.log_loss(y, p), rel=1e-9)
    assert all(type(v) is float for v in m.values())


def test_threshold_changes_the_threshold_metrics(sample: tuple[np.ndarray, np.ndarray]) -> None:
    y, p = sample
    low, high = binary_metrics(y, p, 0.2), binary_metrics(y, p, 0.8)
    assert low["recall"] > high["recall"]
    assert low["auc"] == high["auc"]


@pytest.mark.parametrize("labels", [np.zeros(20, int), np.ones(20, int)])
def test_one_class_absent_gives_defined_values_without_warnings(labels: np.ndarray) -> None:
    p = np.linspace(0.0, 1.0, labels.size)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        m = binary_metrics(labels, p)
        c = curves(labels, p)
    assert m["auc"] == 0.5
    assert m["pr_auc"] == float(labels.mean())
    assert all(np.isfinite(v) for v in m.values())
    assert len(c["receiver_operating_characteristic_curve"]["false_positive_rates"]) >= 2


def test_nothing_predicted_positive_is_zero_precision_not_nan() -> None:
    y = np.array([0, 1, 0, 1])
    m = binary_metrics(y, np.array([0.1, 0.2, 0.3, 0.4]))
    assert m["precision"] == 0.0 and m["recall"] == 0.0 and m["f1"] == 0.0
    assert m["accuracy"] == 0.5


def test_certain_wrong_predictions_give_finite_log_loss() -> None:
    m = binary_metrics([1, 0], [0.0, 1.0])
    assert np.isfinite(m["log_loss"]) and m["log_loss"] > 30


def test_mismatched_lengths_are_rejected() -> None:
    with pytest.raises(ValueError, match="y_true has 3 values but proba has 2"):
        binary_metrics([0, 1, 0], [0.1, 0.2])


def test_curves_layout_and_thinning(sample: tuple[np.ndarray, np.ndarray]) -> None:
    y, _ = sample
    p = np.random.default_rng(1).random(y.size)  # 500 distinct scores: must be thinned
    c = curves(y, p, max_points=101)
    roc = c["receiver_operating_characteristic_curve"]
    pr = c["precision_recall_curve"]
    assert set(roc) == {"false_positive_rates", "true_positive_rates"}
    assert set(pr) == {"precisions", "recalls"}
    assert 2 <= len(roc["false_positive_rates"]) <= 101
    assert len(roc["false_positive_rates"]) == len(roc["true_positive_rates"])
    assert len(pr["precisions"]) == len(pr["recalls"]) <= 101
    assert roc["false_positive_rates"][0] == 0.0 and roc["true_positive_rates"][-1] == 1.0
    assert np.all(np.diff(roc["false_positive_rates"]) >= 0)
    assert pr["recalls"][0] == 1.0 and pr["recalls"][-1] == 0.0 and pr["precisions"][-1] == 1.0
    # unthinned, the ROC points are sklearn's
    fpr, tpr, _ = skm.roc_curve(y, p, drop_intermediate=False)
    full = curves(y, p, max_points=10_000)["receiver_operating_characteristic_curve"]
    np.testing.assert_allclose(full["false_positive_rates"], fpr)
    np.testing.assert_allclose(full["true_positive_rates"], tpr)


def test_confusion_matrix_is_keyed_actual_then_predicted() -> None:
    y = np.array([0, 0, 0, 1, 1])
    p = np.array([0.1, 0.7, 0.2, 0.9, 0.3])
    cm = confusion_matrix(y, p)
    assert cm == {"0": {"0": 2, "1": 1}, "1": {"0": 1, "1": 1}}
    assert all(type(v) is int for row in cm.values() for v in row.values())


@pytest.mark.parametrize("n, decimals", [(2000, None), (2000, 2), (300, 1), (5, 1)])
def test_resampled_metrics_are_bit_identical_to_binary_metrics_on_the_resample(n, decimals):
    """The bootstrap's counting shortcut gives exactly binary_metrics(y[idx], p[idx]), ties or not."""
    from trainguard.training.metrics import ResampledMetrics

    rng = np.random.default_rng(11)
    y = (rng.random(n) < 0.2).astype(np.int64)
    p = np.clip(rng.random(n) * 0.6 + 0.35 * y, 0.0, 1.0)
    if decimals is not None:
        p = np.round(p, decimals)  # many tied scores
    p[:3] = [0.0, 1.0, 0.5]
    fast = ResampledMetrics(y, p, threshold=0.5)
    draws = list(rng.integers(0, n, size=(40, n)))
    draws.append(np.flatnonzero(y == 0)[np.zeros(n, dtype=int)])  # one class only
    for idx in draws:
        assert fast.metrics(idx) == binary_metrics(y[idx], p[idx], 0.5)


def _two_sorts(y: np.ndarray, p: np.ndarray) -> tuple[float, float, np.ndarray, np.ndarray]:
    """AUC, PR AUC and the cumulative counts as computed before the single sort: average ranks
    from a stable ascending sort, counts from a stable descending one (the reference)."""
    y = y.astype(bool)
    n_pos = int(y.sum())
    order = np.argsort(p, kind="mergesort")
    ps = p[order]
    ranks = np.empty(p.size)
    bounds = np.r_[0, np.flatnonzero(np.diff(ps)) + 1, ps.size]
    ranks[order] = np.repeat((bounds[:-1] + bounds[1:] + 1) / 2.0, np.diff(bounds))
    auc = float((ranks[y].sum() - n_pos * (n_pos + 1) / 2.0) / (n_pos * (y.size - n_pos)))
    down = np.argsort(-p, kind="mergesort")
    ds, ys = p[down], y[down]
    last = np.r_[np.flatnonzero(np.diff(ds)), ds.size - 1]
    tps = np.cumsum(ys, dtype=float)[last]
    fps = (last + 1) - tps
    ap = float(np.sum(np.diff(np.r_[0.0, tps / n_pos]) * (tps / (tps + fps))))
    return auc, ap, tps, fps


@pytest.mark.parametrize("n, decimals", [(200_000, None), (50_000, 3), (3000, 1), (7, None)])
def test_one_sort_gives_the_two_sort_values_bit_for_bit(n, decimals):
    """AUC, PR AUC and the curves' counts come from one unstable sort's tie groups; they equal
    the values of the stable two-sort computation exactly, with many ties or none."""
    from trainguard.training.metrics import _cumulative_counts

    rng = np.random.default_rng(n)
    y = (rng.random(n) < 0.07).astype(np.int64)
    y[:2] = [0, 1]
    p = rng.random(n) * 0.7 + 0.25 * y
    if decimals is not None:
        p = np.round(p, decimals)
    auc, ap, tps, fps = _two_sorts(y, p)
    m = binary_metrics(y, p)
    assert (m["auc"], m["pr_auc"]) == (auc, ap)
    got_tps, got_fps = _cumulative_counts(y.astype(bool), p)
    assert np.array_equal(got_tps, tps) and np.array_equal(got_fps, fps)


def test_no_rows_gives_the_defined_values() -> None:
    m = binary_metrics(np.zeros(0, int), np.zeros(0))
    assert (m["auc"], m["pr_auc"], m["accuracy"]) == (0.5, 0.0, 0.0)
    assert curves(np.zeros(0, int), np.zeros(0))["receiver_operating_characteristic_curve"]
