"""``python -m trainguard.pipelines.cli``: the same as the ``trainguard`` command."""

import sys

from trainguard.pipelines.cli import main

sys.exit(main())
