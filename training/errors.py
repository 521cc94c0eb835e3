"""The error types trainguard raises on purpose, each carrying the CLI exit status it maps to."""

from __future__ import annotations

__all__ = ["EXIT_BAD_INPUT", "EXIT_FAILED", "EXIT_OK", "EXIT_REJECTED", "ConfigError", "DataError",
           "TrainguardError"]

EXIT_OK, EXIT_FAILED, EXIT_BAD_INPUT, EXIT_REJECTED = 0, 1, 2, 3
"""The exit statuses every command shares: 0 passed, 1 findings or a failed job, 2 bad input or
config, 3 rejected by a safeguard (docs/design.md)."""


class TrainguardError(Exception):
    """Root of every error trainguard raises on purpose: a message for a person, an exit status.

    The CLI prints ``str(error)`` as one paragraph and exits with ``exit_code``; anything that is
    not a TrainguardError is a bug and keeps its traceback.
    """

    exit_code: int = EXIT_BAD_INPUT


class ConfigError(TrainguardError, ValueError):
    """A configuration value, file or command-line override is wrong; the message names the key."""


class DataError(TrainguardError, ValueError):
    """The input data cannot be trained on; the message lists every problem found, not only the first."""

    def __init__(self, problems: list[str] | str, source: str | None = None) -> None:
        self.problems = [problems] if isinstance(problems, str) else list(problems)
        self.source = source
        where = f"{source}: " if source else ""
        if len(self.problems) == 1:
            text = f"{where}{self.problems[0]}"
        else:
            text = f"{where}{len(self.problems)} problems found:\n" + "\n".join(
                f"  - {p}" for p in self.problems
            )
        super().__init__(text)
