"""The step graph of a pipeline definition: steps (condition branches flattened), edges, order.

Edges come from ``DependsOn``, from property references (``{"Get": "Steps.X..."}``) anywhere in
a step's arguments, and from a condition step to the steps of its branches. The order is
topological and otherwise follows the definition; unknown steps and cycles are DefinitionErrors.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from trainguard.pipelines.local.errors import DefinitionError
from trainguard.pipelines.local.expressions import step_references

__all__ = ["Step", "StepGraph", "build_graph"]


@dataclass
class Step:
    """One step of the definition as the runner sees it."""

    name: str
    type: str
    spec: dict[str, Any]
    depends_on: set[str] = field(default_factory=set)
    branch_of: tuple[str, bool] | None = None
    """(condition step, outcome) when the step sits in a branch: runs only on that outcome."""


@dataclass
class StepGraph:
    """Steps by name and a topological order over them."""

    steps: dict[str, Step]
    order: list[str]


STEP_NAME = re.compile(r"[A-Za-z0-9\-_]{1,64}")
"""The service's StepName pattern and length (botocore's sagemaker model): a step name also names
the local run's job folders and cache entries, so nothing else may reach the file system."""

def build_graph(definition: Mapping[str, Any]) -> StepGraph:
    """Flatten the definition's steps and order them; DefinitionError for a malformed graph."""
    raw = definition.get("Steps")
    if not isinstance(raw, list) or not raw:
        raise DefinitionError("the pipeline definition has no 'Steps' list; is this a pipeline definition JSON?")
    steps: dict[str, Step] = {}
    _collect(raw, steps, None)
    for step in steps.values():
        refs = set(step.spec.get("DependsOn") or [])
        args = step.spec.get("Arguments", {})
        # A condition's own inputs are its Conditions; its branches are steps of their own.
        refs |= step_references(args.get("Conditions", []) if step.type == "Condition" else args)
        for ref in sorted(refs):
            if ref not in steps:
                raise DefinitionError(f"step {step.name} refers to step {ref!r}, which the definition does not hold.")
            if ref == step.name:
                raise DefinitionError(f"step {step.name} depends on itself.")
        step.depends_on |= refs
        if step.branch_of:
            step.depends_on.add(step.branch_of[0])
    return StepGraph(steps, _toposort(steps))


def _collect(raw: list[Any], steps: dict[str, Step], branch: tuple[str, bool] | None) -> None:
    for item in raw:
        if not isinstance(item, Mapping) or "Name" not in item or "Type" not in item:
            raise DefinitionError(f"a step must be an object with 'Name' and 'Type'; got {str(item)[:80]!r}.")
        name = item["Name"]
        if not isinstance(name, str) or not STEP_NAME.fullmatch(name):
            raise DefinitionError(f"step name {str(name)[:80]!r} is not a SageMaker step name (1 to 64 "
                                  "letters, digits, '-' and '_'); rename the step.")
        if name in steps:
            raise DefinitionError(f"two steps are named {name!r}; step names must be unique.")
        step = Step(name=name, type=item["Type"], spec=dict(item), branch_of=branch)
        steps[name] = step
        if step.type == "Condition":
            args = item.get("Arguments", {})
            # Branch steps are nested whole, as the SDK emits them.
            _collect(args.get("IfSteps", []), steps, (name, True))
            _collect(args.get("ElseSteps", []), steps, (name, False))


def _toposort(steps: dict[str, Step]) -> list[str]:
    position = {name: i for i, name in enumerate(steps)}
    remaining = {name: set(s.depends_on) for name, s in steps.items()}
    order: list[str] = []
    while remaining:
        ready = sorted((n for n, deps in remaining.items() if not deps), key=position.__getitem__)
        if not ready:
            cycle = _find_cycle(remaining)
            raise DefinitionError(f"the steps form a cycle: {' -> '.join(cycle)}; remove one dependency.")
        for name in ready:
            order.append(name)
            del remaining[name]
        for deps in remaining.values():
            deps.difference_update(ready)
    return order


def _find_cycle(remaining: dict[str, set[str]]) -> list[str]:
    start = next(iter(sorted(remaining)))
    path = [start]
    seen = {start: 0}
    current = start
    while True:
        current = sorted(remaining[current])[0]
        if current in seen:
            return [*path[seen[current]:], current]
        seen[current] = len(path)
        path.append(current)
