"""What one execution of a pipeline costs, before it starts: a pure function of its definition.

Every job a definition launches is priced from the shipped on-demand table (``prices.json``):
instance type x instance count x max runtime is the worst case (a job is stopped at its max
runtime, so it cannot bill more), and a documented fraction of that is the expected figure. A
tuning job bills every trial: at most ``MaxNumberOfTrainingJobs`` x the trial's max runtime, and
no more than ``MaxParallelTrainingJobs`` trials at once for the tuning job's own runtime limit.
Parameters resolve from their defaults and ``--param`` overrides, as at a start. What the table
does not price is listed as "unknown price", never guessed; under a hard limit it is refused.

The same module holds the cost caps lint applies to any definition (runtime per job kind,
allowed instance types, GPUs, instance counts, tuning budgets, spot settings, cost-allocation
tags); ``trainguard.pipelines.ci.lint`` runs them with the other rules.
"""

from __future__ import annotations

import fnmatch
import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import asdict, dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

from trainguard.pipelines.ci.lint import Finding
from trainguard.pipelines.definition import (
    DefinitionError,
    arguments,
    get_path,
    iter_steps,
    job_kind,
    parse_definition,
)
from trainguard.steps.cost_tags import COST_TAG_KEYS, cost_allocation_tags
from trainguard.training.config import Config, CostConfig
from trainguard.training.errors import TrainguardError

__all__ = [
    "COST_TAG_KEYS",
    "GPU_FAMILIES",
    "PRICE_TABLE_PATH",
    "CostEstimate",
    "CostLimitExceeded",
    "JobCost",
    "PriceTable",
    "UnknownPrice",
    "check_execution_cost",
    "cost_allocation_tags",
    "cost_findings",
    "estimate",
    "format_estimate",
    "infer_region",
    "load_price_table",
    "param_pairs",
]

PRICE_TABLE_PATH = Path(__file__).with_name("prices.json")
"""The shipped on-demand price table (USD per instance-hour by region and job kind)."""


GPU_FAMILIES = frozenset({"p2", "p3", "p3dn", "p4d", "p4de", "p5", "p5e", "p5en", "g4dn", "g4ad",
                          "g5", "g5g", "g6", "g6e", "gr6", "trn1", "trn1n", "trn2", "inf1", "inf2"})
"""Accelerated instance families (GPU, Trainium, Inferentia): refused unless cost.allow_gpu."""

AWS_DEFAULT_TRAINING_RUNTIME = 86400
"""CreateTrainingJob's StoppingCondition.MaxRuntimeInSeconds when a request omits it (1 day)."""

_KIND_PRICE = {"Processing": "Processing", "Training": "Training", "Tuning": "Training",
               "Transform": "Transform"}
_INSTANCE_TYPE = re.compile(r"^ml\.([a-z0-9-]+)\.([a-z0-9]+)$")


class UnknownPrice(TrainguardError):
    """A hard cost limit is set but a job's cost cannot be known (exit 2: fix the input)."""


class CostLimitExceeded(TrainguardError):
    """The worst-case cost of an execution exceeds ``cost.max_execution_usd`` (exit 3: rejected)."""

    exit_code = 3


# --------------------------------------------------------------------------------------------
# the price table


@dataclass(frozen=True)
class PriceTable:
    """On-demand prices: ``regions[region][kind][instance_type]`` in ``currency`` per hour."""

    currency: str
    as_of: str
    source: str
    regions: Mapping[str, Mapping[str, Mapping[str, float]]]

    def price(self, region: str, kind: str, instance_type: str) -> float | None:
        """The hourly price of one instance, or None when the table does not know it."""
        by_kind = self.regions.get(region) or {}
        value = (by_kind.get(_KIND_PRICE.get(kind, kind)) or {}).get(instance_type)
        return float(value) if value is not None else None


def load_price_table(path: str | Path | None = None) -> PriceTable:
    """Read a price table JSON (the shipped one by default); DefinitionError names a bad file."""
    return _load_price_table(str(path or PRICE_TABLE_PATH))


def _table_text(path: Path) -> str:
    shipped = Path(__file__).with_name("prices.json")
    if path == shipped and not path.is_file():  # the package is imported from a zip
        from importlib.resources import files

        return files(__package__ or "trainguard.pipelines.ops").joinpath(path.name).read_text(encoding="utf-8")
    return path.read_text(encoding="utf-8")


