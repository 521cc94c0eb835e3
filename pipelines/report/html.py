"""The evaluation report as one self-contained HTML file: decision, metrics, curves, CV, trials.

Everything is inline (CSS and hand-drawn SVG charts; no scripts, fonts or network), so the file
can be archived next to the model and opened anywhere. Every string taken from the data is
escaped. Optional parts (curves, CV, trials, lineage) are shown when present and noted when not.
"""

from __future__ import annotations

import functools
import html
import json
import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from trainguard.training.errors import TrainguardError
from trainguard.training.files import write_text
from trainguard.training.metrics import METRIC_NAMES

__all__ = ["ReportError", "render_report", "write_report"]

DEFAULT_TITLE = "trainguard evaluation report"
_LOWER_IS_BETTER = {"log_loss"}
_METRIC_LABELS = {"auc": "ROC AUC", "pr_auc": "PR AUC", "f1": "F1", "precision": "Precision",
                  "recall": "Recall", "accuracy": "Accuracy", "log_loss": "Log loss",
                  "train_auc": "Train ROC AUC"}


class ReportError(TrainguardError):
    """The report cannot be made from what was given; the message says what to pass instead."""


def render_report(evaluation: Mapping[str, Any], trials: Sequence[Mapping[str, Any]] | None = None,
                  *, title: str = DEFAULT_TITLE, run_info: Mapping[str, Any] | None = None) -> str:
    """The whole report as an HTML string, from an evaluation.json dict and the search's trials.

    ``trials`` are dicts like ``{"number", "params", "score", "stopped_early", "status"}``;
    ``run_info`` is free-form (pipeline, execution, data URI, code version, objective, ...).
    Raises ReportError when ``evaluation`` is not a mapping.
    """
    if not isinstance(evaluation, Mapping):
        raise ReportError(f"the evaluation must be the evaluation.json mapping; got "
                          f"{type(evaluation).__name__}. Load the file with json.load first.")
    run_info = dict(run_info or {})
    bcm = _mapping(evaluation.get("binary_classification_metrics"))
    sections = [
        _decision_section(_mapping(evaluation.get("decision")), run_info),
        _metrics_section(bcm),
        _curves_section(bcm),
        _confusion_section(bcm.get("confusion_matrix")),
        _cv_section(_mapping(evaluation.get("cross_validation"))),
        _overfitting_section(_mapping(evaluation.get("overfitting")), _mapping(evaluation.get("decision"))),
        _leakage_section(_mapping(evaluation.get("leakage_screen")), _mapping(evaluation.get("decision"))),
        _trials_section(trials, run_info),
        _lineage_section(_mapping(evaluation.get("model")), run_info),
    ]
    return "\n".join([
        "<!DOCTYPE html>",
        '<html lang="en">',
        "<head>",
        '<meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{_e(title)}</title>",
        f"<style>{_css()}</style>",
        "</head>",
        "<body>",
        "<main>",
        f"<h1>{_e(title)}</h1>",
        _run_summary(run_info),
        *sections,
        "</main>",
        "</body>",
        "</html>",
        "",
    ])


def write_report(path: str | os.PathLike[str], evaluation: Mapping[str, Any],
                 trials: Sequence[Mapping[str, Any]] | None = None, *, title: str = DEFAULT_TITLE,
                 run_info: Mapping[str, Any] | None = None) -> Path:
    """Render and write the report to ``path`` (folders created); the file appears whole or not at all."""
    text = render_report(evaluation, trials, title=title, run_info=run_info)
    target = Path(path)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        write_text(target, text)
    except OSError as exc:
        blocker = next((p for p in target.parents if p.exists() and not p.is_dir()), None)
        detail = f"{blocker} is a file, not a folder" if blocker else (exc.strerror or exc)
        raise ReportError(f"cannot write the report to {target}: {detail}; choose a writable path.") from None
    return target


# ------------------------------------------------------------------------------ sections


def _run_summary(run_info: Mapping[str, Any]) -> str:
    keys = [k for k in ("pipeline", "execution", "started", "finished") if k in run_info]
    if not keys:
        return ""
    parts = " · ".join(f"{_e(k)}: <strong>{_e(_text(run_info[k]))}</strong>" for k in keys)
    return f'<p class="muted">{parts}</p>'


