"""The container entry points run in-process in tmp folders: outputs, messages, metric lines, traps."""

from __future__ import annotations

import hashlib
import io
import json
import re
import tarfile
from pathlib import Path

import numpy as np
import pytest
from trainguard.training.config import load_config
from trainguard.training.data import Dataset, load_table, write_csv
from trainguard.training.errors import ConfigError, DataError
from trainguard.training.jobs import (
    CV_RECORD,
    METRIC_DEFINITIONS,
    METRIC_NAMES,
    METRIC_PATTERN,
    MODEL_FILE,
    JobStopped,
    config_from_hyperparameters,
    evaluate_arguments,
    hyperparameters_from_config,
    main,
    objective_metric_name,
    objective_type,
    preprocess_arguments,
    run_job,
)
from trainguard.training.tables import SPLIT_FILES, write_split
from trainguard.training.timing import PHASES, TIMING_PATTERN

SMALL = {"data.target": "label", "cv.folds": 3, "xgboost.num_round": 40,
         "xgboost.early_stopping_rounds": 8, "xgboost.nthread": 1, "tuning.max_jobs": 1}


def _signal_data(n: int = 400, seed: int = 0, missing: float = 0.03) -> Dataset:
    """Two informative features plus noise, ~15% positives, a share of cells missing."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 6))
    logit = 2.2 * X[:, 0] - 1.6 * X[:, 1] - 2.4
    y = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(np.int64)
    X[rng.random(X.shape) < missing] = np.nan
    return Dataset(X, y, [f"f{i}" for i in range(6)], "label", (0, 1), "signal")


class Container:
    """One job folder standing in for /opt/ml, with the env the jobs read."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.env = {"TRAINGUARD_OPT_ML": str(root), "SM_MODEL_DIR": str(root / "model"),
                    "SM_CHANNEL_TRAIN": str(root / "input" / "data" / "train"),
                    "SM_OUTPUT_DATA_DIR": str(root / "output" / "data")}

    def put_data(self, ds: Dataset) -> None:
        write_csv(ds, self.root / "processing" / "input" / "data" / "table.csv")

    def preprocess(self, cfg) -> None:
        run_job("preprocess", preprocess_arguments(cfg), self.env)

    def train(self, cfg, on_metric=None, argv=()) -> None:
        split = self.root / "processing" / "train" / SPLIT_FILES["train"]
        channel = self.root / "input" / "data" / "train"
        channel.mkdir(parents=True, exist_ok=True)
        for part in (split, split.parent / "columns.json"):  # the channel is the whole output prefix
            if part.is_file():
                (channel / part.name).write_bytes(part.read_bytes())
        config = self.root / "input" / "config"
        config.mkdir(parents=True, exist_ok=True)
        (config / "hyperparameters.json").write_text(json.dumps(hyperparameters_from_config(cfg)))
        run_job("train", list(argv), self.env, on_metric=on_metric)

    def evaluate(self, cfg, **values) -> dict:
        model_dir = self.root / "model"
        tarball = self.root / "processing" / "model" / "model.tar.gz"
        tarball.parent.mkdir(parents=True, exist_ok=True)
        with tarfile.open(tarball, "w:gz") as tar:
            for p in sorted(model_dir.iterdir()):
                tar.add(p, arcname=p.name)
        run_job("evaluate", [str(a) for a in evaluate_arguments(cfg, **values)], self.env)
        path = self.root / "processing" / "evaluation" / "evaluation.json"
        return json.loads(path.read_text())


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """preprocess + train once on the informative data set; shared by the evaluate tests.

    The data has missing values, so the resampler is random_over (SMOTE cannot interpolate them).
    """
    c = Container(tmp_path_factory.mktemp("opt_ml"))
    cfg = load_config(None, {**SMALL, "resampling.method": "random_over"})
    c.put_data(_signal_data())
    c.preprocess(cfg)
    out = io.StringIO()
    import contextlib

    with contextlib.redirect_stdout(out):
        c.train(cfg)
    return c, cfg, out.getvalue()


