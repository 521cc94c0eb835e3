"""``trainguard run --local`` and ``run_local()``: build the definition, then execute its JSON here.

The definition is built with ``build_pipeline()`` (the only part that imports the SDK; a repeat run
with the same config and code reads it from ``<workdir>/cache/.definitions/`` instead), written to
``<workdir>/definition.json`` and executed by ``trainguard.pipelines.local.run_definition`` against a local
object store, the local registry and the in-process jobs. The champion's bar is read from the
registry first. The work dir receives evaluation.json, the holdout's predictions.csv, the model
artifact and report.html.
Exit status: 0 passed the safeguards, 3 rejected by a safeguard, 2 bad input or config, 1 a job failed.
"""

from __future__ import annotations

import errno
import json
import os
import re
import tarfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from trainguard.pipelines.bundle import build_bundle
from trainguard.pipelines.definition import resolve_parameters
from trainguard.pipelines.local import definition_cache
from trainguard.pipelines.local.store import LocalStore
from trainguard.pipelines.local.workdir import lock_workdir
from trainguard.pipelines.ops.cost import CostEstimate, estimate
from trainguard.pipelines.registry import champion_bar_of, open_registry
from trainguard.pipelines.report import write_report
from trainguard.training.config import Config, load_config
from trainguard.training.data import embedded_dataset, write_csv
from trainguard.training.errors import EXIT_BAD_INPUT, EXIT_FAILED, EXIT_OK, EXIT_REJECTED, ConfigError, DataError
from trainguard.training.files import copy_file, link_or_copy, write_bytes, write_text
from trainguard.training.metrics import METRIC_NAMES
from trainguard.training.predictions import PREDICTIONS_FILE
from trainguard.training.prefetch import prefetch_table

if TYPE_CHECKING:
    from trainguard.pipelines.local.runner import RunOutcome, StepRecord

__all__ = ["DEFAULT_WORKDIR", "EXIT_APPROVED", "EXIT_BAD_INPUT", "EXIT_FAILED", "EXIT_REJECTED",
           "RunResult", "run_local"]

DEFAULT_WORKDIR = "trainguard-run"
DEFINITION_CACHE = Path("cache") / ".definitions"
"""Built definitions, under the work dir; the dot keeps them apart from any step's cache folder."""
EXIT_APPROVED = EXIT_OK
_OUTCOME_WORDS = {"Approved": "passed the safeguards", "Rejected": "rejected by the safeguards",
                  "Failed": "failed"}
"""How a run's outcome is printed: never the registry's word "Approved"."""
_OUTPUTS = ("evaluation.json", "report.html", "model.tar.gz", "model.json", PREDICTIONS_FILE)
STAGED_RECORD = ".staged.json"
"""Under the work dir: the store paths the data staging wrote, the only ones it may remove."""
EMBEDDED_TARGET = "is_eight"
"""The label column of the embedded data set (``trainguard.training.data.embedded_dataset``)."""