@lru_cache(maxsize=4)
def _load_price_table(path: str) -> PriceTable:
    try:
        data = json.loads(_table_text(Path(path)))
    except (OSError, ValueError) as exc:
        raise DefinitionError(f"cannot read the price table {path}: {exc}; pass a JSON file made by "
                              "python -m trainguard.pipelines.ops.refresh_prices.") from None
    regions = data.get("regions") if isinstance(data, dict) else None
    if not isinstance(regions, dict) or data.get("currency") != "USD":
        raise DefinitionError(f"price table {path} must be a JSON object with currency 'USD' and a "
                              "'regions' mapping; regenerate it with "
                              "python -m trainguard.pipelines.ops.refresh_prices.")
    for region, kinds in regions.items():
        for kind, prices in (kinds or {}).items():
            for itype, value in (prices or {}).items():
                if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
                    raise DefinitionError(f"price table {path}: {region}/{kind}/{itype} must be a "
                                          f"non-negative number; got {value!r}.")
    return PriceTable(currency="USD", as_of=str(data.get("as_of", "?")),
                      source=str(data.get("source", "")), regions=regions)


def price_table_from_price_list(products: list[str | Mapping[str, Any]], *, as_of: str,
                                source: str = "AWS Price List API (pricing:GetProducts, "
                                              "ServiceCode AmazonSageMaker)") -> dict[str, Any]:
    """Turn AWS Price List GetProducts items for AmazonSageMaker into a price table mapping.

    Each item (a JSON string, as GetProducts returns them, or a parsed dict) has
    ``product.attributes`` with ``regionCode``, the instance in ``instanceName`` (or
    ``instanceType``, possibly suffixed ``-Training``) and the job kind in ``component``, and
    ``terms.OnDemand.*.priceDimensions.*`` with an hourly ``unit`` and ``pricePerUnit.USD``.
    Items for hosting, notebooks, storage, other kinds or other units are skipped.
    """
    kinds = {"training": "Training", "processing": "Processing", "transform": "Transform",
             "batch transform": "Transform"}
    regions: dict[str, dict[str, dict[str, float]]] = {}
    for raw in products:
        item = json.loads(raw) if isinstance(raw, str) else raw
        attrs = (item.get("product") or {}).get("attributes") or {}
        region = attrs.get("regionCode")
        component = str(attrs.get("component") or attrs.get("platoinstancetype") or "")
        itype = str(attrs.get("instanceName") or attrs.get("instanceType") or "")
        if component and itype.lower().endswith("-" + component.lower()):
            itype = itype[:-len(component) - 1]
        kind = kinds.get(component.lower())
        if not region or not kind or not _INSTANCE_TYPE.match(itype):
            continue
        for term in ((item.get("terms") or {}).get("OnDemand") or {}).values():
            for dim in (term.get("priceDimensions") or {}).values():
                usd = (dim.get("pricePerUnit") or {}).get("USD")
                hourly = str(dim.get("unit") or "").lower().startswith(("hr", "hour"))
                if hourly and usd is not None and float(usd) > 0:
                    regions.setdefault(region, {}).setdefault(kind, {})[itype] = float(usd)
    return {"currency": "USD", "unit": "per instance-hour, on-demand, Linux", "as_of": as_of,
            "source": source,
            "regions": {r: {k: dict(sorted(v.items())) for k, v in sorted(ks.items())}
                        for r, ks in sorted(regions.items())}}


# --------------------------------------------------------------------------------------------
# the estimate


@dataclass(frozen=True)
class JobCost:
    """One job (or one tuning job's trials) of the definition, priced."""

    step: str
    kind: str
    instance_type: str | None
    instance_count: int | None
    max_runtime_seconds: int | None
    jobs: int = 1
    """Jobs billed: 1, or a tuning job's MaxNumberOfTrainingJobs."""
    parallel: int = 1
    hourly_usd: float | None = None
    instance_hours: float | None = None
    """Worst-case billed instance-hours."""
    worst_usd: float | None = None
    expected_usd: float | None = None
    spot: bool = False
    note: str = ""
    type_parameter: str | None = None
    """The pipeline parameter the instance type comes from (None: a literal)."""
    attempts: int = 1
    """Jobs the step may launch for this one: 1 + its retry policies' MaxAttempts on job errors."""

    @property
    def known(self) -> bool:
        """True when both figures are known."""
        return self.worst_usd is not None and self.expected_usd is not None