# --------------------------------------------------------------------------------------------
# shared names


def test_metric_definitions_cover_every_metric_and_the_objective():
    names = [d["Name"] for d in METRIC_DEFINITIONS]
    assert names == list(METRIC_NAMES)
    assert "cv:auc" in names and "cv:auc_std" in names and "train:auc" in names
    assert METRIC_DEFINITIONS[0]["Regex"] == r"trainguard-metric cv:auc=([-+0-9.eE]+)"
    cfg = load_config(None, {"tuning.objective": "log_loss"})
    assert objective_metric_name(cfg) in names
    assert (objective_type(cfg), objective_type(load_config())) == ("Minimize", "Maximize")
    # cv:auc's regex must not pick up cv:auc_std's line
    rx = re.compile(METRIC_DEFINITIONS[0]["Regex"])
    assert rx.search("trainguard-metric cv:auc_std=0.01") is None


def test_hyperparameters_round_trip_to_the_same_config():
    cfg = load_config(None, {**SMALL, "data.positive_label": "churn", "resampling.method": "random_over",
                             "resampling.sampling_strategy": 0.5, "xgboost.lambda": 2.5})
    hp = hyperparameters_from_config(cfg)
    assert all(isinstance(v, str) for v in hp.values())
    assert {"target", "seed", "folds", "resampler", "sampling_strategy", "k_neighbors", "num_round",
            "early_stopping_rounds", "validation_fraction", "objective_metric", "eta",
            "max_depth", "min_child_weight", "alpha", "lambda", "gamma", "subsample",
            "colsample_bytree"} <= set(hp)
    back = config_from_hyperparameters(hp)
    for section in ("data", "cv", "resampling"):
        assert getattr(back, section) == getattr(cfg, section)
    assert back.xgboost.reg_lambda == 2.5 and back.xgboost.num_round == 40
    assert back.seed == cfg.seed


def test_hyperparameters_accept_script_mode_quoting_and_ignore_sagemaker_entries():
    cfg = config_from_hyperparameters({"eta": '"0.2"', "max_depth": "5.0", "target": "y",
                                       "sagemaker_program": '"entry.py"',
                                       "_tuning_objective_metric": "cv:auc",
                                       "objective_metric": "cv:pr_auc"})
    assert (cfg.xgboost.eta, cfg.xgboost.max_depth, cfg.data.target) == (0.2, 5, "y")
    assert cfg.tuning.objective == "pr_auc"


def test_bad_hyperparameters_are_named():
    with pytest.raises(ConfigError, match=r"2 hyperparameter problems:\n  - unknown hyperparameter "
                                          r"'depth'.*\n  - hyperparameter folds must be an integer; "
                                          r"got 'three'"):
        config_from_hyperparameters({"depth": "3", "folds": "three"})
    with pytest.raises(ConfigError, match=r"xgboost.max_depth must be at least 1; got 0"):
        config_from_hyperparameters({"max_depth": "0"})


def test_job_arguments_carry_config_and_pass_pipeline_objects_through():
    cfg = load_config(None, {**SMALL, "data.test_size": 0.25})
    args = preprocess_arguments(cfg)
    assert args[args.index("--test-size") + 1] == "0.25"
    assert args[args.index("--folds") + 1] == "3"
    marker = object()
    ev = evaluate_arguments(cfg, min_auc=marker)
    assert ev[ev.index("--min-auc") + 1] is marker
    assert ev[ev.index("--champion-bar") + 1] == "0.0"
    assert ev[ev.index("--max-overfit-gap") + 1] == "0.1"
    with pytest.raises(ConfigError, match=r"unknown value\(s\) min_f1"):
        evaluate_arguments(cfg, min_f1=0.3)


# --------------------------------------------------------------------------------------------
# preprocess


