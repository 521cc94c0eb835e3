"""The one typed configuration that feeds training, the pipeline builders, the local run and CI.

Every field has a default, so an empty config runs the embedded example. Keys are dotted
(``cv.folds``, ``approval.min_auc``); YAML files and ``--set key=value`` overrides are validated
against the field types here, and every mistake is reported with the key that holds it.
"""

from __future__ import annotations

import dataclasses
import json
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, get_args, get_origin

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
        return _to_plain(self)

    def replace(self, **overrides: Any) -> Config:
        """A copy with dotted-key overrides (``cfg.replace(**{"cv.folds": 3})``), validated."""
        return apply_overrides(self, overrides)


# Other spellings accepted on input (XGBoost's scikit-learn names) and the key each stands for.
_ALIASES = {"xgboost.reg_lambda": "xgboost.lambda", "xgboost.reg_alpha": "xgboost.alpha"}


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
        cfg = _build(Config, _read_yaml(Path(source)), "")
    elif isinstance(source, Mapping):
        cfg = _build(Config, dict(source), "")
    else:
        raise ConfigError(
            f"config must be a Config, a path to a YAML file or a mapping; got {type(source).__name__}."
        )
    if overrides:
        cfg = apply_overrides(cfg, overrides)
    _check_consistency(cfg)
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
        key = _ALIASES.get(raw_key, raw_key)
        parts = key.split(".")
        node: dict[str, Any] = tree
        for i, part in enumerate(parts[:-1]):
            nxt = node.get(part)
            if not isinstance(nxt, dict):
                raise ConfigError(_unknown_key_message(".".join(parts[: i + 1]), raw_key))
            node = nxt
        if parts[-1] not in node and not _is_open_mapping(parts[:-1]):
            raise ConfigError(_unknown_key_message(raw_key, raw_key))
        if isinstance(value, str):
            value = _text_value(value, string_field=_is_string_field(parts))
        node[parts[-1]] = value
    out = _build(Config, tree, "")
    _check_consistency(out)
    return out


# --------------------------------------------------------------------------------------------
# internals


