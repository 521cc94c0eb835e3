"""The one place the SageMaker SDK is imported; every builder takes its SDK names from here.

Importing ``sagemaker.mlops`` creates a boto3 client at import time: that fails when no region
is configured, and without credentials botocore probes the EC2 instance-metadata address for
them. The import here runs with ``AWS_DEFAULT_REGION`` (when unset: ``us-east-1``) and
``AWS_EC2_METADATA_DISABLED=true`` set for its duration only, so ``import pipelines.build`` works
on a machine with no AWS configuration and makes no network call.
"""

from __future__ import annotations

import os

_IMPORT_ENV = {"AWS_DEFAULT_REGION": os.environ.get("AWS_DEFAULT_REGION") or "us-east-1",
               "AWS_EC2_METADATA_DISABLED": "true"}
_saved_env = {key: os.environ.get(key) for key in _IMPORT_ENV}
os.environ.update(_IMPORT_ENV)
try:
    import boto3
    from sagemaker.core import image_uris
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
    from sagemaker.serve.model_builder import ModelBuilder
    from sagemaker.train.model_trainer import ModelTrainer
    from sagemaker.train.tuner import HyperparameterTuner
finally:
    for _key, _value in _saved_env.items():
        if _value is None:
            os.environ.pop(_key, None)
        else:
            os.environ[_key] = _value

__all__ = [
    "CacheConfig",
    "CategoricalParameter",
    "Compute",
    "ConditionGreaterThanOrEqualTo",
    "ConditionLessThanOrEqualTo",
    "ConditionOr",
    "ConditionStep",
    "ContinuousParameter",
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
]
