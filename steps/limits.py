"""SageMaker's own limits on the names and values a config puts in the definition (no SDK import).

The SDK and botocore's request validation check types, not the service's patterns and ranges, so
without this a pipeline name with a space, a runtime above the processing-job maximum or a tag
key starting with ``aws:`` would build, lint and deploy, then fail only when an execution
creates the job. ``check_service_limits`` reports every such value at once, naming its config
key, before any SDK object is built. The patterns and bounds are the SageMaker service model's
(botocore's ``sagemaker`` model; a test checks they agree), plus the rules that model does not
carry: S3 bucket names, reserved ``aws:`` tag keys, ISO 8601 cache durations.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterator, Mapping

from trainguard.training.config import Config, SecurityConfig, TuningConfig
from trainguard.training.errors import ConfigError

__all__ = ["MAX_PROCESSING_RUNTIME_SECONDS", "check_service_limits", "service_limit_problems"]

MAX_PROCESSING_RUNTIME_SECONDS = 777_600
"""CreateProcessingJob's ``MaxRuntimeInSeconds`` maximum (9 days); every job gets the same
``security.max_runtime_seconds``, and training jobs allow more, so this bound applies."""
MAX_PROCESSING_INSTANCES = 100
MAX_SUBNETS = 16
MAX_SECURITY_GROUPS = 5
MAX_TAGS = 50
MAX_WARM_START_PARENTS = 5
MAX_TUNING_JOBS = 750
"""Training jobs per tuning job: SageMaker's limit for the Bayesian strategy (Developer Guide,
"Resource Limits for Automatic Model Tuning"; the API's MaxNumberOfTrainingJobs has no maximum)."""
MAX_PARALLEL_TUNING_JOBS = 100
"""Parallel training jobs per tuning job: 10 by default, raisable to at most 100 (same page)."""
MAX_IMAGE_URI = 255

PIPELINE_NAME = re.compile(r"[a-zA-Z0-9](-*[a-zA-Z0-9]){0,255}")
MODEL_PACKAGE_GROUP = re.compile(
    r"(arn:aws[a-z\-]*:sagemaker:[a-z0-9\-]*:[0-9]{12}:[a-z\-]*\/)?([a-zA-Z0-9]([a-zA-Z0-9-]){0,62})(?<!-)")
TUNING_JOB_NAME = re.compile(r"[a-zA-Z0-9](-*[a-zA-Z0-9]){0,31}")
ROLE_ARN = re.compile(r"arn:aws[a-z\-]*:iam::\d{12}:role/?[a-zA-Z_0-9+=,.@\-_/]+")
KMS_KEY = re.compile(r"[a-zA-Z0-9:/_-]*")
VPC_ID = re.compile(r"[-0-9a-zA-Z]{1,32}")
TAG_TEXT = re.compile("[\\w \u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000.:/=+\\-@]*")
"""The service's ``[\\p{L}\\p{Z}\\p{N}_.:/=+\\-@]*`` in Python's ``re`` (no ``\\p`` classes): tag
keys and values, and model package metadata (``CustomerMetadataProperties``) values."""
MAX_METADATA_VALUE = 256
MAX_PREFIX = 100
"""Longest ``aws.prefix`` whose code URI (``s3://<bucket, at most 63>/<prefix>/code/<sha256>/
sourcedir.tar.gz``) fits a metadata value."""
BUCKET = re.compile(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]")
ISO_DURATION = re.compile(r"P(?=\d|T\d)(\d+Y)?(\d+M)?(\d+W)?(\d+D)?(T(?=\d)(\d+H)?(\d+M)?(\d+S)?)?")

_NAME_RULE = "letters, digits and hyphens, starting and ending with a letter or digit"


def service_limit_problems(cfg: Config) -> list[str]:
    """One message per config value SageMaker (or S3) would refuse, each naming its key and fix."""
    checks = itertools.chain(_tuning_limits(cfg.tuning), _metadata_limits(cfg),
                             _name_limits(cfg), _security_limits(cfg.security),
                             _tag_limits(cfg.security.tags), _warm_start_limits(cfg.tuning))
    return [message for ok, message in checks if not ok]


