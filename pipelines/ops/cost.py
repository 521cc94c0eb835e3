"""What one execution of a pipeline costs, before it starts: a pure function of its definition.

Every job a definition launches is priced from the shipped on-demand table (``prices.json``):
instance type x instance count x max runtime is the worst case (a job is stopped at its max
runtime, so it cannot bill more), and a documented fraction of that is the expected figure. A
tuning job bills every trial: at most ``MaxNumberOfTrainingJobs`` x the trial's max runtime, and
no more than ``MaxParallelTrainingJobs`` trials at once for the tuning job's own runtime limit.
Parameters resolve from their defaults and ``--param`` overrides, as at a start. What the table
does not price is listed as "unknown price", never guessed; under a hard limit it is refused.

The price table is ``ops.prices``; the cost caps lint applies to any definition are
``ops.cost_caps`` (both importable from here too).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from trainguard.pipelines.definition import (
    DefinitionError,
    arguments,
    get_path,
    iter_steps,
    job_kind,
    parse_definition,
)
from trainguard.pipelines.ops.cost_caps import GPU_FAMILIES, cost_findings, instance_family
from trainguard.pipelines.ops.prices import (
    KIND_PRICE,
    PRICE_TABLE_PATH,
    PriceTable,
    load_price_table,
    price_table_from_price_list,
)
from trainguard.pipelines.ops.resolved import UNRESOLVED, int_of, job_attempts, parameter_values, str_of, value_of
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
    "instance_family",
    "load_price_table",
    "price_table_from_price_list",
]

AWS_DEFAULT_TRAINING_RUNTIME = 86400
"""CreateTrainingJob's StoppingCondition.MaxRuntimeInSeconds when a request omits it (1 day)."""


class UnknownPrice(TrainguardError):
    """A hard cost limit is set but a job's cost cannot be known (exit 2: fix the input)."""


class CostLimitExceeded(TrainguardError):
    """The worst-case cost of an execution exceeds ``cost.max_execution_usd`` (exit 3: rejected)."""

    exit_code = 3


# --------------------------------------------------------------------------------------------
# the price table


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
    count = int_of(count_node, params) if count_node is not None else 1
    runtime = int_of(runtime_node, params) if runtime_node is not None else None
    note = ""
    if runtime is None and kind in ("Training", "Tuning") and runtime_node is None:
        runtime, note = AWS_DEFAULT_TRAINING_RUNTIME, "no MaxRuntimeInSeconds: AWS's default of 1 day assumed"
    spot = value_of(job.get("EnableManagedSpotTraining"), params) is True
    if isinstance(itype_node, list):  # several instance configs: price the dearest
        types = [t for t in (str_of(n, params) for n in itype_node) if t]
        prices = [(table.price(region, kind, t), t) for t in types]
        itype = max(prices, key=lambda p: p[0] or 0.0)[1] if prices else None
        hourly = None if not prices or any(p is None for p, _ in prices) else max(p for p, _ in prices)
    else:
        itype = str_of(itype_node, params)
        hourly = table.price(region, kind, itype) if itype else None
    ref = itype_node.get("Get") if isinstance(itype_node, dict) else None
    param = ref.split(".", 1)[1] if isinstance(ref, str) and ref.startswith("Parameters.") else None
    base = JobCost(step, kind, itype, count, runtime, jobs, parallel, hourly, spot=spot, note=note,
                   type_parameter=param)
    if itype is None:
        return _with(base, note="instance type not known before the run (a run-time expression "
                                "or a parameter without a default)")
    if hourly is None:
        note = f"unknown price: {itype} ({KIND_PRICE.get(kind, kind).lower()}) in {region} is not in " \
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
    values = parameter_values(definition, params)
    fraction, saving = cost.expected_runtime_fraction, cost.spot_expected_saving
    out: list[JobCost] = []
    for step, _trail in iter_steps(definition):
        name = str(step.get("Name", "?"))
        kind = job_kind(step)
        args = arguments(step)
        if kind == "Tuning":
            cfg = args.get("HyperParameterTuningJobConfig") or {}
            limits = cfg.get("ResourceLimits") or {}
            n = int_of(limits.get("MaxNumberOfTrainingJobs"), values)
            par = int_of(limits.get("MaxParallelTrainingJobs"), values) or 1
            overall = int_of(limits.get("MaxRuntimeInSeconds"), values)
            defs = _training_definitions(args)
            if n is None or not defs:
                out.append(JobCost(name, kind, None, None, None, note="tuning budget "
                                   "(ResourceLimits.MaxNumberOfTrainingJobs) not known"))
                continue
            priced = [_price_job(name, kind, d, values, table, region, fraction, saving,
                                 jobs=n, parallel=par, tuning_runtime=overall) for d in defs]
            # several definitions share the budget: the dearest one bounds the worst case
            dearest = max(priced, key=lambda j: (not j.known, j.worst_usd or 0.0))
            out.append(_retried(dearest, job_attempts(step, kind, values)))
        elif kind in ("Processing", "Training", "Transform"):
            out.append(_retried(_price_job(name, kind, args, values, table, region, fraction, saving),
                                job_attempts(step, kind, values)))
        elif step.get("Type") in ("EMR", "AutoML", "EMRServerless"):
            out.append(JobCost(name, str(step.get("Type")), None, None, None,
                               note=f"{step.get('Type')} steps are not priced by this estimate"))
    shown = {k: v for k, v in values.items() if v is not UNRESOLVED}
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
