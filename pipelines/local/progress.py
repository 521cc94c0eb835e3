"""Plain-text progress of a local run on stderr: a line per step, a bar over trials and folds.

The bar redraws in place only on a terminal; elsewhere (CI logs, pipes) each finished trial gets
a line instead, so a long tuning step is not silent. No dependency beyond the standard library.
"""

from __future__ import annotations

import sys
from typing import Any, TextIO

__all__ = ["Progress"]

_WIDTH = 24


class Progress:
    """An ``on_event`` callback for ``run_definition`` that writes progress to ``stream``."""

    def __init__(self, stream: TextIO | None = None, *, bar: bool | None = None) -> None:
        self.stream = stream if stream is not None else sys.stderr
        self.bar = bar if bar is not None else bool(getattr(self.stream, "isatty", lambda: False)())
        self._drawn = False
        self._trial = (0, 0)

    def __call__(self, event: str, **data: Any) -> None:
        if event == "note":
            self._clear()
            self.stream.write(f"note: {data['message']}\n")
            self.stream.flush()
        elif event == "plan_cost":
            est = data["estimate"]
            gap = f"; {len(est.unknown)} job(s) not priced" if est.unknown else ""
            if est.spot_saving_usd:
                gap = f"; spot saves about {est.spot_saving_usd:.2f} USD{gap}"
            self.stream.write(f"  on SageMaker ({est.region}) this execution would cost at most "
                              f"{est.worst_usd:.2f} USD, about {est.expected_usd:.2f} USD expected{gap}\n")
            self.stream.flush()
        elif event == "step_end":
            self._clear()
            r = data["record"]
            extra = " (cached)" if r.cached else ""
            if r.status in ("Skipped", "NotRun") or (r.status == "Failed" and r.message):
                extra += f": {r.message}" if r.message else ""
            self.stream.write(f"  {r.name:<18} {r.status:<10} {r.seconds:7.1f}s{extra}\n")
            self.stream.flush()
        elif event == "trial_start":
            self._trial = (data["trial"], data["total"])
            self._draw(data["step"], 0, data.get("folds") or 0)
        elif event == "fold":
            self._draw(data["step"], data["fold"], data["folds"])
        elif event == "trial_end" and not self.bar:
            score = data.get("objective")
            shown = f"  objective {score:.4f}" if isinstance(score, (int, float)) else ""
            shown += " at the stop" if shown and data["status"] == "Stopped" else ""
            self.stream.write(f"  {data['step']:<18} trial {data['trial']}/{data['total']} "
                              f"{data['status']}{shown}\n")
            self.stream.flush()

    def close(self) -> None:
        """Clear a bar still drawn (an interrupted or failed run), so what follows starts clean."""
        self._clear()
        self.stream.flush()

    def _draw(self, step: str, fold: int, folds: int) -> None:
        if not self.bar:
            return
        trial, total = self._trial
        done = ((trial - 1) + fold / max(folds, 1)) / max(total, 1)
        filled = round(done * _WIDTH)
        where = f"trial {trial}/{total}" + (f" fold {fold}/{folds}" if folds else "")
        line = f"\r  {step:<18} [{'#' * filled}{'.' * (_WIDTH - filled)}] {where}"
        self.stream.write(line)
        self.stream.flush()
        self._drawn = True

    def _clear(self) -> None:
        if self._drawn:
            self.stream.write("\r" + " " * 78 + "\r")
            self._drawn = False
