"""Reading pipeline definitions: load, parse, walk and resolve; the one ``DefinitionError``.

Lint, the IAM derivation, upsert's diff and the local runner all read the same JSON (ours or any
other pipeline's); this module is how. Nothing here imports the SDK.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

from trainguard.training.errors import ConfigError, TrainguardError

__all__ = [
    "JOB_KINDS",
    "JOB_SETTINGS",
    "MAX_DEPTH",
    "UNKNOWN",
    "DefinitionError",
    "arguments",
    "describe_expression",
    "evaluate",
    "get_path",
    "iter_steps",
    "job_blocks",
    "job_kind",
    "load_definition",
    "nested_step_lists",
    "param_pairs",
    "parameter_value",
    "parse_definition",
    "read_definition",
    "resolve",
    "resolve_parameters",
]

JOB_KINDS = {"Processing": "Processing", "QualityCheck": "Processing",
             "ClarifyCheck": "Processing", "Training": "Training", "Tuning": "Tuning",
             "Transform": "Transform"}
"""Step type -> the kind of job its Arguments create: QualityCheck and ClarifyCheck steps run
their baselining as a processing job, with a CreateProcessingJob request as their Arguments."""


MAX_DEPTH = 100
"""Deepest nesting of objects and lists a definition may have; SageMaker's own are under 20 deep,
and a deeper one is refused with a message instead of exhausting the parser's recursion."""


class DefinitionError(TrainguardError):
    """A definition file cannot be read or is not a pipeline definition (exit status 2)."""


def load_definition(path: str | Path) -> dict[str, Any]:
    """Read a pipeline definition JSON file; DefinitionError (exit 2) names the file when it cannot."""
    p = Path(path)
    try:
        raw = p.read_bytes()
    except OSError as exc:
        raise DefinitionError(
            f"cannot read definition file {p}: {exc.strerror or exc}; pass an existing JSON file "
            "with --definition (e.g. from 'trainguard definition --out FILE')."
        ) from None
    if raw.startswith((b"\xff\xfe", b"\xfe\xff")) or (len(raw) > 1 and (raw[0] == 0 or raw[1] == 0)):
        raise DefinitionError(f"definition file {p} is UTF-16 (or UTF-32) text; JSON definitions are "
                              "UTF-8: convert it (e.g. iconv -f UTF-16 -t UTF-8) and pass it again.")
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise DefinitionError(f"definition file {p} is not UTF-8 text (byte 0x{raw[exc.start]:02x} at "
                              f"offset {exc.start}); save it as UTF-8 JSON and pass it again.") from None
    return parse_definition(text, str(p))


def parse_definition(text: str | Mapping[str, Any], source: str = "the definition") -> dict[str, Any]:
    """Parse and shape-check a definition (JSON text or an already parsed mapping).

    A whole DescribePipeline response is accepted too (its ``PipelineDefinition`` string is
    used), and so is the definition encoded as a JSON string, as ``aws sagemaker
    describe-pipeline --query PipelineDefinition`` prints it.
    """
    if isinstance(text, Mapping):
        data: Any = dict(text)
        _check_depth(data, source)
    else:
        try:
            data = json.loads(text)
            _check_depth(data, source)
        except RecursionError:
            raise DefinitionError(f"{source} is nested too deeply to read; a pipeline definition is "
                                  f"at most {MAX_DEPTH} levels deep.") from None
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


