"""``trainguard preflight``: check the account (VPC, S3 endpoint, KMS key, role) before a first run."""

from __future__ import annotations

import argparse
import json

from trainguard.pipelines.ci.preflight import format_preflight, preflight
from trainguard.pipelines.cli.options import add_aws_options, add_config_options, aws_config, check_role_arn

__all__ = ["add_arguments", "run"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``trainguard preflight``."""
    add_config_options(parser)
    add_aws_options(parser)
    parser.add_argument("--role-arn", help="the execution role (default: aws.role_arn)")
    parser.add_argument("--json", action="store_true", help="print the findings as a JSON list")


def run(args: argparse.Namespace) -> int:
    """Print one line per finding; 0 ready, 1 error findings, 2 bad input or AWS failure."""
    if args.role_arn:
        check_role_arn(args.role_arn)
    cfg = aws_config(args, args.role_arn)
    findings = preflight(cfg, endpoint_url=args.endpoint_url, profile=args.profile)
    if args.json:
        print(json.dumps([f.to_dict() for f in findings], indent=2))
    else:
        print(format_preflight(findings, cfg))
    return 1 if any(f.severity == "error" for f in findings) else 0
