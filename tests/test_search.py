"""The search respects its space and budget, is seeded, Bayesian helps, median stopping is sane."""

from __future__ import annotations

import math

import numpy as np
import pytest
from sklearn.datasets import make_classification
from trainguard.training.config import ParamRange, load_config
from trainguard.training.errors import ConfigError, TrainguardError
from trainguard.training.search import MedianStopper, Searcher, parse_value, search

SPACE = {
    "eta": ParamRange("continuous", 0.001, 1.0, "Logarithmic"),
    "subsample": ParamRange("continuous", 0.5, 1.0, "Linear"),
    "max_depth": ParamRange("integer", 2, 7, "Linear"),
    "min_child_weight": ParamRange("integer", 1, 100, "Logarithmic"),
    "lambda": ParamRange("categorical", values=["0.5", "1", "5"]),
}


def small_cfg(**overrides: object):
    """A fast config; keyword overrides use dotted keys, as on the command line."""
    ranges = {"max_depth": {"type": "integer", "min": 2, "max": 4},
              "eta": {"type": "continuous", "min": 0.05, "max": 0.5, "scaling": "Logarithmic"}}
    base = {"cv.folds": 3, "xgboost.num_round": 40, "xgboost.early_stopping_rounds": 8,
            "xgboost.nthread": 1, "tuning.max_jobs": 4, "tuning.ranges": ranges}
    return load_config(overrides={**base, **overrides})


@pytest.fixture(scope="module")
def data() -> tuple[np.ndarray, np.ndarray]:
    return make_classification(n_samples=500, n_features=10, n_informative=4, weights=[0.85],
                               flip_y=0.05, random_state=2)


def drain(searcher: Searcher, objective) -> list[dict]:
    out = []
    while not searcher.exhausted:
        p = searcher.suggest()
        searcher.observe(p, objective(p))
        out.append(p)
    return out


@pytest.mark.parametrize("strategy", ["random", "bayesian"])
def test_values_stay_inside_ranges_with_their_types(strategy: str) -> None:
    trials = drain(Searcher(SPACE, strategy, max_jobs=16, seed=1), lambda p: -p["eta"])
    assert len(trials) == 16
    for p in trials:
        assert 0.001 <= p["eta"] <= 1.0 and type(p["eta"]) is float
        assert 0.5 <= p["subsample"] <= 1.0
        assert 2 <= p["max_depth"] <= 7 and type(p["max_depth"]) is int
        assert 1 <= p["min_child_weight"] <= 100 and type(p["min_child_weight"]) is int
        assert p["lambda"] in (0.5, 1, 5)
    assert {p["max_depth"] for p in trials} >= {2, 7}  # integer end points are reachable


def test_log_scaling_spreads_samples_over_decades() -> None:
    trials = drain(Searcher({"eta": SPACE["eta"]}, "random", max_jobs=300, seed=0), lambda p: 0.0)
    logs = np.log10([p["eta"] for p in trials])
    # uniform in log10 space over [-3, 0]: about a third per decade, unlike linear sampling
    share_low = np.mean(logs < -2)
    assert 0.2 < share_low < 0.45


def test_categorical_values_get_their_natural_types() -> None:
    assert parse_value("3") == 3 and type(parse_value("3")) is int
    assert parse_value("0.05") == 0.05 and type(parse_value("1.0")) is float
    assert parse_value("depthwise") == "depthwise"


def test_budget_and_finite_space_are_respected() -> None:
    s = Searcher(SPACE, "random", max_jobs=5, seed=0)
    drain(s, lambda p: 0.0)
    with pytest.raises(TrainguardError, match=r"budget is used up: 5 of tuning\.max_jobs=5"):
        s.suggest()
    tiny = {"lambda": ParamRange("categorical", values=["1", "2", "3"])}
    got = drain(Searcher(tiny, "bayesian", max_jobs=10, seed=0), lambda p: p["lambda"])
    assert sorted(p["lambda"] for p in got) == [1, 2, 3]  # each once, then the space is exhausted


def test_bad_strategy_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match=r"tuning\.strategy must be 'random' or 'bayesian'"):
        Searcher(SPACE, "grid")


def test_same_seed_same_suggestions_other_seed_differs() -> None:
    def objective(p):
        return -abs(p["eta"] - 0.1) - p["max_depth"] / 100

    a = drain(Searcher(SPACE, "bayesian", 8, seed=4), objective)
    b = drain(Searcher(SPACE, "bayesian", 8, seed=4), objective)
    c = drain(Searcher(SPACE, "bayesian", 8, seed=5), objective)
    assert a == b and a != c


def test_bayesian_beats_or_equals_random_on_a_1d_objective() -> None:
    space = {"x": ParamRange("continuous", 0.0, 1.0, "Linear")}

    def objective(p):
        return -((p["x"] - 0.23) ** 2)

    def regret(strategy: str, seed: int) -> float:
        return -max(objective(p) for p in drain(Searcher(space, strategy, 10, seed), objective))

    bayes = [regret("bayesian", s) for s in range(4)]
    rand = [regret("random", s) for s in range(4)]
    assert np.mean(bayes) <= np.mean(rand)
    assert sum(b <= r for b, r in zip(bayes, rand, strict=True)) >= 3