def _tuning_limits(t: TuningConfig) -> Iterator[tuple[bool, str]]:
    """(ok, message) per limit: training jobs per tuning job, in all and in parallel."""
    yield (t.max_jobs <= MAX_TUNING_JOBS,
           f"tuning.max_jobs is {t.max_jobs}, above SageMaker's limit of {MAX_TUNING_JOBS} training jobs "
           f"per tuning job; set tuning.max_jobs to at most {MAX_TUNING_JOBS}.")
    yield (t.max_parallel_jobs <= MAX_PARALLEL_TUNING_JOBS,
           f"tuning.max_parallel_jobs is {t.max_parallel_jobs}, above SageMaker's limit of "
           f"{MAX_PARALLEL_TUNING_JOBS} parallel training jobs per tuning job; set it to at most "
           f"{MAX_PARALLEL_TUNING_JOBS}.")


def _metadata_limits(cfg: Config) -> Iterator[tuple[bool, str]]:
    """(ok, message) per value recorded in the model package's lineage metadata."""
    aws = cfg.aws
    target = cfg.data.target
    yield (len(target) <= MAX_METADATA_VALUE and TAG_TEXT.fullmatch(target) is not None,
           f"data.target {target!r} cannot be recorded in the model package's lineage metadata "
           "(hp:target), which accepts only letters, digits, spaces and _.:/=+-@ (at most 256); "
           "rename the label column.")
    data_uri = cfg.data.uri or ""
    yield (not data_uri.startswith("s3://") or (len(data_uri) <= MAX_METADATA_VALUE
                                                and TAG_TEXT.fullmatch(data_uri) is not None),
           f"data.uri {data_uri!r} cannot be recorded in the model package's lineage metadata "
           "(trainguard:data_uri), which accepts only letters, digits, spaces and _.:/=+-@ (at "
           "most 256); move the data to such a key.")
    prefix = aws.prefix.strip("/")
    yield (len(prefix) <= MAX_PREFIX and TAG_TEXT.fullmatch(prefix) is not None,
           f"aws.prefix {aws.prefix!r} must be at most {MAX_PREFIX} letters, digits and _.:/=+-@: "
           "the code bundle's S3 URI under it is recorded in the model package's lineage metadata "
           "(at most 256 characters).")


def _name_limits(cfg: Config) -> Iterator[tuple[bool, str]]:
    """(ok, message) per name, ARN, URI, count and duration the pipeline's resources get."""
    aws, group = cfg.aws, cfg.registry.model_package_group
    yield (PIPELINE_NAME.fullmatch(aws.pipeline_name) is not None,
           f"aws.pipeline_name {aws.pipeline_name!r} is not a SageMaker pipeline name: use "
           f"{_NAME_RULE}, at most 256 characters.")
    yield (MODEL_PACKAGE_GROUP.fullmatch(group) is not None,
           f"registry.model_package_group {group!r} is not a model package group name: use "
           f"{_NAME_RULE}, at most 63 characters.")
    yield (ROLE_ARN.fullmatch(aws.role_arn) is not None,
           f"aws.role_arn {aws.role_arn!r} is not an IAM role ARN SageMaker accepts: write it as "
           "arn:aws:iam::<12-digit account>:role/<name>.")
    yield (not aws.bucket or BUCKET.fullmatch(aws.bucket) is not None,
           f"aws.bucket {aws.bucket!r} is not an S3 bucket name: use 3-63 lowercase letters, "
           "digits, dots and hyphens, starting and ending with a letter or digit.")
    yield (not aws.image_uri or len(aws.image_uri) <= MAX_IMAGE_URI,
           f"aws.image_uri is {len(aws.image_uri or '')} characters long; SageMaker accepts at "
           f"most {MAX_IMAGE_URI}.")
    yield (aws.processing_instance_count <= MAX_PROCESSING_INSTANCES,
           f"aws.processing_instance_count must be at most {MAX_PROCESSING_INSTANCES} (a processing "
           f"job's limit); got {aws.processing_instance_count}.")
    yield (not aws.cache_steps or ISO_DURATION.fullmatch(aws.cache_expire_after) is not None,
           f"aws.cache_expire_after {aws.cache_expire_after!r} is not an ISO 8601 duration: write "
           "it like P30D (30 days), PT12H (12 hours) or P1M.")


