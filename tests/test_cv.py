"""Cross-validation is leakage-free, seeded, stoppable, and shows overfitting as a train-CV gap."""

from __future__ import annotations

import numpy as np
import pytest
import xgboost as xgb
from imblearn.over_sampling import ADASYN, SMOTE, BorderlineSMOTE, RandomOverSampler
from sklearn.datasets import make_classification
from trainguard.training import cv, resampling
from trainguard.training.config import Config, ResamplingConfig, load_config
from trainguard.training.cv import CVResult, FoldPlan, cross_validate, fit_final, xgb_params
from trainguard.training.errors import ConfigError, DataError
from trainguard.training.metrics import METRIC_NAMES

FAST = {"cv.folds": 3, "xgboost.num_round": 60, "xgboost.early_stopping_rounds": 10,
        "xgboost.nthread": 1}


def fast_cfg(**overrides: object) -> Config:
    return load_config(overrides={**FAST, **overrides})


@pytest.fixture(scope="module")
def noise() -> tuple[np.ndarray, np.ndarray]:
    """Pure-noise features with ~8% random positive labels: nothing to learn."""
    rng = np.random.default_rng(3)
    X = rng.normal(size=(2000, 10))
    y = (rng.random(2000) < 0.08).astype(int)
    return X, y


@pytest.fixture(scope="module")
def signal() -> tuple[np.ndarray, np.ndarray]:
    X, y = make_classification(n_samples=600, n_features=12, n_informative=4, weights=[0.85],
                               flip_y=0.05, random_state=1)
    return X, y


def test_cv_on_noise_is_near_chance_while_smote_before_split_looks_great(noise) -> None:
    X, y = noise
    honest = cross_validate(X, y, fast_cfg())
    assert abs(honest.mean("auc") - 0.5) < 0.08
    # The trap: over-sample first, then cross-validate. Synthetic neighbours of training rows land
    # in the scored folds and the score soars on data with no signal at all.
    Xs, ys = SMOTE(random_state=0).fit_resample(X, y)
    leaky = cross_validate(Xs, ys, fast_cfg(**{"resampling.method": "none"}))
    assert leaky.mean("auc") > 0.75
    assert leaky.mean("auc") > honest.mean("auc") + 0.2


def test_resampler_sees_only_fit_rows(monkeypatch, signal) -> None:
    X, y = signal
    ids = np.arange(y.size, dtype=float)
    X_ids = np.column_stack([ids, X])  # column 0 identifies the original row
    seen: list[np.ndarray] = []
    real = resampling.make_resampler

    class Spy:
        def __init__(self, inner) -> None:
            self.inner = inner

        def fit_resample(self, Xf, yf):
            seen.append(Xf[:, 0].copy())
            return self.inner.fit_resample(Xf, yf)

    monkeypatch.setattr(resampling, "make_resampler", lambda *a, **k: Spy(real(*a, **k)))
    cfg = fast_cfg()
    plan = FoldPlan(X_ids, y, cfg)
    cross_validate(X_ids, y, cfg, plan=plan)
    assert len(seen) == len(plan) == 3
    for i, rows in enumerate(seen):
        f = plan.fold(i)
        assert np.array_equal(np.sort(rows).astype(int), f.fit_idx)
        assert not set(f.fit_idx) & set(f.score_idx)
        assert not set(f.fit_idx) & set(f.stop_idx)
        assert not set(f.stop_idx) & set(f.score_idx)
        # the carve-out comes out of the fit part, stratified, at the configured share
        assert len(f.stop_idx) == pytest.approx(0.15 * (len(f.fit_idx) + len(f.stop_idx)), abs=2)


def test_early_stopping_watches_only_the_real_carve_out(monkeypatch, signal) -> None:
    X, y = signal
    cfg = fast_cfg()
    plan = FoldPlan(X, y, cfg)
    watched: list[tuple[int, np.ndarray, int]] = []
    real_train = xgb.train

    def spy_train(params, dtrain, *args, evals=(), **kwargs):
        for d, _ in evals:
            watched.append((d.num_row(), d.get_label().copy(), dtrain.num_row()))
        return real_train(params, dtrain, *args, evals=evals, **kwargs)

    monkeypatch.setattr(cv.xgb, "train", spy_train)
    cross_validate(X, y, cfg, plan=plan)
    assert len(watched) == 3
    for i, (n_rows, labels, n_train) in enumerate(watched):
        f = plan.fold(i)
        assert n_rows == len(f.stop_idx)  # no synthetic rows, no scored-fold rows
        assert np.array_equal(labels, y[f.stop_idx])
        assert n_train == len(f.fit_idx) + f.n_synthetic and f.n_synthetic > 0


