"""The cost estimate, the start guard, the cost caps lint applies and the price table refresh."""

from __future__ import annotations

import argparse
import copy
import io
import json
from pathlib import Path
from typing import Any

import pytest
from trainguard.pipelines.cli import cost as cost_cmd
from trainguard.pipelines.cli import main
from trainguard.pipelines.definition import DefinitionError
from trainguard.pipelines.local.progress import Progress
from trainguard.pipelines.ops import cost as cost_mod
from trainguard.pipelines.ops import prices as prices_mod
from trainguard.pipelines.ops.cost import (
    CostLimitExceeded,
    UnknownPrice,
    check_execution_cost,
    cost_findings,
    estimate,
    infer_region,
    load_price_table,
    price_table_from_price_list,
)
from trainguard.pipelines.ops.refresh_prices import main as refresh_main
from trainguard.training.config import CostConfig, load_config
from trainguard.training.errors import ConfigError

GOLDEN = Path(__file__).parent / "golden" / "definition.json"
M5 = load_price_table().price("us-east-1", "Training", "ml.m5.xlarge")


@pytest.fixture
def definition() -> dict[str, Any]:
    return json.loads(GOLDEN.read_text(encoding="utf-8"))


def step(definition: dict[str, Any], name: str) -> dict[str, Any]:
    return next(s for s in definition["Steps"] if s["Name"] == name)


def tuning_job(definition: dict[str, Any]) -> dict[str, Any]:
    return step(definition, "Tune")["Arguments"]["TrainingJobDefinition"]


# --------------------------------------------------------------------------------------------
# the estimate


def test_golden_definition_is_priced_job_by_job(definition: dict[str, Any]) -> None:
    est = estimate(definition)
    assert est.region == "us-east-1"  # read from the image URI and the KMS key ARN
    by_step = {j.step: j for j in est.jobs}
    assert set(by_step) == {"Preprocess", "Tune", "Evaluate", "Baseline"}
    assert by_step["Preprocess"].worst_usd == pytest.approx(M5)  # 1 instance x 1 hour
    assert by_step["Baseline"].worst_usd == pytest.approx(M5)
    tune = by_step["Tune"]
    assert (tune.jobs, tune.parallel, tune.instance_hours) == (8, 2, 8.0)
    assert tune.worst_usd == pytest.approx(8 * M5)
    assert est.worst_usd == pytest.approx(11 * M5)
    assert est.expected_usd == pytest.approx(11 * M5 * CostConfig().expected_runtime_fraction)
    assert not est.unknown and est.to_dict()["complete"] is True


def test_params_override_defaults_as_at_a_start(definition: dict[str, Any]) -> None:
    c5 = load_price_table().price("us-east-1", "Training", "ml.c5.xlarge")
    est = estimate(definition, params={"TrainingInstanceType": "ml.c5.xlarge",
                                       "TrainingInstanceCount": "2"})
    tune = next(j for j in est.jobs if j.step == "Tune")
    assert (tune.instance_type, tune.instance_count) == ("ml.c5.xlarge", 2)
    assert tune.worst_usd == pytest.approx(c5 * 2 * 8)
    assert est.parameters["TrainingInstanceCount"] == 2


def test_an_unknown_param_or_a_non_number_is_refused(definition: dict[str, Any]) -> None:
    with pytest.raises(ConfigError, match="'TrainingInstanceTyp' is not a parameter"):
        estimate(definition, params={"TrainingInstanceTyp": "ml.m5.large"})
    with pytest.raises(ConfigError, match=r"TrainingInstanceCount='two'.*Integer"):
        estimate(definition, params={"TrainingInstanceCount": "two"})


def test_the_tuning_jobs_own_runtime_limit_bounds_its_trials(definition: dict[str, Any]) -> None:
    limits = step(definition, "Tune")["Arguments"]["HyperParameterTuningJobConfig"]["ResourceLimits"]
    limits["MaxRuntimeInSeconds"] = 3600  # 2 parallel trials for one hour at most
    tune = next(j for j in estimate(definition).jobs if j.step == "Tune")
    assert tune.worst_usd == pytest.approx(2 * M5)


