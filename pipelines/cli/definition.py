"""``trainguard definition``: print or write the pipeline definition JSON of a config.

The same canonical text ``definition_json()`` returns (and lint, the local runner and upsert
read): ``trainguard definition --config cfg.yaml --set cv.folds=3 --out definition.json``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from trainguard.steps.limits import check_service_limits
from trainguard.training.config import load_config, parse_override
from trainguard.training.errors import ConfigError
from trainguard.training.files import write_text

__all__ = ["add_arguments", "run"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options: --config FILE, --set key=value (repeatable), --out FILE."""
    parser.add_argument("--config", metavar="FILE", help="YAML config (default: built-in defaults)")
    parser.add_argument("--set", dest="overrides", action="append", default=[],
                        metavar="KEY=VALUE", help="override a dotted config key, e.g. cv.folds=3")
    parser.add_argument("--out", metavar="FILE",
                        help="write the definition here instead of printing it")


def run(args: argparse.Namespace) -> int:
    """Build the definition; print it, or write it to --out. Exit 0, or 2 on bad input."""
    overrides = dict(parse_override(text) for text in args.overrides)
    cfg = load_config(args.config, overrides)  # config errors before the SDK is even imported
    check_service_limits(cfg)
    from trainguard.pipelines.build import definition_json  # imports the SDK: only this command needs it

    text = definition_json(cfg)
    if not args.out:
        sys.stdout.write(text)
        return 0
    out = Path(args.out)
    if out.is_dir():
        raise ConfigError(f"--out {out} is a directory; give a file path such as {out}/definition.json.")
    blocking = next((d for d in out.parents if d.exists() and not d.is_dir()), None)
    if blocking is not None:
        raise ConfigError(f"--out {out}: {blocking} is a file, not a folder; choose a path inside "
                          "a folder, such as definition.json.")
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        write_text(out, text)  # all or nothing; a device or FIFO is written through, never replaced
    except OSError as exc:
        raise ConfigError(f"cannot write the definition to {out}: {exc.strerror}; "
                          "choose a writable path with --out.") from None
    print(f"wrote {out} ({len(text.encode())} bytes)", file=sys.stderr)
    return 0
