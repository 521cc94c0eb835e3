"""Shared plumbing for the CI commands: config from arguments, the local build, AWS clients, errors.

AWS failures become a DeployError (exit 2) whose message a CI log can act on: which call, which
code, what to do. Branching is on ``ClientError.response["Error"]["Code"]``, never message text.
boto3/botocore are imported inside the functions that talk to AWS, so ``lint --definition`` and
``iam-policy --definition`` load neither them nor the SageMaker SDK.
"""

from __future__ import annotations

import argparse
import contextlib
import os
from collections.abc import Callable, Collection, Iterator
from typing import Any, TypeVar

from trainguard.training.config import Config, load_config, parse_override
from trainguard.training.errors import TrainguardError

_T = TypeVar("_T")

__all__ = ["DeployError", "aws_errors", "build_definition", "build_definition_and_bundle", "client_config",
           "config_from_args", "describe_pipeline", "error_code", "make_session", "pipeline_clients"]

DEFAULT_MAX_ATTEMPTS = 5
"""botocore standard retry mode: throttling and 5xx are retried with backoff up to this many tries."""

_THROTTLING = {"Throttling", "ThrottlingException", "ThrottledException", "RequestLimitExceeded",
               "TooManyRequestsException", "SlowDown", "RequestThrottled"}
_DENIED = {"AccessDenied", "AccessDeniedException", "UnauthorizedOperation", "Forbidden",
           "AuthorizationError", "InvalidClientTokenId", "ExpiredToken", "ExpiredTokenException",
           "SignatureDoesNotMatch", "UnrecognizedClientException", "403"}
_CONFLICT = {"ConflictException", "ResourceInUse", "ConcurrentModificationException"}


class DeployError(TrainguardError):
    """An AWS call failed in a way the user can fix (credentials, permissions, conflicts); exit 2."""


def config_from_args(args: argparse.Namespace) -> Config:
    """The validated Config from ``--config FILE`` (or the defaults) and repeated ``--set k=v``."""
    overrides = dict(parse_override(o) for o in getattr(args, "overrides", None) or [])
    return load_config(getattr(args, "config", None), overrides)


_DEFINITIONS: dict[str, str] = {}


def build_definition(config: Config) -> str:
    """The pipeline definition JSON built locally from the config (the SDK is imported here).

    The build is a deterministic function of the config and the installed code, so it is made
    once per config in a process (e.g. lint then upsert, or diff then upsert, in one session).
    """
    import json

    key = json.dumps(config.to_dict(), sort_keys=True, default=str)
    if key not in _DEFINITIONS:
        from trainguard.pipelines.build import definition_json  # the SDK; it hides the AWS identity itself

        _DEFINITIONS[key] = definition_json(config)
    return _DEFINITIONS[key]


def client_config(max_attempts: int | None = None) -> Any:
    """botocore Config: standard retry mode (backoff on throttling) with bounded attempts.

    The bound is ``max_attempts``, else AWS_MAX_ATTEMPTS, else DEFAULT_MAX_ATTEMPTS; it counts
    every try including the first, as AWS_MAX_ATTEMPTS does.
    """
    from botocore.config import Config as BotoConfig

    raw = os.environ.get("AWS_MAX_ATTEMPTS") or DEFAULT_MAX_ATTEMPTS
    try:
        attempts = max_attempts or int(raw)
    except ValueError:
        raise DeployError(f"AWS_MAX_ATTEMPTS must be a whole number of attempts; got {raw!r}.") \
            from None
    # total_max_attempts counts the first try, like AWS_MAX_ATTEMPTS ("max_attempts" would not)
    return BotoConfig(retries={"mode": "standard", "total_max_attempts": max(1, attempts)},
                      user_agent_extra="trainguard")


def make_session(region: str | None, profile: str | None = None) -> Any:
    """A boto3 Session for the region and profile; DeployError when the profile or region is missing."""
    import boto3
    import botocore.exceptions

    if not region:
        raise DeployError("no AWS region: set aws.region in the config, pass --region, or set "
                          "AWS_REGION.")
    try:
        return boto3.Session(profile_name=profile or None, region_name=region)
    except botocore.exceptions.ProfileNotFound:
        name = profile or os.environ.get("AWS_PROFILE") or os.environ.get("AWS_DEFAULT_PROFILE")
        where = "--profile" if profile else "AWS_PROFILE"
        raise DeployError(f"AWS profile {name!r} ({where}) is not configured; pass an existing "
                          "--profile or unset AWS_PROFILE and provide credentials another way.") \
            from None


def error_code(exc: BaseException) -> str:
    """The AWS error code of a ClientError ('' for anything else)."""
    response = getattr(exc, "response", None) or {}
    return str((response.get("Error") or {}).get("Code", ""))


