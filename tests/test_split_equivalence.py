"""The jobs give the same splits, folds and metrics as before the split format changed.

The figures below were recorded from the jobs as they stood when the splits were CSV files
(preprocess -> train -> evaluate on a fixed table, same seed). A reader or split format that
moved a single row, label or float would move them. The split files are read back through
``resolve_data_file`` + ``load_table``, whatever their format.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json

import numpy as np
import pytest
from test_jobs import Container
from trainguard.training.config import load_config
from trainguard.training.core import run_core
from trainguard.training.cv import FoldPlan
from trainguard.training.data import Dataset, load_table, resolve_data_file, write_csv
from trainguard.training.jobs import CV_RECORD

# the holdout rows of the fixed table (stratified, seed 7, test_size 0.2), as recorded
TEST_ROWS = [0, 1, 5, 7, 9, 14, 15, 17, 25, 28, 29, 32, 34, 44, 49, 54, 57, 61, 84, 85, 88, 89,
             92, 100, 110, 123, 127, 130, 131, 133, 142, 147, 158, 166, 182, 185, 186, 187, 205,
             214, 215, 221, 229, 231, 235, 237, 238, 242, 243, 250, 255, 256, 260, 268, 271, 278,
             281, 286, 291, 296, 301, 312, 317, 318, 319, 321, 323, 329, 332, 333, 339, 349, 352,
             357, 366, 367, 371, 373, 378, 398, 399, 401, 405, 416, 426, 432, 435, 437, 440, 442,
             444, 463, 466, 467, 471, 472, 486, 488, 492, 499]
FOLDS_DIGEST = "8402862689e8beca"
"""sha256 prefix of every fold's fit, early-stopping and scored row indices on the train split."""

CASES = {
    # missing cells, text labels, random over-sampling
    "random_over": dict(missing=0.03, classes=("no", "yes"), cv_auc=[
        0.864696223316913, 0.8801392572944297, 0.8995358090185677], best=[11, 21, 23],
        holdout={"auc": (0.8881118881118881, 0.043010224454050804),
                 "pr_auc": (0.737414837977055, 0.09575727336416452),
                 "recall": (0.8181818181818182, 0.09457569045945526),
                 "log_loss": (0.41560905581863544, 0.041216147999183106)}),
    # no missing cells, 0/1 labels, SMOTE
    "smote": dict(missing=0.0, classes=(0, 1), cv_auc=[
        0.8471264367816091, 0.8758289124668435, 0.932526525198939], best=[2, 12, 19],
        holdout={"auc": (0.8971445221445221, 0.04617336950535183),
                 "pr_auc": (0.750181074860605, 0.0964300874110912),
                 "recall": (0.8636363636363636, 0.08457345655925914),
                 "log_loss": (0.46634445397247587, 0.027320085739236413)}),
}


def _table(missing: float, classes: tuple) -> Dataset:
    rng = np.random.default_rng(42)
    X = rng.normal(size=(500, 5))
    logit = 2.0 * X[:, 0] - 1.5 * X[:, 1] - 2.2
    y = (rng.random(500) < 1 / (1 + np.exp(-logit))).astype(np.int64)
    X[rng.random(X.shape) < missing] = np.nan
    return Dataset(X, y, ["a", "b c", "d", "e", "f"], "churned", classes, "fixed")


def _settings(method: str) -> dict:
    return {"data.target": "churned", "cv.folds": 3, "xgboost.num_round": 40,
            "xgboost.early_stopping_rounds": 8, "xgboost.nthread": 1, "tuning.max_jobs": 1,
            "resampling.method": method}


@pytest.mark.parametrize("case", sorted(CASES))
def test_jobs_give_the_recorded_splits_folds_and_metrics(tmp_path, case):
    want = CASES[case]
    ds = _table(want["missing"], want["classes"])
    c = Container(tmp_path)
    write_csv(ds, tmp_path / "processing" / "input" / "data" / "table.csv")
    cfg = load_config(None, _settings(case))
    with contextlib.redirect_stdout(io.StringIO()):
        c.preprocess(cfg)
    train = load_table(resolve_data_file(tmp_path / "processing" / "train"), "churned")
    test = load_table(resolve_data_file(tmp_path / "processing" / "test"), "churned")

    test_rows = np.array(TEST_ROWS)
    train_rows = np.setdiff1d(np.arange(500), test_rows)
    for part, rows in ((train, train_rows), (test, test_rows)):
        assert part.classes == want["classes"]
        assert part.feature_names == ds.feature_names
        assert part.X.dtype == np.float64
        np.testing.assert_array_equal(part.X, ds.X[rows])  # bit for bit, NaN where NaN
        np.testing.assert_array_equal(part.y, ds.y[rows])

    plan = FoldPlan(train.X, train.y, cfg)
    h = hashlib.sha256()
    for i in range(len(plan)):
        f = plan.fold(i)
        for idx in (f.fit_idx, f.stop_idx, f.score_idx):
            h.update(np.asarray(idx, dtype=np.int64).tobytes())
    assert h.hexdigest()[:16] == FOLDS_DIGEST

    with contextlib.redirect_stdout(io.StringIO()):
        c.train(cfg)
        ev = c.evaluate(cfg)
    cv = json.loads((tmp_path / "model" / CV_RECORD).read_text())
    assert cv["auc"]["per_fold"] == want["cv_auc"]
    assert cv["best_iterations"] == want["best"]
    assert cv["classes"] == list(want["classes"]) and cv["n_train"] == 400
    bcm = ev["binary_classification_metrics"]
    got = {name: (bcm[name]["value"], bcm[name]["standard_deviation"]) for name in want["holdout"]}
    assert got == want["holdout"]
    assert ev["model"]["n_test"] == 100

    # and the jobs agree with the core run in memory on the whole table, block for block
    core = run_core(ds, load_config(None, {**_settings(case), "tuning.enabled": False}))
    assert core.evaluation["binary_classification_metrics"] == bcm
    assert core.evaluation["cross_validation"] == ev["cross_validation"]
