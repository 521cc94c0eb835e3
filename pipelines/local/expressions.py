"""Resolve pipeline expressions (Get, Std:Join, Std:JsonGet) and evaluate Condition JSON.

The definition refers to parameters (``Parameters.X``), execution variables (``Execution.X``),
earlier steps' properties (``Steps.S.ProcessingOutputConfig.Outputs['train'].S3Output.S3Uri``)
and property files (``Std:JsonGet`` on ``Steps.S.PropertyFiles.F``). An ``Expressions`` object
holds the values known so far and replaces every expression in a JSON value with its value.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

from trainguard.pipelines.local.errors import DefinitionError

__all__ = ["Expressions", "check_condition", "get_path", "parse_path", "step_references"]

_TOKEN = re.compile(r"""\.?([A-Za-z_][A-Za-z0-9_:\-]*)|\[(\d+)\]|\[['"]([^'"]+)['"]\]""")


def parse_path(path: str) -> list[str | int]:
    """Split ``A.B['x'][0].C`` into ``['A', 'B', 'x', 0, 'C']``; DefinitionError if malformed."""
    out: list[str | int] = []
    pos = 0
    while pos < len(path):
        m = _TOKEN.match(path, pos)
        if not m or m.end() == pos:
            raise DefinitionError(f"cannot read the property path {path!r} at position {pos}.")
        name, index, key = m.groups()
        out.append(int(index) if index is not None else (name if name is not None else key))
        pos = m.end()
    return out


def get_path(value: Any, parts: list[str | int], what: str) -> Any:
    """Follow parsed path parts through dicts and lists; a string key on a list picks by name.

    SageMaker addresses list members by name (``Outputs['train']``): the member whose
    ``...Name`` field equals the key.
    """
    for part in parts:
        if (isinstance(value, Mapping) and part in value) or (
                isinstance(value, list) and isinstance(part, int) and -len(value) <= part < len(value)):
            value = value[part]
        elif isinstance(value, list) and isinstance(part, str):
            found = [v for v in value if isinstance(v, Mapping)
                     and any(k.endswith("Name") and v[k] == part for k in v)]
            if not found:
                raise DefinitionError(f"{what}: no member named {part!r}.")
            value = found[0]
        else:
            raise DefinitionError(f"{what}: {part!r} is not there.")
    return value


def step_references(value: Any) -> set[str]:
    """Names of the steps an argument tree refers to through ``{"Get": "Steps.<name>..."}``."""
    found: set[str] = set()
    if isinstance(value, Mapping):
        get = value.get("Get")
        if isinstance(get, str) and get.startswith("Steps."):
            first = parse_path(get)[1]
            found.add(str(first))
        for v in value.values():
            found |= step_references(v)
    elif isinstance(value, list):
        for v in value:
            found |= step_references(v)
    return found


class Expressions:
    """The values expressions can see: parameters, execution variables, step properties."""

    def __init__(self, parameters: Mapping[str, Any], execution: Mapping[str, Any],
                 read_json: Callable[[str], Any] | None = None) -> None:
        self.parameters = dict(parameters)
        self.execution = dict(execution)
        self.read_json = read_json
        """Reads a JSON object by S3 URI, for ``Std:JsonGet`` on an ``S3Uri``."""
        self.steps: dict[str, dict[str, Any]] = {}
        """Per step, its properties as a Describe*Job response would give them."""
        self.property_files: dict[str, dict[str, Any]] = {}
        """Per step, each property file's parsed JSON by property-file name."""

    # ---- Get / Join / JsonGet ------------------------------------------------------------
    def get(self, reference: str) -> Any:
        """Value of one ``Get`` reference; DefinitionError naming it when unknown or not yet run."""
        parts = parse_path(reference)
        root = parts[0]
        if root == "Parameters":
            name = str(parts[1]) if len(parts) > 1 else ""
            if name not in self.parameters:
                raise DefinitionError(f"{reference} refers to an undeclared parameter {name!r}.")
            return self.parameters[name]
        if root == "Execution":
            name = str(parts[1]) if len(parts) > 1 else ""
            if name not in self.execution:
                raise DefinitionError(f"{reference} refers to an unknown execution variable {name!r}.")
            return self.execution[name]
        if root == "Steps":
            step = str(parts[1])
            if len(parts) > 3 and parts[2] == "PropertyFiles":
                files = self.property_files.get(step, {})
                if parts[3] not in files:
                    raise DefinitionError(f"{reference}: step {step} has not produced that property file.")
                return files[parts[3]]
            if step not in self.steps:
                raise DefinitionError(f"{reference}: step {step} has not run (or produced no properties).")
            return get_path(self.steps[step], parts[2:], reference)
        raise DefinitionError(f"{reference}: unknown reference root {root!r} (want Parameters, Execution or Steps).")

    def resolve(self, value: Any) -> Any:
        """Return ``value`` with every expression in it replaced by its value (a new tree)."""
        if isinstance(value, Mapping):
            if len(value) == 1:
                (key, inner), = value.items()
                if key == "Get" and isinstance(inner, str):
                    return self.get(inner)
                if key == "Std:Join":
                    return self._join(inner)
                if key == "Std:JsonGet":
                    return self._json_get(inner)
            return {k: self.resolve(v) for k, v in value.items()}
        if isinstance(value, list):
            return [self.resolve(v) for v in value]
        return value

    def _join(self, spec: Any) -> str:
        if not isinstance(spec, Mapping) or "Values" not in spec:
            raise DefinitionError(f"Std:Join needs 'On' and 'Values'; got {spec!r}.")
        on = self.resolve(spec.get("On", ""))
        return str(on).join(_as_text(self.resolve(v)) for v in spec["Values"])

    def _json_get(self, spec: Any) -> Any:
        if not isinstance(spec, Mapping) or "Path" not in spec:
            raise DefinitionError(f"Std:JsonGet needs 'PropertyFile' and 'Path'; got {spec!r}.")
        if "PropertyFile" in spec:
            document = self.resolve(spec["PropertyFile"])
        elif "S3Uri" in spec and self.read_json is not None:
            document = self.read_json(str(self.resolve(spec["S3Uri"])))
        else:
            raise DefinitionError(f"Std:JsonGet needs a PropertyFile or an S3Uri; got {spec!r}.")
        path = self.resolve(spec["Path"])
        return get_path(document, parse_path(str(path)), f"JsonGet path {path!r}")

    # ---- conditions ----------------------------------------------------------------------
    def condition(self, cond: Mapping[str, Any]) -> bool:
        """Evaluate one Condition JSON (Equals, GreaterThan[OrEqualTo], LessThan[OrEqualTo], In, Not, Or)."""
        kind = cond.get("Type")
        if kind == "Not":
            return not self.condition(cond["Condition"])
        if kind == "Or":
            return any(self.condition(c) for c in cond["Conditions"])
        if kind == "In":
            query = self.resolve(cond["QueryValue"])
            return any(_equal(query, self.resolve(v)) for v in cond["Values"])
        if kind not in _COMPARE:
            known = ", ".join(sorted([*_COMPARE, "In", "Not", "Or"]))
            raise DefinitionError(f"unknown condition type {kind!r}; known: {known}.")
        left, right = self.resolve(cond["LeftValue"]), self.resolve(cond["RightValue"])
        if kind == "Equals":
            return _equal(left, right)
        a, b = _number(left, kind), _number(right, kind)
        return _COMPARE[kind](a, b)

    def all_conditions(self, conditions: list[Mapping[str, Any]]) -> bool:
        """A ConditionStep's list holds when every condition in it holds."""
        return all(self.condition(c) for c in conditions)


