"""Progress lines of a local run: one line per step always, the trial/fold bar only on a terminal."""

from __future__ import annotations

import io

from trainguard.pipelines.local.progress import Progress
from trainguard.pipelines.local.runner import StepRecord


def _feed(p: Progress) -> None:
    p("step_start", step="Tune", type="Tuning")
    p("trial_start", step="Tune", trial=1, total=2, name="t-001", folds=2)
    p("fold", step="Tune", trial=1, total=2, fold=1, folds=2)
    p("fold", step="Tune", trial=1, total=2, fold=2, folds=2)
    p("trial_end", step="Tune", trial=1, total=2, name="t-001", status="Completed", objective=0.91234)
    p("trial_start", step="Tune", trial=2, total=2, name="t-002", folds=2)
    p("trial_end", step="Tune", trial=2, total=2, name="t-002", status="Failed", objective=None)
    p("trial_end", step="Tune", trial=3, total=2, name="t-003", status="Stopped", objective=0.5)
    p("trial_start", step="Train", trial=1, total=1, name="j", folds=0)
    p("step_end", record=StepRecord("Tune", "Tuning", "Succeeded", seconds=3.25))
    p("step_end", record=StepRecord("Evaluate", "Processing", "Succeeded", seconds=0.5, cached=True))
    p("step_end", record=StepRecord("RegisterRejected", "RegisterModel", "Skipped", message="branch not taken"))


def test_not_a_terminal_gets_a_line_per_trial_and_per_step() -> None:
    out = io.StringIO()
    _feed(Progress(out))
    lines = out.getvalue().splitlines()
    assert lines == [
        "  Tune               trial 1/2 Completed  objective 0.9123",
        "  Tune               trial 2/2 Failed",
        "  Tune               trial 3/2 Stopped  objective 0.5000 at the stop",
        "  Tune               Succeeded      3.2s",
        "  Evaluate           Succeeded      0.5s (cached)",
        "  RegisterRejected   Skipped        0.0s: branch not taken",
    ]
    assert "\r" not in out.getvalue()


def test_a_terminal_gets_a_bar_over_trials_and_folds() -> None:
    out = io.StringIO()
    _feed(Progress(out, bar=True))
    text = out.getvalue()
    assert "trial 1/2 fold 1/2" in text and "trial 2/2 fold 0/2" in text  # folds known from the start
    assert "fold 0/1" not in text
    assert "] trial 1/1" in text and "trial 1/1 fold" not in text  # folds unknown: no fold count
    assert "[" + "#" * 12 + "." * 12 + "] trial 1/2 fold 2/2" in text  # half way: 1 of 2 trials
    assert text.rstrip().endswith("branch not taken")
    assert "trial 1/2 Completed" not in text  # on a terminal the bar stands for the trial lines


def test_close_clears_a_bar_left_drawn_by_an_interrupted_run() -> None:
    out = io.StringIO()
    p = Progress(out, bar=True)
    p("trial_start", step="Tune", trial=1, total=2, name="t-001", folds=5)
    p.close()
    assert out.getvalue().endswith("\r" + " " * 78 + "\r")
    p.close()  # nothing drawn any more: nothing written
    assert out.getvalue().count(" " * 78) == 1
