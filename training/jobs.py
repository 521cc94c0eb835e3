"""The container entry points (preprocess, train, evaluate) under SageMaker's container contract.

Paths come from an ``env`` mapping (``SM_MODEL_DIR``, ``SM_CHANNEL_TRAIN``, ``TRAINGUARD_OPT_ML``
for the /opt/ml root), so the local runner can run the same jobs in-process in a temp folder.
This module is also the single source of the names the pipeline builder and the local runner
share: job arguments, hyperparameter names, metric lines and their regexes.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import sys
import tarfile
import tempfile
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path, PurePosixPath
from typing import Any

from trainguard.training.approval import Thresholds, decide
from trainguard.training.config import ApprovalConfig, Config, DataConfig, load_config
from trainguard.training.data import load_table
from trainguard.training.errors import ConfigError, DataError, TrainguardError
from trainguard.training.files import write_bytes, write_text
from trainguard.training.leakage import annotate, screen_features
from trainguard.training.metrics import METRIC_NAMES as HOLDOUT_METRICS
from trainguard.training.predictions import PREDICTIONS_FILE, write_predictions
from trainguard.training.tables import SPLIT_FILES, write_split
from trainguard.training.timing import phase, track
from trainguard.training.trainable import check_trainable, holdout_split

__all__ = [
    "CV_RECORD",
    "HYPERPARAMETERS",
    "JOB_KINDS",
    "METRIC_DEFINITIONS",
    "METRIC_NAMES",
    "METRIC_PATTERN",
    "MODEL_FILE",
    "JobStopped",
    "baseline",
    "baseline_arguments",
    "config_from_hyperparameters",
    "drift",
    "drift_arguments",
    "evaluate",
    "evaluate_arguments",
    "format_metric",
    "hyperparameters_from_config",
    "main",
    "objective_metric_name",
    "objective_type",
    "preprocess",
    "preprocess_arguments",
    "run_job",
    "train",
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
        out[name] = _text(node)
    return out


_ROLE_FLAGS = ("features", "exclude", "id", "timestamp", "split", "categorical", "min_category_count",
               "max_categories")
"""Column-role settings of the data section, passed to the preprocess job only when not the default."""


def preprocess_arguments(cfg: Config) -> list[str]:
    """The preprocess job's ``--flag value`` arguments from the config."""
    args = ["--target", cfg.data.target, "--test-size", _text(cfg.data.test_size),
            "--seed", _text(cfg.seed), "--folds", _text(cfg.cv.folds),
            "--k-neighbors", _text(cfg.resampling.k_neighbors),
            "--resampler", cfg.resampling.method,
            "--validation-fraction", _text(cfg.xgboost.validation_fraction)]
    if cfg.data.positive_label is not None:
        args += ["--positive-label", cfg.data.positive_label]
    default = DataConfig()
    for name in _ROLE_FLAGS:
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
        args += [f"--{name.replace('_', '-')}", _text(v) if isinstance(v, (int, float)) else v]
    args += ["--champion-metric", a.champion_metric,
             "--champion-margin", _text(a.champion_margin),
             "--champion-margin-mode", a.champion_margin_mode]
    if a.max_feature_auc != ApprovalConfig.max_feature_auc:
        args += ["--max-feature-auc", _text(a.max_feature_auc)]
    if a.on_leakage != ApprovalConfig.on_leakage:
        args += ["--on-leakage", a.on_leakage]
    if cfg.data.positive_label is not None:
        args += ["--positive-label", cfg.data.positive_label]
    return args


_MONITOR_FLAGS = ("method", "alpha", "min_effect", "bins", "comparison_threshold",
                  "comparison_method", "categorical_comparison_threshold",
                  "categorical_drift_method", "datatype_check_threshold",
                  "domain_content_threshold", "min_completeness_drop", "max_categories",
                  "quality_sigmas")


def baseline_arguments(cfg: Config) -> list[str]:
    """The baseline job's ``--flag value`` arguments: the label column and the monitor section."""
    m = cfg.monitor
    args = ["--target", cfg.data.target]
    for name in _MONITOR_FLAGS:
        args += [f"--{name.replace('_', '-')}", _text(getattr(m, name))]
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
            value = _parse(_unquote(raw), kind)
        except ValueError:
            problems.append(f"hyperparameter {name} must be {_KIND_TEXT[kind]}; got {raw!r}.")
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
# entry points