def test_an_instance_type_the_table_lacks_is_an_unknown_price_not_a_guess(
        definition: dict[str, Any]) -> None:
    est = estimate(definition, params={"TrainingInstanceType": "ml.x9.huge"})
    (unknown,) = est.unknown
    assert unknown.step == "Tune" and unknown.worst_usd is None
    assert "unknown price: ml.x9.huge" in unknown.note
    assert est.worst_usd == pytest.approx(3 * M5)  # the priced jobs only, and said so
    assert "incomplete: 1 job(s) not priced" in cost_mod.format_estimate(est)


def test_a_region_the_table_lacks_prices_nothing_and_says_how_to_add_it(definition: dict[str, Any]) -> None:
    est = estimate(definition, region="ap-southeast-3")
    assert len(est.unknown) == 4 and est.worst_usd == 0
    note = est.unknown[0].note
    assert "unknown price: ml.m5.xlarge (processing) in ap-southeast-3 is not in the price table" in note
    assert "only us-east-1, us-east-2, us-west-2" in note and "--fetch ap-southeast-3" in note
    # a region the table has, lacking only the type, does not claim the region is missing
    assert "no prices for" not in estimate(definition, params={"TrainingInstanceType": "ml.x9.huge"}).unknown[0].note


def test_missing_runtime_is_unbounded_for_processing_and_a_day_for_training(
        definition: dict[str, Any]) -> None:
    del step(definition, "Preprocess")["Arguments"]["StoppingCondition"]
    del tuning_job(definition)["StoppingCondition"]
    by_step = {j.step: j for j in estimate(definition).jobs}
    assert by_step["Preprocess"].worst_usd is None and "unbounded" in by_step["Preprocess"].note
    assert by_step["Tune"].max_runtime_seconds == 86400 and "1 day" in by_step["Tune"].note


def test_spot_trials_keep_the_worst_case_and_lower_the_expected_figure(
        definition: dict[str, Any]) -> None:
    on_demand = estimate(definition)
    job = tuning_job(definition)
    job["EnableManagedSpotTraining"] = True
    spot = estimate(definition, cost=CostConfig(spot_expected_saving=0.6))
    assert spot.worst_usd == pytest.approx(on_demand.worst_usd)
    tune = next(j for j in spot.jobs if j.step == "Tune")
    assert tune.spot and tune.expected_usd == pytest.approx(8 * M5 * 0.25 * 0.4)
    assert spot.spot_saving_usd == pytest.approx(8 * M5 * 0.25 * 0.6)
    assert "spot saves about" in cost_mod.format_estimate(spot)


def test_step_retry_policies_multiply_the_worst_case_not_the_expected_figure(
        definition: dict[str, Any]) -> None:
    before = estimate(definition)
    step(definition, "Preprocess")["RetryPolicies"] = [
        {"ExceptionType": ["SageMaker.JOB_INTERNAL_ERROR", "SageMaker.CAPACITY_ERROR"],
         "IntervalSeconds": 1, "BackoffRate": 2, "MaxAttempts": 5}]
    step(definition, "Tune")["RetryPolicies"] = [  # neither starts a new tuning job
        {"ExceptionType": ["SageMaker.JOB_INTERNAL_ERROR"], "MaxAttempts": 3},
        {"ExceptionType": ["Step.THROTTLING"], "MaxAttempts": 9}]
    est = estimate(definition)
    by_step = {j.step: j for j in est.jobs}
    assert by_step["Preprocess"].attempts == 6 and by_step["Preprocess"].worst_usd == pytest.approx(6 * M5)
    assert by_step["Tune"].attempts == 1
    assert est.worst_usd == pytest.approx(16 * M5)
    assert est.expected_usd == pytest.approx(before.expected_usd)  # retries are the exception
    assert "up to 6 attempts" in cost_mod.format_estimate(est)
    step(definition, "Evaluate")["RetryPolicies"] = [
        {"ExceptionType": ["SageMaker.RESOURCE_LIMIT"], "ExpireAfterMin": 60}]
    (unbounded,) = estimate(definition).unknown
    assert unbounded.step == "Evaluate" and "no MaxAttempts: the worst case is unbounded" in unbounded.note
    with pytest.raises(UnknownPrice, match="no MaxAttempts"):
        check_execution_cost(definition, load_config(None, {"cost.max_execution_usd": 100.0}))
    assert rules(cost_findings(definition)).get("cost-retries") == ["Evaluate:RetryPolicies"]


