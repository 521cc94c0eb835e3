"""Leakage-free stratified k-fold CV of XGBoost with over-sampling inside each fold's fit part only.

Per fold: the scored fold is set aside at its natural class ratio; an inner early-stopping set is
carved out of the fit part before any resampling; the resampler is fitted on the remaining fit
rows alone; XGBoost stops early on the carve-out. Scoring the resampled rows, or resampling before
the split, is the leak this module exists to prevent. The per-fold work that does not depend on
hyperparameters (splits, resampling, DMatrix construction) is prepared once in a ``FoldPlan`` and
reused by every trial of a search.
"""

from __future__ import annotations

import os
import threading
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import xgboost as xgb
from sklearn.model_selection import StratifiedKFold
from trainguard.training.config import Config
from trainguard.training.digest import buffer_digest
from trainguard.training.encoding import FeatureEncoding
from trainguard.training.errors import ConfigError, DataError
from trainguard.training.metrics import METRIC_NAMES, binary_metrics
from trainguard.training.resampling import resample
from trainguard.training.splits import stratified_split
from trainguard.training.timing import phase

__all__ = [
    "CVResult",
    "FoldPlan",
    "OnFold",
    "PreparedFold",
    "cross_validate",
    "fit_final",
    "shared_plan",
    "xgb_params",
]

OnFold = Callable[[int, dict[str, float], "CVResult"], bool]
"""``on_fold(fold_index, fold_metrics, partial_result)``; returning True stops the CV early."""

INT_PARAMS = frozenset({"max_depth"})
FLOAT_PARAMS = frozenset({"eta", "min_child_weight", "alpha", "lambda", "gamma", "subsample",
                          "colsample_bytree"})
_EVAL_METRIC = {"auc": "auc", "pr_auc": "aucpr"}


