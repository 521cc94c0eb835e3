"""The holdout split, and whether a table can be trained as configured: both classes in the
holdout, every fold and the resampler's neighbourhoods, counted on the real splits of the labels
before any work is done.
"""

from __future__ import annotations

import contextlib
import math
from dataclasses import dataclass
from typing import Any

import numpy as np
from trainguard.training.cells import name_list
from trainguard.training.data import Dataset
from trainguard.training.errors import DataError
from trainguard.training.splits import stratified_split

__all__ = ["check_trainable", "holdout_rows", "holdout_split"]


def holdout_rows(ds: Dataset, test_size: float, seed: int,
                 split: str = "stratified") -> tuple[np.ndarray, np.ndarray]:
    """Sorted (train, test) row indices of the holdout split (see ``holdout_split``)."""
    if split == "time":
        if ds.timestamps is None:
            raise DataError("data.split=time needs data.timestamp: name the time column.", ds.source)
        n_test = math.ceil(test_size * ds.n_rows)
        order = np.argsort(ds.timestamps, kind="stable")  # ties keep table order
        return np.sort(order[: ds.n_rows - n_test]), np.sort(order[ds.n_rows - n_test:])
    idx = np.arange(ds.n_rows)
    try:
        train_idx, test_idx = stratified_split(idx, ds.y, test_size, seed)
    except ValueError as exc:
        raise DataError(f"cannot make a stratified holdout split with data.test_size={test_size:g}: "
                        f"{exc} Add rows of the smaller class or change data.test_size.",
                        ds.source) from None
    return np.sort(train_idx), np.sort(test_idx)


def holdout_split(ds: Dataset, test_size: float, seed: int, split: str = "stratified", *,
                  rows: tuple[np.ndarray, np.ndarray] | None = None) -> tuple[Dataset, Dataset]:
    """(train, test) split, deterministic for a seed; the test part stays untouched.

    ``split="stratified"`` draws the holdout at random keeping the class ratio; ``"time"`` keeps
    the latest ``test_size`` share of rows by ``ds.timestamps`` as the holdout, as a model meets
    the future. Raises DataError when a class is too small to be split. ``rows``: the
    ``holdout_rows`` of these settings already drawn (``check_trainable`` returns them), so the
    split is not drawn twice.
    """
    train_idx, test_idx = rows if rows is not None else holdout_rows(ds, test_size, seed, split)
    return (ds.subset(train_idx, f"{ds.source} (train split)"),
            ds.subset(test_idx, f"{ds.source} (holdout split)"))


def check_trainable(ds: Dataset, cfg: Any) -> tuple[np.ndarray, np.ndarray]:
    """Raise one DataError if either class is too small for the holdout, the folds or the resampler.

    Counts are exact, from the real splits on the labels alone: the stratified holdout
    (``data.test_size``, ``seed``), ``cv.folds`` stratified folds, the early-stopping carve-out
    (``xgboost.validation_fraction``) from each fold's fit part; SMOTE-like resamplers then need
    ``k_neighbors + 1`` minority rows in what remains (and no missing values: they interpolate).
    Each message gives the counts and the settings that would fix it. Returns the holdout's
    sorted (train, test) rows, ``holdout_rows`` of the same settings, for ``holdout_split``.
    """
    s = _Settings.of(cfg)
    counts = [int(np.count_nonzero(ds.y == c)) for c in (0, 1)]
    rows = _holdout(ds, s, counts)
    y_train = ds.y[rows[0]]
    problems, split_ok = _holdout_and_fold_problems(ds, s, counts, y_train)
    if split_ok:
        problems += _fit_part_problems(ds, s, counts, y_train)
    problems += _resampler_problems(ds, s.method)
    if problems:
        raise DataError(problems, ds.source)
    return rows


@dataclass(frozen=True)
class _Settings:
    """The settings the counts depend on."""

    folds: int
    k: int
    method: str
    vf: float
    test_size: float
    seed: int
    shuffle: bool
    by_time: bool

    @classmethod
    def of(cls, cfg: Any) -> _Settings:
        return cls(int(cfg.cv.folds), int(cfg.resampling.k_neighbors), cfg.resampling.method,
                   float(cfg.xgboost.validation_fraction), float(cfg.data.test_size), int(cfg.seed),
                   bool(cfg.cv.shuffle), getattr(cfg.data, "split", "stratified") == "time")


def _holdout(ds: Dataset, s: _Settings, counts: list[int]) -> tuple[np.ndarray, np.ndarray]:
    """The holdout's sorted (train, test) rows; DataError when no holdout can be split."""
    problems: list[str] = []
    test_size, seed, by_time = s.test_size, s.seed, s.by_time
    if by_time:
        if ds.timestamps is None:
            raise DataError("data.split=time needs the time column (data.timestamp) in the table.",
                            ds.source)
        return holdout_rows(ds, test_size, seed, "time")
    rows = None
    if min(counts) >= 2:
        with contextlib.suppress(DataError):  # worded below with the counts
            rows = holdout_rows(ds, test_size, seed)
    if rows is None:
        for c in (0, 1):
            if counts[c] < 2:
                problems.append(f"class {ds.classes[c]!r} has {counts[c]} row(s); the stratified "
                                "holdout split needs at least 2 rows of each class (and training "
                                "many more). Add rows of that class.")
        if min(counts) >= 2:
            problems.append(f"{ds.n_rows} rows are too few for a stratified holdout with "
                            f"data.test_size={test_size:g}; add rows or change data.test_size.")
        raise DataError(problems, ds.source)
    return rows


