"""The string-typed fields rule: only strings (or Std:Join) where CreatePipeline wants strings."""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from typing import Any

from trainguard.pipelines.ci.lint.findings import Finding
from trainguard.pipelines.ci.lint.walk import named_lists, named_maps
from trainguard.pipelines.definition import arguments, iter_steps

__all__ = ["STRING_LISTS", "check_string_fields"]

STRING_LISTS = ("ContainerArguments", "ContainerEntrypoint")
_STRING_EXECUTION_VARIABLES = {"PipelineExecutionId", "PipelineExecutionArn", "PipelineName",
                               "PipelineArn"}
_DESCRIBE_OUTPUT = {"Processing": "DescribeProcessingJob", "Training": "DescribeTrainingJob",
                    "Tuning": "DescribeHyperParameterTuningJob", "Transform": "DescribeTransformJob",
                    "RegisterModel": "DescribeModelPackage", "Model": "DescribeModel",
                    "CreateModel": "DescribeModel"}
_PATH_TOKEN = re.compile(r"\.?([A-Za-z_][A-Za-z0-9_]*)|\[(\d+)\]|\[['\"]([^'\"]+)['\"]\]")


def _property_type(reference: str, definition: Mapping[str, Any]) -> str | None:
    """The botocore type name of ``Steps.<step>.<path>`` (e.g. 'string', 'float'); None if unknown."""
    parts = [next(g for g in m.groups() if g is not None) for m in _PATH_TOKEN.finditer(reference)]
    if len(parts) < 3:
        return None
    step = next((s for s, _ in iter_steps(definition) if s.get("Name") == parts[1]), None)
    operation = _DESCRIBE_OUTPUT.get(str(step.get("Type"))) if step else None
    if operation is None:
        return None
    import botocore.session

    model = botocore.session.get_session().get_service_model("sagemaker")
    shape: Any = model.operation_model(operation).output_shape
    for part in parts[2:]:
        if shape.type_name == "structure" and part in shape.members:
            shape = shape.members[part]
        elif shape.type_name == "list":
            shape = shape.member
        elif shape.type_name == "map":
            shape = shape.value
        else:
            return None
    return shape.type_name


def _non_string(value: Any, definition: Mapping[str, Any]) -> str | None:
    """Why ``value`` is not (provably) a string in a string-typed field; None when it is one."""
    if isinstance(value, str):
        return None
    if not isinstance(value, dict):
        return f"the literal {value!r} is a {type(value).__name__}, not a string"
    if set(value) == {"Std:Join"}:
        return None
    ref = value.get("Get") if len(value) == 1 else None
    if not isinstance(ref, str):
        kind = next(iter(value), "?") if len(value) == 1 else "expression"
        return f"a {kind} expression, whose value is not known to be a string"
    root, _, rest = ref.partition(".")
    if root == "Parameters":
        declared = {p.get("Name"): p.get("Type", "String") for p in definition.get("Parameters") or []
                    if isinstance(p, dict)}
        if rest not in declared:
            return f"Get {ref} refers to an undeclared parameter"
        return None if declared[rest] == "String" else f"a {declared[rest]} parameter (Get {ref})"
    if root == "Execution":
        return None if rest in _STRING_EXECUTION_VARIABLES else f"the execution variable {ref}"
    if root == "Steps":
        kind = _property_type(ref, definition)
        if kind == "string":
            return None
        return f"the step property {ref} ({kind or 'type unknown'})"
    return f"Get {ref}, an unknown reference"


def check_string_fields(step: Mapping[str, Any], definition: Mapping[str, Any]) -> Iterator[Finding]:
    """Only strings (or Std:Join) in string-typed fields: CreatePipeline refuses the rest.

    The service answers "Cannot assign property reference [...] to argument of type [String]"
    for a Float/Integer/Boolean parameter there; moto and local runs accept it, so only lint
    catches it before a deploy.
    """
    name = str(step.get("Name", "?"))
    args = arguments(step)
    fix = ("pass it through to_string() (a Std:Join of the one value: "
           '{"Std:Join": {"On": "", "Values": [...]}}), which the service accepts')
    items: list[tuple[str, Any]] = []
    for field in STRING_LISTS:
        for path, values in named_lists(args, "Arguments", field):
            items += [(f"{path}[{i}]", v) for i, v in enumerate(values)]
    for path, mapping in named_maps(args, "Arguments"):
        items += [(f"{path}.{k}", v) for k, v in mapping.items()]
    for path, value in items:
        why = _non_string(value, definition)
        if why:
            yield Finding("string-field", "error", name, path,
                          f"{why} in a string-typed field: CreatePipeline refuses it (\"Cannot "
                          f"assign property reference ... to argument of type [String]\"); {fix}.")
