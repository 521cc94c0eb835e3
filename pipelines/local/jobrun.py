"""Processing and training jobs run from their (resolved) request arguments, SageMaker style.

A processing job: inputs copied to their LocalPath under the job folder, the command's
``trainguard.training.jobs`` kind and arguments run in-process, each output folder uploaded to its S3Uri
after success. A training job: channels under /opt/ml/input/data, hyperparameters.json, the model
dir tarred to ``<S3OutputPath>/<job name>/output/model.tar.gz``. Both return Describe*-like
properties so later steps' property references resolve.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from trainguard.pipelines.local.container import (
    MetricReader,
    container_path,
    inside,
    job_command,
    tar_model,
    training_env,
    write_hyperparameters,
    write_input_data_config,
)
from trainguard.pipelines.local.context import RunContext, StepResult
from trainguard.pipelines.local.errors import DefinitionError, StepFailed, UnsupportedStepError
from trainguard.training.errors import DataError

CHANNEL_NAME = re.compile(r"[A-Za-z0-9.\-_]+")
"""CreateTrainingJob's ChannelName pattern (botocore's sagemaker model); '.' and '..' are refused too."""

__all__ = [
    "check_processing",
    "check_property_files",
    "check_training",
    "processing_input_uris",
    "run_processing",
    "run_training_job",
    "training_input_uris",
]


def _is_code_input(name: str, local_path: str) -> bool:
    return name == "code" or local_path.rstrip("/").endswith("/input/code")


def check_processing(step: str, args: Mapping[str, Any]) -> None:
    """Refuse, before anything runs, a processing job the local run cannot emulate."""
    app = args.get("AppSpecification") or {}
    job_command(step, app.get("ContainerEntrypoint") or [], app.get("ContainerArguments") or [])
    probe = Path("/")
    for inp in args.get("ProcessingInputs") or []:
        if "S3Input" not in inp:
            raise UnsupportedStepError(
                f"step {step}: processing input {inp.get('InputName')!r} is not an S3 input "
                "(dataset definitions are not emulated locally).")
        if not _is_code_input(inp.get("InputName", ""), str(inp["S3Input"].get("LocalPath", ""))):
            container_path(probe, inp["S3Input"].get("LocalPath"))  # refused here, before any step runs
    for out in (args.get("ProcessingOutputConfig") or {}).get("Outputs") or []:
        container_path(probe, (out.get("S3Output") or {}).get("LocalPath"))


def check_property_files(step: str, property_files: Any) -> None:
    """Refuse property files whose FilePath is absolute or climbs out of its output folder."""
    for pf in property_files if isinstance(property_files, list) else []:
        inside(Path("/"), pf.get("FilePath", "") if isinstance(pf, Mapping) else "",
               f"step {step}: property file {pf.get('PropertyFileName') if isinstance(pf, Mapping) else pf!r}"
               f"'s FilePath {pf.get('FilePath') if isinstance(pf, Mapping) else None!r}")


def processing_input_uris(args: Mapping[str, Any]) -> list[str]:
    """The S3 URIs a processing job reads, code bundle aside (its sha is in the URI)."""
    return [i["S3Input"]["S3Uri"] for i in args.get("ProcessingInputs") or []
            if not _is_code_input(i.get("InputName", ""), i["S3Input"].get("LocalPath", ""))]


def run_processing(step: str, args: Mapping[str, Any], ctx: RunContext,
                   property_files: list[Mapping[str, Any]]) -> StepResult:
    """Run one processing job from its resolved CreateProcessingJob arguments."""
    app = args.get("AppSpecification") or {}
    kind, argv = job_command(step, app.get("ContainerEntrypoint") or [], app.get("ContainerArguments") or [])
    name = ctx.job_name(step)
    root = ctx.job_dir(name)
    for inp in args.get("ProcessingInputs") or []:
        s3 = inp["S3Input"]
        if _is_code_input(inp.get("InputName", ""), s3.get("LocalPath", "")):
            ctx.check_code(step, s3.get("S3Uri"))
            continue
        dest = container_path(root, s3["LocalPath"])
        if ctx.store.download(s3["S3Uri"], dest) == 0:
            raise StepFailed(step, str(DataError(
                f"processing input {inp.get('InputName')!r} at {s3['S3Uri']} holds no objects; "
                "put the data there (or pass --data) and run again.")), 2)
    outputs = (args.get("ProcessingOutputConfig") or {}).get("Outputs") or []
    local_out: dict[str, Path] = {}
    for out in outputs:
        s3 = out.get("S3Output") or {}
        path = container_path(root, s3["LocalPath"])
        path.mkdir(parents=True, exist_ok=True)
        local_out[out["OutputName"]] = path
    env = {"TRAINGUARD_OPT_ML": str(root), "PROCESSING_JOB_NAME": name,
           **{k: str(v) for k, v in (args.get("Environment") or {}).items()}}
    reader = MetricReader([])
    ctx.call_job(step, kind, argv, env, reader, root / "output" / "job.log")
    uris = []
    for out in outputs:
        uri = out["S3Output"]["S3Uri"]
        ctx.store.upload_dir(local_out[out["OutputName"]], uri)
        uris.append(uri)
    files: dict[str, Any] = {}
    for pf in property_files:
        folder = local_out.get(pf["OutputName"])
        if folder is None:
            raise DefinitionError(f"step {step}: property file {pf['PropertyFileName']} names output "
                                  f"{pf['OutputName']!r}, which the job does not have.")
        path = inside(folder, pf["FilePath"], f"step {step}: property file {pf['PropertyFileName']}'s FilePath")
        try:
            files[pf["PropertyFileName"]] = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise StepFailed(step, f"property file {pf['PropertyFileName']} ({pf['FilePath']}) "
                                   f"could not be read as JSON: {exc}") from exc
    props = {**args, "ProcessingJobName": name, "ProcessingJobStatus": "Completed",
             "ProcessingJobArn": f"arn:aws:sagemaker:local:000000000000:processing-job/{name}"}
    return StepResult(properties=props, property_files=files, output_uris=uris)


def _program(hyperparameters: Mapping[str, Any]) -> str:
    return str(hyperparameters.get("sagemaker_program", "")).strip('"')


def check_training(step: str, definition: Mapping[str, Any]) -> None:
    """Refuse a training job that does not run trainguard's train entry point."""
    for ch in definition.get("InputDataConfig") or []:
        name = ch.get("ChannelName") if isinstance(ch, Mapping) else None
        if not isinstance(name, str) or not CHANNEL_NAME.fullmatch(name) or name in (".", ".."):
            raise DefinitionError(f"step {step}: channel name {name!r} is not a SageMaker channel "
                                  "name (letters, digits, '.', '-', '_'; not '.' or '..').")
    spec = definition.get("AlgorithmSpecification") or {}
    hps = definition.get("HyperParameters") or definition.get("StaticHyperParameters") or {}
    entry = spec.get("ContainerEntrypoint") or []
    if entry:
        kind, _ = job_command(step, entry, spec.get("ContainerArguments") or [])
        if kind != "train":
            raise UnsupportedStepError(f"step {step}: a training job must run 'train', not {kind!r}.")
    elif _program(hps) not in ("entry.py", "training/jobs.py"):
        raise UnsupportedStepError(
            f"step {step} runs script {_program(hps) or '(none)'!r}, not trainguard's entry.py; the "
            "local run cannot emulate it.")