def _read_yaml(path: Path) -> dict[str, Any]:
    import yaml

    if path.is_dir():
        raise ConfigError(f"config file {path} is a directory; pass a YAML file with --config.")
    if not path.is_file():
        raise ConfigError(f"config file {path} does not exist; pass an existing YAML file with --config.")
    try:
        raw = path.read_bytes()
        text = raw.decode("utf-8-sig")
    except OSError as exc:
        raise ConfigError(f"cannot read config file {path}: {exc.strerror or exc}.") from None
    except UnicodeDecodeError as exc:
        line = raw[:exc.start].count(b"\n") + 1
        raise ConfigError(f"config file {path} is not UTF-8 text (byte 0x{raw[exc.start]:02x} on line "
                          f"{line}); save it as UTF-8 and pass it again.") from None
    try:
        data = yaml.load(text, Loader=_unique_key_loader(path))  # a SafeLoader subclass
    except yaml.YAMLError as exc:
        raise ConfigError(f"config file {path} is not valid YAML: {exc}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"config file {path} must hold a mapping of sections at the top level.")
    return data


def _unique_key_loader(path: Path) -> Any:
    """A SafeLoader that refuses a key given twice in one mapping (YAML would keep the last silently)."""
    import yaml

    class UniqueKeyLoader(yaml.SafeLoader):
        def construct_mapping(self, node: Any, deep: bool = False) -> Any:
            seen: dict[Any, int] = {}
            for key_node, _ in node.value:
                if key_node.tag == "tag:yaml.org,2002:merge":
                    continue
                key = self.construct_object(key_node, deep=True)
                line = key_node.start_mark.line + 1
                try:
                    first = seen.get(key)
                    seen.setdefault(key, line)
                except TypeError:  # an unhashable key: YAML itself refuses it below
                    continue
                if first is not None:
                    where = f"twice on line {line}" if first == line else f"on line {first} and line {line}"
                    raise ConfigError(f"config file {path}: key {key!r} is given twice in one section, "
                                      f"{where}; keep one (YAML would silently use the last).")
            return super().construct_mapping(node, deep=deep)

    return UniqueKeyLoader


def _yaml_scalar(raw: str) -> Any:
    import yaml

    try:
        return yaml.safe_load(raw) if raw.strip() else ""
    except yaml.YAMLError:
        return raw


_YAML11_WORDS = {False: "off", True: "on"}


def _text_value(raw: str, *, string_field: bool) -> Any:
    """A command-line value: text for string fields (``null`` or ``~`` clears an optional one),
    otherwise a YAML scalar, so ``3`` is an integer and ``false`` a boolean."""
    if string_field:
        return None if raw in ("null", "~") else raw
    return _yaml_scalar(raw)


def _to_plain(obj: Any) -> Any:
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        out = {}
        for f in dataclasses.fields(obj):
            name = "lambda" if f.name == "reg_lambda" else f.name
            out[name] = _to_plain(getattr(obj, f.name))
        return out
    if isinstance(obj, dict):
        return {k: _to_plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_to_plain(v) for v in obj]
    return obj


def _field_names(cls: type) -> dict[str, dataclasses.Field[Any]]:
    out = {}
    for f in dataclasses.fields(cls):
        out["lambda" if f.name == "reg_lambda" else f.name] = f
    return out


def _build(cls: type, data: Any, path: str) -> Any:
    where = path or "the config"
    if not isinstance(data, Mapping):
        raise ConfigError(f"{where} must be a mapping of keys to values; got {_describe(data)}.")
    fields = _field_names(cls)
    hints = typing.get_type_hints(cls)
    unknown = [k for k in data if k not in fields and f"{path}.{k}".lstrip(".") not in _ALIASES]
    if unknown:
        key = f"{path}.{unknown[0]}" if path else str(unknown[0])
        raise ConfigError(_unknown_key_message(key, key, sorted(fields)))
    kwargs = {}
    for key, value in data.items():
        full = f"{path}.{key}" if path else str(key)
        canonical = _ALIASES.get(full, full).rsplit(".", 1)[-1]
        name = fields[canonical].name
        kwargs[name] = _coerce(hints[name], value, full)
    return cls(**kwargs)


def _coerce(tp: Any, value: Any, key: str) -> Any:
    origin = get_origin(tp)
    if dataclasses.is_dataclass(tp):
        return _build(tp, value, key)
    if origin in (typing.Union, types.UnionType):
        options = get_args(tp)
        if value is None and type(None) in options:
            return None
        errors = []
        for opt in options:
            if opt is type(None):
                continue
            try:
                return _coerce(opt, value, key)
            except ConfigError as exc:
                errors.append(exc)
        raise ConfigError(f"{key} must be {_type_name(tp)}; got {_describe(value)}.")
    if origin is Literal:
        allowed = get_args(tp)
        if isinstance(value, bool) and _YAML11_WORDS[value] in allowed:
            value = _YAML11_WORDS[value]  # YAML 1.1 reads a bare off/on as false/true
        if value not in allowed:
            raise ConfigError(
                f"{key} must be one of {', '.join(repr(a) for a in allowed)}; got {_describe(value)}."
            )
        return value
    if origin is list:
        (item_tp,) = get_args(tp)
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{key} must be a list of {_type_name(item_tp)}; got {_describe(value)}.")
        return [_coerce(item_tp, v, f"{key}[{i}]") for i, v in enumerate(value)]
    if origin is dict:
        _, val_tp = get_args(tp)
        if not isinstance(value, Mapping):
            raise ConfigError(f"{key} must be a mapping; got {_describe(value)}.")
        return {str(k): _coerce(val_tp, v, f"{key}.{k}") for k, v in value.items()}
    if tp is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{key} must be true or false; got {_describe(value)}.")
        return value
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{key} must be an integer; got {_describe(value)}.")
        return value
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"{key} must be a number; got {_describe(value)}.")
        return float(value)
    if tp is str:
        if not isinstance(value, str):
            raise ConfigError(f"{key} must be a string; got {_describe(value)}.")
        return value
    raise ConfigError(f"{key}: unsupported type {tp!r}")  # pragma: no cover - a bug in Config


