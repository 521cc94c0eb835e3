"""Benchmark: trainguard's core (search + CV + final fit + holdout) against a hand-written floor.

Runs /work/shared/bench/floor.py and ``trainguard.training.core.run_core`` on the same make_classification
data, the same stratified holdout, folds, trial count, rounds and categorical search space, each
in its own subprocess, and prints wall seconds, best CV AUC, holdout AUC and the time ratio side
by side: ours with trial early stopping off (identical work) and on (the median rule).
Usage: python bench/bench_core.py [--rows 20000] [--trials 8] [--folds 5] [--repeat 1]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

FLOOR = Path(os.environ.get("TRAINGUARD_FLOOR", "/work/shared/bench/floor.py"))

# floor.py's search space, as categorical ranges (values are strings, as the tuner passes them)
SPACE = {"max_depth": [3, 4, 5, 6], "eta": [0.05, 0.1, 0.2, 0.3],
         "alpha": [0.0, 0.1, 1.0, 5.0], "lambda": [0.5, 1.0, 5.0, 10.0],
         "min_child_weight": [1, 3, 5], "subsample": [0.7, 0.85, 1.0]}


def worker(early_stopping: str, rows: int, trials: int, folds: int) -> dict:
    """One timed run of our core; mirrors floor.py's data, split and settings."""
    t0 = time.perf_counter()
    import numpy as np
    from sklearn.datasets import make_classification
    from trainguard.training.config import load_config
    from trainguard.training.core import run_core
    from trainguard.training.data import Dataset

    X, y = make_classification(n_samples=rows, n_features=30, n_informative=10,
                               weights=[0.95], flip_y=0.01, random_state=7)
    ds = Dataset(X, y.astype(np.int64), [f"f{i}" for i in range(X.shape[1])], "y", (0, 1),
                 "make_classification")
    cfg = load_config({
        "seed": 7,
        "data": {"test_size": 0.2},
        "cv": {"folds": folds},
        "resampling": {"method": "smote", "k_neighbors": 5},
        "xgboost": {"num_round": 500, "early_stopping_rounds": 20, "nthread": 2,
                    "gamma": 0.0, "colsample_bytree": 1.0},
        "tuning": {"strategy": "random", "max_jobs": trials, "early_stopping": early_stopping,
                   "ranges": {k: {"type": "categorical", "values": [str(v) for v in vals]}
                              for k, vals in SPACE.items()}},
        "approval": {"min_auc": 0.0, "min_recall": 0.0, "max_overfit_gap": 1.0},
    })
    res = run_core(ds, cfg)
    seconds = time.perf_counter() - t0
    bcm = res.evaluation["binary_classification_metrics"]
    assert res.search is not None
    return {"cv_auc": round(res.search.best.score, 4), "test_auc": round(bcm["auc"]["value"], 4),
            "test_pr_auc": round(bcm["pr_auc"]["value"], 4),
            "folds_run": sum(t.cv.folds_run for t in res.search.trials),
            "floor_style_cv_auc": round(_floor_style_cv(X, y, res.params, folds), 4),
            "seconds": round(seconds, 2)}


def _floor_style_cv(X, y, params: dict, folds: int) -> float:
    """floor.py's own CV procedure (early stopping on the scored fold) for our chosen params.

    Run after the clock stops: it only puts our best CV AUC on floor.py's optimistic scale.
    """
    import numpy as np
    import xgboost as xgb
    from imblearn.over_sampling import SMOTE
    from sklearn.metrics import roc_auc_score
    from sklearn.model_selection import StratifiedKFold, train_test_split

    X_tr, _, y_tr, _ = train_test_split(X, y, test_size=0.2, stratify=y, random_state=7)
    p = dict(params, objective="binary:logistic", eval_metric="auc", tree_method="hist", nthread=2)
    aucs = []
    for tr, va in StratifiedKFold(folds, shuffle=True, random_state=7).split(X_tr, y_tr):
        Xs, ys = SMOTE(random_state=7).fit_resample(X_tr[tr], y_tr[tr])
        dva = xgb.DMatrix(X_tr[va], label=y_tr[va])
        bst = xgb.train(p, xgb.DMatrix(Xs, label=ys), num_boost_round=500, evals=[(dva, "val")],
                        early_stopping_rounds=20, verbose_eval=False)
        pred = bst.predict(dva, iteration_range=(0, bst.best_iteration + 1))
        aucs.append(roc_auc_score(y_tr[va], pred))
    return float(np.mean(aucs))