def _registry_status(run_info: Mapping[str, Any]) -> str:
    """The registry's status for the model, shown beside the safeguards' verdict (never implied)."""
    status = run_info.get("registry_status") or run_info.get("status")
    return f"registry status: {_text(status)}" if status else "registry status: not known to this report"


def _decision_section(decision: Mapping[str, Any], run_info: Mapping[str, Any] | None = None) -> str:
    if not decision:
        return _section("Decision", '<p class="missing">No decision recorded in the evaluation.</p>',
                        "decision")
    approved = bool(decision.get("approved"))
    # The safeguards' verdict in its own words: "Approved" is the registry status that deploys.
    verdict = "PASSED THE SAFEGUARDS" if approved else "REJECTED BY THE SAFEGUARDS"
    css = "approved" if approved else "rejected"
    checks = [c for c in decision.get("checks") or [] if isinstance(c, Mapping)]
    outcome = {str(c.get("reason")): "pass" if c.get("passed") else "fail" for c in checks}
    reasons = [str(r) for r in _list(decision.get("reasons"))]
    items = "".join(f'<li class="{outcome.get(r, "note")}">{_e(r)}</li>' for r in reasons)
    body = [f'<div class="verdict {css}"><span class="badge">{verdict}</span> '
            f'<span class="registry-status">{_e(_registry_status(run_info or {}))}</span>'
            f'<ul class="reasons">{items or "<li>No reasons recorded.</li>"}</ul></div>']
    if checks:
        rows = "".join(
            f'<tr class="{"pass" if c.get("passed") else "fail"}"><td>{_e(c.get("name"))}</td>'
            f'<td class="num">{_check_num(c, "value")}</td><td class="num">{_check_num(c, "threshold")}</td>'
            f'<td>{"pass" if c.get("passed") else "FAIL"}</td></tr>' for c in checks)
        body.append(_table(["check", "value", "threshold", "result"], rows))
    champion = decision.get("champion")
    if isinstance(champion, Mapping) and champion:
        pairs = ", ".join(f"{_e(k)}: {_e(_text(v))}" for k, v in champion.items())
        body.append(f'<p class="muted">Champion compared against: {pairs}</p>')
    elif "champion" in decision:
        body.append('<p class="muted">No champion: the floors alone decided.</p>')
    return _section("Decision", "".join(body), "decision")


def _metrics_section(bcm: Mapping[str, Any]) -> str:
    names = _metric_names(bcm)
    if not names:
        return _section("Holdout metrics", '<p class="missing">No holdout metrics recorded.</p>')
    rows = []
    for name in names:
        entry = bcm[name]
        std = entry.get("standard_deviation")
        rows.append(f'<tr><th scope="row">{_e(_METRIC_LABELS.get(name, name))}</th>'
                    f'<td class="num">{_num(entry.get("value"))}</td>'
                    f'<td class="num">{_num(std) if std else "&ndash;"}</td></tr>')
    return _section("Holdout metrics", _table(["metric", "value", "std"], "".join(rows)) +
                    '<p class="muted">Measured once on the untouched holdout set.</p>')


def _curves_section(bcm: Mapping[str, Any]) -> str:
    charts = []
    roc = _mapping(bcm.get("receiver_operating_characteristic_curve"))
    xs, ys = _floats(roc.get("false_positive_rates")), _floats(roc.get("true_positive_rates"))
    if xs and len(xs) == len(ys):
        auc = _mapping(bcm.get("auc")).get("value")
        label = f"ROC (AUC {_num(auc)})" if _is_number(auc) else "ROC"
        chart = _Chart("ROC curve", "False positive rate", "True positive rate", (0, 1), (0, 1))
        chart.reference([(0.0, 0.0), (1.0, 1.0)], "chance")
        chart.line(list(zip(xs, ys, strict=True)), label, "roc")
        charts.append(chart.svg())
    pr = _mapping(bcm.get("precision_recall_curve"))
    xs, ys = _floats(pr.get("recalls")), _floats(pr.get("precisions"))
    if xs and len(xs) == len(ys):
        ap = _mapping(bcm.get("pr_auc")).get("value")
        label = f"PR (AUC {_num(ap)})" if _is_number(ap) else "PR"
        chart = _Chart("Precision-recall curve", "Recall", "Precision", (0, 1), (0, 1))
        base = _positive_share(bcm.get("confusion_matrix"))
        if base is not None:
            chart.reference([(0.0, base), (1.0, base)], f"positive share {base:.3f}")
        chart.line(list(zip(xs, ys, strict=True)), label, "pr")
        charts.append(chart.svg())
    if not charts:
        return _section("Curves", '<p class="missing">No ROC or precision-recall curve recorded.</p>')
    return _section("Curves", f'<div class="charts">{"".join(charts)}</div>')


