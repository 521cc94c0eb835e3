"""The drift report as one self-contained HTML file, in the training report's style.

A verdict (clean, or the violation count), the per-feature table (distance, method, threshold,
p-value, L-infinity, completeness, drifted), the violations, the model-quality rows when labels
were checked, and for every drifted feature a bar chart of the baseline's and the current
data's shares per bin (numeric: the baseline's equal-probability bins; text: categories).
Drawn as inline SVG; every string taken from the data is escaped.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from trainguard.pipelines.report.html import ReportError
from trainguard.pipelines.report.markup import esc, html_section, html_table, num, report_css
from trainguard.training.files import write_text

__all__ = ["render_drift_report", "write_drift_report"]

DEFAULT_TITLE = "trainguard drift report"
_EXTRA_CSS = """
.bars { display: block; margin: 6px 0 14px; }
.bars .base { fill: #8aa4c8; } .bars .cur { fill: #c62828; }
.legend span { display: inline-block; width: 12px; height: 12px; margin: 0 4px 0 12px;
               vertical-align: -1px; }
tr.drifted td { background: #fdeeee; }
"""


def render_drift_report(report: Mapping[str, Any], *, title: str = DEFAULT_TITLE) -> str:
    """The whole page from a drift_report.json mapping (``DriftResult.to_dict()``)."""
    if not isinstance(report, Mapping) or "features" not in report:
        raise ReportError("the drift report must be the drift_report.json mapping (with 'features'); "
                          "load the file with json.load first.")
    features = [f for f in report.get("features") or [] if isinstance(f, Mapping)]
    drifted = [f for f in features if f.get("drifted")]
    violations = list(report.get("violations") or []) + list(report.get("model_quality_violations") or [])
    clean = not violations
    verdict = ("CLEAN" if clean else f"{len(violations)} VIOLATION{'S' if len(violations) != 1 else ''}")
    css = "approved" if clean else "rejected"
    method = report.get("method")
    how = (f"calibrated: chi-squared on the baseline's bins, family-wise alpha "
           f"{num(report.get('alpha'))}, minimum effect (total variation) {num(report.get('min_effect'))}"
           if method == "calibrated" else "Model Monitor's L-infinity rules, as the baseline's constraints ask")
    head = (f'<div class="verdict {css}"><span class="badge">{esc(verdict)}</span>'
            f'<p>{esc(report.get("data"))}: {num(report.get("rows"))} rows checked against '
            f'{esc(report.get("baseline"))}</p><p class="muted">Method: {esc(how)}.</p></div>')
    sections = [head, _table_section(features), _violations_section(violations)]
    if report.get("model_quality"):
        sections.append(_quality_section(report["model_quality"], report.get("labelled_rows")))
    sections.append(_charts_section(drifted))
    return "\n".join([
        "<!DOCTYPE html>", '<html lang="en">', "<head>", '<meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{esc(title)}</title>", f"<style>{report_css()}{_EXTRA_CSS}</style>", "</head>",
        "<body>", "<main>", f"<h1>{esc(title)}</h1>", *sections, "</main>", "</body>", "</html>", ""])


def _table_section(features: Sequence[Mapping[str, Any]]) -> str:
    rows = []
    for f in features:
        cls = ' class="drifted"' if f.get("drifted") else ""
        note = f" ({esc(f['note'])})" if f.get("note") else ""
        flag = '<span class="fail">drifted</span>' if f.get("drifted") else "no"
        rows.append(
            f"<tr{cls}><td>{esc(f.get('name'))}</td><td>{esc(f.get('inferred_type'))}</td>"
            f"<td>{esc(f.get('method'))}</td><td>{num(f.get('distance'))}</td>"
            f"<td>{num(f.get('threshold'))}</td><td>{_pvalue(f.get('p_value'))}</td>"
            f"<td>{num(f.get('linf'))}</td><td>{_pct(f.get('completeness_baseline'))} &rarr; "
            f"{_pct(f.get('completeness_current'))}</td>"
            f"<td>{flag}{note}</td></tr>")
    head = ["feature", "type", "method", "distance", "threshold", "p-value", "L-infinity",
            "completeness", "drifted"]
    return html_section("Features", html_table(head, "".join(rows)))


def _violations_section(violations: Sequence[Mapping[str, Any]]) -> str:
    if not violations:
        return html_section("Violations", '<p class="pass">No constraint is violated.</p>')
    items = "".join(
        f'<li class="fail"><b>{esc(v.get("feature_name") or v.get("metric_name"))}</b> '
        f'({esc(v.get("constraint_check_type"))}): {esc(v.get("description"))}</li>' for v in violations)
    return html_section("Violations (constraint_violations.json)", f'<ul class="reasons">{items}</ul>')


def _quality_section(rows: Sequence[Mapping[str, Any]], labelled: Any) -> str:
    body = "".join(
        f'<tr class="{"fail" if r.get("violated") else "pass"}"><td>{esc(r.get("metric"))}</td>'
        f"<td>{num(r.get('baseline'))}</td><td>{num(r.get('value'))}</td>"
        f"<td>{num(r.get('threshold'))}</td><td>{'below threshold' if r.get('violated') else 'ok'}</td></tr>"
        for r in rows)
    return html_section(f"Model quality ({num(labelled)} labelled rows)",
                        html_table(["metric", "holdout", "current", "threshold", "verdict"], body))


def _charts_section(drifted: Sequence[Mapping[str, Any]]) -> str:
    if not drifted:
        return html_section("Drifted features", '<p class="muted">No feature drifted.</p>')
    legend = ('<p class="legend muted"><span style="background:#8aa4c8"></span>baseline'
              '<span style="background:#c62828"></span>current (share of rows per bin)</p>')
    charts = "".join(f"<h3>{esc(f.get('name'))}</h3>{_bars(f)}" for f in drifted)
    return html_section("Drifted features", legend + charts)


def _bars(f: Mapping[str, Any]) -> str:
    labels = [str(x) for x in f.get("bins") or []]
    base = [float(x) for x in f.get("baseline_shares") or []]
    cur = [float(x) for x in f.get("current_shares") or []]
    n = min(len(labels), len(base), len(cur))
    if not n:
        return '<p class="missing">No binned shares to draw.</p>'
    width, height, left, bottom, top = 1000, 260, 44, 90, 10
    top_share = max(max(base[:n]), max(cur[:n]), 1e-9)
    slot = (width - left - 10) / n
    bar = max(slot * 0.38, 1.0)
    plot_h = height - bottom - top
    parts = [f'<svg class="bars" viewBox="0 0 {width} {height}" width="100%" role="img" '
             f'aria-label="baseline and current shares of {esc(f.get("name"))}">']
    for k in range(5):  # grid lines and share labels
        y = top + plot_h * (1 - k / 4)
        parts.append(f'<line x1="{left}" x2="{width - 10}" y1="{y:.1f}" y2="{y:.1f}" stroke="#d0d7de"/>'
                     f'<text x="{left - 4}" y="{y + 4:.1f}" font-size="11" text-anchor="end">'
                     f'{top_share * k / 4:.1%}</text>')
    for i in range(n):
        x = left + i * slot + slot * 0.1
        for j, (share, cls) in enumerate(((base[i], "base"), (cur[i], "cur"))):
            h = plot_h * share / top_share
            parts.append(f'<rect class="{cls}" x="{x + j * bar:.1f}" y="{top + plot_h - h:.1f}" '
                         f'width="{bar:.1f}" height="{h:.1f}"><title>{esc(labels[i])}: {share:.1%}'
                         f"</title></rect>")
        lx, ly = x + bar, height - bottom + 12
        parts.append(f'<text x="{lx:.1f}" y="{ly}" font-size="10" text-anchor="end" '
                     f'transform="rotate(-45 {lx:.1f} {ly})">{esc(labels[i][:24])}</text>')
    parts.append("</svg>")
    return "".join(parts)


def _pvalue(value: Any) -> str:
    try:
        v = float(value)
    except (TypeError, ValueError):
        return "&ndash;"
    return f"{v:.2g}"


def _pct(value: Any) -> str:
    try:
        return f"{float(value):.1%}"
    except (TypeError, ValueError):
        return "&ndash;"


def write_drift_report(path: str | os.PathLike[str], report: Mapping[str, Any], *,
                       title: str = DEFAULT_TITLE) -> Path:
    """Render and write the page to ``path``, whole or not at all (``training.files``)."""
    text = render_drift_report(report, title=title)
    target = Path(path)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        write_text(target, text)
    except OSError as exc:
        raise ReportError(f"cannot write the drift report to {target}: {exc.strerror or exc}; "
                          "choose a writable path.") from None
    return target
