"""A KLL-style quantile sketch: a bounded summary of a numeric column, mergeable and streamable.

Model Monitor's analyzer (Deequ) summarizes each numeric column with a KLL sketch and writes it in
statistics.json as ``{"parameters": {"c", "k"}, "data": [[level 0 items], [level 1 items], ...]}``,
where an item of level ``i`` stands for ``2**i`` values. This sketch writes and reads that layout.
Compaction here keeps the same capacity ``k`` on every level (the Manku-Rajagopalan-Lindsay
compactor stack that KLL refines), which bounds the rank error by about ``log2(n / k) / k``;
below ``k`` values the sketch is exact.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np

__all__ = ["KLLSketch"]

DEFAULT_K = 2048
_C = 0.64  # written for layout compatibility: Deequ's default shrink factor


class KLLSketch:
    """Streaming quantile summary; ``update`` with arrays, read with ``cdf``/``quantiles``."""

    def __init__(self, k: int = DEFAULT_K, seed: int = 0) -> None:
        self.k = int(k)
        self.levels: list[np.ndarray] = [np.empty(0)]
        self._pending: list[np.ndarray] = []
        self._pending_size = 0
        self._rng = np.random.default_rng(seed)

    # ---------------------------------------------------------------------------------------
    def update(self, values: Any) -> None:
        """Add the finite values of ``values`` (NaN is skipped: missing is counted elsewhere)."""
        v = np.asarray(values, dtype=np.float64).ravel()
        v = v[np.isfinite(v)]
        if not v.size:
            return
        self._pending.append(v)
        self._pending_size += v.size
        if self._pending_size >= 8 * self.k:
            self._flush()

    def _flush(self) -> None:
        if not self._pending:
            return
        self.levels[0] = np.concatenate([self.levels[0], *self._pending])
        self._pending, self._pending_size = [], 0
        level = 0
        while level < len(self.levels):
            items = self.levels[level]
            if items.size > self.k:
                items = np.sort(items)  # equal floats are interchangeable: no need for a stable sort
                odd = items.size % 2  # an odd item out stays on this level
                keep, pairs = items[:odd], items[odd:]
                offset = int(self._rng.integers(0, 2))
                promoted = pairs[offset::2]
                self.levels[level] = keep
                if level + 1 == len(self.levels):
                    self.levels.append(np.empty(0))
                self.levels[level + 1] = np.concatenate([self.levels[level + 1], promoted])
            level += 1

    # ---------------------------------------------------------------------------------------
    def weighted(self) -> tuple[np.ndarray, np.ndarray]:
        """The sketch's items, sorted, and each one's weight (the values it stands for)."""
        self._flush()
        items = np.concatenate(self.levels) if self.levels else np.empty(0)
        weights = np.concatenate([np.full(lv.size, 2.0 ** i) for i, lv in enumerate(self.levels)])
        order = np.argsort(items, kind="stable")
        return items[order], weights[order]

    @property
    def count(self) -> float:
        """Number of values the sketch stands for."""
        self._flush()
        return float(sum(lv.size * 2.0 ** i for i, lv in enumerate(self.levels)))

    def cdf(self, points: Any) -> np.ndarray:
        """Estimated share of values <= each of ``points``."""
        items, weights = self.weighted()
        total = weights.sum()
        if total == 0:
            return np.zeros(np.shape(points))
        cum = np.concatenate([[0.0], np.cumsum(weights)])
        return cum[np.searchsorted(items, np.asarray(points, dtype=float), "right")] / total

    def quantiles(self, qs: Sequence[float] | np.ndarray) -> np.ndarray:
        """Estimated values at the ranks ``qs`` (each in [0, 1])."""
        items, weights = self.weighted()
        if not items.size:
            return np.full(len(qs), np.nan)
        cum = np.cumsum(weights) / weights.sum()
        idx = np.searchsorted(cum, np.asarray(qs, dtype=float), "left")
        return items[np.clip(idx, 0, items.size - 1)]

    # ---------------------------------------------------------------------------------------
    def to_json(self) -> dict[str, Any]:
        """Model Monitor's ``sketch`` block."""
        self._flush()
        return {"parameters": {"c": _C, "k": self.k},
                "data": [[float(x) for x in np.sort(lv)] for lv in self.levels]}

    @classmethod
    def from_json(cls, block: Mapping[str, Any]) -> KLLSketch:
        """Read a ``sketch`` block as Model Monitor or this class wrote it."""
        params = block.get("parameters") or {}
        sk = cls(k=int(params.get("k") or DEFAULT_K))
        data: Iterable[Any] = block.get("data") or []
        sk.levels = [np.asarray(level, dtype=np.float64) for level in data] or [np.empty(0)]
        return sk
