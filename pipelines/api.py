"""The CLI's verbs as Python calls: ``lint``, ``cost``, ``diff``, ``upsert`` and ``start`` beside
``run_local``.

A notebook gets exactly what CI gets: ``upsert`` lints, uploads the code bundle (SSE-KMS), and
creates or updates the pipeline only when its definition changed; ``start`` does the same and
then starts an execution with the champion bar read from the SageMaker registry. Each takes a
config (path, mapping, Config or None for the defaults) plus dotted overrides.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from trainguard.pipelines.ci.diff import diff as _diff
from trainguard.pipelines.ci.lint import Finding, lint_definition
from trainguard.pipelines.ci.upsert import UpsertResult
from trainguard.pipelines.ci.upsert import upsert as _upsert
from trainguard.pipelines.definition import read_definition
from trainguard.pipelines.ops.cost import CostEstimate, estimate
from trainguard.training.config import Config, load_config

__all__ = ["cost", "diff", "lint", "start", "upsert"]

ConfigSource = Config | str | Mapping[str, Any] | None


def _config(config: ConfigSource, overrides: Mapping[str, Any] | None, role_arn: str | None,
            region: str | None) -> Config:
    merged = dict(overrides or {})
    if role_arn:
        merged["aws.role_arn"] = role_arn
    if region:
        merged["aws.region"] = region
    if isinstance(config, Config):
        return config.replace(**merged) if merged else config
    return load_config(config, merged)


def lint(definition: Mapping[str, Any] | str | None = None, *, config: ConfigSource = None,
         overrides: Mapping[str, Any] | None = None) -> list[Finding]:
    """Safeguard findings of a definition (mapping, JSON text or file path), or of the one built
    from ``config``; an empty list means every rule passes."""
    cfg = None
    if definition is None:
        from trainguard.pipelines.build import definition_json  # the SDK, only to build

        cfg = _config(config, overrides, None, None)
        definition = definition_json(cfg)
    return lint_definition(read_definition(definition), cfg)


def cost(definition: Mapping[str, Any] | str | None = None, *, config: ConfigSource = None,
         overrides: Mapping[str, Any] | None = None, params: Mapping[str, Any] | None = None,
         region: str | None = None) -> CostEstimate:
    """What one execution costs (worst case and expected, job by job) for a definition (mapping,
    JSON text or file path) or the one built from ``config``; ``params`` as at a start. It never
    refuses: ``start`` applies ``cost.max_execution_usd``."""
    cfg = _config(config, overrides, None, None)
    if definition is None:
        from trainguard.pipelines.build import definition_json  # the SDK, only to build

        definition = definition_json(cfg)
        region = region or cfg.aws.region
    return estimate(read_definition(definition), region=region, params=params, cost=cfg.cost)


def diff(config: ConfigSource = None, *, overrides: Mapping[str, Any] | None = None,
         role_arn: str | None = None, region: str | None = None, profile: str | None = None,
         endpoint_url: str | None = None) -> list[str]:
    """Differences between the deployed pipeline and the one built from ``config`` (empty: equal)."""
    return _diff(_config(config, overrides, role_arn, region), endpoint_url=endpoint_url,
                 profile=profile)


def upsert(config: ConfigSource = None, *, role_arn: str, overrides: Mapping[str, Any] | None = None,
           region: str | None = None, profile: str | None = None, endpoint_url: str | None = None,
           out: Any = print) -> UpsertResult:
    """``trainguard upsert``: lint, upload the bundle, create or update the pipeline when changed."""
    return _upsert(_config(config, overrides, role_arn, region), endpoint_url=endpoint_url,
                   profile=profile, out=out)


def start(config: ConfigSource = None, *, role_arn: str, parameters: Mapping[str, Any] | None = None,
          overrides: Mapping[str, Any] | None = None, region: str | None = None,
          profile: str | None = None, endpoint_url: str | None = None, out: Any = print) -> UpsertResult:
    """``trainguard upsert --start``: the same upsert, then an execution whose ChampionBar comes
    from the registry's champion (unless ``parameters`` gives it)."""
    params = [f"{k}={v}" for k, v in (parameters or {}).items()]
    return _upsert(_config(config, overrides, role_arn, region), start=True, params=params,
                   endpoint_url=endpoint_url, profile=profile, out=out)
