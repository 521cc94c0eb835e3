"""``run_definition``: execute a pipeline definition JSON locally, step by step, without the SDK.

Per run: parse parameters (defaults, then overrides), build the graph, check every step can be
emulated before anything runs, then per step in order: skip it when its branch was not taken or an
upstream step did not succeed, resolve its arguments, reuse a cached result when allowed, else run
it with its executor. A failing step fails itself (and what depends on it) with its message.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from trainguard.pipelines.bundle import build_bundle
from trainguard.pipelines.definition import read_definition, resolve_parameters
from trainguard.pipelines.local.cache import StepCache, cache_key
from trainguard.pipelines.local.container import JobRunner
from trainguard.pipelines.local.context import RunContext, StepResult
from trainguard.pipelines.local.errors import StepFailed
from trainguard.pipelines.local.executors import executor_for
from trainguard.pipelines.local.expressions import Expressions
from trainguard.pipelines.local.graph import Step, StepGraph, build_graph
from trainguard.pipelines.local.store import LocalStore
from trainguard.pipelines.local.workdir import lock_workdir
from trainguard.training.errors import TrainguardError
from trainguard.training.jobs import run_job as default_run_job

__all__ = ["LOCAL_BUILD", "RunOutcome", "StepRecord", "run_definition"]

LOCAL_BUILD = "local-build"
"""``code_sha`` default: the sha256 of the code bundle built from the installed code."""


@dataclass
class StepRecord:
    """How one step went: Succeeded, Failed, Skipped (branch not taken) or NotRun (upstream)."""

    name: str
    type: str
    status: str
    seconds: float = 0.0
    cached: bool = False
    message: str | None = None
    exit_code: int = 0


@dataclass
class RunOutcome:
    """Everything a local execution produced."""

    status: str
    """Succeeded or Failed."""
    execution_id: str
    parameters: dict[str, Any]
    steps: list[StepRecord]
    properties: dict[str, dict[str, Any]]
    property_files: dict[str, dict[str, Any]]
    trials: list[dict[str, Any]] = field(default_factory=list)
    registered: list[dict[str, Any]] = field(default_factory=list)
    failure: str | None = None
    """The first failure's message (a Fail step's message or a failed step's error)."""
    exit_code: int = 0
    """0 when succeeded; a failed step's exit status (2 for bad input), or 1."""

    def step(self, name: str) -> StepRecord:
        """The record of one step by name."""
        for s in self.steps:
            if s.name == name:
                return s
        raise KeyError(name)


def run_definition(definition: Mapping[str, Any] | str | Path, workdir: str | Path, *,
                   parameters: Mapping[str, Any] | None = None,
                   run_job: JobRunner | None = None,
                   registry: Any = None,
                   code_sha: str | None = LOCAL_BUILD,
                   pipeline_name: str = "trainguard-pipeline",
                   use_cache: bool = True,
                   on_event: Callable[..., None] | None = None,
                   seed: int = 0,
                   lineage: Mapping[str, Any] | None = None) -> RunOutcome:
    """Execute a pipeline definition JSON in ``workdir`` (store in ``s3/``, cache in ``cache/``).

    ``run_job`` runs an entry point (default ``trainguard.training.jobs.run_job``); ``registry`` receives
    registrations; ``code_sha`` is the bundle sha256 the definition's code URIs must carry (by
    default the local build's, ``trainguard.pipelines.bundle``; None skips the check).
    DefinitionError / UnsupportedStepError / ConfigError are raised before any step runs; step
    failures are reported in the outcome, never raised.
    """
    if code_sha == LOCAL_BUILD:
        code_sha = build_bundle().sha256
    definition = read_definition(definition)
    graph = build_graph(definition)
    values = resolve_parameters(definition, parameters)
    for step in graph.steps.values():  # everything must be runnable before anything runs
        executor_for(step).check(step)
    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    store = LocalStore(workdir / "s3")
    # Same definition, parameters and input data → same execution id (and cache hits); new
    # data → a new id, so an earlier run's outputs, which registered models point to, stay put.
    inputs = {name: store.digest(v) for name, v in values.items() if isinstance(v, str) and v.startswith("s3://")}
    execution_id = _execution_id(definition, values, inputs)
    arn = f"arn:aws:sagemaker:local:000000000000:pipeline/{pipeline_name}"
    execution = {
        "PipelineExecutionId": execution_id,
        "ExecutionId": execution_id,
        "PipelineExecutionArn": f"{arn}/execution/{execution_id}",
        "PipelineName": pipeline_name,
        "PipelineArn": arn,
        "StartDateTime": "1970-01-01T00:00:00Z",
        "CurrentDateTime": "1970-01-01T00:00:00Z",
    }
    run_job = run_job or default_run_job
    emit = on_event or (lambda event, **data: None)
    ctx = RunContext(workdir=workdir, store=store, expressions=Expressions(values, execution, store.read_json),
                     execution_id=execution_id, run_job=run_job, registry=registry,
                     code_sha=code_sha, emit=emit, seed=seed,
                     lineage={"execution_id": execution_id, "pipeline": pipeline_name,
                              "parameters": dict(values), "code_version": code_sha, **(lineage or {})})
    for step in graph.steps.values():  # a stale code bundle is refused before anything runs
        _check_literal_code(step.spec.get("Arguments"), step.name, ctx)
    cache = StepCache(workdir / "cache", store)
    with lock_workdir(workdir):  # one run per work dir (re-entrant: run_local holds it already)
        return _execute(graph, ctx, cache if use_cache else None, values)