def main(argv: Sequence[str] | None = None, env: Mapping[str, str] | None = None) -> int:
    """Run one job (``argv[0]`` = preprocess | train | evaluate) as a container would.

    A TrainguardError prints its message to stderr (no traceback), is written to SageMaker's
    failure file, and returns its exit status.
    """
    argv = list(sys.argv[1:] if argv is None else argv)
    env = os.environ if env is None else env
    if not argv or argv[0] not in JOB_KINDS:
        got = repr(argv[0]) if argv else "nothing"
        print(f"usage: python -m trainguard.training.jobs {{{'|'.join(JOB_KINDS)}}} [--flag value ...]; "
              f"got {got}.", file=sys.stderr)
        return 2
    kind = argv[0]
    try:
        run_job(kind, argv[1:], env)
    except TrainguardError as exc:
        print(f"trainguard {kind} job: error: {exc}", file=sys.stderr)
        _write_failure(env, f"{type(exc).__name__}: {exc}")
        return exc.exit_code
    except JobStopped as exc:
        print(f"trainguard {kind} job: stopped: {exc}", file=sys.stderr)
        return 1
    return 0


def run_job(kind: str, argv: Sequence[str], env: Mapping[str, str] | None = None,
            on_metric: OnMetric | None = None) -> None:
    """Do one job's work; raises DataError/ConfigError on bad input, JobStopped when stopped."""
    env = os.environ if env is None else env
    if kind not in JOB_KINDS:
        raise ConfigError(f"unknown job {kind!r}; choose one of {', '.join(JOB_KINDS)}.")
    with track(kind):  # ends with the job's trainguard-timing line
        if kind == "preprocess":
            preprocess(argv, env)
        elif kind == "train":
            train(argv, env, on_metric)
        elif kind == "evaluate":
            evaluate(argv, env)
        elif kind == "baseline":
            baseline(argv, env)
        else:
            drift(argv, env)


def preprocess(argv: Sequence[str], env: Mapping[str, str]) -> None:
    """Validate the input table, check it is trainable, write the stratified train/test split."""
    p = _parser("preprocess")
    p.add_argument("--target", required=True)
    p.add_argument("--test-size", type=float, default=0.2)
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--positive-label", default=None)
    p.add_argument("--folds", type=int, default=5)
    p.add_argument("--k-neighbors", type=int, default=5)
    p.add_argument("--resampler", default="smote")
    p.add_argument("--validation-fraction", type=float, default=0.15)
    for name in _ROLE_FLAGS:
        p.add_argument(f"--{name.replace('_', '-')}", type=_json_arg, default=None)
    args = p.parse_args(list(argv))
    roles = {name: getattr(args, name) for name in _ROLE_FLAGS if getattr(args, name) is not None}
    cfg = load_config({
        "seed": args.seed,
        "data": {"target": args.target, "test_size": args.test_size,
                 "positive_label": args.positive_label, **roles},
        "cv": {"folds": args.folds},
        "resampling": {"method": args.resampler, "k_neighbors": args.k_neighbors},
        "xgboost": {"validation_fraction": args.validation_fraction},
    })
    root = _opt_ml(env)
    data = _job_input(root / "processing" / "input" / "data", "the 'data' input",
                      "the table named by data.uri (InputDataUri)")
    with phase("parse"):
        ds = load_table(data, cfg.data.target, cfg.data.positive_label, roles=cfg.data)
    with phase("split"):
        check_trainable(ds, cfg)
        train_ds, test_ds = holdout_split(ds, cfg.data.test_size, cfg.seed, cfg.data.split)
    n_rows, positive_rate = ds.n_rows, ds.positive_rate
    train_path = root / "processing" / "train" / SPLIT_FILES["train"]
    test_path = root / "processing" / "test" / SPLIT_FILES["test"]
    schema = {"format": 1, "target": cfg.data.target, "features": list(ds.feature_names),
              "categorical": [n for n in ds.feature_names if n in ds.categories],
              "min_category_count": cfg.data.min_category_count, "id": cfg.data.id,
              "timestamp": cfg.data.timestamp, "split": cfg.data.split,
              "unused": _unused_columns(ds, cfg.data)}
    del ds  # the splits are the copies kept from here on
    with phase("screen"):
        schema["leakage_screen"] = screen_features(train_ds.X, train_ds.y, train_ds.feature_names,
                                                   train_ds.categorical_index, seed=cfg.seed)
    # each file appears whole or not at all (training.files); the job's output folders are fresh
    with phase("write"):
        write_split(train_ds, train_path)
        write_split(test_ds, test_path)
        for folder in (train_path.parent, test_path.parent):
            _write_json(folder / SCHEMA_FILE, schema)
    print(f"trainguard preprocess: {n_rows} rows ({positive_rate:.1%} positive) -> "
          f"train {train_ds.n_rows}, test {test_ds.n_rows}")