def test_preprocess_writes_stratified_splits(trained):
    c, _cfg, _ = trained
    train = load_table(c.root / "processing" / "train" / SPLIT_FILES["train"], "label")
    test = load_table(c.root / "processing" / "test" / SPLIT_FILES["test"], "label")
    assert (train.n_rows, test.n_rows) == (320, 80)
    full = _signal_data()
    assert int(train.y.sum()) + int(test.y.sum()) == int(full.y.sum())
    assert abs(train.positive_rate - test.positive_rate) < 0.02
    assert np.isnan(train.X).any()  # missing values survive the round trip


def test_preprocess_bad_data_exits_2_with_message_and_writes_no_split(tmp_path, capsys):
    c = Container(tmp_path)
    data = tmp_path / "processing" / "input" / "data"
    data.mkdir(parents=True)
    (data / "t.csv").write_text("a,b,label\n1,x,0\n2,3\n4,5,1\n")
    code = main(["preprocess", *preprocess_arguments(load_config(None, SMALL))], c.env)
    assert code == 2
    err = capsys.readouterr().err
    assert "trainguard preprocess job: error:" in err
    assert "line 3 has 2" in err and "column 'b' has 1 non-numeric value(s)" in err
    assert "Traceback" not in err
    assert not (tmp_path / "processing" / "train").exists()
    assert not (tmp_path / "processing" / "test").exists()
    assert "DataError" in (tmp_path / "output" / "failure").read_text()


def test_preprocess_too_few_minority_rows_is_refused(tmp_path):
    c = Container(tmp_path)
    ds = _signal_data(300, missing=0.0)
    keep = np.concatenate([np.flatnonzero(ds.y == 0), np.flatnonzero(ds.y == 1)[:9]])
    c.put_data(ds.subset(keep))
    with pytest.raises(DataError, match=r"the minority class 1 has 9 rows.*needs at least 6"):
        c.preprocess(load_config(None, SMALL))
    assert not (tmp_path / "processing" / "train" / SPLIT_FILES["train"]).exists()


def test_usage_errors_exit_2_without_traceback(tmp_path, capsys):
    assert main(["deploy"], {}) == 2
    kinds = "{preprocess|train|evaluate|baseline|drift}"
    assert f"usage: python -m trainguard.training.jobs {kinds}" in capsys.readouterr().err
    assert main(["preprocess", "--test-size", "0.2"], {"TRAINGUARD_OPT_ML": str(tmp_path)}) == 2
    assert "the following arguments are required: --target" in capsys.readouterr().err


# --------------------------------------------------------------------------------------------
# train


def test_train_writes_model_and_cv_json_and_metric_lines_match_the_definitions(trained):
    c, _cfg, stdout = trained
    model_dir = c.root / "model"
    cv = json.loads((model_dir / CV_RECORD).read_text())
    assert cv["folds"] == 3 and len(cv["auc"]["per_fold"]) == 3
    assert cv["best_num_round"] >= 1 and cv["features"] == [f"f{i}" for i in range(6)]
    assert cv["hyperparameters"]["folds"] == "3"
    lines = [ln for ln in stdout.splitlines() if ln.startswith("trainguard-metric")]
    assert [ln for ln in lines if not METRIC_PATTERN.fullmatch(ln)] == []
    seen = {}
    for d in METRIC_DEFINITIONS:
        values = [float(m.group(1)) for ln in lines if (m := re.search(d["Regex"], ln))]
        assert values, f"no line for {d['Name']}"
        seen[d["Name"]] = values
    # a running mean after each fold, then the final value = the CV mean in cv.json
    assert len(seen["cv:auc"]) == 3 + 1
    assert seen["cv:auc"][-1] == pytest.approx(cv["auc"]["mean"], abs=1e-6)
    assert seen["cv:auc"][-1] == pytest.approx(seen["cv:auc"][-2], abs=1e-6)
    assert seen["cv:auc"][-1] > 0.75  # the signal is learnable


