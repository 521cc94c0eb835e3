"""What the jobs, the pipeline builder and the local runner agree on: the job kinds, the model
directory's files, the metric lines and their regexes, the train job's hyperparameters and every
job's arguments. No job runs here; ``training.jobs`` holds the entry points.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from typing import Any

from trainguard.training.config import ApprovalConfig, Config, DataConfig, load_config
from trainguard.training.errors import ConfigError
from trainguard.training.metrics import METRIC_NAMES as HOLDOUT_METRICS

__all__ = [
    "CV_RECORD",
    "HYPERPARAMETERS",
    "JOB_KINDS",
    "METRIC_DEFINITIONS",
    "METRIC_NAMES",
    "METRIC_PATTERN",
    "MODEL_FILE",
    "MONITOR_FLAGS",
    "ROLE_FLAGS",
    "JobStopped",
    "OnMetric",
    "baseline_arguments",
    "config_from_hyperparameters",
    "drift_arguments",
    "evaluate_arguments",
    "format_metric",
    "hp_text",
    "hyperparameters_from_config",
    "objective_metric_name",
    "objective_type",
    "parse_hp",
    "preprocess_arguments",
    "unquote",
]

JOB_KINDS = ("preprocess", "train", "evaluate", "baseline", "drift")

MODEL_FILE = "model.json"
"""The only top-level file of the model directory: the image's serving code loads every
top-level file there as a booster (directories are skipped), so nothing else may sit beside it."""
CV_RECORD = "trainguard/cv.json"
"""The train job's CV record, relative to the model directory: in a subfolder, which serving skips."""

METRIC_NAMES = (*(f"cv:{m}" for m in HOLDOUT_METRICS), "cv:auc_std", "train:auc")
"""Every metric the train job prints, one ``trainguard-metric <name>=<value>`` line each."""

METRIC_PREFIX = "trainguard-metric"
METRIC_PATTERN = re.compile(
    r"trainguard-metric (?P<name>[A-Za-z0-9_]+:[A-Za-z0-9_]+)=(?P<value>[-+0-9.eE]+)")
"""Matches any metric line; ``name`` and ``value`` groups. Non-finite values are never printed."""

METRIC_DEFINITIONS: list[dict[str, str]] = [
    {"Name": name, "Regex": f"{METRIC_PREFIX} {re.escape(name)}=([-+0-9.eE]+)"}
    for name in METRIC_NAMES
]
"""The training job's MetricDefinitions: one regex per metric, the value in group 1."""

OnMetric = Callable[[str, float], Any]
"""``on_metric(name, value)``: called after each metric line; a true result stops the job."""

# hyperparameter name -> (dotted config key, parser)
HYPERPARAMETERS: dict[str, tuple[str, str]] = {
    "target": ("data.target", "str"),
    "positive_label": ("data.positive_label", "str"),
    "seed": ("seed", "int"),
    "folds": ("cv.folds", "int"),
    "resampler": ("resampling.method", "str"),
    "sampling_strategy": ("resampling.sampling_strategy", "strategy"),
    "k_neighbors": ("resampling.k_neighbors", "int"),
    "num_round": ("xgboost.num_round", "int"),
    "early_stopping_rounds": ("xgboost.early_stopping_rounds", "int"),
    "validation_fraction": ("xgboost.validation_fraction", "float"),
    "objective_metric": ("tuning.objective", "str"),
    "eta": ("xgboost.eta", "float"),
    "max_depth": ("xgboost.max_depth", "int"),
    "min_child_weight": ("xgboost.min_child_weight", "float"),
    "alpha": ("xgboost.alpha", "float"),
    "lambda": ("xgboost.lambda", "float"),
    "gamma": ("xgboost.gamma", "float"),
    "subsample": ("xgboost.subsample", "float"),
    "colsample_bytree": ("xgboost.colsample_bytree", "float"),
    "nthread": ("xgboost.nthread", "int"),
}
"""The training job's flat hyperparameter names and the config keys they carry."""