def _type_name(tp: Any) -> str:
    origin = get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        return " or ".join(_type_name(a) for a in get_args(tp))
    if origin is Literal:
        return "one of " + ", ".join(repr(a) for a in get_args(tp))
    return {int: "an integer", float: "a number", str: "a string", bool: "true or false",
            type(None): "null"}.get(tp, getattr(tp, "__name__", str(tp)))


def _describe(value: Any) -> str:
    text = json.dumps(value, default=str) if not isinstance(value, str) else repr(value)
    if len(text) > 60:
        text = text[:57] + "..."
    return f"{text} ({type(value).__name__})"


def _unknown_key_message(key: str, given: str, known: list[str] | None = None) -> str:
    parent = key.rsplit(".", 1)[0] if "." in key else ""
    if known is None:
        known = _known_keys(parent)
    hint = f" Known keys{' under ' + parent if parent else ''}: {', '.join(known)}." if known else ""
    return f"unknown config key {given!r}.{hint}"


def _known_keys(parent: str) -> list[str]:
    cls: Any = Config
    for part in [p for p in parent.split(".") if p]:
        fields = _field_names(cls) if dataclasses.is_dataclass(cls) else {}
        if part not in fields:
            return []
        cls = typing.get_type_hints(cls)[fields[part].name]
    return sorted(_field_names(cls)) if dataclasses.is_dataclass(cls) else []


def _is_open_mapping(parts: list[str]) -> bool:
    """True where the key names an entry of a free-form mapping (tags, tuning ranges)."""
    joined = ".".join(parts)
    return joined in ("security.tags", "tuning.ranges")


def _is_string_field(parts: list[str]) -> bool:
    cls: Any = Config
    for part in parts:
        if not dataclasses.is_dataclass(cls):
            return False
        fields = _field_names(cls)
        if part not in fields:
            return False
        cls = typing.get_type_hints(cls)[fields[part].name]
    if get_origin(cls) is Literal:
        return all(isinstance(a, str) for a in get_args(cls))
    return cls is str or (get_origin(cls) in (typing.Union, types.UnionType)
                          and set(get_args(cls)) == {str, type(None)})


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