def test_model_dir_top_level_holds_only_boosters_as_the_image_serving_code_loads_it(trained):
    """The XGBoost image's serving code loads EVERY top-level file of the model directory as a
    booster (directories are skipped): one report beside model.json and the endpoint never starts."""
    import xgboost as xgb

    c, _cfg, _ = trained
    model_dir = c.root / "model"
    top_files = sorted(p.name for p in model_dir.iterdir() if p.is_file())
    assert top_files == [MODEL_FILE]
    for name in top_files:
        xgb.Booster().load_model(str(model_dir / name))
    assert (model_dir / CV_RECORD).is_file() and (model_dir / CV_RECORD).parent != model_dir


def test_the_train_job_prints_its_phases_and_they_add_up(trained):
    _c, _cfg, stdout = trained
    lines = [ln for ln in stdout.splitlines() if ln.startswith("trainguard-timing")]
    assert len(lines) == 1 and lines[0] == stdout.strip().splitlines()[-1]
    pairs = dict(w.split("=") for w in TIMING_PATTERN.search(lines[0])["pairs"].split())
    assert TIMING_PATTERN.search(lines[0])["job"] == "train"
    cpu_words = [f"cpu_{k}" for k in (*PHASES, "other", "total")]
    assert list(pairs) == [*PHASES, "other", "total", *cpu_words, "peak_mb", "peak_in"]
    seconds = {k: float(pairs[k]) for k in (*PHASES, "other")}
    assert seconds["parse"] > 0 and seconds["train"] > 0 and seconds["score"] > 0
    assert seconds["write"] == 0.0  # the train job writes no split
    assert abs(sum(seconds.values()) - float(pairs["total"])) < 0.01
    cpu = {k: float(pairs[k]) for k in cpu_words}
    assert cpu["cpu_train"] > 0
    assert abs(sum(cpu.values()) - 2 * cpu["cpu_total"]) < 0.01  # the phases add up to the total
    assert float(pairs["peak_mb"]) > 0 and pairs["peak_in"] in (*PHASES, "other", "before")


def test_on_metric_true_stops_the_job_before_any_model_is_written(tmp_path):
    c = Container(tmp_path)
    cfg = load_config(None, SMALL)
    c.put_data(_signal_data(missing=0.0))
    c.preprocess(cfg)
    calls = []

    def on_metric(name, value):
        calls.append(name)
        return name == "cv:auc"

    with pytest.raises(JobStopped, match=r"stopped on request after 1 of 3 folds") as info:
        c.train(cfg, on_metric=on_metric)
    assert calls[0] == "cv:auc"
    assert "cv:auc" in info.value.metrics and "cv:log_loss" in info.value.metrics
    assert not (tmp_path / "model" / "model.json").exists()


def test_train_flags_override_the_file_and_unknown_ones_fail(tmp_path, capsys):
    c = Container(tmp_path)
    cfg = load_config(None, SMALL)
    c.put_data(_signal_data(missing=0.0))
    c.preprocess(cfg)
    c.train(cfg, argv=["--max_depth", "2", "--sagemaker_program", "entry.py"])
    cv = json.loads((tmp_path / "model" / CV_RECORD).read_text())
    assert cv["hyperparameters"]["max_depth"] == "2"
    (tmp_path / "input" / "config" / "hyperparameters.json").write_text('{"depht": "3"}')
    assert main(["train"], c.env) == 2
    assert "unknown hyperparameter 'depht'" in capsys.readouterr().err


# --------------------------------------------------------------------------------------------
# evaluate