@dataclass(frozen=True)
class CostEstimate:
    """Worst-case and expected cost of one execution, job by job, with what could not be priced."""

    region: str
    currency: str
    price_as_of: str
    expected_fraction: float
    jobs: list[JobCost] = field(default_factory=list)
    parameters: dict[str, Any] = field(default_factory=dict)

    @property
    def worst_usd(self) -> float:
        """Sum of the known worst cases (see ``unknown`` for what is missing)."""
        return round(sum(j.worst_usd or 0.0 for j in self.jobs), 4)

    @property
    def expected_usd(self) -> float:
        """Sum of the known expected figures."""
        return round(sum(j.expected_usd or 0.0 for j in self.jobs), 4)

    @property
    def on_demand_expected_usd(self) -> float:
        """The expected figure were every job on-demand (shows what spot saves)."""
        total = 0.0
        for j in self.jobs:
            if j.worst_usd is not None:  # one attempt: the expected figure assumes no retries
                total += j.worst_usd / j.attempts * self.expected_fraction
        return round(total, 4)

    @property
    def spot_saving_usd(self) -> float:
        """Expected saving from managed spot trials (0 when none run on spot)."""
        return round(self.on_demand_expected_usd - self.expected_usd, 4) if any(
            j.spot for j in self.jobs) else 0.0

    @property
    def unknown(self) -> list[JobCost]:
        """Jobs whose cost the estimate could not know (price missing, runtime unbounded)."""
        return [j for j in self.jobs if not j.known]

    def to_dict(self) -> dict[str, Any]:
        """Plain dict for ``--json``."""
        return {"region": self.region, "currency": self.currency, "price_as_of": self.price_as_of,
                "expected_fraction": self.expected_fraction, "parameters": self.parameters,
                "worst_usd": self.worst_usd, "expected_usd": self.expected_usd,
                "spot_saving_usd": self.spot_saving_usd, "complete": not self.unknown,
                "unknown": [f"{j.step}: {j.note}" for j in self.unknown],
                "jobs": [asdict(j) for j in self.jobs]}


_UNRESOLVED = object()


def _parameters(definition: Mapping[str, Any], overrides: Mapping[str, Any] | None) -> dict[str, Any]:
    declared = {p.get("Name"): p for p in definition.get("Parameters") or [] if isinstance(p, dict)}
    values = {name: p.get("DefaultValue", _UNRESOLVED) for name, p in declared.items()}
    for name, raw in (overrides or {}).items():
        if name not in declared:
            raise DefinitionError(f"--param {name!r} is not a parameter of the pipeline; known: "
                                  f"{', '.join(sorted(str(k) for k in declared)) or 'none'}.")
        values[name] = _typed(declared[name], raw)
    return values


def _typed(param: Mapping[str, Any], raw: Any) -> Any:
    if not isinstance(raw, str):
        return raw
    kind = str(param.get("Type", "String"))
    try:
        if kind == "Integer":
            return int(raw)
        if kind == "Float":
            return float(raw)
    except ValueError:
        raise DefinitionError(f"--param {param.get('Name')}={raw!r}: the parameter is of type {kind}; "
                              "give a number.") from None
    return raw


def _value(node: Any, params: Mapping[str, Any]) -> Any:
    """A literal, or a parameter's resolved value; _UNRESOLVED for run-time expressions."""
    if isinstance(node, dict):
        ref = node.get("Get")
        if isinstance(ref, str) and ref.startswith("Parameters."):
            return params.get(ref.split(".", 1)[1], _UNRESOLVED)
        return _UNRESOLVED
    return node


def _int(node: Any, params: Mapping[str, Any]) -> int | None:
    v = _value(node, params)
    if isinstance(v, bool) or v is _UNRESOLVED or v is None:
        return None
    try:
        return int(v)
    except (TypeError, ValueError):
        return None


def _str(node: Any, params: Mapping[str, Any]) -> str | None:
    v = _value(node, params)
    return v if isinstance(v, str) and v else None


def _job_resources(kind: str, job: Mapping[str, Any]) -> tuple[Any, Any, Any]:
    """(instance type, count, max runtime) nodes of a create-job request."""
    if kind == "Processing":
        cluster = get_path(job, "ProcessingResources.ClusterConfig") or {}
        return cluster.get("InstanceType"), cluster.get("InstanceCount"), \
            get_path(job, "StoppingCondition.MaxRuntimeInSeconds")
    if kind == "Transform":
        res = job.get("TransformResources") or {}
        return res.get("InstanceType"), res.get("InstanceCount"), None
    res = job.get("ResourceConfig") or {}
    itype, count = res.get("InstanceType"), res.get("InstanceCount")
    if itype is None:  # a tuning definition may list instance configs instead
        configs = get_path(job, "HyperParameterTuningResourceConfig.InstanceConfigs") or []
        if configs:
            itype = [c.get("InstanceType") for c in configs if isinstance(c, dict)]
            count = max((c.get("InstanceCount") or 1 for c in configs if isinstance(c, dict)),
                        default=None)
    return itype, count, get_path(job, "StoppingCondition.MaxRuntimeInSeconds")


