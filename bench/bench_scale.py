"""Benchmark: ``trainguard run --local`` on a large table against the hand-written floor, whole process.

Two sizes by default: 1,000,000 rows x 1 trial x 3 folds (goals: <= 1.0x floor.py's wall time,
<= 1.2x its peak memory) and 200,000 rows x 4 trials x 5 folds (goal: <= 0.9x wall). Both read
the same CSV (floor.py's make_classification data, 30 features, generated once into
bench/.cache/, which git ignores), with the same split, folds, trials, rounds, search space and
thread count. Each run is its own process, timed from start to exit; peak memory is the run's
own maximum resident set (``wait4``), children included. The runs are interleaved so they share
the machine's load alike; the load average is printed beside the figures.
Then, for trainguard, where the time went: each step's wall time and its jobs' phases (parse,
split, screen, write, resample, matrix, train, score) from the jobs' ``trainguard-timing`` lines,
in wall seconds and, below them, in CPU seconds (CPU over wall: the cores a phase kept busy).
Usage: python bench/bench_scale.py [--size 1m|200k|both] [--repeat 1] [--again] [--rows N --trials T --folds F]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
CACHE = HERE / ".cache"
sys.path.insert(0, str(HERE))

from bench_runner import FLOOR, TRAINGUARD, config, write_data  # noqa: E402
from trainguard.training.timing import PHASES, TIMING_PATTERN  # noqa: E402

SIZES = {"1m": (1_000_000, 1, 3, 1.0, 1.2), "200k": (200_000, 4, 5, 0.9, None)}
"""name -> (rows, trials, folds, wall goal, peak memory goal) as ratios to floor.py."""
_STEP_LINE = re.compile(r"^\s+(?P<step>\w+)\s+(?P<status>Succeeded|Failed|Stopped)\s+(?P<s>[0-9.]+)s")


def data_file(rows: int) -> Path:
    """The cached CSV of ``rows`` rows, generated on first use (written aside, then renamed)."""
    CACHE.mkdir(exist_ok=True)
    path = CACHE / f"data-{rows}.csv"
    if not path.is_file():
        print(f"bench_scale: generating {path} (once)", file=sys.stderr)
        tmp = path.with_suffix(".partial")
        write_data(tmp, rows)
        tmp.replace(path)
    return path


def measure(cmd: list[str]) -> dict:
    """Run ``cmd``; wall and CPU seconds and peak RSS (MB) of that process tree, stdout, stderr."""
    env = {**os.environ, "OMP_NUM_THREADS": "2"}
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        t0 = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=out, stderr=err, env=env)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - t0
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read().decode(), err.read().decode()
    if proc.returncode not in (0, 3):
        raise SystemExit(f"bench_scale: {' '.join(cmd[:4])} ... failed ({proc.returncode}):\n{stderr[-3000:]}")
    return {"wall": wall, "cpu": usage.ru_utime + usage.ru_stime, "rss_mb": usage.ru_maxrss / 1024,
            "stdout": stdout, "stderr": stderr}


def step_split(stderr: str, workdir: Path) -> list[tuple[str, float, dict[str, float], int]]:
    """(step, wall s, phase seconds summed over its jobs or None, job count) for every step run."""
    steps = [(m["step"], float(m["s"])) for line in stderr.splitlines() if (m := _STEP_LINE.match(line))]
    per_job: dict[str, list[dict[str, float]]] = {"preprocess": [], "train": [], "evaluate": []}
    for log in sorted(workdir.glob("jobs/*/output/job.log")):
        for line in log.read_text(encoding="utf-8", errors="replace").splitlines():
            if m := TIMING_PATTERN.search(line):
                pairs = dict(w.split("=") for w in m["pairs"].split())
                per_job.setdefault(m["job"], []).append(pairs)
    kinds = {"Preprocess": "preprocess", "Tune": "train", "Train": "train", "Evaluate": "evaluate"}
    rows = []
    for step, seconds in steps:
        jobs = per_job.get(kinds.get(step, ""), [])
        if jobs:
            keys = (*PHASES, "other", "total")
            total: dict = {k: sum(float(j.get(k, 0.0)) for j in jobs) for k in (*keys, *(f"cpu_{k}" for k in keys))}
            top = max(jobs, key=lambda j: float(j.get("peak_mb", 0.0)))
            total["peak"] = (float(top.get("peak_mb", 0.0)), top.get("peak_in", "?"))
            rows.append((step, seconds, total, len(jobs)))
        else:  # a step without timed jobs (baseline, condition, registration): its wall time alone
            rows.append((step, seconds, None, 0))
    return rows


def trials_trained(workdir: Path) -> list[str]:
    """Each trainguard trial's tuned hyperparameters and its boosting rounds (CV folds, final fit)."""
    from bench_runner import SPACE

    out = []
    for record in sorted(workdir.glob("jobs/*/model/trainguard/cv.json")):
        cv = json.loads(record.read_text())
        hp = {k: v for k, v in (cv.get("hyperparameters") or {}).items() if k in SPACE}
        out.append(f"{hp}, rounds per fold {cv.get('best_iterations')}, final fit {cv.get('best_num_round')}")
    return out