def unless_missing(action: str, call: Callable[[], _T],
                   missing: Collection[str] = ("ResourceNotFoundException",)) -> _T | None:
    """``call()``'s answer, or None when AWS says the resource is absent (an error code in
    ``missing``); every other failure goes through ``aws_errors(action)`` as ever."""
    import botocore.exceptions

    with aws_errors(action):
        try:
            return call()
        except botocore.exceptions.ClientError as exc:
            if error_code(exc) not in missing:
                raise
            return None


@contextlib.contextmanager
def aws_errors(action: str) -> Iterator[None]:
    """Turn botocore failures during ``action`` (e.g. 's3:PutObject') into an actionable DeployError."""
    import botocore.exceptions as bex

    try:
        yield
    except bex.NoCredentialsError:
        raise DeployError(
            f"{action}: no AWS credentials found. In CI, assume a role with OIDC "
            "(aws-actions/configure-aws-credentials); locally, set AWS_PROFILE or "
            "AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY."
        ) from None
    except bex.NoRegionError:
        raise DeployError(f"{action}: no AWS region; set aws.region, --region or AWS_REGION.") \
            from None
    except (bex.PartialCredentialsError, bex.CredentialRetrievalError, bex.TokenRetrievalError,
            bex.SSOError) as exc:
        raise DeployError(
            f"{action}: AWS credentials could not be loaded ({exc}). Set both AWS_ACCESS_KEY_ID "
            "and AWS_SECRET_ACCESS_KEY, or fix the profile / role settings; in CI, let "
            "aws-actions/configure-aws-credentials provide them."
        ) from None
    except (bex.EndpointConnectionError, bex.ConnectTimeoutError, bex.HTTPClientError) as exc:
        raise DeployError(f"{action}: cannot reach the AWS endpoint ({exc}); check the network, "
                          "AWS_ENDPOINT_URL or --endpoint-url.") from None
    except bex.ParamValidationError as exc:
        raise DeployError(f"{action}: AWS rejected the request's parameters: {exc}") from None
    except bex.BotoCoreError as exc:
        raise DeployError(f"{action}: the AWS client failed before AWS answered ({exc}); check "
                          "the AWS configuration (profile, region, credentials files).") from None
    except OSError as exc:
        # botocore reads credential files lazily, at the first call (e.g. a missing
        # AWS_WEB_IDENTITY_TOKEN_FILE surfaces here as FileNotFoundError)
        raise DeployError(
            f"{action}: cannot read an AWS credentials or configuration file "
            f"({exc.strerror or exc}: {exc.filename or '?'}); check AWS_WEB_IDENTITY_TOKEN_FILE, "
            "AWS_SHARED_CREDENTIALS_FILE and AWS_CONFIG_FILE."
        ) from None
    except bex.ClientError as exc:
        code = error_code(exc)
        message = (exc.response.get("Error") or {}).get("Message", "")
        if code in _DENIED:
            raise DeployError(
                f"{action}: access denied ({code}). Allow {action} for the CI identity on this "
                f"resource, or check that its credentials are current. AWS said: {message}"
            ) from None
        if code in _THROTTLING:
            raise DeployError(
                f"{action}: still throttled by AWS ({code}) after retrying with backoff; retry "
                "the job later or raise AWS_MAX_ATTEMPTS."
            ) from None
        if code in _CONFLICT:
            raise DeployError(
                f"{action}: the resource is being changed by someone else right now ({code}); "
                "wait for the other deployment to finish and run again (serialize CI deploys "
                "with a concurrency group)."
            ) from None
        raise DeployError(f"{action} failed ({code or 'unknown error'}): {message}") from None


# AWS answers ResourceNotFound for a missing pipeline; moto (the test endpoint) answers
# ValidationException. Treating the latter as "missing" is safe: a request that is really invalid
# fails again, with its own message, on the CreatePipeline that follows.
_NOT_FOUND = {"ResourceNotFound", "ResourceNotFoundException", "ValidationException"}


def pipeline_clients(cfg: Config, session: Any, endpoint_url: str | None) -> tuple[Any, Any]:
    """(s3, sagemaker) clients with the retry settings of ``client_config``."""
    conf = client_config()
    kwargs = {"endpoint_url": endpoint_url} if endpoint_url else {}
    # creating a client resolves the credentials, so their errors can surface here
    with aws_errors("AWS client setup"):
        return (session.client("s3", config=conf, **kwargs),
                session.client("sagemaker", config=conf, **kwargs))


def describe_pipeline(sm: Any, name: str) -> dict[str, Any] | None:
    """DescribePipeline's answer, or None when no pipeline has that name."""
    import botocore.exceptions

    with aws_errors("sagemaker:DescribePipeline"):
        try:
            return sm.describe_pipeline(PipelineName=name)
        except botocore.exceptions.ClientError as exc:
            if error_code(exc) in _NOT_FOUND:
                return None
            raise


def build_definition_and_bundle(cfg: Config) -> tuple[str, Any]:
    """The local definition JSON and the code bundle it references (both built once per process)."""
    from trainguard.pipelines.bundle import build_bundle

    return build_definition(cfg), build_bundle()
