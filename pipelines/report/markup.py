"""HTML pieces shared by the evaluation and drift reports: escaping, numbers, sections, tables, CSS."""

from __future__ import annotations

import functools
import html
import json
import math
from collections.abc import Mapping, Sequence
from importlib import resources
from typing import Any

__all__ = ["as_list", "as_mapping", "as_text", "esc", "floats", "html_section", "html_table",
           "is_number", "item_at", "num", "report_css"]


def html_section(heading: str, body: str, css: str = "") -> str:
    """A <section> with its heading (escaped) and an HTML body."""
    cls = f' class="{css}"' if css else ""
    return f"<section{cls}><h2>{esc(heading)}</h2>{body}</section>"


def html_table(head: Sequence[str] | None, rows: str, css: str = "") -> str:
    """A scrollable <table> with an optional header row (escaped) around HTML rows."""
    cls = f' class="{css}"' if css else ""
    thead = ("<thead><tr>" + "".join(f'<th scope="col">{esc(h)}</th>' for h in head) + "</tr></thead>"
             if head else "")
    return f'<div class="table-wrap"><table{cls}>{thead}<tbody>{rows}</tbody></table></div>'


def esc(value: Any) -> str:
    """Text escaped for HTML content and attributes."""
    return html.escape(str(value), quote=True)


def as_text(value: Any) -> str:
    """Any value as display text: strings as they are, floats rounded, the rest as JSON."""
    if isinstance(value, str):
        return value
    if isinstance(value, float):
        return num(value)
    try:
        return json.dumps(value, sort_keys=True, default=str)
    except (TypeError, ValueError):
        return str(value)


def num(value: Any) -> str:
    """A number for display (4 decimals, whole counts as integers); a dash for None."""
    if isinstance(value, bool) or not is_number(value):
        return "&ndash;" if value is None else esc(str(value))
    number = float(value)
    if float(number).is_integer() and abs(number) >= 1 and not isinstance(value, float):
        return str(int(number))
    return f"{number:.4f}"


def is_number(value: Any) -> bool:
    """True for a finite number (or numeric text), never for a bool."""
    if isinstance(value, bool):
        return False
    try:
        return math.isfinite(float(value))
    except (TypeError, ValueError):
        return False


def as_mapping(value: Any) -> Mapping[str, Any]:
    """The value when it is a mapping, else an empty one (reports read untrusted JSON)."""
    return value if isinstance(value, Mapping) else {}


def as_list(value: Any) -> list[Any]:
    """The value as a list when it is a list or tuple, else empty."""
    return list(value) if isinstance(value, (list, tuple)) else []


def item_at(values: Any, index: int) -> Any:
    """The ``index``-th item of a list value, None when absent."""
    items = as_list(values)
    return items[index] if index < len(items) else None


def floats(values: Any) -> list[float]:
    """A list of numbers as floats; empty unless every item is a finite number."""
    items = as_list(values)
    if not items or not all(is_number(v) for v in items):
        return []
    return [float(v) for v in items]


@functools.cache
def report_css() -> str:
    """The report's styles, shipped as the package file report.css."""
    return resources.files(__package__).joinpath("report.css").read_text(encoding="utf-8")
