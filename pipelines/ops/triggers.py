"""Retraining triggers: an EventBridge Scheduler schedule and a rule per degradation alarm.

Both invoke the starter function (``starter.py``), which computes ChampionBar from the registry
and starts the pipeline with ``TriggerReason``. Delivery is retried (``triggers.max_retries``,
``triggers.max_event_age_seconds``); what still fails lands in an encrypted SQS dead-letter queue,
as do starts the function itself gave up on. Every piece is compared before it is written, so an
unchanged config writes nothing.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import re
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from trainguard.pipelines.ci.aws import DeployError, aws_errors, error_code
from trainguard.pipelines.ops.common import MANAGED_TAG, Printer, managed_tags
from trainguard.pipelines.ops.starter import CONFIG_ENV, starter_config
from trainguard.training.config import Config

__all__ = ["Changes", "check_schedule", "package_starter", "remove_triggers", "starter_name",
           "upsert_triggers"]

OWNER = "triggers"
RUNTIME = "python3.12"
_RATE = re.compile(r"^rate\((\d+) (minute|minutes|hour|hours|day|days)\)$")
_AT = re.compile(r"^at\((\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})\)$")
_MONTHS = "JAN|FEB|MAR|APR|MAY|JUN|JUL|AUG|SEP|OCT|NOV|DEC"
_DAYS = "SUN|MON|TUE|WED|THU|FRI|SAT"
# Each cron field: its name, numeric range, extra names and the special characters it allows
# (EventBridge Scheduler user guide, "Cron-based schedules").
_CRON_FIELDS = [("minutes", 0, 59, "", ",-*/"), ("hours", 0, 23, "", ",-*/"),
                ("day-of-month", 1, 31, "", ",-*?/LW"), ("month", 1, 12, _MONTHS, ",-*/"),
                ("day-of-week", 1, 7, _DAYS, ",-*?L#"), ("year", 1970, 2199, "", ",-*/")]


@dataclass
class Changes:
    """What an upsert wrote (or, with apply=False, would write): one line per resource."""

    lines: list[str] = field(default_factory=list)


def _bad(expr: str, why: str) -> DeployError:
    return DeployError(f"triggers.schedule {expr!r} is refused by EventBridge Scheduler: {why}. "
                       "Use rate(7 days), cron(0 3 ? * MON *) (six fields) or at(2030-01-31T03:00:00).")


def check_schedule(expr: str) -> None:
    """DeployError naming triggers.schedule unless EventBridge Scheduler accepts the expression."""
    m = _RATE.match(expr)
    if m:
        if int(m.group(1)) < 1:
            raise _bad(expr, "a rate's value must be a positive whole number")
        return
    m = _AT.match(expr)
    if m:
        import datetime as dt

        try:
            dt.datetime(*map(int, m.groups()))
        except ValueError:
            raise _bad(expr, "at(...) is not a real date and time") from None
        return
    if not (expr.startswith("cron(") and expr.endswith(")")):
        raise _bad(expr, "an expression is rate(value unit), cron(fields) or at(yyyy-mm-ddThh:mm:ss)")
    fields = expr[5:-1].split()
    if len(fields) != 6:
        raise _bad(expr, f"cron takes six fields (minutes hours day-of-month month day-of-week "
                         f"year); got {len(fields)}")
    for value, (name, low, high, names, special) in zip(fields, _CRON_FIELDS, strict=True):
        token = rf"(\d+|{names})" if names else r"(\d+)"
        allowed = re.compile(rf"^([{re.escape(special)}]|{token}|L|W|#)+$")
        if not allowed.match(value.upper()):
            raise _bad(expr, f"the {name} field {value!r} uses characters that field does not allow")
        for number in re.findall(r"\d+", value if "/" not in value and "#" not in value else
                                 value.split("/")[0].split("#")[0]):
            if not low <= int(number) <= high:
                raise _bad(expr, f"the {name} field {value!r} is outside {low}-{high}")
    if (fields[2] == "?") == (fields[4] == "?"):
        raise _bad(expr, "exactly one of day-of-month and day-of-week must be '?'")


def _check_timezone(tz: str) -> None:
    import zoneinfo

    try:
        zoneinfo.ZoneInfo(tz)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise DeployError(f"triggers.timezone {tz!r} is not an IANA time zone (e.g. UTC, "
                          "Europe/Paris).") from None


def starter_name(cfg: Config) -> str:
    """The starter function's name (also the schedule's and the rules' name stem)."""
    return f"{cfg.aws.pipeline_name}-retrain"[:64]


