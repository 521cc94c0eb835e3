"""Rules on model registration: no approval without review, and a reject branch for a failing model."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from trainguard.pipelines.ci.lint.findings import Finding
from trainguard.pipelines.definition import UNKNOWN, arguments, describe_expression, evaluate, iter_steps
from trainguard.training.config import Config

__all__ = ["REGISTER_TYPES", "check_approval", "check_reject_branch"]

REGISTER_TYPES = {"RegisterModel"}


def _approval_status(step: Mapping[str, Any], definition: Mapping[str, Any]) -> Any:
    args = arguments(step)
    return evaluate(args.get("ModelApprovalStatus"), definition) if isinstance(args, dict) else None


def check_approval(step: Mapping[str, Any], definition: Mapping[str, Any],
                   config: Config | None) -> Iterator[Finding]:
    """A registration that approves models without review, unless the config asks for it."""
    status = _approval_status(step, definition)
    raw = arguments(step).get("ModelApprovalStatus")
    if status is UNKNOWN:
        yield Finding("auto-approval", "error", str(step.get("Name", "?")),
                      "Arguments.ModelApprovalStatus",
                      f"ModelApprovalStatus is given by {describe_expression(raw, definition)}, so "
                      "lint cannot prove models are not approved without review; give it as the "
                      "literal PendingManualApproval or a parameter with that default.")
        return
    if status != "Approved":
        return
    if config is not None and config.approval.approval_status == "Approved":
        return
    how = ("a Std:Join spells ModelApprovalStatus as" if isinstance(raw, dict) and "Std:Join" in raw
           else "the ModelApprovalStatus parameter defaults to" if isinstance(raw, dict)
           else "the registration sets ModelApprovalStatus to")
    fix = ("register as PendingManualApproval (approval.approval_status) so a person approves; if "
           "auto-approval is intended, set approval.approval_status=Approved in the config and "
           "lint with --config")
    if config is not None:
        fix = ("set approval.approval_status=Approved in the config if auto-approval is intended; "
               "otherwise register as PendingManualApproval")
    yield Finding("auto-approval", "error", str(step.get("Name", "?")),
                  "Arguments.ModelApprovalStatus",
                  f"{how} 'Approved': models go live without review; {fix}.")


def _is_reject_step(step: Mapping[str, Any], definition: Mapping[str, Any]) -> bool:
    if step.get("Type") == "Fail":
        return True
    return step.get("Type") in REGISTER_TYPES and _approval_status(step, definition) == "Rejected"


def _registers(steps: Any, definition: Mapping[str, Any]) -> bool:
    """True when a branch (recursively) registers a model other than as Rejected."""
    for step in steps if isinstance(steps, list) else []:
        if not isinstance(step, dict):
            continue
        if step.get("Type") in REGISTER_TYPES and not _is_reject_step(step, definition):
            return True
        if step.get("Type") == "Condition":
            args = arguments(step)
            if _registers(args.get("IfSteps"), definition) or \
                    _registers(args.get("ElseSteps"), definition):
                return True
    return False


def check_reject_branch(definition: Mapping[str, Any]) -> Iterator[Finding]:
    """A condition guarding registration needs a reject branch; registering unguarded is a warning."""
    for step, trail in iter_steps(definition):
        name = str(step.get("Name", "?"))
        kind = step.get("Type")
        if kind == "Condition":
            args = arguments(step)
            if not _registers(args.get("IfSteps"), definition):
                continue
            else_steps = [s for s in args.get("ElseSteps") or [] if isinstance(s, dict)]
            if not any(_is_reject_step(s, definition) for s in else_steps):
                yield Finding("reject-branch", "error", name, "Arguments.ElseSteps",
                              "the condition guarding registration has no reject branch: a failing "
                              "model passes silently; add a Fail step and/or a registration with "
                              "ModelApprovalStatus=Rejected to ElseSteps (approval.on_reject).")
        elif kind in REGISTER_TYPES and not trail and not _is_reject_step(step, definition):
            yield Finding("reject-branch", "warning", name, "Type",
                          "the model is registered without a Condition step checking its "
                          "evaluation first; guard registration with a Condition step whose else "
                          "branch fails or registers the model as Rejected.")
