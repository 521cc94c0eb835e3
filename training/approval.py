"""The approval rule: floors, the overfitting-gap ceiling and champion/challenger, as one pure function.

``decide`` is the only implementation of the rule. The pipeline's ConditionStep expresses the
same comparisons (``>=`` for floors and the champion bar, ``<=`` for the gap ceiling), so the
boundaries here are exactly those; a NaN or missing metric fails its check.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from trainguard.training.config import ApprovalConfig
from trainguard.training.errors import ConfigError, DataError
from trainguard.training.leakage import findings

__all__ = ["CHAMPION_METRICS", "METRIC_MAX", "Check", "Decision", "Thresholds", "champion_bar", "decide"]

CHAMPION_METRICS = ("auc", "pr_auc", "f1", "recall")
"""Metrics a challenger may be compared on (higher is better; log_loss is not one of them)."""
METRIC_MAX = 1.0
"""The largest value any champion metric can take."""

_LABELS = {
    "auc": "holdout AUC",
    "pr_auc": "holdout PR AUC",
    "f1": "holdout F1",
    "recall": "holdout recall",
    "precision": "holdout precision",
    "accuracy": "holdout accuracy",
    "train_cv_gap": "train/CV AUC gap",
}


_DEFAULT = ApprovalConfig()


@dataclass(frozen=True)
class Thresholds:
    """The numbers the rule compares against; built from ``cfg.approval`` or given directly.

    Defaults are the config's (``ApprovalConfig``), so the rule has one set of default numbers.
    """

    min_auc: float = _DEFAULT.min_auc
    min_recall: float = _DEFAULT.min_recall
    min_pr_auc: float = _DEFAULT.min_pr_auc
    max_overfit_gap: float = _DEFAULT.max_overfit_gap
    champion_metric: str = _DEFAULT.champion_metric
    champion_margin: float = _DEFAULT.champion_margin
    champion_margin_mode: Literal["absolute", "relative"] = _DEFAULT.champion_margin_mode
    max_feature_auc: float = _DEFAULT.max_feature_auc
    on_leakage: Literal["block", "warn"] = _DEFAULT.on_leakage

    def __post_init__(self) -> None:
        problems = [f"approval.{name} must be a number in [0, 1]; got {getattr(self, name)!r}."
                    for name in ("min_auc", "min_recall", "min_pr_auc")
                    if not 0.0 <= getattr(self, name) <= 1.0]  # also false for NaN
        if not 0.5 < self.max_feature_auc <= 1.0:
            problems.append(f"approval.max_feature_auc must be in (0.5, 1]; got {self.max_feature_auc!r}.")
        if self.on_leakage not in ("block", "warn"):
            problems.append(f"approval.on_leakage must be 'block' or 'warn'; got {self.on_leakage!r}.")
        for name in ("max_overfit_gap", "champion_margin"):
            value = getattr(self, name)
            if not (value >= 0.0 and math.isfinite(value)):
                problems.append(f"approval.{name} must be a finite number >= 0; got {value!r}.")
        if problems:
            raise ConfigError(problems[0] if len(problems) == 1 else
                              f"{len(problems)} approval threshold problems:\n"
                              + "\n".join(f"  - {p}" for p in problems))
        if self.champion_metric not in CHAMPION_METRICS:
            raise ConfigError(
                f"approval.champion_metric must be one of {', '.join(CHAMPION_METRICS)}; "
                f"got {self.champion_metric!r}."
            )
        _check_mode(self.champion_margin_mode)

    @classmethod
    def from_config(cls, approval: Any) -> Thresholds:
        """Thresholds from an ``ApprovalConfig`` (or a whole ``Config``, whose approval is used)."""
        approval = getattr(approval, "approval", approval)
        return cls(
            min_auc=float(approval.min_auc),
            min_recall=float(approval.min_recall),
            min_pr_auc=float(approval.min_pr_auc),
            max_overfit_gap=float(approval.max_overfit_gap),
            champion_metric=str(approval.champion_metric),
            champion_margin=float(approval.champion_margin),
            champion_margin_mode=approval.champion_margin_mode,
            max_feature_auc=float(approval.max_feature_auc),
            on_leakage=approval.on_leakage,
        )


@dataclass(frozen=True)
class Check:
    """One comparison of the rule: its name, outcome, the value seen, the threshold, a sentence."""

    name: str
    passed: bool
    value: float | None
    threshold: float
    reason: str

    def to_dict(self) -> dict[str, Any]:
        """The evaluation.json ``decision.checks[]`` entry (NaN written as null)."""
        return {
            "name": self.name,
            "passed": self.passed,
            "value": _json_number(self.value),
            "threshold": _json_number(self.threshold),
            "reason": self.reason,
        }


@dataclass(frozen=True)
class Decision:
    """The rule's verdict: approved only when every check passed; reasons list failures first."""

    approved: bool
    checks: list[Check]
    reasons: list[str]
    champion: dict[str, Any] | None = field(default=None)

    def to_dict(self) -> dict[str, Any]:
        """The ``decision`` block of evaluation.json (docs/design.md)."""
        return {
            "approved": self.approved,
            "reasons": list(self.reasons),
            "checks": [c.to_dict() for c in self.checks],
            "champion": dict(self.champion) if self.champion is not None else None,
        }

    @property
    def failed(self) -> list[Check]:
        """The checks that did not pass, in rule order."""
        return [c for c in self.checks if not c.passed]


