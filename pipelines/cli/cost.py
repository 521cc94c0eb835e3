"""``trainguard cost``: what one execution costs, worst case and expected, before it starts.

Exit 0 with the estimate; 3 when its worst case is over ``cost.max_execution_usd``; 2 when a limit
is set and the cost cannot be bounded, or on bad input (``trainguard.pipelines.ops.cost`` holds
the estimate).
"""

from __future__ import annotations

import argparse
import json

from trainguard.pipelines.ci.aws import build_definition, config_from_args
from trainguard.pipelines.cli.options import add_config_options
from trainguard.pipelines.definition import DefinitionError, load_definition, param_pairs, parse_definition
from trainguard.pipelines.ops.cost import (
    CostLimitExceeded,
    UnknownPrice,
    check_execution_cost,
    estimate,
    format_estimate,
    infer_region,
    load_price_table,
)
from trainguard.training.errors import TrainguardError

__all__ = ["add_arguments", "run"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``trainguard cost``."""
    add_config_options(parser, config_help="build the definition from this config YAML",
                       definition="price this definition JSON (any pipeline's; cost.* settings "
                                  "from --set still apply)")
    parser.add_argument("--param", dest="params", action="append", default=[], metavar="K=V",
                        help="execution parameter value, as at a start, repeatable")
    parser.add_argument("--region", help="region whose prices apply (default: aws.region, or the "
                                         "region the definition's images and keys name)")
    parser.add_argument("--prices", metavar="FILE", help="price table JSON (default: the shipped one)")
    parser.add_argument("--json", action="store_true", help="print the estimate as JSON")


def run(args: argparse.Namespace) -> int:
    """Print the estimate, then refuse (exit 3 or 2) when cost.max_execution_usd forbids the start."""
    config = config_from_args(args)
    if args.definition:
        definition = load_definition(args.definition)
        named = any(o.startswith("aws.region=") for o in args.overrides)
        region = args.region or (config.aws.region if named else None) or infer_region(definition)
    else:
        definition = parse_definition(build_definition(config), "the built definition")
        region = args.region or config.aws.region
    if not region:
        raise DefinitionError("cannot tell which region the definition runs in; pass --region.")
    if region != config.aws.region:
        config = config.replace(**{"aws.region": region})
    table = load_price_table(args.prices)
    params = param_pairs(args.params)
    refused: TrainguardError | None = None
    try:
        est = check_execution_cost(definition, config, params, table)
    except (CostLimitExceeded, UnknownPrice) as exc:
        est, refused = estimate(definition, region=region, params=params, cost=config.cost,
                                table=table), exc
    if args.json:
        doc = est.to_dict()
        doc["limit_usd"] = config.cost.max_execution_usd
        doc["refused"] = str(refused) if refused else None
        print(json.dumps(doc, indent=2))
    else:
        print(format_estimate(est))
    if refused is not None:
        raise refused
    return 0
