"""Reading pipeline definitions: load, parse, walk and resolve; the one ``DefinitionError``.

Lint, the IAM derivation, upsert's diff and the local runner all read the same JSON (ours or any
other pipeline's); this module is how. Nothing here imports the SDK.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from trainguard.training.errors import TrainguardError

__all__ = [
    "JOB_KINDS",
    "JOB_SETTINGS",
    "UNKNOWN",
    "DefinitionError",
    "arguments",
    "get_path",
    "iter_steps",
    "job_blocks",
    "job_kind",
    "load_definition",
    "parse_definition",
    "read_definition",
    "resolve",
]

JOB_KINDS = {"Processing": "Processing", "QualityCheck": "Processing",
             "ClarifyCheck": "Processing", "Training": "Training", "Tuning": "Tuning",
             "Transform": "Transform"}
"""Step type -> the kind of job its Arguments create: QualityCheck and ClarifyCheck steps run
their baselining as a processing job, with a CreateProcessingJob request as their Arguments."""


class DefinitionError(TrainguardError):
    """A definition file cannot be read or is not a pipeline definition (exit status 2)."""


def load_definition(path: str | Path) -> dict[str, Any]:
    """Read a pipeline definition JSON file; DefinitionError (exit 2) names the file when it cannot."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as exc:
        raise DefinitionError(
            f"cannot read definition file {p}: {exc.strerror or exc}; pass an existing JSON file "
            "with --definition (e.g. from 'trainguard definition --out FILE')."
        ) from None
    return parse_definition(text, str(p))


def parse_definition(text: str | Mapping[str, Any], source: str = "the definition") -> dict[str, Any]:
    """Parse and shape-check a definition (JSON text or an already parsed mapping).

    A whole DescribePipeline response is accepted too (its ``PipelineDefinition`` string is
    used), and so is the definition encoded as a JSON string, as ``aws sagemaker
    describe-pipeline --query PipelineDefinition`` prints it.
    """
    if isinstance(text, Mapping):
        data: Any = dict(text)
    else:
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise DefinitionError(
                f"{source} is not valid JSON ({exc.msg} at line {exc.lineno}, column {exc.colno}); "
                "pass the pipeline definition JSON that SageMaker's DescribePipeline or "
                "'trainguard definition' returns."
            ) from None
    if isinstance(data, dict) and "Steps" not in data \
            and isinstance(data.get("PipelineDefinition"), str):
        # the whole DescribePipeline response (aws sagemaker describe-pipeline without --query)
        return parse_definition(data["PipelineDefinition"], f"{source}'s PipelineDefinition")
    if isinstance(data, str) and data.lstrip().startswith("{"):
        # `--query PipelineDefinition` with the CLI's default JSON output: the definition as a
        # JSON string
        return parse_definition(data, source)
    if not isinstance(data, dict) or not isinstance(data.get("Steps"), list):
        raise DefinitionError(
            f"{source} is not a SageMaker pipeline definition: expected a JSON object with a "
            "'Steps' list (as in DescribePipeline's PipelineDefinition)."
        )
    return data


def iter_steps(definition: Mapping[str, Any]) -> Iterator[tuple[dict[str, Any], list[str]]]:
    """Every step, depth first, with the names of the Condition branches it sits in.

    SageMaker nests a Condition step's branches inside it (``IfSteps``/``ElseSteps``), so a flat
    look at ``Steps`` would miss the registration steps; the path is e.g. ``["CheckApproval:if"]``.
    """

    def walk(steps: Any, trail: list[str]) -> Iterator[tuple[dict[str, Any], list[str]]]:
        for step in steps if isinstance(steps, list) else []:
            if not isinstance(step, dict):
                continue
            yield step, trail
            if step.get("Type") == "Condition":
                args = arguments(step)
                name = str(step.get("Name", "?"))
                yield from walk(args.get("IfSteps"), [*trail, f"{name}:if"])
                yield from walk(args.get("ElseSteps"), [*trail, f"{name}:else"])

    yield from walk(definition.get("Steps"), [])


