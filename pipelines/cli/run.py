"""``trainguard run --local``: the local dry run of the emitted definition (``run_local`` underneath)."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from trainguard.pipelines.definition import param_pairs
from trainguard.pipelines.local.progress import Progress
from trainguard.pipelines.local.run import (
    DEFAULT_WORKDIR,
    EXIT_APPROVED,
    EXIT_BAD_INPUT,
    EXIT_FAILED,
    EXIT_REJECTED,
    run_local,
)
from trainguard.training.config import parse_override
from trainguard.training.errors import ConfigError

__all__ = ["add_arguments", "run"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``trainguard run``, and its exit statuses under the help."""
    parser.epilog = (f"exit status: {EXIT_APPROVED} passed the safeguards, {EXIT_REJECTED} rejected by a safeguard "
                     f"(evaluation.json and report.html still written), {EXIT_BAD_INPUT} bad input or "
                     f"config, {EXIT_FAILED} a job failed")
    parser.add_argument("--local", action="store_true", required=True,
                        help="run on this machine (no Docker, no AWS); the only mode of this command")
    parser.add_argument("--config", metavar="FILE", help="YAML config file (default: built-in defaults)")
    parser.add_argument("--data", metavar="PATH",
                        help="CSV or Parquet file to train on (default: embedded digits data)")
    parser.add_argument("--target", metavar="COL", help="label column of --data")
    parser.add_argument("--workdir", metavar="DIR", default=DEFAULT_WORKDIR,
                        help=f"output folder (default ./{DEFAULT_WORKDIR})")
    parser.add_argument("--registry", metavar="PATH", help="local registry file (default: registry.local_path)")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="config override, dotted key (repeatable), e.g. --set cv.folds=3")
    parser.add_argument("--param", dest="params", action="append", default=[], metavar="NAME=VALUE",
                        help="pipeline parameter override (repeatable), e.g. --param MinAuc=0.8")
    parser.add_argument("--no-cache", action="store_true", help="ignore and do not reuse cached steps")
    parser.add_argument("--monitoring", action="store_true",
                        help="run the monitoring pipeline instead: check --data against --baseline "
                             "(exit 0 clean, 1 drift found, 2 bad input)")
    parser.add_argument("--baseline", metavar="BASELINE",
                        help="with --monitoring: baseline folder, or GROUP/VERSION (GROUP: its "
                             "champion) of the local registry")


def run(args: argparse.Namespace) -> int:
    """Run locally, print progress to stderr and the summary to stdout; return the exit status."""
    overrides = dict(parse_override(o) for o in args.overrides)
    params = param_pairs(args.params)
    if args.monitoring:
        return _run_monitoring(args, overrides)
    print(f"trainguard run: building the pipeline and running it locally in {args.workdir}/", file=sys.stderr)
    progress = Progress(sys.stderr)
    try:
        result = run_local(args.config, data=args.data, target=args.target, workdir=args.workdir,
                           registry=args.registry, overrides=overrides, parameters=params,
                           use_cache=not args.no_cache, on_event=progress)
    finally:  # Ctrl-C mid-trial: the message goes on a clean line, not after the bar
        progress.close()
    if result.exit_code == EXIT_BAD_INPUT or (result.status == "Failed" and result.evaluation is None):
        print(f"trainguard run: error: {result.message}", file=sys.stderr)
        return result.exit_code
    print(result.summary())
    return result.exit_code


def _run_monitoring(args: argparse.Namespace, overrides: dict[str, Any]) -> int:
    """``run --local --monitoring``: the monitoring pipeline's definition, executed locally."""
    from trainguard.pipelines.local.monitoring import run_monitoring_local

    if not args.data or not args.baseline:
        raise ConfigError("--monitoring needs --data (the file or folder to check) and --baseline "
                          "(a baseline folder or GROUP/VERSION of the local registry).")
    workdir = args.workdir if args.workdir != DEFAULT_WORKDIR else "trainguard-monitor"
    print(f"trainguard run: building the monitoring pipeline and running it locally in {workdir}/",
          file=sys.stderr)
    progress = Progress(sys.stderr)
    try:
        result = run_monitoring_local(args.config, data=args.data, baseline=args.baseline,
                                      workdir=workdir, registry=args.registry,
                                      overrides=overrides, on_event=progress)
    finally:
        progress.close()
    if result.exit_code not in (0, 1):
        print(f"trainguard run: error: {result.message}", file=sys.stderr)
        return result.exit_code
    print(f"monitoring: {result.status.lower()}: {result.message}")
    if result.report is not None:
        print(f"report: {result.workdir / 'drift_report.html'}")
    return result.exit_code
