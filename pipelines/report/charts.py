"""A small hand-drawn SVG chart for the reports: axes, nice ticks, lines, reference lines, dots."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from trainguard.pipelines.report.markup import esc

__all__ = ["Chart", "nice_ticks", "padded_range", "sparse_ticks", "tick_label"]


@dataclass
class Chart:
    """A small hand-drawn SVG chart: axes, ticks, labels, lines, dots and a legend."""

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
               f'aria-label="{esc(self.title)}"><title>{esc(self.title)}</title>',
               f'<text class="chart-title" x="{self.width / 2:.1f}" y="18">{esc(self.title)}</text>',
               f'<rect class="frame" x="{left}" y="{top}" width="{right - left}" height="{bottom - top}"/>']
        for value in nice_ticks(y0, y1):
            _, y = self.px(x0, value)
            out.append(f'<line class="grid" x1="{left}" y1="{y:.2f}" x2="{right}" y2="{y:.2f}"/>'
                       f'<text class="tick y" x="{left - 6}" y="{y + 4:.2f}">{tick_label(value)}</text>')
        for value, text in self.x_ticks or [(v, tick_label(v)) for v in nice_ticks(x0, x1)]:
            x, _ = self.px(value, y0)
            out.append(f'<line class="tickmark" x1="{x:.2f}" y1="{bottom}" x2="{x:.2f}" y2="{bottom + 5}"/>'
                       f'<text class="tick x" x="{x:.2f}" y="{bottom + 18}">{esc(text)}</text>')
        out.append(f'<text class="axis-label" x="{(left + right) / 2:.1f}" y="{self.height - 8}">'
                   f"{esc(self.x_label)}</text>")
        out.append(f'<text class="axis-label" transform="translate(14 {(top + bottom) / 2:.1f}) rotate(-90)">'
                   f"{esc(self.y_label)}</text>")
        out.append('<g class="plot">')
        out.extend(self._parts)
        out.append("</g>")
        for i, (css, label) in enumerate(self._legend):
            y = self.height + 10 + 18 * i
            if css.startswith("dot"):
                sample = f'<circle class="{css}" cx="{left + 9}" cy="{y - 4}" r="4"/>'
            else:
                line_css = "reference" if css == "reference" else f"series {css}"
                sample = f'<line class="{line_css}" x1="{left}" y1="{y - 4}" x2="{left + 18}" y2="{y - 4}"/>'
            out.append(f'<g class="legend">{sample}<text x="{left + 26}" y="{y}">{esc(label)}</text></g>')
        out.append("</svg>")
        return "".join(out)


def nice_ticks(lo: float, hi: float, target: int = 5) -> list[float]:
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


def tick_label(value: float) -> str:
    """A tick value as short text (no trailing zeros)."""
    return f"{value:.4f}".rstrip("0").rstrip(".") if value != int(value) else str(int(value))


def padded_range(values: Sequence[float]) -> tuple[float, float]:
    """A value axis that shows differences between close scores but keeps scores honest near 0..1."""
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


def sparse_ticks(n: int) -> list[tuple[float, str]]:
    """At most about ten labelled ticks over 1..n."""
    step = max(1, math.ceil(n / 10))
    return [(i, str(i)) for i in range(1, n + 1, step)]
