"""``trainguard budgets diff|deploy|teardown``: the pipeline's budget, anomaly alerts and under-use
alarms (``trainguard.pipelines.ops.budgets`` does the work). diff exits 1 when something differs."""

from __future__ import annotations

import argparse
from typing import Any

from trainguard.pipelines.ci.aws import make_session
from trainguard.pipelines.cli.options import add_aws_options, add_config_options, aws_config
from trainguard.pipelines.ops.budgets import (
    Clients,
    diff_finops,
    make_clients,
    plan_finops,
    teardown_finops,
    upsert_finops,
)

__all__ = ["add_arguments", "run"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``trainguard budgets``."""
    parser.add_argument("action", choices=("diff", "deploy", "teardown"),
                        help="diff: what would change; deploy: create or update; teardown: delete ours")
    add_config_options(parser)
    add_aws_options(parser)
    parser.add_argument("--activate-tags", action="store_true",
                        help="deploy: activate the cost-allocation tags if they are not active")


def run(args: argparse.Namespace, clients: Clients | None = None, session: Any = None) -> int:
    """diff: 1 when something differs; deploy and teardown: 0; bad input: 2 before any AWS call."""
    cfg = aws_config(args)
    plan = plan_finops(cfg)
    if clients is None:
        session = session or make_session(cfg.aws.region, args.profile)
        clients = make_clients(cfg, session, args.endpoint_url)
    if args.action == "diff":
        changes = diff_finops(plan, clients)
        for line in changes:
            print(line)
        if not changes:
            print(f"{plan.pipeline}: budget, anomaly alerts and alarms are in place.")
        return 1 if changes else 0
    if args.action == "deploy":
        if not upsert_finops(plan, clients, activate_tags=args.activate_tags):
            print(f"{plan.pipeline}: nothing to change.")
        return 0
    teardown_finops(plan, clients)
    return 0