class JobStopped(Exception):
    """A job stopped on request (the tuner's early stopping) after emitting its metrics so far.

    Deliberately not a TrainguardError: a stopped trial is not bad input.
    """

    def __init__(self, message: str = "stopped early on request", *,
                 metrics: Mapping[str, float] | None = None) -> None:
        super().__init__(message)
        self.metrics = dict(metrics or {})


# --------------------------------------------------------------------------------------------
# names and arguments shared with the pipeline builder and the local runner


def objective_metric_name(cfg: Config) -> str:
    """The tuning objective's metric name, ``cv:<tuning.objective>`` (``cv:auc`` by default)."""
    return f"cv:{cfg.tuning.objective}"


def objective_type(cfg: Config) -> str:
    """``Minimize`` for log_loss, else ``Maximize`` (SageMaker's objective Type)."""
    return "Minimize" if cfg.tuning.objective == "log_loss" else "Maximize"


def format_metric(name: str, value: float) -> str:
    """One metric line as the train job prints it and METRIC_DEFINITIONS read it."""
    return f"{METRIC_PREFIX} {name}={value:.6f}"


def hyperparameters_from_config(cfg: Config) -> dict[str, str]:
    """The train job's hyperparameters (all strings) carrying the config it needs."""
    plain = cfg.to_dict()
    out: dict[str, str] = {}
    for name, (key, _) in HYPERPARAMETERS.items():
        node: Any = plain
        for part in key.split("."):
            node = node[part]
        if node is None:
            continue
        out[name] = hp_text(node)
    return out


ROLE_FLAGS = ("features", "exclude", "id", "timestamp", "split", "categorical", "min_category_count",
               "max_categories")
"""Column-role settings of the data section, passed to the preprocess job only when not the default."""


def preprocess_arguments(cfg: Config) -> list[str]:
    """The preprocess job's ``--flag value`` arguments from the config."""
    args = ["--target", cfg.data.target, "--test-size", hp_text(cfg.data.test_size),
            "--seed", hp_text(cfg.seed), "--folds", hp_text(cfg.cv.folds),
            "--k-neighbors", hp_text(cfg.resampling.k_neighbors),
            "--resampler", cfg.resampling.method,
            "--validation-fraction", hp_text(cfg.xgboost.validation_fraction)]
    if cfg.data.positive_label is not None:
        args += ["--positive-label", cfg.data.positive_label]
    default = DataConfig()
    for name in ROLE_FLAGS:
        value = getattr(cfg.data, name)
        if value != getattr(default, name):
            args += [f"--{name.replace('_', '-')}", json.dumps(value)]
    return args


def evaluate_arguments(cfg: Config, **values: Any) -> list[Any]:
    """The evaluate job's ``--flag value`` arguments; ``values`` replace config values.

    ``values`` may be any objects (e.g. pipeline parameters for min_auc, min_recall,
    min_pr_auc, max_overfit_gap, champion_bar); strings are produced for the config's values.
    """
    a = cfg.approval
    defaults: dict[str, Any] = {
        "min_auc": a.min_auc, "min_recall": a.min_recall, "min_pr_auc": a.min_pr_auc,
        "max_overfit_gap": a.max_overfit_gap, "champion_bar": 0.0,
    }
    unknown = sorted(set(values) - set(defaults))
    if unknown:
        raise ConfigError(f"evaluate_arguments got unknown value(s) {', '.join(unknown)}; "
                          f"known: {', '.join(defaults)}.")
    merged = {**defaults, **values}
    args: list[Any] = ["--target", cfg.data.target]
    for name in defaults:
        v = merged[name]
        args += [f"--{name.replace('_', '-')}", hp_text(v) if isinstance(v, (int, float)) else v]
    args += ["--champion-metric", a.champion_metric,
             "--champion-margin", hp_text(a.champion_margin),
             "--champion-margin-mode", a.champion_margin_mode]
    if a.max_feature_auc != ApprovalConfig.max_feature_auc:
        args += ["--max-feature-auc", hp_text(a.max_feature_auc)]
    if a.on_leakage != ApprovalConfig.on_leakage:
        args += ["--on-leakage", a.on_leakage]
    if cfg.data.positive_label is not None:
        args += ["--positive-label", cfg.data.positive_label]
    return args


