"""``trainguard diff``: the deployed pipeline against the local definition, structurally.

Steps are matched by name, so an inserted step reads as one added step, not as every later step
changed. A pipeline not deployed yet is one difference (upsert will create it).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any

from trainguard.pipelines.ci.aws import build_definition_and_bundle, describe_pipeline, make_session, pipeline_clients
from trainguard.pipelines.definition import parse_definition
from trainguard.training.config import Config

__all__ = ["diff", "diff_definitions", "same_definition"]


def _key(item: Any) -> str | None:
    return item.get("Name") if isinstance(item, dict) and isinstance(item.get("Name"), str) else None


def diff_definitions(old: Any, new: Any, path: str = "") -> Iterator[str]:
    """Readable differences between two definitions: ``path: old → new``, ``+ path``, ``- path``.

    Lists of named items (steps, parameters) are matched by Name, so inserting a step shows as one
    added step rather than every later step changing.
    """
    if isinstance(old, dict) and isinstance(new, dict):
        yield from _members(old, new, sorted(set(old) | set(new), key=str),
                            lambda k: f"{path}.{k}" if path else str(k))
        return
    if isinstance(old, list) and isinstance(new, list):
        old_names = [_key(i) for i in old]
        new_names = [_key(i) for i in new]
        if all(old_names) and all(new_names) and len(set(old_names)) == len(old_names) \
                and len(set(new_names)) == len(new_names):
            olds = dict(zip(old_names, old, strict=True))
            news = dict(zip(new_names, new, strict=True))
            yield from _members(olds, news, [*old_names, *[n for n in new_names if n not in olds]],
                                lambda name: f"{path}[{name}]")
            if [n for n in old_names if n in news] != [n for n in new_names if n in olds]:
                yield f"{path}: order of items changed"
            return
        yield from _members(dict(enumerate(old)), dict(enumerate(new)), range(max(len(old), len(new))),
                            lambda i: f"{path}[{i}]")
        return
    if old != new or type(old) is not type(new):
        yield f"{path}: {_short(old)} → {_short(new)}"


def _members(olds: Mapping[Any, Any], news: Mapping[Any, Any], keys: Iterable[Any],
             where: Callable[[Any], str]) -> Iterator[str]:
    """Differences of matched members, in ``keys`` order: removed, added, or compared deeper."""
    for k in keys:
        sub = where(k)
        if k not in news:
            yield f"- {sub}: {_short(olds[k])}"
        elif k not in olds:
            yield f"+ {sub}: {_short(news[k])}"
        else:
            yield from diff_definitions(olds[k], news[k], sub)


def _short(value: Any, limit: int = 120) -> str:
    text = json.dumps(value, sort_keys=True, default=str)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def same_definition(deployed: Any, local: Mapping[str, Any]) -> bool:
    """True when the deployed definition JSON text parses to the local definition."""
    try:
        return json.loads(deployed) == local
    except (TypeError, ValueError):
        return False


def diff(cfg: Config, *, endpoint_url: str | None = None, profile: str | None = None,
         session: Any = None) -> list[str]:
    """Differences between the deployed pipeline and the local definition ([] when equal).

    A pipeline not deployed yet is one difference (upsert will create it), not an error: the
    first CI run of diff → upsert must reach the upsert.
    """
    session = session or make_session(cfg.aws.region, profile)
    _s3, sm = pipeline_clients(cfg, session, endpoint_url)
    current = describe_pipeline(sm, cfg.aws.pipeline_name)
    if current is None:
        return [f"+ pipeline {cfg.aws.pipeline_name}: not deployed in {cfg.aws.region} yet; "
                "trainguard upsert creates it"]
    definition_text, _bundle = build_definition_and_bundle(cfg)
    local = parse_definition(definition_text, "the built definition")
    try:
        deployed = json.loads(current.get("PipelineDefinition") or "")
    except ValueError:
        deployed = None
    lines = list(diff_definitions(deployed, local))
    if current.get("RoleArn") != cfg.aws.role_arn:
        lines.append(f"RoleArn: {current.get('RoleArn')} → {cfg.aws.role_arn}")
    return lines
