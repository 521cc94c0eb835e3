"""``trainguard diff``: compare the deployed pipeline with the definition built from the config."""

from __future__ import annotations

import argparse

from trainguard.pipelines.ci.diff import diff
from trainguard.pipelines.cli.options import add_aws_options, add_config_options, aws_config, check_role_arn

__all__ = ["add_arguments", "run"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``trainguard diff``."""
    add_config_options(parser)
    add_aws_options(parser)
    parser.add_argument("--role-arn", help="the execution role (default: aws.role_arn)")


def run(args: argparse.Namespace) -> int:
    """Print the differences; 0 equal, 1 different (or not deployed yet), 2 errors."""
    if args.role_arn:
        check_role_arn(args.role_arn)
    cfg = aws_config(args, args.role_arn)
    lines = diff(cfg, endpoint_url=args.endpoint_url, profile=args.profile)
    if not lines:
        print(f"pipeline {cfg.aws.pipeline_name}: deployed definition equals the local one")
        return 0
    print(f"pipeline {cfg.aws.pipeline_name}: {len(lines)} difference(s), deployed → local:")
    for line in lines:
        print(f"  {line}")
    return 1