def floor_trials(trials: int) -> list[dict]:
    """The hyperparameters floor.py draws (its ParameterSampler at random_state 7)."""
    from bench_runner import SPACE
    from sklearn.model_selection import ParameterSampler

    return list(ParameterSampler(SPACE, n_iter=trials, random_state=7))


def run_size(rows: int, trials: int, folds: int, repeat: int, goals: tuple, again: bool = False) -> None:
    """Measure one size: floor.py and trainguard interleaved, then trainguard's step split.

    ``again``: after each trainguard run, a second one in the same work dir (its definition read
    from the work dir's cache, no SDK import), with a registry of its own."""
    csv = data_file(rows)
    load_before = os.getloadavg()
    runs: dict[str, list[dict]] = {"floor": [], "trainguard": [], **({"again": []} if again else {})}
    last_split: list = []
    last_trials: list[str] = []
    with tempfile.TemporaryDirectory(prefix="trainguard-bench-scale-") as tmp:
        t = Path(tmp)
        cfg = t / "bench.yaml"
        cfg.write_text(json.dumps(config(trials, folds, "off")))  # JSON is YAML
        for r in range(repeat):
            floor = [sys.executable, str(FLOOR), "0", str(trials), str(folds), str(csv), "target"]
            runs["floor"].append(measure(floor))
            work = t / f"run{r}"
            cli = [str(TRAINGUARD), "run", "--local", "--config", str(cfg), "--data", str(csv),
                   "--target", "target", "--workdir", str(work), "--registry", str(t / f"reg{r}.db"),
                   "--no-cache"]
            runs["trainguard"].append(measure(cli))
            last_split = step_split(runs["trainguard"][-1]["stderr"], work)
            last_trials = trials_trained(work)
            outside = runs["trainguard"][-1]["wall"] - sum(s for _, s, _, _ in last_split)
            if again:
                runs["again"].append(measure([*cli[:-2], str(t / f"reg{r}-again.db"), "--no-cache"]))
    load_after = os.getloadavg()
    med = {name: {k: statistics.median(x[k] for x in rs) for k in ("wall", "cpu", "rss_mb")}
           for name, rs in runs.items()}
    ref = med["floor"]
    floor_auc = json.loads(runs["floor"][-1]["stdout"].strip().splitlines()[-1]).get("test_auc")
    ours_auc = re.search(r"auc\s+([0-9.]+)", runs["trainguard"][-1]["stdout"])
    print(f"{rows:,} rows x 30 features (CSV, {csv.stat().st_size / 1e6:.0f} MB), {trials} trial(s) x "
          f"{folds} folds, SMOTE in-fold, num_round 500, early stopping 20, nthread 2, median of "
          f"{repeat} run(s); load average {load_before[0]:.1f} before, {load_after[0]:.1f} after")
    print(f"   {'run':<26}{'wall s':>9}{'ratio':>8}{'cpu s':>9}{'ratio':>8}{'peak MB':>10}{'ratio':>8}"
          f"{'holdout AUC':>13}  wall of each run (s)")
    rows_shown = [("floor", "floor.py (reference)", floor_auc),
                  ("trainguard", "trainguard run --local", ours_auc and float(ours_auc[1]))]
    if again:
        rows_shown.append(("again", "  again, same work dir", ours_auc and float(ours_auc[1])))
    for name, label, auc in rows_shown:
        m = med[name]
        each = ", ".join(f"{x['wall']:.1f}" for x in runs[name])
        print(f"   {label:<26}{m['wall']:>9.1f}{m['wall'] / ref['wall']:>7.2f}x{m['cpu']:>9.1f}"
              f"{m['cpu'] / ref['cpu']:>7.2f}x{m['rss_mb']:>10.0f}{m['rss_mb'] / ref['rss_mb']:>7.2f}x"
              f"{auc if auc is not None else '-':>13}  {each}")
    wall_goal, mem_goal = goals
    goal = f"   goal: <= {wall_goal:.2f}x floor.py's wall time"
    print(goal + (f", <= {mem_goal:.2f}x its peak memory" if mem_goal else ""))
    print("   where trainguard's time went (last run; seconds, phases summed over each step's jobs):")
    print(f"   {'step':<22}{'wall':>8}" + "".join(f"{p:>9}" for p in (*PHASES, "other"))
          + "   process peak MB so far, reached in")
    for step, seconds, total, n_jobs in last_split:
        name = f"{step} ({n_jobs} jobs)" if n_jobs > 1 else step
        if total is None:
            print(f"   {name:<22}{seconds:>8.1f}   (no per-phase timing)")
            continue
        peak_mb, peak_in = total["peak"]
        print(f"   {name:<22}{seconds:>8.1f}" + "".join(f"{total[p]:>9.1f}" for p in (*PHASES, "other"))
              + f"   {peak_mb:>6.0f} ({peak_in})")
        print(f"   {'  CPU s':<22}{total['cpu_total']:>8.1f}"
              + "".join(f"{total['cpu_' + p]:>9.1f}" for p in (*PHASES, "other")))
    print(f"   {'outside the steps':<22}{outside:>8.1f}   (interpreter start, SDK import and definition build "
          "on a first run in a work dir, staging the data, report)")
    # the searches draw different points from the same space, so the boosting work differs
    print("   trials (the same space; each side's search draws its own points):")
    for i, hp in enumerate(floor_trials(trials), 1):
        print(f"     floor.py {i}: {hp}")
    for i, line in enumerate(last_trials, 1):
        print(f"     trainguard {i}: {line}")
    print()


def main(argv: list[str] | None = None) -> int:
    """Run the chosen sizes and print the figures; returns 0 (2 without floor.py)."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--size", choices=[*SIZES, "both"], default="both")
    p.add_argument("--repeat", type=int, default=1, help="runs per row; the median is shown")
    p.add_argument("--rows", type=int, help="a custom size instead of --size (with --trials, --folds)")
    p.add_argument("--trials", type=int, default=1)
    p.add_argument("--folds", type=int, default=3)
    p.add_argument("--again", action="store_true",
                   help="also time a second trainguard run in each work dir (definition cached)")
    a = p.parse_args(argv)
    if not FLOOR.is_file():
        print(f"bench_scale: the reference {FLOOR} is missing; set TRAINGUARD_FLOOR.", file=sys.stderr)
        return 2
    if a.rows:
        run_size(a.rows, a.trials, a.folds, a.repeat, (1.0, 1.2), a.again)
        return 0
    for name in SIZES if a.size == "both" else [a.size]:
        rows, trials, folds, wall_goal, mem_goal = SIZES[name]
        run_size(rows, trials, folds, a.repeat, (wall_goal, mem_goal), a.again)
    return 0


if __name__ == "__main__":
    sys.exit(main())
