"""``python -m trainguard.training.monitor {baseline|check}``: the drift check without the SDK.

``baseline --data FILE --out DIR`` writes statistics.json and constraints.json of a table;
``check --baseline DIR --data PATH [--labels FILE] [--out DIR] [--json]`` compares data with it.
Exit status: 0 clean, 1 violations, 2 bad input. ``trainguard monitor`` runs the same commands.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TextIO

from trainguard.training.errors import ConfigError, TrainguardError

__all__ = ["main", "run_baseline", "run_check"]


class _Parser(argparse.ArgumentParser):
    """argparse whose usage errors raise ConfigError (exit 2, one message, no traceback)."""

    def error(self, message: str) -> None:  # type: ignore[override]
        raise ConfigError(f"{message}. Run '{self.prog} --help' for the options.")


def parser(prog: str = "python -m trainguard.training.monitor") -> argparse.ArgumentParser:
    """The baseline/check command line, shared with ``trainguard monitor``."""
    p = _Parser(prog=prog, description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="command", required=True, parser_class=_Parser)
    b = sub.add_parser("baseline", help="data-quality baseline of a table")
    b.add_argument("--data", required=True, metavar="FILE", help="CSV or Parquet file, or a folder of them")
    b.add_argument("--out", required=True, metavar="DIR", help="folder for statistics.json and constraints.json")
    b.add_argument("--config", metavar="FILE", help="YAML config (its monitor section and data.target)")
    b.add_argument("--set", dest="overrides", metavar="KEY=VALUE", action="append", default=[],
                   help="override a config key, e.g. --set monitor.alpha=0.05 (repeatable)")
    b.add_argument("--label-column", metavar="COL", help="ground-truth column to leave out "
                   "(default: data.target when the table has it)")
    c = sub.add_parser("check", help="check data against a baseline")
    c.add_argument("--baseline", required=True, metavar="DIR", help="baseline folder")
    c.add_argument("--data", required=True, metavar="PATH",
                   help="CSV, Parquet, a folder of them, or endpoint data-capture JSONL")
    c.add_argument("--labels", metavar="FILE", help="ground truth: Model Monitor JSONL, or a CSV")
    c.add_argument("--label-column", metavar="COL", help="ground-truth column of the data table")
    c.add_argument("--model", metavar="PATH", help="model.tar.gz (default: the baseline's model/)")
    c.add_argument("--method", choices=("calibrated", "model_monitor"),
                   help="override the baseline's drift method")
    c.add_argument("--out", metavar="DIR", help="folder for constraint_violations.json and the report")
    c.add_argument("--json", action="store_true", help="print the result as JSON")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; 0 clean, 1 violations, 2 bad input (message on stderr)."""
    prog = "python -m trainguard.training.monitor"
    try:
        args = parser(prog).parse_args(list(sys.argv[1:] if argv is None else argv))
        if args.command == "baseline":
            return run_baseline(args)
        return run_check(args)
    except TrainguardError as exc:
        print(f"{prog}: error: {exc}", file=sys.stderr)
        return exc.exit_code


def run_baseline(args: argparse.Namespace, out: TextIO | None = None) -> int:
    """Build and write the baseline named by ``args``."""
    from trainguard.training.config import load_config, parse_override
    from trainguard.training.monitor.baseline import build_baseline, settings_from_config, write_baseline
    from trainguard.training.monitor.profile import source_header
    from trainguard.training.monitor.read import open_source

    out = out or sys.stdout
    overrides: dict[str, Any] = dict(parse_override(t) for t in args.overrides)
    cfg = load_config(args.config, overrides)
    header = source_header(open_source(args.data))
    label = args.label_column or (cfg.data.target if cfg.data.target in header else None)
    exclude = [*cfg.monitor.exclude, *([label] if label else [])]
    stats, cons = build_baseline(args.data, exclude=exclude,
                                 settings=settings_from_config(cfg.monitor))
    folder = write_baseline(Path(args.out), stats, cons)
    print(f"baseline of {stats['dataset']['item_count']} rows, {len(stats['features'])} features"
          f"{f' (left out: {label})' if label else ''}: {folder}", file=out)
    return 0


def run_check(args: argparse.Namespace, out: TextIO | None = None) -> int:
    """Run the check named by ``args``; prints the table (or JSON) and writes ``--out``."""
    from trainguard.training.monitor.check import check_drift, write_result

    out = out or sys.stdout
    result = check_drift(args.baseline, args.data, method=args.method, labels=args.labels,
                         label_column=args.label_column, model=args.model)
    if args.out:
        write_result(result, Path(args.out))
    if args.json:
        json.dump(result.to_dict(), out, indent=1)
        out.write("\n")
    else:
        out.write(format_table(result))
    return result.exit_code


def format_table(result: Any) -> str:
    """The per-feature table and the violations as text."""
    lines = [f"{result.data}: {result.rows} rows against {result.baseline} ({result.method})",
             f"{'feature':<24} {'type':<10} {'distance':>9} {'threshold':>9} {'p-value':>9}  drifted"]
    for f in result.features:
        dist = "-" if f.distance is None else f"{f.distance:.4f}"
        thr = "-" if f.threshold is None else f"{f.threshold:.4g}"
        pv = "-" if f.p_value is None else f"{f.p_value:.2g}"
        lines.append(f"{f.name[:24]:<24} {f.inferred_type:<10} {dist:>9} {thr:>9} {pv:>9}  "
                     f"{'YES' if f.drifted else 'no'}{'  ' + f.note if f.note else ''}")
    for q in result.quality:
        lines.append(f"model quality {q['metric']}: {q['value']:.4f} (threshold {q['threshold']:.4f})"
                     f"{'  VIOLATED' if q['violated'] else ''}")
    every = result.violations + result.quality_violations
    lines.append(f"{len(every)} violation(s)" if every else "clean: no violation")
    for v in every:
        lines.append(f"  - {v.get('feature_name') or v.get('metric_name')}: "
                     f"{v['constraint_check_type']}: {v['description']}")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.exit(main())