MONITOR_FLAGS = ("method", "alpha", "min_effect", "bins", "comparison_threshold",
                  "comparison_method", "categorical_comparison_threshold",
                  "categorical_drift_method", "datatype_check_threshold",
                  "domain_content_threshold", "min_completeness_drop", "max_categories",
                  "quality_sigmas")


def baseline_arguments(cfg: Config) -> list[str]:
    """The baseline job's ``--flag value`` arguments: the label column and the monitor section."""
    m = cfg.monitor
    args = ["--target", cfg.data.target]
    for name in MONITOR_FLAGS:
        args += [f"--{name.replace('_', '-')}", hp_text(getattr(m, name))]
    if m.exclude:
        args += ["--exclude", ",".join(m.exclude)]
    return args


def drift_arguments(cfg: Config) -> list[str]:
    """The drift job's ``--flag value`` arguments (the label column, if the data carries it)."""
    return ["--label-column", cfg.data.target]


def config_from_hyperparameters(hp: Mapping[str, Any]) -> Config:
    """A validated Config from the train job's hyperparameters (strings, as SageMaker passes them).

    SageMaker's own entries (``sagemaker_*``, ``_tuning_objective_metric``) are ignored; any
    other unknown name, or a value of the wrong type, is a ConfigError naming it.
    """
    tree: dict[str, Any] = {}
    problems = []
    for name, raw in hp.items():
        if name.startswith(("sagemaker_", "_")):
            continue
        if name not in HYPERPARAMETERS:
            problems.append(f"unknown hyperparameter {name!r}; the train job reads "
                            f"{', '.join(HYPERPARAMETERS)}.")
            continue
        key, kind = HYPERPARAMETERS[name]
        try:
            value = parse_hp(unquote(raw), kind)
        except ValueError:
            problems.append(f"hyperparameter {name} must be {KIND_TEXT[kind]}; got {raw!r}.")
            continue
        if name == "objective_metric" and isinstance(value, str):
            value = value.removeprefix("cv:")
        node = tree
        *parents, leaf = key.split(".")
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = value
    if problems:
        raise ConfigError(problems[0] if len(problems) == 1 else
                          f"{len(problems)} hyperparameter problems:\n"
                          + "\n".join(f"  - {p}" for p in problems))
    return load_config(tree)


# --------------------------------------------------------------------------------------------
# hyperparameter text


KIND_TEXT = {"int": "an integer", "float": "a number", "str": "a string",
              "strategy": "'auto' or a ratio in (0, 1]"}


def parse_hp(raw: str, kind: str) -> Any:
    """A hyperparameter\'s text as its kind (``KIND_TEXT``); ValueError when it is not one."""
    if kind == "str":
        return raw
    if kind == "strategy":
        return raw if raw.strip() == "auto" else float(raw)
    number = float(raw)
    if kind == "int":
        if not number.is_integer():
            raise ValueError(raw)
        return int(number)
    return number


def unquote(raw: Any) -> str:
    """Script mode JSON-encodes hyperparameter values (``'"0.1"'``); accept both spellings."""
    text = str(raw)
    if len(text) >= 2 and text[0] == text[-1] == '"':
        try:
            return str(json.loads(text))
        except ValueError:
            return text
    return text


def hp_text(value: Any) -> str:
    """A config value as job argument text (``true``/``false``, floats exactly)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return repr(value)
    return str(value)