def test_scored_fold_keeps_its_natural_class_ratio(signal) -> None:
    X, y = signal
    plan = FoldPlan(X, y, fast_cfg())
    for i in range(len(plan)):
        f = plan.fold(i)
        assert y[f.score_idx].mean() == pytest.approx(y.mean(), abs=2 / len(f.score_idx))
        resampled = f.dtrain.get_label()
        assert resampled.mean() == pytest.approx(0.5)  # SMOTE 'auto' balances the fit rows only
        assert y[f.fit_idx].mean() == pytest.approx(y.mean(), abs=0.02)


def test_same_seed_same_result_other_seed_differs(signal) -> None:
    X, y = signal
    a = cross_validate(X, y, fast_cfg())
    b = cross_validate(X, y, fast_cfg())
    c = cross_validate(X, y, fast_cfg(seed=8))
    assert a.per_fold == b.per_fold and a.best_iterations == b.best_iterations
    assert a.per_fold != c.per_fold


def test_on_fold_can_stop_early(signal) -> None:
    X, y = signal
    calls: list[int] = []

    def stop_after_first(i, metrics, partial):
        calls.append(i)
        assert set(metrics) == set(METRIC_NAMES) and partial.folds_run == i + 1
        return True

    res = cross_validate(X, y, fast_cfg(), on_fold=stop_after_first)
    assert calls == [0]
    assert res.stopped_early and res.folds_run == 1 and res.folds == 3
    assert res.to_dict()["stopped_early"] is True


def test_unregularized_deep_model_shows_a_large_gap_and_regularized_a_small_one() -> None:
    X, y = make_classification(n_samples=600, n_features=20, n_informative=3, flip_y=0.15,
                               weights=[0.85], random_state=1)
    deep = cross_validate(X, y, fast_cfg(**{
        "xgboost.max_depth": 12, "xgboost.min_child_weight": 0, "xgboost.alpha": 0,
        "xgboost.lambda": 0, "xgboost.eta": 0.3, "xgboost.subsample": 1.0,
        "xgboost.colsample_bytree": 1.0}))
    regularized = cross_validate(X, y, fast_cfg(**{
        "xgboost.max_depth": 1, "xgboost.min_child_weight": 20, "xgboost.alpha": 1,
        "xgboost.lambda": 20, "xgboost.eta": 0.05}))
    assert deep.train_cv_gap > 0.25
    assert regularized.train_cv_gap < 0.08
    assert deep.train_cv_gap == pytest.approx(deep.train_mean("auc") - deep.mean("auc"))


def test_to_dict_layout_and_round_trip(signal) -> None:
    X, y = signal
    res = cross_validate(X, y, fast_cfg())
    d = res.to_dict()
    assert d["folds"] == 3 and d["folds_run"] == 3
    for name in METRIC_NAMES:
        assert set(d[name]) == {"mean", "std", "per_fold"} and len(d[name]["per_fold"]) == 3
        assert d[name]["mean"] == pytest.approx(res.mean(name))
    assert d["train_auc"]["mean"] == pytest.approx(res.train_mean("auc"))
    assert d["train_cv_gap"] == pytest.approx(res.train_cv_gap)
    back = CVResult.from_dict(d)
    assert back == res
    with pytest.raises(DataError, match="cross-validation result is incomplete"):
        CVResult.from_dict({"folds": 3})


def test_fit_final_trains_the_given_rounds_on_the_resampled_split(signal) -> None:
    X, y = signal
    booster = fit_final(X, y, fast_cfg(), {"max_depth": 3}, num_round=17)
    assert booster.num_boosted_rounds() == 17
    p = booster.inplace_predict(X)
    assert p.shape == (y.size,) and p.min() >= 0 and p.max() <= 1
    assert fit_final(X, y, fast_cfg()).num_boosted_rounds() == 60  # ceiling without a count