def champion_bar(champion_value: float | None, margin: float,
                 mode: Literal["absolute", "relative"] = "absolute") -> float:
    """The value a challenger's champion metric must reach; 0.0 when there is no champion.

    Absolute mode adds the margin (``value + margin``); relative mode scales it
    (``value * (1 + margin)``). The champion metrics are at most 1, so a bar above 1 could never
    be reached and would reject every later model: it is capped at the champion's own value (the
    challenger must match it). Raises DataError when the champion's value is not a finite number.
    """
    _check_mode(mode)
    if margin < 0 or not math.isfinite(margin):
        raise ConfigError(f"approval.champion_margin must be a finite number >= 0; got {margin}.")
    if champion_value is None:
        return 0.0
    value = float(champion_value)
    if not math.isfinite(value):
        raise DataError(
            f"the champion's recorded metric is {champion_value!r}, not a finite number; "
            "re-register or reject that model version so a valid champion is compared against."
        )
    raw = value * (1.0 + margin) if mode == "relative" else value + margin
    return raw if raw <= METRIC_MAX else min(value, METRIC_MAX)


def decide(metrics: Mapping[str, float], thresholds: Thresholds,
           champion: Mapping[str, Any] | None = None, *,
           champion_bar_value: float | None = None,
           leakage: Mapping[str, Any] | None = None) -> Decision:
    """Apply the approval rule to holdout metrics plus ``train_cv_gap``.

    ``champion`` is the current champion (``{"version": ..., "value": float}``); alternatively the
    bar it implies is passed as ``champion_bar_value`` (the pipeline's ChampionBar, 0.0 = none);
    when both are given, ``champion`` wins.
    Checks: auc >= min_auc, recall >= min_recall, pr_auc >= min_pr_auc,
    train_cv_gap <= max_overfit_gap, the leakage screen (``leakage``, the table of
    ``trainguard.training.leakage.screen_features``: no feature at or above ``max_feature_auc``,
    no ID-like column, unless ``on_leakage`` is warn) and, when the bar is above 0, champion
    metric >= bar.
    """
    t = thresholds
    checks = [
        _floor("min_auc", metrics, "auc", t.min_auc),
        _floor("min_recall", metrics, "recall", t.min_recall),
        _floor("min_pr_auc", metrics, "pr_auc", t.min_pr_auc),
        _ceiling("max_overfit_gap", metrics, "train_cv_gap", t.max_overfit_gap),
        _leakage_check(leakage, t),
    ]
    champ_info = _champion_info(t, champion, champion_bar_value)
    if champ_info is not None and champ_info["bar"] > 0.0:
        checks.append(_champion_check(metrics, t, champ_info))
    approved = all(c.passed for c in checks)
    reasons = [c.reason for c in checks if not c.passed] + [c.reason for c in checks if c.passed]
    return Decision(approved=approved, checks=checks, reasons=reasons, champion=champ_info)


# --------------------------------------------------------------------------------------------
# internals


def _check_mode(mode: str) -> None:
    if mode not in ("absolute", "relative"):
        raise ConfigError(
            f"approval.champion_margin_mode must be 'absolute' or 'relative'; got {mode!r}."
        )


def _metric(metrics: Mapping[str, float], name: str) -> float | None:
    """The metric as a float; None when absent, NaN when not a number (both fail their check)."""
    if name not in metrics or metrics[name] is None:
        return None
    try:
        return float(metrics[name])
    except (TypeError, ValueError):
        return math.nan


def _pair(value: float, threshold: float) -> tuple[str, str]:
    """Format two numbers with enough digits that unequal values never print equal."""
    for digits in range(3, 16):
        a, b = f"{value:.{digits}f}", f"{threshold:.{digits}f}"
        if a != b or value == threshold:
            return a, b
    return repr(value), repr(threshold)


def _floor(name: str, metrics: Mapping[str, float], metric: str, floor: float) -> Check:
    label, key = _LABELS[metric], f"approval.{name}"
    value = _metric(metrics, metric)
    if value is None or math.isnan(value):
        what = "is missing from the metrics" if value is None else "is not a number (NaN)"
        return Check(name, False, value, floor, f"{label} {what}; it must be at least "
                     f"{floor:.3f} ({key}), so the model cannot be approved")
    v, f = _pair(value, floor)
    if value >= floor:
        return Check(name, True, value, floor, f"{label} {v} meets the floor {f} ({key})")
    return Check(name, False, value, floor, f"{label} {v} is below the floor {f} ({key})")


