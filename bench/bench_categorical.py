"""Benchmark: a large table with categorical columns through the whole local run, time and peak memory.

Writes a CSV of ``--rows`` rows (default 1,000,000) with 10 categorical text columns of up to
1,000 categories each (Zipf-like frequencies, 2% missing), 6 numeric columns (1% missing), an ID
and a date, then runs ``trainguard run --local`` on it (preprocess, leakage screen, tuning with
per-fold categories, final fit, evaluation) in a child process and prints its wall time and peak
resident memory (the child's ru_maxrss) against the 4 GiB budget.
Usage: python bench/bench_categorical.py [--rows 1000000] [--trials 2] [--folds 3]
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BUDGET_GIB = 4.0
CARDINALITIES = [1000, 1000, 500, 200, 100, 50, 20, 10, 5, 3]


def make_table(path: Path, rows: int, seed: int = 7) -> None:
    """The benchmark table: categories carry signal, so the model has something to learn."""
    import numpy as np

    rng = np.random.default_rng(seed)
    logit = np.full(rows, -2.5)
    cols: dict[str, list[str]] = {"customer_id": [f"C{i:08d}" for i in range(rows)]}
    days = rng.integers(0, 730, rows)
    cols["signup"] = (np.datetime64("2023-01-01") + days).astype(str).tolist()
    for k, n_cat in enumerate(CARDINALITIES):
        p = 1.0 / np.arange(1, n_cat + 1) ** 0.8
        codes = rng.choice(n_cat, size=rows, p=p / p.sum())
        effect = rng.normal(0, 0.6, n_cat)
        logit += effect[codes]
        words = np.array([f"c{k}_{v:04d}" for v in range(n_cat)], dtype=object)
        text = words[codes]
        text[rng.random(rows) < 0.02] = ""
        cols[f"cat{k}"] = text.tolist()
    for k in range(6):
        x = rng.normal(size=rows)
        logit += 0.4 * x if k < 3 else 0.0
        cells = np.char.mod("%.4f", x).astype(object)
        cells[rng.random(rows) < 0.01] = ""
        cols[f"num{k}"] = cells.tolist()
    y = rng.random(rows) < 1 / (1 + np.exp(-logit))
    cols["churned"] = np.where(y, "yes", "no").tolist()
    with path.open("w", encoding="utf-8") as fh:
        fh.write(",".join(cols) + "\n")
        for row in zip(*cols.values(), strict=True):
            fh.write(",".join(row) + "\n")


def run(data: Path, workdir: Path, trials: int, folds: int) -> dict:
    """The local run in a child process; its wall time, exit status and peak RSS."""
    args = [sys.executable, "-m", "trainguard.pipelines.cli", "run", "--local", "--data", str(data),
            "--target", "churned", "--workdir", str(workdir / "w"), "--registry", str(workdir / "r.db")]
    for key, value in {"data.id": "customer_id", "data.timestamp": "signup", "data.split": "time",
                       "resampling.method": "random_over", "tuning.max_jobs": trials, "cv.folds": folds,
                       "xgboost.num_round": 100, "xgboost.early_stopping_rounds": 10,
                       "approval.min_recall": 0.0, "approval.min_auc": 0.0}.items():
        args += ["--set", f"{key}={value}"]
    t0 = time.perf_counter()
    proc = subprocess.run(args, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - t0
    peak_kib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    out = {"exit": proc.returncode, "wall_s": wall, "peak_rss_gib": peak_kib / 2**20}
    ev = workdir / "w" / "evaluation.json"
    if ev.is_file():
        report = json.loads(ev.read_text())
        out["holdout_auc"] = report["binary_classification_metrics"]["auc"]["value"]
        out["categorical"] = len(report["model"].get("encoding", {}).get("categorical", {}))
    if proc.returncode not in (0, 3):
        out["stderr"] = proc.stderr[-2000:]
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rows", type=int, default=1_000_000)
    p.add_argument("--trials", type=int, default=2)
    p.add_argument("--folds", type=int, default=3)
    args = p.parse_args()
    with tempfile.TemporaryDirectory(prefix="trainguard-bench-cat-") as tmp:
        data = Path(tmp) / "table.csv"
        t0 = time.perf_counter()
        make_table(data, args.rows)
        made = time.perf_counter() - t0
        size = data.stat().st_size / 2**20
        print(f"table: {args.rows:,} rows, {len(CARDINALITIES)} categorical columns (up to "
              f"{max(CARDINALITIES):,} categories), 6 numeric, an ID and a date; {size:.0f} MiB CSV "
              f"(written in {made:.0f} s)")
        res = run(data, Path(tmp), args.trials, args.folds)
    print(f"local run: exit {res['exit']}, {res['wall_s']:.0f} s wall, peak RSS {res['peak_rss_gib']:.2f} GiB "
          f"(budget {BUDGET_GIB:.0f} GiB: {res['peak_rss_gib'] / BUDGET_GIB:.2f}x), "
          f"holdout AUC {res.get('holdout_auc', float('nan')):.4f}, "
          f"categorical features {res.get('categorical', 0)}")
    if "stderr" in res:
        print(res["stderr"])


if __name__ == "__main__":
    main()
