"""The container contract pieces: job commands, /opt/ml paths, metric lines, model tarballs, env."""

from __future__ import annotations

import json
import os
import tarfile
from pathlib import Path

import pytest
from trainguard.pipelines.local.container import (
    MetricReader,
    container_path,
    job_command,
    tar_model,
    training_env,
    write_hyperparameters,
)
from trainguard.pipelines.local.errors import UnsupportedStepError
from trainguard.training.jobs import METRIC_DEFINITIONS, format_metric

UNPACK = 'set -e; tar -xzf code.tar.gz; exec python3 -m trainguard.training.jobs "$@"'


@pytest.mark.parametrize(("entry", "args", "expected"), [
    (["python3", "-m", "trainguard.training.jobs", "preprocess"], ["--target", "y"], ("preprocess", ["--target", "y"])),
    (["python3", "-m", "trainguard.training.jobs"], ["evaluate"], ("evaluate", [])),
    (["/bin/sh", "-c", UNPACK, "trainguard.training.jobs", "evaluate"], ["--min-auc", "0.7"],
     ("evaluate", ["--min-auc", "0.7"])),
    (["python3", "/opt/ml/code/entry.py", "train"], [], ("train", [])),
])
def test_job_command_finds_our_entry_point(entry: list[str], args: list[str], expected: tuple) -> None:
    assert job_command("S", entry, args) == expected


@pytest.mark.parametrize("entry", [
    ["python3", "/opt/ml/code/other.py", "preprocess"],
    ["python3", "-m", "trainguard.training.jobs", "deploy"],
    ["/bin/sh", "-c", "python3 -m trainguard.training.jobs", "x", "train"],  # no "$@": the kind is not passed on
    [],
])
def test_anything_else_is_unsupported_and_names_the_step(entry: list[str]) -> None:
    with pytest.raises(UnsupportedStepError, match=r"step Evaluate runs .*not one of trainguard's entry points"):
        job_command("Evaluate", entry, [])


def test_container_paths_stay_under_the_job_folder(tmp_path: Path) -> None:
    assert container_path(tmp_path, "/opt/ml/processing/input/data") == tmp_path / "processing/input/data"
    with pytest.raises(UnsupportedStepError, match="outside /opt/ml"):
        container_path(tmp_path, "/etc/data")


def test_metric_reader_applies_the_definitions_and_keeps_the_last_value() -> None:
    seen: list[tuple[str, float, int]] = []
    reader = MetricReader(METRIC_DEFINITIONS, listener=lambda *a: seen.append(a))
    for line in (format_metric("cv:auc", 0.8), "noise", format_metric("cv:auc", 0.85),
                 format_metric("train:auc", 0.99), "trainguard-metric cv:auc=oops"):
        reader.feed(line)
    assert reader.series["cv:auc"] == [0.8, 0.85]
    assert reader.final() == {"cv:auc": 0.85, "train:auc": 0.99}
    assert seen[-1] == ("train:auc", 0.99, 1)


def test_model_tarball_has_files_at_its_root_and_hyperparameters_are_strings(tmp_path: Path, monkeypatch) -> None:
    model = tmp_path / "model"
    (model / "sub").mkdir(parents=True)
    (model / "model.json").write_text("{}")
    (model / "sub" / "x.txt").write_text("x")
    tar_model(model, tmp_path / "out" / "model.tar.gz")
    with tarfile.open(tmp_path / "out" / "model.tar.gz") as tar:
        assert sorted(tar.getnames()) == ["model.json", "sub/x.txt"]
        assert tar.extractfile("sub/x.txt").read() == (model / "sub" / "x.txt").read_bytes()
    # same files, other times: the same bytes, so a rerun's Evaluate hits the cache
    for p in model.rglob("*"):
        os.utime(p, (1_000_000, 1_000_000))
    monkeypatch.setattr("time.time", lambda: 2_000_000_000.0)  # "later", for any header time
    tar_model(model, tmp_path / "again.tar.gz")
    assert (tmp_path / "again.tar.gz").read_bytes() == (tmp_path / "out" / "model.tar.gz").read_bytes()
    path = write_hyperparameters(tmp_path, {"folds": 2, "eta": 0.1, "target": "y"})
    assert json.loads(path.read_text()) == {"folds": "2", "eta": "0.1", "target": "y"}
    env = training_env(tmp_path, {"train": tmp_path / "input/data/train"}, {"folds": "2"}, "job-1")
    assert env["SM_CHANNEL_TRAIN"] == str(tmp_path / "input/data/train")
    assert env["SM_MODEL_DIR"] == str(tmp_path / "model") and env["TRAINGUARD_OPT_ML"] == str(tmp_path)
    assert json.loads(env["SM_CHANNELS"]) == ["train"] and json.loads(env["SM_HPS"]) == {"folds": "2"}
