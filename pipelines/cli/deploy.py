"""``trainguard deploy``: serve the newest Approved package (or show the diff, or remove it)."""

from __future__ import annotations

import argparse
import sys

from trainguard.pipelines.cli.options import add_aws_options, add_config_options, aws_config, check_role_arn
from trainguard.pipelines.ops.deploy import LATEST, deploy, deploy_diff, remove_deploy

__all__ = ["add_arguments", "run"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``trainguard deploy``."""
    add_config_options(parser)
    add_aws_options(parser)
    parser.add_argument("--role-arn", required=True, help="the role the model runs with")
    parser.add_argument("--package", default=LATEST, metavar="ARN|latest-approved",
                        help="the model package to serve (default: %(default)s); only Approved ones")
    what = parser.add_mutually_exclusive_group()
    what.add_argument("--diff", action="store_true", help="print what deploy would change; exit 1 if any")
    what.add_argument("--remove", action="store_true",
                      help="delete the endpoint, its configs, models and alarms (only what trainguard created)")


def run(args: argparse.Namespace) -> int:
    """0 done or nothing to change, 1 differences (--diff), 2 bad input or AWS errors."""
    check_role_arn(args.role_arn)
    cfg = aws_config(args, args.role_arn)

    def out(line: str) -> None:
        print(line, file=sys.stderr)

    kwargs = {"endpoint_url": args.endpoint_url, "profile": args.profile}
    if args.remove:
        remove_deploy(cfg, out=out, **kwargs)
        return 0
    if args.diff:
        same: list[str] = []
        lines = deploy_diff(cfg, args.role_arn, package=args.package, unchanged=same, **kwargs)
        for line in lines:
            print(line)
        if same:
            print(f"unchanged: {', '.join(same)}")
        if not lines:
            print(f"endpoint {cfg.deploy.endpoint_name}: serves the chosen package already; "
                  "nothing to change")
        return 1 if lines else 0
    result = deploy(cfg, args.role_arn, package=args.package, out=out, **kwargs)
    print(result.endpoint_name)
    return 0
