"""Binary classification metrics, ROC/PR curves and the confusion matrix, in Model Monitor's layout.

Written with numpy alone because they run once per fold per trial: sklearn's input validation
costs more than the arithmetic at these sizes. Every metric has a defined value when a class is
absent or nothing is predicted positive (no warnings, no NaN), so a tiny fold never breaks a run.
"""

from __future__ import annotations

from typing import Any, get_args

import numpy as np
from trainguard.training.config import Metric

__all__ = ["LOWER_IS_BETTER", "METRIC_NAMES", "ResampledMetrics", "binary_metrics", "confusion_matrix",
           "curves"]

METRIC_NAMES: tuple[str, ...] = get_args(Metric)
"""Every metric ``binary_metrics`` returns, in the order they are reported."""

LOWER_IS_BETTER = frozenset({"log_loss"})
"""Metrics that are minimized rather than maximized."""

_EPS = 1e-15


def binary_metrics(y_true: Any, proba: Any, threshold: float = 0.5) -> dict[str, float]:
    """AUC, PR AUC (average precision), F1, precision, recall, accuracy and log loss as floats.

    ``y_true`` holds 0/1 labels, ``proba`` the predicted probability of class 1. With one class
    absent AUC is 0.5 (nothing to rank) and PR AUC the positive share; precision with nothing
    predicted positive is 0.0, as is F1 when precision and recall are both 0.
    """
    y, p = _arrays(y_true, proba)
    pred = p >= threshold
    tp = int(np.count_nonzero(pred & y))
    fp = int(np.count_nonzero(pred & ~y))
    n_pos = int(np.count_nonzero(y))
    n = y.size
    fn = n_pos - tp
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / n_pos if n_pos else 0.0
    f1 = 2 * tp / (2 * tp + fp + fn) if tp else 0.0
    accuracy = (n - fp - fn) / n if n else 0.0
    clipped = np.clip(p, _EPS, 1 - _EPS)
    log_loss = float(-np.mean(np.where(y, np.log(clipped), np.log1p(-clipped)))) if n else 0.0
    per_group, pos_group = _tie_groups(y, p)
    return {
        "auc": _grouped_auc(per_group, pos_group, n_pos, n),
        "pr_auc": _grouped_average_precision(per_group, pos_group, n_pos),
        "f1": float(f1),
        "precision": float(precision),
        "recall": float(recall),
        "accuracy": float(accuracy),
        "log_loss": log_loss,
    }


def curves(y_true: Any, proba: Any, max_points: int = 101) -> dict[str, dict[str, list[float]]]:
    """ROC and precision-recall curves, each thinned to at most ``max_points`` points.

    Layout as Model Monitor writes it: ``receiver_operating_characteristic_curve``
    {false_positive_rates, true_positive_rates} and ``precision_recall_curve`` {precisions,
    recalls}. The end points of each curve are always kept.
    """
    y, p = _arrays(y_true, proba)
    tps, fps = _cumulative_counts(y, p)
    n_pos = tps[-1] if tps.size else 0
    n_neg = fps[-1] if fps.size else 0
    tpr = np.concatenate([[0.0], tps / n_pos if n_pos else np.zeros_like(tps, dtype=float)])
    fpr = np.concatenate([[0.0], fps / n_neg if n_neg else np.zeros_like(fps, dtype=float)])
    with np.errstate(divide="ignore", invalid="ignore"):
        prec = np.where(tps + fps > 0, tps / np.maximum(tps + fps, 1), 1.0)
    rec = tps / n_pos if n_pos else np.zeros_like(tps, dtype=float)
    # PR curve as sklearn draws it: from high recall to (recall 0, precision 1).
    prec = np.concatenate([prec[::-1], [1.0]])
    rec = np.concatenate([rec[::-1], [0.0]])
    roc_idx = _thin(fpr.size, max_points)
    pr_idx = _thin(prec.size, max_points)
    return {
        "receiver_operating_characteristic_curve": {
            "false_positive_rates": [float(v) for v in fpr[roc_idx]],
            "true_positive_rates": [float(v) for v in tpr[roc_idx]],
        },
        "precision_recall_curve": {
            "precisions": [float(v) for v in prec[pr_idx]],
            "recalls": [float(v) for v in rec[pr_idx]],
        },
    }


def confusion_matrix(y_true: Any, proba: Any, threshold: float = 0.5) -> dict[str, dict[str, int]]:
    """Counts keyed actual → predicted with string class labels ("0"/"1"), as Model Monitor does."""
    y, p = _arrays(y_true, proba)
    pred = p >= threshold
    tp = int(np.count_nonzero(pred & y))
    fp = int(np.count_nonzero(pred & ~y))
    fn = int(np.count_nonzero(~pred & y))
    tn = int(y.size - tp - fp - fn)
    return {"0": {"0": tn, "1": fp}, "1": {"0": fn, "1": tp}}