def _training_definitions(args: Mapping[str, Any]) -> list[dict[str, Any]]:
    out = [args["TrainingJobDefinition"]] if isinstance(args.get("TrainingJobDefinition"), dict) else []
    out += [d for d in args.get("TrainingJobDefinitions") or [] if isinstance(d, dict)]
    return out


def _price_job(step: str, kind: str, job: Mapping[str, Any], params: Mapping[str, Any],
               table: PriceTable, region: str, fraction: float, saving: float,
               jobs: int = 1, parallel: int = 1, tuning_runtime: int | None = None) -> JobCost:
    itype_node, count_node, runtime_node = _job_resources(kind, job)
    count = _int(count_node, params) if count_node is not None else 1
    runtime = _int(runtime_node, params) if runtime_node is not None else None
    note = ""
    if runtime is None and kind in ("Training", "Tuning") and runtime_node is None:
        runtime, note = AWS_DEFAULT_TRAINING_RUNTIME, "no MaxRuntimeInSeconds: AWS's default of 1 day assumed"
    spot = _value(job.get("EnableManagedSpotTraining"), params) is True
    if isinstance(itype_node, list):  # several instance configs: price the dearest
        types = [t for t in (_str(n, params) for n in itype_node) if t]
        prices = [(table.price(region, kind, t), t) for t in types]
        itype = max(prices, key=lambda p: p[0] or 0.0)[1] if prices else None
        hourly = None if not prices or any(p is None for p, _ in prices) else max(p for p, _ in prices)
    else:
        itype = _str(itype_node, params)
        hourly = table.price(region, kind, itype) if itype else None
    ref = itype_node.get("Get") if isinstance(itype_node, dict) else None
    param = ref.split(".", 1)[1] if isinstance(ref, str) and ref.startswith("Parameters.") else None
    base = JobCost(step, kind, itype, count, runtime, jobs, parallel, hourly, spot=spot, note=note,
                   type_parameter=param)
    if itype is None:
        return _with(base, note="instance type not known before the run (a run-time expression "
                                "or a parameter without a default)")
    if hourly is None:
        note = f"unknown price: {itype} ({_KIND_PRICE.get(kind, kind).lower()}) in {region} is not in " \
               "the price table"
        if region not in table.regions:
            note += (f" (it has no prices for {region}, only {', '.join(sorted(table.regions))}; add them "
                     f"with python -m trainguard.pipelines.ops.refresh_prices --fetch {region})")
        return _with(base, note=note)
    if count is None:
        return _with(base, note="instance count not known before the run")
    if runtime is None:
        return _with(base, note="no max runtime: the worst case is unbounded")
    seconds = jobs * runtime
    if tuning_runtime:
        seconds = min(seconds, parallel * tuning_runtime)
    hours = count * seconds / 3600.0
    worst = hourly * hours
    expected = worst * fraction * ((1.0 - saving) if spot else 1.0)
    return _with(base, instance_hours=round(hours, 4), worst_usd=round(worst, 4),
                 expected_usd=round(expected, 4))


def _with(job: JobCost, **changes: Any) -> JobCost:
    return JobCost(**{**asdict(job), **changes})


def _attempts(step: Mapping[str, Any], kind: str, params: Mapping[str, Any]) -> int | None:
    """How many jobs a step may launch for each job it describes: a retry policy on a SageMaker.*
    job error starts a new job (billed again up to its max runtime) at most MaxAttempts times.
    A tuning step does not retry SageMaker.JOB_INTERNAL_ERROR (its trials retry internally).
    None when such a policy has no MaxAttempts (only ExpireAfterMin): the count is not bounded."""
    most = 0
    for policy in step.get("RetryPolicies") or []:
        types = [t for t in (policy.get("ExceptionType") or []) if isinstance(t, str)
                 and t.startswith("SageMaker.") and not (kind == "Tuning" and t == "SageMaker.JOB_INTERNAL_ERROR")]
        if not types:
            continue
        tries = _int(policy.get("MaxAttempts"), params)
        if tries is None:
            return None
        most = max(most, tries)
    return 1 + most