def package_starter() -> bytes:
    """A deterministic zip of the trainguard package for the starter function (the Lambda
    runtime provides boto3; the starter imports nothing else outside the standard library),
    with the price table its cost guard reads (``ops/prices.json``)."""
    import trainguard

    root = Path(trainguard.__file__).resolve().parent
    dirs = {"trainguard": root}
    for sub in ("pipelines", "steps", "training"):
        mod = __import__(f"trainguard.{sub}", fromlist=["_"])
        dirs[f"trainguard/{sub}"] = Path(mod.__file__).resolve().parent
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for prefix, folder in sorted(dirs.items()):
            paths = sorted(folder.rglob("*.py") if prefix != "trainguard" else folder.glob("*.py"))
            if prefix == "trainguard/pipelines":
                paths.append(folder / "ops" / "prices.json")
            for path in paths:
                info = zipfile.ZipInfo(f"{prefix}/{path.relative_to(folder).as_posix()}", (1980, 1, 1, 0, 0, 0))
                info.external_attr = 0o644 << 16
                zf.writestr(info, path.read_bytes())
    return buf.getvalue()


def _dlq(sqs: Any, cfg: Config, apply: bool, ch: Changes) -> str:
    """The dead-letter queue's ARN (KMS-encrypted; created when missing)."""
    import botocore.exceptions

    name = cfg.triggers.dead_letter_queue
    wanted = {"KmsMasterKeyId": str(cfg.security.kms_key_id), "MessageRetentionPeriod": "1209600"}
    with aws_errors("sqs:GetQueueUrl"):
        try:
            url = sqs.get_queue_url(QueueName=name)["QueueUrl"]
        except botocore.exceptions.ClientError as exc:
            if error_code(exc) not in {"AWS.SimpleQueueService.NonExistentQueue", "QueueDoesNotExist"}:
                raise
            url = None
    if url is None:
        ch.lines.append(f"+ queue {name} (KMS-encrypted dead-letter queue)")
        if not apply:
            return f"arn:aws:sqs:{cfg.aws.region}:<account>:{name}"
        with aws_errors("sqs:CreateQueue"):
            url = sqs.create_queue(QueueName=name, Attributes=wanted,
                                   tags=managed_tags(cfg, OWNER))["QueueUrl"]
    with aws_errors("sqs:GetQueueAttributes"):
        attrs = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    differ = {k: v for k, v in wanted.items() if attrs.get(k) != v}
    if differ and ch.lines[-1:] != [f"+ queue {name} (KMS-encrypted dead-letter queue)"]:
        ch.lines.append(f"queue {name}: {', '.join(sorted(differ))}")
        if apply:
            with aws_errors("sqs:SetQueueAttributes"):
                sqs.set_queue_attributes(QueueUrl=url, Attributes=differ)
    return str(attrs["QueueArn"])