def _confusion_section(matrix: Any) -> str:
    cm = _mapping(matrix)
    try:
        tn, fp = int(cm["0"]["0"]), int(cm["0"]["1"])
        fn, tp = int(cm["1"]["0"]), int(cm["1"]["1"])
    except (KeyError, TypeError, ValueError):
        return _section("Confusion matrix", '<p class="missing">No confusion matrix recorded.</p>')

    def cell(count: int, total: int, label: str, good: bool) -> str:
        rate = f"{count / total:.1%}" if total else "&ndash;"
        return (f'<td class="cm {"good" if good else "bad"}"><strong>{count}</strong>'
                f'<br><span class="muted">{rate} {label}</span></td>')

    negatives, positives = tn + fp, fn + tp
    rows = (f'<tr><th scope="row">actual 0 ({negatives})</th>{cell(tn, negatives, "TNR", True)}'
            f'{cell(fp, negatives, "FPR", False)}</tr>'
            f'<tr><th scope="row">actual 1 ({positives})</th>{cell(fn, positives, "FNR", False)}'
            f'{cell(tp, positives, "TPR (recall)", True)}</tr>')
    table = _table(["", "predicted 0", "predicted 1"], rows, css="confusion")
    return _section("Confusion matrix", table + '<p class="muted">Holdout set; rates are shares '
                    "of each actual class. Keyed actual → predicted, as Model Monitor writes it.</p>")


def _cv_section(cv: Mapping[str, Any]) -> str:
    per_metric = {name: _mapping(cv[name]) for name in _ordered(cv)
                  if isinstance(cv.get(name), Mapping) and "per_fold" in cv[name]}
    if not per_metric:
        return _section("Cross-validation", '<p class="missing">No cross-validation scores recorded.</p>')
    n_folds = max(len(_list(m.get("per_fold"))) for m in per_metric.values())
    head = ["fold", *(_METRIC_LABELS.get(n, n) for n in per_metric)]
    rows = []
    for i in range(n_folds):
        cells = "".join(f'<td class="num">{_num(_at(m.get("per_fold"), i))}</td>' for m in per_metric.values())
        rows.append(f"<tr><td>{i + 1}</td>{cells}</tr>")
    summary = "".join(f'<td class="num">{_num(m.get("mean"))} ± {_num(m.get("std"))}</td>'
                      for m in per_metric.values())
    rows.append(f'<tr class="summary"><td>mean ± std</td>{summary}</tr>')
    focus = "auc" if "auc" in per_metric else next(iter(per_metric))
    scores = _floats(per_metric[focus].get("per_fold"))
    label = _METRIC_LABELS.get(focus, focus)
    chart = _Chart(f"CV {label} per fold", "Fold", label, (0.5, len(scores) + 0.5),
                   _padded_range(scores), x_ticks=[(i + 1, str(i + 1)) for i in range(len(scores))])
    chart.dots([(i + 1, s) for i, s in enumerate(scores)], f"{label} per fold", values=True)
    mean = per_metric[focus].get("mean")
    if _is_number(mean):
        chart.reference([(0.5, float(mean)), (len(scores) + 0.5, float(mean))], f"mean {_num(mean)}")
    folds = cv.get("folds")
    note = f"{_e(_text(folds))}-fold stratified CV on the training split; " if folds else ""
    body = (_table(head, "".join(rows)) + f'<div class="charts">{chart.svg()}</div>'
            f'<p class="muted">{note}resampling fitted inside each fold\'s fit part only.</p>')
    return _section("Cross-validation", body)


