"""SageMaker's container contract emulated in-process: a per-job /opt/ml folder, env, metrics.

Each job gets its own folder standing in for ``/opt/ml`` (``TRAINGUARD_OPT_ML``), its own env
mapping (``os.environ`` is never touched), inputs copied in from the local store and outputs
uploaded after success only. Entry points run in this interpreter through a ``JobRunner``
(``trainguard.training.jobs.run_job`` by default), so numpy/sklearn/xgboost are imported once per run.
"""

from __future__ import annotations

import gzip
import json
import re
import tarfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from trainguard.pipelines.local.errors import DefinitionError, UnsupportedStepError
from trainguard.training.files import open_for_write, write_text
from trainguard.training.jobs import JOB_KINDS as TRAINING_JOB_KINDS

__all__ = [
    "JOB_KINDS",
    "JobRunner",
    "MetricReader",
    "container_path",
    "job_command",
    "tar_model",
    "training_env",
    "write_hyperparameters",
    "write_input_data_config",
]

JOB_KINDS = TRAINING_JOB_KINDS
"""Every kind of ``trainguard.training.jobs``: the local run emulates any of them."""
OPT_ML = "/opt/ml"

JobRunner = Callable[..., Any]
"""``run(kind, argv, env, on_metric=None)``: runs one entry point with the container contract."""


def container_path(root: Path, local_path: str) -> Path:
    """The job-folder path that stands for a container path under /opt/ml (never outside it)."""
    if not isinstance(local_path, str) or not local_path.startswith(OPT_ML + "/"):
        raise UnsupportedStepError(
            f"container path {local_path!r} is outside {OPT_ML}; the local run maps only /opt/ml paths.")
    return inside(root, local_path[len(OPT_ML) + 1:], f"container path {local_path!r}")


def inside(root: Path, relative: str, what: str) -> Path:
    """``root / relative``, or DefinitionError when it is absolute or its ``..`` climbs out of ``root``.

    Every path the local run derives from a definition goes through here, so no definition can
    make it read or write outside its work dir.
    """
    text = str(relative)
    parts = PurePosixPath(text).parts
    if not text or text.startswith("/") or "\\" in text or ".." in parts or "\0" in text:
        raise DefinitionError(f"{what} must be a relative path inside the job's folder, without '..' "
                              "or a leading '/'; fix it in the definition.")
    return root.joinpath(*parts)


def job_command(step: str, entrypoint: Sequence[Any], arguments: Sequence[Any]) -> tuple[str, list[str]]:
    """(kind, argv) of a job whose command runs ``trainguard.training.jobs`` (``-m`` or entry.py).

    Anything else is an UnsupportedStepError naming the step: the local run can only run our
    own entry points.
    """
    words = [str(w) for w in [*entrypoint, *arguments]]
    start = None
    for i, w in enumerate(words):
        if w == "-m" and i + 1 < len(words) and words[i + 1] == "trainguard.training.jobs":
            start = i + 2
            break
        if w.endswith(("training/jobs.py", "entry.py")):
            start = i + 1
            break
        # sh -c '<unpack the bundle>; python3 -m trainguard.training.jobs "$@"' <$0> <kind> [args]
        if (w == "-c" and i + 2 < len(words) and "-m trainguard.training.jobs" in words[i + 1]
                and '"$@"' in words[i + 1]):
            start = i + 3
            break
    if start is None or start >= len(words) or words[start] not in JOB_KINDS:
        raise UnsupportedStepError(
            f"step {step} runs {' '.join(words)!r}, not one of trainguard's entry points "
            f"('python -m trainguard.training.jobs {{{'|'.join(JOB_KINDS)}}}'); the local run cannot emulate it.")
    return words[start], words[start + 1:]


