"""The approval rule: every check at and around its boundary, champion/challenger, NaN, layout."""

from __future__ import annotations

import math
import re

import pytest
from trainguard.training.approval import Thresholds, champion_bar, decide
from trainguard.training.config import load_config
from trainguard.training.errors import ConfigError, DataError

T = Thresholds(min_auc=0.75, min_recall=0.5, min_pr_auc=0.3, max_overfit_gap=0.1)
GOOD = {"auc": 0.9, "recall": 0.8, "pr_auc": 0.7, "train_cv_gap": 0.02, "f1": 0.6}
EPS = 1e-9


def _with(**changes: float) -> dict[str, float]:
    return {**GOOD, **changes}


def _check(decision, name):
    return next(c for c in decision.checks if c.name == name)


def test_all_floors_met_without_champion_is_approved_with_exactly_five_checks():
    d = decide(GOOD, T)
    assert d.approved
    assert [c.name for c in d.checks] == ["min_auc", "min_recall", "min_pr_auc", "max_overfit_gap", "leakage"]
    assert all(c.passed for c in d.checks)
    assert d.champion is None
    assert len(d.reasons) == 5


@pytest.mark.parametrize(
    ("metric", "check", "threshold"),
    [("auc", "min_auc", 0.75), ("recall", "min_recall", 0.5), ("pr_auc", "min_pr_auc", 0.3)],
)
def test_floor_passes_at_and_above_the_boundary_and_fails_just_below(metric, check, threshold):
    assert _check(decide(_with(**{metric: threshold}), T), check).passed
    assert _check(decide(_with(**{metric: threshold + EPS}), T), check).passed
    below = decide(_with(**{metric: threshold - EPS}), T)
    assert not _check(below, check).passed
    assert not below.approved
    assert f"(approval.{check})" in below.reasons[0]
    assert "is below the floor" in below.reasons[0]


def test_gap_ceiling_passes_at_and_below_the_boundary_and_fails_just_above():
    assert _check(decide(_with(train_cv_gap=0.1), T), "max_overfit_gap").passed
    assert _check(decide(_with(train_cv_gap=0.1 - EPS), T), "max_overfit_gap").passed
    above = decide(_with(train_cv_gap=0.1 + EPS), T)
    assert not above.approved
    assert re.search(r"train/CV AUC gap 0\.1\d* exceeds the ceiling 0\.1\d* "
                     r"\(approval\.max_overfit_gap\)", above.reasons[0])


def test_reason_prints_enough_digits_that_a_near_miss_does_not_read_as_equal():
    d = decide(_with(auc=0.7499999), T)
    assert "holdout AUC 0.7499999 is below the floor 0.7500000 (approval.min_auc)" in d.reasons[0]


def test_failure_reasons_come_first_and_name_value_and_floor():
    d = decide(_with(auc=0.612, train_cv_gap=0.25), T)
    assert not d.approved
    assert d.reasons[0] == "holdout AUC 0.612 is below the floor 0.750 (approval.min_auc)"
    assert d.reasons[1].startswith("train/CV AUC gap 0.250 exceeds the ceiling 0.100")
    assert d.reasons[2].startswith("holdout recall 0.800 meets the floor")
    assert [c.name for c in d.failed] == ["min_auc", "max_overfit_gap"]


@pytest.mark.parametrize("metric", ["auc", "recall", "pr_auc", "train_cv_gap"])
def test_nan_metric_fails_its_check(metric):
    d = decide(_with(**{metric: math.nan}), T)
    assert not d.approved
    assert "is not a number (NaN)" in d.reasons[0]
    assert d.to_dict()["checks"][[c.name for c in d.checks].index(d.failed[0].name)]["value"] is None


def test_missing_metric_fails_rather_than_approving():
    metrics = dict(GOOD)
    del metrics["recall"]
    d = decide(metrics, T)
    assert not d.approved
    assert d.reasons[0].startswith("holdout recall is missing from the metrics")


def test_zero_floor_accepts_zero_metric():
    t = Thresholds(min_auc=0.0, min_recall=0.0, min_pr_auc=0.0, max_overfit_gap=0.0)
    assert decide({"auc": 0.0, "recall": 0.0, "pr_auc": 0.0, "train_cv_gap": 0.0}, t).approved