def _overfitting_section(over: Mapping[str, Any], decision: Mapping[str, Any]) -> str:
    if not over:
        return _section("Overfitting", '<p class="missing">No overfitting block recorded.</p>')
    ceiling = over.get("max_overfit_gap")
    for check in _list(decision.get("checks")):
        if isinstance(check, Mapping) and check.get("name") == "max_overfit_gap" and ceiling is None:
            ceiling = check.get("threshold")
    aucs = [(label, over.get(key)) for key, label in
            (("train_auc", "train"), ("cv_auc", "CV"), ("test_auc", "test")) if _is_number(over.get(key))]
    rows = "".join(f'<tr><th scope="row">{label} AUC</th><td class="num">{_num(v)}</td></tr>'
                   for label, v in aucs)
    gap = over.get("train_cv_gap")
    if "train_cv_gap" in over:
        within = _is_number(gap) and _is_number(ceiling) and float(gap) <= float(ceiling)
        verdict = ("" if not _is_number(ceiling) else
                   f' <span class="{"pass" if within else "fail"}">'
                   f'{"within" if within else "ABOVE"} the ceiling {_num(ceiling)}</span>')
        rows += f'<tr><th scope="row">train &minus; CV gap</th><td class="num">{_num(gap)}{verdict}</td></tr>'
    if "cv_test_gap" in over:
        rows += (f'<tr><th scope="row">CV &minus; test gap</th><td class="num">{_num(over.get("cv_test_gap"))}'
                 "</td></tr>")
    body = _table(["", "value"], rows)
    if aucs:
        values = [float(v) for _, v in aucs]
        cv_auc = over.get("cv_auc")
        limit = float(cv_auc) + float(ceiling) if _is_number(ceiling) and _is_number(cv_auc) else None
        drawn = limit if limit is not None and limit <= 1 else None  # an AUC above 1 cannot happen
        chart = _Chart("AUC: train, CV, test", "", "AUC", (0.5, len(aucs) + 0.5),
                       _padded_range(values + ([drawn] if drawn is not None else [])),
                       x_ticks=[(i + 1, label) for i, (label, _) in enumerate(aucs)])
        chart.dots([(i + 1, v) for i, v in enumerate(values)], "AUC", values=True)
        if drawn is not None:
            chart.reference([(0.5, drawn), (len(aucs) + 0.5, drawn)],
                            f"train AUC limit: CV + ceiling = {drawn:.3f}")
        body += f'<div class="charts">{chart.svg()}</div>'
    note = ("Train AUC is measured on each fold's own original fit rows; a large train &minus; CV gap "
            "means the model memorizes its training data.")
    if limit is not None and limit > 1:
        note += (f" The train AUC limit (CV + ceiling = {limit:.3f}) is above 1, so no train AUC can "
                 "break it.")
    return _section("Overfitting", body + f'<p class="muted">{note}</p>')


