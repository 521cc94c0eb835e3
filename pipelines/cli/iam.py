"""``trainguard iam-policy``: print or write the execution role's (or the CI identity's) policy."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from trainguard.pipelines.ci.aws import build_definition, config_from_args
from trainguard.pipelines.ci.iam import IamError, deployer_policy, derive_policy, role_and_region
from trainguard.pipelines.cli.options import add_config_options
from trainguard.pipelines.definition import load_definition, parse_definition
from trainguard.training.files import write_text

__all__ = ["add_arguments", "run"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``trainguard iam-policy``."""
    add_config_options(parser, config_help="config YAML the definition is built from",
                       definition="derive from this definition JSON instead (any pipeline's)")
    parser.add_argument("--role-arn", help="the execution role (default: aws.role_arn, or the "
                                           "definition's one RoleArn)")
    parser.add_argument("--region", help="AWS region (default: aws.region, or the definition's "
                                         "KMS keys' and images' region)")
    parser.add_argument("--deployer", action="store_true",
                        help="the policy of the CI identity that runs diff/upsert instead of the "
                             "pipeline's execution role (needs the config)")
    parser.add_argument("--ops", action="store_true",
                        help="the operating side's policies instead: the retraining starter's role, "
                             "the schedule's role and the operator running deploy/ops (needs the "
                             "config, --starter-role-arn and --invoke-role-arn; --role-arn is the "
                             "endpoint model's role)")
    parser.add_argument("--starter-role-arn", help="with --ops: the starter function's role")
    parser.add_argument("--invoke-role-arn", help="with --ops: the role the schedule invokes the starter with")
    parser.add_argument("--github-repo", metavar="OWNER/NAME",
                        help="with --deployer: trust policy for GitHub Actions OIDC of this repo")
    parser.add_argument("--github-ref", default="refs/heads/main",
                        help="with --github-repo: the one ref allowed to deploy (default: %(default)s)")
    parser.add_argument("--out", metavar="FILE",
                        help="write the JSON here (see --split)")
    parser.add_argument("--split", action="store_true",
                        help="with --out, write the policy to FILE and the trust policy to "
                             "FILE with '.trust' before the extension")



def run(args: argparse.Namespace) -> int:
    """Print or write the role policy and trust policy as JSON; 0 on success, 2 on bad input."""
    if args.definition and args.overrides:
        raise IamError("--set applies to a config; it cannot change a --definition file. Use "
                       "--config with --set, or edit the definition.")
    config = None if args.definition else config_from_args(args)
    if args.ops:
        if config is None:
            raise IamError("--ops needs the config (endpoint, pipeline, alarms, triggers); use --config.")
        from trainguard.pipelines.ops.iam import ops_policies

        if args.region:
            config = config.replace(**{"aws.region": args.region})
        return _write(args, ops_policies(config, model_role=args.role_arn or config.aws.role_arn,
                                         starter_role=args.starter_role_arn or "",
                                         invoke_role=args.invoke_role_arn or ""))
    if args.definition:
        definition = load_definition(args.definition)
    else:
        definition = parse_definition(build_definition(config), "the built definition")
    if args.deployer:
        if config is None:
            raise IamError("--deployer needs the config (pipeline name, bucket, key, group); use "
                           "--config instead of --definition.")
        if args.role_arn or args.region:
            config = config.replace(**{k: v for k, v in (("aws.role_arn", args.role_arn),
                                                          ("aws.region", args.region)) if v})
        return _write(args, deployer_policy(config, definition, github_repo=args.github_repo,
                                            github_ref=args.github_ref))
    if args.github_repo:
        raise IamError("--github-repo applies to the CI identity's trust policy; add --deployer.")
    if config is not None:
        role, region = args.role_arn or config.aws.role_arn, args.region or config.aws.region
    else:
        role, region = args.role_arn, args.region
        if not role or not region:
            found_role, found_region = role_and_region(definition)
            role, region = role or found_role, region or found_region
        if not role or not region:
            missing = " and ".join(n for n, v in (("--role-arn", role), ("--region", region)) if not v)
            raise IamError(f"cannot tell the execution role and region from {args.definition} "
                           f"alone; pass {missing}.")
    return _write(args, derive_policy(definition, role_arn=role, region=region))


def _write(args: argparse.Namespace, doc: dict[str, Any]) -> int:
    """Print the JSON, or write it to --out (with --split: policy and trust policy apart)."""
    if not args.out:
        print(json.dumps(doc, indent=2))
        return 0
    out = Path(args.out)
    try:
        if args.split and "TrustPolicy" in doc:
            write_text(out, json.dumps(doc["PolicyDocument"], indent=2) + "\n")
            trust = out.with_name(f"{out.stem}.trust{out.suffix or '.json'}")
            write_text(trust, json.dumps(doc["TrustPolicy"], indent=2) + "\n")
            print(f"wrote {out} and {trust}")
        else:
            write_text(out, json.dumps(doc, indent=2) + "\n")
            print(f"wrote {out}")
    except OSError as exc:
        raise IamError(f"cannot write {out}: {exc.strerror or exc}; choose a writable --out path.") \
            from None
    return 0
