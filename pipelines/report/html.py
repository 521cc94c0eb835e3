"""The evaluation report as one self-contained HTML file: decision, metrics, curves, CV, trials.

Everything is inline (CSS and hand-drawn SVG charts; no scripts, fonts or network), so the file
can be archived next to the model and opened anywhere. Every string taken from the data is
escaped. Optional parts (curves, CV, trials, lineage) are shown when present and noted when not.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from trainguard.pipelines.report.charts import Chart, padded_range, sparse_ticks
from trainguard.pipelines.report.markup import (
    as_list,
    as_mapping,
    as_text,
    esc,
    floats,
    html_section,
    html_table,
    is_number,
    item_at,
    num,
    report_css,
)
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
    bcm = as_mapping(evaluation.get("binary_classification_metrics"))
    sections = [
        _decision_section(as_mapping(evaluation.get("decision")), run_info),
        _metrics_section(bcm),
        _curves_section(bcm),
        _confusion_section(bcm.get("confusion_matrix")),
        _cv_section(as_mapping(evaluation.get("cross_validation"))),
        _overfitting_section(as_mapping(evaluation.get("overfitting")), as_mapping(evaluation.get("decision"))),
        _leakage_section(as_mapping(evaluation.get("leakage_screen")), as_mapping(evaluation.get("decision"))),
        _trials_section(trials, run_info),
        _lineage_section(as_mapping(evaluation.get("model")), run_info),
    ]
    return "\n".join([
        "<!DOCTYPE html>",
        '<html lang="en">',
        "<head>",
        '<meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{esc(title)}</title>",
        f"<style>{report_css()}</style>",
        "</head>",
        "<body>",
        "<main>",
        f"<h1>{esc(title)}</h1>",
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
    parts = " · ".join(f"{esc(k)}: <strong>{esc(as_text(run_info[k]))}</strong>" for k in keys)
    return f'<p class="muted">{parts}</p>'


def _registry_status(run_info: Mapping[str, Any]) -> str:
    """The registry's status for the model, shown beside the safeguards' verdict (never implied)."""
    status = run_info.get("registry_status") or run_info.get("status")
    return f"registry status: {as_text(status)}" if status else "registry status: not known to this report"


def _decision_section(decision: Mapping[str, Any], run_info: Mapping[str, Any] | None = None) -> str:
    if not decision:
        return html_section("Decision", '<p class="missing">No decision recorded in the evaluation.</p>',
                            "decision")
    approved = bool(decision.get("approved"))
    # The safeguards' verdict in its own words: "Approved" is the registry status that deploys.
    verdict = "PASSED THE SAFEGUARDS" if approved else "REJECTED BY THE SAFEGUARDS"
    css = "approved" if approved else "rejected"
    checks = [c for c in decision.get("checks") or [] if isinstance(c, Mapping)]
    outcome = {str(c.get("reason")): "pass" if c.get("passed") else "fail" for c in checks}
    reasons = [str(r) for r in as_list(decision.get("reasons"))]
    items = "".join(f'<li class="{outcome.get(r, "note")}">{esc(r)}</li>' for r in reasons)
    body = [f'<div class="verdict {css}"><span class="badge">{verdict}</span> '
            f'<span class="registry-status">{esc(_registry_status(run_info or {}))}</span>'
            f'<ul class="reasons">{items or "<li>No reasons recorded.</li>"}</ul></div>']
    if checks:
        rows = "".join(
            f'<tr class="{"pass" if c.get("passed") else "fail"}"><td>{esc(c.get("name"))}</td>'
            f'<td class="num">{_check_num(c, "value")}</td><td class="num">{_check_num(c, "threshold")}</td>'
            f'<td>{"pass" if c.get("passed") else "FAIL"}</td></tr>' for c in checks)
        body.append(html_table(["check", "value", "threshold", "result"], rows))
    champion = decision.get("champion")
    if isinstance(champion, Mapping) and champion:
        pairs = ", ".join(f"{esc(k)}: {esc(as_text(v))}" for k, v in champion.items())
        body.append(f'<p class="muted">Champion compared against: {pairs}</p>')
    elif "champion" in decision:
        body.append('<p class="muted">No champion: the floors alone decided.</p>')
    return html_section("Decision", "".join(body), "decision")


def _metrics_section(bcm: Mapping[str, Any]) -> str:
    names = _metric_names(bcm)
    if not names:
        return html_section("Holdout metrics", '<p class="missing">No holdout metrics recorded.</p>')
    rows = []
    for name in names:
        entry = bcm[name]
        std = entry.get("standard_deviation")
        rows.append(f'<tr><th scope="row">{esc(_METRIC_LABELS.get(name, name))}</th>'
                    f'<td class="num">{num(entry.get("value"))}</td>'
                    f'<td class="num">{num(std) if std else "&ndash;"}</td></tr>')
    return html_section("Holdout metrics", html_table(["metric", "value", "std"], "".join(rows)) +
                        '<p class="muted">Measured once on the untouched holdout set.</p>')


def _curves_section(bcm: Mapping[str, Any]) -> str:
    charts = []
    roc = as_mapping(bcm.get("receiver_operating_characteristic_curve"))
    xs, ys = floats(roc.get("false_positive_rates")), floats(roc.get("true_positive_rates"))
    if xs and len(xs) == len(ys):
        auc = as_mapping(bcm.get("auc")).get("value")
        label = f"ROC (AUC {num(auc)})" if is_number(auc) else "ROC"
        chart = Chart("ROC curve", "False positive rate", "True positive rate", (0, 1), (0, 1))
        chart.reference([(0.0, 0.0), (1.0, 1.0)], "chance")
        chart.line(list(zip(xs, ys, strict=True)), label, "roc")
        charts.append(chart.svg())
    pr = as_mapping(bcm.get("precision_recall_curve"))
    xs, ys = floats(pr.get("recalls")), floats(pr.get("precisions"))
    if xs and len(xs) == len(ys):
        ap = as_mapping(bcm.get("pr_auc")).get("value")
        label = f"PR (AUC {num(ap)})" if is_number(ap) else "PR"
        chart = Chart("Precision-recall curve", "Recall", "Precision", (0, 1), (0, 1))
        base = _positive_share(bcm.get("confusion_matrix"))
        if base is not None:
            chart.reference([(0.0, base), (1.0, base)], f"positive share {base:.3f}")
        chart.line(list(zip(xs, ys, strict=True)), label, "pr")
        charts.append(chart.svg())
    if not charts:
        return html_section("Curves", '<p class="missing">No ROC or precision-recall curve recorded.</p>')
    return html_section("Curves", f'<div class="charts">{"".join(charts)}</div>')


def _confusion_section(matrix: Any) -> str:
    cm = as_mapping(matrix)
    try:
        tn, fp = int(cm["0"]["0"]), int(cm["0"]["1"])
        fn, tp = int(cm["1"]["0"]), int(cm["1"]["1"])
    except (KeyError, TypeError, ValueError):
        return html_section("Confusion matrix", '<p class="missing">No confusion matrix recorded.</p>')

    def cell(count: int, total: int, label: str, good: bool) -> str:
        rate = f"{count / total:.1%}" if total else "&ndash;"
        return (f'<td class="cm {"good" if good else "bad"}"><strong>{count}</strong>'
                f'<br><span class="muted">{rate} {label}</span></td>')

    negatives, positives = tn + fp, fn + tp
    rows = (f'<tr><th scope="row">actual 0 ({negatives})</th>{cell(tn, negatives, "TNR", True)}'
            f'{cell(fp, negatives, "FPR", False)}</tr>'
            f'<tr><th scope="row">actual 1 ({positives})</th>{cell(fn, positives, "FNR", False)}'
            f'{cell(tp, positives, "TPR (recall)", True)}</tr>')
    table = html_table(["", "predicted 0", "predicted 1"], rows, css="confusion")
    return html_section("Confusion matrix", table + '<p class="muted">Holdout set; rates are shares '
                        "of each actual class. Keyed actual → predicted, as Model Monitor writes it.</p>")


def _cv_section(cv: Mapping[str, Any]) -> str:
    per_metric = {name: as_mapping(cv[name]) for name in _ordered(cv)
                  if isinstance(cv.get(name), Mapping) and "per_fold" in cv[name]}
    if not per_metric:
        return html_section("Cross-validation", '<p class="missing">No cross-validation scores recorded.</p>')
    n_folds = max(len(as_list(m.get("per_fold"))) for m in per_metric.values())
    head = ["fold", *(_METRIC_LABELS.get(n, n) for n in per_metric)]
    rows = []
    for i in range(n_folds):
        cells = "".join(f'<td class="num">{num(item_at(m.get("per_fold"), i))}</td>' for m in per_metric.values())
        rows.append(f"<tr><td>{i + 1}</td>{cells}</tr>")
    summary = "".join(f'<td class="num">{num(m.get("mean"))} ± {num(m.get("std"))}</td>'
                      for m in per_metric.values())
    rows.append(f'<tr class="summary"><td>mean ± std</td>{summary}</tr>')
    focus = "auc" if "auc" in per_metric else next(iter(per_metric))
    scores = floats(per_metric[focus].get("per_fold"))
    label = _METRIC_LABELS.get(focus, focus)
    chart = Chart(f"CV {label} per fold", "Fold", label, (0.5, len(scores) + 0.5),
                  padded_range(scores), x_ticks=[(i + 1, str(i + 1)) for i in range(len(scores))])
    chart.dots([(i + 1, s) for i, s in enumerate(scores)], f"{label} per fold", values=True)
    mean = per_metric[focus].get("mean")
    if is_number(mean):
        chart.reference([(0.5, float(mean)), (len(scores) + 0.5, float(mean))], f"mean {num(mean)}")
    folds = cv.get("folds")
    note = f"{esc(as_text(folds))}-fold stratified CV on the training split; " if folds else ""
    body = (html_table(head, "".join(rows)) + f'<div class="charts">{chart.svg()}</div>'
            f'<p class="muted">{note}resampling fitted inside each fold\'s fit part only.</p>')
    return html_section("Cross-validation", body)


def _overfitting_section(over: Mapping[str, Any], decision: Mapping[str, Any]) -> str:
    if not over:
        return html_section("Overfitting", '<p class="missing">No overfitting block recorded.</p>')
    ceiling = over.get("max_overfit_gap")
    for check in as_list(decision.get("checks")):
        if isinstance(check, Mapping) and check.get("name") == "max_overfit_gap" and ceiling is None:
            ceiling = check.get("threshold")
    aucs = [(label, over.get(key)) for key, label in
            (("train_auc", "train"), ("cv_auc", "CV"), ("test_auc", "test")) if is_number(over.get(key))]
    rows = "".join(f'<tr><th scope="row">{label} AUC</th><td class="num">{num(v)}</td></tr>'
                   for label, v in aucs)
    gap = over.get("train_cv_gap")
    if "train_cv_gap" in over:
        within = is_number(gap) and is_number(ceiling) and float(gap) <= float(ceiling)
        verdict = ("" if not is_number(ceiling) else
                   f' <span class="{"pass" if within else "fail"}">'
                   f'{"within" if within else "ABOVE"} the ceiling {num(ceiling)}</span>')
        rows += f'<tr><th scope="row">train &minus; CV gap</th><td class="num">{num(gap)}{verdict}</td></tr>'
    if "cv_test_gap" in over:
        rows += (f'<tr><th scope="row">CV &minus; test gap</th><td class="num">{num(over.get("cv_test_gap"))}'
                 "</td></tr>")
    body = html_table(["", "value"], rows)
    if aucs:
        values = [float(v) for _, v in aucs]
        cv_auc = over.get("cv_auc")
        limit = float(cv_auc) + float(ceiling) if is_number(ceiling) and is_number(cv_auc) else None
        drawn = limit if limit is not None and limit <= 1 else None  # an AUC above 1 cannot happen
        chart = Chart("AUC: train, CV, test", "", "AUC", (0.5, len(aucs) + 0.5),
                      padded_range(values + ([drawn] if drawn is not None else [])),
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
    return html_section("Overfitting", body + f'<p class="muted">{note}</p>')


def _leakage_section(screen: Mapping[str, Any], decision: Mapping[str, Any]) -> str:
    """The leakage screen's table: each feature alone against the label, findings first."""
    rows_in = [r for r in as_list(screen.get("features")) if isinstance(r, Mapping)]
    if not rows_in:
        return html_section("Leakage screen", '<p class="missing">No leakage screen recorded.</p>')
    check = next((c for c in as_list(decision.get("checks"))
                  if isinstance(c, Mapping) and c.get("name") == "leakage"), {})
    marked = {str(n) for n in as_list(screen.get("flagged"))}

    def flagged(r: Mapping[str, Any]) -> bool:
        return str(r.get("feature")) in marked

    def sort_key(r: Mapping[str, Any]) -> tuple[bool, float]:
        return (not flagged(r), -float(r["auc"]) if is_number(r.get("auc")) else 0.0)

    rows = ""
    for r in sorted(rows_in, key=sort_key):
        mark = '<span class="fail">flagged</span>' if flagged(r) else ""
        rows += (f'<tr><th scope="row">{esc(as_text(r.get("feature")))}</th><td>{esc(as_text(r.get("kind", "")))}</td>'
                 f'<td class="num">{num(r.get("auc"))}</td>'
                 f'<td class="num">{num(r.get("missing_share"))}</td>'
                 f'<td class="num">{num(r.get("missing_auc"))}</td>'
                 f'<td>{"yes" if r.get("unique_per_row") else ""}</td><td>{mark}</td></tr>')
    verdict = ""
    if check:
        css = "pass" if check.get("passed") else "fail"
        verdict = f'<p><span class="{css}">{esc(str(check.get("reason", "")))}</span></p>'
    note = esc(f"{screen.get('method', '')}. Flagged: AUC alone or missingness AUC at or above "
               f"{as_text(screen.get('max_feature_auc', '?'))} (approval.max_feature_auc), or unique per row; "
               f"approval.on_leakage={as_text(screen.get('on_leakage', '?'))}.")
    return html_section("Leakage screen", verdict + html_table(
        ["feature", "kind", "AUC alone", "missing share", "missingness AUC", "unique per row", ""], rows)
        + f'<p class="muted">{note}</p>')


