"""The checks a configuration passes beyond its types: ranges, column roles, security, cost, ops.

Every problem is collected and reported at once, each naming its key and the allowed values.
"""

from __future__ import annotations

from typing import Any

from trainguard.training.config import CURRENCIES, TUNABLE, Config, DataConfig
from trainguard.training.errors import ConfigError

__all__ = ["check_consistency"]


def _check_instances(cfg: Config, need: Any) -> None:
    """Instance choices the service or the train job cannot honour (see training/instances.py)."""
    from trainguard.training.instances import (
        TRAINING_INSTANCE_COUNT_MESSAGE,
        has_instance_storage,
        instance_storage_message,
    )

    aws = cfg.aws
    need(aws.training_instance_count <= 1,
         f"aws.training_instance_count is {aws.training_instance_count}: {TRAINING_INSTANCE_COUNT_MESSAGE}")
    if cfg.security.kms_key_id:
        for key in ("processing_instance_type", "training_instance_type"):
            value = getattr(aws, key)
            need(not has_instance_storage(value), instance_storage_message(f"aws.{key}", value))


def _check_data_roles(d: DataConfig, need: Any) -> None:
    """The column roles of the data section: each column one role, the split has what it needs."""
    need(d.min_category_count >= 1, f"data.min_category_count must be at least 1; got {d.min_category_count}.")
    need(d.max_categories >= 2, f"data.max_categories must be at least 2; got {d.max_categories}.")
    need(d.features is None or not d.exclude,
         "data.features and data.exclude are both set; use one: data.features lists the columns to "
         "train on, data.exclude the columns to leave out.")
    need(d.features is None or bool(d.features), "data.features is an empty list; list the columns "
         "to train on, or remove the key to train on every column.")
    need(d.split != "time" or bool(d.timestamp),
         "data.split is 'time' but data.timestamp is not set; name the time column in data.timestamp.")
    for key, col in (("data.id", d.id), ("data.timestamp", d.timestamp)):
        if col is None:
            continue
        need(col != d.target, f"{key} names the target column {col!r}; the label cannot be {key[5:]}.")
        need(col not in (d.features or []) and col not in d.categorical,
             f"{key} {col!r} is also listed as a feature (data.features or data.categorical); "
             f"an {'ID' if key == 'data.id' else 'time'} column is never a feature: remove it from the "
             "feature lists.")
    need(d.id is None or d.id != d.timestamp, f"data.id and data.timestamp both name {d.id!r}; give "
         "each role its own column.")
    for key, cols in (("data.features", d.features or []), ("data.categorical", d.categorical)):
        need(d.target not in cols, f"{key} lists the target column {d.target!r}; the label is never a "
             "feature.")
        dupes = sorted({c for c in cols if cols.count(c) > 1})
        need(not dupes, f"{key} lists {', '.join(map(repr, dupes))} more than once.")
    both = [c for c in d.categorical if c in d.exclude]
    need(not both, f"{', '.join(map(repr, both))} listed in both data.categorical and data.exclude; "
         "keep one.")
    outside = [c for c in d.categorical if d.features is not None and c not in d.features]
    need(not outside, f"data.categorical lists {', '.join(map(repr, outside))}, not in data.features; "
         "add them to data.features or drop them from data.categorical.")


class _Problems:
    """The problems found so far, and the range checks that add to them."""

    def __init__(self) -> None:
        self.items: list[str] = []

    def need(self, ok: bool, message: str) -> None:
        if not ok:
            self.items.append(message)

    def at_least(self, key: str, value: float, low: float) -> None:
        self.need(value >= low, f"{key} must be at least {low}; got {value}.")

    def within(self, key: str, value: float, low: float, high: float, shape: str) -> None:
        inside = {"()": low < value < high, "(]": low < value <= high, "[]": low <= value <= high}[shape]
        self.need(inside, f"{key} must be in {shape[0]}{low}, {high}{shape[1]}; got {value}.")


def check_consistency(cfg: Config) -> None:
    """Range checks that types alone cannot express; each names its key and the allowed range."""
    p = _Problems()
    _check_model_settings(cfg, p)
    _check_tuning_ranges(cfg, p)
    _check_data_roles(cfg.data, p.need)
    _check_approval_and_security(cfg, p)
    _check_monitor(cfg, p)
    p.items.extend(_cost_problems(cfg))
    _check_ops(cfg, p.need, p.at_least, p.within)
    if p.items:
        if len(p.items) == 1:
            raise ConfigError(p.items[0])
        raise ConfigError(f"{len(p.items)} config problems:\n" + "\n".join(f"  - {x}" for x in p.items))


