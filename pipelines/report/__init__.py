"""The HTML evaluation report: one self-contained page per run (``html``; styles in report.css)."""

from trainguard.pipelines.report.html import ReportError, render_report, write_report

__all__ = ["ReportError", "render_report", "write_report"]
