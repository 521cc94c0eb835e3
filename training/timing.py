"""Where a job's time goes: seconds per phase, printed by each job as one ``trainguard-timing`` line.

Phases: ``parse`` (reading and validating a table), ``split`` (the trainability checks and the
holdout split), ``write`` (the split files), ``resample``
(the over-sampler), ``matrix`` (XGBoost's quantized matrices), ``train`` (boosting), ``score``
(predictions and metrics, the holdout bootstrap included). ``other`` is the job's wall time minus
those. Jobs run one at a time in a process, so one tally serves them; the benchmark reads the
lines from the job logs, so a regression is found by reading, not by profiling.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from contextlib import contextmanager

__all__ = ["PHASES", "TIMING_PATTERN", "phase", "timing_line", "track"]

PHASES = ("parse", "split", "write", "resample", "matrix", "train", "score")
TIMING_PREFIX = "trainguard-timing"
TIMING_PATTERN = re.compile(rf"{TIMING_PREFIX} job=(?P<job>\w+)(?P<pairs>( \w+=[0-9.]+)+)")
"""Matches a timing line; ``pairs`` holds ``name=seconds`` words."""

_spent: dict[str, float] | None = None


@contextmanager
def phase(name: str) -> Iterator[None]:
    """Count the time inside the block toward ``name`` (a no-op outside ``track``)."""
    if _spent is None:
        yield
        return
    t0 = time.perf_counter()
    try:
        yield
    finally:
        if _spent is not None:
            _spent[name] = _spent.get(name, 0.0) + time.perf_counter() - t0


@contextmanager
def track(job: str) -> Iterator[dict[str, float]]:
    """Tally the phases of one job and print its timing line when the job succeeds."""
    global _spent
    outer, _spent = _spent, {}
    spent = _spent
    t0 = time.perf_counter()
    try:
        yield spent
        print(timing_line(job, spent, time.perf_counter() - t0), flush=True)
    finally:
        _spent = outer


def timing_line(job: str, spent: dict[str, float], total: float) -> str:
    """``trainguard-timing job=<job> parse=1.234 ... other=0.5 total=9.9`` (every phase named)."""
    words = [f"{name}={spent.get(name, 0.0):.3f}" for name in PHASES]
    other = max(0.0, total - sum(spent.values()))
    return f"{TIMING_PREFIX} job={job} {' '.join(words)} other={other:.3f} total={total:.3f}"
