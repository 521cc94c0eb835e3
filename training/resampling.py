"""Over-sampling of a fit part: the imbalanced-learn sampler the config names, category-aware.

Only ever applied to the rows a model is fitted on (``training.cv`` calls it inside each fold's
fit part and on the final fit), never to rows that are scored.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from imblearn import FunctionSampler
from imblearn.over_sampling import ADASYN, SMOTE, SMOTEN, SMOTENC, BorderlineSMOTE, RandomOverSampler
from trainguard.training.config import ResamplingConfig
from trainguard.training.errors import ConfigError, DataError
from trainguard.training.threads import helper_threads, thread_map

__all__ = ["make_resampler", "resample"]

_THREADED_CELLS = 1 << 21
"""Synthetic cells (rows x features) from which SMOTE's rows are generated in two halves at once."""


class _SMOTE(SMOTE):
    """imbalanced-learn's SMOTE, generating the synthetic rows of a big draw in two halves at once.

    Each synthetic row is ``x + u * (neighbour - x)`` from the draws SMOTE already made, so
    computing the rows in two halves on two threads (numpy releases the GIL) gives the same
    rows, bit for bit (a test holds it to ``SMOTE``); small draws, sparse input and anything
    else take SMOTE's own code.
    """

    def _generate_samples(self, X: Any, nn_data: Any, nn_num: Any, rows: Any, cols: Any, steps: Any,
                          y_type: Any = None, y: Any = None) -> Any:
        dense = (isinstance(X, np.ndarray) and isinstance(nn_data, np.ndarray) and isinstance(steps, np.ndarray)
                 and X.ndim == 2 and X.dtype == nn_data.dtype == steps.dtype == np.float64)
        if (y is not None or not dense or steps.ndim != 2
                or helper_threads(rows.size * X.shape[1], _THREADED_CELLS) == 1):
            return super()._generate_samples(X, nn_data, nn_num, rows, cols, steps, y_type, y)
        out = np.empty((rows.size, X.shape[1]), dtype=np.float64)

        def half(part: slice) -> None:
            base = X[rows[part]]
            diffs = nn_data[nn_num[rows[part], cols[part]]] - base  # as SMOTE: neighbour - x
            np.multiply(steps[part], diffs, out=diffs)
            np.add(base, diffs, out=out[part])  # x + u * (neighbour - x)

        mid = rows.size // 2
        thread_map(half, (slice(0, mid), slice(mid, rows.size)), 2)
        return out


def make_resampler(resampling: ResamplingConfig, seed: int, n_minority: int | None = None,
                   categorical: Sequence[int] = (), n_features: int | None = None) -> Any:
    """The imbalanced-learn over-sampler named by ``resampling.method`` (``none``: identity).

    ``n_minority`` (positives in the rows it will see) lowers ``k_neighbors`` when a small fold
    has fewer neighbours than asked for; below two positives the neighbour-based methods cannot
    work and a DataError says what to change. With ``categorical`` feature indices, ``smote``
    becomes SMOTE-NC (SMOTE-N when every feature is categorical), which gives a synthetic row
    an existing category of its neighbours instead of interpolating codes.
    """
    method = resampling.method
    strategy = resampling.sampling_strategy
    if method == "none":
        return FunctionSampler(validate=False)
    if method == "random_over":
        return RandomOverSampler(sampling_strategy=strategy, random_state=seed)
    k = resampling.k_neighbors
    if n_minority is not None and n_minority <= k:
        if n_minority < 2:
            raise DataError(
                f"resampling.method={method} needs at least 2 positive rows in each fold's fit part; "
                f"found {n_minority}. Use fewer folds (cv.folds), more data, or "
                "resampling.method=random_over."
            )
        k = n_minority - 1
    if method == "smote" and categorical:
        if n_features is not None and len(categorical) == n_features:
            return SMOTEN(sampling_strategy=strategy, k_neighbors=k, random_state=seed)
        return SMOTENC(list(categorical), sampling_strategy=strategy, k_neighbors=k,
                       random_state=seed)
    if categorical and method in ("adasyn", "borderline_smote"):
        raise DataError(f"resampling.method={method} does not respect categories; the table has "
                        "categorical features. Use smote (SMOTE-NC), random_over or none.")
    if method == "smote":
        return _SMOTE(sampling_strategy=strategy, k_neighbors=k, random_state=seed)
    if method == "adasyn":
        return ADASYN(sampling_strategy=strategy, n_neighbors=k, random_state=seed)
    if method == "borderline_smote":
        return BorderlineSMOTE(sampling_strategy=strategy, k_neighbors=k, random_state=seed)
    raise ConfigError(
        f"resampling.method={method!r} is unknown; use smote, none, random_over, adasyn or "
        "borderline_smote."
    )


def resample(X: np.ndarray, y: np.ndarray, resampling: ResamplingConfig,
             seed: int, categorical: Sequence[int] = ()) -> tuple[np.ndarray, np.ndarray]:
    """Over-sample (X, y) with the configured method; rows already at the asked ratio pass through.

    The returned arrays start with the original rows, unchanged, followed by the synthetic ones.
    ``categorical`` are the indices of categorical columns (codes, NaN = missing): a category-aware
    sampler is used, and a missing category is a category of its own while sampling.
    """
    if resampling.method == "none":
        return X, y
    n_pos = int(np.count_nonzero(y))
    n_neg = y.size - n_pos
    strategy = resampling.sampling_strategy
    if isinstance(strategy, float) and n_neg and n_pos / n_neg >= strategy:
        return X, y  # already at least as balanced as asked: nothing to add
    sampler = make_resampler(resampling, seed, n_minority=min(n_pos, n_neg),
                             categorical=categorical, n_features=X.shape[1])
    neighbours = resampling.method != "random_over" and bool(categorical)
    missing_code: dict[int, float] = {}
    if neighbours:  # SMOTE-NC/-N need every cell: missing is one more category while sampling
        X = X.copy()
        for j in categorical:
            col = X[:, j]
            gaps = np.isnan(col)
            if gaps.any():
                missing_code[j] = float(np.nanmax(col) + 1) if (~gaps).any() else 0.0
                col[gaps] = missing_code[j]
    try:
        Xr, yr = sampler.fit_resample(X, y)
    except (ValueError, RuntimeError) as exc:
        raise DataError(
            f"resampling.method={resampling.method} could not resample a fit part of {y.size} rows "
            f"({n_pos} positive): {exc}. Try resampling.method=smote or random_over."
        ) from None
    Xr = np.asarray(Xr, dtype=np.float64)
    for j, code in missing_code.items():
        Xr[Xr[:, j] == code, j] = np.nan
    return Xr, np.asarray(yr)
