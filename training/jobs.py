"""The container entry points (preprocess, train, evaluate) under SageMaker's container contract.

Paths come from an ``env`` mapping (``SM_MODEL_DIR``, ``SM_CHANNEL_TRAIN``, ``TRAINGUARD_OPT_ML``
for the /opt/ml root), so the local runner can run the same jobs in-process in a temp folder.
The names the pipeline builder and the local runner share (job arguments, hyperparameter names,
metric lines and their regexes) are ``training.job_contract``'s, importable from here too.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from trainguard.training.approval import Thresholds, decide
from trainguard.training.config import ApprovalConfig, Config, load_config
from trainguard.training.data import load_table
from trainguard.training.errors import ConfigError, DataError, TrainguardError
from trainguard.training.files import write_bytes
from trainguard.training.job_contract import (
    CV_RECORD,
    HYPERPARAMETERS,
    JOB_KINDS,
    METRIC_DEFINITIONS,
    METRIC_NAMES,
    METRIC_PATTERN,
    MODEL_FILE,
    MONITOR_FLAGS,
    ROLE_FLAGS,
    JobStopped,
    OnMetric,
    baseline_arguments,
    config_from_hyperparameters,
    drift_arguments,
    evaluate_arguments,
    format_metric,
    hyperparameters_from_config,
    objective_metric_name,
    objective_type,
    preprocess_arguments,
)
from trainguard.training.job_files import (
    SCHEMA_FILE,
    extract_model,
    flag_pairs,
    job_input,
    json_arg,
    opt_ml,
    read_hyperparameters,
    read_json,
    read_schema,
    refuse_several_hosts,
    split_roles,
    unused_columns,
    write_failure,
    write_json,
)
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
        write_failure(env, f"{type(exc).__name__}: {exc}")
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
    for name in ROLE_FLAGS:
        p.add_argument(f"--{name.replace('_', '-')}", type=json_arg, default=None)
    args = p.parse_args(list(argv))
    roles = {name: getattr(args, name) for name in ROLE_FLAGS if getattr(args, name) is not None}
    cfg = load_config({
        "seed": args.seed,
        "data": {"target": args.target, "test_size": args.test_size,
                 "positive_label": args.positive_label, **roles},
        "cv": {"folds": args.folds},
        "resampling": {"method": args.resampler, "k_neighbors": args.k_neighbors},
        "xgboost": {"validation_fraction": args.validation_fraction},
    })
    root = opt_ml(env)
    data = job_input(root / "processing" / "input" / "data", "the 'data' input",
                     "the table named by data.uri (InputDataUri)")
    with phase("parse"):
        ds = load_table(data, cfg.data.target, cfg.data.positive_label, roles=cfg.data)
    with phase("split"):
        rows = check_trainable(ds, cfg)
        train_ds, test_ds = holdout_split(ds, cfg.data.test_size, cfg.seed, cfg.data.split, rows=rows)
    n_rows, positive_rate = ds.n_rows, ds.positive_rate
    train_path = root / "processing" / "train" / SPLIT_FILES["train"]
    test_path = root / "processing" / "test" / SPLIT_FILES["test"]
    schema = {"format": 1, "target": cfg.data.target, "features": list(ds.feature_names),
              "categorical": [n for n in ds.feature_names if n in ds.categories],
              "min_category_count": cfg.data.min_category_count, "id": cfg.data.id,
              "timestamp": cfg.data.timestamp, "split": cfg.data.split,
              "unused": unused_columns(ds, cfg.data)}
    del ds  # the splits are the copies kept from here on
    with phase("screen"):
        schema["leakage_screen"] = screen_features(train_ds.X, train_ds.y, train_ds.feature_names,
                                                   train_ds.categorical_index, seed=cfg.seed)
    # each file appears whole or not at all (training.files); the job's output folders are fresh
    with phase("write"):
        write_split(train_ds, train_path)
        write_split(test_ds, test_path)
        for folder in (train_path.parent, test_path.parent):
            write_json(folder / SCHEMA_FILE, schema)
    print(f"trainguard preprocess: {n_rows} rows ({positive_rate:.1%} positive) -> "
          f"train {train_ds.n_rows}, test {test_ds.n_rows}")


def train(argv: Sequence[str], env: Mapping[str, str], on_metric: OnMetric | None = None) -> None:
    """One tuning trial: CV with fixed hyperparameters, metric lines, then the final fit."""
    from trainguard.training.cv import fit_final, shared_plan

    cfg, ds = _train_split(argv, env)
    plan = shared_plan(ds.X, ds.y, cfg, ds.categorical_index, ds.feature_names)
    result = _cross_validate_reporting(ds, cfg, plan, on_metric)
    rounds = result.best_num_round
    booster = fit_final(ds.X, ds.y, cfg, num_round=rounds, plan=plan)
    _write_model(env, booster, result, cfg, ds, plan, rounds)
    print(f"trainguard train: {result.folds_run} folds, cv auc {result.mean('auc'):.4f}, "
          f"final fit {rounds} rounds on {ds.n_rows} rows")


def _train_split(argv: Sequence[str], env: Mapping[str, str]) -> tuple[Config, Any]:
    """The trial's config (hyperparameters and flags) and the train split it reads."""
    refuse_several_hosts(env)
    hp = read_hyperparameters(env)
    hp.update(flag_pairs(argv))
    cfg = config_from_hyperparameters(hp)
    channel = job_input(Path(env.get("SM_CHANNEL_TRAIN") or opt_ml(env) / "input" / "data" / "train"),
                        "the 'train' channel (SM_CHANNEL_TRAIN)", "the preprocess job's train split")
    # Trials run in one process (the local tuning emulation) share the parse and the folds of
    # their identical split; results are bit-identical to building them afresh.
    schema = read_schema(channel)
    if schema is not None:
        cfg = cfg.replace(**{"data.min_category_count": int(schema.get("min_category_count", 1))})
    with phase("parse"):
        ds = load_table(channel, cfg.data.target, cfg.data.positive_label, reuse=True,
                        roles=split_roles(cfg, schema))
    return cfg, ds


