"""``CheckApproval``: the approval rule of ``trainguard.training.approval.decide`` as ConditionStep JSON.

The same comparisons, against the same pipeline parameters the evaluate job receives, so the
report's decision and the branch taken agree: holdout auc >= MinAuc, recall >= MinRecall,
pr_auc >= MinPrAuc, train_cv_gap <= MaxOverfitGap, no blocking leakage-screen finding
(``leakage_screen.blocking <= 0``: the evaluate job counts the findings that block, 0 under
``approval.on_leakage: warn``), and, only when ChampionBar > 0 (a champion exists), the
champion metric >= ChampionBar. A ConditionStep's conditions must all hold.
"""

from __future__ import annotations

from typing import Any

from trainguard.steps.context import BuildContext
from trainguard.steps.sdk import (
    ConditionGreaterThanOrEqualTo,
    ConditionLessThanOrEqualTo,
    ConditionOr,
    ConditionStep,
    Join,
    JsonGet,
    PropertyFile,
)

__all__ = [
    "METRIC_PATHS",
    "approval_conditions",
    "check_approval_step",
    "holdout_metric_path",
    "rejection_message",
    "report_value",
]


def holdout_metric_path(metric: str) -> str:
    """Where evaluation.json holds a holdout metric's value (``auc`` → ``...auc.value``)."""
    return f"binary_classification_metrics.{metric}.value"


METRIC_PATHS = {
    "auc": holdout_metric_path("auc"),
    "recall": holdout_metric_path("recall"),
    "pr_auc": holdout_metric_path("pr_auc"),
    "train_cv_gap": "overfitting.train_cv_gap",
    "leakage": "leakage_screen.blocking",
}
"""Where evaluation.json holds each value the rule's floors and ceiling read."""


def report_value(report: PropertyFile, path: str) -> JsonGet:
    """A value of evaluation.json (from the ``Evaluate`` step's ``EvaluationReport``)."""
    return JsonGet(step_name="Evaluate", property_file=report, json_path=path)


def approval_conditions(ctx: BuildContext, report: PropertyFile) -> list[Any]:
    """The rule's checks, in ``decide``'s order; all must hold for approval."""
    p = ctx.params
    champion_path = holdout_metric_path(ctx.cfg.approval.champion_metric)
    return [
        ConditionGreaterThanOrEqualTo(left=report_value(report, METRIC_PATHS["auc"]),
                                      right=p.min_auc),
        ConditionGreaterThanOrEqualTo(left=report_value(report, METRIC_PATHS["recall"]),
                                      right=p.min_recall),
        ConditionGreaterThanOrEqualTo(left=report_value(report, METRIC_PATHS["pr_auc"]),
                                      right=p.min_pr_auc),
        ConditionLessThanOrEqualTo(left=report_value(report, METRIC_PATHS["train_cv_gap"]),
                                   right=p.max_overfit_gap),
        ConditionLessThanOrEqualTo(left=report_value(report, METRIC_PATHS["leakage"]), right=0),
        ConditionOr(conditions=[
            ConditionLessThanOrEqualTo(left=p.champion_bar, right=0.0),
            ConditionGreaterThanOrEqualTo(left=report_value(report, champion_path),
                                          right=p.champion_bar),
        ]),
    ]


def rejection_message(ctx: BuildContext, report: PropertyFile, report_uri: Any) -> Join:
    """The FailStep's message: every checked value next to its threshold, and the report."""
    p = ctx.params
    metric = ctx.cfg.approval.champion_metric
    return Join(on="", values=[
        "Model rejected by CheckApproval (trainguard approval rule). Holdout auc ",
        report_value(report, METRIC_PATHS["auc"]), " (MinAuc ", p.min_auc, "), recall ",
        report_value(report, METRIC_PATHS["recall"]), " (MinRecall ", p.min_recall, "), pr_auc ",
        report_value(report, METRIC_PATHS["pr_auc"]), " (MinPrAuc ", p.min_pr_auc,
        "), train/CV AUC gap ", report_value(report, METRIC_PATHS["train_cv_gap"]),
        " (MaxOverfitGap ", p.max_overfit_gap, "), blocking leakage findings ",
        report_value(report, METRIC_PATHS["leakage"]), f", {metric} ",
        report_value(report, holdout_metric_path(metric)),
        " (ChampionBar ", p.champion_bar, ", 0 = no champion). First reason: ",
        report_value(report, "decision.reasons[0]"), ". Full report: ", report_uri,
    ])


def check_approval_step(ctx: BuildContext, report: PropertyFile, if_steps: list[Any],
                        else_steps: list[Any]) -> ConditionStep:
    """``CheckApproval``: register when every check holds, else the reject branch."""
    return ConditionStep(name="CheckApproval", conditions=approval_conditions(ctx, report),
                         if_steps=if_steps, else_steps=else_steps)
