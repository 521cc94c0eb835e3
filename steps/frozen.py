"""Steps whose request is computed once, at build time, inside the offline SDK scope.

The SDK computes a job step's arguments lazily, re-running ``processor.run()`` / ``tuner.tune()``
at every ``Pipeline.definition()``: that work could then reach the network (role checks,
telemetry) outside ``offline_sdk()``. A frozen step computes them once when the builder asks
(``freeze``), applies its ``fix_arguments`` hook, and returns the same dict afterwards.
"""

from __future__ import annotations

from typing import Any

__all__ = ["FrozenArguments"]


class FrozenArguments:
    """Mixin for SDK step classes: ``arguments`` computed once, then fixed by ``fix_arguments``."""

    _frozen_arguments: dict[str, Any] | None = None

    def fix_arguments(self, request: dict[str, Any]) -> dict[str, Any]:
        """Post-process the SDK's request; the identity unless a step kind needs a repair."""
        return request

    @property
    def arguments(self) -> dict[str, Any]:
        """The step's request (computed on first access, then cached)."""
        if self._frozen_arguments is None:
            self._frozen_arguments = self.fix_arguments(super().arguments)  # type: ignore[misc]
        return self._frozen_arguments

    def freeze(self) -> FrozenArguments:
        """Compute the request now (call inside ``offline_sdk()``); returns the step."""
        _ = self.arguments
        return self
