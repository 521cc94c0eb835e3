"""Plumbing the ops modules share: tags that mark what trainguard created, clients, ARN pieces."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from trainguard.pipelines.ci.aws import aws_errors, client_config
from trainguard.training.config import Config

__all__ = ["MANAGED_TAG", "Printer", "account_of", "clients", "managed_tags", "tag_list"]

MANAGED_TAG = "trainguard:managed-by"
"""Tag key on every resource ops creates; ``--remove`` deletes only resources carrying it."""
Printer = Callable[[str], None]
_ACCOUNT = re.compile(r"^arn:aws[a-z-]*:iam::(\d{12}):role/")


def managed_tags(cfg: Config, owner: str) -> dict[str, str]:
    """The config's tags plus the marker naming the owning component (e.g. the endpoint name)."""
    return {**cfg.security.tags, MANAGED_TAG: owner}


def tag_list(tags: dict[str, str]) -> list[dict[str, str]]:
    """AWS's ``[{"Key", "Value"}]`` form, sorted so requests are stable."""
    return [{"Key": k, "Value": v} for k, v in sorted(tags.items())]


def account_of(role_arn: str) -> str:
    """The 12-digit account of an IAM role ARN ('' when it is not one)."""
    m = _ACCOUNT.match(role_arn)
    return m.group(1) if m else ""


def clients(session: Any, endpoint_url: str | None, *services: str) -> list[Any]:
    """One botocore client per service, with trainguard's retry settings."""
    conf = client_config()
    kwargs = {"endpoint_url": endpoint_url} if endpoint_url else {}
    with aws_errors("AWS client setup"):
        return [session.client(s, config=conf, **kwargs) for s in services]