def xgb_params(cfg: Config, overrides: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Parameters for ``xgboost.train``: binary:logistic, hist, the regularized config values.

    ``overrides`` uses the flat hyperparameter names (eta, max_depth, lambda, alpha, ...), as the
    search and the tuner's hyperparameters do; values may be strings. The early-stopping metric
    follows the tuning objective (auc, aucpr, else logloss).
    """
    x = cfg.xgboost
    params: dict[str, Any] = {
        "objective": "binary:logistic",
        "tree_method": "hist",
        "eval_metric": _EVAL_METRIC.get(cfg.tuning.objective, "logloss"),
        "eta": x.eta,
        "max_depth": x.max_depth,
        "min_child_weight": x.min_child_weight,
        "alpha": x.alpha,
        "lambda": x.reg_lambda,
        "gamma": x.gamma,
        "subsample": x.subsample,
        "colsample_bytree": x.colsample_bytree,
        "seed": cfg.seed,
        "nthread": x.nthread or os.cpu_count() or 1,
    }
    for name, value in (overrides or {}).items():
        key = "lambda" if name == "reg_lambda" else "alpha" if name == "reg_alpha" else name
        if key not in INT_PARAMS | FLOAT_PARAMS:
            raise ConfigError(
                f"hyperparameter {name!r} is not an XGBoost setting trainguard tunes; use one of "
                f"{', '.join(sorted(INT_PARAMS | FLOAT_PARAMS))}."
            )
        try:
            params[key] = int(float(value)) if key in INT_PARAMS else float(value)
        except (TypeError, ValueError):
            raise ConfigError(f"hyperparameter {name} must be a number; got {value!r}.") from None
    return params


@dataclass
class CVResult:
    """Per-fold scores on held-out folds and on each fold's own fit rows, and early-stop rounds."""

    folds: int
    per_fold: list[dict[str, float]] = field(default_factory=list)
    train_per_fold: list[dict[str, float]] = field(default_factory=list)
    best_iterations: list[int] = field(default_factory=list)
    stopped_early: bool = False

    @property
    def folds_run(self) -> int:
        """How many folds were scored (fewer than ``folds`` when stopped early)."""
        return len(self.per_fold)

    def mean(self, metric: str) -> float:
        """Mean of a held-out metric over the folds run."""
        return float(np.mean([m[metric] for m in self.per_fold])) if self.per_fold else float("nan")

    def std(self, metric: str) -> float:
        """Population standard deviation of a held-out metric over the folds run."""
        return float(np.std([m[metric] for m in self.per_fold])) if self.per_fold else float("nan")

    def train_mean(self, metric: str) -> float:
        """Mean of a metric on the folds' own original (non-resampled) fit rows."""
        vals = [m[metric] for m in self.train_per_fold]
        return float(np.mean(vals)) if vals else float("nan")

    @property
    def train_cv_gap(self) -> float:
        """Mean train AUC minus mean CV AUC: the overfitting signal the approval caps."""
        return self.train_mean("auc") - self.mean("auc")

    @property
    def best_num_round(self) -> int:
        """Rounds for the final fit: the mean of the folds' early-stopped round counts."""
        return max(1, round(float(np.mean(self.best_iterations)))) if self.best_iterations else 1

    def to_dict(self) -> dict[str, Any]:
        """The evaluation.json ``cross_validation`` block (read back by ``from_dict``)."""
        out: dict[str, Any] = {"folds": self.folds, "folds_run": self.folds_run,
                               "stopped_early": self.stopped_early}
        for name in METRIC_NAMES:
            out[name] = _summary([m[name] for m in self.per_fold])
        out["train_auc"] = _summary([m["auc"] for m in self.train_per_fold])
        out["train_cv_gap"] = self.train_cv_gap
        out["best_iterations"] = list(self.best_iterations)
        out["train"] = {name: _summary([m[name] for m in self.train_per_fold])
                        for name in METRIC_NAMES}
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> CVResult:
        """Rebuild a result from ``to_dict`` output (e.g. the train job's cv.json)."""
        try:
            n = int(data.get("folds_run", len(data["auc"]["per_fold"])))
            per_fold = [{m: float(data[m]["per_fold"][i]) for m in METRIC_NAMES if m in data}
                        for i in range(n)]
            train_src = data.get("train") or {"auc": data["train_auc"]}
            train = [{m: float(v["per_fold"][i]) for m, v in train_src.items()} for i in range(n)]
            return cls(folds=int(data["folds"]), per_fold=per_fold, train_per_fold=train,
                       best_iterations=[int(b) for b in data.get("best_iterations", [])],
                       stopped_early=bool(data.get("stopped_early", False)))
        except (KeyError, IndexError, TypeError, ValueError) as exc:
            raise DataError(
                f"cross-validation result is incomplete or malformed ({exc!r}); expected the layout "
                "written by CVResult.to_dict()."
            ) from None


@dataclass
class PreparedFold:
    """One fold's rows and its hyperparameter-independent training data, built once."""

    index: int
    fit_idx: np.ndarray
    """Rows the resampler and the booster are fitted on (fit part minus the carve-out)."""
    stop_idx: np.ndarray
    """Inner early-stopping carve-out, taken from the fit part before resampling."""
    score_idx: np.ndarray
    """The held-out fold, scored at its natural class ratio."""
    n_synthetic: int
    dtrain: xgb.DMatrix
    dstop: xgb.DMatrix


class FoldPlan:
    """The stratified splits of (X, y) and, lazily, each fold's resampled training DMatrix.

    Splits, carve-outs and resampling depend only on the data, ``cv``, ``resampling``,
    ``xgboost.validation_fraction`` and the seed, so one plan serves every trial of a search.
    ``categorical`` maps the index of each categorical column of X (vocabulary indices, NaN =
    missing) to its vocabulary; each fold then learns its categories on its fit rows alone
    (``FeatureEncoding``), as the resampler does.
    """

    def __init__(self, X: Any, y: Any, cfg: Config,
                 categorical: Mapping[int, Sequence[str]] | None = None,
                 feature_names: Sequence[str] | None = None) -> None:
        self.X, self.y = _check_xy(X, y, cfg.cv.folds)
        self.cfg = cfg
        self.categorical = dict(categorical or {})
        self.feature_names = list(feature_names or [f"f{j}" for j in range(self.X.shape[1])])
        self._encodings: dict[int, FeatureEncoding] = {}
        self.final_encoding: FeatureEncoding | None = None
        seed = cfg.seed
        splitter = StratifiedKFold(cfg.cv.folds, shuffle=cfg.cv.shuffle,
                                   random_state=seed if cfg.cv.shuffle else None)
        self.splits = list(splitter.split(np.zeros(self.y.size), self.y))
        self._prepared: dict[int, PreparedFold] = {}
        self._final: xgb.DMatrix | None = None

    def __len__(self) -> int:
        return len(self.splits)

    def fold(self, i: int) -> PreparedFold:
        """Fold ``i``, carved, resampled and wrapped in DMatrix objects on first use."""
        if i not in self._prepared:
            self._prepared[i] = self._prepare(i)
        return self._prepared[i]

    def _prepare(self, i: int) -> PreparedFold:
        cfg, X, y = self.cfg, self.X, self.y
        fit_part, score_idx = self.splits[i]
        fit_idx, stop_idx = stratified_split(fit_part, y[fit_part], cfg.xgboost.validation_fraction,
                                             cfg.seed + i)
        fit_idx, stop_idx = np.sort(fit_idx), np.sort(stop_idx)
        nthread = _nthread(cfg)
        if not self.categorical:
            with phase("resample"):
                Xr, yr = resample(X[fit_idx], y[fit_idx], cfg.resampling, cfg.seed)
            with phase("matrix"):
                dtrain = xgb.QuantileDMatrix(Xr, label=yr, nthread=nthread)
                del Xr  # the quantized matrix is all training needs
                dstop = xgb.QuantileDMatrix(X[stop_idx], label=y[stop_idx], ref=dtrain, nthread=nthread)
        else:  # categories learned on this fold's fit rows only, then the sampler, then XGBoost
            with phase("resample"):
                enc = self._encodings[i] = FeatureEncoding.fit(
                    X, fit_idx, self.feature_names, self.categorical, cfg.data.min_category_count)
                Xr, yr = resample(enc.transform(X, self.categorical, fit_idx), y[fit_idx], cfg.resampling,
                                  cfg.seed, enc.categorical)
            with phase("matrix"):
                dtrain = xgb.QuantileDMatrix(Xr, label=yr, nthread=nthread, feature_types=enc.feature_types,
                                             enable_categorical=True)
                del Xr
                dstop = xgb.QuantileDMatrix(enc.transform(X, self.categorical, stop_idx), label=y[stop_idx],
                                            ref=dtrain, nthread=nthread, feature_types=enc.feature_types,
                                            enable_categorical=True)
        return PreparedFold(i, fit_idx, stop_idx, score_idx, int(yr.size - fit_idx.size),
                            dtrain, dstop)

    def rows(self, i: int, idx: np.ndarray) -> np.ndarray:
        """Rows ``idx`` of X as fold ``i``'s model sees them (its own category codes)."""
        if not self.categorical:
            return self.X[idx]
        self.fold(i)
        return self._encodings[i].transform(self.X, self.categorical, idx)

    def final_matrix(self) -> xgb.DMatrix:
        """All of (X, y) resampled and wrapped for ``fit_final``, built on first use.

        Like the folds it depends only on the data, ``resampling``, the seed and the thread
        count, so every final fit on this plan's data shares it.
        """
        if self._final is None:
            self._final, self.final_encoding = _final_matrix(self.X, self.y, self.cfg, self.categorical,
                                                             self.feature_names)
        return self._final


_PLAN_MEMO_SIZE = 2
_plans: OrderedDict[tuple[Any, ...], FoldPlan] = OrderedDict()
_plans_lock = threading.Lock()


def shared_plan(X: Any, y: Any, cfg: Config, categorical: Mapping[int, Sequence[str]] | None = None,
                feature_names: Sequence[str] | None = None) -> FoldPlan:
    """A FoldPlan of (X, y, cfg), the same object as an earlier call's in this process if it matches.

    Training jobs run in one process by the local runner (one per tuning trial) see the same
    training split and fold settings; without this each rebuilt identical folds. The key is a
    content hash of X and y plus every setting a plan depends on (folds, shuffle, seed,
    ``validation_fraction``, the resampling method, strategy and k, thread count), so a plan is
    reused only where a fresh one would be bit-identical. Only the last two plans are kept. A
    SageMaker job (one per process) builds its plan once, exactly as before.
    """
    X_arr, y_arr = _check_xy(X, y, cfg.cv.folds)
    key = (_digest(X_arr), _digest(y_arr), cfg.seed, cfg.cv.folds, cfg.cv.shuffle,
           cfg.xgboost.validation_fraction, cfg.resampling.method,
           repr(cfg.resampling.sampling_strategy), cfg.resampling.k_neighbors, _nthread(cfg),
           repr(sorted((categorical or {}).items())), cfg.data.min_category_count,
           tuple(feature_names or ()))
    with _plans_lock:
        plan = _plans.get(key)
        if plan is not None:
            _plans.move_to_end(key)
            return plan
    plan = FoldPlan(X_arr, y_arr, cfg, categorical, feature_names)
    with _plans_lock:
        _plans[key] = plan
        while len(_plans) > _PLAN_MEMO_SIZE:
            _plans.popitem(last=False)
    return plan


def cross_validate(X: Any, y: Any, cfg: Config, params: Mapping[str, Any] | None = None,
                   on_fold: OnFold | None = None, *, plan: FoldPlan | None = None) -> CVResult:
    """Stratified k-fold CV with in-fold resampling and early stopping on an inner carve-out.

    ``params`` are hyperparameter overrides (flat names). ``on_fold`` is called after each fold
    with its held-out metrics and the partial result; returning True stops (trial early
    stopping) and marks the result ``stopped_early``. Pass a ``plan`` to reuse prepared folds.
    """
    plan = plan if plan is not None else FoldPlan(X, y, cfg)
    xp = xgb_params(cfg, params)
    result = CVResult(folds=len(plan))
    for i in range(len(plan)):
        f = plan.fold(i)
        with phase("train"):
            booster = xgb.train(xp, f.dtrain, num_boost_round=cfg.xgboost.num_round,
                                evals=[(f.dstop, "stop")],
                                early_stopping_rounds=cfg.xgboost.early_stopping_rounds,
                                verbose_eval=False)
        rounds = booster.best_iteration + 1
        with phase("score"):
            scored, fitted = _fold_predictions(plan, i, booster, rounds, f.score_idx, f.fit_idx)
            fold_metrics = binary_metrics(plan.y[f.score_idx], scored)
            result.per_fold.append(fold_metrics)
            result.train_per_fold.append(binary_metrics(plan.y[f.fit_idx], fitted))
        result.best_iterations.append(rounds)
        if on_fold is not None and on_fold(i, fold_metrics, result) and i + 1 < len(plan):
            result.stopped_early = True
            break
    return result


def fit_final(X: Any, y: Any, cfg: Config, params: Mapping[str, Any] | None = None,
              num_round: int | None = None, *, plan: FoldPlan | None = None,
              categorical: Mapping[int, Sequence[str]] | None = None,
              feature_names: Sequence[str] | None = None) -> xgb.Booster:
    """Resample the whole training split and train ``num_round`` rounds with no early stopping.

    ``num_round`` should be the CV's ``best_num_round``; without it ``xgboost.num_round`` is used.
    Pass the ``plan`` of the same (X, y) to reuse its resampled matrix (``FoldPlan.final_matrix``).
    With categorical columns (the plan's, or ``categorical``) the categories are learned on the
    whole split and stored in the booster (``FeatureEncoding.from_booster``).
    """
    xp = xgb_params(cfg, params)
    if plan is not None:
        d, enc = plan.final_matrix(), plan.final_encoding
    else:
        X_arr, y_arr = _check_xy(X, y, 1)
        d, enc = _final_matrix(X_arr, y_arr, cfg, dict(categorical or {}), feature_names)
    rounds = int(num_round) if num_round else cfg.xgboost.num_round
    with phase("train"):
        booster = xgb.train(xp, d, num_boost_round=rounds, verbose_eval=False)
    booster.set_attr(num_round=str(rounds))
    if enc is not None:
        enc.attach(booster)
    return booster


def _final_matrix(X: np.ndarray, y: np.ndarray, cfg: Config, categorical: Mapping[int, Sequence[str]],
                  feature_names: Sequence[str] | None) -> tuple[xgb.DMatrix, FeatureEncoding | None]:
    """The whole split resampled as a training matrix, and its encoding when it has categories."""
    nthread = _nthread(cfg)
    if not categorical:
        with phase("resample"):
            Xr, yr = resample(X, y, cfg.resampling, cfg.seed)
        with phase("matrix"):
            return xgb.QuantileDMatrix(Xr, label=yr, nthread=nthread), None
    names = list(feature_names or [f"f{j}" for j in range(X.shape[1])])
    with phase("resample"):
        enc = FeatureEncoding.fit(X, None, names, categorical, cfg.data.min_category_count)
        Xr, yr = resample(enc.transform(X, categorical), y, cfg.resampling, cfg.seed, enc.categorical)
    with phase("matrix"):
        return xgb.QuantileDMatrix(Xr, label=yr, nthread=nthread, feature_types=enc.feature_types,
                                   enable_categorical=True), enc


# --------------------------------------------------------------------------------------------
# internals


def _nthread(cfg: Config) -> int:
    return cfg.xgboost.nthread or os.cpu_count() or 1


def _digest(a: np.ndarray) -> tuple[Any, ...]:
    """Content key of an array: dtype, shape and the digest of its bytes (``training.digest``)."""
    data = np.ascontiguousarray(a)
    return (data.dtype.str, data.shape, buffer_digest(memoryview(data)))


def _predict(booster: xgb.Booster, X: np.ndarray, rounds: int) -> np.ndarray:
    return np.asarray(booster.inplace_predict(X, iteration_range=(0, rounds)))


def _fold_predictions(plan: FoldPlan, i: int, booster: xgb.Booster, rounds: int,
                      *row_sets: np.ndarray) -> list[np.ndarray]:
    """Fold ``i``'s model's predictions on each set of rows of the plan's X.

    Numeric features: one prediction over every row, then picked per set. A row's prediction
    does not depend on the rows beside it, so the values are those of predicting each set, and
    the sets' copies of X (0.46 s a fold at 800,000 x 30) are not made; the carve-out's rows,
    a few percent more to predict, are the price. Categorical features: each set in the fold's
    own category codes."""
    if plan.categorical:
        return [_predict(booster, plan.rows(i, idx), rounds) for idx in row_sets]
    every = _predict(booster, plan.X, rounds)
    return [every[idx] for idx in row_sets]


def _summary(values: Sequence[float]) -> dict[str, Any]:
    vals = [float(v) for v in values]
    return {"mean": float(np.mean(vals)) if vals else float("nan"),
            "std": float(np.std(vals)) if vals else float("nan"),
            "per_fold": vals}


def _check_xy(X: Any, y: Any, folds: int) -> tuple[np.ndarray, np.ndarray]:
    X_arr = np.asarray(X, dtype=float)
    y_arr = np.asarray(y).reshape(-1)
    if X_arr.ndim != 2:
        raise DataError(f"features must be a 2-D table (rows by columns); got shape {X_arr.shape}.")
    if X_arr.shape[0] != y_arr.size:
        raise DataError(f"features have {X_arr.shape[0]} rows but the label has {y_arr.size}; "
                        "they must come from the same table.")
    labels = set(np.unique(y_arr).tolist())
    if not labels <= {0, 1}:
        raise DataError(f"the label must be encoded 0/1 for training; found values "
                        f"{sorted(labels, key=str)[:5]}.")
    y_arr = y_arr.astype(np.int64)
    n_pos = int(y_arr.sum())
    smallest = min(n_pos, y_arr.size - n_pos)
    if smallest < folds:
        raise DataError(
            f"stratified {folds}-fold CV needs at least {folds} rows of each class; the smaller "
            f"class has {smallest}. Use fewer folds (cv.folds) or more data."
        )
    return X_arr, y_arr
