"""A hyperparameter tuning job emulated from its JSON: ranges, strategy, budget, early stopping.

Reads HyperParameterTuningJobConfig (ParameterRanges with types and scaling, Strategy,
ResourceLimits.MaxNumberOfTrainingJobs, TrainingJobEarlyStoppingType, the objective) and the
TrainingJobDefinition; runs trials one after another through ``trainguard.training.search``'s
``run_trials`` (its Searcher, and its MedianStopper when the early stopping type is Auto), and
reports the best job so ``TrainingJobSummaries[0]`` / ``BestTrainingJob`` references (the
top-model URI) resolve.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping
from typing import Any

from trainguard.pipelines.local.container import MetricReader
from trainguard.pipelines.local.context import RunContext, StepResult
from trainguard.pipelines.local.errors import DefinitionError, StepFailed, UnsupportedStepError
from trainguard.pipelines.local.jobrun import check_training, run_training_job
from trainguard.training.config import ParamRange
from trainguard.training.jobs import JobStopped
from trainguard.training.search import StopCheck, run_trials

__all__ = ["check_tuning", "parse_ranges", "run_tuning", "training_definition"]

_STRATEGIES = ("bayesian", "random")
_RANGE_KINDS = {"ContinuousParameterRanges": "continuous", "IntegerParameterRanges": "integer",
                "CategoricalParameterRanges": "categorical"}


def training_definition(args: Mapping[str, Any]) -> Mapping[str, Any]:
    """The tuning job's single TrainingJobDefinition (several are not emulated)."""
    if "TrainingJobDefinition" in args:
        return args["TrainingJobDefinition"]
    defs = args.get("TrainingJobDefinitions") or []
    if len(defs) != 1:
        raise UnsupportedStepError("a tuning job with several training job definitions is not emulated locally.")
    return defs[0]


def check_tuning(step: str, args: Mapping[str, Any]) -> None:
    """Refuse, before the run, a tuning job that is malformed or runs something not ours."""
    cfg = args.get("HyperParameterTuningJobConfig")
    if not isinstance(cfg, Mapping):
        raise DefinitionError(f"step {step} has no HyperParameterTuningJobConfig.")
    try:
        definition = training_definition(args)
    except UnsupportedStepError as exc:
        raise UnsupportedStepError(f"step {step}: {exc}") from None
    check_training(step, definition)
    parse_ranges(step, cfg.get("ParameterRanges") or {})
    strategy = str(cfg.get("Strategy", "Bayesian"))
    if strategy.lower() not in _STRATEGIES:
        raise UnsupportedStepError(f"step {step}: tuning strategy {strategy!r} is not emulated locally "
                                   f"(it runs {' and '.join(s.title() for s in _STRATEGIES)}).")
    _objective(step, cfg, definition)


def parse_ranges(step: str, ranges: Mapping[str, Any]) -> dict[str, ParamRange]:
    """ParameterRanges JSON → the config's ParamRange per hyperparameter name."""
    out: dict[str, ParamRange] = {}
    for key, kind in _RANGE_KINDS.items():
        for r in ranges.get(key) or []:
            try:
                if kind == "categorical":
                    out[r["Name"]] = ParamRange("categorical", values=[str(v) for v in r["Values"]])
                else:
                    out[r["Name"]] = ParamRange(kind, float(r["MinValue"]), float(r["MaxValue"]),
                                                r.get("ScalingType", "Auto"))
            except (KeyError, TypeError, ValueError) as exc:
                raise DefinitionError(f"step {step}: parameter range {r!r} is malformed ({exc}).") from None
    if not out:
        raise DefinitionError(f"step {step}: the tuning job searches no parameter ranges.")
    return out


def run_tuning(step: str, args: Mapping[str, Any], ctx: RunContext) -> StepResult:
    """Run the trials, pick the best by the objective and return the tuning job's properties."""
    cfg = args["HyperParameterTuningJobConfig"]
    definition = training_definition(args)
    metric, maximize = _objective(step, cfg, definition)
    ranges = parse_ranges(step, cfg.get("ParameterRanges") or {})
    max_jobs = int((cfg.get("ResourceLimits") or {}).get("MaxNumberOfTrainingJobs", 1))
    static = {k: str(v) for k, v in (definition.get("StaticHyperParameters") or {}).items()}
    job = _TrialJob(step, definition, ctx, metric, max_jobs, static)
    trials = run_trials(ranges, job.run, _objective_value,
                        strategy=str(cfg.get("Strategy", "Bayesian")).lower(), max_jobs=max_jobs,
                        seed=int(float(static.get("seed", ctx.seed))), maximize=maximize,
                        early_stopping=cfg.get("TrainingJobEarlyStoppingType") == "Auto")
    return _tuning_result(step, args, job.tuning_name, trials, metric, maximize)