@dataclass
class RunResult:
    """What a local run produced; ``exit_code`` is the CLI's exit status."""

    status: str
    """Approved, Rejected or Failed."""
    exit_code: int
    workdir: Path
    definition_path: Path
    outcome: RunOutcome
    evaluation: dict[str, Any] | None = None
    evaluation_path: Path | None = None
    report_path: Path | None = None
    model_path: Path | None = None
    predictions_path: Path | None = None
    """The holdout's predictions (predictions.csv: the ID and time columns, label, probability)."""
    registered: list[dict[str, Any]] = field(default_factory=list)
    champion_bar: float = 0.0
    message: str | None = None
    cost: CostEstimate | None = None
    """What the same execution would cost on SageMaker (``trainguard cost``'s figures)."""

    @property
    def steps(self) -> list[StepRecord]:
        """Per-step records (name, type, status, seconds, cached, message)."""
        return self.outcome.steps

    @property
    def trials(self) -> list[dict[str, Any]]:
        """The tuning trials (name, hyperparameters, objective, status, metrics, seconds)."""
        return self.outcome.trials

    @property
    def approved(self) -> bool:
        """True when the evaluation approved the model and the run succeeded."""
        return self.status == "Approved"

    @property
    def registry_status(self) -> str:
        """What the registry holds for this run's model, e.g. ``PendingManualApproval (g version 3)``."""
        if not self.registered:
            return "not registered"
        return ", ".join(f"{r['status']} ({r['group']} version {r['version']})" for r in self.registered)

    def summary(self) -> str:
        """A short plain-text table: holdout metrics, CV mean±std, decision and reasons, version.

        The first line names the safeguards' outcome in its own words and the registry status
        beside it: "Approved" appears only as a registry status, so a grep for it never mistakes
        a PendingManualApproval package for a deployable one.
        """
        outcome = _OUTCOME_WORDS.get(self.status, self.status.lower())
        lines = [f"trainguard run: {outcome}; registry status: {self.registry_status} "
                 f"(execution {self.outcome.execution_id})"]
        ev = self.evaluation
        if ev:
            bcm = ev.get("binary_classification_metrics", {})
            cv = ev.get("cross_validation", {})
            lines.append(f"  {'metric':<10} {'holdout':>8}   {'cv mean ± std':>17}")
            for name in METRIC_NAMES:
                if name not in bcm:
                    continue
                hold = _num(bcm[name].get("value"))
                c = cv.get(name) if isinstance(cv.get(name), Mapping) else {}
                cvtext = f"{_num(c.get('mean'))} ± {_num(c.get('std'))}" if c else ""
                lines.append(f"  {name:<10} {hold:>8}   {cvtext:>17}")
            gap = (ev.get("overfitting") or {}).get("train_cv_gap")
            if gap is not None:
                lines.append(f"  train-cv AUC gap {_num(gap)}")
            decision = ev.get("decision") or {}
            verdict = "passed" if decision.get("approved") else "rejected"
            lines.append(f"  safeguards: {verdict}")
            lines.extend(f"    - {r}" for r in decision.get("reasons", []))
        for reg in self.registered:
            lines.append(f"  registered: {reg['group']} version {reg['version']} ({reg['status']})")
        if not self.registered:
            lines.append("  registered: nothing")
        if self.message and self.status == "Failed":
            lines.append(f"  failure: {self.message}")
        lines.append(f"  outputs in {self.workdir}")
        return "\n".join(lines)


def run_local(config: Config | str | Path | Mapping[str, Any] | None = None, *,
              data: str | Path | None = None, target: str | None = None,
              workdir: str | Path = DEFAULT_WORKDIR, registry: str | Path | None = None,
              overrides: Mapping[str, Any] | None = None,
              parameters: Mapping[str, Any] | None = None,
              use_cache: bool = True,
              on_event: Callable[..., None] | None = None) -> RunResult:
    """Build the pipeline for ``config`` and execute its definition JSON locally.

    ``data`` is a CSV/Parquet file (default: ``data.uri`` if local, else the embedded data set)
    and ``target`` its label column; ``overrides`` are dotted config keys; ``parameters`` override
    pipeline parameters (``ChampionBar`` given here wins over the registry's champion). Raises
    ConfigError/DataError for bad input found before the run; failures inside the run are in
    the result (``status``, ``exit_code``, ``message``).
    """
    merged = dict(overrides or {})
    if target is not None:
        merged["data.target"] = target
    cfg = load_config(config, merged)
    data_file = _data_file(cfg, data)
    if data_file is None:
        return _run_local(cfg, None, workdir, registry, parameters, use_cache, on_event)
    # the preprocess job's parse of this file, started now: it overlaps this process's start-up
    forget = prefetch_table(data_file, cfg.data.target, cfg.data.positive_label, roles=cfg.data)
    try:
        return _run_local(cfg, data_file, workdir, registry, parameters, use_cache, on_event)
    finally:
        forget()  # a table the run did not use (it failed first) is not kept


def _run_local(cfg: Config, data_file: Path | None, workdir: str | Path, registry: str | Path | None,
               parameters: Mapping[str, Any] | None, use_cache: bool,
               on_event: Callable[..., None] | None) -> RunResult:
    """``run_local`` once the config is loaded and the data file known (None: the embedded set)."""
    if data_file is not None:
        _check_roles(data_file, cfg)
    reg = open_registry(registry if registry is not None else cfg.registry.local_path)
    params, bar = _with_champion_bar(reg, cfg, parameters, on_event)
    definitions = Path(workdir) / DEFINITION_CACHE
    text, key, cached = definition_cache.load_or_build(cfg, definitions)  # a miss imports the SDK
    definition = json.loads(text)
    resolve_parameters(definition, params)  # bad input found here leaves the work dir as it was
    cost = estimate(definition, region=cfg.aws.region, params=params, cost=cfg.cost)
    if on_event is not None:  # the plan: what this execution would cost on SageMaker
        on_event("plan_cost", estimate=cost)
    workdir = _make_workdir(Path(workdir))
    with lock_workdir(workdir):  # one run per work dir; a second is refused naming the holder
        staging = _staging_of(workdir, definition, params, data_file)  # refused before any change
        if not cached:
            definition_cache.store(definitions, key, text)
        definition_path = _fresh_outputs(workdir, text, staging, data_file)
        outcome = _execute(definition, workdir, params, reg, cfg, data_file, staging, use_cache, on_event)
        result = _collect(outcome, cfg, workdir, definition_path, float(bar))
        result.cost = cost
        return result


