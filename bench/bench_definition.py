"""Whole-process time of ``trainguard definition`` next to a bare SDK script building the same pipeline.

Both run as fresh processes (import time included, as a user or CI pays it), alternately, several
times; the medians are printed side by side with their ratio. The bare script imports the same
SDK modules and builds the same objects (sessions, processors, trainer, tuner, model builders,
condition, pipeline) with the values hard-coded, so the ratio is trainguard's own overhead:
config loading and checks, the code bundle, freezing, canonical JSON. Neither sends the SDK's
telemetry request, so no network round trip is timed. Goal: ratio <= 1.3.

    .venv/bin/python bench/bench_definition.py [--runs 5]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
GOAL = 1.3

BARE = r'''
import json, os
os.environ.update({"SAGEMAKER_VALIDATE_ROLE": "false", "AWS_EC2_METADATA_DISABLED": "true",
                   "SAGEMAKER_ADMIN_CONFIG_OVERRIDE": os.devnull,
                   "SAGEMAKER_USER_CONFIG_OVERRIDE": os.devnull})
os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
import boto3
from sagemaker.core import image_uris
from sagemaker.core.model_metrics import MetricsSource, ModelMetrics
from sagemaker.core.network import NetworkConfig
from sagemaker.core.parameter import ContinuousParameter, IntegerParameter
from sagemaker.core.processing import Processor
from sagemaker.core.shapes import (MetricDefinition, ProcessingInput, ProcessingOutput,
                                   ProcessingS3Input, ProcessingS3Output)
from sagemaker.core.training.configs import (Compute, InputData, Networking, OutputDataConfig,
                                             StoppingCondition)
from sagemaker.core.workflow.conditions import (ConditionGreaterThanOrEqualTo,
                                                ConditionLessThanOrEqualTo, ConditionOr)
from sagemaker.core.workflow.execution_variables import ExecutionVariables
from sagemaker.core.workflow.functions import Join, JsonGet
from sagemaker.core.workflow.parameters import ParameterFloat, ParameterInteger, ParameterString
from sagemaker.core.workflow.pipeline_context import PipelineSession
from sagemaker.core.workflow.properties import PropertyFile
from sagemaker.mlops.workflow import (CacheConfig, ConditionStep, FailStep, ModelStep, Pipeline,
                                      ProcessingStep, TuningStep)
from sagemaker.serve.model_builder import ModelBuilder
from sagemaker.train.model_trainer import ModelTrainer
from sagemaker.train.tuner import HyperparameterTuner
from sagemaker.core.telemetry import telemetry_logging
# No telemetry request (trainguard sends none either): time building, not a network round trip.
telemetry_logging._send_telemetry_request = lambda *args, **kwargs: None

bucket, role = "sagemaker-us-east-1-111122223333", "arn:aws:iam::111122223333:role/x"
kms = "arn:aws:kms:us-east-1:111122223333:key/k"
sess = PipelineSession(boto_session=boto3.Session(region_name="us-east-1"))
sess._default_bucket = bucket
image = image_uris.retrieve("xgboost", "us-east-1", "3.0-5")
code = f"s3://{bucket}/trainguard/code/sha/sourcedir.tar.gz"
data = ParameterString("InputDataUri", default_value=f"s3://{bucket}/trainguard/data/")
pit = ParameterString("ProcessingInstanceType", default_value="ml.m5.xlarge")
pic = ParameterInteger("ProcessingInstanceCount", default_value=1)
tit = ParameterString("TrainingInstanceType", default_value="ml.m5.xlarge")
tic = ParameterInteger("TrainingInstanceCount", default_value=1)
floats = [ParameterFloat(n, default_value=v) for n, v in
          (("MinAuc", .75), ("MinRecall", .5), ("MinPrAuc", 0.), ("MaxOverfitGap", .1),
           ("ChampionBar", 0.))]
status = ParameterString("ModelApprovalStatus", default_value="PendingManualApproval")
net = NetworkConfig(enable_network_isolation=True, encrypt_inter_container_traffic=True,
                    security_group_ids=["sg-1"], subnets=["subnet-1"])
tags = [{"Key": "project", "Value": "trainguard"}]
run = lambda *p: Join(on="/", values=[f"s3://{bucket}/trainguard/runs",
                                      ExecutionVariables.PIPELINE_EXECUTION_ID, *p])
def inp(n, s, p): return ProcessingInput(input_name=n, s3_input=ProcessingS3Input(
    s3_uri=s, local_path=p, s3_data_type="S3Prefix", s3_input_mode="File"))
def out(n, p, d): return ProcessingOutput(output_name=n, s3_output=ProcessingS3Output(
    s3_uri=d, local_path=p, s3_upload_mode="EndOfJob"))
def proc(kind): return Processor(role=role, image_uri=image, instance_count=pic,
    instance_type=pit, entrypoint=["/bin/sh", "-c", "x", "trainguard.training.jobs", kind],
    volume_kms_key=kms, output_kms_key=kms, max_runtime_in_seconds=3600,
    base_job_name="p", sagemaker_session=sess, env={"A": "1"}, tags=tags, network_config=net)
cache = CacheConfig(enable_caching=True, expire_after="P30D")
pre = ProcessingStep(name="Preprocess", cache_config=cache, step_args=proc("preprocess").run(
    inputs=[inp("data", data, "/d"), inp("code", code, "/c")],
    outputs=[out("train", "/t", run("train")), out("test", "/s", run("test"))],
    arguments=["--target", "y"]))
outs = pre.properties.ProcessingOutputConfig.Outputs
mt = ModelTrainer(sagemaker_session=sess, role=role, training_image=image, base_job_name="t",
    compute=Compute(instance_type=tit, instance_count=tic, volume_kms_key_id=kms),
    networking=Networking(enable_network_isolation=True,
                          enable_inter_container_traffic_encryption=True,
                          security_group_ids=["sg-1"], subnets=["subnet-1"]),
    stopping_condition=StoppingCondition(max_runtime_in_seconds=3600),
    output_data_config=OutputDataConfig(s3_output_path=run("models"), kms_key_id=kms),
    hyperparameters={"target": "y"}, environment={"A": "1"},
    tags=[{"key": "project", "value": "trainguard"}]).with_metric_definitions(
        [MetricDefinition(name="cv:auc", regex="cv:auc=([0-9.]+)")])
tuner = HyperparameterTuner(model_trainer=mt, objective_metric_name="cv:auc",
    hyperparameter_ranges={"eta": ContinuousParameter(0.01, 0.3, scaling_type="Logarithmic"),
                           "max_depth": IntegerParameter(2, 6, scaling_type="Linear")},
    metric_definitions=[{"Name": "cv:auc", "Regex": "cv:auc=([0-9.]+)"}], max_jobs=8,
    max_parallel_jobs=2, early_stopping_type="Auto", base_tuning_job_name="u", random_seed=7,
    tags=tags)
tune = TuningStep(name="Tune", step_args=tuner.tune(inputs=[
    InputData(channel_name="train", data_source=outs["train"].S3Output.S3Uri),
    InputData(channel_name="code", data_source=code)], wait=False))
model = Join(on="/", values=[f"s3://{bucket}/trainguard/runs",
             ExecutionVariables.PIPELINE_EXECUTION_ID, "models",
             tune.properties.BestTrainingJob.TrainingJobName, "output", "model.tar.gz"])
report = PropertyFile(name="EvaluationReport", output_name="evaluation", path="evaluation.json")
ev = ProcessingStep(name="Evaluate", cache_config=cache, property_files=[report],
    step_args=proc("evaluate").run(inputs=[inp("model", model, "/m"),
        inp("test", outs["test"].S3Output.S3Uri, "/s"), inp("code", code, "/c")],
        outputs=[out("evaluation", "/e", run("evaluation"))], arguments=["--min-auc", floats[0]]))
uri = Join(on="/", values=[ev.properties.ProcessingOutputConfig.Outputs["evaluation"]
                           .S3Output.S3Uri, "evaluation.json"])
def jg(p): return JsonGet(step_name="Evaluate", property_file=report, json_path=p)
def reg(name, st): return ModelStep(name=name, step_args=ModelBuilder(image_uri=image,
    s3_model_data_url=model, role_arn=role, sagemaker_session=sess, log_level=None).register(
    model_package_group_name="g", approval_status=st, content_types=["text/csv"],
    response_types=["text/csv"], inference_instances=["ml.m5.large"],
    transform_instances=["ml.m5.large"], customer_metadata_properties={"a": "b"},
    model_metrics=ModelMetrics(model_statistics=MetricsSource(
        s3_uri=uri, content_type="application/json"))))
conds = [ConditionGreaterThanOrEqualTo(left=jg("a.auc.value"), right=floats[0]),
         ConditionGreaterThanOrEqualTo(left=jg("a.recall.value"), right=floats[1]),
         ConditionGreaterThanOrEqualTo(left=jg("a.pr_auc.value"), right=floats[2]),
         ConditionLessThanOrEqualTo(left=jg("o.gap"), right=floats[3]),
         ConditionOr(conditions=[ConditionLessThanOrEqualTo(left=floats[4], right=0.0),
                                 ConditionGreaterThanOrEqualTo(left=jg("a.auc.value"),
                                                               right=floats[4])])]
rejected = reg("RegisterRejected", "Rejected")
check = ConditionStep(name="CheckApproval", conditions=conds,
    if_steps=[reg("RegisterModel", status)],
    else_steps=[rejected, FailStep(name="FailRejected", depends_on=[rejected],
                                   error_message=Join(on=" ", values=["rejected", floats[0]]))])
pipeline = Pipeline(name="p", parameters=[data, pit, pic, tit, tic, *floats, status],
                    steps=[pre, tune, ev, check], sagemaker_session=sess)
print(pipeline.definition())
'''


def _time(cmd: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(cmd, check=True, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                   env={**os.environ, "PYTHONWARNINGS": "ignore"})
    return time.perf_counter() - start


def main(argv: list[str] | None = None) -> int:
    """Run both commands alternately ``--runs`` times; print medians and their ratio."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args(argv)
    commands = {
        "trainguard definition": [sys.executable, "-m", "trainguard.pipelines.cli", "definition"],
        "bare SDK script": [sys.executable, "-c", BARE],
    }
    for cmd in commands.values():  # warm the file cache; verify both work
        _time(cmd)
    times: dict[str, list[float]] = {name: [] for name in commands}
    for _ in range(args.runs):
        for name, cmd in commands.items():
            times[name].append(_time(cmd))
    medians = {name: statistics.median(ts) for name, ts in times.items()}
    ours, bare = medians["trainguard definition"], medians["bare SDK script"]
    print(f"{'command':<24}{'median s':>10}{'min s':>9}{'max s':>9}   (runs={args.runs})")
    for name, ts in times.items():
        print(f"{name:<24}{medians[name]:>10.2f}{min(ts):>9.2f}{max(ts):>9.2f}")
    ratio = ours / bare
    print(f"ratio trainguard/bare: {ratio:.2f}x (goal <= {GOAL}x): "
          f"{'ok' if ratio <= GOAL else 'OVER GOAL'}")
    best = min(times["trainguard definition"]) / min(times["bare SDK script"])
    print(f"ratio of the fastest runs: {best:.2f}x (less sensitive to other load on the machine)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