def _trials_section(trials: Sequence[Mapping[str, Any]] | None, run_info: Mapping[str, Any]) -> str:
    rows_in = [t for t in trials or [] if isinstance(t, Mapping)]
    if not rows_in:
        return html_section("Hyperparameter search", '<p class="missing">No search trials recorded '
                            "(tuning disabled or not run; a registered package keeps only the chosen "
                            "hyperparameters, listed under Model and lineage).</p>")
    objective = str(run_info.get("objective") or "score")
    lower = objective.split(":")[-1] in _LOWER_IS_BETTER
    scored = [t for t in rows_in if is_number(t.get("score"))]
    best = (min if lower else max)(scored, key=lambda t: float(t["score"])) if scored else None
    rows = []
    for index, t in enumerate(rows_in):
        number = t.get("number", index + 1)
        params = ", ".join(f"{esc(k)}={esc(num(v) if isinstance(v, float) else as_text(v))}"
                           for k, v in as_mapping(t.get("params")).items())
        css = ' class="best"' if t is best else ""
        mark = " ★ best" if t is best else ""
        rows.append(f"<tr{css}><td>{esc(as_text(number))}{mark}</td><td class=\"params\">{params}</td>"
                    f'<td class="num">{num(t.get("score"))}</td>'
                    f'<td>{"yes" if t.get("stopped_early") else "no"}</td>'
                    f'<td>{esc(as_text(t.get("status", "")))}</td></tr>')
    body = html_table(["trial", "params", objective, "stopped early", "status"], "".join(rows))
    points = [(i + 1, float(t["score"]), t is best, bool(t.get("stopped_early")))
              for i, t in enumerate(rows_in) if is_number(t.get("score"))]
    best_x = next((x for x, _, is_best, _ in points if is_best), None)
    if points:
        chart = Chart("Score by trial", "Trial", objective, (0.5, len(rows_in) + 0.5),
                      padded_range([p[1] for p in points]),
                      x_ticks=sparse_ticks(len(rows_in)))
        running: list[tuple[float, float]] = []
        for x, y, _, _ in points:
            prev = running[-1][1] if running else y
            running.append((x, (min if lower else max)(prev, y)))
        chart.line(running, "best so far", "running")
        chart.dots([(x, y) for x, y, _, _ in points], "trial score", best=best_x,
                   hollow=[stopped for _, _, _, stopped in points])
        body += f'<div class="charts">{chart.svg()}</div>'
    return html_section("Hyperparameter search", body + '<p class="muted">Hollow dots: trials stopped '
                        "early; the best trial is highlighted.</p>")


