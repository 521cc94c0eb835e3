"""Config files and values a careless hand or script writes: clear errors, never a traceback or a
silently chosen value."""

from __future__ import annotations

from pathlib import Path

import pytest
from trainguard.pipelines.cli import main
from trainguard.steps.limits import MAX_PARALLEL_TUNING_JOBS, MAX_TUNING_JOBS, service_limit_problems
from trainguard.training.config import load_config
from trainguard.training.errors import ConfigError


@pytest.mark.parametrize("raw", [b"cv:\n  folds: 3\nseed: \xff\xfe\n", "seed: 7\n".encode("utf-16"),
                                 b"cv:\n  folds: \xe9\n"])
def test_non_utf8_config_bytes_are_a_clear_error(tmp_path: Path, raw: bytes,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "c.yaml"
    path.write_bytes(raw)
    with pytest.raises(ConfigError, match=r"is not UTF-8 text \(byte 0x[0-9a-f]{2} on line \d\)"):
        load_config(path)
    assert main(["definition", "--config", str(path)]) == 2
    err = capsys.readouterr().err
    assert "not UTF-8" in err and "Traceback" not in err


@pytest.mark.parametrize(("text", "key", "lines"), [
    ("seed: 1\ncv:\n  folds: 3\nseed: 2\n", "'seed'", (1, 4)),
    ("cv:\n  folds: 3\n  folds: 5\n", "'folds'", (2, 3)),
    ("cv: {folds: 3, folds: 4}\n", "'folds'", (1, 1)),
])
def test_a_duplicate_yaml_key_names_the_key_and_both_lines(tmp_path: Path, text: str, key: str,
                                                           lines: tuple[int, int]) -> None:
    path = tmp_path / "c.yaml"
    path.write_text(text)
    if lines[0] == lines[1]:  # same line: the message still names the key
        with pytest.raises(ConfigError, match=f"key {key} is given twice"):
            load_config(path)
        return
    with pytest.raises(ConfigError, match=f"key {key} is given twice in one section, on line {lines[0]} "
                                          f"and line {lines[1]}"):
        load_config(path)


def test_the_same_key_in_two_sections_is_fine(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text("tuning:\n  max_jobs: 4\ncv:\n  folds: 3\n")
    assert load_config(path).cv.folds == 3


def test_tuning_sizes_are_capped_at_the_service_limits() -> None:
    assert service_limit_problems(load_config(None, {"tuning.max_jobs": MAX_TUNING_JOBS})) == []
    for key, value, limit in (("tuning.max_jobs", 10**20, MAX_TUNING_JOBS),
                              ("tuning.max_jobs", MAX_TUNING_JOBS + 1, MAX_TUNING_JOBS),
                              ("tuning.max_parallel_jobs", MAX_PARALLEL_TUNING_JOBS + 1, MAX_PARALLEL_TUNING_JOBS)):
        [problem] = service_limit_problems(load_config(None, {key: value}))
        assert key in problem and f"at most {limit}" in problem


def test_definition_refuses_an_uncapped_max_jobs(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["definition", "--set", "tuning.max_jobs=100000000000000000000"]) == 2
    assert "tuning.max_jobs is 100000000000000000000, above SageMaker's limit" in capsys.readouterr().err