def _holdout_and_fold_problems(ds: Dataset, s: _Settings, counts: list[int],
                               y_train: np.ndarray) -> tuple[list[str], bool]:
    """(problems, folds can split): each class in the holdout, and in every fold."""
    problems: list[str] = []
    folds, test_size, by_time = s.folds, s.test_size, s.by_time
    split_ok = True
    for c in (0, 1):
        who, n = f"class {ds.classes[c]!r}", counts[c]
        n_train = int(np.count_nonzero(y_train == c))
        if n_train == n:
            where = "the latest rows (data.split=time)" if by_time else "the holdout"
            problems.append(f"{who} has {n} rows, so {where} (data.test_size={test_size:g}) "
                            "would get none of them and its metrics would be undefined; raise "
                            "data.test_size or add rows of that class.")
        if n_train < folds:
            split_ok = False
            problems.append(f"{who} has {n_train} rows left for training after the holdout, "
                            f"fewer than cv.folds={folds}: every fold must score rows of both "
                            f"classes. Use cv.folds={max(2, n_train)} or fewer, or add rows of "
                            "that class.")
    return problems, split_ok


def _fit_part_problems(ds: Dataset, s: _Settings, counts: list[int], y_train: np.ndarray) -> list[str]:
    """Each fold's fit part: an early-stopping carve-out, and neighbours enough for the resampler."""
    problems: list[str] = []
    folds, k, method, vf, test_size = s.folds, s.k, s.method, s.vf, s.test_size
    minority = int(np.argmin(counts))
    fold_counts = _fold_fit_counts(y_train, folds, s.shuffle, vf, s.seed)
    if fold_counts is None:
        problems.append(f"the fit parts of cv.folds={folds} are too small to carve out an "
                        f"early-stopping set (xgboost.validation_fraction={vf:g}) with both "
                        "classes; use fewer folds or add rows.")
    for c, (fold_fit, fit) in (fold_counts or {}).items():
        who, n = f"class {ds.classes[c]!r}", counts[c]
        if fit < 1:
            problems.append(f"{who} has {fold_fit} rows in the smallest fold fit part, too few to "
                            f"carve out an early-stopping set (xgboost.validation_fraction={vf:g}) "
                            "and still fit on the rest; use fewer folds or add rows of that class.")
        elif c == minority and method in _NEIGHBOUR_METHODS and fit < k + 1:
            fixes = [f"resampling.k_neighbors={fit - 1} or lower" if fit >= 2 else None,
                     f"fewer folds (cv.folds={folds - 1})" if folds > 2 else None,
                     "resampling.method=random_over", "more rows of that class"]
            n_train = int(np.count_nonzero(y_train == c))
            problems.append(
                f"the minority {who} has {n} rows: {n_train} after the holdout "
                f"(data.test_size={test_size:g}), {fold_fit} in the smallest fit part of "
                f"cv.folds={folds} and {fit} after its early-stopping carve-out "
                f"(xgboost.validation_fraction={vf:g}); resampling.method={method} with "
                f"resampling.k_neighbors={k} needs at least {k + 1}. Fix: "
                + ", or ".join(f for f in fixes if f) + ".")
    return problems


def _resampler_problems(ds: Dataset, method: str) -> list[str]:
    """What the resampling method cannot work with: categories (interpolating ones), missing numbers."""
    problems: list[str] = []
    if ds.categories and method in ("adasyn", "borderline_smote"):
        problems.append(f"resampling.method={method} interpolates between rows and does not respect "
                        f"categories, and the table has categorical features ({name_list(list(ds.categories))}). "
                        "Use resampling.method=smote (SMOTE-NC with categories), random_over or none.")
    if method in _NEIGHBOUR_METHODS:
        # missing categories are a category of their own for the sampler; missing numbers are not
        nan_cols = [(name, int(n)) for name, n in zip(ds.feature_names, np.isnan(ds.X).sum(axis=0),
                                                      strict=True) if n and name not in ds.categories]
        if nan_cols:
            shown = ", ".join(f"{name!r} ({n})" for name, n in nan_cols[:5])
            more = f" and {len(nan_cols) - 5} more" if len(nan_cols) > 5 else ""
            problems.append(
                f"{len(nan_cols)} feature column(s) have missing values ({shown}{more}); "
                f"resampling.method={method} interpolates between neighbours and cannot use rows "
                "with missing values. Fix: resampling.method=random_over (keeps missing values for "
                "XGBoost), resampling.method=none, or fill the missing values in the data.")
    return problems


_NEIGHBOUR_METHODS = ("smote", "adasyn", "borderline_smote")


def _fold_fit_counts(y: np.ndarray, folds: int, shuffle: bool, vf: float,
                     seed: int) -> dict[int, tuple[int, int]] | None:
    """Per class, the smallest (fit part, fit part minus carve-out) row counts over the folds.

    Mirrors the splits of ``trainguard.training.cv.FoldPlan`` (same splitters, same seeds) on labels alone,
    so the counts are exact. None when a carve-out cannot be split.
    """
    from sklearn.model_selection import StratifiedKFold

    splitter = StratifiedKFold(folds, shuffle=shuffle, random_state=seed if shuffle else None)
    worst: dict[int, tuple[int, int]] = {}
    for i, (fit_part, _) in enumerate(splitter.split(np.zeros(y.size), y)):
        try:
            fit_idx, _ = stratified_split(fit_part, y[fit_part], vf, seed + i)
        except ValueError:
            return None
        for c in (0, 1):
            pair = (int(np.count_nonzero(y[fit_part] == c)), int(np.count_nonzero(y[fit_idx] == c)))
            if c not in worst or pair[1] < worst[c][1]:
                worst[c] = pair
    return worst
