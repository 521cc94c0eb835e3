"""The one place the SageMaker SDK is imported; every builder takes its SDK names from here.

Importing ``sagemaker.mlops`` creates a boto3 client at import time: that fails when no region
is configured, and without credentials botocore probes the EC2 instance-metadata address for
them; a profile that is not configured here, or half a key pair, makes it raise. The import
here runs with ``AWS_DEFAULT_REGION`` (when unset: ``us-east-1``) and
``AWS_EC2_METADATA_DISABLED=true`` set, and the AWS identity settings (``CREDENTIAL_ENV``) hidden,
for its duration only, so ``import trainguard.pipelines.build`` works whatever the machine's AWS
configuration and makes no network call. The SDK's import also sets logging to INFO, after which
every botocore client announces itself on stderr; botocore's logger, when nobody configured it, is
raised to WARNING.
"""

from __future__ import annotations

import logging
import os

CREDENTIAL_ENV = ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY",
                  "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN", "AWS_WEB_IDENTITY_TOKEN_FILE",
                  "AWS_ROLE_ARN", "AWS_ROLE_SESSION_NAME")
"""AWS identity settings the offline build hides: it needs no credentials, and resolving them can fail."""

_IMPORT_ENV = {"AWS_DEFAULT_REGION": os.environ.get("AWS_DEFAULT_REGION") or "us-east-1",
               "AWS_EC2_METADATA_DISABLED": "true"}
_saved_env = {key: os.environ.get(key) for key in (*_IMPORT_ENV, *CREDENTIAL_ENV)}
os.environ.update(_IMPORT_ENV)
for _key in CREDENTIAL_ENV:
    os.environ.pop(_key, None)
try:
    import boto3
    from sagemaker.core import image_uris
    from sagemaker.core.drift_check_baselines import DriftCheckBaselines
    from sagemaker.core.model_metrics import MetricsSource, ModelMetrics
    from sagemaker.core.network import NetworkConfig
    from sagemaker.core.parameter import (
        CategoricalParameter,
        ContinuousParameter,
        IntegerParameter,
    )
    from sagemaker.core.processing import Processor
    from sagemaker.core.shapes import (
        HyperParameterTuningJobWarmStartConfig,
        MetricDefinition,
        ParentHyperParameterTuningJob,
        ProcessingInput,
        ProcessingOutput,
        ProcessingS3Input,
        ProcessingS3Output,
    )
    from sagemaker.core.telemetry import telemetry_logging
    from sagemaker.core.training.configs import (
        Compute,
        InputData,
        Networking,
        OutputDataConfig,
        StoppingCondition,
    )
    from sagemaker.core.workflow.conditions import (
        ConditionGreaterThan,
        ConditionGreaterThanOrEqualTo,
        ConditionLessThanOrEqualTo,
        ConditionOr,
    )
    from sagemaker.core.workflow.execution_variables import ExecutionVariables
    from sagemaker.core.workflow.functions import Join, JsonGet
    from sagemaker.core.workflow.parameters import (
        ParameterFloat,
        ParameterInteger,
        ParameterString,
    )
    from sagemaker.core.workflow.pipeline_context import PipelineSession
    from sagemaker.core.workflow.properties import PropertyFile
    from sagemaker.mlops.workflow import (
        CacheConfig,
        ConditionStep,
        FailStep,
        ModelStep,
        Pipeline,
        ProcessingStep,
        TrainingStep,
        TuningStep,
    )
    from sagemaker.mlops.workflow import steps as workflow_steps
    from sagemaker.serve.model_builder import ModelBuilder
    from sagemaker.train.model_trainer import ModelTrainer
    from sagemaker.train.tuner import HyperparameterTuner
finally:
    for _key, _value in _saved_env.items():
        if _value is None:
            os.environ.pop(_key, None)
        else:
            os.environ[_key] = _value
    if logging.getLogger("botocore").level == logging.NOTSET:
        logging.getLogger("botocore").setLevel(logging.WARNING)

__all__ = [
    "CREDENTIAL_ENV",
    "CacheConfig",
    "CategoricalParameter",
    "Compute",
    "ConditionGreaterThan",
    "ConditionGreaterThanOrEqualTo",
    "ConditionLessThanOrEqualTo",
    "ConditionOr",
    "ConditionStep",
    "ContinuousParameter",
    "DriftCheckBaselines",
    "ExecutionVariables",
    "FailStep",
    "HyperParameterTuningJobWarmStartConfig",
    "HyperparameterTuner",
    "InputData",
    "IntegerParameter",
    "Join",
    "JsonGet",
    "MetricDefinition",
    "MetricsSource",
    "ModelBuilder",
    "ModelMetrics",
    "ModelStep",
    "ModelTrainer",
    "NetworkConfig",
    "Networking",
    "OutputDataConfig",
    "ParameterFloat",
    "ParameterInteger",
    "ParameterString",
    "ParentHyperParameterTuningJob",
    "Pipeline",
    "PipelineSession",
    "ProcessingInput",
    "ProcessingOutput",
    "ProcessingS3Input",
    "ProcessingS3Output",
    "ProcessingStep",
    "Processor",
    "PropertyFile",
    "StoppingCondition",
    "TrainingStep",
    "TuningStep",
    "boto3",
    "image_uris",
    "telemetry_logging",
    "workflow_steps",
]
