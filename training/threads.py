"""How many threads trainguard's own numpy work may split into (XGBoost follows xgboost.nthread).

The leakage screen, the holdout bootstrap, the baseline scan and the memo keys each split their
work in two on big inputs (numpy releases the GIL). One rule decides for all of them: two
threads when the input is big enough and the process may use two cores, where "may" honours
the CPU affinity (``taskset``, a container's cpuset) and ``OMP_NUM_THREADS``, the usual way to
cap a numeric job's threads; else one, and the figures are the same either way.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

__all__ = ["helper_threads", "thread_map", "usable_cores"]


def usable_cores() -> int:
    """Cores this process may run on: its CPU affinity, capped by a positive ``OMP_NUM_THREADS``."""
    try:
        cores = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # no affinity call on this system (macOS)
        cores = os.cpu_count() or 1
    cap = os.environ.get("OMP_NUM_THREADS", "").strip()
    if cap.isdigit() and int(cap) > 0:
        cores = min(cores, int(cap))
    return max(1, cores)


def helper_threads(size: int = 0, threshold: int = 0) -> int:
    """2 when ``size`` reaches ``threshold`` and two cores are usable, else 1."""
    return 2 if size >= threshold and usable_cores() > 1 else 1


def thread_map(fn: Callable[[Any], Any], items: Iterable[Any], threads: int) -> list[Any]:
    """``[fn(x) for x in items]``, in order, on ``threads`` threads (1: on this one, no pool)."""
    if threads <= 1:
        return [fn(x) for x in items]
    with ThreadPoolExecutor(max_workers=threads) as pool:
        return list(pool.map(fn, items))
