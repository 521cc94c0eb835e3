"""The HTML report: decision and reasons, metrics, curves drawn from the data, escaping, well-formedness."""

from __future__ import annotations

import copy
import math
import re
from html.parser import HTMLParser
from pathlib import Path
from typing import ClassVar

import pytest
from trainguard.pipelines.report import ReportError, render_report, write_report

FPR = [0.0, 0.0, 0.05, 0.1, 0.3, 0.6, 1.0]
TPR = [0.0, 0.4, 0.7, 0.85, 0.93, 0.98, 1.0]
RECALLS = [1.0, 0.95, 0.8, 0.6, 0.3, 0.0]
PRECISIONS = [0.09, 0.3, 0.62, 0.8, 0.91, 1.0]
EVIL = '<script>alert("x")</script>'


def evaluation() -> dict:
    return {
        "binary_classification_metrics": {
            "auc": {"value": 0.9312, "standard_deviation": 0.0},
            "pr_auc": {"value": 0.7345, "standard_deviation": 0.0},
            "precision": {"value": 0.7209, "standard_deviation": 0.0},
            "recall": {"value": 0.8157, "standard_deviation": 0.0},
            "f1": {"value": 0.7654, "standard_deviation": 0.0},
            "accuracy": {"value": 0.9587, "standard_deviation": 0.0},
            "log_loss": {"value": 0.1234, "standard_deviation": 0.0},
            "confusion_matrix": {"0": {"0": 410, "1": 12}, "1": {"0": 7, "1": 31}},
            "receiver_operating_characteristic_curve": {"false_positive_rates": FPR,
                                                        "true_positive_rates": TPR},
            "precision_recall_curve": {"precisions": PRECISIONS, "recalls": RECALLS},
        },
        "cross_validation": {"folds": 3, "auc": {"mean": 0.9101, "std": 0.0123,
                                                 "per_fold": [0.8977, 0.9105, 0.9221]}},
        "overfitting": {"train_auc": 0.9901, "cv_auc": 0.9101, "test_auc": 0.9312,
                        "train_cv_gap": 0.08, "cv_test_gap": -0.0211},
        "decision": {
            "approved": False,
            "reasons": ["recall 0.3 is below the floor 0.5 (approval.min_recall)",
                        f"auc meets the floor {EVIL}"],
            "checks": [
                {"name": "min_recall", "passed": False, "value": 0.3, "threshold": 0.5,
                 "reason": "recall 0.3 is below the floor 0.5 (approval.min_recall)"},
                {"name": "min_auc", "passed": True, "value": 0.93, "threshold": 0.75,
                 "reason": f"auc meets the floor {EVIL}"},
                {"name": "max_overfit_gap", "passed": True, "value": 0.08, "threshold": 0.1,
                 "reason": "gap within the ceiling"},
            ],
            "champion": None,
        },
        "model": {"hyperparameters": {"eta": 0.1}, "best_iteration": 87, "n_train": 1437,
                  "n_test": 460, "features": ["pixel_0", EVIL]},
    }


TRIALS = [
    {"number": 1, "params": {"eta": 0.1, "max_depth": 3}, "score": 0.8811, "stopped_early": False,
     "status": "Completed"},
    {"number": 2, "params": {"eta": 0.2, EVIL: 5}, "score": 0.9244, "stopped_early": False,
     "status": "Completed"},
    {"number": 3, "params": {"eta": 0.05, "max_depth": 6}, "score": 0.8502, "stopped_early": True,
     "status": "Stopped"},
    {"number": 4, "params": {"eta": 0.3}, "score": None, "stopped_early": False, "status": "Failed"},
]


class _StrictParser(HTMLParser):
    """Fails on any unclosed, stray or mismatched tag (HTML void elements need no end tag)."""

    VOID: ClassVar[set[str]] = {"meta", "br", "hr", "img", "input", "link", "col", "area", "base", "wbr", "source"}

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.stack: list[str] = []
        self.errors: list[str] = []
        self.tags: list[tuple[str, dict]] = []

    def handle_starttag(self, tag: str, attrs: list) -> None:
        self.tags.append((tag, dict(attrs)))
        if tag not in self.VOID:
            self.stack.append(tag)

    def handle_startendtag(self, tag: str, attrs: list) -> None:
        self.tags.append((tag, dict(attrs)))

    def handle_endtag(self, tag: str) -> None:
        if not self.stack or self.stack[-1] != tag:
            self.errors.append(f"</{tag}> closes {self.stack[-1:] or 'nothing'}")
        else:
            self.stack.pop()