class _TrialJob:
    """Runs one trial of the tuning job as a local training job named after the tuning job."""

    def __init__(self, step: str, definition: Mapping[str, Any], ctx: RunContext, metric: str,
                 max_jobs: int, static: dict[str, str]) -> None:
        self.step, self.definition, self.ctx, self.metric = step, definition, ctx, metric
        self.max_jobs, self.static = max_jobs, static
        self.folds = int(float(static.get("folds", 5)))
        self.metric_defs = (definition.get("AlgorithmSpecification") or {}).get("MetricDefinitions") or []
        self.tuning_name = ctx.job_name(step)

    def run(self, index: int, params: dict[str, Any], stop: StopCheck) -> dict[str, Any]:
        """The trial's record: status, objective, metrics, model URI and seconds."""
        step, ctx, metric, number = self.step, self.ctx, self.metric, index + 1
        name = f"{self.tuning_name}-{number:03d}"
        hps = {**self.static, **{k: _fmt(v) for k, v in params.items()}}
        ctx.emit("trial_start", step=step, trial=number, total=self.max_jobs, name=name, folds=self.folds)
        started = time.perf_counter()
        history: list[float] = []
        reader = MetricReader(self.metric_defs)
        trial: dict[str, Any] = {"name": name, "number": number, "hyperparameters": dict(params),
                                 "status": "Completed"}
        try:
            props = run_training_job(step, name, self.definition, hps, ctx, reader,
                                     self._on_metric(number, history, stop))
            value = reader.final().get(metric)
            if value is None or not math.isfinite(value):
                raise StepFailed(step, f"trial {name} reported no {metric} (no metric line matched).")
            trial.update(objective=value, metrics=reader.final(),
                         model_uri=props["ModelArtifacts"]["S3ModelArtifacts"])
        except JobStopped as exc:
            final = reader.final()
            trial.update(status="Stopped", objective=final.get(metric, history[-1] if history else None),
                         metrics=final, reason=str(exc))
        except StepFailed as exc:
            if exc.exit_code == 2:  # bad data or config: every trial would fail the same way
                raise
            trial.update(status="Failed", objective=None, metrics=reader.final(), reason=exc.reason)
        trial["seconds"] = round(time.perf_counter() - started, 3)
        ctx.emit("trial_end", step=step, trial=number, total=self.max_jobs, name=name,
                 status=trial["status"], objective=trial["objective"])
        return trial

    def _on_metric(self, number: int, history: list[float], stop: StopCheck) -> Callable[[str, float], bool]:
        """Each running CV mean of the objective, one per fold: progress and median stopping."""

        def on_metric(metric_name: str, value: float) -> bool:
            if metric_name != self.metric:
                return False
            history.append(value)
            fold = len(history) - 1
            if fold >= self.folds:  # the closing summary line, not a fold
                return False
            self.ctx.emit("fold", step=self.step, trial=number, total=self.max_jobs, fold=fold + 1,
                          folds=self.folds)
            if fold == self.folds - 1:  # after the last fold the CV result is whole
                return False
            return stop(fold, value)

        return on_metric


def _objective_value(trial: Mapping[str, Any]) -> float:
    """What the searcher learns from a trial: its objective, NaN when it has none."""
    return trial["objective"] if trial["objective"] is not None else math.nan


def _tuning_result(step: str, args: Mapping[str, Any], tuning_name: str, trials: list[dict[str, Any]],
                   metric: str, maximize: bool) -> StepResult:
    """The tuning job's properties: best job and summaries, completed ones ranked first."""
    completed = [t for t in trials if t["status"] == "Completed"]
    if not completed:
        reasons = "; ".join(sorted({t.get("reason", t["status"]) for t in trials}))
        raise StepFailed(step, f"no training job of the tuning job completed ({reasons}).")
    ranked = sorted(completed, key=lambda t: t["objective"], reverse=maximize)
    best = ranked[0]
    summaries = [_summary(t, metric) for t in ranked]
    summaries += [_summary(t, metric) for t in trials if t["status"] != "Completed"]
    props = {
        **args,
        "HyperParameterTuningJobName": tuning_name,
        "HyperParameterTuningJobStatus": "Completed",
        "BestTrainingJob": _summary(best, metric),
        "TrainingJobSummaries": summaries,
        "TrainingJobStatusCounters": {s: sum(t["status"] == s for t in trials)
                                      for s in ("Completed", "Stopped", "Failed")},
    }
    return StepResult(properties=props, trials=trials, output_uris=[best["model_uri"]])


def _objective(step: str, cfg: Mapping[str, Any], definition: Mapping[str, Any]) -> tuple[str, bool]:
    """(metric name, maximize) of the tuning objective; DefinitionError when no trial could report it."""
    objective = cfg.get("HyperParameterTuningJobObjective") or {}
    metric = objective.get("MetricName")
    if not metric:
        raise DefinitionError(f"step {step}: the tuning objective has no MetricName.")
    defs = (definition.get("AlgorithmSpecification") or {}).get("MetricDefinitions") or []
    if not any(d.get("Name") == metric for d in defs):
        raise DefinitionError(f"step {step}: the objective metric {metric!r} has no MetricDefinition, "
                              "so no trial could report it.")
    return str(metric), objective.get("Type", "Maximize") == "Maximize"


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return repr(value)
    return str(value)


def _summary(trial: Mapping[str, Any], metric: str) -> dict[str, Any]:
    return {
        "TrainingJobName": trial["name"],
        "TrainingJobStatus": trial["status"],
        "TunedHyperParameters": {k: _fmt(v) for k, v in trial["hyperparameters"].items()},
        "FinalHyperParameterTuningJobObjectiveMetric": (
            {"MetricName": metric, "Value": trial["objective"]} if trial["objective"] is not None else None),
    }