def resolve(value: Any, definition: Mapping[str, Any]) -> Any:
    """The literal a setting takes: itself, or a referenced pipeline parameter's default value.

    Returns ``UNKNOWN`` for expressions that cannot be known before a run (step properties, joins).
    """
    if isinstance(value, dict):
        ref = value.get("Get")
        if isinstance(ref, str) and ref.startswith("Parameters."):
            name = ref.split(".", 1)[1]
            for p in definition.get("Parameters") or []:
                if isinstance(p, dict) and p.get("Name") == name:
                    return p.get("DefaultValue", UNKNOWN)
        return UNKNOWN
    return value


class _Unknown:
    def __repr__(self) -> str:
        return "<unknown until run time>"


UNKNOWN: Any = _Unknown()
"""What ``resolve`` returns for a value that cannot be known before a run."""


def arguments(step: Mapping[str, Any]) -> dict[str, Any]:
    """A step's ``Arguments`` as a dict ({} when missing or not an object)."""
    args = step.get("Arguments")
    return args if isinstance(args, dict) else {}


def get_path(node: Any, path: str) -> Any:
    """The value at a dotted path in nested dicts, or None where the path stops."""
    for part in path.split("."):
        if not isinstance(node, dict) or part not in node:
            return None
        node = node[part]
    return node


def job_kind(step: Mapping[str, Any]) -> str | None:
    """The kind of job a step creates (a key of JOB_SETTINGS, or Tuning); None for other steps."""
    return JOB_KINDS.get(str(step.get("Type")))


def job_blocks(step: Mapping[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """(path prefix, request dict) of each job a step launches; a tuner has one per definition."""
    args = step.get("Arguments")
    if not isinstance(args, dict):
        return []
    kind = job_kind(step)
    if kind == "Tuning":
        out: list[tuple[str, dict[str, Any]]] = []
        if isinstance(args.get("TrainingJobDefinition"), dict):
            out.append(("Arguments.TrainingJobDefinition", args["TrainingJobDefinition"]))
        for i, d in enumerate(args.get("TrainingJobDefinitions") or []):
            if isinstance(d, dict):
                out.append((f"Arguments.TrainingJobDefinitions[{i}]", d))
        return out
    if kind in ("Processing", "Training", "Transform"):
        return [("Arguments", args)]
    return []


# per job kind: where each safeguard setting sits in its create-job request (None: not applicable)
JOB_SETTINGS: dict[str, dict[str, str | None]] = {
    "Processing": {
        "volume": "ProcessingResources.ClusterConfig.VolumeKmsKeyId",
        "output": "ProcessingOutputConfig.KmsKeyId",
        "vpc": "NetworkConfig.VpcConfig",
        "isolation": "NetworkConfig.EnableNetworkIsolation",
        "ice": "NetworkConfig.EnableInterContainerTrafficEncryption",
        "runtime": "StoppingCondition.MaxRuntimeInSeconds",
    },
    "Training": {
        "volume": "ResourceConfig.VolumeKmsKeyId",
        "output": "OutputDataConfig.KmsKeyId",
        "vpc": "VpcConfig",
        "isolation": "EnableNetworkIsolation",
        "ice": "EnableInterContainerTrafficEncryption",
        "runtime": "StoppingCondition.MaxRuntimeInSeconds",
    },
    "Transform": {
        "volume": "TransformResources.VolumeKmsKeyId",
        "output": "TransformOutput.KmsKeyId",
        "vpc": None,
        "isolation": None,
        "ice": None,
        "runtime": None,
    },
}


def read_definition(source: Mapping[str, Any] | str | Path) -> dict[str, Any]:
    """A definition from a mapping, a JSON text or a path to a JSON file (the Python API's input)."""
    if isinstance(source, Mapping):
        return parse_definition(source)
    text = str(source)
    if isinstance(source, Path) or not text.lstrip().startswith("{"):
        return load_definition(source)
    return parse_definition(text)