def test_evaluate_writes_the_documented_layout(trained):
    c, cfg, _ = trained
    report = c.evaluate(cfg)
    assert {"binary_classification_metrics", "cross_validation", "overfitting", "decision",
            "model"} <= set(report)
    bcm = report["binary_classification_metrics"]
    assert {"auc", "pr_auc", "precision", "recall", "f1", "accuracy", "log_loss"} <= set(bcm)
    assert set(bcm["auc"]) == {"value", "standard_deviation"}
    assert bcm["auc"]["value"] > 0.75
    decision = report["decision"]
    assert [ch["name"] for ch in decision["checks"]] == ["min_auc", "min_recall", "min_pr_auc",
                                                         "max_overfit_gap", "leakage"]
    screen = report["leakage_screen"]  # the preprocess job's screen of the train split, via columns.json
    assert [r["feature"] for r in screen["features"]] == [f"f{i}" for i in range(6)]
    assert screen["n_rows"] == 320 and screen["blocking"] == 0
    assert decision["approved"] == all(ch["passed"] for ch in decision["checks"])
    assert report["model"]["n_test"] == 80 and report["model"]["n_train"] == 320
    assert report["model"]["hyperparameters"]["max_depth"] == cfg.xgboost.max_depth
    assert report["model"]["hyperparameters"]["lambda"] == cfg.xgboost.reg_lambda
    features = [f"f{i}" for i in range(6)]
    assert report["model"]["features"] == features
    assert report["model"]["serving"] == {
        "content_type": "text/csv", "csv_header": False, "feature_count": 6,
        "feature_order": "f0 f1 f2 f3 f4 f5",
        "features_sha256": hashlib.sha256("\n".join(features).encode()).hexdigest()}
    assert report["overfitting"]["train_cv_gap"] == pytest.approx(
        report["cross_validation"]["train_cv_gap"])


def test_evaluate_champion_bar_and_floors_from_arguments(trained):
    c, cfg, _ = trained
    low = c.evaluate(cfg, min_auc=0.0, min_recall=0.0, min_pr_auc=0.0, max_overfit_gap=1.0)
    assert low["decision"]["approved"] is True
    high = c.evaluate(cfg, min_auc=0.0, min_recall=0.0, min_pr_auc=0.0, max_overfit_gap=1.0,
                      champion_bar=0.999)
    assert high["decision"]["approved"] is False
    assert high["decision"]["checks"][-1]["name"] == "champion"
    assert "below the champion bar 0.999" in high["decision"]["reasons"][0]


def test_evaluate_refuses_an_unsafe_model_archive(tmp_path):
    c = Container(tmp_path)
    tarball = tmp_path / "processing" / "model" / "model.tar.gz"
    tarball.parent.mkdir(parents=True)
    with tarfile.open(tarball, "w:gz") as tar:
        info = tarfile.TarInfo("../escape.json")
        info.size = 2
        tar.addfile(info, io.BytesIO(b"{}"))
    args = [str(a) for a in evaluate_arguments(load_config(None, SMALL))]
    with pytest.raises(DataError, match=r"holds unsafe entries \(\.\./escape\.json\)"):
        run_job("evaluate", args, c.env)
    assert not (tmp_path / "processing" / "escape.json").exists()
    tarball.unlink()
    with pytest.raises(DataError, match=r"expected one model.tar.gz under .* \(found: none\)"):
        run_job("evaluate", args, c.env)


# --------------------------------------------------------------------------------------------
# the traps, end to end through the jobs


def test_trap_noise_features_give_chance_cv_auc_and_are_rejected(tmp_path):
    rng = np.random.default_rng(11)
    n = 600
    X = rng.normal(size=(n, 8))
    y = (rng.random(n) < 0.08).astype(np.int64)
    c = Container(tmp_path)
    c.put_data(Dataset(X, y, [f"n{i}" for i in range(8)], "label", (0, 1), "noise"))
    cfg = load_config(None, SMALL)
    c.preprocess(cfg)
    c.train(cfg)
    report = c.evaluate(cfg)
    cv_auc = report["cross_validation"]["auc"]["mean"]
    assert abs(cv_auc - 0.5) <= 0.08, f"CV AUC {cv_auc} on pure noise: leakage?"
    assert report["decision"]["approved"] is False
    assert any("below the floor" in r for r in report["decision"]["reasons"])


