"""Every action of the derived policies checked against AWS's service authorization data.

parliament ships that data (``iam_definition.json``: per action, the resource types it is
authorized against, ``*`` marking the required ones, with each type's ARN format). For each action
a policy grants, the test asks: does every resource granted for it match one of the action's
resource types (no dead grant), and is every resource type the service checks for the request
granted: the required ones, and the optional ones the request involves (``REQUEST_INVOLVES``)?
"""

from __future__ import annotations

import json
import re
from collections import defaultdict
from pathlib import Path
from typing import Any

import parliament
import pytest
from test_iam import REGION, _deployer_cfg
from test_lint import ROLE, good_definition
from trainguard.pipelines.ci.iam import deployer_policy, derive_policy

REQUEST_INVOLVES = {
    "sagemaker:CreateModelPackage": {"model-package", "model-package-group"},
}
"""Optional resource types a pipeline's request does involve, so the service checks them: a
versioned model package is created in its group (AWS authorizes CreateModelPackage on both)."""


def _service_data() -> dict[str, dict[str, Any]]:
    path = Path(parliament.__file__).with_name("iam_definition.json")
    return {s["prefix"]: s for s in json.loads(path.read_text(encoding="utf-8"))}


def _arn_regex(arn_format: str) -> re.Pattern[str]:
    parts = re.split(r"(\$\{[^}]+\})", arn_format)
    out = []
    for i, part in enumerate(parts):
        if part.startswith("${"):
            last = i == len(parts) - 2 or all(not p for p in parts[i + 1:])
            out.append(".+" if last or "Name" in part or "Id" in part else "[^:]*")
        else:
            out.append(re.escape(part))
    return re.compile("^" + "".join(out) + "$")


def _grants(policy: dict[str, Any]) -> dict[str, set[str]]:
    out: dict[str, set[str]] = defaultdict(set)
    for st in policy["Statement"]:
        actions = [st["Action"]] if isinstance(st["Action"], str) else st["Action"]
        resources = [st["Resource"]] if isinstance(st["Resource"], str) else st["Resource"]
        for a in actions:
            out[a] |= set(resources)
    return out


def _privilege(data: dict[str, dict[str, Any]], action: str) -> tuple[list[str], set[str], dict]:
    """(resource types, required ones, their ARN regexes) of one action; ValueError if unknown."""
    prefix, name = action.split(":", 1)
    service = data[prefix]
    privilege = next((p for p in service["privileges"] if p["privilege"] == name), None)
    if privilege is None:
        raise ValueError(f"{action}: not an action of {prefix}")
    formats = {r["resource"]: r["arn"] for r in service["resources"]}
    types = [t["resource_type"].rstrip("*") for t in privilege["resource_types"] if t["resource_type"]]
    required = {t["resource_type"].rstrip("*") for t in privilege["resource_types"]
                if t["resource_type"].endswith("*")}
    return types, required, {t: (formats[t], _arn_regex(formats[t])) for t in types if t in formats}


def service_problems(policy: dict[str, Any]) -> list[str]:
    """Grants that do not fit the service authorization data, one line each.

    Per statement: each resource serves at least one of its actions, each action has at least
    one resource of its types. Per action, over the policy: every required resource type, and
    every optional one its request involves, is granted.
    """
    data = _service_data()
    problems: list[str] = []
    known: dict[str, tuple[list[str], set[str], dict]] = {}
    for st in policy["Statement"]:
        actions = [st["Action"]] if isinstance(st["Action"], str) else st["Action"]
        resources = [st["Resource"]] if isinstance(st["Resource"], str) else st["Resource"]
        concrete = {r: r.replace("*", "x") for r in resources if r != "*"}
        for a in actions:
            if a not in known:
                try:
                    known[a] = _privilege(data, a)
                except ValueError as exc:
                    problems.append(str(exc))
        usable = [a for a in actions if a in known]
        for r, probe in sorted(concrete.items()):
            if not any(rx.match(probe) for a in usable for _f, rx in known[a][2].values()):
                problems.append(f"{st.get('Sid', '?')}: {r} serves none of {', '.join(usable)}")
        if "*" in resources:
            continue
        for a in usable:
            if known[a][2] and not any(rx.match(p) for _f, rx in known[a][2].values() for p in concrete.values()):
                problems.append(f"{st.get('Sid', '?')}: {a} has no resource of its types here")
    for action, resources in sorted(_grants(policy).items()):
        if action not in known or "*" in resources:
            continue
        _types, required, patterns = known[action]
        probes = [r.replace("*", "x") for r in resources]
        for t in sorted(required | REQUEST_INVOLVES.get(action, set())):
            if t in patterns and not any(patterns[t][1].match(p) for p in probes):
                problems.append(f"{action}: no grant on its {t} resource ({patterns[t][0]})")
    return problems


def test_execution_role_policy_fits_the_service_authorization_data() -> None:
    doc = derive_policy(good_definition(), role_arn=ROLE, region=REGION)
    assert service_problems(doc["PolicyDocument"]) == []


def test_create_model_package_is_granted_on_the_group_as_well() -> None:
    """AWS authorizes CreateModelPackage against the model package group too (versioned packages)."""
    grants = _grants(derive_policy(good_definition(), role_arn=ROLE, region=REGION)["PolicyDocument"])
    resources = grants["sagemaker:CreateModelPackage"]
    assert any(":model-package-group/" in r for r in resources), resources
    assert any(":model-package/" in r for r in resources), resources


def test_deployer_policy_fits_the_service_authorization_data() -> None:
    doc = deployer_policy(_deployer_cfg(bucket="tg-bucket", pipeline_name="churn"), good_definition(),
                          github_repo="acme/models")
    assert service_problems(doc["PolicyDocument"]) == []


@pytest.mark.parametrize(("statement", "problem"), [
    ({"Action": "sagemaker:CreateModelPackage",
      "Resource": "arn:aws:sagemaker:eu-west-1:111122223333:model-package/g/*"},
     "no grant on its model-package-group resource"),
    ({"Action": "sagemaker:DescribeModelPackage",
      "Resource": "arn:aws:sagemaker:eu-west-1:111122223333:endpoint/x"}, "serves none of"),
    ({"Action": "sagemaker:DescribeModelPackages", "Resource": "*"}, "not an action of sagemaker"),
])
def test_the_check_finds_each_kind_of_misfit(statement: dict[str, Any], problem: str) -> None:
    policy = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", **statement}]}
    found = service_problems(policy)
    assert found and any(problem in f for f in found), found