def train(argv: Sequence[str], env: Mapping[str, str], on_metric: OnMetric | None = None) -> None:
    """One tuning trial: CV with fixed hyperparameters, metric lines, then the final fit."""
    from trainguard.training.cv import cross_validate, fit_final, shared_plan

    _refuse_several_hosts(env)
    hp = _read_hyperparameters(env)
    hp.update(_flag_pairs(argv))
    cfg = config_from_hyperparameters(hp)
    channel = _job_input(Path(env.get("SM_CHANNEL_TRAIN") or _opt_ml(env) / "input" / "data" / "train"),
                         "the 'train' channel (SM_CHANNEL_TRAIN)", "the preprocess job's train split")
    # Trials run in one process (the local tuning emulation) share the parse and the folds of
    # their identical split; results are bit-identical to building them afresh.
    schema = _read_schema(channel)
    if schema is not None:
        cfg = cfg.replace(**{"data.min_category_count": int(schema.get("min_category_count", 1))})
    with phase("parse"):
        ds = load_table(channel, cfg.data.target, cfg.data.positive_label, reuse=True,
                        roles=_split_roles(cfg, schema))
    plan = shared_plan(ds.X, ds.y, cfg, ds.categorical_index, ds.feature_names)
    objective = cfg.tuning.objective
    emitted: dict[str, float] = {}
    stop: list[bool] = []

    def emit(name: str, value: float) -> None:
        if not math.isfinite(value):
            return
        print(format_metric(name, value), flush=True)
        emitted[name] = value
        if on_metric is not None and on_metric(name, value):
            stop.append(True)

    def on_fold(index: int, fold_metrics: Mapping[str, float], partial: Any) -> bool:
        emit(f"cv:{objective}", partial.mean(objective))
        return bool(stop)

    result = cross_validate(ds.X, ds.y, cfg, on_fold=on_fold, plan=plan)
    for name in HOLDOUT_METRICS:
        emit(f"cv:{name}", result.mean(name))
    emit("cv:auc_std", result.std("auc"))
    emit("train:auc", result.train_mean("auc"))
    if stop:
        raise JobStopped(f"stopped on request after {result.folds_run} of {result.folds} folds",
                         metrics=emitted)
    rounds = result.best_num_round
    booster = fit_final(ds.X, ds.y, cfg, num_round=rounds, plan=plan)
    model_dir = Path(env.get("SM_MODEL_DIR") or _opt_ml(env) / "model")
    model_dir.mkdir(parents=True, exist_ok=True)
    record = {**result.to_dict(), "hyperparameters": hyperparameters_from_config(cfg),
              "best_num_round": rounds, "features": list(ds.feature_names),
              "target": ds.target, "classes": list(ds.classes), "n_train": ds.n_rows}
    if plan.final_encoding is not None:
        record["encoding"] = plan.final_encoding.to_dict()
    # the model dir's top level must hold model.json alone (the image serves every top-level
    # file as a booster): the CV record goes in a subfolder, written before the model so a
    # model.json is never left without its record
    model = bytes(booster.save_raw(raw_format="json"))  # the same bytes save_model writes
    _write_json(model_dir / CV_RECORD, record)
    write_bytes(model_dir / MODEL_FILE, model)
    print(f"trainguard train: {result.folds_run} folds, cv auc {result.mean('auc'):.4f}, "
          f"final fit {rounds} rounds on {ds.n_rows} rows")