def _function(lam: Any, cfg: Config, role: str, dlq: str, apply: bool, ch: Changes) -> str:
    """The starter function's ARN; created, or its code/configuration updated, only when different."""
    import botocore.exceptions

    name = starter_name(cfg)
    code = package_starter()
    sha = base64.b64encode(hashlib.sha256(code).digest()).decode()
    conf: dict[str, Any] = {
        "Role": role, "Runtime": RUNTIME, "Handler": "trainguard.pipelines.ops.starter.handler",
        "Timeout": 60, "MemorySize": 256, "KMSKeyArn": str(cfg.security.kms_key_id),
        "Environment": {"Variables": {CONFIG_ENV: json.dumps(starter_config(cfg), sort_keys=True)}}}
    with aws_errors("lambda:GetFunction"):
        try:
            current = lam.get_function(FunctionName=name)["Configuration"]
        except botocore.exceptions.ClientError as exc:
            if error_code(exc) != "ResourceNotFoundException":
                raise
            current = None
    if current is None:
        ch.lines.append(f"+ function {name} (the retraining starter)")
        if not apply:
            return f"arn:aws:lambda:{cfg.aws.region}:<account>:function:{name}"
        with aws_errors("lambda:CreateFunction"):
            arn = lam.create_function(FunctionName=name, Code={"ZipFile": code},
                                      Tags=managed_tags(cfg, OWNER), **conf)["FunctionArn"]
    else:
        arn = current["FunctionArn"]
        if current.get("CodeSha256") != sha:
            ch.lines.append(f"function {name}: code")
            if apply:
                with aws_errors("lambda:UpdateFunctionCode"):
                    lam.update_function_code(FunctionName=name, ZipFile=code)
        seen = {"Role": current.get("Role"), "Runtime": current.get("Runtime"),
                "Handler": current.get("Handler"), "Timeout": current.get("Timeout"),
                "MemorySize": current.get("MemorySize"), "KMSKeyArn": current.get("KMSKeyArn"),
                "Environment": {"Variables": (current.get("Environment") or {}).get("Variables") or {}}}
        if seen != conf:
            ch.lines.append(f"function {name}: " + ", ".join(k for k in conf if seen.get(k) != conf[k]))
            if apply:
                with aws_errors("lambda:UpdateFunctionConfiguration"):
                    lam.update_function_configuration(FunctionName=name, **conf)
    # a start the function gave up on (after Lambda's own two retries) goes to the same queue,
    # with the event and the error
    # Lambda keeps an asynchronous event at most 6 hours (EventBridge and Scheduler: 24)
    invoke = {"MaximumRetryAttempts": 2,
              "MaximumEventAgeInSeconds": min(cfg.triggers.max_event_age_seconds, 21600),
              "DestinationConfig": {"OnFailure": {"Destination": dlq}}}
    seen_invoke: dict[str, Any] = {}
    if current is not None:
        with aws_errors("lambda:GetFunctionEventInvokeConfig"):
            try:
                got = lam.get_function_event_invoke_config(FunctionName=name)
                seen_invoke = {k: got.get(k) for k in invoke}
                seen_invoke["DestinationConfig"] = {"OnFailure": (got.get("DestinationConfig") or {})
                                                    .get("OnFailure") or {}}
            except botocore.exceptions.ClientError as exc:
                if error_code(exc) != "ResourceNotFoundException":
                    raise
    if seen_invoke != invoke:
        ch.lines.append(f"function {name}: retries and on-failure queue")
        if apply:
            with aws_errors("lambda:PutFunctionEventInvokeConfig"):
                lam.put_function_event_invoke_config(FunctionName=name, **invoke)
    return str(arn)


def _retry(cfg: Config) -> dict[str, int]:
    return {"MaximumRetryAttempts": cfg.triggers.max_retries,
            "MaximumEventAgeInSeconds": cfg.triggers.max_event_age_seconds}


def schedule_request(cfg: Config, function_arn: str, invoke_role: str, dlq: str) -> dict[str, Any]:
    """CreateSchedule's request: the starter as target, input saying why, retries and the DLQ."""
    return {"Name": starter_name(cfg), "ScheduleExpression": str(cfg.triggers.schedule),
            "ScheduleExpressionTimezone": cfg.triggers.timezone, "State": "ENABLED",
            "FlexibleTimeWindow": {"Mode": "OFF"}, "KmsKeyArn": str(cfg.security.kms_key_id),
            "Description": f"trainguard: retrain {cfg.aws.pipeline_name} on schedule",
            "Target": {"Arn": function_arn, "RoleArn": invoke_role,
                       "Input": json.dumps({"reason": "schedule",
                                             "scheduled_time": "<aws.scheduler.scheduled-time>"}),
                       "RetryPolicy": _retry(cfg), "DeadLetterConfig": {"Arn": dlq}}}