def _run(cmd: list[str]) -> dict:
    """Run one child; its JSON line plus the CPU seconds it used (robust to a busy machine)."""
    env = {**os.environ, "OMP_NUM_THREADS": "2"}
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    out = subprocess.run(cmd, check=True, capture_output=True, text=True, env=env)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return {**json.loads(out.stdout.strip().splitlines()[-1]), "cpu": round(cpu, 2)}


def _interleaved(cmds: list[list[str]], repeat: int) -> list[dict]:
    """Run the commands in turn ``repeat`` times (so they share the machine's load alike)."""
    runs: list[list[dict]] = [[] for _ in cmds]
    for _ in range(repeat):
        for i, cmd in enumerate(cmds):
            runs[i].append(_run(cmd))
    return [{**r[0], "seconds": statistics.median(x["seconds"] for x in r),
             "cpu": statistics.median(x["cpu"] for x in r),
             "all_seconds": [x["seconds"] for x in r]} for r in runs]


def main(argv: list[str] | None = None) -> int:
    """Run the comparison and print the table; returns 0."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rows", type=int, default=20000)
    p.add_argument("--trials", type=int, default=8)
    p.add_argument("--folds", type=int, default=5)
    p.add_argument("--repeat", type=int, default=1, help="runs per row; the median time is shown")
    p.add_argument("--worker", choices=["off", "auto"], help=argparse.SUPPRESS)
    a = p.parse_args(argv)
    if a.worker:
        print(json.dumps(worker(a.worker, a.rows, a.trials, a.folds)))
        return 0
    if not FLOOR.is_file():
        print(f"bench_core: the reference {FLOOR} is missing; set TRAINGUARD_FLOOR to its path.",
              file=sys.stderr)
        return 2
    sizes = [str(a.rows), str(a.trials), str(a.folds)]
    me = [sys.executable, str(Path(__file__).resolve())]
    shape = ["--rows", sizes[0], "--trials", sizes[1], "--folds", sizes[2]]
    ref, off, auto = _interleaved([[sys.executable, str(FLOOR), *sizes],
                                   [*me, "--worker", "off", *shape],
                                   [*me, "--worker", "auto", *shape]], a.repeat)
    total = a.trials * a.folds
    print(f"{a.rows} rows x 30 features, {a.trials} trials x {a.folds} folds, SMOTE in-fold, "
          f"num_round 500, early stopping 20, nthread 2, median of {a.repeat} run(s)\n")
    print(f"{'run':<40}{'wall s':>9}{'ratio':>8}{'cpu s':>9}{'ratio':>8}{'best CV AUC':>13}"
          f"{'floor-style':>13}{'holdout AUC':>13}{'folds':>7}  wall of each run (s)")
    rows = [("reference floor.py", ref, total),
            ("trainguard, trial early stopping off", off, off["folds_run"]),
            ("trainguard, trial early stopping auto", auto, auto["folds_run"])]
    for name, r, n in rows:
        print(f"{name:<40}{r['seconds']:>9.2f}{r['seconds'] / ref['seconds']:>7.2f}x"
              f"{r['cpu']:>9.2f}{r['cpu'] / ref['cpu']:>7.2f}x{r['cv_auc']:>13.4f}"
              f"{r.get('floor_style_cv_auc', r['cv_auc']):>13.4f}"
              f"{r['test_auc']:>13.4f}{n:>7}  {r['all_seconds']}")
    print("\nNote: floor.py early-stops each fold on the fold it then scores, so its CV AUC is\n"
          "optimistic; trainguard early-stops on an inner carve-out of the fit part\n"
          "(xgboost.validation_fraction=0.15) and scores an untouched fold. Compare holdout AUC\n"
          f"for model quality. Both draw {a.trials} random points of the same space, not the same "
          "points.\n'floor-style' re-scores our chosen hyperparameters with floor.py's own CV\n"
          "procedure (after the clock stops): the like-for-like best CV AUC.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