def _lineage_section(model: Mapping[str, Any], run_info: Mapping[str, Any]) -> str:
    rows = []
    for key, value in run_info.items():
        rows.append(f'<tr><th scope="row">{esc(key)}</th><td>{esc(as_text(value))}</td></tr>')
    for key in ("best_iteration", "n_train", "n_test"):
        if key in model:
            rows.append(f'<tr><th scope="row">{esc(key)}</th><td>{esc(as_text(model[key]))}</td></tr>')
    hyper = as_mapping(model.get("hyperparameters"))
    if hyper:
        text = ", ".join(f"{esc(k)}={esc(as_text(v))}" for k, v in hyper.items())
        rows.append(f'<tr><th scope="row">hyperparameters</th><td class="params">{text}</td></tr>')
    features = as_list(model.get("features"))
    if features:
        rows.append(f'<tr><th scope="row">features ({len(features)})</th>'
                    f'<td class="params">{", ".join(esc(as_text(f)) for f in features)}</td></tr>')
    if not rows:
        return html_section("Model and lineage", '<p class="missing">No model or run details recorded.</p>')
    return html_section("Model and lineage", html_table(None, "".join(rows), css="kv"))


_COUNT_CHECKS = frozenset({"leakage"})
"""Checks whose value and threshold are counts (flagged features), printed as whole numbers."""


def _check_num(check: Mapping[str, Any], key: str) -> str:
    """A check's value or threshold: a count as a whole number ("1", not "1.0000"), else a metric."""
    value = check.get(key)
    if check.get("name") in _COUNT_CHECKS and is_number(value) and float(value).is_integer():
        return str(int(float(value)))
    return num(value)


def _metric_names(bcm: Mapping[str, Any]) -> list[str]:
    return [n for n in _ordered(bcm) if isinstance(bcm.get(n), Mapping) and "value" in bcm[n]]


def _ordered(block: Mapping[str, Any]) -> list[str]:
    known = [n for n in METRIC_NAMES if n in block]
    return known + [n for n in block if n not in known]


def _positive_share(matrix: Any) -> float | None:
    cm = as_mapping(matrix)
    try:
        negatives = int(cm["0"]["0"]) + int(cm["0"]["1"])
        positives = int(cm["1"]["0"]) + int(cm["1"]["1"])
    except (KeyError, TypeError, ValueError):
        return None
    total = negatives + positives
    return positives / total if total else None