def _check_depth(data: Any, source: str) -> None:
    stack = [(data, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > MAX_DEPTH:
            raise DefinitionError(f"{source} is nested more than {MAX_DEPTH} levels deep; a pipeline "
                                  "definition is far shallower: pass the definition JSON itself.")
        children = node.values() if isinstance(node, dict) else node if isinstance(node, list) else ()
        stack.extend((child, depth + 1) for child in children if isinstance(child, (dict, list)))


def _looks_like_step(item: Any) -> bool:
    return isinstance(item, dict) and "Name" in item and "Type" in item


def nested_step_lists(step: Mapping[str, Any]) -> list[tuple[str, list[Any]]]:
    """(label, list) of every list of steps a container step holds: a Condition's IfSteps and
    ElseSteps, and any other list of step objects anywhere in its Arguments (ForEach, say)."""
    args = step.get("Arguments")
    if step.get("Type") == "Condition" and isinstance(args, dict):
        return [(key, args[key]) for key in ("IfSteps", "ElseSteps") if isinstance(args.get(key), list)]
    found: list[tuple[str, list[Any]]] = []
    stack: list[tuple[str, Any]] = [("Arguments", args)]
    while stack:
        path, node = stack.pop()
        if isinstance(node, list):
            if any(_looks_like_step(item) for item in node):
                found.append((path, node))
                continue
            stack.extend((f"{path}[{i}]", v) for i, v in enumerate(node))
        elif isinstance(node, dict):
            stack.extend((f"{path}.{k}", v) for k, v in node.items())
    return sorted(found, key=lambda pair: pair[0])


def iter_steps(definition: Mapping[str, Any]) -> Iterator[tuple[dict[str, Any], list[str]]]:
    """Every step, depth first, with the names of the container branches it sits in.

    SageMaker nests a Condition step's branches inside it (``IfSteps``/``ElseSteps``), and a
    ForEach its loop body, so a flat look at ``Steps`` would miss them; the path is e.g.
    ``["CheckApproval:if"]`` (``:if``/``:else`` for a Condition, ``:<JSON path>`` otherwise).
    """

    def walk(steps: Any, trail: list[str]) -> Iterator[tuple[dict[str, Any], list[str]]]:
        for step in steps if isinstance(steps, list) else []:
            if not isinstance(step, dict):
                continue
            yield step, trail
            name = str(step.get("Name", "?"))
            for label, inner in nested_step_lists(step):
                tag = {"IfSteps": "if", "ElseSteps": "else"}.get(label, label) \
                    if step.get("Type") == "Condition" else label
                yield from walk(inner, [*trail, f"{name}:{tag}"])

    yield from walk(definition.get("Steps"), [])


def evaluate(value: Any, definition: Mapping[str, Any]) -> Any:
    """Like ``resolve``, and also joins a ``Std:Join`` whose parts are all known; else UNKNOWN."""
    if isinstance(value, dict) and "Std:Join" in value:
        spec = value["Std:Join"]
        if not isinstance(spec, dict) or not isinstance(spec.get("Values"), list):
            return UNKNOWN
        parts = [evaluate(v, definition) for v in spec["Values"]]
        if any(p is UNKNOWN or isinstance(p, (dict, list)) for p in parts):
            return UNKNOWN
        return str(spec.get("On", "")).join(_text(p) for p in parts)
    return resolve(value, definition)


def _text(value: Any) -> str:
    return ("true" if value else "false") if isinstance(value, bool) else str(value)


def describe_expression(value: Any, definition: Mapping[str, Any]) -> str:
    """Why an expression's value cannot be known before a run, in a few words."""
    if isinstance(value, dict):
        ref = value.get("Get")
        if isinstance(ref, str) and ref.startswith("Parameters."):
            name = ref.split(".", 1)[1]
            declared = [p for p in definition.get("Parameters") or []
                        if isinstance(p, dict) and p.get("Name") == name]
            if not declared:
                return f"the undeclared parameter {name}"
            return f"the parameter {name}, which has no default"
        if isinstance(ref, str) and ref.startswith("Steps."):
            return f"a step property ({ref})"
        if isinstance(ref, str):
            return f"a run-time value ({ref})"
        if "Std:Join" in value:
            return "a Std:Join of values known only at run time"
        return f"the expression {next(iter(value), '?')}"
    return f"the value {value!r}"


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


# --------------------------------------------------------------------------------------------
# pipeline parameters: the one check of values given for them (upsert --start, run --local, API)

_PARAM_EXAMPLES = {"String": "any text", "Integer": "a whole number such as 2",
                   "Float": "a number such as 0.8", "Boolean": "true or false"}


def param_pairs(items: Iterable[str]) -> dict[str, str]:
    """``--param NAME=VALUE`` items as a mapping; ConfigError for a malformed or repeated one."""
    out: dict[str, str] = {}
    for item in items:
        name, sep, value = item.partition("=")
        name = name.strip()
        if not sep or not name:
            raise ConfigError(f"--param {item!r} is not NAME=VALUE; e.g. --param MinAuc=0.8.")
        if name in out:
            raise ConfigError(f"--param {name} is given twice ({out[name]!r} and {value!r}); pass it once.")
        out[name] = value
    return out


def resolve_parameters(definition: Mapping[str, Any], overrides: Mapping[str, Any] | None = None,
                       *, defaults: bool = True) -> dict[str, Any]:
    """Typed values of the pipeline's parameters, each checked against its declaration.

    Every override must name a declared parameter and fit its Type and EnumValues (ConfigError).
    With ``defaults`` every declared parameter gets a value (the override, else its
    DefaultValue; ConfigError when it has neither); without, only the overrides are returned.
    """
    declared = {p.get("Name"): p for p in definition.get("Parameters") or [] if isinstance(p, dict)}
    overrides = dict(overrides or {})
    unknown = sorted(str(n) for n in set(overrides) - set(declared))
    if unknown:
        raise ConfigError(f"--param {unknown[0]!r} is not a parameter of the pipeline; known: "
                          f"{', '.join(sorted(str(k) for k in declared)) or 'none'}.")
    values: dict[str, Any] = {}
    for name, p in declared.items():
        if name in overrides:
            values[name] = parameter_value(p, overrides[name])
        elif not defaults:
            continue
        elif "DefaultValue" in p:
            values[name] = parameter_value(p, p["DefaultValue"], given="DefaultValue")
        else:
            raise ConfigError(f"parameter {name!r} has no default; give it a value (--param {name}=...).")
    return values


def parameter_value(param: Mapping[str, Any], value: Any, *, given: str = "--param") -> Any:
    """``value`` as the declared parameter's type, if it is one of its values; ConfigError if not.

    Text is parsed (``"0.8"`` for a Float, ``"true"`` for a Boolean); a Float must be finite.
    ``given`` names where the value came from in the message (``--param`` or ``DefaultValue``).
    """
    name, kind = param.get("Name"), str(param.get("Type", "String"))
    if kind not in _PARAM_EXAMPLES:
        raise DefinitionError(f"parameter {name} has unknown type {kind!r}; pipeline parameters are "
                              f"{', '.join(_PARAM_EXAMPLES)}.")
    try:
        typed = _typed(kind, value)
    except (TypeError, ValueError):
        raise ConfigError(f"{given} {name}={value!r}: {name} is of type {kind}; give "
                          f"{_PARAM_EXAMPLES[kind]}.") from None
    allowed = param.get("EnumValues")
    if allowed and typed not in allowed and str(value) not in [str(a) for a in allowed]:
        raise ConfigError(f"{given} {name}={value!r}: {name} must be one of "
                          f"{', '.join(map(str, allowed))}.")
    return typed


def _typed(kind: str, value: Any) -> Any:
    """``value`` converted to a parameter type; ValueError when it is not of that type."""
    if kind == "String":
        return str(value)
    if isinstance(value, str):
        text = value.strip()
        if kind == "Boolean":
            if text.lower() not in ("true", "false"):
                raise ValueError(value)
            return text.lower() == "true"
        value = int(text) if kind == "Integer" else float(text)
    if not isinstance(value, (int, float, bool)):
        raise ValueError(value)
    if kind == "Boolean":
        return bool(value)
    if kind == "Integer":
        if isinstance(value, float) and not value.is_integer():
            raise ValueError(value)
        return int(value)
    if not math.isfinite(float(value)):
        raise ValueError(value)
    return float(value)