def parse(text: str) -> _StrictParser:
    parser = _StrictParser()
    parser.feed(text)
    parser.close()
    assert not parser.errors and not parser.stack, (parser.errors, parser.stack)
    return parser


def path_points(text: str, css: str) -> list[tuple[float, float]]:
    match = re.search(rf'<path class="series {css}" data-points="\d+" d="([^"]+)"', text)
    assert match, f"no {css} path"
    return [(float(x), float(y)) for x, y in re.findall(r"([-\d.]+),([-\d.]+)", match.group(1))]


def assert_affine(pixels: list[tuple[float, float]], data: list[tuple[float, float]]) -> None:
    """Each pixel is a + b * datum on both axes (y flipped): the path is drawn from these points."""
    assert len(pixels) == len(data)
    for axis in (0, 1):
        (p0, d0), (p1, d1) = [(pixels[i][axis], data[i][axis]) for i in (0, -1)]
        scale = (p1 - p0) / (d1 - d0)
        assert (scale > 0) if axis == 0 else (scale < 0)
        for p, d in zip(pixels, data, strict=True):
            assert p[axis] == pytest.approx(p0 + scale * (d[axis] - d0), abs=0.02)


def test_the_decision_and_every_reason_and_metric_are_shown() -> None:
    text = render_report(evaluation(), TRIALS, title="fraud model", run_info={"pipeline": "p1"})
    assert '<div class="verdict rejected"><span class="badge">REJECTED BY THE SAFEGUARDS</span>' in text
    assert '<li class="fail">recall 0.3 is below the floor 0.5 (approval.min_recall)</li>' in text
    assert "auc meets the floor &lt;script&gt;" in text
    for value in ("0.9312", "0.7345", "0.7209", "0.8157", "0.7654", "0.9587", "0.1234"):
        assert f'<td class="num">{value}</td>' in text, value
    for label in ("ROC AUC", "PR AUC", "Precision", "Recall", "F1", "Accuracy", "Log loss"):
        assert f">{label}</th>" in text
    assert "<title>fraud model</title>" in text and "p1" in text
    approved = copy.deepcopy(evaluation())
    approved["decision"]["approved"] = True
    approved["decision"]["reasons"].append("no champion yet")
    text = render_report(approved)
    assert '<span class="badge">PASSED THE SAFEGUARDS</span>' in text and "APPROVED" not in text
    assert "registry status: not known to this report" in text
    shown = render_report(approved, run_info={"registry_status": "PendingManualApproval (fraud version 4)"})
    assert '<span class="registry-status">registry status: PendingManualApproval (fraud version 4)</span>' in shown
    assert '<li class="pass">auc meets the floor &lt;script&gt;' in text
    assert '<li class="note">no champion yet</li>' in text  # a reason no check produced


def test_roc_and_pr_curves_are_svg_paths_through_the_curve_points() -> None:
    text = render_report(evaluation())
    assert_affine(path_points(text, "roc"), list(zip(FPR, TPR, strict=True)))
    assert_affine(path_points(text, "pr"), list(zip(RECALLS, PRECISIONS, strict=True)))
    assert "ROC (AUC 0.9312)" in text and "PR (AUC 0.7345)" in text
    assert ">False positive rate</text>" in text and ">Precision</text>" in text
    assert ">chance</text>" in text  # the ROC diagonal
    assert "positive share 0.083" in text  # PR baseline from the confusion matrix: 38 / 460


def test_each_plot_is_an_svg_with_axes_and_ticks() -> None:
    parser = parse(render_report(evaluation(), TRIALS))
    titles = [a.get("aria-label") for t, a in parser.tags if t == "svg"]
    assert titles == ["ROC curve", "Precision-recall curve", "CV ROC AUC per fold",
                      "AUC: train, CV, test", "Score by trial"]
    text = render_report(evaluation(), TRIALS)
    for svg in re.findall(r"<svg.*?</svg>", text, flags=re.S):
        assert 'class="frame"' in svg and 'class="tick x"' in svg
        assert svg.count('class="tick y"') >= 3


