"""Options several commands share, written once: the config, a definition file, AWS access."""

from __future__ import annotations

import argparse
import os
import sys

from trainguard.pipelines.ci.aws import DeployError, config_from_args
from trainguard.steps.limits import PIPELINE_NAME, ROLE_ARN  # the service's own patterns
from trainguard.training.config import Config

__all__ = ["add_aws_options", "add_config_options", "aws_config", "check_role_arn"]


def add_config_options(parser: argparse.ArgumentParser, *, definition: str | None = None,
                       config_help: str = "config YAML (default: built-in defaults)") -> None:
    """``--config FILE`` and repeatable ``--set KEY=VALUE``; with ``definition`` (its help text),
    also ``--definition FILE``, exclusive with ``--config``."""
    if definition:
        src = parser.add_mutually_exclusive_group()
        src.add_argument("--config", metavar="FILE", help=config_help)
        src.add_argument("--definition", metavar="FILE", help=definition)
    else:
        parser.add_argument("--config", metavar="FILE", help=config_help)
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="override a dotted config key, repeatable (e.g. --set cv.folds=3)")


def add_aws_options(parser: argparse.ArgumentParser) -> None:
    """``--region``, ``--profile`` and ``--endpoint-url`` for commands that call AWS."""
    parser.add_argument("--region", help="AWS region (default: aws.region)")
    parser.add_argument("--profile", help="AWS profile (default: the usual credential chain)")
    parser.add_argument("--endpoint-url", help="AWS endpoint (default: AWS_ENDPOINT_URL or AWS)")


def check_role_arn(role: str | None) -> str:
    """``--role-arn`` as given, or DeployError saying what an IAM role ARN looks like."""
    if not ROLE_ARN.fullmatch(role or ""):
        raise DeployError(f"--role-arn {role!r} is not an IAM role ARN; expected "
                          "arn:aws:iam::<12-digit account>:role/<name> (see trainguard iam-policy).")
    return str(role)


def aws_config(args: argparse.Namespace, role_arn: str | None = None) -> Config:
    """The config of a command that calls AWS: --config/--set, then --region and the role on top."""
    overrides = list(args.overrides)
    if args.region:
        overrides.append(f"aws.region={args.region}")
    if role_arn:
        overrides.append(f"aws.role_arn={role_arn}")
    args.overrides = overrides
    cfg = config_from_args(args)
    if not PIPELINE_NAME.fullmatch(cfg.aws.pipeline_name):
        # AWS answers ValidationException, which DescribePipeline's handling reads as "missing"
        raise DeployError(f"aws.pipeline_name {cfg.aws.pipeline_name!r} is not a SageMaker "
                          "pipeline name: use letters, digits and single or repeated hyphens "
                          "between them, at most 256 characters (e.g. churn-model).")
    env_region = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION")
    if not args.region and env_region and env_region != cfg.aws.region:
        print(f"note: AWS_REGION is {env_region} but aws.region is {cfg.aws.region}; using "
              f"{cfg.aws.region} (the definition is built for it). Pass --region {env_region} to "
              "deploy there instead.", file=sys.stderr)
    return cfg
