"""The array-based stratified split returns exactly scikit-learn's train_test_split, draw for draw."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.model_selection import train_test_split
from trainguard.training.splits import stratified_split


def _both(a, y, test_size, seed):
    ours = stratified_split(a, y, test_size, seed)
    theirs = train_test_split(a, test_size=test_size, random_state=seed, shuffle=True, stratify=y)
    return ours, theirs


@pytest.mark.parametrize("n, rates, test_size", [
    (1000, [0.95], 0.2), (20_001, [0.93], 0.2), (333, [0.5], 0.1), (50, [0.9], 0.3),
    (7, [0.6], 0.5),                 # tiny: remainders tie and are broken by the generator
    (997, [0.5, 0.3], 0.25),         # three classes
    (400, [0.25, 0.25, 0.25], 0.1),  # four equal classes: every remainder ties
    (10, [0.8], 0.15),
])
@pytest.mark.parametrize("seed", [0, 7, 12345])
def test_equals_scikit_learn(n, rates, test_size, seed):
    rng = np.random.default_rng(n + seed)
    y = np.searchsorted(np.cumsum(rates), rng.random(n)).astype(np.int64)
    y[:2 * (len(rates) + 1)] = np.repeat(np.arange(len(rates) + 1), 2)  # every class has 2 rows
    a = np.arange(100, 100 + n)
    (tr, te), (str_, ste) = _both(a, y, test_size, seed)
    assert tr.dtype == str_.dtype and np.array_equal(tr, str_) and np.array_equal(te, ste)
    labels = np.array(["no", "yes", "maybe", "n/a"])[y]  # text labels sort as text, as sklearn's
    (tr, te), (str_, ste) = _both(a, labels, test_size, seed)
    assert np.array_equal(tr, str_) and np.array_equal(te, ste)


def test_rows_of_a_matrix_and_a_subset_of_indices_as_the_callers_pass_them():
    rng = np.random.default_rng(3)
    X = rng.normal(size=(500, 3))
    y = (rng.random(500) < 0.1).astype(int)
    (tr, te), (str_, ste) = _both(X, y, 0.2, 4)
    assert np.array_equal(tr, str_) and np.array_equal(te, ste)
    part = np.sort(rng.permutation(500)[:300])  # a fold's fit part, split for its carve-out
    (tr, te), (str_, ste) = _both(part, y[part], 0.1, 9)
    assert np.array_equal(tr, str_) and np.array_equal(te, ste)


@pytest.mark.parametrize("y, test_size", [
    (np.array([0, 0, 0, 1, 1, 1, 1, 0, 0, 1]), 1.0),   # no training rows
    (np.array([0] * 9 + [1]), 0.2),                    # one row of a class
    (np.array([0] * 8 + [1] * 2), 0.05),               # a test part smaller than the classes
])
def test_what_scikit_learn_refuses_is_refused_with_its_message(y, test_size):
    with pytest.raises(ValueError) as ours:
        stratified_split(np.arange(y.size), y, test_size, 0)
    with pytest.raises(ValueError) as theirs:
        train_test_split(np.arange(y.size), test_size=test_size, random_state=0, stratify=y)
    assert str(ours.value) == str(theirs.value)
