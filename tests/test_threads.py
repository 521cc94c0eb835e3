"""One rule for trainguard's own helper threads: big enough work, and two usable cores."""

from __future__ import annotations

import os

import pytest
from trainguard.training.threads import helper_threads, thread_map, usable_cores


@pytest.fixture
def four_cores(monkeypatch):
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0, 1, 2, 3}, raising=False)
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)


def test_two_threads_from_the_threshold_on(four_cores):
    assert usable_cores() == 4
    assert [helper_threads(n, 100) for n in (0, 99, 100, 10**9)] == [1, 1, 2, 2]
    assert helper_threads() == 2


@pytest.mark.parametrize("cap, cores, expected", [("1", 4, 1), ("3", 4, 3), ("16", 4, 4),
                                                   ("0", 4, 4), ("two", 4, 4), (" 2 ", 4, 2)])
def test_omp_num_threads_caps_the_cores(four_cores, monkeypatch, cap, cores, expected):
    monkeypatch.setenv("OMP_NUM_THREADS", cap)
    assert usable_cores() == expected
    assert helper_threads(10, 1) == (2 if expected > 1 else 1)


def test_a_process_pinned_to_one_core_uses_one_thread(monkeypatch):
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {3}, raising=False)
    assert usable_cores() == 1 and helper_threads(10**9, 1) == 1


def test_without_an_affinity_call_the_core_count_decides(monkeypatch):
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    monkeypatch.delattr(os, "sched_getaffinity", raising=False)
    monkeypatch.setattr(os, "cpu_count", lambda: None)
    assert usable_cores() == 1
    monkeypatch.setattr(os, "cpu_count", lambda: 8)
    assert usable_cores() == 8


def test_every_helper_follows_the_rule(monkeypatch):
    """The screen, the bootstrap and the memo keys ask the one rule (the baseline scan too, when
    a scan starts: tests/test_monitor_drift.py)."""
    import numpy as np
    from trainguard.training import digest, evaluation, leakage

    asked: list[tuple[int, int]] = []

    def rule(size: int = 0, threshold: int = 0) -> int:
        asked.append((size, threshold))
        return 1

    for module in (leakage, evaluation, digest):
        monkeypatch.setattr(module, "helper_threads", rule)
    leakage._workers(np.zeros((10, 3)))
    evaluation.bootstrap_std(np.array([0, 1, 0, 1]), np.array([0.1, 0.9, 0.2, 0.8]), n=3)
    digest.buffer_digest(b"abc")
    assert asked == [(30, 1_000_000), (4, evaluation._THREADED_ROWS), (3, digest._TWO_HALVES)]


@pytest.mark.parametrize("threads", [1, 2, 3])
def test_thread_map_keeps_order_and_one_thread_stays_on_the_caller(threads):
    import threading

    seen: list[str] = []

    def square(x: int) -> int:
        seen.append(threading.current_thread().name)
        return x * x

    assert thread_map(square, range(7), threads) == [x * x for x in range(7)]
    on_caller = set(seen) == {threading.current_thread().name}
    assert on_caller == (threads == 1)