def test_minimizing_searcher_moves_toward_low_values() -> None:
    space = {"x": ParamRange("continuous", 0.0, 1.0, "Linear")}
    s = Searcher(space, "bayesian", 10, seed=0, maximize=False)
    trials = drain(s, lambda p: p["x"])
    initial = min(p["x"] for p in trials[: s.n_initial])
    assert min(p["x"] for p in trials[s.n_initial:]) < min(initial, 0.05)


def test_parallel_suggestions_without_results_do_not_repeat() -> None:
    s = Searcher({"x": ParamRange("continuous", 0.0, 1.0, "Linear")}, "bayesian", 8, seed=0)
    first = [s.suggest() for _ in range(3)]
    for p in first:
        s.observe(p, -p["x"])
    pending = [s.suggest() for _ in range(2)]  # asked for together, like max_parallel_jobs=2
    assert pending[0] != pending[1]


def test_median_stopper_stops_a_clearly_bad_trial_never_the_first() -> None:
    stop = MedianStopper(maximize=True)
    assert not stop.should_stop(0, 0, 0.1)  # the first trial has nobody to trail
    for fold, score in enumerate([0.90, 0.91, 0.90]):
        stop.record(0, fold, score)
    for fold, score in enumerate([0.88, 0.89, 0.88]):
        stop.record(1, fold, score)
    assert stop.should_stop(2, 0, 0.60)
    assert not stop.should_stop(2, 0, 0.95)
    assert not stop.should_stop(0, 1, 0.5)  # the first trial is never compared with later ones
    low = MedianStopper(maximize=False)
    low.record(0, 0, 0.2)
    assert low.should_stop(1, 0, 0.9) and not low.should_stop(1, 0, 0.1)


def test_search_runs_the_budget_and_picks_the_best(data) -> None:
    X, y = data
    cfg = small_cfg(**{"tuning.early_stopping": "off", "tuning.strategy": "random"})
    events: list[str] = []
    seen: list[int] = []
    res = search(X, y, cfg, on_trial=lambda t: seen.append(t.number),
                 on_event=lambda kind, info: events.append(kind))
    assert [t.number for t in res.trials] == seen == [0, 1, 2, 3]
    assert res.objective == "cv:auc"
    assert res.best.score == max(t.score for t in res.trials)
    for t in res.trials:
        assert 2 <= t.params["max_depth"] <= 4 and 0.05 <= t.params["eta"] <= 0.5
        assert t.score == pytest.approx(t.cv.mean("auc")) and t.cv.folds_run == 3
    assert events.count("trial_started") == 4 and events.count("fold_done") == 12
    assert res.to_dict()["best"] == res.best.number


def test_search_is_seeded(data) -> None:
    X, y = data
    a = search(X, y, small_cfg())
    b = search(X, y, small_cfg())
    c = search(X, y, small_cfg(seed=99))
    assert [(t.params, t.score) for t in a.trials] == [(t.params, t.score) for t in b.trials]
    assert [t.params for t in a.trials] != [t.params for t in c.trials]


def test_search_with_median_stopping_cuts_bad_trials_short(data) -> None:
    X, y = data
    # min_child_weight 1000 allows no split at all: a constant model, AUC 0.5 on every fold
    ranges = {"min_child_weight": {"type": "categorical", "values": ["1", "1000"]},
              "max_depth": {"type": "integer", "min": 2, "max": 6}}
    cfg = small_cfg(**{"tuning.ranges": ranges, "tuning.strategy": "random",
                       "tuning.early_stopping": "auto", "tuning.max_jobs": 10})
    res = search(X, y, cfg)
    assert len(res.trials) == 10  # the whole finite space, once each
    assert not res.trials[0].stopped_early
    hopeless = [t for t in res.trials if t.params["min_child_weight"] == 1000]
    assert len(hopeless) == 5
    for t in hopeless:
        earlier = [o.params["min_child_weight"] == 1 for o in res.trials[: t.number]]
        # the median of earlier trials is a good score when good ones are at least half of them
        if earlier and sum(earlier) >= len(earlier) - sum(earlier):
            assert t.stopped_early and t.cv.folds_run == 1
        else:
            assert not t.stopped_early
    assert any(t.stopped_early for t in hopeless)
    assert not res.best.stopped_early and res.best.params["min_child_weight"] == 1


def test_minimized_objective_picks_the_lowest(data) -> None:
    X, y = data
    res = search(X, y, small_cfg(**{"tuning.objective": "log_loss", "tuning.max_jobs": 3}))
    assert res.objective == "cv:log_loss" and not res.maximize
    assert res.best.score == min(t.score for t in res.trials if not t.stopped_early)
    assert all(math.isfinite(t.score) for t in res.trials)


def test_failed_trials_reported_as_nan_do_not_break_the_bayesian_searcher() -> None:
    s = Searcher({"x": ParamRange("continuous", 0.0, 1.0, "Linear")}, "bayesian", 8, seed=0)
    while not s.exhausted:
        p = s.suggest()
        s.observe(p, math.nan if p["x"] > 0.5 else p["x"])  # half the space "fails"
        assert 0.0 <= p["x"] <= 1.0


def test_results_reported_with_string_values_match_their_suggestion() -> None:
    # a tuning job hands hyperparameters back as strings; the pending suggestion must clear
    s = Searcher(SPACE, "bayesian", 6, seed=2)
    p = s.suggest()
    assert s.pending == 1
    s.observe({k: str(v) for k, v in p.items()}, 0.7)
    assert s.pending == 0