def _with_champion_bar(reg: Any, cfg: Config, parameters: Mapping[str, Any] | None,
                       on_event: Callable[..., None] | None) -> tuple[dict[str, Any], Any]:
    """(parameters, bar): ChampionBar from the registry's champion unless the caller gave one."""
    params = dict(parameters or {})
    bar = params.get("ChampionBar")
    if bar is None:
        found = champion_bar_of(reg, cfg)
        params["ChampionBar"] = bar = found.value
        if found.note and on_event is not None:
            on_event("note", message=found.note)
    return params, bar


def _staging_of(workdir: Path, definition: Mapping[str, Any], params: Mapping[str, Any],
                data_file: Path | None) -> _Staging | None:
    """Where the user's data goes under InputDataUri's location (None without that parameter)."""
    declared = {p["Name"]: p for p in definition.get("Parameters", [])}
    if "InputDataUri" not in declared:
        return None
    uri = str(params.get("InputDataUri", declared["InputDataUri"].get("DefaultValue", "")))
    return _plan_staging(workdir, uri, data_file)


def _fresh_outputs(workdir: Path, text: str, staging: _Staging | None, data_file: Path | None) -> Path:
    """Clear an earlier run's evidence, write this run's definition, stage the data; the definition's path."""
    for name in _OUTPUTS:  # stale evidence from an earlier run must not survive this one
        (workdir / name).unlink(missing_ok=True)
    definition_path = workdir / "definition.json"
    write_text(definition_path, text)
    if staging is not None:
        _stage_data(workdir, staging, data_file)
    return definition_path


def _execute(definition: Mapping[str, Any], workdir: Path, params: Mapping[str, Any], reg: Any,
             cfg: Config, data_file: Path | None, staging: _Staging | None, use_cache: bool,
             on_event: Callable[..., None] | None) -> RunOutcome:
    """Run the definition; messages name the user's data file, not the staged copy."""
    from trainguard.pipelines.local.runner import run_definition

    bundle = build_bundle()
    user_paths = _UserPaths(data_file, staging.target.name if staging is not None else None)
    outcome = run_definition(definition, workdir, parameters=params, registry=reg,
                             code_sha=bundle.sha256, pipeline_name=cfg.aws.pipeline_name,
                             use_cache=use_cache, on_event=user_paths.events(on_event), seed=cfg.seed,
                             lineage={"data": str(data_file.resolve()) if data_file else "embedded digits"})
    outcome.failure = user_paths(outcome.failure)
    for record in outcome.steps:
        record.message = user_paths(record.message)
    return outcome


def _check_roles(data_file: Path, cfg: Config) -> None:
    """The config's column roles against the table's header, before anything runs: a DataError
    naming every column the config names that the table does not have (only the header is read)."""
    from trainguard.training.columns import plan_columns
    from trainguard.training.monitor.read import read_header

    d = cfg.data
    if not (d.features or d.exclude or d.id or d.timestamp or d.categorical):
        return
    problems: list[str] = []
    plan_columns(read_header(data_file), d, problems)
    if problems:
        raise DataError(problems, str(data_file))


def _data_file(cfg: Config, data: str | Path | None) -> Path | None:
    source = data if data is not None else (cfg.data.uri if cfg.data.uri and "://" not in cfg.data.uri else None)
    if source is None:
        if cfg.data.uri and cfg.data.uri.startswith("s3://"):
            raise ConfigError(f"data.uri is {cfg.data.uri}, an S3 URI the local run cannot read; pass "
                              "the file with --data PATH (and --target COLUMN).")
        if cfg.data.target != EMBEDDED_TARGET:
            raise ConfigError(f"data.target is {cfg.data.target!r} but no data was given; the embedded "
                              f"data set's label is {EMBEDDED_TARGET!r}. Pass --data PATH with --target.")
        return None
    path = Path(source)
    try:
        path.stat()
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise DataError(f"data file {path} is a loop of symbolic links; point --data at the file "
                            "itself.") from None
        if path.is_symlink():
            raise DataError(f"data file {path} is a symbolic link to {os.readlink(path)}, which does not "
                            "exist; pass an existing CSV or Parquet file with --data.") from None
        if exc.errno != errno.ENOENT:
            raise DataError(f"cannot read data file {path}: {exc.strerror}; pass a readable CSV or "
                            "Parquet file with --data.") from None
    if path.is_dir():
        raise DataError(f"data path {path} is a folder; pass one CSV or Parquet file with --data.")
    if not path.is_file():
        raise DataError(f"data file {path} does not exist; pass an existing CSV or Parquet file with --data.")
    if path.suffix.lower() not in (".csv", ".parquet", ".pq"):
        raise DataError(f"data file {path} is neither .csv nor .parquet; convert it or rename it.")
    return path


