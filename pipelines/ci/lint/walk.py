"""Walking a step's Arguments: every leaf, every string map, every named list, with its JSON path."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

__all__ = ["STRING_MAPS", "leaves", "named_lists", "named_maps"]

STRING_MAPS = ("Environment", "HyperParameters", "StaticHyperParameters")
"""The string-to-string maps of a job request (environment and hyperparameters)."""


def leaves(node: Any, path: str) -> Iterator[tuple[str, Any]]:
    """(JSON path, value) of every scalar under ``node``."""
    if isinstance(node, dict):
        for k, v in node.items():
            yield from leaves(v, f"{path}.{k}" if path else str(k))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from leaves(v, f"{path}[{i}]")
    else:
        yield path, node


def named_maps(node: Any, path: str) -> Iterator[tuple[str, dict[str, Any]]]:
    """(JSON path, mapping) of every Environment / HyperParameters map, however nested."""
    if isinstance(node, dict):
        for k, v in node.items():
            sub = f"{path}.{k}"
            if k in STRING_MAPS and isinstance(v, dict):
                yield sub, v
            else:
                yield from named_maps(v, sub)
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from named_maps(v, f"{path}[{i}]")


def named_lists(node: Any, path: str, name: str) -> Iterator[tuple[str, list[Any]]]:
    """(JSON path, list) of every list under the key ``name``, however nested."""
    if isinstance(node, dict):
        for k, v in node.items():
            sub = f"{path}.{k}"
            if k == name and isinstance(v, list):
                yield sub, v
            else:
                yield from named_lists(v, sub, name)
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from named_lists(v, f"{path}[{i}]", name)