def test_degenerate_scores_still_draw_finite_charts() -> None:
    ev = copy.deepcopy(evaluation())
    ev["cross_validation"]["auc"]["per_fold"] = [0.9, 0.9, 0.9]
    one = [{"number": 1, "params": {}, "score": 0.9, "stopped_early": False, "status": "Completed"}]
    text = render_report(ev, one)
    tags = parse(text).tags
    assert text.count("<svg") == 5
    numbers = [float(v) for _, attrs in tags for k, v in attrs.items()
               if k in ("x", "y", "cx", "cy", "x1", "y1", "x2", "y2", "width", "height")]
    numbers += [float(n) for _, attrs in tags if "d" in attrs
                for n in re.findall(r"[-+]?(?:\d+\.?\d*|nan|inf)", attrs["d"], flags=re.I)]
    assert numbers and all(math.isfinite(n) for n in numbers)


def test_confusion_matrix_shows_counts_and_class_rates() -> None:
    text = render_report(evaluation())
    for count, rate in (("410", "97.2% TNR"), ("12", "2.8% FPR"), ("7", "18.4% FNR"), ("31", "81.6% TPR")):
        assert f"<strong>{count}</strong><br><span class=\"muted\">{rate}" in text
    assert "actual 0 (422)" in text and "actual 1 (38)" in text


def test_cv_scores_and_overfitting_block() -> None:
    text = render_report(evaluation())
    for score in ("0.8977", "0.9105", "0.9221"):
        assert f'<td class="num">{score}</td>' in text
    assert "0.9101 ± 0.0123" in text
    assert re.search(r"0\.0800 <span class=\"pass\">within the ceiling 0\.1000", text)
    worse = copy.deepcopy(evaluation())
    worse["overfitting"]["train_cv_gap"] = 0.15
    assert "ABOVE the ceiling 0.1000" in render_report(worse)


def test_the_train_auc_limit_is_drawn_only_where_an_auc_can_reach_it() -> None:
    svg = re.search(r'<svg[^>]*aria-label="AUC: train, CV, test".*?</svg>', render_report(evaluation()), re.S)
    # CV 0.9101 + ceiling 0.1 = 1.0101: no line, no axis tick above 1, and the note says why
    assert "train AUC limit" not in svg.group(0)
    ticks = [float(t) for t in re.findall(r'class="tick y"[^>]*>([0-9.]+)<', svg.group(0))]
    assert ticks and max(ticks) <= 1.0
    assert "limit (CV + ceiling = 1.010) is above 1" in render_report(evaluation())
    tight = copy.deepcopy(evaluation())
    tight["overfitting"]["max_overfit_gap"] = 0.05
    text = render_report(tight)
    assert "train AUC limit: CV + ceiling = 0.960" in text and "is above 1" not in text


def test_long_unbroken_lineage_values_wrap_inside_the_page() -> None:
    uri = "s3://bucket/prefix/code/" + "ab" * 32 + "/sourcedir.tar.gz"
    text = render_report(evaluation(), run_info={"code_uri": uri})
    assert '<table class="kv">' in text and f"<td>{uri}</td>" in text
    # a value with no spaces must still break, or the table runs off the page (seen in a browser)
    assert re.search(r"table\.kv td \{[^}]*overflow-wrap: anywhere", text)


def test_cv_table_fits_the_page_and_names_the_train_auc_column() -> None:
    ev = copy.deepcopy(evaluation())
    ev["cross_validation"]["train_auc"] = {"mean": 0.99, "std": 0.01, "per_fold": [0.98, 0.99, 1.0]}
    text = render_report(ev)
    head = re.search(r"<h2>Cross-validation</h2>.*?<thead>(.*?)</thead>", text, re.S).group(1)
    assert '<th scope="col">Train ROC AUC</th>' in head and "train_auc" not in head
    # the mean ± std cells may wrap, so eight metric columns stay inside the page (seen in a browser)
    assert re.search(r"tr\.summary td\.num \{[^}]*white-space: normal", text)


def test_trials_table_highlights_the_best_and_marks_early_stops() -> None:
    text = render_report(evaluation(), TRIALS, run_info={"objective": "cv:auc"})
    best_row = re.search(r'<tr class="best">(.*?)</tr>', text).group(1)
    assert "0.9244" in best_row and "★ best" in best_row
    assert text.count('<tr class="best">') == 1
    assert re.search(r"0\.8502</td><td>yes</td><td>Stopped", text)
    assert "Failed" in text  # the failed trial is listed, not charted
    # 3 scored trials + 3 folds + 3 AUCs, plus legend swatches: trial/best/stopped, fold, AUC
    assert text.count('<circle class="dot') == 3 + 3 + 3 + 3 + 1 + 1
    lower = render_report(evaluation(), TRIALS, run_info={"objective": "cv:log_loss"})
    assert "0.8502" in re.search(r'<tr class="best">(.*?)</tr>', lower).group(1)