def _check_model_settings(cfg: Config, p: _Problems) -> None:
    """The data split, CV, resampling and XGBoost values."""
    p.within("data.test_size", cfg.data.test_size, 0, 1, "()")
    p.need(bool(cfg.data.target), "data.target must name the label column; got an empty string.")
    p.at_least("cv.folds", cfg.cv.folds, 2)
    p.at_least("resampling.k_neighbors", cfg.resampling.k_neighbors, 1)
    ss = cfg.resampling.sampling_strategy
    p.need(ss == "auto" if isinstance(ss, str) else 0.0 < ss <= 1.0,
           f"resampling.sampling_strategy must be 'auto' or a ratio in (0, 1]; got {ss!r}.")
    x = cfg.xgboost
    p.need(x.eta > 0, f"xgboost.eta must be positive; got {x.eta}.")
    p.at_least("xgboost.max_depth", x.max_depth, 1)
    for name in ("min_child_weight", "alpha", "gamma", "nthread"):
        p.at_least(f"xgboost.{name}", getattr(x, name), 0)
    p.at_least("xgboost.lambda", x.reg_lambda, 0)
    p.within("xgboost.subsample", x.subsample, 0, 1, "(]")
    p.within("xgboost.colsample_bytree", x.colsample_bytree, 0, 1, "(]")
    p.at_least("xgboost.num_round", x.num_round, 1)
    p.at_least("xgboost.early_stopping_rounds", x.early_stopping_rounds, 1)
    p.within("xgboost.validation_fraction", x.validation_fraction, 0, 0.5, "()")


def _check_tuning_ranges(cfg: Config, p: _Problems) -> None:
    """The search budget and each tuning range: a tunable name, a well-formed range."""
    t = cfg.tuning
    p.at_least("tuning.max_jobs", t.max_jobs, 1)
    p.at_least("tuning.max_parallel_jobs", t.max_parallel_jobs, 1)
    for name, r in t.ranges.items():
        key = f"tuning.ranges.{name}"
        p.need(name in TUNABLE, f"{key}: {name!r} is not a tunable hyperparameter; "
               f"choose from {', '.join(sorted(TUNABLE))}.")
        if r.type == "categorical":
            p.need(bool(r.values), f"{key}.values must list the categories of a categorical range.")
        elif r.min is None or r.max is None:
            p.items.append(f"{key} needs both min and max for a {r.type} range.")
        else:
            p.need(r.min < r.max, f"{key}.min must be below {key}.max; got {r.min} and {r.max}.")
            p.need(r.scaling != "Logarithmic" or r.min > 0,
                   f"{key}.min must be positive for Logarithmic scaling; got {r.min}.")
            p.need(r.type != "integer" or (float(r.min).is_integer() and float(r.max).is_integer()),
                   f"{key}: integer ranges need whole-number min and max.")


def _check_approval_and_security(cfg: Config, p: _Problems) -> None:
    """The approval thresholds, the job safeguards, the role and the instances."""
    a = cfg.approval
    p.within("approval.max_feature_auc", a.max_feature_auc, 0.5, 1, "(]")
    for name in ("min_auc", "min_recall", "min_pr_auc"):
        p.within(f"approval.{name}", getattr(a, name), 0, 1, "[]")
    p.at_least("approval.max_overfit_gap", a.max_overfit_gap, 0)
    p.at_least("approval.champion_margin", a.champion_margin, 0)
    s = cfg.security
    p.at_least("security.max_runtime_seconds", s.max_runtime_seconds, 60)
    if not s.allow_insecure:
        switches = {"security.kms_key_id": bool(s.kms_key_id), "security.subnets": bool(s.subnets),
                    "security.security_group_ids": bool(s.security_group_ids),
                    "security.network_isolation": s.network_isolation,
                    "security.inter_container_encryption": s.inter_container_encryption}
        off = [k for k, on in switches.items() if not on]
        p.need(not off, f"{', '.join(off)} turned off or empty: every job must run encrypted and isolated in "
               "a VPC. Set them, or set security.allow_insecure=true to build without (lint will still flag it).")
    p.need(cfg.aws.role_arn.startswith("arn:aws"), "aws.role_arn must be a full IAM role ARN "
           f"(arn:aws:iam::<account>:role/<name>); got {cfg.aws.role_arn!r}.")
    p.at_least("aws.processing_instance_count", cfg.aws.processing_instance_count, 1)
    p.at_least("aws.training_instance_count", cfg.aws.training_instance_count, 1)
    _check_instances(cfg, p.need)


def _check_monitor(cfg: Config, p: _Problems) -> None:
    """The drift and model-quality check settings."""
    m = cfg.monitor
    p.within("monitor.alpha", m.alpha, 0, 1, "()")
    p.within("monitor.min_effect", m.min_effect, 0, 1, "[]")
    p.at_least("monitor.bins", m.bins, 2)
    for name in ("comparison_threshold", "categorical_comparison_threshold",
                 "datatype_check_threshold", "domain_content_threshold", "min_completeness_drop"):
        p.within(f"monitor.{name}", getattr(m, name), 0, 1, "[]")
    p.at_least("monitor.max_categories", m.max_categories, 1)
    p.at_least("monitor.quality_sigmas", m.quality_sigmas, 0)