def test_region_inference_needs_one_region() -> None:
    assert infer_region({"Steps": [{"Arguments": {"K": "arn:aws:kms:eu-west-1:1:key/x"}}]}) == "eu-west-1"
    mixed = {"Steps": [{"Arguments": {"K": "arn:aws:kms:eu-west-1:1:key/x",
                                      "I": "1.dkr.ecr.us-east-1.amazonaws.com/x:1"}}]}
    assert infer_region(mixed) is None
    with pytest.raises(DefinitionError, match="pass --region"):
        estimate({"Steps": []})


# --------------------------------------------------------------------------------------------
# the guard before a start


def test_no_limit_means_no_refusal_even_with_unknown_prices(definition: dict[str, Any]) -> None:
    est = check_execution_cost(definition, load_config(), {"TrainingInstanceType": "ml.x9.huge"})
    assert est.unknown


def test_worst_case_over_the_limit_is_rejected_with_the_key_named(definition: dict[str, Any]) -> None:
    cfg = load_config(None, {"cost.max_execution_usd": 1.0})
    with pytest.raises(CostLimitExceeded, match=r"cost\.max_execution_usd \(1 USD\).*largest part is Tune") as exc:
        check_execution_cost(definition, cfg)
    assert exc.value.exit_code == 3
    assert check_execution_cost(definition, load_config(None, {"cost.max_execution_usd": 5.0})).worst_usd \
        == pytest.approx(11 * M5)


def test_an_unknown_price_under_a_hard_limit_is_refused_naming_type_and_key(
        definition: dict[str, Any]) -> None:
    cfg = load_config(None, {"cost.max_execution_usd": 1000.0})
    with pytest.raises(UnknownPrice, match=r"cost\.max_execution_usd.*ml\.x9\.huge") as exc:
        check_execution_cost(definition, cfg, {"TrainingInstanceType": "ml.x9.huge"})
    assert exc.value.exit_code == 2
    # the message names where the type comes from: the parameter and the config key behind it
    assert "(set by aws.training_instance_type or --param TrainingInstanceType)" in str(exc.value)


# --------------------------------------------------------------------------------------------
# cost caps


def rules(findings: list[Any]) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for f in findings:
        out.setdefault(f.rule, []).append(f"{f.step}:{f.setting}")
    return out


def tag_everything(definition: dict[str, Any]) -> dict[str, Any]:
    for s in definition["Steps"]:
        if s["Type"] in ("Processing", "Tuning"):
            s["Arguments"]["Tags"] = [{"Key": k, "Value": "x"} for k in cost_mod.COST_TAG_KEYS]
    return definition


def test_a_tagged_definition_within_the_caps_passes(definition: dict[str, Any]) -> None:
    assert cost_findings(tag_everything(definition)) == []


def test_jobs_without_the_cost_allocation_tags_are_findings(definition: dict[str, Any]) -> None:
    assert cost_findings(definition) == []  # the golden definition is tagged by the builder
    for s in definition["Steps"]:
        if "Tags" in s["Arguments"]:
            s["Arguments"]["Tags"] = [{"Key": "project", "Value": "trainguard"}]
    found = rules(cost_findings(definition))
    assert found == {"cost-tags": ["Preprocess:Arguments.Tags", "Tune:Arguments.Tags",
                                   "Evaluate:Arguments.Tags", "Baseline:Arguments.Tags"]}


def test_gpu_types_are_refused_unless_allowed(definition: dict[str, Any]) -> None:
    tag_everything(definition)
    found = cost_findings(definition, params={"TrainingInstanceType": "ml.g5.xlarge"})
    assert rules(found) == {"cost-gpu": ["Tune:Arguments.TrainingJobDefinition.ResourceConfig.InstanceType"]}
    assert cost_findings(definition, CostConfig(allow_gpu=True),
                         {"TrainingInstanceType": "ml.g5.xlarge"}) == []


