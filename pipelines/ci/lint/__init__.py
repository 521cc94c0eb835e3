"""``trainguard lint``: safeguard policy checks on a SageMaker pipeline definition JSON.

Works on the raw definition alone (ours or any other pipeline's), so CI can gate any pipeline:
encryption at rest, VPC, network isolation, inter-container encryption, a runtime ceiling on every
job, no plaintext secrets, no unconditional auto-approval, a reject branch, caching only where it
is deterministic, no placeholder security values, only strings in string-typed fields, no volume
KMS key on instance-storage types, and one instance for trainguard's train job; and the cost caps
of ``trainguard.pipelines.ops.cost`` (runtime per job kind, instance types, GPUs, counts, tuning
budgets, spot, cost-allocation tags). Error findings exit 1; warnings exit 0.

One module per concern: ``findings`` (the Finding), ``jobs`` (what every job must carry),
``secrets``, ``approval``, ``steps`` (shapes, tags, caching, egress) and ``strings``; a new rule
goes in the module of its concern and is called from ``lint_definition`` here.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from trainguard.pipelines.ci.lint.approval import REGISTER_TYPES, check_approval, check_reject_branch
from trainguard.pipelines.ci.lint.findings import Finding, Severity, format_findings
from trainguard.pipelines.ci.lint.jobs import MAX_TRAINING_RUNTIME_SECONDS, check_instances, check_job
from trainguard.pipelines.ci.lint.secrets import check_parameter_secrets, check_placeholders, check_secrets
from trainguard.pipelines.ci.lint.steps import check_cache, check_egress, check_step_lists, check_tags
from trainguard.pipelines.ci.lint.strings import check_string_fields
from trainguard.pipelines.definition import iter_steps, job_blocks, job_kind, parse_definition
from trainguard.training.config import Config, CostConfig

__all__ = ["MAX_TRAINING_RUNTIME_SECONDS", "Finding", "Severity", "format_findings", "lint_definition"]


def lint_definition(definition: Mapping[str, Any] | str, config: Config | None = None,
                    cost: CostConfig | None = None) -> list[Finding]:
    """Check a pipeline definition (dict or JSON text) against every safeguard rule, errors first.

    ``config`` (when the definition was built from one) only widens what is allowed on purpose:
    auto-approval when ``approval.approval_status`` is Approved. The cost caps come from ``cost``,
    else ``config.cost``, else the defaults. Raises DefinitionError when the input is not a
    pipeline definition.
    """
    from trainguard.pipelines.ops.cost_caps import cost_findings  # it builds on lint's Finding

    definition = parse_definition(definition)
    findings: list[Finding] = list(check_step_lists(definition))
    findings.extend(check_parameter_secrets(definition))
    for step, _trail in iter_steps(definition):
        name = str(step.get("Name", "?"))
        kind = step.get("Type")
        blocks = list(job_blocks(step))
        for prefix, job in blocks:
            findings.extend(check_job(name, str(job_kind(step)), prefix, job, definition))
            findings.extend(check_instances(name, str(job_kind(step)), prefix, job, definition))
        if kind == "Model" and isinstance(step.get("Arguments"), dict):
            findings.extend(check_job(name, "Model", "Arguments", step["Arguments"], definition))
        if blocks:
            findings.extend(check_tags(step))
        findings.extend(check_secrets(step, definition))
        findings.extend(check_string_fields(step, definition))
        if kind in REGISTER_TYPES:
            findings.extend(check_approval(step, definition, config))
        findings.extend(check_cache(step))
        findings.extend(check_placeholders(step))
        findings.extend(check_egress(step))
    findings.extend(check_reject_branch(definition))
    findings.extend(cost_findings(definition, cost or (config.cost if config else None)))
    return sorted(findings, key=lambda f: f.severity != "error")  # errors first, stable order
