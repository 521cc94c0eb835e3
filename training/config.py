"""The one typed configuration that feeds training, the pipeline builders, the local run and CI.

Every field has a default, so an empty config runs the embedded example. Keys are dotted
(``cv.folds``, ``approval.min_auc``); YAML files and ``--set key=value`` overrides are validated
against the field types here, and every mistake is reported with the key that holds it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from trainguard.training.config_reading import (
    ALIASES,
    build,
    is_open_mapping,
    is_string_field,
    read_yaml,
    text_value,
    to_plain,
    unknown_key_message,
)
from trainguard.training.errors import ConfigError

__all__ = [
    "TUNABLE",
    "AlarmsConfig",
    "ApprovalConfig",
    "AwsConfig",
    "CVConfig",
    "Config",
    "CostConfig",
    "DataConfig",
    "DeployConfig",
    "MonitorConfig",
    "ParamRange",
    "RegistryConfig",
    "ResamplingConfig",
    "SecurityConfig",
    "TriggersConfig",
    "TuningConfig",
    "XGBoostConfig",
    "apply_overrides",
    "load_config",
    "parse_override",
]

TUNABLE = frozenset({"eta", "max_depth", "min_child_weight", "alpha", "lambda", "gamma", "subsample",
                     "colsample_bytree"})
"""Hyperparameters the search and the SageMaker tuner may vary (XGBoost's own names)."""
Metric = Literal["auc", "pr_auc", "f1", "precision", "recall", "accuracy", "log_loss"]
"""The holdout metrics, in report order: the one list (``training.metrics.METRIC_NAMES``)."""


@dataclass(frozen=True)
class DataConfig:
    """Where the data is and which column is the binary label."""

    uri: str | None = None
    """Local CSV/Parquet path or s3:// URI; None means the embedded example data set."""
    target: str = "is_eight"
    """Name of the binary label column."""
    test_size: float = 0.2
    """Fraction of rows set aside, stratified, as the untouched holdout test set."""
    positive_label: str | None = None
    """Which of the two label values is the positive class; None picks 1/true/the larger value."""
    # column roles (training/columns.py applies them to the table's header)
    features: list[str] | None = None
    """Columns to train on (an include list); None means every column not excluded or given a role."""
    exclude: list[str] = field(default_factory=list)
    """Columns never trained on (free text, names, anything that should not be a feature)."""
    id: str | None = None
    """Identifier column: kept out of the features (never a feature)."""
    timestamp: str | None = None
    """Time column (ISO 8601 dates/datetimes or epoch seconds): never a feature; ``split: time`` uses it."""
    split: Literal["stratified", "time"] = "stratified"
    """Holdout: stratified random rows, or ``time``: the latest rows by ``data.timestamp``."""
    categorical: list[str] = field(default_factory=list)
    """Columns to treat as categories even if they hold numbers; text columns are categorical anyway."""
    min_category_count: int = 10
    """Categories seen fewer times in the fit rows are pooled into one 'other' category."""
    max_categories: int = 1000
    """Most distinct values a categorical column may have; more means an ID or free text."""


@dataclass(frozen=True)
class CVConfig:
    """Stratified k-fold cross-validation on the training split."""

    folds: int = 5
    shuffle: bool = True


@dataclass(frozen=True)
class ResamplingConfig:
    """The over-sampler fitted inside each fold's fit part only, never on scored rows."""

    method: Literal["smote", "none", "random_over", "adasyn", "borderline_smote"] = "smote"
    sampling_strategy: float | str = "auto"
    """Minority/majority ratio after resampling (0 < r <= 1), or 'auto' (balance fully)."""
    k_neighbors: int = 5


@dataclass(frozen=True)
class XGBoostConfig:
    """Regularized XGBoost hyperparameters; the tuner overrides those it searches."""

    eta: float = 0.1
    max_depth: int = 4
    min_child_weight: float = 3.0
    alpha: float = 0.1
    """L1 regularization on leaf weights."""
    reg_lambda: float = 1.0
    """L2 regularization on leaf weights (key ``xgboost.lambda``; ``xgboost.reg_lambda`` works too)."""
    gamma: float = 0.0
    subsample: float = 0.85
    colsample_bytree: float = 0.8
    num_round: int = 500
    """Ceiling on boosting rounds; early stopping usually ends sooner."""
    early_stopping_rounds: int = 20
    validation_fraction: float = 0.15
    """Share of each fold's fit part carved out (before resampling) to watch for early stopping."""
    nthread: int = 0
    """XGBoost threads; 0 means all cores."""


@dataclass(frozen=True)
class ParamRange:
    """One searched hyperparameter: a continuous, integer or categorical range."""

    type: Literal["continuous", "integer", "categorical"] = "continuous"
    min: float | None = None
    max: float | None = None
    scaling: Literal["Auto", "Linear", "Logarithmic"] = "Auto"
    values: list[str] | None = None


def _default_ranges() -> dict[str, ParamRange]:
    return {
        "eta": ParamRange("continuous", 0.01, 0.3, "Logarithmic"),
        "max_depth": ParamRange("integer", 2, 6, "Linear"),
        "min_child_weight": ParamRange("continuous", 1.0, 10.0, "Logarithmic"),
        "alpha": ParamRange("continuous", 0.001, 10.0, "Logarithmic"),
        "lambda": ParamRange("continuous", 0.1, 10.0, "Logarithmic"),
        "subsample": ParamRange("continuous", 0.6, 1.0, "Linear"),
    }


@dataclass(frozen=True)
class TuningConfig:
    """Hyperparameter search: the same space locally and in the SageMaker tuning job."""

    enabled: bool = True
    strategy: Literal["bayesian", "random"] = "bayesian"
    max_jobs: int = 8
    max_parallel_jobs: int = 2
    objective: Metric = "auc"
    """CV mean of this metric is the objective (maximized; log_loss is minimized)."""
    early_stopping: Literal["auto", "off"] = "auto"
    """'auto' stops trials whose running CV score falls below the median of earlier trials."""
    warm_start_parents: list[str] = field(default_factory=list)
    """Names of earlier tuning jobs to warm-start from (SageMaker only)."""
    ranges: dict[str, ParamRange] = field(default_factory=_default_ranges)


@dataclass(frozen=True)
class ApprovalConfig:
    """The approval rule: floors, the overfitting-gap ceiling and champion/challenger."""

    min_auc: float = 0.75
    min_recall: float = 0.5
    min_pr_auc: float = 0.0
    max_overfit_gap: float = 0.1
    """Largest allowed train AUC minus CV AUC."""
    champion_metric: Literal["auc", "pr_auc", "f1", "recall"] = "auc"
    champion_margin: float = 0.0
    """How much the challenger must beat the champion by (absolute or relative, see below)."""
    champion_margin_mode: Literal["absolute", "relative"] = "absolute"
    approval_status: Literal["PendingManualApproval", "Approved"] = "PendingManualApproval"
    """Status a passing model is registered with; 'Approved' only when set here explicitly."""
    on_reject: Literal["register_rejected", "fail", "both"] = "both"
    """Register a Rejected package with the reasons (audit trail), fail the run, or both."""
    max_feature_auc: float = 0.95
    """Leakage screen: a feature whose AUC alone (or whose missingness's AUC) reaches this is flagged."""
    on_leakage: Literal["block", "warn"] = "block"
    """What a leakage-screen finding does: block approval (a failed check) or only warn in the report."""


@dataclass(frozen=True)
class RegistryConfig:
    """Where models are registered: the model package group and the local SQLite file."""

    model_package_group: str = "trainguard-models"
    local_path: str = ".trainguard/registry.db"


@dataclass(frozen=True)
class SecurityConfig:
    """Encryption and network controls applied to every processing, training and tuning job."""

    kms_key_id: str | None = "arn:aws:kms:us-east-1:111122223333:key/00000000-0000-0000-0000-000000000000"
    """KMS key for job volumes and outputs (placeholder until set; lint flags the placeholder)."""
    subnets: list[str] = field(default_factory=lambda: ["subnet-00000000000000000"])
    security_group_ids: list[str] = field(default_factory=lambda: ["sg-00000000000000000"])
    network_isolation: bool = True
    inter_container_encryption: bool = True
    max_runtime_seconds: int = 3600
    allow_insecure: bool = False
    """Must be true to build a pipeline without the controls above; lint still flags it."""
    tags: dict[str, str] = field(default_factory=lambda: {"project": "trainguard"})


@dataclass(frozen=True)
class AwsConfig:
    """Names, places and machines of the SageMaker pipeline."""

    region: str = "us-east-1"
    role_arn: str = "arn:aws:iam::111122223333:role/trainguard-execution"
    pipeline_name: str = "trainguard-pipeline"
    bucket: str | None = None
    """S3 bucket for code, data and artifacts; None means sagemaker-<region>-<account>."""
    prefix: str = "trainguard"
    image_uri: str | None = None
    """Container image for every job; None means the SageMaker XGBoost image 3.0-5 (Python 3.10)."""
    processing_instance_type: str = "ml.m5.xlarge"
    processing_instance_count: int = 1
    training_instance_type: str = "ml.m5.xlarge"
    training_instance_count: int = 1
    cache_steps: bool = True
    cache_expire_after: str = "P30D"


CURRENCIES = ("USD", "EUR", "GBP", "JPY", "AUD", "CAD", "CHF", "CNY", "DKK", "HKD", "INR", "KRW",
              "NOK", "NZD", "SEK", "SGD", "ZAR", "BRL")
"""ISO 4217 codes accepted for budgets; the price table and every estimate are in USD."""


@dataclass(frozen=True)
class CostConfig:
    """Cost guards: the per-execution limit, the caps lint holds a definition to, spot, budgets.

    The estimate (``trainguard cost``) is in USD from the shipped on-demand price table. Caps apply
    to any definition; a value of 0 for a cap means "no cap" only where documented below.
    """

    max_execution_usd: float | None = None
    """Refuse to start an execution whose worst-case cost exceeds this (None: no limit)."""
    expected_runtime_fraction: float = 0.25
    """Share of each job's max runtime the expected figure assumes it runs (0 < f <= 1)."""
    max_runtime_processing_seconds: int = 14400
    """Largest MaxRuntimeInSeconds lint accepts on a processing job."""
    max_runtime_training_seconds: int = 14400
    """Largest MaxRuntimeInSeconds lint accepts on a training job or tuning trial."""
    allowed_instance_types: list[str] = field(default_factory=lambda: [
        "ml.m5.*", "ml.m6i.*", "ml.c5.*", "ml.r5.*", "ml.g4dn.*", "ml.g5.*", "ml.p3.*"])
    """Instance types jobs may use (fnmatch patterns); GPU types also need allow_gpu."""
    allow_gpu: bool = False
    """GPU instance types (g4dn, g5, p3, ...) are refused unless this is true."""
    max_instance_count: int = 4
    max_tuning_jobs: int = 50
    max_parallel_jobs: int = 10
    spot_tuning: bool = False
    """Run tuning trials on managed spot capacity (checkpoints under the KMS-encrypted bucket)."""
    spot_max_wait_seconds: int = 7200
    """MaxWaitTimeInSeconds for spot trials: waiting plus running; at least the max runtime."""
    spot_expected_saving: float = 0.5
    """Saving on spot trials the expected figure assumes (AWS quotes up to 90%)."""
    trigger: str = "manual"
    """Value of the trigger cost-allocation tag on every job (manual, schedule, drift, ...)."""
    budget_usd: float | None = None
    """Monthly AWS Budget for the pipeline's tagged spend (``trainguard budgets``); None: none."""
    currency: str = "USD"
    """Currency of the budget (ISO 4217; the account's billing currency)."""
    alert_emails: list[str] = field(default_factory=list)
    """Who the budget and anomaly alerts' SNS topic is subscribed to by email."""
    anomaly_threshold_usd: float = 50.0
    """Anomaly alerts fire when an anomaly's total impact reaches this many dollars."""
    endpoints: list[str] = field(default_factory=list)
    """Endpoint names to watch for under-use (near-zero invocations over a day, low CPU)."""
    idle_invocations_per_day: int = 10
    """An endpoint with fewer invocations than this over 24 hours is flagged as idle."""
    low_cpu_percent: float = 10.0
    """An endpoint whose average CPU utilization over a day stays below this is flagged."""
    low_gpu_percent: float = 10.0
    """Same for GPU utilization; the GPU alarm is made only when cost.allow_gpu is true."""


@dataclass(frozen=True)
class MonitorConfig:
    """Drift and model-quality checks against the training baselines (docs/drift.md)."""

    method: Literal["calibrated", "model_monitor"] = "calibrated"
    """calibrated: chi-squared on baseline bins with an effect floor; model_monitor: L-infinity."""
    alpha: float = 0.01
    """False-alarm budget of one check over all features (split evenly across them)."""
    min_effect: float = 0.05
    """Smallest total-variation distance between binned distributions that counts as drift."""
    bins: int = 20
    comparison_threshold: float = 0.1
    comparison_method: Literal["Simple", "Robust"] = "Robust"
    categorical_comparison_threshold: float = 0.1
    categorical_drift_method: Literal["LInfinity", "ChiSquared"] = "LInfinity"
    datatype_check_threshold: float = 0.1
    domain_content_threshold: float = 0.01
    """Share of values outside the baseline's categories above which they are reported."""
    min_completeness_drop: float = 0.02
    max_categories: int = 1000
    quality_sigmas: float = 3.0
    """Model-quality thresholds: holdout value less this many bootstrap standard deviations."""
    exclude: list[str] = field(default_factory=list)
    """Columns never baselined or checked (ids, timestamps); the label column always is."""
    data_uri: str | None = None
    """The data prefix the monitoring pipeline checks (its MonitorDataUri default)."""


@dataclass(frozen=True)
class DeployConfig:
    """The HTTPS endpoint serving the newest Approved package: size, data capture, blue/green update."""

    endpoint_name: str = "trainguard-endpoint"
    variant_name: str = "AllTraffic"
    instance_type: str = "ml.m5.large"
    instance_count: int = 1
    capture_uri: str | None = None
    """S3 prefix for captured requests and responses; None means s3://<bucket>/<prefix>/capture."""
    capture_percent: int = 100
    """Share of requests captured (inputs and outputs), 0-100."""
    traffic: Literal["all_at_once", "canary", "linear"] = "canary"
    """How blue/green shifts traffic to the new fleet."""
    step_percent: int = 10
    """Capacity share of the canary, or of each linear step (1-100)."""
    wait_seconds: int = 600
    """Baking period after each traffic shift, watched by the rollback alarms (0-3600)."""
    termination_wait_seconds: int = 300
    """How long the old fleet stays after the shift completes (0-3600)."""


@dataclass(frozen=True)
class AlarmsConfig:
    """CloudWatch alarms on the endpoint and on model quality/drift, notifying one SNS topic."""

    topic_name: str = "trainguard-alarms"
    """SNS topic created (KMS-encrypted) when topic_arn is not set."""
    topic_arn: str | None = None
    """An existing topic to notify instead; must be in aws.region."""
    namespace: str = "Trainguard"
    """CloudWatch namespace of the quality and drift metrics trainguard publishes."""
    period_seconds: int = 300
    evaluation_periods: int = 3
    latency_p99_ms: float = 500.0
    """ModelLatency p99 above this (milliseconds) alarms; CloudWatch holds it in microseconds."""
    max_5xx_errors: float = 5.0
    """Invocation5XXErrors summed over a period above this alarms."""
    auc_drop: float = 0.05
    """AUC alarm threshold = the package's baseline AUC minus this, unless min_auc is set."""
    min_auc: float | None = None
    precision_drop: float = 0.1
    min_precision: float | None = None
    recall_drop: float = 0.1
    min_recall: float | None = None
    max_drifted_features: int = 0
    """More features than this failing the drift check alarms."""


@dataclass(frozen=True)
class TriggersConfig:
    """What starts the training pipeline: a schedule and the degradation alarms, with a dead-letter queue."""

    schedule: str | None = "rate(7 days)"
    """EventBridge Scheduler expression (rate(...), cron(6 fields) or at(...)); None: no schedule."""
    timezone: str = "UTC"
    on_alarms: bool = True
    """Start retraining when a quality or drift alarm goes to ALARM."""
    on_monitor: bool = True
    """Publish each monitoring execution's check as the alarms' metrics when it ends (the function)."""
    monitor_schedule: str | None = None
    """Scheduler expression starting the monitoring pipeline against the champion's baselines."""
    max_retries: int = 3
    max_event_age_seconds: int = 3600
    dead_letter_queue: str = "trainguard-triggers-dlq"
    """SQS queue (KMS-encrypted) receiving starts that failed after the retries."""


@dataclass(frozen=True)
class Config:
    """Everything trainguard needs, one section per concern; build with ``load_config``."""

    seed: int = 7
    data: DataConfig = field(default_factory=DataConfig)
    cv: CVConfig = field(default_factory=CVConfig)
    resampling: ResamplingConfig = field(default_factory=ResamplingConfig)
    xgboost: XGBoostConfig = field(default_factory=XGBoostConfig)
    tuning: TuningConfig = field(default_factory=TuningConfig)
    approval: ApprovalConfig = field(default_factory=ApprovalConfig)
    registry: RegistryConfig = field(default_factory=RegistryConfig)
    security: SecurityConfig = field(default_factory=SecurityConfig)
    aws: AwsConfig = field(default_factory=AwsConfig)
    monitor: MonitorConfig = field(default_factory=MonitorConfig)
    cost: CostConfig = field(default_factory=CostConfig)
    deploy: DeployConfig = field(default_factory=DeployConfig)
    alarms: AlarmsConfig = field(default_factory=AlarmsConfig)
    triggers: TriggersConfig = field(default_factory=TriggersConfig)

    def to_dict(self) -> dict[str, Any]:
        """Plain nested dict (JSON/YAML ready) that ``load_config`` reads back to an equal Config."""
        return to_plain(self)

    def replace(self, **overrides: Any) -> Config:
        """A copy with dotted-key overrides (``cfg.replace(**{"cv.folds": 3})``), validated."""
        return apply_overrides(self, overrides)


def load_config(source: Config | str | Path | Mapping[str, Any] | None = None,
                overrides: Mapping[str, Any] | None = None) -> Config:
    """Build a validated Config from a YAML path, a nested mapping, a Config or None (defaults).

    ``overrides`` uses dotted keys; values that are strings are parsed as YAML scalars, as on the
    command line. Raises ConfigError naming the key for unknown keys and wrong types.
    """
    if source is None:
        cfg = Config()
    elif isinstance(source, Config):
        cfg = source
    elif isinstance(source, (str, Path)):
        cfg = build(Config, read_yaml(Path(source)), "")
    elif isinstance(source, Mapping):
        cfg = build(Config, dict(source), "")
    else:
        raise ConfigError(
            f"config must be a Config, a path to a YAML file or a mapping; got {type(source).__name__}."
        )
    if overrides:
        cfg = apply_overrides(cfg, overrides)
    from trainguard.training.config_checks import check_consistency

    check_consistency(cfg)
    return cfg


def parse_override(text: str) -> tuple[str, Any]:
    """Split one ``dotted.key=value`` command-line override.

    The value stays text here; ``apply_overrides`` reads it as a YAML scalar unless the key names
    a string field, so ``data.target=007`` keeps its zeros and ``cv.folds=3`` becomes an integer.
    """
    if "=" not in text:
        raise ConfigError(f"override {text!r} has no '='; write it as dotted.key=value, e.g. cv.folds=3.")
    key, _, raw = text.partition("=")
    key = key.strip()
    if not key:
        raise ConfigError(f"override {text!r} has an empty key; write it as dotted.key=value.")
    return key, raw


def apply_overrides(cfg: Config, overrides: Mapping[str, Any]) -> Config:
    """Return a copy of ``cfg`` with dotted-key overrides applied and the result re-validated."""
    tree = cfg.to_dict()
    for raw_key, value in overrides.items():
        key = ALIASES.get(raw_key, raw_key)
        parts = key.split(".")
        node: dict[str, Any] = tree
        for i, part in enumerate(parts[:-1]):
            nxt = node.get(part)
            if not isinstance(nxt, dict):
                raise ConfigError(unknown_key_message(".".join(parts[: i + 1]), raw_key))
            node = nxt
        if parts[-1] not in node and not is_open_mapping(parts[:-1]):
            raise ConfigError(unknown_key_message(raw_key, raw_key))
        if isinstance(value, str):
            value = text_value(value, string_field=is_string_field(parts))
        node[parts[-1]] = value
    out = build(Config, tree, "")
    from trainguard.training.config_checks import check_consistency  # it reads the sections here

    check_consistency(out)
    return out