def test_instance_types_outside_the_allowed_list_and_unresolvable_ones(definition: dict[str, Any]) -> None:
    tag_everything(definition)
    found = rules(cost_findings(definition, CostConfig(allowed_instance_types=["ml.c5.*"])))
    assert len(found["cost-instance-type"]) == 4
    step(definition, "Preprocess")["Arguments"]["ProcessingResources"]["ClusterConfig"]["InstanceType"] = \
        {"Get": "Steps.Other.Something"}
    found = cost_findings(definition)
    assert [f.rule for f in found] == ["cost-instance-type"]
    assert "not known before the run" in found[0].message


def test_runtime_counts_and_tuning_budgets_over_their_caps(definition: dict[str, Any]) -> None:
    tag_everything(definition)
    caps = CostConfig(max_runtime_processing_seconds=1800, max_instance_count=1, max_tuning_jobs=4,
                      max_parallel_jobs=1)
    found = rules(cost_findings(definition, caps, {"TrainingInstanceCount": "3"}))
    assert found["cost-max-runtime"] == ["Preprocess:Arguments.StoppingCondition.MaxRuntimeInSeconds",
                                         "Evaluate:Arguments.StoppingCondition.MaxRuntimeInSeconds",
                                         "Baseline:Arguments.StoppingCondition.MaxRuntimeInSeconds"]
    assert found["cost-instance-count"] == [
        "Tune:Arguments.TrainingJobDefinition.ResourceConfig.InstanceCount"]
    assert sorted(found["cost-tuning-budget"]) == [
        "Tune:Arguments.HyperParameterTuningJobConfig.ResourceLimits.MaxNumberOfTrainingJobs",
        "Tune:Arguments.HyperParameterTuningJobConfig.ResourceLimits.MaxParallelTrainingJobs"]


def test_a_runtime_only_known_at_run_time_is_a_finding(definition: dict[str, Any]) -> None:
    tag_everything(definition)
    tuning_job(definition)["StoppingCondition"]["MaxRuntimeInSeconds"] = {"Get": "Steps.X.Y"}
    found = cost_findings(definition)
    assert [f.rule for f in found] == ["cost-max-runtime"] and "unbounded" in found[0].message
    del tuning_job(definition)["StoppingCondition"]  # a missing one is lint's max-runtime rule
    assert cost_findings(definition) == []


def test_spot_trials_need_a_max_wait_and_checkpoints_in_the_encrypted_output_bucket(
        definition: dict[str, Any]) -> None:
    tag_everything(definition)
    job = tuning_job(definition)
    job["EnableManagedSpotTraining"] = True
    found = rules(cost_findings(definition))
    assert sorted(found["cost-spot"]) == [
        "Tune:Arguments.TrainingJobDefinition.CheckpointConfig.S3Uri",
        "Tune:Arguments.TrainingJobDefinition.StoppingCondition.MaxWaitTimeInSeconds"]
    job["StoppingCondition"]["MaxWaitTimeInSeconds"] = 7200
    job["CheckpointConfig"] = {"S3Uri": "s3://someone-elses-bucket/ckpt"}
    assert len(cost_findings(definition)) == 1
    job["CheckpointConfig"] = {"S3Uri": "s3://sagemaker-us-east-1-111122223333/trainguard/checkpoints"}
    assert cost_findings(definition) == []


# --------------------------------------------------------------------------------------------
# bad config input


@pytest.mark.parametrize(("override", "key"), [
    ({"cost.budget_usd": -5}, "cost.budget_usd"),
    ({"cost.max_execution_usd": 0}, "cost.max_execution_usd"),
    ({"cost.currency": "DOGE"}, "cost.currency"),
    ({"cost.max_runtime_training_seconds": 30}, "cost.max_runtime_training_seconds"),
    ({"cost.max_tuning_jobs": 0}, "cost.max_tuning_jobs"),
    ({"cost.max_parallel_jobs": 0}, "cost.max_parallel_jobs"),
    ({"cost.max_instance_count": 0}, "cost.max_instance_count"),
    ({"cost.spot_tuning": True, "cost.spot_max_wait_seconds": 60}, "cost.spot_max_wait_seconds"),
    ({"cost.expected_runtime_fraction": 0}, "cost.expected_runtime_fraction"),
])
def test_bad_cost_settings_are_refused_naming_the_key(override: dict[str, Any], key: str) -> None:
    with pytest.raises(ConfigError, match=key.replace(".", r"\.")):
        load_config(None, override)