def _check_consistency(cfg: Config) -> None:
    """Range checks that types alone cannot express; each names its key and the allowed range."""
    problems: list[str] = []

    def need(ok: bool, message: str) -> None:
        if not ok:
            problems.append(message)

    def at_least(key: str, value: float, low: float) -> None:
        need(value >= low, f"{key} must be at least {low}; got {value}.")

    def within(key: str, value: float, low: float, high: float, shape: str) -> None:
        inside = {"()": low < value < high, "(]": low < value <= high, "[]": low <= value <= high}[shape]
        need(inside, f"{key} must be in {shape[0]}{low}, {high}{shape[1]}; got {value}.")

    within("data.test_size", cfg.data.test_size, 0, 1, "()")
    need(bool(cfg.data.target), "data.target must name the label column; got an empty string.")
    at_least("cv.folds", cfg.cv.folds, 2)
    at_least("resampling.k_neighbors", cfg.resampling.k_neighbors, 1)
    ss = cfg.resampling.sampling_strategy
    need(ss == "auto" if isinstance(ss, str) else 0.0 < ss <= 1.0,
         f"resampling.sampling_strategy must be 'auto' or a ratio in (0, 1]; got {ss!r}.")
    x = cfg.xgboost
    need(x.eta > 0, f"xgboost.eta must be positive; got {x.eta}.")
    at_least("xgboost.max_depth", x.max_depth, 1)
    for name in ("min_child_weight", "alpha", "gamma", "nthread"):
        at_least(f"xgboost.{name}", getattr(x, name), 0)
    at_least("xgboost.lambda", x.reg_lambda, 0)
    within("xgboost.subsample", x.subsample, 0, 1, "(]")
    within("xgboost.colsample_bytree", x.colsample_bytree, 0, 1, "(]")
    at_least("xgboost.num_round", x.num_round, 1)
    at_least("xgboost.early_stopping_rounds", x.early_stopping_rounds, 1)
    within("xgboost.validation_fraction", x.validation_fraction, 0, 0.5, "()")
    t = cfg.tuning
    at_least("tuning.max_jobs", t.max_jobs, 1)
    at_least("tuning.max_parallel_jobs", t.max_parallel_jobs, 1)
    for name, r in t.ranges.items():
        key = f"tuning.ranges.{name}"
        need(name in TUNABLE, f"{key}: {name!r} is not a tunable hyperparameter; "
             f"choose from {', '.join(sorted(TUNABLE))}.")
        if r.type == "categorical":
            need(bool(r.values), f"{key}.values must list the categories of a categorical range.")
        elif r.min is None or r.max is None:
            problems.append(f"{key} needs both min and max for a {r.type} range.")
        else:
            need(r.min < r.max, f"{key}.min must be below {key}.max; got {r.min} and {r.max}.")
            need(r.scaling != "Logarithmic" or r.min > 0,
                 f"{key}.min must be positive for Logarithmic scaling; got {r.min}.")
            need(r.type != "integer" or (float(r.min).is_integer() and float(r.max).is_integer()),
                 f"{key}: integer ranges need whole-number min and max.")
    _check_data_roles(cfg.data, need)
    a = cfg.approval
    within("approval.max_feature_auc", a.max_feature_auc, 0.5, 1, "(]")
    for name in ("min_auc", "min_recall", "min_pr_auc"):
        within(f"approval.{name}", getattr(a, name), 0, 1, "[]")
    at_least("approval.max_overfit_gap", a.max_overfit_gap, 0)
    at_least("approval.champion_margin", a.champion_margin, 0)
    s = cfg.security
    at_least("security.max_runtime_seconds", s.max_runtime_seconds, 60)
    if not s.allow_insecure:
        switches = {"security.kms_key_id": bool(s.kms_key_id), "security.subnets": bool(s.subnets),
                    "security.security_group_ids": bool(s.security_group_ids),
                    "security.network_isolation": s.network_isolation,
                    "security.inter_container_encryption": s.inter_container_encryption}
        off = [k for k, on in switches.items() if not on]
        need(not off, f"{', '.join(off)} turned off or empty: every job must run encrypted and isolated in "
             "a VPC. Set them, or set security.allow_insecure=true to build without (lint will still flag it).")
    need(cfg.aws.role_arn.startswith("arn:aws"), "aws.role_arn must be a full IAM role ARN "
         f"(arn:aws:iam::<account>:role/<name>); got {cfg.aws.role_arn!r}.")
    at_least("aws.processing_instance_count", cfg.aws.processing_instance_count, 1)
    at_least("aws.training_instance_count", cfg.aws.training_instance_count, 1)
    _check_instances(cfg, need)
    m = cfg.monitor
    within("monitor.alpha", m.alpha, 0, 1, "()")
    within("monitor.min_effect", m.min_effect, 0, 1, "[]")
    at_least("monitor.bins", m.bins, 2)
    for name in ("comparison_threshold", "categorical_comparison_threshold",
                 "datatype_check_threshold", "domain_content_threshold", "min_completeness_drop"):
        within(f"monitor.{name}", getattr(m, name), 0, 1, "[]")
    at_least("monitor.max_categories", m.max_categories, 1)
    at_least("monitor.quality_sigmas", m.quality_sigmas, 0)
    problems.extend(_cost_problems(cfg))
    _check_ops(cfg, need, at_least, within)
    if problems:
        if len(problems) == 1:
            raise ConfigError(problems[0])
        raise ConfigError(f"{len(problems)} config problems:\n" + "\n".join(f"  - {p}" for p in problems))


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
