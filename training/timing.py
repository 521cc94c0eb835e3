"""Where a job's time goes: seconds per phase, printed by each job as one ``trainguard-timing`` line.

Phases: ``parse`` (reading and validating a table), ``split`` (the trainability checks and the
holdout split), ``write`` (the split files), ``resample``
(the over-sampler), ``matrix`` (XGBoost's quantized matrices), ``train`` (boosting), ``score``
(predictions and metrics, the holdout bootstrap included). ``other`` is the job's wall time minus
those. Each phase's CPU seconds (all the process's threads) are tallied beside its wall seconds:
their ratio is how many cores the phase kept busy. Jobs run one at a time in a process, so one
tally serves them; the benchmark reads the lines from the job logs, so a regression is found by
reading, not by profiling.
"""

from __future__ import annotations

import re
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

__all__ = ["PHASES", "TIMING_PATTERN", "peak_rss_mb", "phase", "timing_line", "track"]

PHASES = ("parse", "split", "screen", "write", "resample", "matrix", "train", "score")
TIMING_PREFIX = "trainguard-timing"
TIMING_PATTERN = re.compile(rf"{TIMING_PREFIX} job=(?P<job>\w+)(?P<pairs>( \w+=[\w.]+)+)")
"""Matches a timing line; ``pairs`` holds ``name=value`` words (seconds, then the memory peak)."""

_spent: dict[str, float] | None = None
_cpu: dict[str, float] = {}  # CPU seconds per phase of the job being tracked
_peak: list[Any] = [0.0, "start"]  # the process's peak RSS in MB so far, and the phase that set it


def peak_rss_mb() -> float:
    """The process's peak resident set so far, in MB (0.0 where the platform cannot tell)."""
    try:
        import resource
    except ImportError:  # pragma: no cover - not on Linux or macOS
        return 0.0
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (1 << 20) if sys.platform == "darwin" else peak / 1024  # bytes there, KiB here


def _note_peak(name: str) -> None:
    now = peak_rss_mb()
    if now > _peak[0]:
        _peak[:] = [now, name]


@contextmanager
def phase(name: str) -> Iterator[None]:
    """Count the time inside the block toward ``name`` (a no-op outside ``track``)."""
    if _spent is None:
        yield
        return
    _note_peak("other")  # what came before this phase
    t0, c0 = time.perf_counter(), time.process_time()
    try:
        yield
    finally:
        if _spent is not None:
            _spent[name] = _spent.get(name, 0.0) + time.perf_counter() - t0
            _cpu[name] = _cpu.get(name, 0.0) + time.process_time() - c0
            _note_peak(name)


@contextmanager
def track(job: str) -> Iterator[dict[str, float]]:
    """Tally the phases of one job and print its timing line when the job succeeds."""
    global _spent, _cpu
    outer = (_spent, _cpu)
    spent: dict[str, float] = {}
    cpu: dict[str, float] = {}
    _spent, _cpu = spent, cpu
    _note_peak("before")
    _peak[1] = "before"  # a peak this job does not exceed was set before it
    t0, c0 = time.perf_counter(), time.process_time()
    try:
        yield spent
        _note_peak("other")
        cpu["total"] = time.process_time() - c0
        print(timing_line(job, spent, time.perf_counter() - t0, _peak[0], _peak[1], cpu), flush=True)
    finally:
        _spent, _cpu = outer


def timing_line(job: str, spent: dict[str, float], total: float, peak_mb: float = 0.0,
                peak_in: str = "before", cpu: dict[str, float] | None = None) -> str:
    """``trainguard-timing job=<job> parse=1.234 ... other=0.5 total=9.9 cpu_parse=1.1 ...
    cpu_total=12.0 peak_mb=812 peak_in=train``.

    Every phase is named, in wall seconds, then (given ``cpu``) in CPU seconds, ``cpu_other``
    and ``cpu_total`` included; ``peak_mb`` is the process's peak resident memory at the job's
    end and ``peak_in`` the phase during which it was reached (``before``: an earlier job).
    """
    words = [f"{name}={spent.get(name, 0.0):.3f}" for name in PHASES]
    other = max(0.0, total - sum(spent.values()))
    line = f"{TIMING_PREFIX} job={job} {' '.join(words)} other={other:.3f} total={total:.3f} "
    if cpu is not None:
        cpu_total = cpu.get("total", 0.0)
        cpu_other = max(0.0, cpu_total - sum(v for k, v in cpu.items() if k != "total"))
        line += " ".join(f"cpu_{name}={cpu.get(name, 0.0):.3f}" for name in PHASES)
        line += f" cpu_other={cpu_other:.3f} cpu_total={cpu_total:.3f} "
    return line + f"peak_mb={peak_mb:.0f} peak_in={peak_in}"