def evaluate(argv: Sequence[str], env: Mapping[str, str]) -> None:
    """Score the model on the untouched holdout, apply the approval rule, write evaluation.json."""
    import numpy as np
    import xgboost as xgb
    from trainguard.training.core import tuned_hyperparameters
    from trainguard.training.cv import CVResult
    from trainguard.training.evaluation import build_evaluation, write_evaluation
    from trainguard.training.metrics import binary_metrics

    p = _parser("evaluate")
    p.add_argument("--target", required=True)
    p.add_argument("--positive-label", default=None)
    for flag in ("--min-auc", "--min-recall", "--min-pr-auc", "--max-overfit-gap",
                 "--champion-bar", "--champion-margin"):
        p.add_argument(flag, type=float, default=None)
    p.add_argument("--champion-metric", default="auc")
    p.add_argument("--champion-margin-mode", default="absolute")
    p.add_argument("--max-feature-auc", type=float, default=None)
    p.add_argument("--on-leakage", default=ApprovalConfig.on_leakage)
    args = p.parse_args(list(argv))
    base = Thresholds()
    thresholds = Thresholds(
        min_auc=_or(args.min_auc, base.min_auc), min_recall=_or(args.min_recall, base.min_recall),
        min_pr_auc=_or(args.min_pr_auc, base.min_pr_auc),
        max_overfit_gap=_or(args.max_overfit_gap, base.max_overfit_gap),
        champion_metric=args.champion_metric,
        champion_margin=_or(args.champion_margin, 0.0),
        champion_margin_mode=args.champion_margin_mode,
        max_feature_auc=_or(args.max_feature_auc, base.max_feature_auc), on_leakage=args.on_leakage)
    root = _opt_ml(env)
    with tempfile.TemporaryDirectory(prefix="trainguard-model-") as tmp:
        model_dir = _extract_model(root / "processing" / "model", Path(tmp))
        cv_data = _read_json(model_dir / CV_RECORD, f"the training job's {CV_RECORD}")
        booster = xgb.Booster()
        try:
            booster.load_model(str(model_dir / MODEL_FILE))
        except xgb.core.XGBoostError as exc:
            raise DataError(f"model.json in the model archive is not a readable XGBoost model: "
                            f"{str(exc).splitlines()[0]}") from None
    cv = CVResult.from_dict(cv_data)
    test_dir = _job_input(root / "processing" / "test", "the 'test' input",
                          "the preprocess job's test split")
    schema = _read_schema(test_dir)
    with phase("parse"):
        test = load_table(test_dir, args.target, args.positive_label,
                          roles=_split_roles(load_config({"data": {"target": args.target}}), schema, keys=True))
    features = list(cv_data.get("features") or test.feature_names)
    if features != test.feature_names:
        missing = [f for f in features if f not in test.feature_names]
        extra = [f for f in test.feature_names if f not in features]
        how = (f"missing {missing or 'none'}, unexpected {extra or 'none'}" if missing or extra
               else "the same columns in another order")
        raise DataError(f"the test table's feature columns differ from the model's ({how}); "
                        "evaluate the model on the split its own preprocess job wrote.",
                        test.source)
    from trainguard.training.encoding import FeatureEncoding

    with phase("score"):
        encoding = FeatureEncoding.from_booster(booster)
        X_test = test.X if encoding is None else encoding.transform(test.X, test.categorical_index)
        proba = np.asarray(booster.inplace_predict(X_test), dtype=np.float64)
        metrics = dict(binary_metrics(test.y, proba))
    metrics["train_cv_gap"] = cv.train_cv_gap
    leakage = schema.get("leakage_screen") if schema else None
    decision = decide(metrics, thresholds, champion_bar_value=_or(args.champion_bar, 0.0),
                      leakage=leakage)
    trained_with = config_from_hyperparameters(cv_data.get("hyperparameters") or {})
    model_info = {"hyperparameters": tuned_hyperparameters(trained_with),
                  "best_iteration": int(cv_data.get("best_num_round", cv.best_num_round)),
                  "n_train": int(cv_data.get("n_train", 0)), "n_test": test.n_rows,
                  "features": features}
    if encoding is not None:
        model_info["encoding"] = encoding.to_dict()
    # the same model block and bootstrap seed as run_core, so both reports agree
    with phase("score"):  # the bootstrap of every metric's standard deviation
        report = build_evaluation(test.y, proba, cv, decision, model_info, seed=trained_with.seed,
                                  leakage=annotate(leakage, thresholds.max_feature_auc, thresholds.on_leakage))
    write_evaluation(root / "processing" / "evaluation" / "evaluation.json", report)
    write_predictions(root / "processing" / "evaluation" / PREDICTIONS_FILE, test, proba)
    verdict = "approved" if decision.approved else "rejected"
    print(f"trainguard evaluate: holdout auc {metrics['auc']:.4f}, {verdict}: "
          + "; ".join(decision.reasons[: len(decision.failed) or 1]))


