"""The leakage screen: each feature alone against the label, on the training split, before training.

A column that predicts the label almost perfectly by itself is far more often a leak (a field
filled in after the outcome, a note written because of it, a join on the answer) than a gift.
For every feature the screen reports:

- ``auc``: the AUC of a one-feature model, the target rate of the feature's value learned
  out-of-fold (5 folds; numbers in up to 32 quantile bins, categories as themselves, missing as
  a value of its own). Out-of-fold, so a column of unique values scores 0.5, not 1.0.
- ``missing_auc``: the AUC of "this cell is missing" alone (None when nothing or everything is
  missing): a column whose emptiness tells the label leaks how the row was recorded.
- ``unique_per_row``: text, or whole numbers, with a different value on every row: an ID.

Whether a finding blocks approval is the approval rule's call (``approval.max_feature_auc``,
``approval.on_leakage``, ``trainguard.training.approval.decide``). The holdout is never read here.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

__all__ = ["annotate", "findings", "screen_features"]

_FOLDS = 5
_BINS = 32
_MIN_ROWS_FOR_ID = 20


def screen_features(X: Any, y: Any, feature_names: Sequence[str],
                    categorical: Mapping[int, Sequence[str]] | None = None, *,
                    seed: int = 0) -> dict[str, Any]:
    """The screen's table for features ``X`` (categorical columns as vocabulary indices) and 0/1 ``y``."""
    import numpy as np

    X = np.asarray(X, dtype=np.float64)
    y = np.asarray(y).astype(np.int64).reshape(-1)
    categorical = categorical or {}
    fold = np.random.default_rng(seed).permutation(y.size) % _FOLDS
    rows = []
    for j, name in enumerate(feature_names):
        col = X[:, j]
        missing = np.isnan(col)
        n_missing = int(missing.sum())
        bins = _bins(col, missing, j in categorical)
        present = col[~missing]
        unique = (present.size == y.size and y.size >= _MIN_ROWS_FOR_ID
                  and (j in categorical or bool(np.all(present == np.round(present))))
                  and np.unique(present).size == y.size)
        rows.append({
            "feature": name,
            "kind": "categorical" if j in categorical else "numeric",
            "auc": _oof_auc(bins, y, fold),
            "missing_share": n_missing / y.size if y.size else 0.0,
            "missing_auc": _two_sided(_auc(missing.astype(np.float64), y)) if 0 < n_missing < y.size else None,
            "unique_per_row": bool(unique),
        })
    return {"method": f"one-feature target rate, out-of-fold ({_FOLDS} folds, numbers in up to {_BINS} "
                      "quantile bins, missing as its own value), on the training split",
            "n_rows": int(y.size), "features": rows}


def findings(screen: Mapping[str, Any] | None, max_auc: float) -> list[dict[str, Any]]:
    """The screen's rows that look like leaks at ``max_auc``, each with its reason in words."""
    out = []
    for row in (screen or {}).get("features", []):
        why = []
        auc, mauc = row.get("auc"), row.get("missing_auc")
        if auc is not None and auc >= max_auc:
            why.append(f"alone it predicts the label with AUC {auc:.3f}")
        if mauc is not None and mauc >= max_auc:
            why.append(f"whether it is missing predicts the label with AUC {mauc:.3f}")
        if row.get("unique_per_row"):
            why.append("it has a different value on every row (an ID: set data.id or exclude it)")
        if why:
            out.append({"feature": row["feature"], "auc": auc, "missing_auc": mauc,
                        "unique_per_row": bool(row.get("unique_per_row")), "reason": "; ".join(why)})
    return out


def annotate(screen: Mapping[str, Any] | None, max_auc: float, on_leakage: str) -> dict[str, Any] | None:
    """The screen as evaluation.json records it: plus the threshold, the mode and the flagged names."""
    if screen is None:
        return None
    return {**screen, "max_feature_auc": max_auc, "on_leakage": on_leakage,
            "flagged": [f["feature"] for f in findings(screen, max_auc)]}


def _bins(col: Any, missing: Any, categorical: bool) -> Any:
    """Integer bin per row: the category or value (or quantile bin), with missing as the last bin."""
    import numpy as np

    present = col[~missing]
    out = np.empty(col.size, dtype=np.int64)
    if categorical:
        codes = present.astype(np.int64)
    else:
        values = np.unique(present)
        if values.size <= _BINS:
            codes = np.searchsorted(values, present)
        else:
            edges = np.unique(np.quantile(present, np.linspace(0, 1, _BINS + 1)[1:-1]))
            codes = np.searchsorted(edges, present, side="right")
    out[~missing] = codes
    out[missing] = (int(codes.max()) + 1) if codes.size else 0
    return out


def _oof_auc(bins: Any, y: Any, fold: Any) -> float:
    """AUC of the target rate per bin, each fold scored with rates learned on the other folds."""
    import numpy as np

    n_bins = int(bins.max()) + 1 if bins.size else 1
    prior = float(y.mean()) if y.size else 0.5
    pos_all = np.bincount(bins, weights=y, minlength=n_bins)
    cnt_all = np.bincount(bins, minlength=n_bins).astype(np.float64)
    score = np.empty(y.size, dtype=np.float64)
    for k in range(_FOLDS):
        mask = fold == k
        pos = pos_all - np.bincount(bins[mask], weights=y[mask], minlength=n_bins)
        cnt = cnt_all - np.bincount(bins[mask], minlength=n_bins)
        rate = (pos + prior) / (cnt + 1.0)  # one pseudo-row at the prior: unseen values score the prior
        score[mask] = rate[bins[mask]]
    return _auc(score, y)


def _two_sided(auc: float | None) -> float | None:
    """An indicator predicts whichever way round it points: max(AUC, 1 - AUC)."""
    return None if auc is None else max(auc, 1.0 - auc)


def _auc(score: Any, y: Any) -> float | None:
    """ROC AUC of ``score`` for 0/1 ``y`` (ties count half); None when a class is absent."""
    from scipy.stats import rankdata

    n_pos = int(y.sum())
    n_neg = y.size - n_pos
    if n_pos == 0 or n_neg == 0:
        return None
    ranks = rankdata(score)
    return float((ranks[y == 1].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))
