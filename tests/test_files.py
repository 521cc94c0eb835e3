"""training.files: every file trainguard writes appears whole, and nothing that is not a regular
file (a device, a FIFO, a folder, a socket) is ever replaced; a symbolic link is followed."""

from __future__ import annotations

import json
import os
import re
import socket
import stat
import sys
import threading
import types
from pathlib import Path

import pytest
from trainguard.pipelines.cli import main
from trainguard.pipelines.report import write_report
from trainguard.training.files import copy_file, open_for_write, write_bytes, write_text

ROOT = Path(__file__).resolve().parents[1]


def _null_device(tmp_path: Path) -> Path:
    """A character device like /dev/null (major 1, minor 3), made inside tmp_path."""
    dev = tmp_path / "null"
    os.mknod(dev, stat.S_IFCHR | 0o666, os.makedev(1, 3))
    return dev


def test_a_character_device_is_written_through_and_stays_a_device(tmp_path: Path) -> None:
    dev = _null_device(tmp_path)
    write_text(dev, "definition")
    write_bytes(dev, b"bytes")
    assert stat.S_ISCHR(os.lstat(dev).st_mode)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["null"]  # no temp file left beside it


def test_a_fifo_is_written_through_like_shell_redirection(tmp_path: Path) -> None:
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    got: list[bytes] = []
    reader = threading.Thread(target=lambda: got.append(fifo.read_bytes()))
    reader.start()
    write_text(fifo, "through the pipe")
    reader.join(10)
    assert got == [b"through the pipe"]
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode)


def test_a_symlink_is_followed_and_stays_a_link(tmp_path: Path) -> None:
    real = tmp_path / "real.json"
    real.write_text("old")
    link = tmp_path / "link.json"
    link.symlink_to("real.json")
    write_text(link, "new")
    assert link.is_symlink() and os.readlink(link) == "real.json"
    assert real.read_text() == "new"
    chained = tmp_path / "chain"
    chained.symlink_to(link)
    write_text(chained, "newer")
    assert real.read_text() == "newer" and chained.is_symlink() and link.is_symlink()


def test_a_dangling_symlink_creates_its_target_and_a_loop_is_refused(tmp_path: Path) -> None:
    link = tmp_path / "out.json"
    link.symlink_to(tmp_path / "made.json")
    write_text(link, "x")
    assert (tmp_path / "made.json").read_text() == "x" and link.is_symlink()
    a, b = tmp_path / "a", tmp_path / "b"
    a.symlink_to(b)
    b.symlink_to(a)
    with pytest.raises(OSError, match="loop of symbolic links"):
        write_text(a, "x")
    assert a.is_symlink() and b.is_symlink()


@pytest.mark.parametrize("kind", ["folder", "socket"])
def test_a_folder_or_socket_is_refused_and_left_alone(tmp_path: Path, kind: str) -> None:
    target = tmp_path / "target"
    if kind == "folder":
        target.mkdir()
        (target / "keep").write_text("k")
    else:
        sock = socket.socket(socket.AF_UNIX)
        sock.bind(str(target))
    with pytest.raises(OSError, match=f"is a {kind}; trainguard replaces only regular files"):
        write_text(target, "x")
    if kind == "folder":
        assert (target / "keep").read_text() == "k"
    else:
        assert stat.S_ISSOCK(os.lstat(target).st_mode)
        sock.close()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["target"]


def test_a_failed_write_keeps_the_old_file_and_a_replacement_keeps_its_mode(tmp_path: Path) -> None:
    path = tmp_path / "f.txt"
    path.write_text("old")
    path.chmod(0o640)
    with pytest.raises(RuntimeError), open_for_write(path) as fh:
        fh.write("half")
        raise RuntimeError("crash mid-write")
    assert path.read_text() == "old" and sorted(p.name for p in tmp_path.iterdir()) == ["f.txt"]
    copy_file(path, tmp_path / "copy.txt")
    write_text(path, "new")
    assert path.read_text() == "new" and stat.S_IMODE(path.stat().st_mode) == 0o640
    assert (tmp_path / "copy.txt").read_text() == "old"
    assert stat.S_IMODE((tmp_path / "copy.txt").stat().st_mode) == 0o666 & ~_umask()


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def test_iam_out_and_split_write_through_a_device(tmp_path: Path) -> None:
    from test_lint import ROLE, good_definition

    REGION = "eu-west-1"

    definition = tmp_path / "d.json"
    definition.write_text(json.dumps(good_definition()))
    dev = _null_device(tmp_path)
    assert main(["iam-policy", "--definition", str(definition), "--role-arn", ROLE,
                 "--region", REGION, "--out", str(dev)]) == 0
    assert stat.S_ISCHR(os.lstat(dev).st_mode)
    folder = tmp_path / "policy.json"
    folder.mkdir()
    assert main(["iam-policy", "--definition", str(definition), "--role-arn", ROLE,
                 "--region", REGION, "--out", str(folder)]) == 2
    assert folder.is_dir()


def test_definition_out_writes_through_a_device_and_follows_a_link(tmp_path: Path, monkeypatch) -> None:
    fake = types.ModuleType("trainguard.pipelines.build")  # the real one imports the SDK (slow)
    fake.definition_json = lambda cfg: '{"Version": "2020-12-01"}\n'  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "trainguard.pipelines.build", fake)
    dev = _null_device(tmp_path)
    assert main(["definition", "--out", str(dev)]) == 0
    assert stat.S_ISCHR(os.lstat(dev).st_mode)
    real = tmp_path / "real.json"
    link = tmp_path / "link.json"
    link.symlink_to(real)
    assert main(["definition", "--out", str(link)]) == 0
    assert link.is_symlink() and json.loads(real.read_text()) == {"Version": "2020-12-01"}


def test_a_report_to_a_device_leaves_the_device(tmp_path: Path) -> None:
    dev = _null_device(tmp_path)
    write_report(dev, {"decision": {"approved": True, "reasons": []}})
    assert stat.S_ISCHR(os.lstat(dev).st_mode)


def test_no_module_renames_or_writes_files_by_hand() -> None:
    """Every write goes through training.files: no other module renames a temp file over a target
    or calls Path.write_text/write_bytes/shutil.copyfile to produce an output."""
    pattern = re.compile(r"os\.replace\(|os\.rename\(|\.replace\((tmp|path|target|out)\b|"
                         r"\.write_text\(|\.write_bytes\(|shutil\.copyfile\(|mkstemp\(")
    offenders = []
    for folder in ("pipelines", "steps", "training"):
        for path in sorted((ROOT / folder).rglob("*.py")):
            if path.name == "files.py" and folder == "training":
                continue
            for number, line in enumerate(path.read_text().splitlines(), 1):
                if pattern.search(line):
                    offenders.append(f"{path.relative_to(ROOT)}:{number}: {line.strip()}")
    assert offenders == []
