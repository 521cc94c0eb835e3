"""The code bundle must run on the XGBoost image's Python 3.10, though CI and dev run 3.11.

Checked statically on any interpreter (no skip): ``training/`` and ``entry.py`` parse as 3.10 and
use no name the standard library gained in 3.11; they import only the standard library, what the
image installs, and what the bundle ships; the bundled libraries admit Python 3.10 and parse as
3.10. Anything newer than 3.11 already fails CI's own 3.11 run, so 3.11's additions are the gap.
"""

from __future__ import annotations

import ast
import importlib.metadata
import importlib.util
import re
import sys
from pathlib import Path

import pytest
from packaging.specifiers import SpecifierSet
from trainguard.pipelines.bundle import BUILD_BACKEND_SOURCE, BUNDLED_PACKAGES, ENTRY_SOURCE

from trainguard import training

CONTAINER_PYTHON = (3, 10)
"""The Python of the sagemaker-xgboost 3.0-5 image (conda ``python=3.10``)."""

IMAGE_PACKAGES = frozenset({"numpy", "scipy", "sklearn", "joblib", "threadpoolctl", "xgboost",
                            "yaml", "pyarrow", "pandas"})
"""Third-party top-level modules the image installs (xgboost, numpy, pandas, pyarrow, PyYAML,
scikit-learn and its scipy/joblib/threadpoolctl). Anything else must be in the bundle."""

MODULES_ADDED_IN_311 = frozenset({"tomllib", "wsgiref.types"})

NAMES_ADDED_IN_311: dict[str, frozenset[str]] = {
    "asyncio": frozenset({"TaskGroup", "timeout", "timeout_at", "Timeout", "Runner", "Barrier",
                          "BrokenBarrierError"}),
    "contextlib": frozenset({"chdir"}),
    "datetime": frozenset({"UTC"}),
    "enum": frozenset({"StrEnum", "ReprEnum", "EnumCheck", "FlagBoundary", "verify", "member",
                       "nonmember", "global_enum", "property", "show_flag_values", "CONTINUOUS",
                       "NAMED_FLAGS", "UNIQUE", "STRICT", "CONFORM", "EJECT", "KEEP"}),
    "hashlib": frozenset({"file_digest"}),
    "inspect": frozenset({"getmembers_static", "ismethodwrapper"}),
    "locale": frozenset({"getencoding"}),
    "logging": frozenset({"getLevelNamesMapping"}),
    "math": frozenset({"cbrt", "exp2"}),
    "operator": frozenset({"call"}),
    "re": frozenset({"NOFLAG"}),
    "sys": frozenset({"exception"}),
    "typing": frozenset({"Self", "LiteralString", "Never", "assert_never", "assert_type",
                         "reveal_type", "Required", "NotRequired", "TypeVarTuple", "Unpack",
                         "dataclass_transform", "get_overloads", "clear_overloads"}),
}
"""Module attributes new in Python 3.11 ("What's New In Python 3.11"); a closed list."""

BUILTINS_ADDED_IN_311 = frozenset({"ExceptionGroup", "BaseExceptionGroup"})
METHODS_ADDED_IN_311 = frozenset({"add_note"})
# atomic groups and possessive quantifiers: "multiple repeat" / "unknown extension" before 3.11
_NEW_REGEX_SYNTAX = re.compile(r"\(\?>|(?<!\\)[*+?}]\+")
_RE_FUNCTIONS = frozenset({"compile", "match", "fullmatch", "search", "findall", "finditer",
                           "sub", "subn", "split"})