@dataclass
class MetricReader:
    """Applies MetricDefinitions regexes to job output lines; keeps every value seen, per metric."""

    definitions: Sequence[Mapping[str, str]]
    series: dict[str, list[float]] = field(default_factory=dict)
    listener: Callable[[str, float, int], None] | None = None
    """Called with (metric, value, count so far) for each value read."""

    def __post_init__(self) -> None:
        self._compiled = [(d["Name"], re.compile(d["Regex"])) for d in self.definitions]

    def feed(self, line: str) -> None:
        """Read one output line."""
        for name, rx in self._compiled:
            m = rx.search(line)
            if m:
                try:
                    value = float(m.group(1))
                except (IndexError, ValueError):
                    continue
                self.series.setdefault(name, []).append(value)
                if self.listener:
                    self.listener(name, value, len(self.series[name]))

    def final(self) -> dict[str, float]:
        """Last value of each metric, as SageMaker's FinalMetricDataList reports it."""
        return {k: v[-1] for k, v in self.series.items() if v}


def training_env(root: Path, channels: Mapping[str, Path], hyperparameters: Mapping[str, str],
                 job_name: str) -> dict[str, str]:
    """The env a training container gets (SM_MODEL_DIR, SM_CHANNEL_*, SM_HPS, ...), for ``root``."""
    env = {
        "TRAINGUARD_OPT_ML": str(root),
        "SM_MODEL_DIR": str(root / "model"),
        "SM_OUTPUT_DATA_DIR": str(root / "output" / "data"),
        "SM_INPUT_DIR": str(root / "input"),
        "SM_INPUT_CONFIG_DIR": str(root / "input" / "config"),
        "SM_CHANNELS": json.dumps(sorted(channels)),
        "SM_HPS": json.dumps(dict(hyperparameters)),
        "TRAINING_JOB_NAME": job_name,
    }
    for name, path in channels.items():
        env[f"SM_CHANNEL_{name.upper()}"] = str(path)
    return env


def tar_model(model_dir: Path, dest: Path) -> None:
    """Pack ``model_dir``'s files at the archive root, as SageMaker packs model.tar.gz.

    The bytes depend on the files' contents only (no times, owners or modes), so the same model
    gives the same tarball and the steps reading it hit the cache on a rerun.
    """
    dest.parent.mkdir(parents=True, exist_ok=True)
    with open_for_write(dest, "wb") as raw, gzip.GzipFile("", "wb", 1, raw, mtime=0) as gz, \
            tarfile.open(fileobj=gz, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for p in sorted(model_dir.rglob("*")):
            if p.is_file():
                info = tarfile.TarInfo(p.relative_to(model_dir).as_posix())
                info.size, info.mode = p.stat().st_size, 0o644
                with p.open("rb") as fh:
                    tar.addfile(info, fh)


def write_hyperparameters(root: Path, hyperparameters: Mapping[str, Any]) -> Path:
    """Write /opt/ml/input/config/hyperparameters.json with every value a string, as SageMaker does."""
    path = root / "input" / "config" / "hyperparameters.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    write_text(path, json.dumps({k: str(v) for k, v in hyperparameters.items()}, indent=1))
    return path


def write_input_data_config(root: Path, channels: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Write /opt/ml/input/config/inputdataconfig.json from a job's InputDataConfig, as SageMaker does.

    One entry per channel: its ContentType (when the definition sets one), TrainingInputMode,
    S3DistributionType and RecordWrapperType. Returns the mapping (also SM_INPUT_DATA_CONFIG).
    """
    config: dict[str, Any] = {}
    for ch in channels:
        s3 = (ch.get("DataSource") or {}).get("S3DataSource") or {}
        entry = {"TrainingInputMode": ch.get("InputMode") or "File",
                 "S3DistributionType": s3.get("S3DataDistributionType") or "FullyReplicated",
                 "RecordWrapperType": ch.get("RecordWrapperType") or "None"}
        if ch.get("ContentType"):
            entry["ContentType"] = ch["ContentType"]
        config[ch["ChannelName"]] = entry
    path = root / "input" / "config" / "inputdataconfig.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    write_text(path, json.dumps(config, indent=1, sort_keys=True))
    return config