def _retried(job: JobCost, attempts: int | None) -> JobCost:
    """The job's worst case over every attempt its step's retry policies allow."""
    if attempts is None:
        note = "a retry policy on job errors has no MaxAttempts: the worst case is unbounded"
        return _with(job, worst_usd=None, note=f"{job.note}; {note}" if job.note else note)
    if attempts == 1 or job.worst_usd is None:
        return _with(job, attempts=attempts)
    return _with(job, attempts=attempts, worst_usd=round(job.worst_usd * attempts, 4),
                 instance_hours=round((job.instance_hours or 0.0) * attempts, 4))


def estimate(definition: Mapping[str, Any] | str, *, region: str | None = None,
             params: Mapping[str, Any] | None = None, cost: CostConfig | None = None,
             table: PriceTable | None = None) -> CostEstimate:
    """Price one execution of ``definition`` (any pipeline's) in ``region``.

    ``params`` override parameter defaults (``--param``). The expected figure is
    ``cost.expected_runtime_fraction`` of each job's worst case, less ``cost.spot_expected_saving``
    on managed-spot trials. Steps in both branches of a condition are counted (the worst case).
    """
    definition = parse_definition(definition)
    cost = cost or CostConfig()
    table = table or load_price_table()
    region = region or infer_region(definition)
    if not region:
        raise DefinitionError("cannot tell which region the definition runs in; pass --region "
                              "(or aws.region with --config).")
    values = _parameters(definition, params)
    fraction, saving = cost.expected_runtime_fraction, cost.spot_expected_saving
    out: list[JobCost] = []
    for step, _trail in iter_steps(definition):
        name = str(step.get("Name", "?"))
        kind = job_kind(step)
        args = arguments(step)
        if kind == "Tuning":
            cfg = args.get("HyperParameterTuningJobConfig") or {}
            limits = cfg.get("ResourceLimits") or {}
            n = _int(limits.get("MaxNumberOfTrainingJobs"), values)
            par = _int(limits.get("MaxParallelTrainingJobs"), values) or 1
            overall = _int(limits.get("MaxRuntimeInSeconds"), values)
            defs = _training_definitions(args)
            if n is None or not defs:
                out.append(JobCost(name, kind, None, None, None, note="tuning budget "
                                   "(ResourceLimits.MaxNumberOfTrainingJobs) not known"))
                continue
            priced = [_price_job(name, kind, d, values, table, region, fraction, saving,
                                 jobs=n, parallel=par, tuning_runtime=overall) for d in defs]
            # several definitions share the budget: the dearest one bounds the worst case
            dearest = max(priced, key=lambda j: (not j.known, j.worst_usd or 0.0))
            out.append(_retried(dearest, _attempts(step, kind, values)))
        elif kind in ("Processing", "Training", "Transform"):
            out.append(_retried(_price_job(name, kind, args, values, table, region, fraction, saving),
                                _attempts(step, kind, values)))
        elif step.get("Type") in ("EMR", "AutoML", "EMRServerless"):
            out.append(JobCost(name, str(step.get("Type")), None, None, None,
                               note=f"{step.get('Type')} steps are not priced by this estimate"))
    shown = {k: v for k, v in values.items() if v is not _UNRESOLVED}
    return CostEstimate(region=region, currency="USD", price_as_of=table.as_of,
                        expected_fraction=fraction, jobs=out, parameters=shown)


_REGION_IN = (re.compile(r"\.dkr\.ecr\.([a-z]{2}(?:-gov)?-[a-z]+-\d)\.amazonaws\.com"),
              re.compile(r"^arn:aws[a-z-]*:kms:([a-z]{2}(?:-gov)?-[a-z]+-\d):"))


def infer_region(definition: Mapping[str, Any]) -> str | None:
    """The region named by the definition's image URIs or KMS key ARNs, when they agree."""
    found: set[str] = set()

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            for v in node.values():
                walk(v)
        elif isinstance(node, list):
            for v in node:
                walk(v)
        elif isinstance(node, str):
            for pattern in _REGION_IN:
                m = pattern.search(node)
                if m:
                    found.add(m.group(1))

    walk(definition.get("Steps"))
    return found.pop() if len(found) == 1 else None