def test_a_cap_below_the_pipelines_own_setting_is_a_lint_finding_not_a_config_error() -> None:
    from trainguard.pipelines.build import definition_json

    cfg = load_config(None, {"cost.max_runtime_training_seconds": 1800, "tuning.max_jobs": 60})
    found = rules(cost_findings(json.loads(definition_json(cfg)), cfg.cost))
    assert found == {
        "cost-max-runtime": ["Tune:Arguments.TrainingJobDefinition.StoppingCondition.MaxRuntimeInSeconds"],
        "cost-tuning-budget": [
            "Tune:Arguments.HyperParameterTuningJobConfig.ResourceLimits.MaxNumberOfTrainingJobs"]}


# --------------------------------------------------------------------------------------------
# the price table and its refresh


def price_item(region: str, itype: str, component: str, usd: str) -> str:
    return json.dumps({
        "product": {"productFamily": "ML Instance",
                    "attributes": {"regionCode": region, "instanceName": itype, "component": component}},
        "terms": {"OnDemand": {"T1": {"priceDimensions": {"D1": {"unit": "Hrs",
                                                                  "pricePerUnit": {"USD": usd}}}}}}})


def test_price_list_output_becomes_a_table_and_skips_other_kinds() -> None:
    items = [price_item("eu-west-1", "ml.m5.xlarge", "Training", "0.2570000000"),
             price_item("eu-west-1", "ml.m5.xlarge", "Processing", "0.2570000000"),
             price_item("eu-west-1", "ml.m5.xlarge", "Hosting", "0.2300000000"),
             price_item("eu-west-1", "not-an-instance", "Training", "1.0")]
    table = price_table_from_price_list(items, as_of="2026-01-15")
    assert table["regions"] == {"eu-west-1": {"Processing": {"ml.m5.xlarge": 0.257},
                                              "Training": {"ml.m5.xlarge": 0.257}}}
    assert table["as_of"] == "2026-01-15" and table["currency"] == "USD"


