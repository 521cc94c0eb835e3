"""The training core end to end in one process: checks, holdout, search, final fit, evaluation.

What the pipeline's jobs do across containers, done here in order for tests, benchmarks and
notebooks: check_trainable → holdout_split → search (or one CV with fixed hyperparameters) →
fit_final with the best → holdout predictions → the approval rule → evaluation.json. The holdout
is read only after the final model exists.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import xgboost as xgb
from trainguard.training.approval import Decision, Thresholds, decide
from trainguard.training.config import Config
from trainguard.training.cv import INT_PARAMS, CVResult, FoldPlan, cross_validate, fit_final, xgb_params
from trainguard.training.data import Dataset
from trainguard.training.encoding import FeatureEncoding
from trainguard.training.evaluation import build_evaluation
from trainguard.training.leakage import annotate, screen_features
from trainguard.training.metrics import binary_metrics
from trainguard.training.search import OnEvent, SearchResult, search
from trainguard.training.trainable import check_trainable, holdout_split

__all__ = ["CoreResult", "run_core", "tuned_hyperparameters"]


@dataclass
class CoreResult:
    """Everything one core run produced: the search, the chosen CV, the model and its report."""

    search: SearchResult | None
    """All trials; None when tuning is disabled."""
    cv: CVResult
    """The cross-validation of the chosen hyperparameters."""
    params: dict[str, Any]
    """The chosen hyperparameter overrides (flat names)."""
    num_round: int
    booster: xgb.Booster
    decision: Decision
    evaluation: dict[str, Any]
    """The evaluation.json content."""

    @property
    def approved(self) -> bool:
        """Whether the approval rule accepted the model."""
        return bool(self.decision.approved)


def run_core(dataset: Dataset, cfg: Config, champion_value: float | Mapping[str, Any] | None = None,
             on_event: OnEvent | None = None) -> CoreResult:
    """Train, tune, evaluate and judge a model on ``dataset`` as the pipeline would.

    ``champion_value`` is the current champion's ``approval.champion_metric`` value (or a
    ``{"version", "value"}`` mapping); None means no champion. ``on_event(kind, info)`` receives
    progress: split, screened, trial_started, fold_done, trial_finished, final_fit, evaluated. Raises
    DataError when the data cannot be trained on as configured.
    """
    emit = on_event or (lambda kind, info: None)
    rows = check_trainable(dataset, cfg)
    train, test = holdout_split(dataset, cfg.data.test_size, cfg.seed, cfg.data.split, rows=rows)
    emit("split", {"n_train": train.n_rows, "n_test": test.n_rows,
                   "positive_rate": train.positive_rate})
    cats = train.categorical_index
    leakage = screen_features(train.X, train.y, train.feature_names, cats, seed=cfg.seed)
    emit("screened", leakage)
    plan = FoldPlan(train.X, train.y, cfg, cats, train.feature_names)
    result: SearchResult | None = None
    if cfg.tuning.enabled:
        result = search(train.X, train.y, cfg, on_event=emit, plan=plan)
        params, cv = dict(result.best.params), result.best.cv
    else:
        params, cv = {}, _fixed_cv(train, cfg, plan, emit)
    num_round = cv.best_num_round
    emit("final_fit", {"params": dict(params), "num_round": num_round, "n_rows": train.n_rows})
    booster = fit_final(train.X, train.y, cfg, params, num_round=num_round, categorical=cats,
                        feature_names=train.feature_names)
    # Only now, with the final model fixed, is the holdout looked at.
    encoding = FeatureEncoding.from_booster(booster)
    X_test = test.X if encoding is None else encoding.transform(test.X, test.categorical_index)
    proba = np.asarray(booster.inplace_predict(X_test), dtype=np.float64)
    metrics = {**binary_metrics(test.y, proba), "train_cv_gap": cv.train_cv_gap}
    decision = decide(metrics, Thresholds.from_config(cfg), _champion(champion_value), leakage=leakage)
    model_info = {"hyperparameters": tuned_hyperparameters(cfg, params),
                  "best_iteration": num_round, "n_train": train.n_rows, "n_test": test.n_rows,
                  "features": list(dataset.feature_names)}
    if encoding is not None:
        model_info["encoding"] = encoding.to_dict()
    evaluation = build_evaluation(test.y, proba, cv, decision, model_info, seed=cfg.seed,
                                  leakage=annotate(leakage, cfg.approval.max_feature_auc,
                                                   cfg.approval.on_leakage))
    emit("evaluated", {"approved": decision.approved, "auc": metrics["auc"],
                       "reasons": list(decision.reasons)})
    return CoreResult(result, cv, params, num_round, booster, decision, evaluation)


def tuned_hyperparameters(cfg: Config, params: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The effective XGBoost hyperparameters (flat names) after applying ``params`` to ``cfg``."""
    xp = xgb_params(cfg, params)
    names = ("eta", "max_depth", "min_child_weight", "alpha", "lambda", "gamma", "subsample",
             "colsample_bytree")
    return {n: int(xp[n]) if n in INT_PARAMS else float(xp[n]) for n in names}


# --------------------------------------------------------------------------------------------
# internals


def _fixed_cv(train: Dataset, cfg: Config, plan: FoldPlan, emit: OnEvent) -> CVResult:
    metric = cfg.tuning.objective
    emit("trial_started", {"trial": 0, "params": {}})

    def on_fold(i: int, metrics: dict[str, float], partial: CVResult) -> bool:
        emit("fold_done", {"trial": 0, "fold": i, "metrics": dict(metrics),
                           "running": partial.mean(metric), "stop": False})
        return False

    cv = cross_validate(train.X, train.y, cfg, on_fold=on_fold, plan=plan)
    emit("trial_finished", {"trial": 0, "params": {}, "score": cv.mean(metric),
                            "stopped_early": False, "folds_run": cv.folds_run})
    return cv


def _champion(value: float | Mapping[str, Any] | None) -> Mapping[str, Any] | None:
    if value is None:
        return None
    if isinstance(value, Mapping):
        return value
    return {"version": None, "value": float(value)}
