"""The jobs held to the SageMaker XGBoost 3.0-5 image's own runtime, with the network cut off.

A Python 3.10 venv with the image's pinned libraries (tests/image_runtime/requirements.txt,
created once by tests/image_runtime/setup_env.py, which ``make test`` runs) executes, from the
pipeline definition itself:
- ``Preprocess`` and ``Evaluate`` through their ContainerEntrypoint shell and ContainerArguments
  (parameters resolved as the service resolves them);
- ``Train`` through sagemaker-containers 2.8.6.post2's real ``train`` entry (script mode: unpack the
  code channel, ``pip install .``, run ``entry.py``) with the definition's hyperparameters, input
  channels and environment. The image's own package (sagemaker_xgboost_container, not on the
  package index) only hands script mode to ``framework.modules.run_module``; ``_SCRIPT_MODE`` below
  encodes that one call.
- serving: the image's ``serve_utils.get_loaded_booster`` is not installable either; its documented
  rule is encoded in ``_SERVE``: every top-level file of the model directory is loaded as a
  booster (pickle, else ``Booster.load_model``), a text/csv row becomes a DMatrix, one score out.
``/opt/ml`` is mapped to a temporary folder (the jobs honour ``TRAINGUARD_OPT_ML``,
sagemaker-containers ``SAGEMAKER_BASE_DIR``). The network is cut with ``unshare -rn`` where the
kernel allows it, else by a socket guard loaded into every Python process.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tarfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from trainguard.pipelines.build import definition_json
from trainguard.pipelines.bundle import build_bundle
from trainguard.pipelines.local.container import tar_model
from trainguard.pipelines.local.expressions import Expressions
from trainguard.training.config import load_config
from trainguard.training.encoding import FeatureEncoding
from trainguard.training.jobs import CV_RECORD, MODEL_FILE

sys.path.insert(0, str(Path(__file__).resolve().parent))
from image_runtime.setup_env import ensure

CONFIG = {"data.target": "label", "data.id": "cust", "cv.folds": 2, "tuning.max_jobs": 1, "xgboost.num_round": 30,
          "xgboost.early_stopping_rounds": 5, "xgboost.nthread": 1, "seed": 3}
"""Small and fast: 2 folds, 1 trial, 30 rounds; a customer ID and a categorical plan column."""

_SCRIPT_MODE = '''\
import sys
import sagemaker_containers.beta.framework as framework


def main():
    env = framework.training_env()
    if env.user_entry_point is None:
        sys.exit("no sagemaker_program: the image would run its algorithm mode")
    framework.modules.run_module(env.module_dir, env.to_cmd_args(), env.to_env_vars(),
                                 env.module_name, capture_error=False)
    sys.exit(0)
'''
"""sagemaker_xgboost_container.training's script-mode branch (the image's SAGEMAKER_TRAINING_MODULE)."""

_SERVE = '''\
import json, os, pickle, sys
import numpy as np
import xgboost as xgb

model_dir, payload = sys.argv[1], sys.argv[2]
boosters = []
for name in sorted(os.listdir(model_dir)):
    path = os.path.join(model_dir, name)
    if not os.path.isfile(path):
        continue
    try:
        booster = pickle.load(open(path, "rb"))
    except Exception:
        booster = xgb.Booster()
        booster.load_model(path)
    booster.set_param("nthread", 1)
    boosters.append(name)
    row = np.array([[float(v) if v else np.nan for v in payload.strip().split(",")]])
    score = booster.predict(xgb.DMatrix(row), validate_features=False)
print(json.dumps({"loaded": boosters, "score": float(score[0])}))
'''
"""The image's serving rule: every top-level file of the model directory is a booster."""

_GUARD = '''\
import socket

def _refuse(*args, **kwargs):
    raise OSError("network is cut off in the image runtime tier")

socket.socket.connect = _refuse
socket.socket.connect_ex = _refuse
socket.create_connection = _refuse
socket.getaddrinfo = _refuse
'''


# --------------------------------------------------------------------------------------------
# the run


def _offline(tmp: Path) -> tuple[list[str], dict[str, str]]:
    """Command prefix and env that cut the network: unshare -rn if allowed, else a socket guard."""
    if shutil.which("unshare") and subprocess.run(["unshare", "-rn", "true"], capture_output=True,
                                                  check=False).returncode == 0:
        return ["unshare", "-rn"], {}
    guard = tmp / "guard"
    guard.mkdir(exist_ok=True)
    (guard / "sitecustomize.py").write_text(_GUARD)
    return [], {"PYTHONPATH": str(guard)}


