"""Benchmark: the drift check, whole process, against a hand-written floor, and its memory.

1. Speed: ``trainguard monitor check`` (process start, imports, baseline read, streaming read of
   the current CSV, every check, the three output files) against
   /work/shared/bench/drift_floor.py (pyarrow reads both CSVs, sorted CDF distance per column)
   on the same two CSVs, 200,000 rows x 20 features plus a category and a label. Goal <= 1.3x.
   The baseline is built once beforehand, as at training time; its own cost is printed apart.
2. Memory: peak RSS of one check of a 1,000,000-row CSV of the same shape. Goal < 2 GiB.
The CSVs are generated once into bench/.cache/drift/ (git-ignored); runs are interleaved
subprocesses so both sides share the machine's load alike.
Usage: python bench/bench_drift.py [--rows 200000] [--features 20] [--big 1000000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
CACHE = HERE / ".cache" / "drift"
FLOOR = Path(os.environ.get("TRAINGUARD_DRIFT_FLOOR", "/work/shared/bench/drift_floor.py"))
TRAINGUARD = Path(sys.executable).with_name("trainguard")


def check_command(baseline: Path, data: Path, out: Path) -> list[str]:
    """The check as a user runs it: the CLI if it has the monitor command, else the module."""
    probe = subprocess.run([str(TRAINGUARD), "monitor", "--help"], capture_output=True, text=True)
    if TRAINGUARD.exists() and probe.returncode == 0:
        head = [str(TRAINGUARD), "monitor"]
    else:
        head = [sys.executable, "-m", "trainguard.training.monitor"]
    return [*head, "check", "--baseline", str(baseline), "--data", str(data), "--out", str(out)]


def make_big(path: Path, rows: int, features: int) -> None:
    """drift_floor.py's 'cur' recipe at ``rows`` rows, written with pyarrow in slices."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.csv as pacsv

    rng = np.random.default_rng(12)
    cats = np.array(["a", "b", "c", "d"])
    schema = pa.schema([*(pa.field(f"x{i}", pa.float32()) for i in range(features)),
                        pa.field("segment", pa.string()), pa.field("label", pa.int64())])
    tmp = path.with_suffix(".partial")
    with pacsv.CSVWriter(tmp, schema, write_options=pacsv.WriteOptions(quoting_style="none")) as w:
        for start in range(0, rows, 100_000):
            n = min(100_000, rows - start)
            X = rng.normal(size=(n, features)).astype(np.float32).round(4)
            X[:, 1] += 0.5
            X[:, 3] *= 1.7
            X[:, 7] = rng.exponential(size=n)
            seg = rng.choice(cats, size=n, p=[0.4, 0.3, 0.2, 0.1])
            y = (X[:, 0] > 1.2).astype(np.int64)
            cols = [pa.array(X[:, i]) for i in range(features)] + [pa.array(seg), pa.array(y)]
            w.write(pa.record_batch(cols, schema=schema))
    tmp.replace(path)


_MEASURE = ("import resource, subprocess, sys, time\n"
            "t = time.perf_counter()\n"
            "r = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL)\n"
            "wall = time.perf_counter() - t\n"
            "u = resource.getrusage(resource.RUSAGE_CHILDREN)\n"
            "print(wall, u.ru_utime + u.ru_stime, u.ru_maxrss, file=sys.stderr)\n"
            "sys.exit(r.returncode)")


def measure(cmd: list[str]) -> tuple[float, float, float]:
    """(wall seconds, CPU seconds, peak RSS in MiB) of one subprocess (the command alone)."""
    proc = subprocess.run([sys.executable, "-c", _MEASURE, *cmd], capture_output=True, text=True)
    if proc.returncode not in (0, 1):
        raise SystemExit(f"{' '.join(cmd)} failed ({proc.returncode}):\n{proc.stderr}")
    wall, cpu, rss = proc.stderr.strip().splitlines()[-1].split()
    return float(wall), float(cpu), int(rss) / 1024


def main() -> int:
    """Print the speed row and the memory row side by side with their goals."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=200_000)
    ap.add_argument("--features", type=int, default=20)
    ap.add_argument("--big", type=int, default=1_000_000)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    data = CACHE / f"{args.rows}x{args.features}"
    if not (data / "cur.csv").exists():
        print(f"generating {data} (once) ...", flush=True)
        subprocess.run([sys.executable, str(FLOOR), "--make", str(data), str(args.rows),
                        str(args.features)], check=True, capture_output=True)
    big = CACHE / f"big-{args.big}x{args.features}.csv"
    if args.big and not big.exists():
        print(f"generating {big} (once) ...", flush=True)
        make_big(big, args.big, args.features)
    baseline = data / "baseline"
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-m", "trainguard.training.monitor", "baseline", "--data",
                    str(data / "base.csv"), "--out", str(baseline), "--set", "data.target=label"],
                   check=True, capture_output=True)
    baseline_s = time.perf_counter() - t0
    ours_cmd = check_command(baseline, data / "cur.csv", data / "out")
    floor_cmd = [sys.executable, str(FLOOR), str(data / "base.csv"), str(data / "cur.csv"), "label"]
    ours, floor = [], []
    for _ in range(args.repeat):
        ours.append(measure(ours_cmd))
        floor.append(measure(floor_cmd))
    o = statistics.median(m[0] for m in ours)
    f = statistics.median(m[0] for m in floor)
    oc = statistics.median(m[1] for m in ours)
    fc = statistics.median(m[1] for m in floor)
    drifted = json.loads(subprocess.run(floor_cmd, capture_output=True, text=True).stdout)["drifted"]
    report = json.loads((data / "out" / "drift_report.json").read_text())
    print(f"drift check, {args.rows:,} rows x {args.features} features (median of {args.repeat})")
    print(f"  {'':28} {'trainguard':>11} {'floor':>9} {'ratio':>7}  goal")
    print(f"  {'whole process, wall seconds':28} {o:11.2f} {f:9.2f} {o / f:6.2f}x  <= 1.30x")
    print(f"  {'whole process, CPU seconds':28} {oc:11.2f} {fc:9.2f} {oc / fc:6.2f}x")
    print(f"  {'peak RSS, MiB':28} {max(m[2] for m in ours):11.0f} {max(m[2] for m in floor):9.0f}")
    print(f"  drifted: trainguard {report['drifted']}, floor {drifted}")
    print(f"  baseline built once beforehand in {baseline_s:.2f} s (not in the ratio)")
    if args.big:
        wall, _cpu, mib = measure(check_command(baseline, big, CACHE / "big-out"))
        print(f"drift check, {args.big:,} rows: {wall:.2f} s, peak RSS {mib:.0f} MiB "
              f"(goal < 2048 MiB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
