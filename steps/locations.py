"""Where things live in S3, from the config alone: bucket, data URI, key joins (no SDK import).

Kept free of the SageMaker SDK so CI commands (upload, diff) can compute the same locations the
builder emits without importing it.
"""

from __future__ import annotations

from trainguard.training.config import Config
from trainguard.training.errors import ConfigError

__all__ = ["MONITOR_OUTPUT", "baseline_folder", "default_bucket", "default_data_uri", "monitor_output_uri",
           "monitoring_pipeline_name", "s3_join"]

MONITOR_OUTPUT = "monitor"
"""The drift check's output folder under its execution's run prefix (``runs/<ExecutionId>/monitor``)."""


def default_bucket(cfg: Config) -> str:
    """``aws.bucket``, or SageMaker's default ``sagemaker-<region>-<account of aws.role_arn>``.

    Raises ConfigError when no bucket is set and the role ARN carries no account id.
    """
    if cfg.aws.bucket:
        return cfg.aws.bucket
    parts = cfg.aws.role_arn.split(":")
    account = parts[4] if len(parts) >= 6 else ""
    if not (len(account) == 12 and account.isdigit()):
        raise ConfigError(
            f"aws.role_arn {cfg.aws.role_arn!r} has no 12-digit account id to name the default "
            "bucket sagemaker-<region>-<account>; give a full role ARN "
            "(arn:aws:iam::<account>:role/<name>) or set aws.bucket.")
    return f"sagemaker-{cfg.aws.region}-{account}"


def default_data_uri(cfg: Config, bucket: str) -> str:
    """``data.uri`` when it is an S3 URI, else ``s3://<bucket>/<prefix>/data/`` (uploaded there)."""
    uri = cfg.data.uri
    if uri and uri.startswith("s3://"):
        return uri
    return s3_join(bucket, cfg.aws.prefix, "data") + "/"


def s3_join(bucket: str, *parts: str) -> str:
    """Join an S3 bucket and key parts into ``s3://bucket/a/b`` (empty parts dropped)."""
    pieces = [seg for part in parts for seg in part.strip("/").split("/") if seg]
    return "s3://" + "/".join([bucket, *pieces])


def monitoring_pipeline_name(pipeline_name: str) -> str:
    """``<aws.pipeline_name>-monitor``, within SageMaker's 256-character pipeline name limit."""
    return f"{pipeline_name[:248]}-monitor"


def monitor_output_uri(cfg: Config, execution_id: str) -> str:
    """Where the monitoring execution ``execution_id`` writes its check: the run prefix that
    ``BuildContext.run_uri(MONITOR_OUTPUT)`` resolves to (no trailing slash)."""
    return s3_join(default_bucket(cfg), cfg.aws.prefix, "runs", execution_id, MONITOR_OUTPUT)


def baseline_folder(uri: str) -> str:
    """The baseline folder of a package's DriftCheckBaselines document URI (…/data_quality/x.json)."""
    for part in ("/data_quality/", "/model_quality/"):
        if part in uri:
            return uri.split(part, 1)[0] + "/"
    return uri if uri.endswith("/") else uri.rsplit("/", 1)[0] + "/"
