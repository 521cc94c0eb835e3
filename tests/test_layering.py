"""Imports flow one way, pipelines → steps → training, and training never touches the AWS SDKs.

training/ runs inside the SageMaker containers and locally unchanged, so it may not import
sagemaker, boto3 or botocore, nor the layers above it; steps/ may not import pipelines/.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
FORBIDDEN = {
    "training": {"sagemaker", "boto3", "botocore", "pipelines", "steps"},
    "steps": {"pipelines"},
}


def imported_tops(path: Path) -> set[str]:
    """Top-level names of every module ``path`` imports, at any depth of the file."""
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    tops: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            tops.update(a.name.split(".")[0] for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            tops.add(node.module.split(".")[0])
    return tops


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_no_import_against_the_flow(package: str) -> None:
    files = sorted((ROOT / package).rglob("*.py"))
    assert files, f"no Python files under {package}/"
    offending = {f"{f.relative_to(ROOT)} imports {top}"
                 for f in files for top in imported_tops(f) & FORBIDDEN[package]}
    assert not offending, "\n".join(sorted(offending))


def test_the_scanner_sees_imports_inside_functions(tmp_path: Path) -> None:
    sample = tmp_path / "sample.py"
    sample.write_text("def f():\n    import boto3.session\n    from sagemaker.core import x\n")
    assert imported_tops(sample) == {"boto3", "sagemaker"}


def test_running_the_training_core_loads_no_aws_sdk() -> None:
    code = ("import sys, training.jobs, training.core, training.__main__; "
            "print(sorted(m for m in ('sagemaker', 'boto3', 'botocore') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