def test_trap_deep_unregularized_model_trips_the_overfitting_gap(tmp_path):
    rng = np.random.default_rng(5)
    n = 300
    X = rng.normal(size=(n, 10))
    y = ((X[:, 0] + rng.normal(scale=2.0, size=n)) > 1.6).astype(np.int64)
    c = Container(tmp_path)
    c.put_data(Dataset(X, y, [f"x{i}" for i in range(10)], "label", (0, 1), "noisy"))
    cfg = load_config(None, {**SMALL, "xgboost.max_depth": 12, "xgboost.min_child_weight": 0.0,
                             "xgboost.alpha": 0.0, "xgboost.lambda": 0.0, "xgboost.eta": 0.3,
                             "xgboost.subsample": 1.0, "xgboost.colsample_bytree": 1.0,
                             "xgboost.num_round": 60, "xgboost.early_stopping_rounds": 60})
    c.preprocess(cfg)
    c.train(cfg)
    report = c.evaluate(cfg, min_auc=0.0, min_recall=0.0, min_pr_auc=0.0)
    gap = report["overfitting"]["train_cv_gap"]
    assert gap > 0.1
    check = next(ch for ch in report["decision"]["checks"] if ch["name"] == "max_overfit_gap")
    assert check["passed"] is False
    assert report["decision"]["approved"] is False
    assert report["decision"]["reasons"][0].startswith("train/CV AUC gap")


# --------------------------------------------------------------------------------------------
# python -m trainguard.training: the whole core in one process

FAST = ["--set", "tuning.enabled=false", "--set", "cv.folds=3", "--set", "xgboost.num_round=30",
        "--set", "xgboost.early_stopping_rounds=8", "--set", "xgboost.nthread=1"]


def test_core_main_on_the_embedded_data_approves_and_writes_evaluation(tmp_path, capsys):
    from trainguard.training.__main__ import main as core_main

    code = core_main([*FAST, "--out", str(tmp_path / "out")])
    out = capsys.readouterr().out
    assert code == 0, out
    assert "load_digits" in out and "1797 rows" in out and "PASSED the safeguards" in out
    assert "APPROVED" not in out.upper().replace("PENDINGMANUALAPPROVAL", "")
    report = json.loads((tmp_path / "out" / "evaluation.json").read_text())
    assert report["decision"]["approved"] is True
    assert report["model"]["n_test"] == 360


def test_core_main_rejection_exits_3_with_reasons(tmp_path, capsys):
    from trainguard.training.__main__ import main as core_main

    c = tmp_path / "d.csv"
    write_csv(_signal_data(missing=0.0), c)
    code = core_main([*FAST, "--data", str(c), "--target", "label", "--champion", "0.999",
                      "--out", str(tmp_path)])
    out = capsys.readouterr().out
    assert code == 3
    assert "REJECTED" in out
    assert "is below the champion bar 0.999 (champion at 0.999)" in out
    assert json.loads((tmp_path / "evaluation.json").read_text())["decision"]["approved"] is False