def test_strings_from_the_data_are_escaped() -> None:
    evil_run = {"data_uri": EVIL, EVIL: "x"}
    text = render_report(evaluation(), TRIALS, title=EVIL, run_info=evil_run)
    assert "<script" not in text
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in text
    parse(text)


def test_well_formed_and_self_contained() -> None:
    text = render_report(evaluation(), TRIALS, run_info={"pipeline": "p"})
    parser = parse(text)
    assert text.startswith("<!DOCTYPE html>")
    assert not re.search(r"(src|href)\s*=", text)
    assert "http://" not in text and "https://" not in text
    assert not any(t in ("script", "link", "img", "iframe") for t, _ in parser.tags)
    assert '<meta name="viewport" content="width=device-width, initial-scale=1">' in text


@pytest.mark.parametrize("ev", [
    {},
    {"decision": {"approved": True, "reasons": ["all floors met"]}},
    {"binary_classification_metrics": {"auc": {"value": 0.9}}, "cross_validation": {"folds": 5}},
    {"binary_classification_metrics": {"receiver_operating_characteristic_curve": {
        "false_positive_rates": [0, 1], "true_positive_rates": [0]}}},  # ragged: skipped
])
def test_missing_optional_parts_are_noted_not_fatal(ev) -> None:
    text = render_report(ev)
    parse(text)
    assert "<svg" not in text
    assert "No search trials recorded" in text and "No ROC or precision-recall curve" in text


def test_not_a_mapping_is_a_clear_error() -> None:
    with pytest.raises(ReportError, match=r"evaluation must be the evaluation.json mapping; got str"):
        render_report("evaluation.json")  # type: ignore[arg-type]


def test_write_report_creates_folders_and_never_leaves_a_partial_file(tmp_path: Path) -> None:
    target = tmp_path / "a" / "b" / "report.html"
    assert write_report(target, evaluation(), TRIALS) == target
    assert target.read_text(encoding="utf-8") == render_report(evaluation(), TRIALS)
    folder = tmp_path / "taken"
    folder.mkdir()
    with pytest.raises(ReportError, match=r"cannot write the report to .*taken"):
        write_report(folder, evaluation())
    assert sorted(tmp_path.iterdir()) == [tmp_path / "a", folder]  # no temporary file left behind
    assert list(folder.iterdir()) == [] and list(target.parent.iterdir()) == [target]
    blocked = tmp_path / "a" / "b" / "report.html" / "inner" / "r.html"  # under a file
    with pytest.raises(ReportError, match=r"report\.html is a file, not a folder; choose a writable path"):
        write_report(blocked, evaluation())


def test_leakage_screen_table_lists_findings_first_with_scores() -> None:
    ev = evaluation()
    ev["leakage_screen"] = {
        "method": "one-feature target rate", "max_feature_auc": 0.95, "on_leakage": "block",
        "flagged": ["notes"], "blocking": 1,
        "features": [{"feature": "tenure", "kind": "numeric", "auc": 0.71, "missing_share": 0.0,
                      "missing_auc": None, "unique_per_row": False},
                     {"feature": "notes", "kind": "categorical", "auc": 0.9912, "missing_share": 0.8,
                      "missing_auc": 0.97, "unique_per_row": False}]}
    ev["decision"]["checks"].append({"name": "leakage", "passed": False, "value": 1.0, "threshold": 0.0,
                                     "reason": "leakage screen flagged 1 feature(s) ('notes': ...)"})
    page = render_report(ev)
    section = page[page.index("<h2>Leakage screen</h2>"):]
    section = section[:section.index("</section>")]
    assert section.index("notes") < section.index("tenure")  # findings first
    assert "0.9912" in section and '<span class="fail">flagged</span>' in section
    assert "approval.max_feature_auc" in section and "leakage screen flagged 1 feature" in section
    assert "No leakage screen recorded" in render_report(evaluation())
    # the decision table counts flagged features in whole numbers, metrics keep four decimals
    decision = page[:page.index("<h2>Holdout metrics</h2>")]
    assert '<td>leakage</td><td class="num">1</td><td class="num">0</td><td>FAIL</td>' in decision
    assert '<td class="num">1.0000</td>' not in decision
