"""A definition's settings as they will be at a start: parameters from their defaults and the
``--param`` overrides, literals as written, run-time expressions ``UNRESOLVED``."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from trainguard.pipelines.definition import resolve_parameters

__all__ = ["UNRESOLVED", "int_of", "job_attempts", "parameter_values", "str_of", "value_of"]

UNRESOLVED = object()


def parameter_values(definition: Mapping[str, Any], overrides: Mapping[str, Any] | None) -> dict[str, Any]:
    """Every declared parameter's value at a start: the override (checked and typed by
    ``definition.resolve_parameters``), else its DefaultValue, else ``UNRESOLVED``."""
    declared = {p.get("Name"): p for p in definition.get("Parameters") or [] if isinstance(p, dict)}
    values = {name: p.get("DefaultValue", UNRESOLVED) for name, p in declared.items()}
    values.update(resolve_parameters(definition, overrides, defaults=False))
    return values


def value_of(node: Any, params: Mapping[str, Any]) -> Any:
    """A literal, or a parameter's resolved value; UNRESOLVED for run-time expressions."""
    if isinstance(node, dict):
        ref = node.get("Get")
        if isinstance(ref, str) and ref.startswith("Parameters."):
            return params.get(ref.split(".", 1)[1], UNRESOLVED)
        return UNRESOLVED
    return node


def int_of(node: Any, params: Mapping[str, Any]) -> int | None:
    """A setting as a whole number, None when it is not one or not known before the run."""
    v = value_of(node, params)
    if isinstance(v, bool) or v is UNRESOLVED or v is None:
        return None
    try:
        return int(v)
    except (TypeError, ValueError):
        return None


def str_of(node: Any, params: Mapping[str, Any]) -> str | None:
    """A setting as non-empty text, None when it is not text or not known before the run."""
    v = value_of(node, params)
    return v if isinstance(v, str) and v else None


def job_attempts(step: Mapping[str, Any], kind: str, params: Mapping[str, Any]) -> int | None:
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
        tries = int_of(policy.get("MaxAttempts"), params)
        if tries is None:
            return None
        most = max(most, tries)
    return 1 + most
