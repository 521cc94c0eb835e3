"""Create (once) the Python 3.10 venvs that stand in for the XGBoost 3.0-5 image's runtime.

``image``: CPython 3.10 with the image's pinned libraries (requirements.txt) and sagemaker-containers
patched for 3.10 as the image's Dockerfile patches it (``collections.Mapping``). ``bare``: CPython
3.10 with pip alone (no setuptools, no wheel), the least an image can have, to prove script mode's
``pip install .`` needs nothing more. Both live under ``.venv/`` and are rebuilt only when
requirements.txt or this file changes. Usage: ``python tests/image_runtime/setup_env.py``.
"""

from __future__ import annotations

import glob
import hashlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
VENVS = ROOT / ".venv"
IMAGE = VENVS / "image-py310"
BARE = VENVS / "bare-py310"


class SetupError(Exception):
    """The image runtime cannot be created here; the message says why and what to do."""


def find_python310() -> str:
    """A CPython 3.10: $TRAINGUARD_PY310, python3.10 on PATH, or a pyenv 3.10."""
    candidates = [os.environ.get("TRAINGUARD_PY310") or "", shutil.which("python3.10") or ""]
    pyenv_root = os.environ.get("PYENV_ROOT") or str(Path.home() / ".pyenv")
    candidates += sorted(glob.glob(f"{pyenv_root}/versions/3.10*/bin/python3.10"), reverse=True)
    for c in candidates:
        if c and Path(c).is_file() and _is_310(c):
            return c
    raise SetupError("the image runtime tier needs CPython 3.10 (the XGBoost 3.0-5 image's): "
                     "install it (pyenv install 3.10, or actions/setup-python) or set TRAINGUARD_PY310.")


def _is_310(python: str) -> bool:
    """True when ``python`` runs and is 3.10 (a pyenv shim may exist yet not resolve)."""
    done = subprocess.run([python, "-c", "import sys; print(sys.version_info[:2] == (3, 10))"],
                          capture_output=True, text=True, check=False)
    return done.returncode == 0 and done.stdout.strip() == "True"


def _stamp() -> str:
    digest = hashlib.sha256()
    for path in (HERE / "requirements.txt", Path(__file__).resolve()):
        digest.update(path.read_bytes())
    return digest.hexdigest()


def _run(cmd: list[str]) -> None:
    done = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if done.returncode:
        tail = "\n".join((done.stdout + done.stderr).strip().splitlines()[-15:])
        raise SetupError(f"{' '.join(cmd[:4])} ... failed:\n{tail}")


def _fresh_venv(path: Path, python: str) -> Path:
    shutil.rmtree(path, ignore_errors=True)
    _run([python, "-m", "venv", str(path)])
    return path / "bin" / "python"


def ensure(quiet: bool = True) -> tuple[Path, Path]:
    """The (image, bare) venvs' pythons, created if missing or out of date."""
    stamp = _stamp()
    pythons = (IMAGE / "bin" / "python", BARE / "bin" / "python")
    if all((p.parent.parent / ".trainguard-stamp").is_file()
           and (p.parent.parent / ".trainguard-stamp").read_text() == stamp for p in pythons):
        return pythons
    python = find_python310()
    pip = ["-m", "pip", "install", "--disable-pip-version-check", "--quiet"]
    image = _fresh_venv(IMAGE, python)
    _run([str(image), *pip, "pip==25.2"])
    _run([str(image), *pip, "-r", str(HERE / "requirements.txt")])
    # the image's own patch (docker/3.0-5/final/Dockerfile.cpu): sed collections.Mapping
    mapping = next(IMAGE.glob("lib/python3.10/site-packages/sagemaker_containers/_mapping.py"))
    mapping.write_text(mapping.read_text().replace("collections.Mapping", "collections.abc.Mapping"))
    _run([str(image), "-c", "import sagemaker_containers.cli.train, xgboost, sklearn, yaml"])
    bare = _fresh_venv(BARE, python)
    _run([str(bare), *pip, "pip==25.2"])
    _run([str(bare), "-m", "pip", "uninstall", "--yes", "--quiet", "setuptools", "wheel"])
    for p in pythons:
        (p.parent.parent / ".trainguard-stamp").write_text(stamp)
    if not quiet:
        print(f"image runtime venvs ready: {IMAGE}, {BARE}")
    return pythons


if __name__ == "__main__":
    try:
        ensure(quiet=False)
    except SetupError as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(2)
