"""The core end to end: holdout kept out of tuning, events in order, champion honoured, seeded."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.datasets import make_classification
from trainguard.training import core
from trainguard.training.config import load_config
from trainguard.training.data import Dataset
from trainguard.training.errors import DataError
from trainguard.training.metrics import METRIC_NAMES


def fast_cfg(**overrides: object):
    base = {"cv.folds": 3, "xgboost.num_round": 40, "xgboost.early_stopping_rounds": 8,
            "xgboost.nthread": 1, "tuning.max_jobs": 3,
            "approval.on_leakage": "warn",  # column 0 numbers the rows on purpose: the screen flags it
            "tuning.ranges": {"max_depth": {"type": "integer", "min": 2, "max": 4},
                              "eta": {"type": "continuous", "min": 0.05, "max": 0.4,
                                      "scaling": "Logarithmic"}}}
    return load_config(overrides={**base, **overrides})


@pytest.fixture(scope="module")
def dataset() -> Dataset:
    X, y = make_classification(n_samples=700, n_features=8, n_informative=5, weights=[0.85],
                               flip_y=0.02, class_sep=1.5, random_state=4)
    X = np.column_stack([np.arange(y.size, dtype=float), X])  # column 0 names the row
    names = ["row_id"] + [f"f{i}" for i in range(8)]
    return Dataset(X, y.astype(np.int64), names, "label", (0, 1), "synthetic")


def test_run_core_produces_a_judged_model_and_its_report(dataset: Dataset) -> None:
    events: list[tuple[str, dict]] = []
    res = core.run_core(dataset, fast_cfg(), on_event=lambda k, i: events.append((k, i)))
    kinds = [k for k, _ in events]
    assert kinds[0] == "split" and kinds[-2:] == ["final_fit", "evaluated"]
    assert kinds.count("trial_started") == kinds.count("trial_finished") == 3
    assert res.search is not None and len(res.search.trials) == 3
    assert res.params == res.search.best.params and res.cv is res.search.best.cv
    assert res.num_round == res.cv.best_num_round == res.booster.num_boosted_rounds()
    ev = res.evaluation
    assert set(ev) == {"binary_classification_metrics", "cross_validation", "overfitting",
                       "decision", "leakage_screen", "model"}
    leak = next(c for c in ev["decision"]["checks"] if c["name"] == "leakage")
    assert leak["passed"] and "'row_id': it has a different value on every row" in leak["reason"]
    assert ev["leakage_screen"]["blocking"] == 0 and len(ev["leakage_screen"]["features"]) == 9
    assert ev["binary_classification_metrics"]["auc"]["value"] > 0.85
    assert ev["decision"]["approved"] is res.approved is True
    model = ev["model"]
    assert model["n_train"] + model["n_test"] == dataset.n_rows
    assert model["hyperparameters"]["max_depth"] == res.params["max_depth"]
    assert model["hyperparameters"]["eta"] == pytest.approx(res.params["eta"])
    assert model["features"] == dataset.feature_names
    assert ev["overfitting"]["train_cv_gap"] == pytest.approx(res.cv.train_cv_gap)


def test_holdout_rows_never_reach_tuning_or_the_final_fit(monkeypatch, dataset: Dataset) -> None:
    seen: dict[str, set[int]] = {}
    real_search, real_fit = core.search, core.fit_final

    def spy_search(X, y, cfg, **kw):
        seen["search"] = set(X[:, 0].astype(int))
        return real_search(X, y, cfg, **kw)

    def spy_fit(X, y, cfg, params=None, num_round=None, **kw):
        seen["fit"] = set(X[:, 0].astype(int))
        return real_fit(X, y, cfg, params, num_round, **kw)

    monkeypatch.setattr(core, "search", spy_search)
    monkeypatch.setattr(core, "fit_final", spy_fit)
    res = core.run_core(dataset, fast_cfg())
    n_test = res.evaluation["model"]["n_test"]
    assert seen["search"] == seen["fit"]
    assert len(seen["fit"]) == dataset.n_rows - n_test
    cm = res.evaluation["binary_classification_metrics"]["confusion_matrix"]
    assert sum(sum(row.values()) for row in cm.values()) == n_test  # scored rows = holdout only


def test_fixed_hyperparameters_when_tuning_is_disabled(dataset: Dataset) -> None:
    events: list[str] = []
    res = core.run_core(dataset, fast_cfg(**{"tuning.enabled": False}),
                        on_event=lambda k, i: events.append(k))
    assert res.search is None and res.params == {}
    assert events.count("trial_started") == 1 and events.count("fold_done") == 3
    assert res.evaluation["model"]["hyperparameters"]["max_depth"] == 4  # the config's value


def test_champion_bar_decides(dataset: Dataset) -> None:
    cfg = fast_cfg(**{"tuning.enabled": False})
    beaten = core.run_core(dataset, cfg, champion_value=0.9999)
    assert not beaten.approved
    assert any(c["name"] == "champion" and not c["passed"]
               for c in beaten.evaluation["decision"]["checks"])
    easy = core.run_core(dataset, cfg, champion_value={"version": "3", "value": 0.5})
    assert easy.approved and easy.evaluation["decision"]["champion"]["version"] == "3"
    none = core.run_core(dataset, cfg)
    assert none.evaluation["decision"]["champion"] is None


def test_same_config_same_report(dataset: Dataset) -> None:
    cfg = fast_cfg(**{"tuning.max_jobs": 2})
    a, b = core.run_core(dataset, cfg), core.run_core(dataset, cfg)
    assert a.evaluation == b.evaluation
    assert all(a.evaluation["binary_classification_metrics"][m]["standard_deviation"] >= 0
               for m in METRIC_NAMES)


def test_untrainable_data_is_refused_before_any_work(monkeypatch, dataset: Dataset) -> None:
    def no_work(*args, **kwargs):
        raise AssertionError("training started on untrainable data")

    monkeypatch.setattr(core, "FoldPlan", no_work)
    rows = np.r_[np.flatnonzero(dataset.y == 0)[:50], np.flatnonzero(dataset.y == 1)[:3]]
    with pytest.raises(DataError, match=r"fewer than cv\.folds=3"):
        core.run_core(dataset.subset(rows), fast_cfg())