def test_challenger_worse_than_champion_is_rejected_better_is_approved():
    champ = {"version": "v3", "value": 0.92}
    worse = decide(_with(auc=0.91), T, champ)
    assert not worse.approved
    assert worse.reasons[0].startswith("holdout AUC 0.910 is below the champion bar 0.920 "
                                       "(champion v3 at 0.920)")
    better = decide(_with(auc=0.93), T, champ)
    assert better.approved
    assert _check(better, "champion").passed
    # at the bar exactly: >= passes
    assert decide(_with(auc=0.92), T, champ).approved


def test_absolute_margin_is_added_to_the_champion_value():
    t = Thresholds(min_auc=0.75, min_recall=0.5, min_pr_auc=0.3, max_overfit_gap=0.1,
                   champion_margin=0.01)
    champ = {"version": 2, "value": 0.9}
    assert _check(decide(_with(auc=0.905), t, champ), "champion").threshold == pytest.approx(0.91)
    assert not decide(_with(auc=0.905), t, champ).approved
    assert decide(_with(auc=0.915), t, champ).approved


def test_relative_margin_scales_the_champion_value():
    assert champion_bar(0.8, 0.05, "relative") == pytest.approx(0.84)
    t = Thresholds(min_auc=0.5, min_recall=0.0, min_pr_auc=0.0, max_overfit_gap=0.1,
                   champion_metric="pr_auc", champion_margin=0.05, champion_margin_mode="relative")
    champ = {"version": "v1", "value": 0.6}
    assert not decide(_with(pr_auc=0.62), t, champ).approved  # bar 0.63
    d = decide(_with(pr_auc=0.64), t, champ)
    assert d.approved
    assert d.to_dict()["champion"]["bar"] == pytest.approx(0.63)
    assert d.to_dict()["champion"]["metric"] == "pr_auc"


def test_champion_bar_is_zero_without_champion_and_value_plus_margin_otherwise():
    assert champion_bar(None, 0.1, "absolute") == 0.0
    assert champion_bar(None, 0.1, "relative") == 0.0
    assert champion_bar(0.8, 0.02, "absolute") == pytest.approx(0.82)
    assert champion_bar(0.8, 0.0, "relative") == 0.8


def test_champion_bar_rejects_bad_mode_margin_and_value():
    with pytest.raises(ConfigError, match="champion_margin_mode must be 'absolute' or 'relative'"):
        champion_bar(0.8, 0.0, "percent")  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="champion_margin must be a finite number >= 0"):
        champion_bar(0.8, -0.1, "absolute")
    with pytest.raises(DataError, match="champion's recorded metric is nan, not a finite number"):
        champion_bar(math.nan, 0.0, "absolute")


def test_no_champion_floors_alone_decide():
    assert decide(_with(auc=0.76), T).approved
    assert decide(_with(auc=0.76), T, None, champion_bar_value=0.0).approved
    assert len(decide(_with(auc=0.76), T, champion_bar_value=0.0).checks) == 5


def test_bar_given_directly_matches_the_pipeline_parameter():
    d = decide(_with(auc=0.85), T, champion_bar_value=0.86)
    assert not d.approved
    assert "champion bar 0.860 (the ChampionBar parameter)" in d.reasons[0]
    assert decide(_with(auc=0.86), T, champion_bar_value=0.86).approved
    with pytest.raises(ConfigError, match="champion bar must be a finite number >= 0"):
        decide(GOOD, T, champion_bar_value=-1.0)


def test_champion_metric_nan_fails_and_log_loss_is_not_a_champion_metric():
    d = decide(_with(f1=math.nan), Thresholds(champion_metric="f1"), {"version": 1, "value": 0.5})
    assert not _check(d, "champion").passed
    with pytest.raises(ConfigError, match="champion_metric must be one of auc, pr_auc, f1, recall"):
        Thresholds(champion_metric="log_loss")


def test_from_config_reads_the_approval_section():
    cfg = load_config(None, {"approval.min_auc": 0.8, "approval.champion_margin": 0.02,
                             "approval.champion_margin_mode": "relative"})
    t = Thresholds.from_config(cfg.approval)
    assert (t.min_auc, t.champion_margin, t.champion_margin_mode) == (0.8, 0.02, "relative")
    assert Thresholds.from_config(cfg) == t


