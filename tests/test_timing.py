"""The phase tally behind each job's trainguard-timing line (the train job's line: test_jobs.py)."""

from __future__ import annotations

import time

from trainguard.training.timing import PHASES, TIMING_PATTERN, phase, track


def _pairs(line: str) -> dict[str, str]:
    m = TIMING_PATTERN.search(line)
    assert m, line
    return dict(w.split("=") for w in m["pairs"].split())


def test_phases_count_only_inside_a_tracked_job(capsys):
    with phase("train"):  # outside a job: nothing is tallied or printed
        pass
    assert capsys.readouterr().out == ""
    with track("evaluate") as spent:
        with phase("score"):
            time.sleep(0.02)
        with phase("score"):
            time.sleep(0.01)
    pairs = _pairs(capsys.readouterr().out)
    assert float(pairs["score"]) >= 0.03 and spent["score"] >= 0.03
    assert float(pairs["parse"]) == 0.0


def test_each_phase_reports_its_cpu_seconds_beside_its_wall_seconds(capsys):
    with track("train"):
        with phase("train"):
            deadline = time.process_time() + 0.05
            while time.process_time() < deadline:  # busy: CPU seconds accrue
                pass
        with phase("score"):
            time.sleep(0.05)  # idle: wall seconds without CPU
    pairs = _pairs(capsys.readouterr().out)
    assert float(pairs["cpu_train"]) >= 0.05
    assert float(pairs["cpu_score"]) < float(pairs["score"])
    assert float(pairs["cpu_total"]) >= float(pairs["cpu_train"])
    assert {f"cpu_{p}" for p in PHASES} | {"cpu_other"} <= set(pairs)
