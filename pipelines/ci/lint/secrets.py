"""Rules on what a definition shows to anyone who can describe it: no plaintext secrets in
arguments, environments, hyperparameters, command lines or parameter defaults, and no placeholder
security values left from the config's defaults."""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from typing import Any

from trainguard.pipelines.ci.lint.findings import Finding, Severity
from trainguard.pipelines.ci.lint.walk import leaves, named_lists, named_maps
from trainguard.pipelines.definition import UNKNOWN, resolve

__all__ = ["check_parameter_secrets", "check_placeholders", "check_secrets"]

_PLACEHOLDERS = (
    (re.compile(r"key/0{8}-0{4}-0{4}-0{4}-0{12}$"), "KMS key", "security.kms_key_id"),
    (re.compile(r"^subnet-0+$"), "subnet", "security.subnets"),
    (re.compile(r"^sg-0+$"), "security group", "security.security_group_ids"),
)
_SECRET_NAME = re.compile(
    r"(^|_)(password|passwd|pwd|secret|secrets|token|api_?key|apikey|access_?key|secret_?key|"
    r"private_?key|credentials?|auth)($|_)"
)
_SECRET_VALUES = (
    (re.compile(r"(?<![A-Z0-9])(AKIA|ASIA)[A-Z0-9]{16}(?![A-Z0-9])"), "an AWS access key id"),
    (re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----"), "a private key"),
)
_AWS_SECRET_KEY = re.compile(r"(?<![A-Za-z0-9/+=])[A-Za-z0-9/+]{40}(?![A-Za-z0-9/+=])")
_CONNECTION_SECRET = re.compile(r"\b[a-zA-Z][a-zA-Z0-9+.-]*://[^/\s:@]*:([^/\s@]+)@")
"""A URL with a password in its user part (postgres://user:pass@host, redis://:pass@host)."""


def _secret_name(name: str) -> bool:
    norm = re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", name.lstrip("-")).lower().replace("-", "_")
    return bool(_SECRET_NAME.search(norm))


def _looks_like_secret_key(text: str) -> bool:
    for m in _AWS_SECRET_KEY.finditer(text):
        s = m.group(0)
        if re.search(r"[a-z]", s) and re.search(r"[A-Z]", s) and re.search(r"[0-9]", s):
            return True
    return False


def _is_reference(value: str) -> bool:
    """A pointer to a secret store rather than the secret itself."""
    return value.startswith(("arn:aws:secretsmanager:", "arn:aws:ssm:", "/", "{{resolve:"))


def check_secrets(step: Mapping[str, Any], definition: Mapping[str, Any]) -> Iterator[Finding]:
    """Secret-looking values, names (in Environment and hyperparameter maps) and flags in a step."""
    name = str(step.get("Name", "?"))
    args = step.get("Arguments")
    if not isinstance(args, dict):
        return
    fix = ("remove it from the definition and have the job read it from AWS Secrets Manager "
           "(pass the secret's ARN, grant the role secretsmanager:GetSecretValue)")
    for path, value in leaves(args, "Arguments"):
        if not isinstance(value, str):
            continue
        for pattern, what in _SECRET_VALUES:
            if pattern.search(value):
                yield Finding("plaintext-secret", "error", name, path,
                              f"value looks like {what}; {fix}.")
                break
        else:
            if _connection_secret(value):
                yield Finding("plaintext-secret", "error", name, path,
                              f"value is a connection string with a password in it; {fix}.")
                continue
            if _looks_like_secret_key(value) and not value.startswith(("s3://", "arn:")):
                yield Finding("plaintext-secret", "error", name, path,
                              f"value looks like an AWS secret access key; {fix}.")
    # secret-looking names in Environment / HyperParameters maps, wherever they are nested
    for path, mapping in named_maps(args, "Arguments"):
        for key, raw in mapping.items():
            if not _secret_name(str(key)):
                continue
            value = resolve(raw, definition)
            if isinstance(raw, dict) and value is UNKNOWN:
                continue
            if isinstance(value, str) and value and not _is_reference(value):
                severity: Severity = "error"
                where = "a pipeline parameter default" if isinstance(raw, dict) else "plaintext"
                yield Finding("plaintext-secret", severity, name, f"{path}.{key}",
                              f"{key!r} holds a secret in {where}, visible to anyone who can "
                              f"describe the pipeline or its jobs; {fix}.")
    # command-line flags such as --password VALUE or --password=VALUE, in the container's
    # arguments or its entrypoint
    argvs = [*named_lists(args, "Arguments", "ContainerArguments"),
             *named_lists(args, "Arguments", "ContainerEntrypoint")]
    for path, argv in argvs:
        for i, item in enumerate(argv):
            if not isinstance(item, str) or not item.startswith("--"):
                continue
            flag, eq, inline = item.partition("=")
            value, at = (inline, i) if eq else (argv[i + 1] if i + 1 < len(argv) else None, i + 1)
            if _secret_name(flag) and isinstance(value, str) and value \
                    and not _is_reference(value):
                yield Finding("plaintext-secret", "error", name, f"{path}[{at}]",
                              f"argument {flag} is given a plaintext secret; {fix}.")


def _connection_secret(value: str) -> bool:
    """True for a URL carrying a literal password (not a ${...}/{{...}} placeholder)."""
    for m in _CONNECTION_SECRET.finditer(value):
        password = m.group(1)
        if password and not password.startswith(("${", "{{", "%s")) and password != "*" * len(password):
            return True
    return False


def check_parameter_secrets(definition: Mapping[str, Any]) -> Iterator[Finding]:
    """A pipeline parameter whose name or default looks like a secret carries it in plaintext
    (DescribePipeline shows every default), whether or not a step uses it."""
    fix = ("remove the default and have the job read the secret from AWS Secrets Manager (pass the "
           "secret's ARN, grant the role secretsmanager:GetSecretValue)")
    for i, param in enumerate(definition.get("Parameters") or []):
        if not isinstance(param, dict):
            continue
        pname, default = str(param.get("Name", "?")), param.get("DefaultValue")
        if not isinstance(default, str) or not default or _is_reference(default):
            continue
        looks = ("its name says it is a secret" if _secret_name(pname)
                 else "it is a connection string with a password" if _connection_secret(default)
                 else next((f"it looks like {what}" for pat, what in _SECRET_VALUES if pat.search(default)),
                           None))
        if looks:
            yield Finding("plaintext-secret", "error", f"parameter {pname}",
                          f"Parameters[{i}].DefaultValue", f"the default of parameter {pname} is "
                          f"plaintext and {looks}; {fix}.")


def check_placeholders(step: Mapping[str, Any]) -> Iterator[Finding]:
    """The config's placeholder KMS key, subnet or security group left in a step's Arguments."""
    name = str(step.get("Name", "?"))
    seen: set[tuple[str, str]] = set()
    for path, value in leaves(step.get("Arguments"), "Arguments"):
        if not isinstance(value, str):
            continue
        for pattern, what, key in _PLACEHOLDERS:
            if pattern.search(value) and (path, key) not in seen:
                seen.add((path, key))
                yield Finding("placeholder", "error", name, path,
                              f"placeholder {what} {value!r} (the config default) is not a real "
                              f"resource; set {key} to yours.")