def _ceiling(name: str, metrics: Mapping[str, float], metric: str, ceiling: float) -> Check:
    label, key = _LABELS[metric], f"approval.{name}"
    value = _metric(metrics, metric)
    if value is None or math.isnan(value):
        what = "is missing from the metrics" if value is None else "is not a number (NaN)"
        return Check(name, False, value, ceiling, f"{label} {what}; it must be at most "
                     f"{ceiling:.3f} ({key}), so the model cannot be approved")
    v, c = _pair(value, ceiling)
    if value <= ceiling:
        return Check(name, True, value, ceiling, f"{label} {v} is within the ceiling {c} ({key})")
    return Check(name, False, value, ceiling,
                 f"{label} {v} exceeds the ceiling {c} ({key}): the model fits its training "
                 "rows much better than held-out folds (overfitting)")


def _champion_info(t: Thresholds, champion: Mapping[str, Any] | None,
                   bar_value: float | None) -> dict[str, Any] | None:
    if champion is not None:
        value = champion.get("value")
        bar = champion_bar(None if value is None else float(value), t.champion_margin,
                           t.champion_margin_mode)
        info = {"version": champion.get("version"), "metric": t.champion_metric,
                "value": None if value is None else float(value), "margin": t.champion_margin,
                "margin_mode": t.champion_margin_mode, "bar": bar}
        if value is not None and bar <= float(value) and t.champion_margin > 0:
            info["capped"] = True
        return info
    if bar_value is not None:
        bar = float(bar_value)
        if not math.isfinite(bar) or bar < 0:
            raise ConfigError(
                f"the champion bar must be a finite number >= 0 (0 means no champion); got {bar_value!r}."
            )
        if bar == 0.0:
            return None
        return {"version": None, "metric": t.champion_metric, "value": None,
                "margin": t.champion_margin, "margin_mode": t.champion_margin_mode, "bar": bar}
    return None


def _champion_check(metrics: Mapping[str, float], t: Thresholds, info: dict[str, Any]) -> Check:
    metric, bar = t.champion_metric, float(info["bar"])
    label = _LABELS[metric]
    if info["value"] is not None:
        name = "champion" if info["version"] is None else f"champion {info['version']}"
        whose = f"{name} at {info['value']:.3f}"
        if t.champion_margin:
            sign = "x (1 + " if t.champion_margin_mode == "relative" else "+ "
            whose += f" {sign}{t.champion_margin:g}{')' if sign.startswith('x') else ''}"
        if info.get("capped"):
            whose += f", capped at the champion's own value because {METRIC_MAX:g} is the maximum"
    else:
        whose = "the ChampionBar parameter"
    value = _metric(metrics, metric)
    if value is None or math.isnan(value):
        what = "is missing from the metrics" if value is None else "is not a number (NaN)"
        return Check("champion", False, value, bar,
                     f"{label} {what}; it must reach the champion bar {bar:.3f} ({whose})")
    v, b = _pair(value, bar)
    if value >= bar:
        return Check("champion", True, value, bar,
                     f"{label} {v} reaches the champion bar {b} ({whose})")
    return Check("champion", False, value, bar,
                 f"{label} {v} is below the champion bar {b} ({whose}): the challenger does not "
                 "beat the current champion")


def _leakage_check(screen: Mapping[str, Any] | None, t: Thresholds) -> Check:
    """Passes unless the screen found a likely leak and ``on_leakage`` is block; value = blocking count."""
    if screen is None:
        return Check("leakage", True, 0.0, 0.0, "no leakage screen was recorded for this model")
    found = findings(screen, t.max_feature_auc)
    if not found:
        return Check("leakage", True, 0.0, 0.0,
                     f"leakage screen: no feature alone reaches AUC {t.max_feature_auc:.3f} "
                     "(approval.max_feature_auc) and no column is an ID")
    what = "; ".join(f"{f['feature']!r}: {f['reason']}" for f in found)
    if t.on_leakage == "warn":
        return Check("leakage", True, 0.0, 0.0,
                     f"leakage screen flagged {len(found)} feature(s) ({what}); approval.on_leakage=warn, "
                     "so it does not block")
    return Check("leakage", False, float(len(found)), 0.0,
                 f"leakage screen flagged {len(found)} feature(s) that look like a leak ({what}): "
                 "remove them (data.exclude) or, if they are genuine, set approval.on_leakage=warn "
                 f"or raise approval.max_feature_auc above {t.max_feature_auc:.3f}")


def _json_number(value: float | None) -> float | None:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return None
    return float(value)