def baseline(argv: Sequence[str], env: Mapping[str, str]) -> None:
    """Data-quality baseline of the train split, model-quality constraints from evaluation.json."""
    from trainguard.training.monitor.baseline import (
        BaselineSettings,
        build_baseline,
        record_roles,
        write_baseline,
        write_json_atomic,
    )
    from trainguard.training.monitor.quality import quality_constraints

    p = _parser("baseline")
    p.add_argument("--target", required=True)
    p.add_argument("--exclude", default="")
    defaults = BaselineSettings()
    for name in _MONITOR_FLAGS:
        default = getattr(defaults, name, 3.0)
        p.add_argument(f"--{name.replace('_', '-')}", type=type(default), default=default)
    args = p.parse_args(list(argv))
    settings = BaselineSettings(**{k: getattr(args, k) for k in BaselineSettings.__dataclass_fields__})
    root = _opt_ml(env)
    train_dir = _job_input(root / "processing" / "train", "the 'train' input",
                           "the preprocess job's train split")
    schema = _read_schema(train_dir) or {}
    # the ID and time columns travel with the split but are never features: never baselined
    keys = [str(schema[k]) for k in ("id", "timestamp") if schema.get(k)]
    exclude = [args.target, *keys, *(c for c in args.exclude.split(",") if c)]
    split_file = train_dir / SPLIT_FILES["train"]  # not the folder: columns.json sits beside it
    stats, cons = build_baseline(split_file if split_file.is_file() else train_dir, exclude=exclude,
                                 settings=settings)
    out = root / "processing" / "baseline"
    ev_path = root / "processing" / "evaluation" / "evaluation.json"
    quality = evaluation = None
    if ev_path.is_file():
        evaluation = _read_json(ev_path, "the evaluate job's evaluation.json")
        quality = quality_constraints(evaluation, args.quality_sigmas)
        mq_stats = {"version": 0, "dataset": {"item_count": (evaluation.get("model") or {}).get("n_test")},
                    "binary_classification_metrics": evaluation.get("binary_classification_metrics")}
    record_roles(cons, schema, evaluation)
    write_baseline(out / "data_quality", stats, cons)
    if quality is not None:
        write_json_atomic(out / "model_quality" / "statistics.json", mq_stats)
        write_json_atomic(out / "model_quality" / "constraints.json", quality)
    print(f"trainguard baseline: {stats['dataset']['item_count']} rows, "
          f"{len(stats['features'])} features"
          + (", model-quality constraints from the holdout" if quality else ""))


def drift(argv: Sequence[str], env: Mapping[str, str]) -> None:
    """Check a data prefix against the champion's baseline; violations are output, not failure."""
    from trainguard.training.monitor.check import check_drift, write_result

    p = _parser("drift")
    p.add_argument("--label-column", default=None)
    p.add_argument("--method", default=None)
    args = p.parse_args(list(argv))
    root = _opt_ml(env)
    base = _job_input(root / "processing" / "baseline", "the 'baseline' input",
                      "the champion's baseline folder (data_quality/, model_quality/)")
    data = _job_input(root / "processing" / "input" / "data", "the 'data' input",
                      "the data prefix to check (MonitorDataUri)")
    labels_dir = root / "processing" / "labels"
    labels = None
    if labels_dir.is_dir():
        files = sorted(f for f in labels_dir.rglob("*") if f.is_file())
        labels = files[0] if len(files) == 1 else None
    model_dir = root / "processing" / "model"
    has_model = model_dir.exists() or (base / "model").exists()
    # the label column is never a feature; it is scored against only when there is a model
    result = check_drift(base, data, method=args.method, labels=labels,
                         label_column=args.label_column if has_model else None,
                         exclude=[args.label_column] if args.label_column else (),
                         model=model_dir if model_dir.exists() else None)
    write_result(result, root / "processing" / "monitor")
    verdict = "clean" if result.clean else (
        f"{len(result.violations) + len(result.quality_violations)} violation(s)")
    print(f"trainguard drift: {result.rows} rows, {verdict}; drifted: "
          f"{', '.join(result.drifted) or 'none'}")