def _cross_validate_reporting(ds: Any, cfg: Config, plan: Any, on_metric: OnMetric | None) -> Any:
    """The CV, printing a metric line per fold and at the end; JobStopped when asked to stop."""
    from trainguard.training.cv import cross_validate

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
    return result


def _write_model(env: Mapping[str, str], booster: Any, result: Any, cfg: Config, ds: Any, plan: Any,
                 rounds: int) -> None:
    """model.json and its CV record into the model directory."""
    model_dir = Path(env.get("SM_MODEL_DIR") or opt_ml(env) / "model")
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
    write_json(model_dir / CV_RECORD, record)
    write_bytes(model_dir / MODEL_FILE, model)


def evaluate(argv: Sequence[str], env: Mapping[str, str]) -> None:
    """Score the model on the untouched holdout, apply the approval rule, write evaluation.json."""
    from trainguard.training.core import tuned_hyperparameters
    from trainguard.training.cv import CVResult
    from trainguard.training.evaluation import build_evaluation, write_evaluation

    args = _evaluate_parser().parse_args(list(argv))
    thresholds = _thresholds(args)
    root = opt_ml(env)
    booster, cv_data = _load_model(root)
    cv = CVResult.from_dict(cv_data)
    test, schema, features = _read_test(root, args, cv_data)
    encoding, proba, metrics = _score(booster, test)
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


def _evaluate_parser() -> argparse.ArgumentParser:
    """The evaluate job's flags (``evaluate_arguments`` writes them)."""
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
    return p


