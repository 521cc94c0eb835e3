"""The local runner's step graph: flattened branches, DependsOn and reference edges, order, errors."""

from __future__ import annotations

import pytest
from trainguard.pipelines.local.errors import DefinitionError
from trainguard.pipelines.local.graph import build_graph


def _step(name: str, type_: str = "Processing", depends: list[str] | None = None, args: dict | None = None) -> dict:
    out: dict = {"Name": name, "Type": type_, "Arguments": args or {}}
    if depends:
        out["DependsOn"] = depends
    return out


def test_order_follows_references_dependson_and_branches() -> None:
    definition = {"Steps": [
        _step("Check", "Condition", args={
            "Conditions": [{"Type": "Equals", "LeftValue": {"Get": "Steps.Eval.X"}, "RightValue": 1}],
            "IfSteps": [_step("Register", "RegisterModel", args={"M": {"Get": "Steps.Tune.Y"}})],
            "ElseSteps": [_step("Fail", "Fail", depends=["RegisterRejected"]),
                          _step("RegisterRejected", "RegisterModel")]}),
        _step("Eval", args={"In": {"Get": "Steps.Tune.Best"}}),
        _step("Tune", "Tuning", args={"In": {"Get": "Steps.Pre.Out"}}),
        _step("Pre"),
    ]}
    g = build_graph(definition)
    order = g.order
    assert order.index("Pre") < order.index("Tune") < order.index("Eval") < order.index("Check")
    assert order.index("Check") < order.index("Register")
    assert order.index("RegisterRejected") < order.index("Fail")
    assert g.steps["Register"].branch_of == ("Check", True)
    assert g.steps["Fail"].branch_of == ("Check", False)
    assert g.steps["Check"].depends_on == {"Eval"}
    assert g.steps["Eval"].depends_on == {"Tune"} and g.steps["Register"].depends_on == {"Check", "Tune"}


def test_a_cycle_is_named() -> None:
    definition = {"Steps": [_step("A", depends=["C"]), _step("B", depends=["A"]), _step("C", depends=["B"])]}
    with pytest.raises(DefinitionError, match=r"cycle: A -> C -> B -> A"):
        build_graph(definition)


def test_unknown_step_references_and_duplicates_are_refused() -> None:
    with pytest.raises(DefinitionError, match="step A refers to step 'Ghost'"):
        build_graph({"Steps": [_step("A", depends=["Ghost"])]})
    with pytest.raises(DefinitionError, match="step A refers to step 'Ghost'"):
        build_graph({"Steps": [_step("A", args={"x": {"Get": "Steps.Ghost.Out"}})]})
    with pytest.raises(DefinitionError, match="two steps are named 'A'"):
        build_graph({"Steps": [_step("A"), _step("A")]})
    with pytest.raises(DefinitionError, match="depends on itself"):
        build_graph({"Steps": [_step("A", depends=["A"])]})
    with pytest.raises(DefinitionError, match="no 'Steps' list"):
        build_graph({"Version": "2020-12-01"})