# --------------------------------------------------------------------------------------------
# internals


class _ArgParser(argparse.ArgumentParser):
    """argparse that raises ConfigError (exit 2, no traceback, no SystemExit) on bad arguments."""

    def error(self, message: str) -> None:  # type: ignore[override]
        raise ConfigError(f"{self.prog}: {message}; expected --flag value pairs as produced by "
                          "trainguard.training.jobs.*_arguments().")


def _parser(kind: str) -> argparse.ArgumentParser:
    return _ArgParser(prog=f"trainguard {kind} job", add_help=False, allow_abbrev=False)


_KIND_TEXT = {"int": "an integer", "float": "a number", "str": "a string",
              "strategy": "'auto' or a ratio in (0, 1]"}


def _parse(raw: str, kind: str) -> Any:
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


def _unquote(raw: Any) -> str:
    """Script mode JSON-encodes hyperparameter values (``'"0.1"'``); accept both spellings."""
    text = str(raw)
    if len(text) >= 2 and text[0] == text[-1] == '"':
        try:
            return str(json.loads(text))
        except ValueError:
            return text
    return text


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return repr(value)
    return str(value)


def _or(value: float | None, default: float) -> float:
    return default if value is None else float(value)


def _opt_ml(env: Mapping[str, str]) -> Path:
    return Path(env.get("TRAINGUARD_OPT_ML") or "/opt/ml")


def _job_input(path: Path, what: str, expected: str) -> Path:
    """``path`` if the job's input was delivered there, else a DataError saying what belongs there."""
    if not path.exists():
        raise DataError(f"{what} is missing: nothing at {path}; the job expects {expected} there.")
    return path


SCHEMA_FILE = "columns.json"
"""Written by the preprocess job beside each split: the feature columns, which are categorical,
the roles, and the leakage screen of the training split."""


def _json_arg(raw: str) -> Any:
    try:
        return json.loads(raw)
    except ValueError:
        return raw


def _read_schema(folder: Path) -> dict[str, Any] | None:
    """The preprocess job's columns.json beside a split (None for a split written without one)."""
    path = folder / SCHEMA_FILE if folder.is_dir() else folder.parent / SCHEMA_FILE
    if not path.is_file():
        return None
    data = _read_json(path, f"the split's {SCHEMA_FILE}")
    if not isinstance(data, dict):
        raise DataError(f"{path} must hold a JSON object written by the preprocess job.")
    return data


def _unused_columns(ds: Any, data: DataConfig) -> list[str]:
    """The input table's columns that are neither features, the target, the ID nor the time (as
    data.exclude or a data.features list left them): the monitor knows them, never as extra."""
    from trainguard.training.monitor.read import read_header

    keep = {*ds.feature_names, ds.target, data.id, data.timestamp}
    return [h for h in read_header(Path(ds.source)) if h not in keep]


def _split_roles(cfg: Config, schema: Mapping[str, Any] | None, *, keys: bool = False) -> DataConfig | None:
    """Roles for reading a split the preprocess job wrote: its categorical columns, nothing inferred.

    The ID and time columns the split carries are never features: ``keys`` reads them into the
    Dataset (the evaluate job writes them beside each prediction), else they are left unread.
    """
    if schema is None:
        return None
    roles = {k: str(schema[k]) for k in ("id", "timestamp") if schema.get(k)}
    return DataConfig(target=cfg.data.target, categorical=[str(c) for c in schema.get("categorical", [])],
                      max_categories=10**9, **(roles if keys else {"exclude": list(roles.values())}))


def _flag_pairs(argv: Sequence[str]) -> dict[str, str]:
    """``--name value`` pairs (script mode passes hyperparameters so); names keep underscores."""
    out: dict[str, str] = {}
    words = list(argv)
    if len(words) % 2 or any(not w.startswith("--") for w in words[::2]):
        raise ConfigError(f"trainguard train job: arguments must be --name value pairs; got "
                          f"{' '.join(words)!r}.")
    for flag, value in zip(words[::2], words[1::2], strict=True):
        out[flag[2:].replace("-", "_")] = value
    return out