def _security_limits(sec: SecurityConfig) -> Iterator[tuple[bool, str]]:
    """(ok, message) per job safeguard value: runtime, KMS key, subnets and security groups."""
    yield (sec.max_runtime_seconds <= MAX_PROCESSING_RUNTIME_SECONDS,
           f"security.max_runtime_seconds must be at most {MAX_PROCESSING_RUNTIME_SECONDS} (9 days, "
           f"the processing-job limit; every job gets this value); got {sec.max_runtime_seconds}.")
    yield (not sec.kms_key_id or (KMS_KEY.fullmatch(sec.kms_key_id) is not None
                                  and len(sec.kms_key_id) <= 2048),
           f"security.kms_key_id {sec.kms_key_id!r} is not a KMS key id, key ARN or alias SageMaker "
           "accepts (letters, digits, ':', '/', '_', '-').")
    for key, values, most in (("security.subnets", sec.subnets, MAX_SUBNETS),
                              ("security.security_group_ids", sec.security_group_ids,
                               MAX_SECURITY_GROUPS)):
        yield (len(values) <= most, f"{key} lists {len(values)} ids; a job accepts at most {most}.")
        bad = [v for v in values if VPC_ID.fullmatch(v) is None]
        yield (not bad, f"{key} has ids SageMaker refuses: {', '.join(map(repr, bad))}; give ids "
               "such as subnet-0abc123 / sg-0abc123 (letters, digits, hyphens; at most 32).")


def _tag_limits(tags: Mapping[str, str]) -> Iterator[tuple[bool, str]]:
    """(ok, message) per tag rule: how many, key and value text, no reserved ``aws:`` keys."""
    room = MAX_TAGS - 3  # the three cost-allocation tags every job carries
    yield (len(tags) <= room,
           f"security.tags has {len(tags)} tags; a job accepts at most {MAX_TAGS}, and 3 of them "
           f"are the cost-allocation tags, so give at most {room}.")
    for key, value in tags.items():
        where = f"security.tags.{key}"
        yield (1 <= len(key) <= 128 and TAG_TEXT.fullmatch(key) is not None,
               f"{where}: tag keys must be 1-128 letters, digits, spaces or _.:/=+-@.")
        yield (not key.lower().startswith("aws:"),
               f"{where}: the 'aws:' prefix is reserved for AWS; choose another tag key.")
        yield (len(value) <= 256 and TAG_TEXT.fullmatch(value) is not None,
               f"{where}: tag values must be at most 256 letters, digits, spaces or _.:/=+-@; "
               f"got {value!r}.")


def _warm_start_limits(t: TuningConfig) -> Iterator[tuple[bool, str]]:
    """(ok, message) per warm-start rule, when tuning is on: how many parents, their names."""
    if not t.enabled:
        return
    parents = t.warm_start_parents
    yield (len(parents) <= MAX_WARM_START_PARENTS,
           f"tuning.warm_start_parents lists {len(parents)} tuning jobs; a warm start takes at "
           f"most {MAX_WARM_START_PARENTS}.")
    bad = [p for p in parents if TUNING_JOB_NAME.fullmatch(p) is None]
    yield (not bad, f"tuning.warm_start_parents has names that are not tuning job names: "
           f"{', '.join(map(repr, bad))}; give the parent jobs' names ({_NAME_RULE}, at most 32).")


def check_service_limits(cfg: Config) -> None:
    """Raise ConfigError listing every value of ``cfg`` that SageMaker (or S3) would refuse."""
    problems = service_limit_problems(cfg)
    if len(problems) == 1:
        raise ConfigError(problems[0])
    if problems:
        raise ConfigError(f"{len(problems)} config problems:\n"
                          + "\n".join(f"  - {p}" for p in problems))
