"""Local hyperparameter search over the same space, budget and stopping rule the SageMaker tuner gets.

Three separable pieces, because the local runner emulates a tuning job from the definition JSON
with them: ``Searcher`` proposes hyperparameters (random, or Bayesian: a Gaussian-process
surrogate with expected improvement on the unit cube), ``MedianStopper`` is the tuner's "Auto"
trial early stopping (stop a trial whose running CV mean falls below the median of earlier trials
at the same fold), ``run_trials`` is the one trial loop composing them, and ``search`` runs that
loop with leakage-free ``cross_validate``.
"""

from __future__ import annotations

import math
import re
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

import numpy as np
from scipy.stats import norm
from sklearn.exceptions import ConvergenceWarning
from sklearn.gaussian_process import GaussianProcessRegressor
from sklearn.gaussian_process.kernels import ConstantKernel, Matern, WhiteKernel
from threadpoolctl import threadpool_limits
from trainguard.training.config import Config, ParamRange
from trainguard.training.cv import CVResult, FoldPlan, cross_validate
from trainguard.training.errors import ConfigError, TrainguardError
from trainguard.training.metrics import LOWER_IS_BETTER

__all__ = [
    "MedianStopper",
    "OnEvent",
    "SearchResult",
    "Searcher",
    "StopCheck",
    "Trial",
    "parse_value",
    "run_trials",
    "search",
]

OnEvent = Callable[[str, dict[str, Any]], None]
"""Progress callback: ``on_event(kind, info)`` with kind trial_started, fold_done, trial_finished."""

_INT_RE = re.compile(r"^[+-]?\d+$")


def parse_value(text: Any) -> Any:
    """A categorical value as its natural type: "3" → 3, "0.05" → 0.05, "gbtree" stays a string."""
    if not isinstance(text, str):
        return text
    s = text.strip()
    if _INT_RE.match(s):
        return int(s)
    try:
        return float(s)
    except ValueError:
        return text


class _Dim:
    """One hyperparameter mapped to and from [0, 1]."""

    def __init__(self, name: str, r: ParamRange) -> None:
        self.name, self.type = name, r.type
        if r.type == "categorical":
            if not r.values:
                raise ConfigError(f"tuning.ranges.{name}.values must list the categories.")
            self.values = [parse_value(v) for v in r.values]
            return
        if r.min is None or r.max is None or r.min >= r.max:
            raise ConfigError(f"tuning.ranges.{name} needs min below max; got {r.min} and {r.max}.")
        self.lo, self.hi = float(r.min), float(r.max)
        # "Auto" scales logarithmically when the range is positive and spans a decade or more.
        self.log = r.scaling == "Logarithmic" or (
            r.scaling == "Auto" and self.lo > 0 and self.hi / self.lo >= 10)
        if self.log and self.lo <= 0:
            raise ConfigError(f"tuning.ranges.{name}.min must be positive for Logarithmic scaling.")

    @property
    def size(self) -> float:
        """Number of distinct values (infinite for continuous ranges)."""
        if self.type == "categorical":
            return len(self.values)
        if self.type == "integer":
            return self.hi - self.lo + 1
        return math.inf

    def normalize(self, value: Any) -> Any:
        """The value in its canonical type (as ``decode`` makes it); strings are parsed."""
        if self.type == "categorical":
            return parse_value(value)
        return int(float(value)) if self.type == "integer" else float(value)

    def decode(self, u: float) -> Any:
        u = min(max(float(u), 0.0), 1.0)
        if self.type == "categorical":
            return self.values[min(int(u * len(self.values)), len(self.values) - 1)]
        if self.type == "integer":
            lo, hi = self.lo, self.hi + 1  # each integer owns an equal slice of [lo, hi + 1)
            v = (math.exp(math.log(lo) + u * (math.log(hi) - math.log(lo))) if self.log
                 else lo + u * (hi - lo))
            return int(min(max(math.floor(v), self.lo), self.hi))
        if self.log:
            v = math.exp(math.log(self.lo) + u * (math.log(self.hi) - math.log(self.lo)))
        else:
            v = self.lo + u * (self.hi - self.lo)
        return float(min(max(v, self.lo), self.hi))

    def encode(self, value: Any) -> float:
        if self.type == "categorical":
            v = parse_value(value)
            idx = self.values.index(v) if v in self.values else 0
            return (idx + 0.5) / len(self.values)
        v = float(value)
        if self.type == "integer":
            lo, hi, v = self.lo, self.hi + 1, v + 0.5
        else:
            lo, hi = self.lo, self.hi
        u = ((math.log(max(v, lo)) - math.log(lo)) / (math.log(hi) - math.log(lo)) if self.log
             else (v - lo) / (hi - lo))
        return min(max(u, 0.0), 1.0)