class _UserPaths:
    """Rewrites the container path of the staged data (``/opt/ml/processing/input/.../X.csv``) in
    messages to the file the user gave, so a bad-data message names a file they can open."""

    def __init__(self, data_file: Path | None, staged_name: str | None) -> None:
        self.data_file, self.pattern = data_file, None
        if data_file is not None and staged_name:
            self.pattern = re.compile(r"/opt/ml/processing/input/(?:[\w.-]+/)*" + re.escape(staged_name) + r"\b")

    def __call__(self, text: str | None) -> str | None:
        if not text or self.pattern is None:
            return text
        return self.pattern.sub(lambda _m: str(self.data_file), text)

    def events(self, on_event: Callable[..., None] | None) -> Callable[..., None] | None:
        """``on_event`` with step records' messages rewritten before anyone prints them."""
        if on_event is None or self.pattern is None:
            return on_event

        def forward(event: str, **data: Any) -> None:
            record = data.get("record")
            if record is not None and getattr(record, "message", None):
                record.message = self(record.message)
            if isinstance(data.get("message"), str):
                data["message"] = self(data["message"])
            on_event(event, **data)

        return forward


def _make_workdir(workdir: Path) -> Path:
    """The work dir, created if needed; ConfigError when it cannot be (a file, no permission)."""
    if workdir.exists() and not workdir.is_dir():
        raise ConfigError(f"work dir {workdir} is a file; pass a folder with --workdir.")
    try:
        workdir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(f"cannot create the work dir {workdir}: {exc.strerror}; pass a writable "
                          "folder with --workdir.") from None
    return workdir


@dataclass
class _Staging:
    """Where the data goes in the local store, and which earlier staged files to remove first."""

    target: Path
    stale: list[Path]


