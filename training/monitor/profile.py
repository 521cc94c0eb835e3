"""One streaming pass over a data source, summarizing each column in bounded memory.

A numeric column keeps counts (present, missing, not-a-number text, non-integers), sum and
shifted sum of squares, min and max, and its counts on a fixed grid of cut points (the baseline's
bins, buckets and CDF points); optionally a quantile sketch. A text column keeps its value counts.
Memory is O(grid + sketch + distinct values) per column whatever the number of rows.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from trainguard.training.errors import DataError
from trainguard.training.monitor.read import Chunk, DataSource, ReadAgain, iter_capture, iter_table, read_header
from trainguard.training.monitor.sketch import KLLSketch
from trainguard.training.threads import helper_threads

__all__ = ["NumericProfile", "TextProfile", "grid_counts", "scan", "source_header"]

MAX_DISTINCT = 100_000
"""Distinct values a text column keeps counts for; beyond, the rest is counted as one overflow."""


@dataclass
class NumericProfile:
    """Bounded summary of one numeric column."""

    grid: np.ndarray = field(default_factory=lambda: np.empty(0))
    sketch: KLLSketch | None = None
    n_present: int = 0
    n_missing: int = 0
    n_bad: int = 0
    bad_example: str | None = None
    n_fractional: int = 0
    n_negative: int = 0
    total: float = 0.0
    shift: float | None = None
    shifted_sq: float = 0.0
    minimum: float = math.inf
    maximum: float = -math.inf
    counts: np.ndarray | None = None
    """counts[i] = values in (grid[i-1], grid[i]] style bins: ``searchsorted(grid, v, 'left')``."""
    track_integral: bool = True
    """Count non-integer values (the Integral type check needs it; Fractional columns do not)."""

    def add(self, chunk: Chunk) -> None:
        """Fold one batch in."""
        v = chunk.numbers if chunk.numbers is not None else np.empty(0)
        self.n_missing += chunk.n_missing
        self.n_bad += chunk.n_bad
        if chunk.bad_example and self.bad_example is None:
            self.bad_example = chunk.bad_example
        if not v.size:
            return
        total = float(v.sum())
        finite = v
        if not math.isfinite(total):  # NaN or inf somewhere (NaN/inf stand for missing)
            finite = v[np.isfinite(v)]
            self.n_missing += v.size - finite.size - chunk.n_missing - chunk.n_bad
            total = float(finite.sum())
        if not finite.size:
            return
        self.n_present += finite.size
        if self.shift is None:
            self.shift = total / finite.size
        self.total += total
        d = finite - self.shift
        d *= d  # not np.dot: BLAS threads cost more than they save at this size
        self.shifted_sq += float(d.sum())
        lo, hi = float(finite.min()), float(finite.max())
        self.minimum = min(self.minimum, lo)
        self.maximum = max(self.maximum, hi)
        if self.track_integral:
            self.n_fractional += int(np.count_nonzero(finite != np.floor(finite)))
        if lo < 0:
            self.n_negative += int(np.count_nonzero(finite < 0))
        if self.grid.size:
            c = grid_counts(self.grid, finite)
            self.counts = c if self.counts is None else self.counts + c
        if self.sketch is not None:
            self.sketch.update(finite)

    @property
    def mean(self) -> float:
        """Mean of the present values (NaN when none)."""
        return self.total / self.n_present if self.n_present else math.nan

    @property
    def std(self) -> float:
        """Population standard deviation of the present values."""
        if not self.n_present or self.shift is None:
            return math.nan
        m = self.mean - self.shift
        return math.sqrt(max(self.shifted_sq / self.n_present - m * m, 0.0))


@dataclass
class TextProfile:
    """Value counts of one text column."""

    counts: dict[str, int] = field(default_factory=dict)
    n_missing: int = 0
    overflow: int = 0

    def add(self, chunk: Chunk) -> None:
        """Fold one batch in."""
        self.n_missing += chunk.n_missing
        items: Any
        if chunk.counts is not None:
            items = chunk.counts.items()
        elif chunk.numbers is not None:  # a text column read as numbers (Parquet numeric type)
            finite = chunk.numbers[np.isfinite(chunk.numbers)]
            self.n_missing += chunk.numbers.size - finite.size
            vals, cnt = np.unique(finite, return_counts=True)
            items = ((_number_text(v), int(c)) for v, c in zip(vals, cnt, strict=True))
        else:
            items = ()
        for key, c in items:
            if key in self.counts:
                self.counts[key] += c
            elif len(self.counts) < MAX_DISTINCT:
                self.counts[key] = c
            else:
                self.overflow += c

    @property
    def n_present(self) -> int:
        """Non-missing cells."""
        return sum(self.counts.values()) + self.overflow


def grid_counts(grid: np.ndarray, values: np.ndarray) -> np.ndarray:
    """counts[i] = values in (grid[i-1], grid[i]] (``searchsorted(grid, v, 'left') == i``), i.e.
    ``bincount(searchsorted(grid, values))``; computed by sorting the batch and cutting it at the
    grid points, several times faster than looking every value up in the grid."""
    ordered = np.sort(values)
    at = np.searchsorted(ordered, grid, "right")  # values <= grid[i]
    return np.diff(at, prepend=0, append=ordered.size)


def _number_text(v: float) -> str:
    return str(int(v)) if float(v).is_integer() else repr(float(v))


def source_header(source: DataSource, capture_features: Sequence[str] | None = None) -> list[str]:
    """The columns of a source; every table file must share the first file's header."""
    if source.kind == "capture":
        return list(capture_features or [])
    header = read_header(source.files[0])
    for f in source.files[1:]:
        other = read_header(f)
        if other != header:
            raise DataError(f"its columns differ from {source.files[0].name}'s ({', '.join(other)} vs "
                            f"{', '.join(header)}); keep one schema under the data prefix.", str(f))
    return header


