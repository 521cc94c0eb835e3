"""``trainguard upsert``: lint, upload the code bundle, create or update the pipeline, maybe start it."""

from __future__ import annotations

import argparse
import sys

from trainguard.pipelines.ci.aws import DeployError
from trainguard.pipelines.ci.upsert import upsert
from trainguard.pipelines.cli.options import add_aws_options, add_config_options, aws_config, check_role_arn

__all__ = ["add_arguments", "run"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``trainguard upsert``."""
    add_config_options(parser)
    add_aws_options(parser)
    parser.add_argument("--role-arn", required=True,
                        help="the pipeline execution role (see trainguard iam-policy)")
    parser.add_argument("--start", action="store_true", help="start an execution afterwards")
    parser.add_argument("--param", dest="params", action="append", default=[], metavar="K=V",
                        help="execution parameter for --start, repeatable (e.g. MinAuc=0.8)")


def run(args: argparse.Namespace) -> int:
    """Deploy; prints the pipeline ARN. 0 success, 1 lint errors, 2 AWS/config errors."""
    check_role_arn(args.role_arn)
    if args.params and not args.start:
        raise DeployError("--param only applies to an execution; add --start.")
    cfg = aws_config(args, args.role_arn)

    def out(line: str) -> None:
        print(line, file=sys.stderr)

    result = upsert(cfg, start=args.start, params=args.params, endpoint_url=args.endpoint_url,
                    profile=args.profile, out=out)
    print(result.pipeline_arn)
    return 0