def _leakage_section(screen: Mapping[str, Any], decision: Mapping[str, Any]) -> str:
    """The leakage screen's table: each feature alone against the label, findings first."""
    rows_in = [r for r in _list(screen.get("features")) if isinstance(r, Mapping)]
    if not rows_in:
        return _section("Leakage screen", '<p class="missing">No leakage screen recorded.</p>')
    check = next((c for c in _list(decision.get("checks"))
                  if isinstance(c, Mapping) and c.get("name") == "leakage"), {})
    marked = {str(n) for n in _list(screen.get("flagged"))}

    def flagged(r: Mapping[str, Any]) -> bool:
        return str(r.get("feature")) in marked

    def sort_key(r: Mapping[str, Any]) -> tuple[bool, float]:
        return (not flagged(r), -float(r["auc"]) if _is_number(r.get("auc")) else 0.0)

    rows = ""
    for r in sorted(rows_in, key=sort_key):
        mark = '<span class="fail">flagged</span>' if flagged(r) else ""
        rows += (f'<tr><th scope="row">{_e(_text(r.get("feature")))}</th><td>{_e(_text(r.get("kind", "")))}</td>'
                 f'<td class="num">{_num(r.get("auc"))}</td>'
                 f'<td class="num">{_num(r.get("missing_share"))}</td>'
                 f'<td class="num">{_num(r.get("missing_auc"))}</td>'
                 f'<td>{"yes" if r.get("unique_per_row") else ""}</td><td>{mark}</td></tr>')
    verdict = ""
    if check:
        css = "pass" if check.get("passed") else "fail"
        verdict = f'<p><span class="{css}">{_e(str(check.get("reason", "")))}</span></p>'
    note = _e(f"{screen.get('method', '')}. Flagged: AUC alone or missingness AUC at or above "
              f"{_text(screen.get('max_feature_auc', '?'))} (approval.max_feature_auc), or unique per row; "
              f"approval.on_leakage={_text(screen.get('on_leakage', '?'))}.")
    return _section("Leakage screen", verdict + _table(
        ["feature", "kind", "AUC alone", "missing share", "missingness AUC", "unique per row", ""], rows)
        + f'<p class="muted">{note}</p>')


def _trials_section(trials: Sequence[Mapping[str, Any]] | None, run_info: Mapping[str, Any]) -> str:
    rows_in = [t for t in trials or [] if isinstance(t, Mapping)]
    if not rows_in:
        return _section("Hyperparameter search", '<p class="missing">No search trials recorded '
                        "(tuning disabled or not run; a registered package keeps only the chosen "
                        "hyperparameters, listed under Model and lineage).</p>")
    objective = str(run_info.get("objective") or "score")
    lower = objective.split(":")[-1] in _LOWER_IS_BETTER
    scored = [t for t in rows_in if _is_number(t.get("score"))]
    best = (min if lower else max)(scored, key=lambda t: float(t["score"])) if scored else None
    rows = []
    for index, t in enumerate(rows_in):
        number = t.get("number", index + 1)
        params = ", ".join(f"{_e(k)}={_e(_num(v) if isinstance(v, float) else _text(v))}"
                           for k, v in _mapping(t.get("params")).items())
        css = ' class="best"' if t is best else ""
        mark = " ★ best" if t is best else ""
        rows.append(f"<tr{css}><td>{_e(_text(number))}{mark}</td><td class=\"params\">{params}</td>"
                    f'<td class="num">{_num(t.get("score"))}</td>'
                    f'<td>{"yes" if t.get("stopped_early") else "no"}</td>'
                    f'<td>{_e(_text(t.get("status", "")))}</td></tr>')
    body = _table(["trial", "params", objective, "stopped early", "status"], "".join(rows))
    points = [(i + 1, float(t["score"]), t is best, bool(t.get("stopped_early")))
              for i, t in enumerate(rows_in) if _is_number(t.get("score"))]
    best_x = next((x for x, _, is_best, _ in points if is_best), None)
    if points:
        chart = _Chart("Score by trial", "Trial", objective, (0.5, len(rows_in) + 0.5),
                       _padded_range([p[1] for p in points]),
                       x_ticks=_sparse_ticks(len(rows_in)))
        running: list[tuple[float, float]] = []
        for x, y, _, _ in points:
            prev = running[-1][1] if running else y
            running.append((x, (min if lower else max)(prev, y)))
        chart.line(running, "best so far", "running")
        chart.dots([(x, y) for x, y, _, _ in points], "trial score", best=best_x,
                   hollow=[stopped for _, _, _, stopped in points])
        body += f'<div class="charts">{chart.svg()}</div>'
    return _section("Hyperparameter search", body + '<p class="muted">Hollow dots: trials stopped '
                    "early; the best trial is highlighted.</p>")