def test_refresh_writes_the_table_and_keeps_other_regions(tmp_path: Path,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "prices.json"
    out.write_text(prices_mod.PRICE_TABLE_PATH.read_text(encoding="utf-8"))
    page = tmp_path / "page.json"
    page.write_text(json.dumps({"PriceList": [price_item("eu-west-1", "ml.c5.xlarge", "Training", "0.23")]}))
    assert refresh_main([str(page), "--as-of", "2026-01-15", "--out", str(out)]) == 0
    table = load_price_table(out)
    assert table.price("eu-west-1", "Training", "ml.c5.xlarge") == 0.23
    assert table.price("us-east-1", "Training", "ml.m5.xlarge") == M5  # kept
    assert table.as_of == "2026-01-15"
    empty = tmp_path / "empty.json"
    empty.write_text(json.dumps({"PriceList": []}))
    before = out.read_text()
    assert refresh_main([str(empty), "--as-of", "2026-02-01", "--out", str(out)]) == 2
    assert out.read_text() == before  # nothing half-written


PAGE = Path(__file__).parent / "golden" / "get_products_sagemaker.json"


def test_a_saved_get_products_page_refreshes_the_table(tmp_path: Path, definition: dict[str, Any]) -> None:
    """The page has GetProducts' shape (botocore's pricing examples-1.json: FormatVersion,
    NextToken, PriceList of JSON strings with product.attributes and terms.OnDemand); its prices
    are made up. Hosting, storage and non-hourly dimensions are left out."""
    out = tmp_path / "prices.json"
    assert refresh_main([str(PAGE), "--as-of", "2026-11-30", "--out", str(out)]) == 0
    table = load_price_table(out)
    assert dict(table.regions) == {"eu-west-1": {"Processing": {"ml.m5.xlarge": 0.6},
                                                 "Training": {"ml.c5.xlarge": 0.25, "ml.m5.xlarge": 0.5}}}
    est = estimate(definition, region="eu-west-1", table=table)
    assert not est.unknown and est.worst_usd == pytest.approx(3 * 0.6 + 8 * 0.5)


def test_fetch_pages_through_get_products_per_region() -> None:
    """moto has no Price List API: the requests are checked against botocore's pricing model
    (Stubber), including the NextToken of the second page."""
    import boto3
    from botocore.stub import Stubber
    from trainguard.pipelines.ops.refresh_prices import fetch_products

    client = boto3.Session(aws_access_key_id="x", aws_secret_access_key="x").client(
        "pricing", region_name="us-east-1")
    page = json.loads(PAGE.read_text(encoding="utf-8"))
    filters = [{"Type": "TERM_MATCH", "Field": "regionCode", "Value": "eu-west-1"}]
    with Stubber(client) as stub:
        stub.add_response("get_products", page, {"ServiceCode": "AmazonSageMaker", "Filters": filters})
        stub.add_response("get_products", {"FormatVersion": "aws_v1", "PriceList": page["PriceList"][:1]},
                          {"ServiceCode": "AmazonSageMaker", "Filters": filters,
                           "NextToken": page["NextToken"]})
        items = fetch_products(["eu-west-1"], session=type("S", (), {"client": lambda *_a, **_k: client})())
        stub.assert_no_pending_responses()
    assert len(items) == len(page["PriceList"]) + 1


def test_a_broken_price_table_is_refused(tmp_path: Path) -> None:
    bad = tmp_path / "p.json"
    bad.write_text(json.dumps({"currency": "USD", "regions": {"us-east-1": {"Training": {"ml.m5.xlarge": -1}}}}))
    with pytest.raises(DefinitionError, match=r"ml\.m5\.xlarge must be a non-negative number"):
        load_price_table(bad)


# --------------------------------------------------------------------------------------------
# the command


def cost_args(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    cost_cmd.add_arguments(parser)
    return parser.parse_args(list(argv))


def test_cost_command_prints_json_for_any_definition(capsys: pytest.CaptureFixture[str]) -> None:
    assert cost_cmd.run(cost_args("--definition", str(GOLDEN), "--json",
                                  "--param", "TrainingInstanceCount=2")) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["region"] == "us-east-1" and doc["complete"] is True
    assert doc["worst_usd"] == pytest.approx(19 * M5) and doc["refused"] is None


def test_cost_command_prints_then_refuses_over_the_limit(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(CostLimitExceeded):
        cost_cmd.run(cost_args("--definition", str(GOLDEN), "--set", "cost.max_execution_usd=1"))
    out = capsys.readouterr().out
    assert "worst case 2.53 USD" in out and "Tune" in out


def test_cost_command_uses_the_given_region(capsys: pytest.CaptureFixture[str]) -> None:
    assert cost_cmd.run(cost_args("--definition", str(GOLDEN), "--region", "eu-north-1")) == 0
    assert "unknown price" in capsys.readouterr().out


def test_deepcopy_of_golden_is_untouched_by_estimation(definition: dict[str, Any]) -> None:
    before = copy.deepcopy(definition)
    estimate(definition, params={"TrainingInstanceCount": "3"})
    cost_findings(definition)
    assert definition == before


def test_spot_tuning_builds_a_definition_that_passes_the_caps_and_prices_the_saving() -> None:
    from trainguard.pipelines.build import definition_json

    cfg = load_config(None, {"cost.spot_tuning": True, "cost.spot_max_wait_seconds": 5400})
    built = json.loads(definition_json(cfg))
    job = tuning_job(built)
    assert job["EnableManagedSpotTraining"] is True
    assert job["StoppingCondition"] == {"MaxRuntimeInSeconds": 3600, "MaxWaitTimeInSeconds": 5400}
    checkpoint = job["CheckpointConfig"]["S3Uri"]["Std:Join"]["Values"]
    assert checkpoint[0] == job["OutputDataConfig"]["S3OutputPath"]["Std:Join"]["Values"][0]
    assert checkpoint[-1] == "checkpoints"  # per execution, beside the run's other outputs
    assert cost_findings(built, cfg.cost) == []
    est = estimate(built, cost=cfg.cost)
    assert est.spot_saving_usd == pytest.approx(8 * M5 * 0.25 * cfg.cost.spot_expected_saving)
    saving = f"spot saves about {est.spot_saving_usd:.2f} USD"
    assert saving in cost_mod.format_estimate(est)  # what trainguard cost and upsert --start print
    stream = io.StringIO()
    Progress(stream)("plan_cost", estimate=est)  # the local run's plan line
    assert saving in stream.getvalue()
    tags = {t["Key"]: t["Value"] for t in step(built, "Tune")["Arguments"]["Tags"]}
    assert tags == {**cost_mod.cost_allocation_tags(cfg), "project": "trainguard"}


def test_cost_command_builds_from_the_config_and_applies_its_limit(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(CostLimitExceeded):
        cost_cmd.run(cost_args("--set", "cost.max_execution_usd=1", "--set", "tuning.max_jobs=20"))
    out = capsys.readouterr().out
    assert "20 trials (2 at once)" in out and f"worst {20 * M5:.2f}" in out


def test_the_cli_runs_cost_with_its_exit_statuses(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["cost", "--definition", str(GOLDEN)]) == 0
    assert "worst case 2.53 USD" in capsys.readouterr().out
    assert main(["cost", "--definition", str(GOLDEN), "--set", "cost.max_execution_usd=1"]) == 3
    err = capsys.readouterr().err
    assert "cost.max_execution_usd" in err and "Traceback" not in err
    assert main(["cost", "--definition", str(GOLDEN), "--set", "cost.max_execution_usd=100",
                 "--param", "TrainingInstanceType=ml.x9.huge"]) == 2
    assert "ml.x9.huge" in capsys.readouterr().err
    assert main(["cost", "--definition", str(GOLDEN), "--param", "Nope=1"]) == 2
    assert "'Nope' is not a parameter" in capsys.readouterr().err


def test_lint_applies_the_cost_caps_to_any_definition_with_cost_settings(
        capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["lint", "--definition", str(GOLDEN), "--json"]) == 1  # placeholders, as before
    before = {f["rule"] for f in json.loads(capsys.readouterr().out)}
    assert not any(r.startswith("cost-") for r in before)
    assert main(["lint", "--definition", str(GOLDEN), "--json", "--set", "cost.max_tuning_jobs=4"]) == 1
    found = json.loads(capsys.readouterr().out)
    assert [f["setting"] for f in found if f["rule"] == "cost-tuning-budget"] == [
        "Arguments.HyperParameterTuningJobConfig.ResourceLimits.MaxNumberOfTrainingJobs"]
    assert main(["lint", "--definition", str(GOLDEN), "--set", "cv.folds=3"]) == 2
    assert "only cost.* caps apply" in capsys.readouterr().err


def test_the_local_runs_plan_shows_the_same_figures(tmp_path: Path) -> None:
    from trainguard.pipelines.local.run import run_local

    class Seen(Exception):
        pass

    seen: list[Any] = []

    def on_event(event: str, **data: Any) -> None:
        if event == "plan_cost":
            seen.append(data["estimate"])
            raise Seen  # the plan is all this test needs: stop before the jobs run

    with pytest.raises(Seen):
        run_local(workdir=tmp_path / "run", registry=tmp_path / "r.db", overrides={"tuning.max_jobs": 3},
                  on_event=on_event)
    (est,) = seen
    assert est.worst_usd == pytest.approx(6 * M5)  # preprocess + 3 trials + evaluate + baseline, 1 h each
    stream = io.StringIO()
    Progress(stream)("plan_cost", estimate=est)
    assert f"at most {6 * M5:.2f} USD, about {est.expected_usd:.2f} USD expected" in stream.getvalue()


def test_the_python_api_prices_a_definition_file_and_a_config() -> None:
    import trainguard

    est = trainguard.cost(str(GOLDEN), params={"TrainingInstanceCount": 2})
    assert est.worst_usd == pytest.approx(19 * M5)
    built = trainguard.cost(config={"tuning": {"max_jobs": 4}})
    assert built.region == "us-east-1" and built.worst_usd == pytest.approx(7 * M5)


def test_a_bad_param_reads_as_in_upsert_and_the_local_run(capsys: pytest.CaptureFixture[str]) -> None:
    """The cost command checks --param values with the same function (pipelines.definition)."""
    assert main(["cost", "--definition", str(GOLDEN), "--param", "MinAuc=high"]) == 2
    assert "--param MinAuc='high': MinAuc is of type Float; give a number such as 0.8." in capsys.readouterr().err
    assert main(["cost", "--definition", str(GOLDEN), "--param", "MinAuc=1", "--param", "MinAuc=2"]) == 2
    assert "--param MinAuc is given twice ('1' and '2'); pass it once." in capsys.readouterr().err