def container_problems(source: str, filename: str, *, local: frozenset[str] = frozenset()) -> list[str]:
    """What in ``source`` would fail on the container's Python 3.10 or its installed packages.

    ``local`` names the top-level packages the bundle ships (importable in the container).
    """
    try:
        tree = ast.parse(source, filename, feature_version=CONTAINER_PYTHON)
    except SyntaxError as exc:
        return [f"{filename}:{exc.lineno}: not Python 3.10 syntax: {exc.msg}"]
    found: list[str] = []
    aliases: dict[str, str] = {}  # local name -> stdlib module it refers to

    def flag(node: ast.AST, what: str) -> None:
        found.append(f"{filename}:{getattr(node, 'lineno', '?')}: {what}")

    def check_module(node: ast.AST, module: str) -> None:
        top = module.split(".")[0]
        if module in MODULES_ADDED_IN_311 or top in MODULES_ADDED_IN_311:
            flag(node, f"module {module} is new in Python 3.11")
        elif top not in sys.stdlib_module_names and top not in IMAGE_PACKAGES and top not in local:
            flag(node, f"{module} is neither in the XGBoost image nor in the code bundle")

    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for a in node.names:
                check_module(node, a.name)
                if a.name in NAMES_ADDED_IN_311:
                    aliases[a.asname or a.name] = a.name
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            check_module(node, node.module)
            for a in node.names:
                if a.name in NAMES_ADDED_IN_311.get(node.module, ()):
                    flag(node, f"{node.module}.{a.name} is new in Python 3.11")
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):
            module = aliases.get(node.value.id)
            if module and node.attr in NAMES_ADDED_IN_311[module]:
                flag(node, f"{module}.{node.attr} is new in Python 3.11")
        if isinstance(node, ast.Attribute) and node.attr in METHODS_ADDED_IN_311:
            flag(node, f".{node.attr}() is new in Python 3.11")
        elif isinstance(node, ast.Name) and node.id in BUILTINS_ADDED_IN_311:
            flag(node, f"builtin {node.id} is new in Python 3.11")
        elif (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
              and isinstance(node.func.value, ast.Name) and aliases.get(node.func.value.id) == "re"
              and node.func.attr in _RE_FUNCTIONS and node.args
              and isinstance(node.args[0], ast.Constant) and isinstance(node.args[0].value, str)
              and _NEW_REGEX_SYNTAX.search(node.args[0].value)):
            flag(node, "atomic groups / possessive quantifiers in a regex are new in Python 3.11")
    return found


def _training_files() -> list[Path]:
    root = Path(training.__file__).resolve().parent
    return sorted(p for p in root.rglob("*.py") if "__pycache__" not in p.parts)


# --------------------------------------------------------------------------------------------
# the shipped code


def test_training_package_and_entry_script_run_on_the_container_python():
    files = _training_files()
    assert len(files) >= 8, files  # the whole package is checked, not an empty glob
    local = frozenset(p.split(".")[0] for p in BUNDLED_PACKAGES)
    root = Path(training.__file__).resolve().parent
    problems = [p for f in files for p in container_problems(
        f.read_text(encoding="utf-8"), f"training/{f.relative_to(root).as_posix()}", local=local)]
    problems += container_problems(ENTRY_SOURCE, "entry.py", local=local)
    problems += container_problems(BUILD_BACKEND_SOURCE, "_trainguard_build.py")  # stdlib only
    assert problems == [], "\n".join(problems)


@pytest.mark.parametrize("package", [p for p in BUNDLED_PACKAGES if p != "trainguard.training"])
def test_bundled_libraries_admit_and_parse_as_python_3_10(package):
    dists = importlib.metadata.packages_distributions()[package]
    requires = importlib.metadata.metadata(dists[0])["Requires-Python"] or ""
    assert SpecifierSet(requires).contains("3.10.13"), (
        f"{dists[0]} requires Python {requires}: it cannot run in the XGBoost image (3.10); "
        "pin an older release for the bundle.")
    root = Path(importlib.util.find_spec(package).origin).parent
    errors = []
    for path in sorted(root.rglob("*.py")):
        try:
            ast.parse(path.read_text(encoding="utf-8"), str(path), feature_version=CONTAINER_PYTHON)
        except SyntaxError as exc:
            errors.append(f"{path}:{exc.lineno}: {exc.msg}")
    assert errors == []


_GUARDS = {"ImportError", "ModuleNotFoundError", "Exception"}


