"""``trainguard lint``: check any pipeline definition against the safeguard policy.

Exit 1 when a finding is an error, 0 otherwise, 2 on bad input (``trainguard.pipelines.ci.lint``
holds the rules).
"""

from __future__ import annotations

import argparse
import json
import sys

from trainguard.pipelines.ci.aws import build_definition, config_from_args
from trainguard.pipelines.ci.lint import format_findings, lint_definition
from trainguard.pipelines.cli.options import add_config_options
from trainguard.pipelines.definition import DefinitionError, load_definition, parse_definition
from trainguard.training.config import Config, CostConfig

__all__ = ["add_arguments", "run"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``trainguard lint``."""
    add_config_options(parser, config_help="build the definition from this config YAML",
                       definition="lint this definition JSON (any pipeline's; no config or SDK needed)")
    parser.add_argument("--json", action="store_true", help="print findings as a JSON array")


def run(args: argparse.Namespace) -> int:
    """Lint and print; 1 when any finding is an error, 0 otherwise (2 via DefinitionError)."""
    config: Config | None = None
    cost: CostConfig | None = None
    if args.definition:
        other = [o for o in args.overrides if not o.startswith("cost.")]
        if other:
            raise DefinitionError(f"--set {other[0]}: only cost.* caps apply to a --definition file; "
                                  "use --config with --set to change the pipeline, or edit the "
                                  "definition.")
        cost = config_from_args(args).cost
        definition = load_definition(args.definition)
        source = args.definition
    else:
        config = config_from_args(args)
        definition = parse_definition(build_definition(config), "the built definition")
        source = args.config or "the default config"
    findings = lint_definition(definition, config, cost)
    if args.json:
        print(json.dumps([f.to_dict() for f in findings], indent=2))
    else:
        print(format_findings(findings, source), file=sys.stdout)
    return 1 if any(f.severity == "error" for f in findings) else 0