def check_execution_cost(definition: Mapping[str, Any] | str, config: Config,
                         params: Mapping[str, Any] | None = None,
                         table: PriceTable | None = None) -> CostEstimate:
    """The guard before a start: the estimate, or an error when ``cost.max_execution_usd`` forbids it.

    Raises UnknownPrice (exit 2) when a limit is set and a job's cost cannot be known (the key
    and the instance type named), CostLimitExceeded (exit 3) when the worst case is over the
    limit. Call it before anything is uploaded or started.
    """
    est = estimate(definition, region=config.aws.region, params=params, cost=config.cost, table=table)
    limit = config.cost.max_execution_usd
    if limit is None:
        return est
    if est.unknown:
        lines = "; ".join(f"{j.step}: {j.note}{_set_by(j, config)}" for j in est.unknown)
        raise UnknownPrice(
            f"cost.max_execution_usd is set ({limit:g} USD) but the cost of this execution cannot be "
            f"bounded: {lines}. Use an instance type the price table knows ({PRICE_TABLE_PATH.name}, "
            "refresh it with python -m trainguard.pipelines.ops.refresh_prices), give every job a max "
            "runtime, or unset "
            "cost.max_execution_usd.")
    if est.worst_usd > limit:
        biggest = max(est.jobs, key=lambda j: j.worst_usd or 0.0)
        raise CostLimitExceeded(
            f"the worst-case cost of this execution is {est.worst_usd:.2f} USD, over "
            f"cost.max_execution_usd ({limit:g} USD); the largest part is {biggest.step} "
            f"({biggest.worst_usd:.2f} USD). Lower tuning.max_jobs, the instance type or count, or "
            "security.max_runtime_seconds, or raise cost.max_execution_usd.")
    return est


def _set_by(job: JobCost, config: Config) -> str:
    """Where a job's instance type is set: its parameter and the config key that defaults it."""
    if not job.type_parameter or not job.note.startswith("unknown price"):
        return ""
    key = re.sub(r"(?<!^)(?=[A-Z])", "_", job.type_parameter).lower()
    where = f"aws.{key} or " if hasattr(config.aws, key) else ""
    return f" (set by {where}--param {job.type_parameter})"


def format_estimate(est: CostEstimate) -> str:
    """Human output: one line per job, the totals, how the expected figure is made, what is unknown."""
    lines = [f"cost of one execution in {est.region} (on-demand prices as of {est.price_as_of}, USD):"]
    for j in est.jobs:
        what = f"{j.instance_count or '?'} x {j.instance_type or '?'}"
        if j.kind == "Tuning":
            what += f", {j.jobs} trials ({j.parallel} at once)"
        if j.attempts > 1:
            what += f", up to {j.attempts} attempts"
        runtime = f"{j.max_runtime_seconds}s" if j.max_runtime_seconds else "?"
        if j.known:
            spot = " (spot)" if j.spot else ""
            lines.append(f"  {j.step:<18} {j.kind:<10} {what}, max {runtime} each: worst "
                         f"{j.worst_usd:.2f}, expected {j.expected_usd:.2f}{spot}")
        else:
            lines.append(f"  {j.step:<18} {j.kind:<10} {what}: {j.note}")
    lines.append(f"worst case {est.worst_usd:.2f} USD, expected {est.expected_usd:.2f} USD "
                 f"({est.expected_fraction:g} of each job's max runtime"
                 + (f"; spot saves about {est.spot_saving_usd:.2f} USD" if est.spot_saving_usd else "")
                 + ")")
    if est.unknown:
        lines.append(f"incomplete: {len(est.unknown)} job(s) not priced; the totals leave them out.")
    return "\n".join(lines)


# --------------------------------------------------------------------------------------------
# cost caps for lint (any definition)


def instance_family(instance_type: str) -> str | None:
    """``ml.g5.xlarge`` -> ``g5`` (None when the name is not an ml.* instance type)."""
    m = _INSTANCE_TYPE.match(instance_type)
    return m.group(1) if m else None