class ResampledMetrics:
    """``binary_metrics(y_true[idx], proba[idx])`` for many resamples ``idx``, without a sort each.

    A resample of the rows holds each original row some number of times, so its sorted scores
    are the original sorted scores repeated: ranks, tie groups and cumulative counts follow from
    the per-row counts (``np.bincount``) in linear time, where ``binary_metrics`` sorts.
    Every value is bit-identical to ``binary_metrics`` on the resampled arrays: counts are
    integers, AUC and PR AUC come from the same functions of the same tie-group totals, and log
    loss averages the same terms in the same order. That makes the holdout bootstrap (200
    resamples) cheap on large holdouts.
    """

    def __init__(self, y_true: Any, proba: Any, threshold: float = 0.5) -> None:
        y, p = _arrays(y_true, proba)
        self.size = y.size
        pred = p >= threshold
        self._tp_rows = np.flatnonzero(pred & y)
        self._fp_rows = np.flatnonzero(pred & ~y)
        self._pos_rows = np.flatnonzero(y)
        clipped = np.clip(p, _EPS, 1 - _EPS)
        self._terms = np.where(y, np.log(clipped), np.log1p(-clipped))
        self._order = np.argsort(p, kind="mergesort")
        ps = p[self._order]
        starts = np.r_[0, np.flatnonzero(np.diff(ps)) + 1] if ps.size else np.zeros(0, np.intp)
        self._starts = None if starts.size == ps.size else starts  # None: no tied scores
        self._pos_sorted = y[self._order].astype(np.int64)

    def metrics(self, idx: np.ndarray) -> dict[str, float]:
        """The metrics of the resample ``idx`` (row indices, repeats allowed, ``size`` of them)."""
        counts = np.bincount(idx, minlength=self.size)
        n = idx.size
        tp = int(counts[self._tp_rows].sum())
        fp = int(counts[self._fp_rows].sum())
        n_pos = int(counts[self._pos_rows].sum())
        fn = n_pos - tp
        precision = tp / (tp + fp) if tp + fp else 0.0
        recall = tp / n_pos if n_pos else 0.0
        f1 = 2 * tp / (2 * tp + fp + fn) if tp else 0.0
        accuracy = (n - fp - fn) / n if n else 0.0
        log_loss = float(-np.mean(self._terms[idx])) if n else 0.0
        in_order = counts[self._order]
        per_group, pos_group = in_order, in_order * self._pos_sorted
        if self._starts is not None and n:
            per_group = np.add.reduceat(per_group, self._starts)
            pos_group = np.add.reduceat(pos_group, self._starts)
        present = per_group > 0
        per_group, pos_group = per_group[present], pos_group[present]
        return {
            "auc": _grouped_auc(per_group, pos_group, n_pos, n),
            "pr_auc": _grouped_average_precision(per_group, pos_group, n_pos),
            "f1": float(f1),
            "precision": float(precision),
            "recall": float(recall),
            "accuracy": float(accuracy),
            "log_loss": log_loss,
        }


# --------------------------------------------------------------------------------------------
# internals


def _arrays(y_true: Any, proba: Any) -> tuple[np.ndarray, np.ndarray]:
    y = np.asarray(y_true).reshape(-1)
    p = np.asarray(proba, dtype=float).reshape(-1)
    if y.shape != p.shape:
        raise ValueError(f"y_true has {y.size} values but proba has {p.size}; they must match.")
    return y.astype(bool) if y.dtype != bool else y, p


def _cumulative_counts(y: np.ndarray, p: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """True/false positive counts at each distinct threshold, from the highest score down."""
    return _descending_counts(*_tie_groups(y, p))


def _descending_counts(per_group: np.ndarray, pos_group: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(true, false) positives above each tie group's threshold, from the highest score down."""
    tps = np.cumsum(pos_group[::-1]).astype(float)
    return tps, np.cumsum(per_group[::-1]) - tps


def _tie_groups(y: np.ndarray, p: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(rows, positives) of each group of tied scores, lowest score first.

    Every metric here depends on these group totals alone, never on the order of rows within a
    tie, so one unstable sort (numpy's fastest) serves AUC, PR AUC and the curves alike. (NaN
    scores, which no booster gives, sort last: each is a group of its own at the top.)
    """
    if p.size == 0:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    order = np.argsort(p)
    ps = p[order]
    ends = np.r_[np.flatnonzero(np.diff(ps)) + 1, ps.size]
    per_group = np.diff(ends, prepend=0)
    pos_group = np.diff(np.cumsum(y[order], dtype=np.int64)[ends - 1], prepend=0)
    return per_group, pos_group


def _grouped_auc(per_group: np.ndarray, pos_group: np.ndarray, n_pos: int, n: int) -> float:
    """Mann-Whitney U with average ranks for ties, which equals the area under the ROC curve.

    Ranks are half-integers and their sum is exact below 2**53, so the value does not depend on
    the order of the sum."""
    n_neg = n - n_pos
    if n_pos == 0 or n_neg == 0:
        return 0.5
    bounds = np.r_[0, np.cumsum(per_group)]  # tie groups, ascending
    avg = (bounds[:-1] + bounds[1:] + 1) / 2.0
    u = np.sum(pos_group * avg) - n_pos * (n_pos + 1) / 2.0
    return float(u / (n_pos * n_neg))


def _grouped_average_precision(per_group: np.ndarray, pos_group: np.ndarray, n_pos: int) -> float:
    """Average precision: precision at each threshold from the highest score down, weighted by
    the recall it adds."""
    if n_pos == 0:
        return 0.0
    tps, fps = _descending_counts(per_group, pos_group)
    precision = tps / (tps + fps)
    recall = tps / n_pos
    return float(np.sum(np.diff(np.r_[0.0, recall]) * precision))


def _thin(n: int, max_points: int) -> np.ndarray:
    if n <= max_points:
        return np.arange(n)
    return np.unique(np.round(np.linspace(0, n - 1, max(2, max_points))).astype(int))
