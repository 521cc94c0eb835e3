"""Benchmark: trainguard's validating CSV loader and writer against pandas on the same table.

``trainguard.training.data.load_table`` checks every cell and reports every problem; pandas' C parser checks
nothing. This prints both wall times (median of --repeat, imports excluded) and the ratio side by
side, for a table of --rows rows x --cols float features with 1% missing cells and a 0/1 label.
Usage: python bench/bench_data.py [--rows 20000] [--cols 30] [--repeat 3]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path


def _median_seconds(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main() -> None:
    """Time load and write for trainguard and pandas; print seconds and ratios."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rows", type=int, default=20000)
    p.add_argument("--cols", type=int, default=30)
    p.add_argument("--repeat", type=int, default=3)
    args = p.parse_args()

    import numpy as np
    import pandas as pd
    from trainguard.training.data import Dataset, load_table, write_csv

    rng = np.random.default_rng(0)
    X = rng.normal(size=(args.rows, args.cols))
    X[rng.random(X.shape) < 0.01] = np.nan
    y = (rng.random(args.rows) < 0.1).astype(np.int64)
    names = [f"f{i}" for i in range(args.cols)]
    ds = Dataset(X, y, names, "label", (0, 1), "bench")
    frame = pd.DataFrame(X, columns=names).assign(label=y)
    with tempfile.TemporaryDirectory() as tmp:
        ours_csv, pandas_csv = Path(tmp) / "ours.csv", Path(tmp) / "pandas.csv"
        w_ours = _median_seconds(lambda: write_csv(ds, ours_csv), args.repeat)
        w_pandas = _median_seconds(lambda: frame.to_csv(pandas_csv, index=False), args.repeat)
        r_ours = _median_seconds(lambda: load_table(ours_csv, "label"), args.repeat)
        r_pandas = _median_seconds(lambda: pd.read_csv(ours_csv), args.repeat)
        back = load_table(ours_csv, "label")
        same = np.array_equal(back.X, X, equal_nan=True) and np.array_equal(back.y, y)
    print(f"table: {args.rows} rows x {args.cols} features, 1% missing; round trip exact: {same}")
    print(f"{'':8}{'trainguard s':>14}{'pandas s':>12}{'ratio':>8}")
    print(f"{'load':8}{r_ours:14.3f}{r_pandas:12.3f}{r_ours / r_pandas:8.1f}x")
    print(f"{'write':8}{w_ours:14.3f}{w_pandas:12.3f}{w_ours / w_pandas:8.1f}x")


if __name__ == "__main__":
    main()