def _lineage_section(model: Mapping[str, Any], run_info: Mapping[str, Any]) -> str:
    rows = []
    for key, value in run_info.items():
        rows.append(f'<tr><th scope="row">{_e(key)}</th><td>{_e(_text(value))}</td></tr>')
    for key in ("best_iteration", "n_train", "n_test"):
        if key in model:
            rows.append(f'<tr><th scope="row">{_e(key)}</th><td>{_e(_text(model[key]))}</td></tr>')
    hyper = _mapping(model.get("hyperparameters"))
    if hyper:
        text = ", ".join(f"{_e(k)}={_e(_text(v))}" for k, v in hyper.items())
        rows.append(f'<tr><th scope="row">hyperparameters</th><td class="params">{text}</td></tr>')
    features = _list(model.get("features"))
    if features:
        rows.append(f'<tr><th scope="row">features ({len(features)})</th>'
                    f'<td class="params">{", ".join(_e(_text(f)) for f in features)}</td></tr>')
    if not rows:
        return _section("Model and lineage", '<p class="missing">No model or run details recorded.</p>')
    return _section("Model and lineage", _table(None, "".join(rows), css="kv"))


# ------------------------------------------------------------------------------ SVG charts


@dataclass
class _Chart:
    """A small hand-drawn SVG chart: axes, ticks, labels, lines, bars, dots and a legend."""

    title: str
    x_label: str
    y_label: str
    x_range: tuple[float, float]
    y_range: tuple[float, float]
    x_ticks: list[tuple[float, str]] | None = None
    width: int = 400
    height: int = 320

    LEFT, RIGHT, TOP, BOTTOM = 56, 14, 30, 48

    def __post_init__(self) -> None:
        self._parts: list[str] = []
        self._legend: list[tuple[str, str]] = []

    def px(self, x: float, y: float) -> tuple[float, float]:
        """Data coordinates to pixels inside the plot area."""
        (x0, x1), (y0, y1) = self.x_range, self.y_range
        w = self.width - self.LEFT - self.RIGHT
        h = self.height - self.TOP - self.BOTTOM
        fx = (x - x0) / (x1 - x0) if x1 != x0 else 0.5
        fy = (y - y0) / (y1 - y0) if y1 != y0 else 0.5
        return self.LEFT + fx * w, self.TOP + (1 - fy) * h

    def _path(self, points: Sequence[tuple[float, float]]) -> str:
        coords = [self.px(x, y) for x, y in points]
        return "M" + " L".join(f"{x:.2f},{y:.2f}" for x, y in coords)

    def line(self, points: Sequence[tuple[float, float]], label: str, css: str) -> None:
        """A data series drawn as a polyline path (one vertex per data point)."""
        self._parts.append(f'<path class="series {css}" data-points="{len(points)}" '
                           f'd="{self._path(points)}"/>')
        self._legend.append((css, label))

    def reference(self, points: Sequence[tuple[float, float]], label: str) -> None:
        """A dashed reference line (chance diagonal, baseline, mean, ceiling)."""
        self._parts.append(f'<path class="reference" d="{self._path(points)}"/>')
        self._legend.append(("reference", label))

    def bars(self, points: Sequence[tuple[float, float]], label: str) -> None:
        """Vertical bars from the bottom of the value axis, each labelled with its value."""
        base = self.y_range[0]
        slot = (self.width - self.LEFT - self.RIGHT) / max(self.x_range[1] - self.x_range[0], 1e-9)
        bar_w = min(slot * 0.6, 48)
        for x, y in points:
            cx, top = self.px(x, y)
            _, bottom = self.px(x, base)
            self._parts.append(f'<rect class="bar" x="{cx - bar_w / 2:.2f}" y="{min(top, bottom):.2f}" '
                               f'width="{bar_w:.2f}" height="{abs(bottom - top):.2f}"/>'
                               f'<text class="value" x="{cx:.2f}" y="{min(top, bottom) - 4:.2f}">'
                               f"{y:.3f}</text>")
        self._legend.append(("bar", label))

    def dots(self, points: Sequence[tuple[float, float]], label: str, *, best: float | None = None,
             hollow: Sequence[bool] = (), values: bool = False) -> None:
        """Markers at (x, y): hollow where ``hollow`` says so, larger at x == ``best``, optional labels."""
        for i, (x, y) in enumerate(points):
            cx, cy = self.px(x, y)
            is_best = best is not None and x == best
            css = "dot" + (" best" if is_best else "") + (" stopped" if i < len(hollow) and hollow[i] else "")
            self._parts.append(f'<circle class="{css}" cx="{cx:.2f}" cy="{cy:.2f}" r="{6 if is_best else 4}"/>')
            if values:
                self._parts.append(f'<text class="value" x="{cx:.2f}" y="{cy - 9:.2f}">{y:.3f}</text>')
        self._legend.append(("dot", label))
        if best is not None:
            self._legend.append(("dot best", "best"))
        if any(hollow):
            self._legend.append(("dot stopped", "stopped early"))

    def svg(self) -> str:
        """The finished <svg> element (scales to its container through the viewBox)."""
        (x0, x1), (y0, y1) = self.x_range, self.y_range
        left, top = self.LEFT, self.TOP
        right, bottom = self.width - self.RIGHT, self.height - self.BOTTOM
        total_height = self.height + 18 * len(self._legend) + (6 if self._legend else 0)
        out = [f'<svg class="chart" viewBox="0 0 {self.width} {total_height}" role="img" '
               f'aria-label="{_e(self.title)}"><title>{_e(self.title)}</title>',
               f'<text class="chart-title" x="{self.width / 2:.1f}" y="18">{_e(self.title)}</text>',
               f'<rect class="frame" x="{left}" y="{top}" width="{right - left}" height="{bottom - top}"/>']
        for value in _nice_ticks(y0, y1):
            _, y = self.px(x0, value)
            out.append(f'<line class="grid" x1="{left}" y1="{y:.2f}" x2="{right}" y2="{y:.2f}"/>'
                       f'<text class="tick y" x="{left - 6}" y="{y + 4:.2f}">{_tick(value)}</text>')
        for value, text in self.x_ticks or [(v, _tick(v)) for v in _nice_ticks(x0, x1)]:
            x, _ = self.px(value, y0)
            out.append(f'<line class="tickmark" x1="{x:.2f}" y1="{bottom}" x2="{x:.2f}" y2="{bottom + 5}"/>'
                       f'<text class="tick x" x="{x:.2f}" y="{bottom + 18}">{_e(text)}</text>')
        out.append(f'<text class="axis-label" x="{(left + right) / 2:.1f}" y="{self.height - 8}">'
                   f"{_e(self.x_label)}</text>")
        out.append(f'<text class="axis-label" transform="translate(14 {(top + bottom) / 2:.1f}) rotate(-90)">'
                   f"{_e(self.y_label)}</text>")
        out.append('<g class="plot">')
        out.extend(self._parts)
        out.append("</g>")
        for i, (css, label) in enumerate(self._legend):
            y = self.height + 10 + 18 * i
            if css == "bar":
                sample = f'<rect class="bar" x="{left}" y="{y - 9}" width="18" height="10"/>'
            elif css.startswith("dot"):
                sample = f'<circle class="{css}" cx="{left + 9}" cy="{y - 4}" r="4"/>'
            else:
                line_css = "reference" if css == "reference" else f"series {css}"
                sample = f'<line class="{line_css}" x1="{left}" y1="{y - 4}" x2="{left + 18}" y2="{y - 4}"/>'
            out.append(f'<g class="legend">{sample}<text x="{left + 26}" y="{y}">{_e(label)}</text></g>')
        out.append("</svg>")
        return "".join(out)