def _execute(graph: StepGraph, ctx: RunContext, cache: StepCache | None,
             values: dict[str, Any]) -> RunOutcome:
    records: dict[str, StepRecord] = {}
    outcomes: dict[str, bool] = {}
    trials: list[dict[str, Any]] = []
    registered: list[dict[str, Any]] = []
    failure: str | None = None
    exit_code = 0
    for name in graph.order:
        step = graph.steps[name]
        blocked = [d for d in sorted(step.depends_on) if records[d].status != "Succeeded"]
        if step.branch_of and step.branch_of[0] not in blocked and outcomes.get(step.branch_of[0]) != step.branch_of[1]:
            records[name] = StepRecord(name, step.type, "Skipped", message="branch not taken")
            ctx.emit("step_end", record=records[name])
            continue
        if blocked:
            upstream = blocked[0]
            status = "Skipped" if records[upstream].status == "Skipped" else "NotRun"
            why = f"upstream step {upstream} {_PHRASE[records[upstream].status]}"
            records[name] = StepRecord(name, step.type, status, message=why)
            ctx.emit("step_end", record=records[name])
            continue
        ctx.emit("step_start", step=name, type=step.type)
        started = time.perf_counter()
        record = StepRecord(name, step.type, "Succeeded")
        try:
            result, record.cached = _run_step(step, ctx, cache)
        except TrainguardError as exc:
            record.status = "Failed"
            record.message = exc.reason if isinstance(exc, StepFailed) else str(exc)
            record.exit_code = exc.exit_code if exc.exit_code != 0 else 1
        else:
            ctx.expressions.steps[name] = result.properties
            if result.property_files:
                ctx.expressions.property_files[name] = result.property_files
            trials.extend(result.trials)
            if result.registered:
                registered.append(result.registered)
            if result.outcome is not None:
                outcomes[name] = result.outcome
            if result.failure is not None:
                record.status = "Failed"
                record.message = result.failure
                record.exit_code = 1
        record.seconds = round(time.perf_counter() - started, 3)
        records[name] = record
        if record.status == "Failed" and failure is None:
            failure, exit_code = f"{name}: {record.message}", record.exit_code
        ctx.emit("step_end", record=record)
    status = "Failed" if failure else "Succeeded"
    return RunOutcome(status=status, execution_id=ctx.execution_id, parameters=values,
                      steps=[records[n] for n in graph.order], properties=dict(ctx.expressions.steps),
                      property_files=dict(ctx.expressions.property_files), trials=trials,
                      registered=registered, failure=failure, exit_code=exit_code)


_PHRASE = {"Failed": "failed", "NotRun": "did not run", "Skipped": "was skipped"}


def _run_step(step: Step, ctx: RunContext, cache: StepCache | None) -> tuple[StepResult, bool]:
    executor = executor_for(step)
    raw = step.spec.get("Arguments") or {}
    args = ctx.expressions.resolve(raw) if executor.resolve_arguments else raw
    cache_cfg = step.spec.get("CacheConfig") or {}
    key = None
    if cache is not None and executor.cacheable and cache_cfg.get("Enabled"):
        digests = {uri: ctx.store.digest(uri) for uri in executor.input_uris(args)}
        key = cache_key(step.type, {"arguments": executor.cache_arguments(args),
                                    "property_files": step.spec.get("PropertyFiles")}, digests)
        entry = cache.lookup(step.name, key, cache_cfg.get("ExpireAfter") or "P30D")
        if entry is not None:
            ctx.emit("cache_hit", step=step.name)
            return StepResult(properties=entry["properties"], property_files=entry["property_files"],
                              output_uris=list(entry["outputs"]), trials=entry.get("trials", [])), True
    result = executor.run(step, args, ctx)
    if key is not None and cache is not None:
        cache.save(step.name, key, {"properties": result.properties, "property_files": result.property_files,
                                    "trials": result.trials}, result.output_uris)
    return result, False


def _check_literal_code(value: Any, step: str, ctx: RunContext) -> None:
    if isinstance(value, Mapping):
        for v in value.values():
            _check_literal_code(v, step, ctx)
    elif isinstance(value, list):
        for v in value:
            _check_literal_code(v, step, ctx)
    elif isinstance(value, str):
        ctx.check_code(step, value.strip('"'))


def _execution_id(definition: Mapping[str, Any], values: Mapping[str, Any], inputs: Mapping[str, str]) -> str:
    blob = json.dumps({"definition": definition, "parameters": values, "inputs": inputs}, sort_keys=True, default=str)
    return "local-" + hashlib.sha256(blob.encode()).hexdigest()[:12]