def _jobs_of(step: Mapping[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    kind = job_kind(step)
    args = arguments(step)
    if kind == "Tuning":
        if isinstance(args.get("TrainingJobDefinition"), dict):
            yield "Arguments.TrainingJobDefinition", "Training", args["TrainingJobDefinition"]
        for i, d in enumerate(args.get("TrainingJobDefinitions") or []):
            if isinstance(d, dict):
                yield f"Arguments.TrainingJobDefinitions[{i}]", "Training", d
    elif kind in ("Processing", "Training", "Transform"):
        yield "Arguments", kind, args


_RESOURCE_PATHS = {"Processing": ("ProcessingResources.ClusterConfig.InstanceType",
                                  "ProcessingResources.ClusterConfig.InstanceCount"),
                   "Training": ("ResourceConfig.InstanceType", "ResourceConfig.InstanceCount"),
                   "Transform": ("TransformResources.InstanceType", "TransformResources.InstanceCount")}


def cost_findings(definition: Mapping[str, Any] | str, cost: CostConfig | None = None,
                  params: Mapping[str, Any] | None = None) -> list[Finding]:
    """Cost caps on any definition: runtime per job kind, instance types, GPUs, counts, tuning
    budgets, spot settings, bounded retries and cost-allocation tags. What cannot be resolved is a
    finding."""
    definition = parse_definition(definition)
    cost = cost or CostConfig()
    values = _parameters(definition, params)
    out: list[Finding] = []
    for step, _trail in iter_steps(definition):
        name = str(step.get("Name", "?"))
        jobs = list(_jobs_of(step))
        for prefix, kind, job in jobs:
            out.extend(_job_caps(name, prefix, kind, job, values, cost))
        if job_kind(step) == "Tuning":
            out.extend(_tuning_caps(name, arguments(step), values, cost))
        if jobs:
            out.extend(_tag_caps(name, arguments(step)))
        if jobs and _attempts(step, job_kind(step), values) is None:
            out.append(Finding("cost-retries", "error", name, "RetryPolicies",
                               "a retry policy on SageMaker.* job errors has no MaxAttempts, so the "
                               "retries (each a new billed job) are not bounded; set MaxAttempts."))
    return out


def _job_caps(step: str, prefix: str, kind: str, job: Mapping[str, Any], values: Mapping[str, Any],
              cost: CostConfig) -> Iterator[Finding]:
    def finding(rule: str, sub: str, message: str) -> Finding:
        return Finding(rule, "error", step, f"{prefix}.{sub}", message)

    if kind in ("Processing", "Training"):
        cap = cost.max_runtime_processing_seconds if kind == "Processing" \
            else cost.max_runtime_training_seconds
        key = f"cost.max_runtime_{kind.lower()}_seconds"
        raw = get_path(job, "StoppingCondition.MaxRuntimeInSeconds")
        runtime = _int(raw, values)
        if runtime is None and raw is not None:  # a missing one is lint's max-runtime finding
            yield finding("cost-max-runtime", "StoppingCondition.MaxRuntimeInSeconds",
                          f"the {kind.lower()} job's max runtime is not known before the run, so its "
                          f"cost is unbounded; give a literal (at most {key} = {cap}).")
        elif runtime is not None and runtime > cap:
            yield finding("cost-max-runtime", "StoppingCondition.MaxRuntimeInSeconds",
                          f"max runtime {runtime}s is over {key} ({cap}s); lower "
                          f"security.max_runtime_seconds or raise {key}.")
    type_path, count_path = _RESOURCE_PATHS[kind]
    raw_type = get_path(job, type_path)
    if raw_type is None and kind == "Training":
        configs = get_path(job, "HyperParameterTuningResourceConfig.InstanceConfigs") or []
        types = [_str(c.get("InstanceType"), values) for c in configs if isinstance(c, dict)]
        counts = [_int(c.get("InstanceCount"), values) for c in configs if isinstance(c, dict)]
        type_path = "HyperParameterTuningResourceConfig.InstanceConfigs"
    else:
        types, counts = [_str(raw_type, values)], [_int(get_path(job, count_path), values)
                                                    if get_path(job, count_path) is not None else 1]
    for itype in types or [None]:
        if itype is None:
            yield finding("cost-instance-type", type_path,
                          "the instance type is not known before the run, so its cost cannot be "
                          "capped; give it a literal value or a parameter with a default.")
            continue
        if not any(fnmatch.fnmatchcase(itype, pattern) for pattern in cost.allowed_instance_types):
            yield finding("cost-instance-type", type_path,
                          f"instance type {itype} is not in cost.allowed_instance_types "
                          f"({', '.join(cost.allowed_instance_types)}); choose one of those or "
                          "add it to the list.")
        if instance_family(itype) in GPU_FAMILIES and not cost.allow_gpu:
            yield finding("cost-gpu", type_path,
                          f"{itype} is an accelerated (GPU) instance type and cost.allow_gpu is false; "
                          "XGBoost on this data needs no GPU: use a CPU type, or set "
                          "cost.allow_gpu=true on purpose.")
    for count in counts or [None]:
        if count is None:
            yield finding("cost-instance-count", count_path,
                          "the instance count is not known before the run; give it a literal value "
                          "or a parameter with a default.")
        elif count > cost.max_instance_count:
            yield finding("cost-instance-count", count_path,
                          f"{count} instances is over cost.max_instance_count "
                          f"({cost.max_instance_count}); lower the count or raise the cap.")
    if kind == "Training" and _value(job.get("EnableManagedSpotTraining"), values) is True:
        yield from _spot_caps(step, prefix, job, values)


def _spot_caps(step: str, prefix: str, job: Mapping[str, Any],
               values: Mapping[str, Any]) -> Iterator[Finding]:
    runtime = _int(get_path(job, "StoppingCondition.MaxRuntimeInSeconds"), values)
    wait = _int(get_path(job, "StoppingCondition.MaxWaitTimeInSeconds"), values)
    if wait is None or runtime is None or wait < runtime:
        yield Finding("cost-spot", "error", step, f"{prefix}.StoppingCondition.MaxWaitTimeInSeconds",
                      "a managed spot job needs MaxWaitTimeInSeconds at least its "
                      "MaxRuntimeInSeconds; set cost.spot_max_wait_seconds.")
    checkpoint = _first_literal(get_path(job, "CheckpointConfig.S3Uri"), values)
    output = get_path(job, "OutputDataConfig.S3OutputPath")
    kms = _str(get_path(job, "OutputDataConfig.KmsKeyId"), values)
    bucket = _bucket_of(checkpoint)
    if not checkpoint or not kms or bucket is None or bucket != _bucket_of(_first_literal(output, values)):
        yield Finding("cost-spot", "error", step, f"{prefix}.CheckpointConfig.S3Uri",
                      "a managed spot job's checkpoints must go to the job's own output bucket, "
                      "whose default encryption is the same KMS key as OutputDataConfig.KmsKeyId; "
                      "CheckpointConfig takes no key of its own.")


def _first_literal(node: Any, values: Mapping[str, Any]) -> str | None:
    """The literal start of an S3 path: itself, a parameter's value, or a Join's first string."""
    node = node if isinstance(node, str) or "Std:Join" in (node or {}) else _value(node, values)
    if isinstance(node, str):
        return node
    if isinstance(node, dict) and isinstance(node.get("Std:Join"), dict):
        for v in node["Std:Join"].get("Values") or []:
            if isinstance(v, str):
                return v
    return None


def _bucket_of(uri: str | None) -> str | None:
    if not uri or not uri.startswith("s3://"):
        return None
    return uri[5:].split("/", 1)[0] or None


def _tuning_caps(step: str, args: Mapping[str, Any], values: Mapping[str, Any],
                 cost: CostConfig) -> Iterator[Finding]:
    limits = get_path(args, "HyperParameterTuningJobConfig.ResourceLimits") or {}
    where = "Arguments.HyperParameterTuningJobConfig.ResourceLimits"
    for member, cap, key in (("MaxNumberOfTrainingJobs", cost.max_tuning_jobs, "cost.max_tuning_jobs"),
                             ("MaxParallelTrainingJobs", cost.max_parallel_jobs, "cost.max_parallel_jobs")):
        value = _int(limits.get(member), values)
        if value is None:
            yield Finding("cost-tuning-budget", "error", step, f"{where}.{member}",
                          f"the tuning job's {member} is not known before the run; set it "
                          f"(at most {key} = {cap}).")
        elif value > cap:
            yield Finding("cost-tuning-budget", "error", step, f"{where}.{member}",
                          f"{member} {value} is over {key} ({cap}); lower tuning.max_jobs / "
                          f"tuning.max_parallel_jobs or raise {key}.")


def _tag_caps(step: str, args: Mapping[str, Any]) -> Iterator[Finding]:
    tags = args.get("Tags") if isinstance(args.get("Tags"), list) else []
    keys = {t.get("Key") for t in tags if isinstance(t, dict) and t.get("Value")}
    missing = [k for k in COST_TAG_KEYS if k not in keys]
    if missing and tags:  # an untagged job is lint's "tags" finding already
        yield Finding("cost-tags", "error", step, "Arguments.Tags",
                      f"job lacks the cost-allocation tag(s) {', '.join(missing)}, so budgets and "
                      "anomaly monitors filtered on them cannot see its spend; build with trainguard "
                      "(it tags every job) or add them.")


def param_pairs(items: list[str]) -> dict[str, str]:
    """``--param NAME=VALUE`` items as a mapping; DefinitionError for a malformed or repeated one."""
    out: dict[str, str] = {}
    for item in items:
        name, sep, value = item.partition("=")
        if not sep or not name:
            raise DefinitionError(f"--param {item!r} is not NAME=VALUE; e.g. --param TrainingInstanceCount=2.")
        if name in out:
            raise DefinitionError(f"--param {name} is given twice; pass it once.")
        out[name] = value
    return out