def test_xgb_params_overrides_and_errors() -> None:
    cfg = fast_cfg()
    p = xgb_params(cfg, {"max_depth": "5", "lambda": "2.5", "reg_alpha": 0.3})
    assert p["max_depth"] == 5 and type(p["max_depth"]) is int
    assert p["lambda"] == 2.5 and p["alpha"] == 0.3
    assert p["objective"] == "binary:logistic" and p["tree_method"] == "hist"
    assert p["seed"] == cfg.seed and p["nthread"] == 1 and p["eval_metric"] == "auc"
    assert xgb_params(fast_cfg(**{"tuning.objective": "log_loss"}))["eval_metric"] == "logloss"
    with pytest.raises(ConfigError, match="'depth' is not an XGBoost setting"):
        xgb_params(cfg, {"depth": 3})
    with pytest.raises(ConfigError, match="eta must be a number; got 'fast'"):
        xgb_params(cfg, {"eta": "fast"})


@pytest.mark.parametrize(("method", "kind"), [
    ("smote", SMOTE), ("random_over", RandomOverSampler), ("adasyn", ADASYN),
    ("borderline_smote", BorderlineSMOTE)])
def test_make_resampler_builds_imblearn_samplers(method: str, kind: type) -> None:
    r = ResamplingConfig(method=method, sampling_strategy=0.5, k_neighbors=4)
    sampler = resampling.make_resampler(r, seed=3)
    assert isinstance(sampler, kind)
    assert sampler.sampling_strategy == 0.5 and sampler.random_state == 3


def test_resampler_adapts_to_small_folds_and_says_when_it_cannot() -> None:
    r = ResamplingConfig(method="smote", k_neighbors=5)
    assert resampling.make_resampler(r, 0, n_minority=3).k_neighbors == 2
    with pytest.raises(DataError, match=r"needs at least 2 positive rows.*cv\.folds"):
        resampling.make_resampler(r, 0, n_minority=1)
    X = np.arange(20.0).reshape(10, 2)
    y = np.array([0] * 8 + [1] * 2)
    assert resampling.make_resampler(ResamplingConfig(method="none"), 0).fit_resample(X, y)[0] is X


def test_bad_inputs_are_named() -> None:
    X = np.zeros((10, 2))
    with pytest.raises(DataError, match="label must be encoded 0/1"):
        cross_validate(X, np.array([0, 1, 2] * 3 + [0]), fast_cfg())
    with pytest.raises(DataError, match=r"smaller class has 2.*fewer folds"):
        cross_validate(X, np.array([0] * 8 + [1] * 2), fast_cfg())
    with pytest.raises(DataError, match="10 rows but the label has 9"):
        cross_validate(X, np.zeros(9), fast_cfg())


def test_resample_respects_a_ratio_and_passes_balanced_rows_through() -> None:
    rng = np.random.default_rng(0)
    X = rng.normal(size=(200, 3))
    y = np.r_[np.zeros(180, int), np.ones(20, int)]
    Xr, yr = resampling.resample(X, y, ResamplingConfig(method="smote", sampling_strategy=0.5), seed=1)
    assert int(yr.sum()) == 90 and int((yr == 0).sum()) == 180  # minority raised to half
    assert np.array_equal(Xr[:200], X)  # originals first and unchanged, synthetic after
    same_X, same_y = resampling.resample(X, y, ResamplingConfig(method="smote", sampling_strategy=0.1), 1)
    assert same_X is X and same_y is y  # already more balanced than asked: nothing added


def test_a_resampler_failure_becomes_a_data_error(monkeypatch) -> None:
    class Failing:
        def fit_resample(self, X, y):
            raise RuntimeError("Not any neighbours belong to the majority class")

    monkeypatch.setattr(resampling, "make_resampler", lambda *a, **k: Failing())
    X, y = np.zeros((30, 2)), np.r_[np.zeros(20, int), np.ones(10, int)]
    with pytest.raises(DataError, match=r"could not resample .*Try resampling\.method"):
        resampling.resample(X, y, ResamplingConfig(method="adasyn"), seed=0)


# --------------------------------------------------------------------------------------------
# fold plans shared by training jobs in one process


@pytest.fixture()
def fresh_plans(monkeypatch):
    monkeypatch.setattr(cv, "_plans", cv.OrderedDict())
    return cv