def _cost_problems(cfg: Config) -> list[str]:
    """The cost section's range checks: no negative money, known currency, caps a job can meet."""
    c = cfg.cost
    out: list[str] = []
    for key in ("max_execution_usd", "budget_usd"):
        value = getattr(c, key)
        if value is not None and value <= 0:
            out.append(f"cost.{key} must be a positive amount (or null for none); got {value}.")
    if c.anomaly_threshold_usd < 0:
        out.append(f"cost.anomaly_threshold_usd must be at least 0; got {c.anomaly_threshold_usd}.")
    if c.currency not in CURRENCIES:
        out.append(f"cost.currency must be an ISO 4217 code AWS bills in ({', '.join(CURRENCIES)}); "
                   f"got {c.currency!r}.")
    if not 0 < c.expected_runtime_fraction <= 1:
        out.append(f"cost.expected_runtime_fraction must be in (0, 1]; got {c.expected_runtime_fraction}.")
    if not 0 <= c.spot_expected_saving < 1:
        out.append(f"cost.spot_expected_saving must be in [0, 1); got {c.spot_expected_saving}.")
    # A cap below what the smallest job needs can never be met (60 s is the runtime floor
    # security.max_runtime_seconds accepts). Caps below this pipeline's own settings are lint
    # findings (cost-max-runtime, cost-instance-count, cost-tuning-budget), as for any definition.
    for key, value, low in (("max_runtime_processing_seconds", c.max_runtime_processing_seconds, 60),
                            ("max_runtime_training_seconds", c.max_runtime_training_seconds, 60),
                            ("max_instance_count", c.max_instance_count, 1),
                            ("max_tuning_jobs", c.max_tuning_jobs, 1),
                            ("max_parallel_jobs", c.max_parallel_jobs, 1)):
        if value < low:
            out.append(f"cost.{key} ({value}) is below what the smallest job needs ({low}); "
                       f"raise cost.{key}.")
    runtime = cfg.security.max_runtime_seconds
    if c.spot_tuning and c.spot_max_wait_seconds < runtime:
        out.append(f"cost.spot_max_wait_seconds ({c.spot_max_wait_seconds}) must be at least the "
                   f"trials' max runtime (security.max_runtime_seconds = {runtime}).")
    if not c.trigger or not c.trigger.replace("-", "").replace("_", "").isalnum():
        out.append(f"cost.trigger must be a short word (letters, digits, - or _); got {c.trigger!r}.")
    return out
def _check_ops(cfg: Config, need: Any, at_least: Any, within: Any) -> None:
    """Ranges of the deploy, alarms and triggers sections (the service's limits where it has them)."""
    d, al, t = cfg.deploy, cfg.alarms, cfg.triggers
    at_least("deploy.instance_count", d.instance_count, 1)
    within("deploy.capture_percent", d.capture_percent, 0, 100, "[]")
    within("deploy.step_percent", d.step_percent, 1, 100, "[]")
    within("deploy.wait_seconds", d.wait_seconds, 0, 3600, "[]")
    within("deploy.termination_wait_seconds", d.termination_wait_seconds, 0, 3600, "[]")
    at_least("alarms.period_seconds", al.period_seconds, 60)
    need(al.period_seconds % 60 == 0, f"alarms.period_seconds must be a multiple of 60; got {al.period_seconds}.")
    at_least("alarms.evaluation_periods", al.evaluation_periods, 1)
    need(al.latency_p99_ms > 0, f"alarms.latency_p99_ms must be positive; got {al.latency_p99_ms}.")
    at_least("alarms.max_5xx_errors", al.max_5xx_errors, 0)
    at_least("alarms.max_drifted_features", al.max_drifted_features, 0)
    for name in ("auc_drop", "precision_drop", "recall_drop"):
        within(f"alarms.{name}", getattr(al, name), 0, 1, "[]")
    for name in ("min_auc", "min_precision", "min_recall"):
        value = getattr(al, name)
        if value is not None:
            within(f"alarms.{name}", value, 0, 1, "[]")
    within("triggers.max_retries", t.max_retries, 0, 185, "[]")
    within("triggers.max_event_age_seconds", t.max_event_age_seconds, 60, 86400, "[]")
    # names the services take (botocore's service models: PutMetricData Namespace, CreateTopic
    # Name, CreateQueue QueueName), refused before any call rather than after the first writes
    need(0 < len(al.namespace) <= 255 and not al.namespace.startswith((":", "AWS/")),
         f"alarms.namespace {al.namespace!r} must be 1-255 characters, not starting with ':' or "
         "'AWS/' (AWS's own namespaces); e.g. Trainguard.")
    for key, value, most in (("alarms.topic_name", al.topic_name, 256),
                             ("triggers.dead_letter_queue", t.dead_letter_queue, 80)):
        need(0 < len(value) <= most and value.replace("-", "").replace("_", "").isalnum() and value.isascii(),
             f"{key} {value!r} must be 1-{most} ASCII letters, digits, '-' or '_'.")
