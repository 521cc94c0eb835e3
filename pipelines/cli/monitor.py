"""``trainguard monitor baseline|check``: Model Monitor's data-quality baseline and drift check, locally.

``baseline --data FILE --out DIR`` builds statistics.json and constraints.json of any table (for
a model trained elsewhere). ``check --baseline <folder | GROUP/VERSION | GROUP> --data PATH``
compares new data with it and, with ``--labels`` (or ``--label-column``), the model's quality;
``--out DIR`` receives constraint_violations.json, statistics.json, drift_report.json and
drift_report.html; ``--json`` prints the result for tools. Exit status: 0 clean, 1 violations,
2 bad input.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

__all__ = ["add_arguments", "run"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``trainguard monitor``: the baseline and check sub-commands."""
    parser.epilog = "exit status: 0 clean, 1 violations found, 2 bad input"
    sub = parser.add_subparsers(dest="monitor_command", metavar="ACTION", required=True)
    b = sub.add_parser("baseline", help="data-quality baseline (statistics.json, constraints.json) of a table")
    b.add_argument("--data", required=True, metavar="FILE", help="CSV or Parquet file, or a folder of them")
    b.add_argument("--out", required=True, metavar="DIR", help="folder for the two files")
    b.add_argument("--config", metavar="FILE", help="YAML config (its monitor section, data.target)")
    b.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="config override, repeatable, e.g. --set monitor.alpha=0.05")
    b.add_argument("--label-column", metavar="COL",
                   help="ground-truth column to leave out (default: data.target when present)")
    c = sub.add_parser("check", help="check data against a baseline folder or a registered model")
    c.add_argument("--baseline", required=True, metavar="BASELINE",
                   help="baseline folder, or GROUP/VERSION (GROUP alone: its champion) of the local registry")
    c.add_argument("--data", required=True, metavar="PATH",
                   help="CSV, Parquet, a folder of them, or endpoint data-capture JSONL")
    c.add_argument("--labels", metavar="FILE", help="ground truth: Model Monitor JSONL or a CSV")
    c.add_argument("--label-column", metavar="COL", help="ground-truth column of the data table")
    c.add_argument("--model", metavar="PATH", help="model.tar.gz (default: the package's model)")
    c.add_argument("--method", choices=("calibrated", "model_monitor"),
                   help="override the baseline's drift method")
    c.add_argument("--out", metavar="DIR", help="folder for the violation file and the reports")
    c.add_argument("--json", action="store_true", help="print the result as JSON")
    c.add_argument("--registry", metavar="PATH", help="local registry file (default: registry.local_path)")
    c.add_argument("--config", metavar="FILE", help="config YAML to read registry.local_path from")
    c.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="config override, repeatable")


def run(args: argparse.Namespace) -> int:
    """Run the chosen action; 0 clean, 1 violations, 2 bad input (raised as TrainguardError)."""
    from trainguard.training.monitor.__main__ import format_table, run_baseline

    if args.monitor_command == "baseline":
        return run_baseline(args)
    from trainguard.pipelines.drift import REPORT_HTML, check_drift

    result = check_drift(args.baseline, args.data, labels=args.labels,
                         label_column=args.label_column, model=args.model, method=args.method,
                         out=args.out, registry=_registry_path(args))
    if args.json:
        json.dump(result.to_dict(), sys.stdout, indent=1)
        sys.stdout.write("\n")
    else:
        sys.stdout.write(format_table(result))
        if args.out:
            print(f"report: {Path(args.out) / REPORT_HTML}")
    return result.exit_code


def _registry_path(args: argparse.Namespace) -> Path:
    """``--registry``, else the config's ``registry.local_path`` (without importing the registry)."""
    if args.registry:
        return Path(args.registry)
    from trainguard.training.config import load_config, parse_override

    overrides = dict(parse_override(text) for text in args.overrides)
    return Path(load_config(args.config, overrides).registry.local_path)