def _refuse_several_hosts(env: Mapping[str, str]) -> None:
    """A training job on more than one instance would run the whole CV on each: refuse it.

    The instance count is a pipeline parameter, so an execution can override what config and lint
    checked; the job reads its hosts from ``SM_HOSTS`` or resourceconfig.json.
    """
    from trainguard.training.instances import TRAINING_INSTANCE_COUNT_MESSAGE

    hosts: Any = None
    if env.get("SM_HOSTS"):
        try:
            hosts = json.loads(env["SM_HOSTS"])
        except ValueError:
            hosts = None
    else:
        path = _opt_ml(env) / "input" / "config" / "resourceconfig.json"
        if path.is_file():
            hosts = (_read_json(path, "resourceconfig.json") or {}).get("hosts")
    if isinstance(hosts, list) and len(hosts) > 1:
        raise ConfigError(f"this training job runs on {len(hosts)} instances: "
                          f"{TRAINING_INSTANCE_COUNT_MESSAGE} Start the execution with "
                          "TrainingInstanceCount=1.")


def _read_hyperparameters(env: Mapping[str, str]) -> dict[str, str]:
    path = _opt_ml(env) / "input" / "config" / "hyperparameters.json"
    if not path.is_file():
        return {}
    data = _read_json(path, "hyperparameters.json")
    if not isinstance(data, dict):
        raise ConfigError(f"{path} must hold a JSON object of name: value strings.")
    return {str(k): str(v) for k, v in data.items()}


def _read_json(path: Path, what: str) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise DataError(f"{what} is missing ({path.name} not found); the input must come from "
                        "trainguard's train job.") from None
    except ValueError as exc:
        raise DataError(f"{what} is not valid JSON: {exc}.") from None


def _write_json(path: Path, data: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    write_text(path, json.dumps(data, indent=1, default=_json_default))


def _json_default(obj: Any) -> Any:
    if hasattr(obj, "tolist"):
        return obj.tolist()
    raise TypeError(f"{type(obj).__name__} is not JSON serializable")


def _extract_model(folder: Path, dest: Path) -> Path:
    """Unpack the model archive into ``dest``, refusing links and paths leaving the folder."""
    if folder.is_file():
        archives = [folder]
    elif folder.is_dir():
        archives = sorted(folder.glob("*.tar.gz"))
        if not archives and (folder / MODEL_FILE).is_file():
            return folder
    else:
        archives = []
    if len(archives) != 1:
        found = ", ".join(a.name for a in archives) or "none"
        raise DataError(f"expected one model.tar.gz under {folder} (found: {found}); the evaluate "
                        "job's model input must be the training job's model artifact.")
    try:
        with tarfile.open(archives[0], "r:gz") as tar:
            members = tar.getmembers()
            bad = [m.name for m in members
                   if not (m.isfile() or m.isdir()) or PurePosixPath(m.name).is_absolute()
                   or ".." in PurePosixPath(m.name).parts]
            if bad:
                raise DataError(f"the model archive {archives[0].name} holds unsafe entries "
                                f"({', '.join(bad[:5])}): links, absolute paths or '..' are "
                                "refused; rebuild it from the training job's model directory.")
            if hasattr(tarfile, "data_filter"):  # Python >= 3.11.4 (and security backports)
                tar.extractall(dest, members=members, filter="data")
            else:  # pragma: no cover - older images; members were checked above
                tar.extractall(dest, members=members)
    except (tarfile.TarError, OSError, EOFError) as exc:
        raise DataError(f"the model archive {archives[0].name} cannot be read: {exc}.") from None
    return dest


def _write_failure(env: Mapping[str, str], message: str) -> None:
    """SageMaker shows /opt/ml/output/failure as the job's FailureReason; best effort."""
    try:
        path = _opt_ml(env) / "output" / "failure"
        path.parent.mkdir(parents=True, exist_ok=True)
        write_text(path, message[:1000])
    except OSError:
        pass


if __name__ == "__main__":  # pragma: no cover - the container command
    sys.exit(main())
