"""The emitted JSON against the service: botocore input shapes per step, and a golden snapshot.

Each job step's ``Arguments`` is validated with botocore's ParamValidator against the SageMaker
service model (CreateProcessingJob, CreateTrainingJob, CreateHyperParameterTuningJob,
CreateModelPackage) after pipeline expressions are replaced by a value of the type the shape
expects and the job name the SDK strips is put back. The golden snapshot catches any change of
the definition; refresh it with ``TRAINGUARD_UPDATE_GOLDEN=1`` after reviewing the diff.
"""

from __future__ import annotations

import difflib
import json
import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import botocore.session
import pytest
from botocore.validate import ParamValidator
from trainguard.pipelines.build import definition_json
from trainguard.pipelines.bundle import build_bundle

GOLDEN = Path(__file__).parent / "golden" / "definition.json"
EXPRESSION_KEYS = {"Get", "Std:Join", "Std:JsonGet"}
OPERATIONS = {
    "Processing": ("CreateProcessingJob", "ProcessingJobName"),
    "Training": ("CreateTrainingJob", "TrainingJobName"),
    "Tuning": ("CreateHyperParameterTuningJob", "HyperParameterTuningJobName"),
    "RegisterModel": ("CreateModelPackage", None),
}
VARIANTS = {
    "default": {},
    "no-tuning": {"tuning.enabled": False},
    "fail-only": {"approval.on_reject": "fail"},
    "register-rejected-only": {"approval.on_reject": "register_rejected",
                               "aws.cache_steps": False},
    "insecure": {"security.allow_insecure": True, "security.network_isolation": False,
                 "security.kms_key_id": None, "security.subnets": []},
    "random-warm-start-categorical": {
        "tuning.strategy": "random", "tuning.objective": "log_loss",
        "tuning.warm_start_parents": ["earlier-tuning-job"],
        "tuning.ranges.gamma": {"type": "categorical", "values": ["0", "1"]}},
}
# Given as a mapping: as a dotted override, 'off' is read as YAML 1.1's boolean false.
CONFIGS = {"random-warm-start-categorical": {"tuning": {"early_stopping": "off"}}}

_SERVICE = botocore.session.get_session().get_service_model("sagemaker")


def _sample(shape: Any) -> Any:
    """A value of the shape's type, standing in for an expression resolved at run time."""
    return {"string": "resolved", "integer": 1, "long": 1, "float": 0.5, "double": 0.5,
            "boolean": True, "list": [], "map": {}, "structure": {}, "timestamp": 0,
            "blob": b""}[shape.type_name]


def _is_expression(value: Any) -> bool:
    return isinstance(value, dict) and len(value) == 1 and next(iter(value)) in EXPRESSION_KEYS


def concretize(value: Any, shape: Any) -> Any:
    """``value`` with every pipeline expression replaced by a sample of its shape's type."""
    if _is_expression(value):
        return _sample(shape)
    if shape.type_name == "structure" and isinstance(value, dict):
        return {k: concretize(v, shape.members[k]) if k in shape.members else v
                for k, v in value.items()}
    if shape.type_name == "list" and isinstance(value, list):
        return [concretize(v, shape.member) for v in value]
    if shape.type_name == "map" and isinstance(value, dict):
        return {k: concretize(v, shape.value) for k, v in value.items()}
    return value


def _job_steps(steps: list[dict]) -> Iterator[dict]:
    for step in steps:
        if step["Type"] == "Condition":
            yield from _job_steps(step["Arguments"]["IfSteps"] + step["Arguments"]["ElseSteps"])
        elif step["Type"] in OPERATIONS:
            yield step


_DEFINITIONS: dict[str, dict] = {}


def _definition(variant: str) -> dict:
    if variant not in _DEFINITIONS:
        _DEFINITIONS[variant] = json.loads(definition_json(CONFIGS.get(variant),
                                                           overrides=VARIANTS[variant]))
    return _DEFINITIONS[variant]


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_every_step_validates_against_the_service_input_shape(variant: str) -> None:
    definition = _definition(variant)
    checked = set()
    for step in _job_steps(definition["Steps"]):
        operation, name_key = OPERATIONS[step["Type"]]
        shape = _SERVICE.operation_model(operation).input_shape
        params = concretize(step["Arguments"], shape)
        if name_key:
            assert name_key not in params, "job names must not be fixed in the definition"
            params[name_key] = "trainguard-job"
        report = ParamValidator().validate(params, shape)
        assert not report.has_errors(), f"{step['Name']} ({operation}):\n{report.generate_report()}"
        checked.add(step["Type"])
    assert {"Processing", "RegisterModel"} <= checked
    assert ("Tuning" in checked) != ("Training" in checked)


def test_the_validation_catches_a_wrong_member() -> None:
    """The check above is not vacuous: an unknown or mistyped member is reported."""
    step = next(_job_steps(_definition("default")["Steps"]))
    shape = _SERVICE.operation_model("CreateProcessingJob").input_shape
    params = concretize(json.loads(json.dumps(step["Arguments"])), shape)
    params["ProcessingJobName"] = "x"
    params["NetworkConfig"]["EnableNetworkIsolation"] = "yes"
    params["Unknown"] = 1
    report = ParamValidator().validate(params, shape).generate_report()
    assert "EnableNetworkIsolation" in report and "Unknown" in report


def _normalized(text: str) -> str:
    """The code bundle's sha changes with every edit of ``training/``: compare it as a token."""
    sha = build_bundle().sha256
    assert sha in text, "the definition must reference the current code bundle"
    return re.sub(sha, "<bundle-sha256>", text)


def test_golden_definition_snapshot() -> None:
    actual = _normalized(definition_json())
    if os.environ.get("TRAINGUARD_UPDATE_GOLDEN") == "1":
        GOLDEN.write_text(actual, encoding="utf-8")
    assert GOLDEN.is_file(), "no golden definition yet: run with TRAINGUARD_UPDATE_GOLDEN=1"
    expected = GOLDEN.read_text(encoding="utf-8")
    if actual != expected:
        diff = "".join(difflib.unified_diff(
            expected.splitlines(keepends=True), actual.splitlines(keepends=True),
            fromfile="tests/golden/definition.json", tofile="definition_json()", n=2))
        pytest.fail("the pipeline definition changed; review the diff and, if intended, refresh "
                    "it with TRAINGUARD_UPDATE_GOLDEN=1:\n" + diff, pytrace=False)