def check_condition(cond: Any, step: str) -> None:
    """Refuse, before the run, a condition whose type (or a nested one's) cannot be evaluated."""
    kind = cond.get("Type") if isinstance(cond, Mapping) else None
    known = sorted([*_COMPARE, "In", "Not", "Or"])
    if kind not in known:
        raise DefinitionError(f"step {step}: unknown condition type {kind!r}; known: {', '.join(known)}.")
    if kind == "Not":
        check_condition(cond.get("Condition"), step)
    elif kind == "Or":
        for inner in cond.get("Conditions") or []:
            check_condition(inner, step)


_COMPARE = {
    "Equals": None,
    "GreaterThan": lambda a, b: a > b,
    "GreaterThanOrEqualTo": lambda a, b: a >= b,
    "LessThan": lambda a, b: a < b,
    "LessThanOrEqualTo": lambda a, b: a <= b,
}


def _as_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _number(value: Any, kind: str) -> float:
    if isinstance(value, bool):
        return float(value)
    try:
        return float(value)
    except (TypeError, ValueError):
        raise DefinitionError(f"condition {kind} compares {value!r}, which is not a number.") from None


def _equal(a: Any, b: Any) -> bool:
    numeric = (int, float)
    if isinstance(a, numeric) and isinstance(b, numeric) and not isinstance(a, bool) and not isinstance(b, bool):
        return float(a) == float(b)
    if isinstance(a, (int, float, bool)) != isinstance(b, (int, float, bool)):
        return _as_text(a) == _as_text(b)
    return a == b
