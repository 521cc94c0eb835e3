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


def _console(tmp_path, body: str) -> subprocess.CompletedProcess:
    """Run ``cli.console()`` on a one-off command whose ``run(args)`` is ``body``."""
    (tmp_path / "probe_cmd.py").write_text("import atexit, sys, threading, time\n"
                                           "def add_arguments(parser):\n    pass\n"
                                           "def run(args):\n" + body)
    code = (f"import sys; sys.path.insert(0, {str(tmp_path)!r}); sys.argv = ['trainguard', 'probe']; "
            "from trainguard.pipelines import cli; cli.COMMANDS['probe'] = ('probe_cmd', 'probe'); "
            "cli.console()")
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path, timeout=120)


def test_the_quick_exit_keeps_the_status_every_buffered_line_and_the_exit_handlers(tmp_path) -> None:
    """console() skips the interpreter's teardown, not its duties: buffered output is flushed, the
    exit handlers run (temporary files, logging), the command's status is the process's."""
    out = _console(tmp_path, "    atexit.register(lambda: open('handler-ran', 'w').write('yes'))\n"
                             "    sys.stdout.write(''.join(f'line {i}\\n' for i in range(50000)))\n"
                             "    sys.stderr.write('last words')\n"
                             "    return 3\n")
    assert out.returncode == 3, out.stderr
    assert out.stdout.count("\n") == 50000 and out.stdout.endswith("line 49999\n")
    assert out.stderr == "last words"
    assert (tmp_path / "handler-ran").read_text() == "yes"


def test_the_quick_exit_waits_for_a_running_non_daemon_thread(tmp_path) -> None:
    out = _console(tmp_path, "    def late():\n        time.sleep(0.5)\n        open('thread-done', 'w').write('yes')\n"
                             "    threading.Thread(target=late).start()\n"
                             "    return 0\n")
    assert out.returncode == 0, out.stderr
    assert (tmp_path / "thread-done").read_text() == "yes"


def test_the_installed_command_is_the_quick_exit_entry_point() -> None:
    from importlib.metadata import entry_points

    (script,) = [e for e in entry_points(group="console_scripts") if e.name == "trainguard"]
    assert script.value == "trainguard.pipelines.cli:console"
