"""trainguard's pipeline layer: ``build_pipeline()``, the CLI, the local runner, registry and CI.

``build_pipeline``, ``build_context`` and ``definition_json`` are re-exported lazily (module
``__getattr__``), so ``import pipelines`` and the commands that do not build a definition never
import the SDK.
"""

from __future__ import annotations

from typing import Any

__all__ = ["build_context", "build_pipeline", "definition_json"]

_LAZY = {name: "trainguard.pipelines.build" for name in __all__}


def __getattr__(name: str) -> Any:
    """Import ``trainguard.pipelines.build`` (and the SDK) only when one of its names is asked for."""
    if name in _LAZY:
        import importlib

        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'pipelines' has no attribute {name!r}")


def __dir__() -> list[str]:
    """Module attributes including the lazily loaded ones."""
    return sorted([*globals(), *_LAZY])