def test_to_dict_has_the_documented_decision_layout():
    d = decide(_with(auc=0.7), T, {"version": "v9", "value": 0.8}).to_dict()
    assert set(d) == {"approved", "reasons", "checks", "champion"}
    assert d["approved"] is False
    assert all(set(c) == {"name", "passed", "value", "threshold", "reason"} for c in d["checks"])
    assert d["champion"]["version"] == "v9"
    assert [c["name"] for c in d["checks"]][-1] == "champion"


def test_thresholds_out_of_range_are_config_errors():
    with pytest.raises(ConfigError, match=r"approval.min_auc must be a number in \[0, 1\]; got 1.5"):
        Thresholds(min_auc=1.5)
    with pytest.raises(ConfigError, match=r"2 approval threshold problems:\n  - approval.min_recall "
                                          r"must be a number in \[0, 1\]; got nan\.\n  - "
                                          r"approval.max_overfit_gap must be a finite number >= 0"):
        Thresholds(min_recall=math.nan, max_overfit_gap=-0.1)


def test_default_thresholds_are_the_configs_defaults():
    from trainguard.training.config import ApprovalConfig

    assert Thresholds() == Thresholds.from_config(ApprovalConfig())


def test_champion_bar_above_the_metric_maximum_is_capped_at_the_champion_and_said():
    """A 0.997 champion with a 0.005 margin would ask for 1.002: no model could ever pass."""
    assert champion_bar(0.997, 0.005, "absolute") == pytest.approx(0.997)
    assert champion_bar(0.99, 0.02, "relative") == pytest.approx(0.99)
    assert champion_bar(0.9, 0.05, "absolute") == pytest.approx(0.95)  # reachable: not capped
    assert champion_bar(1.0, 0.0, "absolute") == 1.0
    t = Thresholds(champion_margin=0.005)
    champ = {"version": 4, "value": 0.997}
    d = decide(_with(auc=0.997), t, champ)
    assert d.champion["bar"] == pytest.approx(0.997) and d.champion["capped"] is True
    assert any("capped at the champion's own value" in r for r in d.reasons)
    assert not decide(_with(auc=0.996), t, champ).approved


SCREEN = {"features": [
    {"feature": "notes", "kind": "categorical", "auc": 0.97, "missing_auc": None, "unique_per_row": False},
    {"feature": "age", "kind": "numeric", "auc": 0.62, "missing_auc": 0.96, "unique_per_row": False},
    {"feature": "customer_no", "kind": "numeric", "auc": 0.5, "missing_auc": None, "unique_per_row": True},
    {"feature": "income", "kind": "numeric", "auc": 0.7, "missing_auc": None, "unique_per_row": False},
]}


def test_leakage_findings_block_approval_with_each_feature_and_its_score():
    d = decide(GOOD, T, leakage=SCREEN)
    check = _check(d, "leakage")
    assert not d.approved and not check.passed and check.value == 3.0
    assert d.reasons[0] == check.reason
    assert "'notes': alone it predicts the label with AUC 0.970" in check.reason
    assert "'age': whether it is missing predicts the label with AUC 0.960" in check.reason
    assert "'customer_no': it has a different value on every row" in check.reason
    assert "income" not in check.reason


def test_leakage_threshold_is_inclusive_and_configurable():
    at = {"features": [{"feature": "x", "auc": 0.95, "missing_auc": None, "unique_per_row": False}]}
    assert not decide(GOOD, T, leakage=at).approved
    assert decide(GOOD, Thresholds(max_feature_auc=0.951), leakage=at).approved


def test_leakage_warn_reports_without_blocking():
    d = decide(GOOD, Thresholds(on_leakage="warn"), leakage=SCREEN)
    check = _check(d, "leakage")
    assert d.approved and check.passed and check.value == 0.0
    assert "flagged 3 feature(s)" in check.reason and "does not block" in check.reason


def test_leakage_settings_are_validated():
    with pytest.raises(ConfigError, match=r"approval.max_feature_auc must be in \(0.5, 1\]"):
        Thresholds(max_feature_auc=0.4)
    with pytest.raises(ConfigError, match=r"approval.on_leakage must be 'block' or 'warn'"):
        Thresholds(on_leakage="ignore")  # type: ignore[arg-type]