@pytest.mark.parametrize(("argv", "message"), [
    (["--data", "missing.csv"], r"the data file missing.csv does not exist"),
    (["--set", "cv.fold=3"], r"unknown config key 'cv.fold'"),
    (["--data", "s3://bucket/d.csv"], r"is remote; python -m trainguard.training reads local files only"),
    (["--frobnicate"], r"unrecognized arguments: --frobnicate"),
])
def test_core_main_bad_input_exits_2_with_one_message(tmp_path, capsys, argv, message):
    from trainguard.training.__main__ import main as core_main

    assert core_main([*argv, "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert re.search(message, err), err
    assert "Traceback" not in err
    assert not (tmp_path / "o").exists()


def test_missing_job_inputs_say_what_belongs_there(tmp_path, capsys):
    env = Container(tmp_path).env
    assert main(["train"], env) == 2
    assert ("the 'train' channel (SM_CHANNEL_TRAIN) is missing: nothing at "
            f"{tmp_path / 'input' / 'data' / 'train'}; the job expects the preprocess job's train "
            "split there") in capsys.readouterr().err
    assert main(["preprocess", "--target", "y"], env) == 2
    assert "the 'data' input is missing" in capsys.readouterr().err


def test_evaluate_refuses_links_in_the_archive_and_a_test_table_with_other_features(trained,
                                                                                    tmp_path):
    c, cfg, _ = trained
    other = Container(tmp_path)
    tarball = tmp_path / "processing" / "model" / "model.tar.gz"
    tarball.parent.mkdir(parents=True)
    with tarfile.open(tarball, "w:gz") as tar:
        link = tarfile.TarInfo("model.json")
        link.type, link.linkname = tarfile.SYMTYPE, "/etc/passwd"
        tar.addfile(link)
    args = [str(a) for a in evaluate_arguments(cfg)]
    with pytest.raises(DataError, match=r"holds unsafe entries \(model.json\): links"):
        run_job("evaluate", args, other.env)
    with tarfile.open(tarball, "w:gz") as tar:
        for p in sorted((c.root / "model").iterdir()):
            tar.add(p, arcname=p.name)
    renamed = _signal_data(50, missing=0.0)
    renamed = Dataset(renamed.X[:, ::-1], renamed.y, [f"f{i}" for i in range(6)][::-1], "label",
                      (0, 1), "reordered")
    write_split(renamed, tmp_path / "processing" / "test" / SPLIT_FILES["test"])
    with pytest.raises(DataError, match=r"feature columns differ from the model's \(the same "
                                        r"columns in another order\); evaluate the model"):
        run_job("evaluate", args, other.env)
    assert not (tmp_path / "processing" / "evaluation").exists()


def test_python_m_training_jobs_is_the_container_command(tmp_path):
    """The real command line: exit status and message from a separate interpreter."""
    import os
    import subprocess
    import sys

    data = tmp_path / "processing" / "input" / "data"
    data.mkdir(parents=True)
    (data / "t.csv").write_text("a,label\n1,0\n")
    env = {**os.environ, "TRAINGUARD_OPT_ML": str(tmp_path)}
    proc = subprocess.run([sys.executable, "-m", "trainguard.training.jobs", "preprocess", "--target", "label"],
                          env=env, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2
    assert "target column 'label' has 1 distinct value(s) (0)" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_trials_in_one_process_share_parse_and_folds_with_bit_identical_models(tmp_path,
                                                                                monkeypatch):
    """Two train jobs on the same split (the local tuning emulation) reuse the first one's parse
    and folds; each still writes its own model, byte for byte what a fresh process writes."""
    import contextlib

    from trainguard.training import cv, data

    monkeypatch.setattr(data, "_loaded", data.OrderedDict())
    monkeypatch.setattr(cv, "_plans", cv.OrderedDict())
    cfg = load_config(None, {**SMALL, "resampling.method": "random_over",
                             "xgboost.subsample": 0.8})
    first = Container(tmp_path / "a")
    first.put_data(_signal_data())
    first.preprocess(cfg)
    second = Container(tmp_path / "b")
    (second.root / "processing" / "train").mkdir(parents=True)
    for name in (SPLIT_FILES["train"], "columns.json"):  # the preprocess job's whole train output
        (second.root / "processing" / "train" / name).write_bytes(
            (first.root / "processing" / "train" / name).read_bytes())
    prepared = []
    real_prepare = cv.FoldPlan._prepare
    monkeypatch.setattr(cv.FoldPlan, "_prepare",
                        lambda self, i: prepared.append(i) or real_prepare(self, i))

    def outputs(c: Container) -> tuple[bytes, bytes]:
        with contextlib.redirect_stdout(io.StringIO()):
            c.train(cfg)
        model = c.root / "model"
        return (model / "model.json").read_bytes(), (model / CV_RECORD).read_bytes()

    a = outputs(first)
    b = outputs(second)
    assert prepared == [0, 1, 2]  # the second job built no fold
    assert len(data._loaded) == 1 and len(cv._plans) == 1
    data._loaded.clear()
    cv._plans.clear()
    fresh = outputs(second)
    assert a == b == fresh
