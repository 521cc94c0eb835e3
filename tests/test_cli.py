"""The CLI skin: usage errors and deliberate errors exit with their status and no traceback."""

from __future__ import annotations

import subprocess
import sys

import pytest

from pipelines import cli
from training.errors import ConfigError


def test_no_command_prints_help_and_exits_2(capsys) -> None:
    assert cli.main([]) == 2
    assert "COMMAND" in capsys.readouterr().err


def test_unknown_command_is_a_usage_error(capsys) -> None:
    with pytest.raises(SystemExit) as exc:
        cli.main(["frobnicate"])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert "invalid choice: 'frobnicate'" in err and "--help" in err


def test_deliberate_errors_become_one_message_and_their_exit_code(monkeypatch, tmp_path, capsys) -> None:
    (tmp_path / "boom_cmd.py").write_text(
        "from training.errors import ConfigError\n"
        "def add_arguments(parser):\n    parser.add_argument('--x')\n"
        "def run(args):\n    raise ConfigError('cv.folds must be at least 2; got 1.')\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setitem(cli.COMMANDS, "boom", ("boom_cmd", "always fails"))
    assert cli.main(["boom"]) == 2
    assert capsys.readouterr().err.strip() == "trainguard boom: error: cv.folds must be at least 2; got 1."
    with pytest.raises(ConfigError):
        cli.main(["--debug", "boom"])


def test_console_script_help_runs() -> None:
    out = subprocess.run([sys.executable, "-m", "pipelines.cli", "--help"], capture_output=True, text=True)
    assert out.returncode == 0
    for name in cli.COMMANDS:
        assert name in out.stdout