def _staged_record(workdir: Path) -> set[str]:
    """Store-relative paths that staging itself wrote (only these may ever be removed by it)."""
    try:
        names = json.loads((workdir / STAGED_RECORD).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return set()
    return {n for n in names if isinstance(n, str)} if isinstance(names, list) else set()


def _plan_staging(workdir: Path, uri: str, data_file: Path | None) -> _Staging:
    """Where the data goes for InputDataUri; ConfigError when that would touch an object staging
    did not write (an earlier run's model artifacts under a prefix above the data, say)."""
    store = LocalStore(workdir / "s3")
    name = data_file.name if data_file else "data.csv"
    is_object = uri.rsplit("/", 1)[-1].lower().endswith((".csv", ".parquet", ".pq"))
    base = store.path(uri)
    target = base if is_object else store.path(uri.rstrip("/") + "/" + name)
    ours = _staged_record(workdir)

    def rel(path: Path) -> str:
        return path.relative_to(store.root).as_posix()

    present = [p for p in base.rglob("*") if p.is_file() or p.is_symlink()] if base.is_dir() else []
    if is_object and (target.exists() or target.is_symlink()):
        present = [target] if not target.is_dir() else present
    foreign = [p for p in present if rel(p) not in ours]
    if foreign:
        raise ConfigError(
            f"InputDataUri {uri} already holds {len(foreign)} object(s) the local run did not stage "
            f"there (e.g. s3://{rel(foreign[0])}); staging the data would replace or mix with them. "
            "Give InputDataUri a prefix of its own (the default is one).")
    return _Staging(target=target, stale=[p for p in present if p != target])


def _stage_data(workdir: Path, staging: _Staging, data_file: Path | None) -> None:
    """Put the data at InputDataUri (the given file, or the embedded data set as CSV), removing
    only files an earlier staging wrote there, and record what was staged."""
    ours = _staged_record(workdir)
    root = workdir / "s3"
    for path in staging.stale:  # each was checked against the record by _plan_staging
        path.unlink(missing_ok=True)
        ours.discard(path.relative_to(root).as_posix())
    staging.target.parent.mkdir(parents=True, exist_ok=True)
    ours.add(staging.target.relative_to(root).as_posix())
    write_text(workdir / STAGED_RECORD, json.dumps(sorted(ours), indent=1) + "\n")  # before the file
    if data_file is not None:
        link_or_copy(data_file, staging.target)  # the user's file is only ever read
    else:
        write_csv(embedded_dataset(), staging.target)


def _collect(outcome: RunOutcome, cfg: Config, workdir: Path, definition_path: Path, bar: float) -> RunResult:
    result = RunResult(status="Failed", exit_code=outcome.exit_code or EXIT_FAILED, workdir=workdir,
                       definition_path=definition_path, outcome=outcome,
                       registered=list(outcome.registered), champion_bar=bar, message=outcome.failure)
    evaluation = next((files["EvaluationReport"] for files in outcome.property_files.values()
                       if "EvaluationReport" in files), None)
    bad_input = outcome.exit_code == EXIT_BAD_INPUT
    if evaluation is not None and not bad_input:
        result.evaluation = evaluation
        result.evaluation_path = workdir / "evaluation.json"
        write_text(result.evaluation_path, json.dumps(evaluation, indent=2, sort_keys=True) + "\n")
        result.model_path = _copy_model(outcome, workdir)
        result.predictions_path = _copy_predictions(outcome, workdir)
        result.report_path = write_report(workdir / "report.html", evaluation, _report_trials(outcome.trials),
                                          run_info={"registry_status": result.registry_status,
                                                    "pipeline": cfg.aws.pipeline_name,
                                                    "execution": outcome.execution_id,
                                                    "champion_bar": bar})
        approved = bool((evaluation.get("decision") or {}).get("approved"))
        condition = next((p["Outcome"] for p in outcome.properties.values() if "Outcome" in p), approved)
        if approved and condition and outcome.status == "Succeeded":
            result.status, result.exit_code = "Approved", EXIT_APPROVED
        elif not (approved and condition) and outcome.exit_code in (0, 1) and _only_rejection_failed(outcome):
            result.status, result.exit_code = "Rejected", EXIT_REJECTED
    return result


def _only_rejection_failed(outcome: RunOutcome) -> bool:
    """True when every failed step is a Fail step (the reject branch), not a job."""
    return all(s.type == "Fail" for s in outcome.steps if s.status == "Failed")


def _copy_model(outcome: RunOutcome, workdir: Path) -> Path | None:
    uri = None
    for props in outcome.properties.values():
        best = props.get("BestTrainingJob")
        if best:
            name = best["TrainingJobName"]
            uri = next((t.get("model_uri") for t in outcome.trials if t["name"] == name), None)
        elif "ModelArtifacts" in props:
            uri = props["ModelArtifacts"]["S3ModelArtifacts"]
    if not uri:
        return None
    src = LocalStore(workdir / "s3").path(uri)
    if not src.is_file():
        return None
    dest = workdir / "model.tar.gz"
    copy_file(src, dest)
    with tarfile.open(dest, "r:gz") as tar:
        member = next((m for m in tar.getmembers() if m.name == "model.json" and m.isfile()), None)
        if member is not None:
            fh = tar.extractfile(member)
            if fh is not None:
                write_bytes(workdir / "model.json", fh.read())
    return dest


def _copy_predictions(outcome: RunOutcome, workdir: Path) -> Path | None:
    """The evaluate job's predictions.csv (beside its evaluation.json) into the work dir."""
    step = next((name for name, files in outcome.property_files.items() if "EvaluationReport" in files), None)
    outputs = ((outcome.properties.get(step) or {}).get("ProcessingOutputConfig") or {}).get("Outputs") or []
    uri = next(((o.get("S3Output") or {}).get("S3Uri") for o in outputs if o.get("OutputName") == "evaluation"), None)
    src = LocalStore(workdir / "s3").path(f"{str(uri).rstrip('/')}/{PREDICTIONS_FILE}") if uri else None
    if src is None or not src.is_file():
        return None
    dest = workdir / PREDICTIONS_FILE
    copy_file(src, dest)
    return dest


def _report_trials(trials: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    return [{"number": t["number"], "params": t["hyperparameters"], "score": t.get("objective"),
             "stopped_early": t["status"] == "Stopped", "status": t["status"], "name": t["name"]}
            for t in trials]


def _num(value: Any) -> str:
    return f"{value:.4f}" if isinstance(value, (int, float)) else "n/a"