def alarm_rule(cfg: Config, alarm_arns: list[str]) -> dict[str, Any]:
    """PutRule's request: the degradation alarms going to ALARM."""
    return {"Name": starter_name(cfg) + "-on-alarm", "State": "ENABLED",
            "Description": f"trainguard: retrain {cfg.aws.pipeline_name} when a degradation alarm fires",
            "EventPattern": json.dumps({"source": ["aws.cloudwatch"],
                                        "detail-type": ["CloudWatch Alarm State Change"],
                                        "resources": sorted(alarm_arns),
                                        "detail": {"state": {"value": ["ALARM"]}}}, sort_keys=True)}


def _schedule(sch: Any, cfg: Config, request: dict[str, Any], apply: bool, ch: Changes) -> None:
    import botocore.exceptions

    name = request["Name"]
    with aws_errors("scheduler:GetSchedule"):
        try:
            current = sch.get_schedule(Name=name)
        except botocore.exceptions.ClientError as exc:
            if error_code(exc) != "ResourceNotFoundException":
                raise
            current = None
    if current is None:
        ch.lines.append(f"+ schedule {name} ({request['ScheduleExpression']})")
        if apply:
            with aws_errors("scheduler:CreateSchedule"):
                sch.create_schedule(**request)
        return
    seen = {k: current.get(k) for k in request if k != "Name"}
    seen["Target"] = {k: current.get("Target", {}).get(k) for k in request["Target"]}
    wanted = {k: v for k, v in request.items() if k != "Name"}
    if seen != wanted:
        ch.lines.append(f"schedule {name}: " + ", ".join(k for k in wanted if seen.get(k) != wanted[k]))
        if apply:
            with aws_errors("scheduler:UpdateSchedule"):
                sch.update_schedule(**request)


def _rule(ev: Any, lam: Any, cfg: Config, rule: dict[str, Any], function_arn: str, dlq: str,
          apply: bool, ch: Changes) -> None:
    import botocore.exceptions

    name = rule["Name"]
    with aws_errors("events:DescribeRule"):
        try:
            current = ev.describe_rule(Name=name)
        except botocore.exceptions.ClientError as exc:
            if error_code(exc) != "ResourceNotFoundException":
                raise
            current = None
    target = {"Id": "starter", "Arn": function_arn, "RetryPolicy": _retry(cfg),
              "DeadLetterConfig": {"Arn": dlq}}
    if current is None or json.loads(current.get("EventPattern") or "{}") != json.loads(rule["EventPattern"]) \
            or current.get("State") != rule["State"]:
        ch.lines.append(f"{'+ ' if current is None else ''}rule {name} (alarms → starter)")
        if apply:
            with aws_errors("events:PutRule"):
                arn = ev.put_rule(Tags=[{"Key": k, "Value": v} for k, v in
                                        sorted(managed_tags(cfg, OWNER).items())], **rule)["RuleArn"]
            with aws_errors("lambda:AddPermission"):
                try:
                    lam.add_permission(FunctionName=starter_name(cfg), StatementId="alarm-rule",
                                       Action="lambda:InvokeFunction", Principal="events.amazonaws.com",
                                       SourceArn=arn)
                except botocore.exceptions.ClientError as exc:
                    if error_code(exc) != "ResourceConflictException":
                        raise
    with aws_errors("events:ListTargetsByRule"):
        try:
            targets = ev.list_targets_by_rule(Rule=name).get("Targets") or []
        except botocore.exceptions.ClientError as exc:
            if error_code(exc) != "ResourceNotFoundException":
                raise
            targets = []
    if targets != [target]:
        if current is not None:
            ch.lines.append(f"rule {name}: target")
        if apply:
            with aws_errors("events:PutTargets"):
                ev.put_targets(Rule=name, Targets=[target])