def test_shared_plan_is_reused_for_equal_content_and_settings_only(signal, fresh_plans) -> None:
    X, y = signal
    cfg = fast_cfg()
    plan = cv.shared_plan(X, y, cfg)
    # equal content in other arrays, other hyperparameters: the same plan
    assert cv.shared_plan(X.copy(), list(y), fast_cfg(**{"xgboost.eta": 0.3})) is plan
    for change in ({"seed": 8}, {"cv.folds": 4}, {"cv.shuffle": False},
                   {"xgboost.validation_fraction": 0.2}, {"resampling.method": "random_over"},
                   {"resampling.k_neighbors": 3}, {"resampling.sampling_strategy": 0.5},
                   {"xgboost.nthread": 2}):
        assert cv.shared_plan(X, y, fast_cfg(**change)) is not plan, change
    X2 = X.copy()
    X2[0, 0] += 1e-9
    assert cv.shared_plan(X2, y, cfg) is not plan
    assert len(fresh_plans._plans) == 2  # bounded: only the last two are kept


def test_a_shared_plan_gives_bit_identical_cv_and_final_models(signal, fresh_plans) -> None:
    X, y = signal
    cfg = fast_cfg(**{"xgboost.subsample": 0.8})
    params = [{"eta": 0.3, "max_depth": 3}, {"eta": 0.1, "max_depth": 5}]
    shared = [(cross_validate(X, y, cfg, p, plan=cv.shared_plan(X, y, cfg)),
               fit_final(X, y, cfg, p, num_round=15, plan=cv.shared_plan(X, y, cfg)))
              for p in params]
    assert len(fresh_plans._plans) == 1
    for p, (res, booster) in zip(params, shared, strict=True):
        alone = cross_validate(X, y, cfg, p)
        assert res.to_dict() == alone.to_dict()
        assert booster.save_raw("json") == fit_final(X, y, cfg, p, num_round=15).save_raw("json")


def test_fold_scores_come_from_predictions_equal_to_the_rows_own(signal) -> None:
    """The folds' scored and fit rows are picked from one prediction over every row; each value
    equals predicting those rows alone (missing cells included), so the metrics are unchanged."""
    X, y = signal
    X = X.copy()
    X[::7, 2] = np.nan
    cfg = fast_cfg(**{"resampling.method": "random_over"})
    plan = FoldPlan(X, y, cfg)
    for i in range(len(plan)):
        f = plan.fold(i)
        booster = xgb.train(xgb_params(cfg), f.dtrain, num_boost_round=25)
        picked = cv._fold_predictions(plan, i, booster, 20, f.score_idx, f.fit_idx)
        alone = [cv._predict(booster, np.ascontiguousarray(X[idx]), 20) for idx in (f.score_idx, f.fit_idx)]
        assert all(np.array_equal(a, b) for a, b in zip(picked, alone, strict=True))
        assert [p.size for p in picked] == [f.score_idx.size, f.fit_idx.size]


@pytest.mark.parametrize("strategy", [1.0, 0.5])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_smote_in_two_halves_gives_smotes_rows_bit_for_bit(monkeypatch, strategy, dtype) -> None:
    """trainguard's SMOTE computes big draws' synthetic rows on two threads: the very rows and
    labels of imbalanced-learn's SMOTE at the same seed (float32 input takes SMOTE's own code)."""
    halves: list[int] = []
    monkeypatch.setattr(resampling, "helper_threads",  # every draw takes the two-thread path
                        lambda size, threshold: halves.append(size) or 2)
    X, y = make_classification(n_samples=3000, n_features=7, weights=[0.9], random_state=5)
    X = X.astype(dtype)
    X[:40, 3] = X[40:80, 3]  # repeated values: tied neighbour distances
    ours = resampling.make_resampler(ResamplingConfig(method="smote", sampling_strategy=strategy), 11)
    assert isinstance(ours, SMOTE) and type(ours) is not SMOTE
    got = ours.fit_resample(X, y)
    want = SMOTE(sampling_strategy=strategy, random_state=11).fit_resample(X, y)
    assert got[0].dtype == want[0].dtype and np.array_equal(got[0], want[0])
    assert np.array_equal(got[1], want[1]) and got[0].shape[0] > X.shape[0]
    assert halves == ([] if dtype is np.float32 else [(got[0].shape[0] - X.shape[0]) * 7])