class ImageRun:
    """One pass of Preprocess, Train and Evaluate on the image runtime, with what each left."""

    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.image_python, self.bare_python = ensure()
        self.prefix, self.offline_env = _offline(tmp)
        cfg = load_config(None, CONFIG)
        self.cfg = cfg
        self.definition = json.loads(definition_json(cfg))
        self.steps = {s["Name"]: s for s in _all_steps(self.definition["Steps"])}
        self.bundle = tmp / "sourcedir.tar.gz"
        self.bundle.write_bytes(build_bundle().data)
        self.logs: dict[str, str] = {}
        self.seconds: dict[str, float] = {}

    def env(self, extra: dict[str, str] | None = None) -> dict[str, str]:
        """A clean environment: the image's python first on PATH, no pip config of this machine."""
        env = {"PATH": f"{self.image_python.parent}:/usr/bin:/bin", "HOME": str(self.tmp),
               "LANG": "C.UTF-8", "PIP_CONFIG_FILE": os.devnull, "PYTHONDONTWRITEBYTECODE": "1"}
        env.update(extra or {})
        if "PYTHONPATH" in self.offline_env:
            env["PYTHONPATH"] = ":".join(p for p in (self.offline_env["PYTHONPATH"], env.get("PYTHONPATH")) if p)
        return env

    def run(self, name: str, cmd: list[str], env: dict[str, str], cwd: Path | None = None) -> int:
        start = time.perf_counter()
        done = subprocess.run([*self.prefix, *cmd], env=env, cwd=cwd, capture_output=True, text=True,
                              timeout=300, check=False)
        self.seconds[name] = time.perf_counter() - start
        self.logs[name] = done.stdout + done.stderr
        return done.returncode

    def processing(self, step: str, root: Path, inputs: dict[str, Path | list[Path]]) -> int:
        """Run a processing step's ContainerEntrypoint + ContainerArguments with /opt/ml at ``root``."""
        args = self.steps[step]["Arguments"]
        app = args["AppSpecification"]
        params = {p["Name"]: p["DefaultValue"] for p in self.definition["Parameters"]}
        argv = Expressions(params, {}).resolve(app["ContainerArguments"])
        assert all(isinstance(a, str) for a in argv), argv
        for local, source in inputs.items():
            dest = root / local.removeprefix("/opt/ml/")
            dest.mkdir(parents=True, exist_ok=True)
            for one in source if isinstance(source, list) else [source]:
                shutil.copy(one, dest / one.name)
        entry = [_at(root, part) for part in app["ContainerEntrypoint"]]
        env = self.env({**args.get("Environment", {}), "TRAINGUARD_OPT_ML": str(root)})
        return self.run(step, [*entry, *argv], env)

    def train(self, root: Path, train_split: Path) -> int:
        """The training job through sagemaker-containers' ``train`` entry, as the image runs it."""
        job = self.steps["Tune"]["Arguments"]["TrainingJobDefinition"]
        tuning = self.steps["Tune"]["Arguments"]["HyperParameterTuningJobConfig"]
        ranges = tuning["ParameterRanges"]
        hp = dict(job["StaticHyperParameters"])
        for r in ranges.get("ContinuousParameterRanges", []) + ranges.get("IntegerParameterRanges", []):
            hp[r["Name"]] = r["MinValue"]  # the tuner's pick, as a string
        for r in ranges.get("CategoricalParameterRanges", []):
            hp[r["Name"]] = r["Values"][0]
        hp["_tuning_objective_metric"] = tuning["HyperParameterTuningJobObjective"]["MetricName"]
        hp = {k: _at(root, v) for k, v in hp.items()}
        config = root / "input" / "config"
        config.mkdir(parents=True)
        (config / "hyperparameters.json").write_text(json.dumps(hp))
        channels = {c["ChannelName"]: c for c in job["InputDataConfig"]}
        (config / "inputdataconfig.json").write_text(json.dumps({
            name: {"ContentType": c.get("ContentType", "application/octet-stream"),
                   "TrainingInputMode": "File", "S3DistributionType": "FullyReplicated",
                   "RecordWrapperType": "None"} for name, c in channels.items()}))
        (config / "resourceconfig.json").write_text(json.dumps(
            {"current_host": "algo-1", "hosts": ["algo-1"], "network_interface_name": "eth0"}))
        assert set(channels) == {"train", "code"}
        # the train channel is the preprocess job's whole train output: the split and its columns.json
        sources = [("train", train_split), ("train", train_split.parent / "columns.json"), ("code", self.bundle)]
        for name, source in sources:
            (root / "input" / "data" / name).mkdir(parents=True, exist_ok=True)
            shutil.copy(source, root / "input" / "data" / name / source.name)
        shim = self.tmp / "shim"
        shim.mkdir(exist_ok=True)
        (shim / "image_script_mode.py").write_text(_SCRIPT_MODE)
        env = self.env({**job.get("Environment", {}), "SAGEMAKER_BASE_DIR": str(root),
                        "SAGEMAKER_TRAINING_MODULE": "image_script_mode:main",
                        "PYTHONPATH": str(shim), "TRAINGUARD_OPT_ML": str(root)})
        return self.run("Train", [str(self.image_python), "-m", "sagemaker_containers.cli.train"], env,
                        cwd=self.tmp)


