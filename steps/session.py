"""An offline PipelineSession and the scope in which the SDK builds steps without any network call.

Building a definition needs no AWS: the region comes from the config, the default bucket is set
without probing S3, the SDK's defaults files are not read (both config-file locations point at
the empty ``os.devnull``, so a user's ``~/.config/sagemaker/config.yaml`` cannot change the
definition, and the SDK skips its per-lookup schema validation), role validation is off and the
instance-metadata probe is disabled. The SDK's telemetry sends a background request from every
decorated call (``model_trainer.train`` among them) and no environment variable turns it off;
inside ``offline_sdk()`` only, its sender is replaced by a no-op and restored on exit, so a user's
own later SDK calls keep their telemetry settings. The replacement is module-global: while a build
runs (a fraction of a second to a few seconds, or a ``build_context()`` block, under a lock), SDK
calls from other threads of the same process send no telemetry either.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
import warnings
from collections.abc import Iterator
from typing import Any

from trainguard.steps.sdk import CREDENTIAL_ENV, PipelineSession, boto3, telemetry_logging, workflow_steps

__all__ = ["OFFLINE_ENV", "offline_sdk", "offline_session"]

OFFLINE_ENV = {
    "SAGEMAKER_VALIDATE_ROLE": "false",
    "AWS_EC2_METADATA_DISABLED": "true",
    "SAGEMAKER_ADMIN_CONFIG_OVERRIDE": os.devnull,
    "SAGEMAKER_USER_CONFIG_OVERRIDE": os.devnull,
}
"""Environment of the build: no role check, no metadata probe, no SDK defaults files."""
_LOCK = threading.RLock()


@contextlib.contextmanager
def offline_sdk(region: str) -> Iterator[None]:
    """Scope in which SDK objects are built offline; restores env, telemetry and logging after.

    Sets ``OFFLINE_ENV`` and, when unset, ``AWS_DEFAULT_REGION``; hides the AWS identity settings
    (``CREDENTIAL_ENV``: the build needs none, and a broken profile would fail it); silences the SDK's
    INFO/WARNING chatter about skipped waits and popped job names; disables telemetry sending.
    Re-entrant; holds a lock so two threads do not interleave their patches.
    """
    with _LOCK:
        saved_env = {k: os.environ.get(k) for k in (*OFFLINE_ENV, "AWS_DEFAULT_REGION", *CREDENTIAL_ENV)}
        os.environ.update(OFFLINE_ENV)
        for key in CREDENTIAL_ENV:
            os.environ.pop(key, None)
        if not os.environ.get("AWS_DEFAULT_REGION"):
            os.environ["AWS_DEFAULT_REGION"] = region
        saved_levels = {}
        for name in _sdk_loggers():
            logger = logging.getLogger(name)
            saved_levels[name] = logger.level
            logger.setLevel(logging.ERROR)
        try:
            with _telemetry_disabled(), _no_throwaway_local_session(), warnings.catch_warnings():
                # "Running within a PipelineSession, there will be No Wait...": expected here.
                warnings.simplefilter("ignore", UserWarning)
                yield
        finally:
            for name, level in saved_levels.items():
                logging.getLogger(name).setLevel(level)
            for key, value in saved_env.items():
                if value is None:
                    os.environ.pop(key, None)
                else:
                    os.environ[key] = value


def offline_session(region: str, bucket: str) -> Any:
    """A ``PipelineSession`` for ``region`` whose default bucket is ``bucket``, set without probing.

    Call inside ``offline_sdk()``. Credentials are never needed: creating clients makes no call.
    """
    session = PipelineSession(boto_session=_boto_session(region))
    if session.sagemaker_config:
        raise RuntimeError("offline_session() must be called inside offline_sdk(): SDK defaults "
                           "files were read")
    # default_bucket() would check (and try to create) the bucket in S3; a set value is returned as is.
    session._default_bucket = bucket
    session._default_bucket_set_by_sdk = False
    return session


_BOTO_SESSIONS: dict[str, Any] = {}


def _boto_session(region: str) -> Any:
    """One boto3 Session per region and process: its loader caches the service models, so a
    second build does not re-read them (builds hold ``_LOCK``, so sharing it is safe). Its
    credentials, if any, are resolved once, when a pipeline's clients first need them (e.g. a
    user's own ``pipeline.upsert()``); trainguard's own deploy uses its own clients."""
    if region not in _BOTO_SESSIONS:
        _BOTO_SESSIONS[region] = boto3.Session(region_name=region)
    return _BOTO_SESSIONS[region]


def _sdk_loggers() -> list[str]:
    """The SDK's loggers (some set their own DEBUG/INFO level, so the parent's is not enough)."""
    names = [n for n in logging.root.manager.loggerDict if n.split(".")[0] == "sagemaker"]
    return sorted({"sagemaker", *names})


@contextlib.contextmanager
def _telemetry_disabled() -> Iterator[None]:
    """Replace the SDK's telemetry sender by a no-op for the duration of the block."""

    def _no_send(*_args: Any, **_kwargs: Any) -> None:
        return None

    saved = telemetry_logging._send_telemetry_request
    telemetry_logging._send_telemetry_request = _no_send
    try:
        yield
    finally:
        telemetry_logging._send_telemetry_request = saved


@contextlib.contextmanager
def _no_throwaway_local_session() -> Iterator[None]:
    """Let ``ProcessingStep``/``TransformStep`` read their local-mode method names without a session.

    Their constructors build a ``LocalSagemakerClient()`` only to read
    ``create_processing_job.__name__``; without a session argument that client makes a
    ``LocalSession`` on a new ``boto3.Session``, which re-reads botocore's service models: about
    0.4 s per step, most of a build. Inside the scope the name is read from a client given a
    placeholder session; nothing in the definition depends on it.
    """
    real = workflow_steps.LocalSagemakerClient

    def _names_only(sagemaker_session: Any = None) -> Any:
        return real(sagemaker_session=sagemaker_session if sagemaker_session is not None else _NO_SESSION)

    workflow_steps.LocalSagemakerClient = _names_only
    try:
        yield
    finally:
        workflow_steps.LocalSagemakerClient = real


_NO_SESSION = object()
"""Stands for the session of a LocalSagemakerClient that is only asked for method names."""