def eager_imports(tree: ast.Module) -> list[tuple[int, str]]:
    """(line, module) of every import a module runs when it is imported, unguarded.

    Imports inside functions run only when called, and those in a ``try`` that catches
    ImportError are optional by design; both are left out. Class bodies and ``if`` blocks run.
    """
    found: list[tuple[int, str]] = []

    def visit(body: list[ast.stmt]) -> None:
        for node in body:
            if isinstance(node, ast.Import):
                found.extend((node.lineno, a.name) for a in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                found.append((node.lineno, node.module))
            elif isinstance(node, ast.Try):
                caught = {ast.unparse(h.type) for h in node.handlers if h.type is not None}
                if not (caught & _GUARDS or any(h.type is None for h in node.handlers)):
                    visit(node.body)
                visit(node.orelse)
                visit(node.finalbody)
            elif isinstance(node, ast.If):
                visit(node.body)
                visit(node.orelse)
            elif isinstance(node, ast.ClassDef):
                visit(node.body)

    visit(tree.body)
    return found


@pytest.mark.parametrize("package", [p for p in BUNDLED_PACKAGES if p != "trainguard.training"])
def test_bundled_libraries_import_only_the_image_and_the_bundle(package):
    """What a bundled library imports when loaded must be in the image or in the bundle."""
    root = Path(importlib.util.find_spec(package).origin).parent
    allowed = set(sys.stdlib_module_names) | IMAGE_PACKAGES | set(BUNDLED_PACKAGES)
    problems, checked = [], 0
    for path in sorted(root.rglob("*.py")):
        rel = path.relative_to(root.parent).as_posix()
        if "/tests/" in rel:
            continue  # the library's own test suite: shipped, never imported
        tree = ast.parse(path.read_text(encoding="utf-8"), rel)
        checked += 1
        problems += [f"{rel}:{line}: imports {module}, which the image lacks"
                     for line, module in eager_imports(tree) if module.split(".")[0] not in allowed]
    assert checked >= 1 and problems == [], "\n".join(problems)


def test_eager_imports_skip_functions_and_guarded_imports_only():
    tree = ast.parse(
        "import numpy\n"
        "try:\n    import keras\nexcept ImportError:\n    keras = None\n"
        "try:\n    import polars\nfinally:\n    pass\n"
        "def f():\n    import pytest\n"
        "class C:\n    import pandas\n"
        "if True:\n    from tensorflow import keras\n")
    assert [m for _, m in eager_imports(tree)] == ["numpy", "polars", "pandas", "tensorflow"]


# --------------------------------------------------------------------------------------------
# the checker itself: it finds each kind of 3.11-only code and accepts 3.10 code


@pytest.mark.parametrize(("source", "message"), [
    ("try:\n    pass\nexcept* ValueError:\n    pass\n", "not Python 3.10 syntax"),
    ("import tomllib\n", "module tomllib is new"),
    ("from wsgiref.types import WSGIApplication\n", "module wsgiref.types is new"),
    ("from datetime import UTC\n", "datetime.UTC is new"),
    ("import datetime as dt\nNOW = dt.datetime.now(dt.UTC)\n", "datetime.UTC is new"),
    ("from typing import Self\n", "typing.Self is new"),
    ("import typing\nX: typing.Never\n", "typing.Never is new"),
    ("from enum import StrEnum\n", "enum.StrEnum is new"),
    ("import asyncio\nG = asyncio.TaskGroup()\n", "asyncio.TaskGroup is new"),
    ("import contextlib\nC = contextlib.chdir('.')\n", "contextlib.chdir is new"),
    ("import hashlib\nH = hashlib.file_digest\n", "hashlib.file_digest is new"),
    ("E = ExceptionGroup('x', [ValueError()])\n", "builtin ExceptionGroup is new"),
    ("try:\n    pass\nexcept ValueError as e:\n    e.add_note('n')\n", "add_note"),
    ("import re\nP = re.compile(r'(?>ab)c')\n", "atomic groups"),
    ("import re as regex\nP = regex.match('a++', 'aa')\n", "possessive"),
    ("import polars\n", "polars is neither in the XGBoost image nor in the code bundle"),
    ("from imblearn import FunctionSampler\n", "imblearn is neither in the XGBoost image"),
])
def test_checker_flags_code_the_container_cannot_run(source, message):
    problems = container_problems(source, "probe.py")
    assert len(problems) == 1 and message in problems[0], problems


def test_checker_accepts_python_3_10_code_and_bundled_imports():
    source = (
        "from __future__ import annotations\n"
        "import datetime, re, typing\n"
        "from typing import Any, Literal, ParamSpec, TypeAlias\n"
        "import numpy as np\nimport xgboost as xgb\nfrom sklearn.model_selection import KFold\n"
        "from imblearn.over_sampling import SMOTE\nfrom trainguard.training.errors import DataError\n"
        "from . import sibling\n"
        "NOW = datetime.datetime.now(datetime.timezone.utc)\n"
        "P = re.compile(r'trainguard-metric (?P<name>[a-z:]+)=([-+0-9.eE]+)')\n"
        "Q = re.compile(r'a\\++')\n"
        "def f(xs: list[int], ys: list[int]) -> int | None:\n"
        "    match xs:\n"
        "        case [first, *_]:\n"
        "            return first\n"
        "    return sum(a * b for a, b in zip(xs, ys, strict=True))\n"
    )
    assert container_problems(source, "probe.py", local=frozenset({"imblearn", "trainguard"})) == []