def _at(root: Path, value: Any) -> Any:
    """``/opt/ml`` in a definition string, mapped to the job's temporary root."""
    return value.replace("/opt/ml", str(root)) if isinstance(value, str) else value


def _all_steps(steps: list[dict]) -> list[dict]:
    out = []
    for s in steps:
        out.append(s)
        args = s.get("Arguments", {})
        out += _all_steps(args.get("IfSteps", []) + args.get("ElseSteps", []))
    return out


PLANS = ("basic", "plus", "pro")


def _data(path: Path, n: int = 240, seed: int = 0) -> Path:
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 4))
    plan = rng.integers(0, 3, n)
    y = (rng.random(n) < 1 / (1 + np.exp(-(2.5 * X[:, 0] - 1.5 * X[:, 1] + 1.2 * (plan == 2) - 1.0)))).astype(int)
    lines = ["cust,f0,f1,f2,f3,plan,label"] + [f"C{i:04d}," + ",".join(f"{v:.5f}" for v in row) + f",{PLANS[p]},{t}"
                                              for i, (row, p, t) in enumerate(zip(X, plan, y, strict=True))]
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.fixture(scope="module")
def image_run(tmp_path_factory: pytest.TempPathFactory) -> ImageRun:
    tmp = tmp_path_factory.mktemp("image")
    run = ImageRun(tmp)
    data = _data(tmp / "data.csv")
    pre = tmp / "preprocess"
    run.pre_status = run.processing("Preprocess", pre, {
        "/opt/ml/processing/input/data": data, "/opt/ml/processing/input/code": run.bundle})
    assert run.pre_status == 0, run.logs["Preprocess"]
    train_root = tmp / "train"
    run.train_status = run.train(train_root, pre / "processing" / "train" / "train.parquet")
    assert run.train_status == 0, run.logs["Train"][-4000:]
    run.model_tar = tmp / "model.tar.gz"
    tar_model(train_root / "model", run.model_tar)  # what SageMaker uploads from SM_MODEL_DIR
    evaluate = tmp / "evaluate"
    run.eval_status = run.processing("Evaluate", evaluate, {
        "/opt/ml/processing/model": run.model_tar,
        "/opt/ml/processing/test": [pre / "processing" / "test" / "test.parquet",
                                    pre / "processing" / "test" / "columns.json"],
        "/opt/ml/processing/input/code": run.bundle})
    assert run.eval_status == 0, run.logs["Evaluate"]
    run.evaluation = json.loads((evaluate / "processing" / "evaluation" / "evaluation.json").read_text())
    run.predictions = evaluate / "processing" / "evaluation" / "predictions.csv"
    run.test_split = pre / "processing" / "test" / "test.parquet"
    return run


# --------------------------------------------------------------------------------------------
# tests


def test_the_network_is_really_cut_off(image_run: ImageRun) -> None:
    code = "import socket; socket.create_connection(('1.1.1.1', 443), timeout=3)"
    assert image_run.run("probe", [str(image_run.image_python), "-c", code], image_run.env()) != 0
    log = image_run.logs["probe"]
    assert "unreachable" in log or "cut off" in log, log


def test_runtime_is_the_images_python_and_pins(image_run: ImageRun) -> None:
    code = ("import sys, numpy, scipy, sklearn, xgboost, pandas, yaml, sagemaker_containers; "
            "print(sys.version_info[:2], numpy.__version__, scipy.__version__, sklearn.__version__, "
            "xgboost.__version__, pandas.__version__, yaml.__version__)")
    assert image_run.run("versions", [str(image_run.image_python), "-c", code], image_run.env()) == 0
    assert image_run.logs["versions"].split() == ["(3,", "10)", "2.1.0", "1.15.0", "1.5.2", "3.0.5",
                                                  "2.2.3", "6.0.1"]


def test_train_runs_through_script_mode_with_pip_install_offline(image_run: ImageRun) -> None:
    log = image_run.logs["Train"]
    assert "pip install" in log and "Successfully installed" in log
    assert "trainguard-metric cv:auc=" in log and "trainguard train: 2 folds" in log