def _nice_ticks(lo: float, hi: float, target: int = 5) -> list[float]:
    """Round tick values covering [lo, hi]: steps of 1, 2 or 5 times a power of ten."""
    if not (math.isfinite(lo) and math.isfinite(hi)) or hi <= lo:
        return [lo]
    power = 10 ** math.floor(math.log10((hi - lo) / target))
    step = min((m * power for m in (1, 2, 5, 10)), key=lambda st: abs((hi - lo) / st - target))
    first = math.ceil(lo / step - 1e-9) * step
    ticks = []
    value = first
    while value <= hi + step * 1e-9:
        ticks.append(round(value, 10))
        value += step
    return ticks


def _tick(value: float) -> str:
    return f"{value:.4f}".rstrip("0").rstrip(".") if value != int(value) else str(int(value))


def _padded_range(values: Sequence[float]) -> tuple[float, float]:
    """A value axis that shows differences between close scores but keeps bars honest near 0..1."""
    finite = [v for v in values if math.isfinite(v)]
    if not finite:
        return 0.0, 1.0
    lo, hi = min(finite), max(finite)
    span = hi - lo or max(abs(hi) * 0.1, 0.05)
    lo, hi = lo - span * 0.6, hi + span * 0.4
    if min(finite) >= 0 and lo < 0:
        lo = 0.0
    if max(finite) <= 1 and hi > 1 and min(finite) >= 0:
        hi = 1.0 if max(finite) < 1 else 1.05
    return lo, hi