def scan(source: DataSource, numeric: Sequence[str], texts: Sequence[str], *,
         grids: Mapping[str, np.ndarray] | None = None, sketch: bool = False,
         capture_features: Sequence[str] | None = None, integral: Sequence[str] | None = None,
         discover: bool = False
         ) -> tuple[dict[str, NumericProfile], dict[str, TextProfile], int]:
    """Profiles of the ``numeric`` and ``texts`` columns over every file, and the row count.

    ``integral`` names the numeric columns whose non-integer values are counted (None: all).
    ``discover`` (types unknown, as for a baseline): a numeric column found to hold text is
    moved to the text columns and the pass starts again.
    """
    numeric, texts = list(numeric), list(texts)
    grids = grids or {}
    as_text: set[str] = set()
    while True:
        nums = {n: NumericProfile(grid=np.asarray(grids.get(n, np.empty(0)), dtype=np.float64),
                                  sketch=KLLSketch() if sketch else None,
                                  track_integral=integral is None or n in integral)
                for n in numeric}
        txts = {n: TextProfile() for n in texts}
        rows = 0
        try:
            with ThreadPoolExecutor(max_workers=helper_threads()) as pool:
                folding: list[Any] = []  # the previous batch's numeric columns, being folded in
                for batch in _batches(source, numeric, texts, as_text, capture_features, discover):
                    first = next(iter(batch.values()), None)
                    if first is not None:
                        rows += _chunk_rows(first)
                    for name, chunk in batch.items():
                        if name in txts:
                            txts[name].add(chunk)
                    _wait(folding)  # a column takes its batches in order
                    # numeric columns are independent and their sorts release the GIL: two at a
                    # time, while the next batch is read
                    folding = [pool.submit(nums[n].add, c) for n, c in batch.items() if n in nums]
                _wait(folding)
        except ReadAgain as again:
            if discover:
                numeric.remove(again.column)
                texts.append(again.column)
            else:
                as_text.add(again.column)
            continue
        return nums, txts, rows


def _wait(futures: list[Any]) -> None:
    """Wait for every future; raise the first error among them."""
    for f in futures:
        f.result()


def _batches(source: DataSource, numeric: Sequence[str], texts: Sequence[str],
             as_text: set[str], capture_features: Sequence[str] | None,
             discover: bool = False) -> Any:
    if source.kind == "capture":
        yield from iter_capture(source, list(capture_features or []), set(numeric))
        return
    for f in source.files:
        yield from iter_table(Path(f), numeric, texts, as_text=as_text, discover=discover)


def _chunk_rows(chunk: Chunk) -> int:
    if chunk.numbers is not None:
        return int(chunk.numbers.size)
    return sum((chunk.counts or {}).values()) + chunk.n_missing