def test_pip_install_of_the_bundle_works_offline_with_pip_alone(image_run: ImageRun) -> None:
    """Any image: pip and nothing else (no setuptools, no wheel), no index, no network, the
    training job's environment; script mode's ``pip install .`` of the unpacked bundle succeeds."""
    bare = image_run.bare_python
    assert image_run.run("bare-probe", [str(bare), "-c", "import setuptools"], image_run.env()) != 0
    code = image_run.tmp / "bare-code"
    code.mkdir()
    with tarfile.open(image_run.bundle) as tar:
        tar.extractall(code, filter="data")
    job = image_run.steps["Tune"]["Arguments"]["TrainingJobDefinition"]
    env = image_run.env(job.get("Environment", {}))
    status = image_run.run("bare-pip", [str(bare), "-m", "pip", "install", "."], env, cwd=code)
    assert status == 0, image_run.logs["bare-pip"]
    assert "Successfully installed trainguard_job" in image_run.logs["bare-pip"].replace("-", "_")


def test_model_archive_top_level_is_only_the_booster(image_run: ImageRun) -> None:
    with tarfile.open(image_run.model_tar) as tar:
        names = sorted(m.name for m in tar.getmembers() if m.isfile())
    assert [n for n in names if "/" not in n] == [MODEL_FILE]
    assert CV_RECORD in names


def test_evaluate_reads_the_archive_and_decides(image_run: ImageRun) -> None:
    ev = image_run.evaluation
    assert ev["cross_validation"]["folds"] == 2
    assert 0.5 < ev["binary_classification_metrics"]["auc"]["value"] <= 1.0
    assert ev["model"]["serving"]["feature_order"] == "f0 f1 f2 f3 plan"  # the ID is never a feature
    assert list(ev["model"]["encoding"]["categorical"]) == ["plan"]
    lines = image_run.predictions.read_text().splitlines()
    assert lines[0] == "cust,label,probability,prediction" and len(lines) == ev["model"]["n_test"] + 1
    assert all(line.startswith("C") for line in lines[1:])  # each holdout prediction with its customer
    thresholds = {c["name"]: c["threshold"] for c in ev["decision"]["checks"]}
    assert thresholds["min_auc"] == image_run.cfg.approval.min_auc  # the Float parameter arrived


def test_the_images_serving_rule_loads_the_model_and_scores_a_test_row(image_run: ImageRun) -> None:
    served = image_run.tmp / "served"
    with tarfile.open(image_run.model_tar) as tar:
        tar.extractall(served, filter="data")
    import pyarrow.parquet as pq

    first = pq.read_table(image_run.test_split).slice(0, 1).to_pylist()[0]
    plan = FeatureEncoding.from_dict(image_run.evaluation["model"]["encoding"]).columns[4]
    # text/csv as the serving contract says: features in order, the category as the model's code
    payload = ",".join([*(repr(first[f"f{i}"]) for i in range(4)), repr(float(plan.codes_of([first["plan"]])[0]))])
    out = _serve(image_run, served, payload, "serve")
    assert out["loaded"] == [MODEL_FILE]
    assert 0.0 <= out["score"] <= 1.0


def test_the_served_model_scores_unseen_and_missing_categories(image_run: ImageRun) -> None:
    """A plan launched after training (its code per the contract: ``other`` or an empty cell), a raw
    code the model never had, an empty cell: each scored by the image's serving rule, none refused."""
    served = image_run.tmp / "served-unseen"
    with tarfile.open(image_run.model_tar) as tar:
        tar.extractall(served, filter="data")
    plan = FeatureEncoding.from_dict(image_run.evaluation["model"]["encoding"]).columns[4]
    code = plan.codes_of(["enterprise"])[0]
    scores = {}
    for name, cell in (("unseen", "" if np.isnan(code) else repr(float(code))), ("raw", "99.0"), ("missing", "")):
        scores[name] = _serve(image_run, served, f"0.1,-0.2,0.3,0.0,{cell}", f"serve-{name}")["score"]
    assert all(0.0 < s < 1.0 for s in scores.values()), scores


def _serve(image_run: ImageRun, served: Path, payload: str, name: str) -> dict[str, Any]:
    (image_run.tmp / "serve.py").write_text(_SERVE)
    status = image_run.run(name, [str(image_run.image_python), str(image_run.tmp / "serve.py"),
                                  str(served), payload], image_run.env())
    assert status == 0, image_run.logs[name]
    return json.loads(image_run.logs[name].strip().splitlines()[-1])


def test_serving_rule_fails_on_a_report_beside_the_model(image_run: ImageRun) -> None:
    """The rule as encoded refuses what the image refuses: a JSON report at the top level."""
    served = image_run.tmp / "served-bad"
    with tarfile.open(image_run.model_tar) as tar:
        tar.extractall(served, filter="data")
    shutil.copy(served / CV_RECORD, served / "cv.json")
    (image_run.tmp / "serve.py").write_text(_SERVE)
    status = image_run.run("serve-bad", [str(image_run.image_python), str(image_run.tmp / "serve.py"),
                                         str(served), "0,0,0,0,0"], image_run.env())
    assert status != 0
