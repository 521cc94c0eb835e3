"""The CLI skin: usage errors and deliberate errors exit with their status and no traceback."""

from __future__ import annotations

import subprocess
import sys

import pytest
from trainguard.pipelines import cli
from trainguard.training.errors import ConfigError


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
        "from trainguard.training.errors import ConfigError\n"
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
    out = subprocess.run([sys.executable, "-m", "trainguard.pipelines.cli", "--help"], capture_output=True, text=True)
    assert out.returncode == 0
    for name in cli.COMMANDS:
        assert name in out.stdout


def test_a_closed_pipe_ends_quietly(tmp_path) -> None:
    """`trainguard registry list --json | head -c 1` ends with status 0 and no traceback."""
    (tmp_path / "spam_cmd.py").write_text(
        "def add_arguments(parser):\n    pass\n"
        "def run(args):\n    for i in range(200000):\n        print('line', i)\n    return 0\n"
    )
    code = (f"import sys; sys.path.insert(0, {str(tmp_path)!r}); from trainguard.pipelines import cli; "
            "cli.COMMANDS['spam'] = ('spam_cmd', 'prints a lot'); sys.exit(cli.main(['spam']))")
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert proc.stdout.read(1) == b"l"
    proc.stdout.close()
    err = proc.stderr.read().decode()
    assert proc.wait(timeout=60) == 0
    assert "Traceback" not in err and "BrokenPipe" not in err
