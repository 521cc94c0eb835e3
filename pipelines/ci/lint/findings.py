"""What a lint rule reports: one ``Finding`` per violated safeguard, and their human output."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Literal

__all__ = ["Finding", "Severity", "format_findings"]

Severity = Literal["error", "warning"]


@dataclass(frozen=True)
class Finding:
    """One violated safeguard: which rule, how bad, where (step and JSON path) and how to fix it."""

    rule: str
    severity: Severity
    step: str
    setting: str
    message: str

    def to_dict(self) -> dict[str, str]:
        """Plain dict for ``--json`` output."""
        return asdict(self)


def format_findings(findings: list[Finding], source: str) -> str:
    """Human output: one line per finding, then a one-line summary."""
    lines = [f"{f.severity}: [{f.rule}] {f.step}: {f.setting}: {f.message}" for f in findings]
    errors = sum(f.severity == "error" for f in findings)
    warnings = len(findings) - errors
    if findings:
        lines.append(f"{source}: {errors} error(s), {warnings} warning(s).")
    else:
        lines.append(f"{source}: no findings; every safeguard rule passes.")
    return "\n".join(lines)
