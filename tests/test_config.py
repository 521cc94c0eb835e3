"""The typed config: defaults, YAML, dotted overrides, and messages that name the key."""

from __future__ import annotations

import pytest
from trainguard.training.config import Config, load_config, parse_override
from trainguard.training.errors import ConfigError


def test_defaults_need_nothing_and_round_trip_through_a_plain_dict() -> None:
    cfg = load_config()
    assert cfg == Config()
    assert cfg.cv.folds == 5 and cfg.seed == 7 and cfg.resampling.method == "smote"
    assert load_config(cfg.to_dict()) == cfg
    assert cfg.to_dict()["xgboost"]["lambda"] == cfg.xgboost.reg_lambda


def test_yaml_file_is_read_and_validated(tmp_path) -> None:
    path = tmp_path / "cfg.yaml"
    path.write_text("seed: 11\ncv:\n  folds: 3\nxgboost:\n  lambda: 2.5\n")
    cfg = load_config(path)
    assert (cfg.seed, cfg.cv.folds, cfg.xgboost.reg_lambda) == (11, 3, 2.5)


def test_empty_yaml_file_means_defaults(tmp_path) -> None:
    path = tmp_path / "empty.yaml"
    path.write_text("")
    assert load_config(path) == Config()


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"cv": {"folds": "five"}}, r"cv\.folds must be an integer; got 'five'"),
        ({"cvv": {}}, r"unknown config key 'cvv'.*Known keys: alarms, approval, aws, cost, cv"),
        ({"cv": {"k": 3}}, r"unknown config key 'cv\.k'. Known keys under cv: folds, shuffle"),
        ({"resampling": {"method": "smoteish"}}, r"resampling\.method must be one of 'smote'"),
        ({"cv": {"folds": 1}}, r"cv\.folds must be at least 2; got 1"),
        ({"tuning": {"max_jobs": True}}, r"tuning\.max_jobs must be an integer; got true"),
        ({"data": {"test_size": 1.5}}, r"data\.test_size must be in \(0, 1\); got 1\.5"),
        ({"tuning": {"ranges": {"eta": {"min": 0.0, "max": 1.0, "scaling": "Logarithmic"}}}},
         r"tuning\.ranges\.eta\.min must be positive for Logarithmic scaling"),
        ({"tuning": {"ranges": {"depth": {"type": "integer", "min": 1, "max": 3}}}},
         r"'depth' is not a tunable hyperparameter"),
        ({"approval": {"min_auc": 2}}, r"approval\.min_auc must be in \[0, 1\]; got 2"),
        ({"security": {"network_isolation": False}},
         r"security\.network_isolation turned off.*security\.allow_insecure=true"),
        ({"aws": {"role_arn": "trainguard-role"}}, r"aws\.role_arn must be a full IAM role ARN"),
    ],
)
def test_bad_values_are_rejected_with_the_key_named(data, message) -> None:
    with pytest.raises(ConfigError, match=message):
        load_config(data)


def test_insecure_build_needs_the_explicit_switch() -> None:
    cfg = load_config({"security": {"network_isolation": False, "allow_insecure": True}})
    assert cfg.security.network_isolation is False


def test_several_problems_are_reported_together() -> None:
    with pytest.raises(ConfigError, match=r"2 config problems:\n  - cv\.folds.*\n  - approval"):
        load_config({"cv": {"folds": 1}, "approval": {"max_overfit_gap": -1}})


def test_overrides_parse_values_like_the_command_line() -> None:
    cfg = load_config(overrides=dict(parse_override(s) for s in (
        "cv.folds=3", "xgboost.lambda=2", "tuning.enabled=false", "data.target=007",
        "security.tags.team=risk", "resampling.sampling_strategy=0.5")))
    assert cfg.cv.folds == 3
    assert cfg.xgboost.reg_lambda == 2.0
    assert cfg.tuning.enabled is False
    assert cfg.data.target == "007"  # string fields keep the text as typed
    assert cfg.security.tags == {"project": "trainguard", "team": "risk"}
    assert cfg.resampling.sampling_strategy == 0.5


def test_off_stays_a_word_on_the_command_line_and_in_yaml(tmp_path) -> None:
    assert load_config(overrides={"tuning.early_stopping": "off"}).tuning.early_stopping == "off"
    path = tmp_path / "cfg.yaml"
    path.write_text("tuning:\n  early_stopping: off\n")  # YAML 1.1 reads a bare off as false
    assert load_config(path).tuning.early_stopping == "off"
    with pytest.raises(ConfigError, match=r"tuning\.early_stopping must be one of 'auto', 'off'; got true"):
        load_config({"tuning": {"early_stopping": True}})


def test_optional_string_fields_keep_text_and_can_be_cleared() -> None:
    cfg = load_config(overrides=dict(parse_override(s) for s in ("data.positive_label=1", "aws.bucket=007")))
    assert (cfg.data.positive_label, cfg.aws.bucket) == ("1", "007")
    assert load_config(cfg, overrides={"aws.bucket": "null"}).aws.bucket is None


def test_replace_and_aliases() -> None:
    cfg = Config().replace(**{"xgboost.reg_lambda": 4, "xgboost.reg_alpha": 0.5})
    assert (cfg.xgboost.reg_lambda, cfg.xgboost.alpha) == (4.0, 0.5)


@pytest.mark.parametrize(
    ("text", "message"),
    [("cv.folds", r"has no '='; write it as dotted\.key=value"), ("=3", r"has an empty key")],
)
def test_malformed_override(text, message) -> None:
    with pytest.raises(ConfigError, match=message):
        parse_override(text)


def test_unknown_override_key_is_named() -> None:
    with pytest.raises(ConfigError, match=r"unknown config key 'cv\.fold'. Known keys under cv"):
        load_config(overrides={"cv.fold": 3})
    with pytest.raises(ConfigError, match=r"unknown config key 'nope\.x'"):
        load_config(overrides={"nope.x": 3})


def test_missing_or_invalid_yaml_file(tmp_path) -> None:
    with pytest.raises(ConfigError, match=r"does not exist; pass an existing YAML file"):
        load_config(tmp_path / "missing.yaml")
    with pytest.raises(ConfigError, match=r"is a directory; pass a YAML file"):
        load_config(tmp_path)
    bad = tmp_path / "bad.yaml"
    bad.write_text("cv: [1, 2\n")
    with pytest.raises(ConfigError, match=r"is not valid YAML"):
        load_config(bad)
    listy = tmp_path / "list.yaml"
    listy.write_text("- 1\n- 2\n")
    with pytest.raises(ConfigError, match=r"must hold a mapping of sections"):
        load_config(listy)
