"""Rules on the steps themselves: shapes lint can read, tags on every job, caching only where it is
deterministic, and no step kinds that reach the network outside the isolated jobs."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from trainguard.pipelines.ci.lint.approval import REGISTER_TYPES
from trainguard.pipelines.ci.lint.findings import Finding
from trainguard.pipelines.ci.lint.walk import named_lists, named_maps
from trainguard.pipelines.definition import arguments, nested_step_lists

__all__ = ["EGRESS_TYPES", "check_cache", "check_egress", "check_step_lists", "check_tags"]

_CONTAINER_TYPES = {"Condition", "ForEach"}
_CHECKED_TYPES = {"Processing", "Training", "Tuning", "Transform", "QualityCheck", "ClarifyCheck",
                  "Model", "RegisterModel", "Fail", *_CONTAINER_TYPES}
"""Step types whose Arguments lint knows how to check; any other is a finding (not proven safe)."""
# Step kinds that run code of their own outside a job, with network access. Egress belongs to
# one component outside the pipelines: trainguard's function (invoked by EventBridge when the
# monitoring pipeline ends, it reads the check from S3 and puts the metrics in alarms.namespace;
# invoked by the schedule and the alarms, it reads the champion and starts this pipeline), plus
# `trainguard ops publish` run by hand (docs/operations.md). Jobs have none (network isolation).
# Any other unchecked kind is already an unknown-step error.
EGRESS_TYPES = {"Lambda", "Callback", "EMR", "EMRServerless", "NotebookJob"}
_SEED_NAMES = {"seed", "random_seed", "random_state", "--seed"}


def _check_shape(step: Any, where: str) -> Iterator[Finding]:
    """Steps lint cannot read or does not know are findings: unknown means not proven safe."""
    if not isinstance(step, dict):
        yield Finding("malformed-step", "error", where, "", f"a step is {type(step).__name__}, not "
                      "an object; lint cannot check it. Fix the definition's Steps list.")
        return
    name = str(step.get("Name", "?"))
    kind = step.get("Type")
    args = step.get("Arguments")
    if kind not in _CHECKED_TYPES:
        yield Finding("unknown-step", "error", name, "Type", f"lint cannot check a {kind!r} step (it "
                      "knows Processing, Training, Tuning, Transform, QualityCheck, ClarifyCheck, "
                      "Model, RegisterModel, Condition, ForEach and Fail), so nothing proves its "
                      "jobs encrypted, isolated or bounded; review it by hand and remove it from "
                      "the pipeline lint gates.")
    elif kind == "ForEach" and not nested_step_lists(step):
        yield Finding("unknown-step", "error", name, "Arguments", "lint found no steps inside this "
                      "ForEach, so it cannot check what it runs; give its loop body as step objects.")
    elif kind not in ("Fail",) and not isinstance(args, dict):
        what = "no Arguments" if args is None else f"Arguments that are {type(args).__name__}, not an object"
        yield Finding("malformed-step", "error", name, "Arguments", f"a {kind} step with {what} "
                      "cannot be checked (or run); give its request as a JSON object.")


def check_step_lists(definition: Mapping[str, Any]) -> Iterator[Finding]:
    """Shape findings for every step at every level (non-objects included, which iter_steps skips)."""
    def walk(steps: Any, where: str) -> Iterator[Finding]:
        if not isinstance(steps, list):
            return
        for i, step in enumerate(steps):
            yield from _check_shape(step, f"{where}[{i}]")
            if isinstance(step, dict):
                for label, inner in nested_step_lists(step):
                    yield from walk(inner, f"{step.get('Name', '?')}.{label}")

    yield from walk(definition.get("Steps"), "Steps")


def check_tags(step: Mapping[str, Any]) -> Iterator[Finding]:
    """Every job carries tags: without them its cost and ownership cannot be traced or budgeted."""
    args = step.get("Arguments")
    tags = args.get("Tags") if isinstance(args, dict) else None
    if not isinstance(tags, list) or not tags:
        yield Finding("tags", "error", str(step.get("Name", "?")), "Arguments.Tags",
                      "job is not tagged, so its cost and ownership cannot be traced; set "
                      "security.tags (e.g. project, owner, cost-center).")


def _seeded(step: Mapping[str, Any]) -> bool:
    args = arguments(step)
    for path, mapping in named_maps(args, "Arguments"):
        del path
        if any(str(k).lower() in _SEED_NAMES for k in mapping):
            return True
    for _, argv in named_lists(args, "Arguments", "ContainerArguments"):
        if any(isinstance(a, str) and a.lower() in _SEED_NAMES for a in argv):
            return True
    return False


def check_cache(step: Mapping[str, Any]) -> Iterator[Finding]:
    """Caching only where a hit replays what the step would do again: never decisions, seeded jobs."""
    cache = step.get("CacheConfig")
    if not isinstance(cache, dict) or cache.get("Enabled") is not True:
        return
    name = str(step.get("Name", "?"))
    kind = step.get("Type")
    if kind in ("Condition", "Fail", *REGISTER_TYPES):
        yield Finding("cache", "error", name, "CacheConfig.Enabled",
                      f"caching a {kind} step replays an old decision instead of evaluating this "
                      "run; remove its CacheConfig.")
    elif kind in ("Training", "Tuning") and not _seeded(step):
        yield Finding("cache", "warning", name, "CacheConfig.Enabled",
                      f"{kind} step is cached but not seeded, so a cache hit hides a result the "
                      "step would not reproduce; pass a 'seed' hyperparameter or disable caching "
                      "(aws.cache_steps=false).")


def check_egress(step: Mapping[str, Any]) -> Iterator[Finding]:
    """A step kind that runs code of its own with network access, outside the isolated jobs."""
    kind = step.get("Type")
    if kind in EGRESS_TYPES:
        yield Finding("egress", "error", str(step.get("Name", "?")), "Type",
                      f"a {kind} step can reach the network "
                      "outside the isolated jobs; check results reach CloudWatch "
                      "through trainguard's function when the monitoring pipeline "
                      "ends (trainguard ops upsert) and retraining starts through "
                      "it too (docs/operations.md); remove the step.")
