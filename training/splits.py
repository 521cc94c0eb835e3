"""The stratified shuffle split of ``sklearn.model_selection.train_test_split``, without its list.

``train_test_split(a, test_size=f, random_state=seed, shuffle=True, stratify=y)`` gathers each
class's rows into a Python list and shuffles the list, which turns every row index into a Python
object: 0.3 s at a million rows, paid by the holdout split, the trainability check and every
fold's early-stopping carve-out. ``stratified_split`` makes the same draws from the same
``RandomState`` in the same order on arrays, so it returns exactly what that call returns (a
test holds it to scikit-learn's own). Anything unusual (a fraction outside (0, 1), a class
with fewer than two rows, a part too small for every class) goes to scikit-learn itself, which
raises its usual ValueError.
"""

from __future__ import annotations

import math

import numpy as np

__all__ = ["stratified_split"]


def stratified_split(a: np.ndarray, y: np.ndarray, test_size: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(train, test) parts of ``a``, exactly as ``train_test_split(a, test_size=test_size,
    random_state=seed, shuffle=True, stratify=y)``."""
    a, y = np.asarray(a), np.asarray(y)
    n = y.shape[0]
    if (y.ndim != 1 or a.shape[:1] != (n,) or isinstance(test_size, (bool, np.bool_))
            or not isinstance(test_size, (float, np.floating)) or not 0.0 < test_size < 1.0):
        return _sklearn(a, y, test_size, seed)
    n_test = math.ceil(test_size * n)
    n_train = n - n_test
    classes, y_index, counts = np.unique(y, return_inverse=True, return_counts=True)
    if n == 0 or counts.min() < 2 or min(n_train, n_test) < classes.size:
        return _sklearn(a, y, test_size, seed)
    by_class = np.split(np.argsort(y_index.reshape(-1), kind="stable"), np.cumsum(counts)[:-1])
    rng = np.random.RandomState(seed)
    n_i = _approximate_mode(counts, n_train, rng)
    t_i = _approximate_mode(counts - n_i, n_test, rng)
    train_parts, test_parts = [], []
    for i in range(classes.size):
        rows = by_class[i].take(rng.permutation(counts[i]), mode="clip")
        train_parts.append(rows[:n_i[i]])
        test_parts.append(rows[n_i[i]:n_i[i] + t_i[i]])
    train = rng.permutation(np.concatenate(train_parts))
    test = rng.permutation(np.concatenate(test_parts))
    return a[train], a[test]


def _approximate_mode(class_counts: np.ndarray, n_draws: int, rng: np.random.RandomState) -> np.ndarray:
    """Rows drawn per class: the floor of each class's share, then one more for the largest
    remainders, ties broken by ``rng`` (scikit-learn's rule, draw for draw)."""
    continuous = class_counts / class_counts.sum() * n_draws
    floored = np.floor(continuous)
    need_to_add = int(n_draws - floored.sum())
    if need_to_add > 0:
        remainder = continuous - floored
        for value in np.sort(np.unique(remainder))[::-1]:
            (inds,) = np.where(remainder == value)
            add_now = min(len(inds), need_to_add)
            inds = rng.choice(inds, size=add_now, replace=False)
            floored[inds] += 1
            need_to_add -= add_now
            if need_to_add == 0:
                break
    return floored.astype(int)


def _sklearn(a: np.ndarray, y: np.ndarray, test_size: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    from sklearn.model_selection import train_test_split

    train, test = train_test_split(a, test_size=test_size, random_state=seed, shuffle=True, stratify=y)
    return train, test
