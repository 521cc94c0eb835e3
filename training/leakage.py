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

from trainguard.training.threads import helper_threads, thread_map

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
    prior = float(y.mean()) if y.size else 0.5

    def row(j: int) -> dict[str, Any]:
        return _screen_column(X[:, j], y, fold, prior, feature_names[j], j in categorical)

    # columns are independent and their sorts and searches release the GIL: two at a time
    rows = thread_map(row, range(len(feature_names)), _workers(X))
    return {"method": f"one-feature target rate, out-of-fold ({_FOLDS} folds, numbers in up to {_BINS} "
                      "quantile bins, missing as its own value), on the training split",
            "n_rows": int(y.size), "features": rows}


def _screen_column(col: Any, y: Any, fold: Any, prior: float, name: str, is_categorical: bool) -> dict[str, Any]:
    """One feature's row of the screen."""
    import numpy as np

    missing = np.isnan(col)
    n_missing = int(missing.sum())
    present = col[~missing]
    ordered = None if is_categorical else np.sort(present)
    bins = _bins(present, ordered, missing)
    unique = (present.size == y.size and y.size >= _MIN_ROWS_FOR_ID
              and (is_categorical or bool(np.all(present == np.round(present))))
              and _distinct(np.sort(present) if ordered is None else ordered) == y.size)
    return {
        "feature": name,
        "kind": "categorical" if is_categorical else "numeric",
        "auc": _oof_auc(bins, y, fold, prior),
        "missing_share": n_missing / y.size if y.size else 0.0,
        "missing_auc": (_two_sided(_grouped_auc(missing.astype(np.int64), np.array([0.0, 1.0]), y))
                        if 0 < n_missing < y.size else None),
        "unique_per_row": bool(unique),
    }


def _workers(X: Any) -> int:
    """Threads for the screen: two on a table big enough to gain from them, else one."""
    return helper_threads(X.size, 1_000_000)


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


def _bins(present: Any, ordered: Any, missing: Any) -> Any:
    """Integer bin per row: the category (``ordered`` None) or value (or quantile bin), with
    missing as the last bin. ``ordered`` is ``present`` sorted, for a numeric column."""
    import numpy as np

    out = np.empty(missing.size, dtype=np.int64)
    if ordered is None:
        codes = present.astype(np.int64)
    elif _distinct(ordered) <= _BINS:
        codes = np.searchsorted(_distinct_values(ordered), present)
    else:
        edges = np.unique(np.quantile(ordered, np.linspace(0, 1, _BINS + 1)[1:-1]))
        codes = np.searchsorted(edges, present, side="right")
    out[~missing] = codes
    out[missing] = (int(codes.max()) + 1) if codes.size else 0
    return out


def _distinct_values(ordered: Any) -> Any:
    """The distinct values of a sorted array (``np.unique`` without its sort)."""
    import numpy as np

    if ordered.size == 0:
        return ordered
    keep = np.empty(ordered.size, dtype=bool)
    keep[0] = True
    np.not_equal(ordered[1:], ordered[:-1], out=keep[1:])
    return ordered[keep]


def _distinct(ordered: Any) -> int:
    """How many distinct values a sorted array holds."""
    import numpy as np

    return int(np.count_nonzero(ordered[1:] != ordered[:-1])) + 1 if ordered.size else 0


def _oof_auc(bins: Any, y: Any, fold: Any, prior: float) -> float:
    """AUC of the target rate per bin, each fold scored with rates learned on the other folds.

    A row's score depends only on its (fold, bin) pair, so the rows are counted per pair
    (two passes of ``bincount``) and the AUC is taken over the pairs: the same figure as ranking
    every row, in linear time.
    """
    import numpy as np

    n_bins = int(bins.max()) + 1 if bins.size else 1
    if n_bins == 1:  # one value on every row (or none): it ranks nothing. Out-of-fold rates would
        # still differ by fold and score it a little under 0.5, an artefact of the folds alone
        return 0.5 if 0 < int(y.sum()) < y.size else None
    pair = fold * n_bins + bins
    cnt = np.bincount(pair, minlength=_FOLDS * n_bins).reshape(_FOLDS, n_bins).astype(np.float64)
    pos = np.bincount(pair, weights=y, minlength=_FOLDS * n_bins).reshape(_FOLDS, n_bins)
    # rates from the other folds; one pseudo-row at the prior: unseen values score the prior
    rate = (pos.sum(axis=0) - pos + prior) / (cnt.sum(axis=0) - cnt + 1.0)
    return _grouped_auc(pair, rate.reshape(-1), y)


def _two_sided(auc: float | None) -> float | None:
    """An indicator predicts whichever way round it points: max(AUC, 1 - AUC)."""
    return None if auc is None else max(auc, 1.0 - auc)


def _grouped_auc(group: Any, score: Any, y: Any) -> float | None:
    """ROC AUC for 0/1 ``y`` when row i scores ``score[group[i]]`` (ties count half); None when a
    class is absent. Exactly the rank-sum figure: the counts are whole numbers, summed exactly."""
    import numpy as np

    n_pos = int(y.sum())
    n_neg = y.size - n_pos
    if n_pos == 0 or n_neg == 0:
        return None
    pos = np.bincount(group, weights=y, minlength=score.size).astype(np.int64)
    neg = np.bincount(group, minlength=score.size) - pos
    levels, level = np.unique(score, return_inverse=True)  # equal scores are one tie
    pos = np.bincount(level, weights=pos, minlength=levels.size).astype(np.int64)
    neg = np.bincount(level, weights=neg, minlength=levels.size).astype(np.int64)
    below = np.cumsum(neg) - neg  # negatives scoring strictly lower
    twice = int(np.sum(pos * (2 * below + neg)))  # twice the count of (pos, neg) pairs ranked right
    return float((twice / 2) / (n_pos * n_neg))
