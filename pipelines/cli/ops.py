"""``trainguard ops``: upsert, diff or remove the alarms and triggers; publish or explain a check."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from trainguard.pipelines.ci.aws import DeployError, make_session
from trainguard.pipelines.cli.options import add_aws_options, add_config_options, aws_config
from trainguard.pipelines.ops.common import clients
from trainguard.pipelines.ops.metrics import publish, read_check
from trainguard.pipelines.ops.operate import explain, ops_diff, ops_remove, ops_upsert

__all__ = ["add_arguments", "run"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``trainguard ops ACTION``."""
    sub = parser.add_subparsers(dest="action", metavar="ACTION", required=True,
                                parser_class=type(parser))
    for name, text in (("upsert", "create or update the topic, alarms and retraining triggers"),
                       ("diff", "print what upsert would change; exit 1 if anything"),
                       ("remove", "delete the alarms and triggers trainguard created")):
        p = sub.add_parser(name, help=text, description=text)
        add_config_options(p)
        add_aws_options(p)
        if name != "remove":
            p.add_argument("--starter-role-arn", help="role of the retraining starter function")
            p.add_argument("--invoke-role-arn", help="role the schedule invokes the starter with")
    p = sub.add_parser("publish", help="put a check's drift and quality metrics into CloudWatch")
    add_config_options(p)
    add_aws_options(p)
    p.add_argument("--check", required=True, metavar="DIR|s3://...",
                   help="the check's output (constraint_violations.json, drift_report.json)")
    p = sub.add_parser("explain", help="offline: which alarms a check would fire, and which start follows")
    add_config_options(p)
    p.add_argument("--check", required=True, metavar="DIR", help="the check's output folder")
    p.add_argument("--baseline", metavar="FILE",
                   help="the package's evaluation report (evaluation.json), for baseline thresholds")
    p.add_argument("--champion-bar", type=float, help="show this ChampionBar in the start")
    p.add_argument("--json", action="store_true", help="print JSON")


def _out(line: str) -> None:
    print(line, file=sys.stderr)


def run(args: argparse.Namespace) -> int:
    """0 done / nothing fires / no difference, 1 differences or alarms firing, 2 bad input."""
    if args.action == "explain":
        return _explain(args)
    cfg = aws_config(args)
    kwargs = {"endpoint_url": args.endpoint_url, "profile": args.profile}
    if args.action == "remove":
        ops_remove(cfg, out=_out, **kwargs)
        return 0
    if args.action == "publish":
        session = make_session(cfg.aws.region, args.profile)
        cw, s3 = clients(session, args.endpoint_url, "cloudwatch", "s3")
        data = publish(cw, cfg, read_check(args.check, s3))
        print(f"published {len(data)} metric value(s) to {cfg.alarms.namespace}")
        return 0
    roles = {"starter_role": args.starter_role_arn, "invoke_role": args.invoke_role_arn}
    if args.action == "diff":
        same: list[str] = []
        lines = ops_diff(cfg, **roles, unchanged=same, **kwargs)
        for line in lines:
            print(line)
        if same:
            print(f"unchanged: {', '.join(same)}")
        if not lines:
            print("alarms and triggers: deployed state equals the config; nothing to change")
        return 1 if lines else 0
    lines = ops_upsert(cfg, out=_out, **roles, **kwargs)
    print(f"{len(lines)} change(s)")
    return 0


def _explain(args: argparse.Namespace) -> int:
    from trainguard.pipelines.ci.aws import config_from_args

    cfg = config_from_args(args)
    baselines = None
    if args.baseline:
        try:
            report = json.loads(Path(args.baseline).read_text(encoding="utf-8"))
            block = report["binary_classification_metrics"]
            baselines = {k: float(v["value"]) for k, v in block.items()
                         if isinstance(v, dict) and "value" in v}
        except (OSError, ValueError, KeyError, TypeError):
            raise DeployError(f"--baseline {args.baseline} is not an evaluation report with "
                              "binary_classification_metrics.<metric>.value; pass the package's "
                              "evaluation.json.") from None
    view = explain(cfg, read_check(args.check), baselines, args.champion_bar)
    if args.json:
        print(json.dumps({"metrics": view.metrics, "firing": view.firing, "quiet": view.quiet,
                          "start": view.start}, indent=2))
        return 1 if view.firing else 0
    for name, value, op, threshold in view.firing:
        print(f"FIRES  {name}: {value:g} {op.replace('Threshold', '')} {threshold:g}")
    for name, value, op, threshold in view.quiet:
        shown = "no data" if value is None else f"{value:g}"
        print(f"quiet  {name}: {shown} (alarms when {op.replace('Threshold', '')} {threshold:g})")
    if view.start:
        params = " ".join(f"{k}={v}" for k, v in view.start["parameters"].items())
        print(f"would start pipeline {view.start['pipeline']} via {view.start['via']}: {params}")
    else:
        print("no retraining start")
    return 1 if view.firing else 0