def _sparse_ticks(n: int) -> list[tuple[float, str]]:
    step = max(1, math.ceil(n / 10))
    return [(i, str(i)) for i in range(1, n + 1, step)]


# ------------------------------------------------------------------------------ helpers


def _section(heading: str, body: str, css: str = "") -> str:
    cls = f' class="{css}"' if css else ""
    return f"<section{cls}><h2>{_e(heading)}</h2>{body}</section>"


def _table(head: Sequence[str] | None, rows: str, css: str = "") -> str:
    cls = f' class="{css}"' if css else ""
    thead = ("<thead><tr>" + "".join(f'<th scope="col">{_e(h)}</th>' for h in head) + "</tr></thead>"
             if head else "")
    return f'<div class="table-wrap"><table{cls}>{thead}<tbody>{rows}</tbody></table></div>'


def _e(value: Any) -> str:
    return html.escape(str(value), quote=True)


def _text(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, float):
        return _num(value)
    try:
        return json.dumps(value, sort_keys=True, default=str)
    except (TypeError, ValueError):
        return str(value)


_COUNT_CHECKS = frozenset({"leakage"})
"""Checks whose value and threshold are counts (flagged features), printed as whole numbers."""


def _check_num(check: Mapping[str, Any], key: str) -> str:
    """A check's value or threshold: a count as a whole number ("1", not "1.0000"), else a metric."""
    value = check.get(key)
    if check.get("name") in _COUNT_CHECKS and _is_number(value) and float(value).is_integer():
        return str(int(float(value)))
    return _num(value)


def _num(value: Any) -> str:
    if isinstance(value, bool) or not _is_number(value):
        return "&ndash;" if value is None else _e(str(value))
    number = float(value)
    if float(number).is_integer() and abs(number) >= 1 and not isinstance(value, float):
        return str(int(number))
    return f"{number:.4f}"


def _is_number(value: Any) -> bool:
    if isinstance(value, bool):
        return False
    try:
        return math.isfinite(float(value))
    except (TypeError, ValueError):
        return False


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _list(value: Any) -> list[Any]:
    return list(value) if isinstance(value, (list, tuple)) else []


def _at(values: Any, index: int) -> Any:
    items = _list(values)
    return items[index] if index < len(items) else None


def _floats(values: Any) -> list[float]:
    items = _list(values)
    if not items or not all(_is_number(v) for v in items):
        return []
    return [float(v) for v in items]


def _metric_names(bcm: Mapping[str, Any]) -> list[str]:
    return [n for n in _ordered(bcm) if isinstance(bcm.get(n), Mapping) and "value" in bcm[n]]


def _ordered(block: Mapping[str, Any]) -> list[str]:
    known = [n for n in METRIC_NAMES if n in block]
    return known + [n for n in block if n not in known]


def _positive_share(matrix: Any) -> float | None:
    cm = _mapping(matrix)
    try:
        negatives = int(cm["0"]["0"]) + int(cm["0"]["1"])
        positives = int(cm["1"]["0"]) + int(cm["1"]["1"])
    except (KeyError, TypeError, ValueError):
        return None
    total = negatives + positives
    return positives / total if total else None


@functools.cache
def _css() -> str:
    """The report's styles, shipped as the package file report.css."""
    return resources.files(__package__).joinpath("report.css").read_text(encoding="utf-8")