def training_input_uris(definition: Mapping[str, Any]) -> list[str]:
    """The S3 URIs of a training job's data channels (the code channel aside)."""
    return [c["DataSource"]["S3DataSource"]["S3Uri"] for c in definition.get("InputDataConfig") or []
            if c.get("ChannelName") != "code"]


def run_training_job(step: str, name: str, definition: Mapping[str, Any],
                     hyperparameters: Mapping[str, Any], ctx: RunContext,
                     reader: MetricReader, on_metric: Callable[..., Any] | None = None) -> dict[str, Any]:
    """Run one training job (also a tuning trial); returns its Describe-like properties."""
    root = ctx.job_dir(name)
    channels: dict[str, Path] = {}
    for ch in definition.get("InputDataConfig") or []:
        uri = ch["DataSource"]["S3DataSource"]["S3Uri"]
        if ch.get("ChannelName") == "code":
            ctx.check_code(step, uri)
            continue
        path = inside(root / "input" / "data", ch["ChannelName"], f"step {step}: channel name")
        if ctx.store.download(uri, path) == 0:
            raise StepFailed(step, str(DataError(
                f"training channel {ch['ChannelName']!r} at {uri} holds no objects.")), 2)
        channels[ch["ChannelName"]] = path
    ctx.check_code(step, str(hyperparameters.get("sagemaker_submit_directory", "")).strip('"'))
    hps = {k: str(v) for k, v in hyperparameters.items()}
    write_hyperparameters(root, hps)
    data_config = write_input_data_config(root, definition.get("InputDataConfig") or [])
    (root / "model").mkdir()
    (root / "output" / "data").mkdir(parents=True)
    env = {**training_env(root, channels, hps, name),
           "SM_INPUT_DATA_CONFIG": json.dumps(data_config, sort_keys=True)}
    # Script mode passes the user's hyperparameters (not sagemaker_*) as --name value.
    argv = [w for k, v in sorted(hps.items()) if not k.startswith("sagemaker_") for w in (f"--{k}", v)]
    ctx.call_job(step, "train", argv, env, reader, root / "output" / "job.log", on_metric)
    out_path = (definition.get("OutputDataConfig") or {}).get("S3OutputPath")
    if not out_path:
        raise DefinitionError(f"step {step}: the training job has no OutputDataConfig.S3OutputPath.")
    model_uri = f"{str(out_path).rstrip('/')}/{name}/output/model.tar.gz"
    tarball = root / "output" / "model.tar.gz"
    tar_model(root / "model", tarball)
    ctx.store.upload_file(tarball, model_uri)
    final = reader.final()
    return {
        "TrainingJobName": name, "TrainingJobStatus": "Completed",
        "TrainingJobArn": f"arn:aws:sagemaker:local:000000000000:training-job/{name}",
        "ModelArtifacts": {"S3ModelArtifacts": model_uri},
        "HyperParameters": hps,
        "FinalMetricDataList": [{"MetricName": k, "Value": v} for k, v in sorted(final.items())],
    }
