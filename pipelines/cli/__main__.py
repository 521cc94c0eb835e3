"""``python -m trainguard.pipelines.cli``: the same as the ``trainguard`` command."""

from trainguard.pipelines.cli import console

console()
