"""The ``trainguard`` command: a thin skin over the Python API, one module per subcommand.

Subcommand modules are imported only when chosen, so commands that do not need the SageMaker SDK
(local run, registry) never pay for importing it. Each module exposes ``add_arguments(parser)``
and ``run(args) -> int``. Errors raised on purpose (TrainguardError) become one message and their
exit status; a traceback is shown only for bugs, or with ``--debug``.
"""

from __future__ import annotations

import argparse
import atexit
import contextlib
import importlib
import os
import sys
import threading
from collections.abc import Sequence

from trainguard.training.errors import TrainguardError

__all__ = ["COMMANDS", "main"]

# name -> (module, one-line help); every module has add_arguments(parser) and run(args) -> int.
COMMANDS: dict[str, tuple[str, str]] = {
    "run": ("trainguard.pipelines.cli.run", "run the pipeline locally: a dry run of the emitted definition"),
    "definition": ("trainguard.pipelines.cli.definition", "print or write the pipeline definition JSON"),
    "registry": ("trainguard.pipelines.cli.registry", "list, show, approve or reject local model packages"),
    "lint": ("trainguard.pipelines.cli.lint", "check a pipeline definition against the safeguard policy"),
    "iam-policy": ("trainguard.pipelines.cli.iam", "derive the least-privilege execution role policy"),
    "diff": ("trainguard.pipelines.cli.diff", "compare the deployed pipeline with the local definition"),
    "monitor": ("trainguard.pipelines.cli.monitor",
                "baseline a table, or check new data for drift and model quality (Model Monitor formats)"),
    "upsert": ("trainguard.pipelines.cli.upsert",
               "lint, upload the code bundle and create or update the pipeline"),
    "cost": ("trainguard.pipelines.cli.cost", "estimate what one execution costs, worst case and expected"),
    "budgets": ("trainguard.pipelines.cli.budgets",
                "deploy the budget, cost anomaly alerts and under-use alarms (diff/deploy/teardown)"),
    "deploy": ("trainguard.pipelines.cli.deploy",
               "serve the newest Approved model package on an encrypted, isolated endpoint"),
    "ops": ("trainguard.pipelines.cli.ops",
            "alarms, retraining triggers and their metrics: upsert, diff, remove, publish, explain"),
    "preflight": ("trainguard.pipelines.cli.preflight",
                  "check the account: subnets, security groups, S3 endpoint, KMS key, role trust"),
}


class _Parser(argparse.ArgumentParser):
    """argparse that reports usage errors with exit status 2 and a hint, never a traceback."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.print_usage(sys.stderr)
        self.exit(2, f"trainguard: error: {message}\nRun '{self.prog} --help' for the options.\n")


def _build_parser(argv: Sequence[str]) -> argparse.ArgumentParser:
    parser = _Parser(prog="trainguard", description=__doc__.splitlines()[0])
    parser.add_argument("--debug", action="store_true", help="show tracebacks for every error")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    wanted = next((a for a in argv if a in COMMANDS), None)
    for name, (module, help_text) in COMMANDS.items():
        p = sub.add_parser(name, help=help_text, description=help_text)
        if name == wanted:  # import only the chosen command's module
            mod = importlib.import_module(module)
            mod.add_arguments(p)
            p.set_defaults(_run=mod.run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the console script; returns the exit status."""
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = _build_parser(argv)
    args = parser.parse_args(argv)
    if not getattr(args, "_run", None):
        parser.print_help(sys.stderr)
        return 2
    try:
        return int(args._run(args) or 0)
    except TrainguardError as exc:
        if args.debug:
            raise
        print(f"trainguard {args.command}: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("trainguard: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # The reader of our output went away (`trainguard registry list --json | head`): not an
        # error of ours. Point stdout at devnull so the interpreter's final flush stays quiet.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


def console() -> None:
    """The ``trainguard`` command: ``main()``, then a quick exit with its status.

    Tearing down an interpreter that imported the SageMaker SDK and the training stack takes 1-1.5 s
    of freeing modules one by one, and nothing needs it once the command is done. So stdout and
    stderr are flushed, the exit handlers run (logging, temporary files), and the process ends
    there. While a non-daemon thread is still running the normal shutdown waits for it as ever.
    """
    status = main()
    others = [t for t in threading.enumerate() if t is not threading.main_thread() and not t.daemon]
    run_exit_handlers = getattr(atexit, "_run_exitfuncs", None)
    if others or run_exit_handlers is None:
        sys.exit(status)
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError):  # closed or broken: nothing can reach it
            stream.flush()
    run_exit_handlers()
    os._exit(status)


if __name__ == "__main__":  # pragma: no cover
    console()