def _thresholds(args: argparse.Namespace) -> Thresholds:
    """The approval thresholds from the flags, defaults where a flag is absent."""
    base = Thresholds()
    return Thresholds(
        min_auc=_or(args.min_auc, base.min_auc), min_recall=_or(args.min_recall, base.min_recall),
        min_pr_auc=_or(args.min_pr_auc, base.min_pr_auc),
        max_overfit_gap=_or(args.max_overfit_gap, base.max_overfit_gap),
        champion_metric=args.champion_metric,
        champion_margin=_or(args.champion_margin, 0.0),
        champion_margin_mode=args.champion_margin_mode,
        max_feature_auc=_or(args.max_feature_auc, base.max_feature_auc), on_leakage=args.on_leakage)


def _load_model(root: Path) -> tuple[Any, dict[str, Any]]:
    """(booster, CV record) from the model archive the training job wrote."""
    import xgboost as xgb

    with tempfile.TemporaryDirectory(prefix="trainguard-model-") as tmp:
        model_dir = extract_model(root / "processing" / "model", Path(tmp))
        cv_data = read_json(model_dir / CV_RECORD, f"the training job's {CV_RECORD}")
        booster = xgb.Booster()
        try:
            booster.load_model(str(model_dir / MODEL_FILE))
        except xgb.core.XGBoostError as exc:
            raise DataError(f"model.json in the model archive is not a readable XGBoost model: "
                            f"{str(exc).splitlines()[0]}") from None
    return booster, cv_data


def _read_test(root: Path, args: argparse.Namespace, cv_data: Mapping[str, Any]
               ) -> tuple[Any, dict[str, Any] | None, list[str]]:
    """(test split, its columns.json, the model's features); DataError when the columns differ."""
    test_dir = job_input(root / "processing" / "test", "the 'test' input",
                         "the preprocess job's test split")
    schema = read_schema(test_dir)
    with phase("parse"):
        test = load_table(test_dir, args.target, args.positive_label,
                          roles=split_roles(load_config({"data": {"target": args.target}}), schema, keys=True))
    features = list(cv_data.get("features") or test.feature_names)
    if features != test.feature_names:
        missing = [f for f in features if f not in test.feature_names]
        extra = [f for f in test.feature_names if f not in features]
        how = (f"missing {missing or 'none'}, unexpected {extra or 'none'}" if missing or extra
               else "the same columns in another order")
        raise DataError(f"the test table's feature columns differ from the model's ({how}); "
                        "evaluate the model on the split its own preprocess job wrote.",
                        test.source)
    return test, schema, features


def _score(booster: Any, test: Any) -> tuple[Any, Any, dict[str, Any]]:
    """(feature encoding, predicted probabilities, holdout metrics) of the model on the test split."""
    import numpy as np
    from trainguard.training.encoding import FeatureEncoding
    from trainguard.training.metrics import binary_metrics

    with phase("score"):
        encoding = FeatureEncoding.from_booster(booster)
        X_test = test.X if encoding is None else encoding.transform(test.X, test.categorical_index)
        proba = np.asarray(booster.inplace_predict(X_test), dtype=np.float64)
        metrics = dict(binary_metrics(test.y, proba))
    return encoding, proba, metrics


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
    for name in MONITOR_FLAGS:
        default = getattr(defaults, name, 3.0)
        p.add_argument(f"--{name.replace('_', '-')}", type=type(default), default=default)
    args = p.parse_args(list(argv))
    settings = BaselineSettings(**{k: getattr(args, k) for k in BaselineSettings.__dataclass_fields__})
    root = opt_ml(env)
    train_dir = job_input(root / "processing" / "train", "the 'train' input",
                          "the preprocess job's train split")
    schema = read_schema(train_dir) or {}
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
        evaluation = read_json(ev_path, "the evaluate job's evaluation.json")
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
    root = opt_ml(env)
    base = job_input(root / "processing" / "baseline", "the 'baseline' input",
                     "the champion's baseline folder (data_quality/, model_quality/)")
    data = job_input(root / "processing" / "input" / "data", "the 'data' input",
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


def _or(value: float | None, default: float) -> float:
    return default if value is None else float(value)


if __name__ == "__main__":  # pragma: no cover - the container command
    sys.exit(main())
