"""The job's side of SageMaker's container contract: the /opt/ml folders, inputs, hyperparameters,
JSON files written atomically, the model archive, the failure file; and the splits' columns.json.
"""

from __future__ import annotations

import json
import tarfile
from collections.abc import Mapping, Sequence
from pathlib import Path, PurePosixPath
from typing import Any

from trainguard.training.config import Config, DataConfig
from trainguard.training.errors import ConfigError, DataError
from trainguard.training.files import write_text
from trainguard.training.job_contract import MODEL_FILE

__all__ = ["SCHEMA_FILE", "extract_model", "flag_pairs", "job_input", "json_arg", "opt_ml", "read_hyperparameters",
           "read_json", "read_schema", "refuse_several_hosts", "split_roles", "unused_columns", "write_failure",
           "write_json"]


def opt_ml(env: Mapping[str, str]) -> Path:
    """The /opt/ml root (``TRAINGUARD_OPT_ML`` when the job runs outside a container)."""
    return Path(env.get("TRAINGUARD_OPT_ML") or "/opt/ml")


def job_input(path: Path, what: str, expected: str) -> Path:
    """``path`` if the job's input was delivered there, else a DataError saying what belongs there."""
    if not path.exists():
        raise DataError(f"{what} is missing: nothing at {path}; the job expects {expected} there.")
    return path


SCHEMA_FILE = "columns.json"
"""Written by the preprocess job beside each split: the feature columns, which are categorical,
the roles, and the leakage screen of the training split."""


def json_arg(raw: str) -> Any:
    """A flag value as JSON when it parses, else the text itself."""
    try:
        return json.loads(raw)
    except ValueError:
        return raw


def read_schema(folder: Path) -> dict[str, Any] | None:
    """The preprocess job's columns.json beside a split (None for a split written without one)."""
    path = folder / SCHEMA_FILE if folder.is_dir() else folder.parent / SCHEMA_FILE
    if not path.is_file():
        return None
    data = read_json(path, f"the split's {SCHEMA_FILE}")
    if not isinstance(data, dict):
        raise DataError(f"{path} must hold a JSON object written by the preprocess job.")
    return data


def unused_columns(ds: Any, data: DataConfig) -> list[str]:
    """The input table's columns that are neither features, the target, the ID nor the time (as
    data.exclude or a data.features list left them): the monitor knows them, never as extra."""
    from trainguard.training.monitor.read import read_header

    keep = {*ds.feature_names, ds.target, data.id, data.timestamp}
    return [h for h in read_header(Path(ds.source)) if h not in keep]


def split_roles(cfg: Config, schema: Mapping[str, Any] | None, *, keys: bool = False) -> DataConfig | None:
    """Roles for reading a split the preprocess job wrote: its categorical columns, nothing inferred.

    The ID and time columns the split carries are never features: ``keys`` reads them into the
    Dataset (the evaluate job writes them beside each prediction), else they are left unread.
    """
    if schema is None:
        return None
    roles = {k: str(schema[k]) for k in ("id", "timestamp") if schema.get(k)}
    return DataConfig(target=cfg.data.target, categorical=[str(c) for c in schema.get("categorical", [])],
                      max_categories=10**9, **(roles if keys else {"exclude": list(roles.values())}))


def flag_pairs(argv: Sequence[str]) -> dict[str, str]:
    """``--name value`` pairs (script mode passes hyperparameters so); names keep underscores."""
    out: dict[str, str] = {}
    words = list(argv)
    if len(words) % 2 or any(not w.startswith("--") for w in words[::2]):
        raise ConfigError(f"trainguard train job: arguments must be --name value pairs; got "
                          f"{' '.join(words)!r}.")
    for flag, value in zip(words[::2], words[1::2], strict=True):
        out[flag[2:].replace("-", "_")] = value
    return out


def refuse_several_hosts(env: Mapping[str, str]) -> None:
    """A training job on more than one instance would run the whole CV on each: refuse it.

    The instance count is a pipeline parameter, so an execution can override what config and lint
    checked; the job reads its hosts from ``SM_HOSTS`` or resourceconfig.json.
    """
    from trainguard.training.instances import TRAINING_INSTANCE_COUNT_MESSAGE

    hosts: Any = None
    if env.get("SM_HOSTS"):
        try:
            hosts = json.loads(env["SM_HOSTS"])
        except ValueError:
            hosts = None
    else:
        path = opt_ml(env) / "input" / "config" / "resourceconfig.json"
        if path.is_file():
            hosts = (read_json(path, "resourceconfig.json") or {}).get("hosts")
    if isinstance(hosts, list) and len(hosts) > 1:
        raise ConfigError(f"this training job runs on {len(hosts)} instances: "
                          f"{TRAINING_INSTANCE_COUNT_MESSAGE} Start the execution with "
                          "TrainingInstanceCount=1.")


def read_hyperparameters(env: Mapping[str, str]) -> dict[str, str]:
    path = opt_ml(env) / "input" / "config" / "hyperparameters.json"
    if not path.is_file():
        return {}
    data = read_json(path, "hyperparameters.json")
    if not isinstance(data, dict):
        raise ConfigError(f"{path} must hold a JSON object of name: value strings.")
    return {str(k): str(v) for k, v in data.items()}


def read_json(path: Path, what: str) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise DataError(f"{what} is missing ({path.name} not found); the input must come from "
                        "trainguard's train job.") from None
    except ValueError as exc:
        raise DataError(f"{what} is not valid JSON: {exc}.") from None


def write_json(path: Path, data: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    write_text(path, json.dumps(data, indent=1, default=_json_default))


def _json_default(obj: Any) -> Any:
    if hasattr(obj, "tolist"):
        return obj.tolist()
    raise TypeError(f"{type(obj).__name__} is not JSON serializable")


def extract_model(folder: Path, dest: Path) -> Path:
    """Unpack the model archive into ``dest``, refusing links and paths leaving the folder."""
    if folder.is_file():
        archives = [folder]
    elif folder.is_dir():
        archives = sorted(folder.glob("*.tar.gz"))
        if not archives and (folder / MODEL_FILE).is_file():
            return folder
    else:
        archives = []
    if len(archives) != 1:
        found = ", ".join(a.name for a in archives) or "none"
        raise DataError(f"expected one model.tar.gz under {folder} (found: {found}); the evaluate "
                        "job's model input must be the training job's model artifact.")
    try:
        with tarfile.open(archives[0], "r:gz") as tar:
            members = tar.getmembers()
            bad = [m.name for m in members
                   if not (m.isfile() or m.isdir()) or PurePosixPath(m.name).is_absolute()
                   or ".." in PurePosixPath(m.name).parts]
            if bad:
                raise DataError(f"the model archive {archives[0].name} holds unsafe entries "
                                f"({', '.join(bad[:5])}): links, absolute paths or '..' are "
                                "refused; rebuild it from the training job's model directory.")
            if hasattr(tarfile, "data_filter"):  # Python >= 3.11.4 (and security backports)
                tar.extractall(dest, members=members, filter="data")
            else:  # pragma: no cover - older images; members were checked above
                tar.extractall(dest, members=members)
    except (tarfile.TarError, OSError, EOFError) as exc:
        raise DataError(f"the model archive {archives[0].name} cannot be read: {exc}.") from None
    return dest


def write_failure(env: Mapping[str, str], message: str) -> None:
    """SageMaker shows /opt/ml/output/failure as the job's FailureReason; best effort."""
    try:
        path = opt_ml(env) / "output" / "failure"
        path.parent.mkdir(parents=True, exist_ok=True)
        write_text(path, message[:1000])
    except OSError:
        pass