class Searcher:
    """Proposes hyperparameters within ``ranges`` for at most ``max_jobs`` trials, seeded.

    ``strategy='random'`` samples the unit cube uniformly; ``'bayesian'`` starts with a few
    random points, then maximizes expected improvement of a Gaussian-process surrogate over
    random candidates. Suggestions not yet observed count as their worst observed score, so
    several can be asked for before results come back (parallel trials) without repeating.
    """

    def __init__(self, ranges: Mapping[str, ParamRange], strategy: str = "bayesian",
                 max_jobs: int = 8, seed: int = 0, maximize: bool = True,
                 n_initial: int | None = None, n_candidates: int = 1024) -> None:
        if strategy not in ("random", "bayesian"):
            raise ConfigError(f"tuning.strategy must be 'random' or 'bayesian'; got {strategy!r}.")
        if max_jobs < 1:
            raise ConfigError(f"tuning.max_jobs must be at least 1; got {max_jobs}.")
        self.dims = [_Dim(name, r) for name, r in ranges.items()]
        self.strategy, self.max_jobs, self.maximize = strategy, max_jobs, maximize
        self.n_initial = n_initial if n_initial is not None else min(max_jobs, max(3, max_jobs // 3))
        self.n_candidates = n_candidates
        self.seed = seed
        self._rng = np.random.default_rng(seed)
        self._suggested: list[dict[str, Any]] = []
        self._pending: dict[tuple, np.ndarray] = {}
        self._U: list[np.ndarray] = []
        self._scores: list[float] = []

    @property
    def space_size(self) -> float:
        """How many distinct hyperparameter sets exist (infinite with a continuous range)."""
        return math.prod(d.size for d in self.dims) if self.dims else 1

    @property
    def pending(self) -> int:
        """Suggestions handed out whose results have not been observed yet."""
        return len(self._pending)

    @property
    def exhausted(self) -> bool:
        """True when the budget is spent or every distinct set has been suggested."""
        return len(self._suggested) >= min(self.max_jobs, self.space_size)

    def suggest(self) -> dict[str, Any]:
        """The next hyperparameters to try; raises TrainguardError once ``exhausted``."""
        if self.exhausted:
            raise TrainguardError(
                f"the search budget is used up: {len(self._suggested)} of tuning.max_jobs="
                f"{self.max_jobs} trials suggested over a space of {self.space_size} sets."
            )
        seen = {self._key(p) for p in self._suggested}
        u = self._propose()
        params = self._decode(u)
        for _ in range(200):  # avoid repeating a set while unseen ones remain
            if self._key(params) not in seen:
                break
            u = self._rng.random(len(self.dims))
            params = self._decode(u)
        self._suggested.append(params)
        self._pending[self._key(params)] = self._encode(params)
        return params

    def observe(self, params: Mapping[str, Any], score: float) -> None:
        """Record a trial's objective value (NaN counts as the worst seen so far)."""
        self._pending.pop(self._key(params), None)
        s = float(score)
        if not self.maximize:
            s = -s
        self._U.append(self._encode(params))
        self._scores.append(s)

    # ----------------------------------------------------------------------------------------

    def _key(self, params: Mapping[str, Any]) -> tuple:
        return tuple(d.normalize(params[d.name]) for d in self.dims)

    def _decode(self, u: np.ndarray) -> dict[str, Any]:
        return {d.name: d.decode(x) for d, x in zip(self.dims, u, strict=True)}

    def _encode(self, params: Mapping[str, Any]) -> np.ndarray:
        return np.array([d.encode(params[d.name]) for d in self.dims], dtype=float)

    def _propose(self) -> np.ndarray:
        d = len(self.dims)
        observed = [s for s in self._scores if np.isfinite(s)]
        if (self.strategy == "random" or d == 0 or len(observed) < self.n_initial
                or len(self._suggested) < self.n_initial):
            return self._rng.random(d)
        worst = min(observed)
        U = np.array(self._U + list(self._pending.values()))
        y = np.array([s if np.isfinite(s) else worst for s in self._scores]
                     + [worst] * len(self._pending))
        kernel = (ConstantKernel(1.0, (1e-2, 1e2))
                  * Matern(length_scale=np.full(d, 0.3), length_scale_bounds=(1e-2, 10.0), nu=2.5)
                  + WhiteKernel(1e-3, (1e-8, 1e-1)))
        gp = GaussianProcessRegressor(kernel, normalize_y=True, n_restarts_optimizer=1,
                                      random_state=self.seed + len(self._suggested))
        best = U[int(np.argmax(y))]
        local = np.clip(best + self._rng.normal(0, 0.05, size=(self.n_candidates // 4, d)), 0, 1)
        cand = np.vstack([self._rng.random((self.n_candidates, d)), local])
        # Tiny matrices: one BLAS thread is ~10x faster than many contending for shared cores.
        with threadpool_limits(1), warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            gp.fit(U, y)
            mu, sigma = gp.predict(cand, return_std=True)
        imp = mu - y.max() - 0.01 * max(float(np.std(y)), 1e-9)
        with np.errstate(divide="ignore", invalid="ignore"):
            z = np.where(sigma > 0, imp / sigma, 0.0)
        ei = np.where(sigma > 0, imp * norm.cdf(z) + sigma * norm.pdf(z), 0.0)
        return cand[int(np.argmax(ei))]


class MedianStopper:
    """The tuner's "Auto" early stopping: stop a trial whose running score trails the median.

    After fold ``i`` a trial stops when its running CV mean is worse than the median of the
    running means earlier trials (in order of first record) had at the same fold. With no
    earlier trial (the first) nothing stops; ``min_trials`` raises that bar.
    """

    def __init__(self, maximize: bool = True, min_trials: int = 1) -> None:
        self.maximize, self.min_trials = maximize, min_trials
        self._history: dict[Any, dict[int, float]] = {}

    def record(self, trial: Any, fold_index: int, running_score: float) -> None:
        """Remember ``trial``'s running score after fold ``fold_index``."""
        self._history.setdefault(trial, {})[fold_index] = float(running_score)

    def median(self, trial: Any, fold_index: int) -> float | None:
        """Median running score of earlier trials at this fold (None with too few of them)."""
        order = list(self._history)
        earlier = order[:order.index(trial)] if trial in self._history else order
        others = [self._history[t][fold_index] for t in earlier
                  if fold_index in self._history[t] and np.isfinite(self._history[t][fold_index])]
        return float(np.median(others)) if len(others) >= max(1, self.min_trials) else None

    def should_stop(self, trial: Any, fold_index: int, running_score: float) -> bool:
        """True when ``running_score`` is worse than the median of other trials at this fold."""
        med = self.median(trial, fold_index)
        if med is None:
            return False
        if not np.isfinite(running_score):
            return True
        return running_score < med if self.maximize else running_score > med

    def check(self, trial: Any, fold_index: int, running_score: float) -> bool:
        """``should_stop`` judged against earlier trials, then this score ``record``-ed."""
        stop = self.should_stop(trial, fold_index, running_score)
        self.record(trial, fold_index, running_score)
        return stop


@dataclass
class Trial:
    """One evaluated hyperparameter set: its objective (CV mean) and the CV behind it."""

    number: int
    params: dict[str, Any]
    score: float
    cv: CVResult
    stopped_early: bool = False

    def to_dict(self) -> dict[str, Any]:
        """Plain summary (the CV block in evaluation.json layout)."""
        return {"number": self.number, "params": dict(self.params), "score": self.score,
                "stopped_early": self.stopped_early, "cv": self.cv.to_dict()}


@dataclass
class SearchResult:
    """Every trial of a search and the best completed one."""

    objective: str
    maximize: bool
    strategy: str
    trials: list[Trial] = field(default_factory=list)

    @property
    def best(self) -> Trial:
        """The best trial that ran every fold (stopped trials only when none did)."""
        if not self.trials:
            raise TrainguardError("the search ran no trials; set tuning.max_jobs to at least 1.")
        complete = [t for t in self.trials if not t.stopped_early] or self.trials
        sign = 1.0 if self.maximize else -1.0
        return max(complete, key=lambda t: (sign * t.score if np.isfinite(t.score) else -np.inf,
                                            -t.number))

    def to_dict(self) -> dict[str, Any]:
        """Plain summary: objective, strategy, each trial and the best trial's number."""
        return {"objective": self.objective, "maximize": self.maximize,
                "strategy": self.strategy, "best": self.best.number,
                "trials": [t.to_dict() for t in self.trials]}


StopCheck = Callable[[int, float], bool]
"""``stop(fold_index, running_score)``: records a trial's running score, True when it should stop."""

R = TypeVar("R")


def run_trials(ranges: Mapping[str, ParamRange], run_trial: Callable[[int, dict[str, Any], StopCheck], R],
               score: Callable[[R], float], *, strategy: str, max_jobs: int, seed: int,
               maximize: bool, early_stopping: bool) -> list[R]:
    """The tuner's trial loop: suggest, run, observe until the budget or the space is spent.

    ``run_trial(index, params, stop)`` runs one trial (index counts from 0) and calls ``stop``
    after each fold; with ``early_stopping`` it is the median rule, else it never stops.
    ``score(result)`` is the objective fed back to the searcher (NaN for a trial without one).
    """
    searcher = Searcher(ranges, strategy, max_jobs, seed, maximize)
    stopper = MedianStopper(maximize) if early_stopping else None
    results: list[R] = []
    while not searcher.exhausted:
        index = len(results)
        params = searcher.suggest()

        def stop(fold_index: int, running: float, _trial: int = index) -> bool:
            return stopper is not None and stopper.check(_trial, fold_index, running)

        result = run_trial(index, params, stop)
        searcher.observe(params, score(result))
        results.append(result)
    return results


def search(X: Any, y: Any, cfg: Config, on_trial: Callable[[Trial], None] | None = None,
           on_event: OnEvent | None = None, *, plan: FoldPlan | None = None) -> SearchResult:
    """Tune over ``cfg.tuning.ranges`` with ``cfg.tuning.max_jobs`` CV trials; seeded.

    The objective is the CV mean of ``cfg.tuning.objective`` (log_loss minimized). With
    ``tuning.early_stopping='auto'`` a trial stops after a fold whose running mean trails the
    median of earlier trials there. ``on_trial`` gets each finished Trial, ``on_event`` progress.
    """
    t = cfg.tuning
    metric = t.objective
    maximize = metric not in LOWER_IS_BETTER
    plan = plan if plan is not None else FoldPlan(X, y, cfg)
    emit = on_event or (lambda kind, info: None)

    def run_trial(number: int, params: dict[str, Any], stop: StopCheck) -> Trial:
        emit("trial_started", {"trial": number, "params": dict(params)})

        def on_fold(i: int, metrics: dict[str, float], partial: CVResult) -> bool:
            running = partial.mean(metric)
            stopping = stop(i, running)
            emit("fold_done", {"trial": number, "fold": i, "metrics": dict(metrics),
                               "running": running, "stop": stopping})
            return stopping

        cv = cross_validate(X, y, cfg, params, on_fold=on_fold, plan=plan)
        score = cv.mean(metric)
        trial = Trial(number, params, score, cv, cv.stopped_early)
        emit("trial_finished", {"trial": number, "params": dict(params), "score": score,
                                "stopped_early": cv.stopped_early, "folds_run": cv.folds_run})
        if on_trial is not None:
            on_trial(trial)
        return trial

    trials = run_trials(t.ranges, run_trial, lambda trial: trial.score, strategy=t.strategy,
                        max_jobs=t.max_jobs, seed=cfg.seed, maximize=maximize,
                        early_stopping=t.early_stopping == "auto")
    return SearchResult(objective=f"cv:{metric}", maximize=maximize, strategy=t.strategy,
                        trials=trials)
