"""Imports flow one way, pipelines → steps → training, and training never touches the AWS SDKs.

training/ runs inside the SageMaker containers and locally unchanged, so it may not import
sagemaker, boto3 or botocore, nor the layers above it; steps/ may not import pipelines/.
"""

from __future__ import annotations

import ast
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
FORBIDDEN = {
    "training": {"sagemaker", "boto3", "botocore", "trainguard.pipelines", "trainguard.steps",
                 "pipelines", "steps"},
    "steps": {"trainguard.pipelines", "pipelines"},
    "pipelines": set(),
}
BARE = {"pipelines", "steps", "training"}
"""The card's folders install as ``trainguard.<folder>``: a bare ``import training`` would pick up
whatever a user's notebook folder holds under that name."""


def imported_names(path: Path) -> set[str]:
    """Top-level names, and ``trainguard.<package>`` names, of every module ``path`` imports."""
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            modules = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            modules = [node.module]
            if node.module == "trainguard":
                modules += [f"trainguard.{a.name}" for a in node.names]
        else:
            continue
        for module in modules:
            parts = module.split(".")
            names.add(parts[0])
            if parts[0] == "trainguard" and len(parts) > 1:
                names.add(".".join(parts[:2]))
    return names


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_no_import_against_the_flow(package: str) -> None:
    files = sorted((ROOT / package).rglob("*.py"))
    assert files, f"no Python files under {package}/"
    offending = {f"{f.relative_to(ROOT)} imports {name}"
                 for f in files for name in imported_names(f) & (FORBIDDEN[package] | BARE)}
    assert not offending, "\n".join(sorted(offending))


def test_the_scanner_sees_imports_inside_functions(tmp_path: Path) -> None:
    sample = tmp_path / "sample.py"
    sample.write_text("def f():\n    import boto3.session\n    from sagemaker.core import x\n"
                      "    from trainguard import steps\n    import trainguard.pipelines.cli\n")
    assert imported_names(sample) == {"boto3", "sagemaker", "trainguard", "trainguard.steps",
                                      "trainguard.pipelines"}


def test_every_package_folder_is_installed() -> None:
    """pyproject lists the packages one by one (a package-dir mapping): a new folder must be added."""
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["setuptools"]
    mapping = config["package-dir"]
    on_disk = {"trainguard"}
    for package, folder in mapping.items():
        for init in (ROOT / folder).rglob("__init__.py"):
            rel = init.parent.relative_to(ROOT / folder)
            on_disk.add(".".join([package, *rel.parts]))
    assert set(config["packages"]) == on_disk


def test_running_the_training_core_loads_no_aws_sdk() -> None:
    code = ("import sys, trainguard.training.jobs, trainguard.training.core, trainguard.training.__main__; "
            "print(sorted(m for m in ('sagemaker', 'boto3', 'botocore') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_a_users_own_training_and_pipelines_modules_do_not_shadow_ours(tmp_path: Path) -> None:
    """A notebook folder with its own pipelines.py / training.py / steps.py still gets trainguard's."""
    for name in ("pipelines", "training", "steps"):
        (tmp_path / f"{name}.py").write_text("raise SystemExit('the user module was imported')\n")
    code = ("import trainguard, trainguard.pipelines.cli, trainguard.training.jobs, trainguard.steps\n"
            "from trainguard import load_config\n"
            "print(load_config().cv.folds, trainguard.training.jobs.__name__)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["5", "trainguard.training.jobs"]