def upsert_triggers(cfg: Config, clients: dict[str, Any], *, starter_role: str, invoke_role: str,
                    alarm_arns: list[str], apply: bool = True, out: Printer = print) -> Changes:
    """Create or update the DLQ, the starter, the schedule and the alarm rule; with
    ``apply=False`` only list what would change (the diff). Bad schedule input is refused first."""
    t = cfg.triggers
    if t.schedule is not None:
        check_schedule(t.schedule)
    _check_timezone(t.timezone)
    ch = Changes()
    dlq = _dlq(clients["sqs"], cfg, apply, ch)
    fn = _function(clients["lambda"], cfg, starter_role, dlq, apply, ch)
    if t.schedule is not None:
        _schedule(clients["scheduler"], cfg, schedule_request(cfg, fn, invoke_role, dlq), apply, ch)
    if t.on_alarms and alarm_arns:
        _rule(clients["events"], clients["lambda"], cfg, alarm_rule(cfg, alarm_arns), fn, dlq, apply, ch)
    if apply:
        for line in ch.lines:
            out(line)
    return ch


def remove_triggers(cfg: Config, clients: dict[str, Any], out: Printer = print) -> list[str]:
    """Delete the schedule, the rule, the starter and the DLQ, only those trainguard created."""
    import botocore.exceptions

    name, gone = starter_name(cfg), []
    lam, ev, sch, sqs = clients["lambda"], clients["events"], clients["scheduler"], clients["sqs"]
    with aws_errors("lambda:GetFunction"):
        try:
            fn = lam.get_function(FunctionName=name)
        except botocore.exceptions.ClientError as exc:
            if error_code(exc) != "ResourceNotFoundException":
                raise
            fn = None
    ours = fn is not None and (fn.get("Tags") or {}).get(MANAGED_TAG) == OWNER
    if ours:
        fn_arn = fn["Configuration"]["FunctionArn"]
        with aws_errors("scheduler:GetSchedule"):
            try:
                schedule = sch.get_schedule(Name=name)
            except botocore.exceptions.ClientError as exc:
                if error_code(exc) != "ResourceNotFoundException":
                    raise
                schedule = None
        if schedule is not None and schedule.get("Target", {}).get("Arn") == fn_arn:
            with aws_errors("scheduler:DeleteSchedule"):
                sch.delete_schedule(Name=name)
            gone.append(f"schedule {name}")
        rule = name + "-on-alarm"
        with aws_errors("events:ListTargetsByRule"):
            try:
                targets = ev.list_targets_by_rule(Rule=rule).get("Targets") or []
            except botocore.exceptions.ClientError as exc:
                if error_code(exc) != "ResourceNotFoundException":
                    raise
                targets = None
        if targets is not None and all(t["Arn"] == fn_arn for t in targets):
            with aws_errors("events:DeleteRule"):
                if targets:
                    ev.remove_targets(Rule=rule, Ids=[t["Id"] for t in targets])
                ev.delete_rule(Name=rule)
            gone.append(f"rule {rule}")
        with aws_errors("lambda:DeleteFunction"):
            lam.delete_function(FunctionName=name)
        gone.append(f"function {name}")
    elif fn is not None:
        out(f"function {name} was not created by trainguard; left in place with what invokes it")
    with aws_errors("sqs:GetQueueUrl"):
        try:
            url = sqs.get_queue_url(QueueName=cfg.triggers.dead_letter_queue)["QueueUrl"]
        except botocore.exceptions.ClientError:
            url = None
    if url is not None:
        with aws_errors("sqs:ListQueueTags"):
            tags = sqs.list_queue_tags(QueueUrl=url).get("Tags") or {}
        if tags.get(MANAGED_TAG) == OWNER:
            with aws_errors("sqs:DeleteQueue"):
                sqs.delete_queue(QueueUrl=url)
            gone.append(f"queue {cfg.triggers.dead_letter_queue}")
    for item in gone:
        out(f"deleted {item}")
    return gone
