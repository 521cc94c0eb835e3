"""evaluation.json has the documented layout and types, and is written atomically as strict JSON."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
from trainguard.training import evaluation as ev
from trainguard.training.approval import Thresholds, decide
from trainguard.training.cv import CVResult
from trainguard.training.evaluation import build_evaluation, write_evaluation
from trainguard.training.metrics import METRIC_NAMES, binary_metrics


@pytest.fixture
def holdout() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    y = (rng.random(300) < 0.2).astype(int)
    p = np.clip(0.35 * y + 0.65 * rng.random(300), 0, 1)
    return y, p


@pytest.fixture
def cv_result() -> CVResult:
    fold = dict.fromkeys(METRIC_NAMES, 0.8)
    return CVResult(folds=3, per_fold=[{**fold, "auc": a} for a in (0.80, 0.82, 0.84)],
                    train_per_fold=[{**fold, "auc": a} for a in (0.95, 0.96, 0.97)],
                    best_iterations=[10, 12, 14])


def make(holdout, cv_result, **kw):
    y, p = holdout
    metrics = {**binary_metrics(y, p), "train_cv_gap": cv_result.train_cv_gap}
    decision = decide(metrics, Thresholds())
    info = {"hyperparameters": {"eta": 0.1, "max_depth": 4}, "best_iteration": 12,
            "n_train": 1200, "n_test": y.size, "features": ["a", "b"]}
    return build_evaluation(y, p, cv_result, decision, info, **kw), decision


def test_layout_keys_and_value_types(holdout, cv_result) -> None:
    out, decision = make(holdout, cv_result)
    assert list(out) == ["binary_classification_metrics", "cross_validation", "overfitting",
                         "decision", "leakage_screen", "model"]
    assert out["leakage_screen"]["blocking"] == 0 and out["leakage_screen"]["features"] == []
    bcm = out["binary_classification_metrics"]
    for name in METRIC_NAMES:
        assert set(bcm[name]) == {"value", "standard_deviation"}
        assert type(bcm[name]["value"]) is float and type(bcm[name]["standard_deviation"]) is float
    assert bcm["auc"]["value"] == pytest.approx(binary_metrics(*holdout)["auc"])
    cm = bcm["confusion_matrix"]
    assert set(cm) == {"0", "1"} and set(cm["0"]) == {"0", "1"}
    assert sum(cm["0"].values()) + sum(cm["1"].values()) == holdout[0].size
    roc = bcm["receiver_operating_characteristic_curve"]
    assert len(roc["false_positive_rates"]) == len(roc["true_positive_rates"]) <= 101
    assert set(bcm["precision_recall_curve"]) == {"precisions", "recalls"}
    cvb = out["cross_validation"]
    assert cvb["folds"] == 3 and cvb["auc"]["mean"] == pytest.approx(0.82)
    assert cvb["auc"]["per_fold"] == [0.80, 0.82, 0.84]
    o = out["overfitting"]
    assert set(o) == {"train_auc", "cv_auc", "test_auc", "train_cv_gap", "cv_test_gap"}
    assert o["train_auc"] == pytest.approx(0.96) and o["train_cv_gap"] == pytest.approx(0.14)
    assert o["cv_test_gap"] == pytest.approx(o["cv_auc"] - o["test_auc"])
    assert out["decision"] == decision.to_dict()
    assert out["model"]["best_iteration"] == 12
    json.dumps(out, allow_nan=False)  # strict JSON as built


def test_bootstrap_std_is_seeded_positive_and_optional(holdout, cv_result) -> None:
    a, _ = make(holdout, cv_result)
    b, _ = make(holdout, cv_result)
    assert a == b
    sd = a["binary_classification_metrics"]["auc"]["standard_deviation"]
    assert 0.005 < sd < 0.1  # about the sampling error of an AUC on 300 rows
    none, _ = make(holdout, cv_result, bootstrap=0)
    assert all(none["binary_classification_metrics"][m]["standard_deviation"] == 0.0
               for m in METRIC_NAMES)


def test_accepts_dicts_for_cv_and_decision(holdout, cv_result) -> None:
    y, p = holdout
    decision = {"approved": False, "reasons": ["r"], "checks": [], "champion": None}
    out = build_evaluation(y, p, cv_result.to_dict(), decision, {}, bootstrap=0)
    assert out["decision"] == decision
    assert out["cross_validation"] == cv_result.to_dict()


def test_nan_becomes_null_and_write_is_atomic(tmp_path: Path, holdout, cv_result,
                                              monkeypatch) -> None:
    out, _ = make(holdout, cv_result, bootstrap=0)
    out["model"]["odd"] = [float("nan"), np.float32(1.5), np.int64(3), float("inf")]
    path = write_evaluation(tmp_path / "eval" / "evaluation.json", out)
    back = json.loads(path.read_text())
    assert back["model"]["odd"] == [None, 1.5, 3, None]
    assert list(back) == list(out)
    # a failure while writing leaves the previous report intact and no temp file behind
    before = path.read_text()

    def boom(*args, **kwargs):
        raise OSError("disk full")

    import trainguard.training.files as files

    monkeypatch.setattr(files.os, "replace", boom)
    with pytest.raises(OSError, match="disk full"):
        write_evaluation(path, {"binary_classification_metrics": {}})
    assert path.read_text() == before
    assert [f.name for f in path.parent.iterdir()] == ["evaluation.json"]
    assert not math.isnan(back["overfitting"]["cv_auc"])


def test_serving_order_fits_package_metadata_or_points_to_the_report() -> None:
    from trainguard.training.evaluation import serving_block

    assert serving_block(["age", "income_k"])["feature_order"] == "age income_k"
    for names in (["a b", "c"], ["x,y"], [f"feature_{i:03d}" for i in range(40)]):
        block = serving_block(names)
        assert block["feature_order"] == "see evaluation.json model.features", names
        assert block["feature_count"] == len(names)


def test_bootstrap_std_is_the_one_of_resampling_and_rescoring_every_draw(monkeypatch):
    """Drawn in blocks and counted, not sorted: the same figures as the plain loop over draws."""
    rng = np.random.default_rng(5)
    y = (rng.random(700) < 0.15).astype(np.int64)
    p = np.round(np.clip(rng.random(700) * 0.7 + 0.3 * y, 0, 1), 3)
    plain_rng = np.random.default_rng(9)
    draws = [binary_metrics(y[idx], p[idx], 0.5) for idx in plain_rng.integers(0, 700, size=(60, 700))]
    want = {m: float(np.std([d[m] for d in draws], ddof=1)) for m in METRIC_NAMES}
    monkeypatch.setattr(ev, "_BOOTSTRAP_BLOCK", 700 * 7)  # blocks of 7 draws, one of 4
    assert ev.bootstrap_std(y, p, 0.5, 60, 9) == want
    monkeypatch.setattr(ev, "_THREADED_ROWS", 1)  # two draws scored at a time: the same figures
    assert ev.bootstrap_std(y, p, 0.5, 60, 9) == want
