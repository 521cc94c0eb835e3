"""Retraining triggers: an EventBridge Scheduler schedule and a rule on the degradation alarms;
and the rule that publishes each monitoring execution's check.

The first two invoke the starter function (``starter.py``), which computes ChampionBar from the
registry and starts the pipeline with ``TriggerReason``. The third invokes the same function when
the monitoring pipeline ends, which publishes that execution's check as the alarms' metrics.
Delivery is retried (``triggers.max_retries``, ``triggers.max_event_age_seconds``); what still
fails lands in an encrypted SQS dead-letter queue, as do invocations the function itself gave up
on (a start without a ChampionBar, a check it could not read). Every piece is compared before it
is written, so an unchanged config writes nothing.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from trainguard.pipelines.ci.aws import DeployError, aws_errors, error_code, unless_missing
from trainguard.pipelines.ops.common import MANAGED_TAG, Printer, managed_tags
from trainguard.pipelines.ops.metrics import ENDED, PIPELINE_EVENT
from trainguard.pipelines.ops.monitor_start import MONITOR_REASON
from trainguard.pipelines.ops.schedules import check_schedule, check_timezone
from trainguard.pipelines.ops.starter import CONFIG_ENV, starter_config
from trainguard.steps.locations import monitoring_pipeline_name
from trainguard.training.config import Config

__all__ = ["ALARM_RULE", "MONITOR_RULE", "MONITOR_SCHEDULE", "Changes", "alarm_rule", "check_schedule",
           "check_timezone", "monitor_rule", "monitor_schedule_request", "package_starter",
           "remove_triggers", "rule_name", "starter_name", "upsert_triggers"]

OWNER = "triggers"
ALARM_RULE = "-on-alarm"
MONITOR_RULE = "-on-monitor"
MONITOR_SCHEDULE = "-monitor"
_STATEMENT = {ALARM_RULE: "alarm-rule", MONITOR_RULE: "monitor-rule"}
"""The function's resource-policy statement that lets each rule invoke it."""
RUNTIME = "python3.12"


@dataclass
class Changes:
    """What an upsert wrote (or, with apply=False, would write): one line per resource."""
    lines: list[str] = field(default_factory=list)


def starter_name(cfg: Config) -> str:
    """The starter function's name (also the schedule's and the rules' name stem)."""
    return f"{cfg.aws.pipeline_name}-retrain"[:64]


def rule_name(cfg: Config, suffix: str) -> str:
    """The name of the function's rule ``suffix`` (ALARM_RULE, MONITOR_RULE), within EventBridge's
    64 characters."""
    return starter_name(cfg)[:64 - len(suffix)] + suffix


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


def _queue_url(sqs: Any, name: str) -> str | None:
    """The queue's URL, or None when there is no queue of that name."""
    found = unless_missing("sqs:GetQueueUrl", lambda: sqs.get_queue_url(QueueName=name),
                           ("AWS.SimpleQueueService.NonExistentQueue", "QueueDoesNotExist"))
    return found["QueueUrl"] if found is not None else None


def _dlq(sqs: Any, cfg: Config, apply: bool, ch: Changes) -> str:
    """The dead-letter queue's ARN (KMS-encrypted; created when missing)."""
    name = cfg.triggers.dead_letter_queue
    wanted = {"KmsMasterKeyId": str(cfg.security.kms_key_id), "MessageRetentionPeriod": "1209600"}
    url = _queue_url(sqs, name)
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
    name = starter_name(cfg)
    code = package_starter()
    sha = base64.b64encode(hashlib.sha256(code).digest()).decode()
    conf: dict[str, Any] = {
        "Role": role, "Runtime": RUNTIME, "Handler": "trainguard.pipelines.ops.starter.handler",
        "Timeout": 60, "MemorySize": 256, "KMSKeyArn": str(cfg.security.kms_key_id),
        "Environment": {"Variables": {CONFIG_ENV: json.dumps(starter_config(cfg), sort_keys=True)}}}
    found = unless_missing("lambda:GetFunction", lambda: lam.get_function(FunctionName=name))
    current = found["Configuration"] if found is not None else None
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
        got = unless_missing("lambda:GetFunctionEventInvokeConfig",
                             lambda: lam.get_function_event_invoke_config(FunctionName=name))
        if got is not None:
            seen_invoke = {k: got.get(k) for k in invoke}
            seen_invoke["DestinationConfig"] = {"OnFailure": (got.get("DestinationConfig") or {})
                                                .get("OnFailure") or {}}
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


def monitor_schedule_request(cfg: Config, function_arn: str, invoke_role: str, dlq: str) -> dict[str, Any]:
    """CreateSchedule's request for the monitoring pipeline: the function as target (it reads the
    champion's baselines, then starts the check), same retries, key and DLQ as the training one."""
    request = schedule_request(cfg, function_arn, invoke_role, dlq)
    request.update({"Name": rule_name(cfg, MONITOR_SCHEDULE),
                    "ScheduleExpression": str(cfg.triggers.monitor_schedule),
                    "Description": f"trainguard: check {cfg.aws.pipeline_name}'s data against the champion"})
    request["Target"] = {**request["Target"], "Input": json.dumps(
        {"reason": MONITOR_REASON, "scheduled_time": "<aws.scheduler.scheduled-time>"})}
    return request


def alarm_rule(cfg: Config, alarm_arns: list[str]) -> dict[str, Any]:
    """PutRule's request: the degradation alarms going to ALARM."""
    return {"Name": rule_name(cfg, ALARM_RULE), "State": "ENABLED",
            "Description": f"trainguard: retrain {cfg.aws.pipeline_name} when a degradation alarm fires",
            "EventPattern": json.dumps({"source": ["aws.cloudwatch"],
                                        "detail-type": ["CloudWatch Alarm State Change"],
                                        "resources": sorted(alarm_arns),
                                        "detail": {"state": {"value": ["ALARM"]}}}, sort_keys=True)}


def monitor_rule(cfg: Config, account: str) -> dict[str, Any]:
    """PutRule's request: the monitoring pipeline's executions ending (Succeeded, or Failed as
    DriftDetected fails it), for this pipeline only; matched without regard to case because
    SageMaker may report the pipeline's name in another case than it was created with."""
    pipeline = (f"arn:aws:sagemaker:{cfg.aws.region}:{account}:pipeline/"
                f"{monitoring_pipeline_name(cfg.aws.pipeline_name)}")
    return {"Name": rule_name(cfg, MONITOR_RULE), "State": "ENABLED",
            "Description": f"trainguard: publish each {monitoring_pipeline_name(cfg.aws.pipeline_name)} "
                           "check as the alarms' metrics",
            "EventPattern": json.dumps({"source": ["aws.sagemaker"], "detail-type": [PIPELINE_EVENT],
                                        "detail": {"currentPipelineExecutionStatus": list(ENDED),
                                                   "pipelineArn": [{"equals-ignore-case": pipeline}]}},
                                       sort_keys=True)}


def _schedule(sch: Any, cfg: Config, request: dict[str, Any], apply: bool, ch: Changes) -> None:

    name = request["Name"]
    current = unless_missing("scheduler:GetSchedule", lambda: sch.get_schedule(Name=name))
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


def _permitted(lam: Any, cfg: Config, sid: str, rule_arn: str) -> bool:
    """Whether the function's resource policy lets the rule ``rule_arn`` invoke it (statement ``sid``)."""
    found = unless_missing("lambda:GetPolicy", lambda: lam.get_policy(FunctionName=starter_name(cfg)))
    if found is None:
        return False
    policy = json.loads(found["Policy"])
    return any(st.get("Sid") == sid and rule_arn in json.dumps(st.get("Condition") or {})
               for st in policy.get("Statement") or [])


def _rule(ev: Any, lam: Any, cfg: Config, rule: dict[str, Any], function_arn: str, dlq: str,
          apply: bool, ch: Changes, what: str) -> None:
    """The rule, its one target (the function, with retries and the DLQ) and the function's
    permission for it; each written only when it differs. A rule of that name that trainguard did
    not create is refused, not overwritten."""
    import botocore.exceptions

    name = rule["Name"]
    sid = next(v for k, v in _STATEMENT.items() if name.endswith(k))
    current = unless_missing("events:DescribeRule", lambda: ev.describe_rule(Name=name))
    target = {"Id": "starter", "Arn": function_arn, "RetryPolicy": _retry(cfg),
              "DeadLetterConfig": {"Arn": dlq}}
    arn = current.get("Arn") if current is not None else None
    targets: list[dict[str, Any]] = []
    if current is not None:
        with aws_errors("events:ListTargetsByRule"):
            targets = ev.list_targets_by_rule(Rule=name).get("Targets") or []
    put = current is None or current.get("State") != rule["State"] or \
        json.loads(current.get("EventPattern") or "{}") != json.loads(rule["EventPattern"])
    # the rule invokes the function only through its statement (check it also when the function
    # was recreated while the rule stayed)
    permit = arn is None or not _permitted(lam, cfg, sid, str(arn))
    if current is not None and (put or permit or targets != [target]):
        with aws_errors("events:ListTagsForResource"):
            tags = ev.list_tags_for_resource(ResourceARN=arn).get("Tags") or []
        if {"Key": MANAGED_TAG, "Value": OWNER} not in tags:
            raise DeployError(f"EventBridge rule {name} exists but was not created by trainguard; "
                              "delete or rename it, or set the trigger off in the triggers section.")
    if put:
        ch.lines.append(f"+ rule {name} ({what})" if current is None else f"rule {name}: EventPattern")
        if apply:
            with aws_errors("events:PutRule"):
                arn = ev.put_rule(Tags=[{"Key": k, "Value": v} for k, v in
                                        sorted(managed_tags(cfg, OWNER).items())], **rule)["RuleArn"]
    if permit and current is not None:
        ch.lines.append(f"function {starter_name(cfg)}: permission for rule {name}")
    if permit and apply:
        grant = {"FunctionName": starter_name(cfg), "StatementId": sid, "Action": "lambda:InvokeFunction",
                 "Principal": "events.amazonaws.com", "SourceArn": arn}
        with aws_errors("lambda:AddPermission"):
            try:
                lam.add_permission(**grant)
            except botocore.exceptions.ClientError as exc:
                if error_code(exc) != "ResourceConflictException":
                    raise
                # a statement of that id for another source: replace it
                lam.remove_permission(FunctionName=starter_name(cfg), StatementId=sid)
                lam.add_permission(**grant)
    if targets != [target]:
        if current is not None:
            ch.lines.append(f"rule {name}: target")
        if apply:
            with aws_errors("events:PutTargets"):
                ev.put_targets(Rule=name, Targets=[target])


def upsert_triggers(cfg: Config, clients: dict[str, Any], *, starter_role: str, invoke_role: str,
                    alarm_arns: list[str], account: str, apply: bool = True, out: Printer = print) -> Changes:
    """Create or update the DLQ, the function, the schedule, the alarm rule and the monitoring
    rule; with ``apply=False`` only list what would change (the diff). Bad schedule input is
    refused first."""
    t = cfg.triggers
    if t.schedule is not None:
        check_schedule(t.schedule)
    if t.monitor_schedule is not None:
        check_schedule(t.monitor_schedule, "triggers.monitor_schedule")
    if t.schedule is not None or t.monitor_schedule is not None:
        check_timezone(t.timezone)
    ch = Changes()
    dlq = _dlq(clients["sqs"], cfg, apply, ch)
    fn = _function(clients["lambda"], cfg, starter_role, dlq, apply, ch)
    if t.schedule is not None:
        _schedule(clients["scheduler"], cfg, schedule_request(cfg, fn, invoke_role, dlq), apply, ch)
    if t.monitor_schedule is not None:
        _schedule(clients["scheduler"], cfg, monitor_schedule_request(cfg, fn, invoke_role, dlq), apply, ch)
    if t.on_alarms and alarm_arns:
        _rule(clients["events"], clients["lambda"], cfg, alarm_rule(cfg, alarm_arns), fn, dlq, apply, ch,
              "alarms → starter")
    if t.on_monitor:
        _rule(clients["events"], clients["lambda"], cfg, monitor_rule(cfg, account), fn, dlq, apply, ch,
              "monitoring ends → publish")
    if apply:
        for line in ch.lines:
            out(line)
    return ch


def _remove_rule(ev: Any, rule: str, out: Printer) -> bool:
    """Delete the rule ``rule`` (targets first) when it carries trainguard's tag; True if deleted."""
    found = unless_missing("events:DescribeRule", lambda: ev.describe_rule(Name=rule))
    if found is None:
        return False
    arn = found["Arn"]
    with aws_errors("events:ListTagsForResource"):
        tags = ev.list_tags_for_resource(ResourceARN=arn).get("Tags") or []
    if {"Key": MANAGED_TAG, "Value": OWNER} not in tags:
        out(f"rule {rule} was not created by trainguard; left in place")
        return False
    with aws_errors("events:DeleteRule"):
        targets = ev.list_targets_by_rule(Rule=rule).get("Targets") or []
        if targets:
            ev.remove_targets(Rule=rule, Ids=[t["Id"] for t in targets])
        ev.delete_rule(Name=rule)
    return True


def _remove_schedule(sch: Any, name: str, fn_arn: str) -> bool:
    """Delete the schedule ``name`` when it targets trainguard's function; True if deleted."""
    schedule = unless_missing("scheduler:GetSchedule", lambda: sch.get_schedule(Name=name))
    if schedule is None:
        return False
    if schedule.get("Target", {}).get("Arn") != fn_arn:
        return False
    with aws_errors("scheduler:DeleteSchedule"):
        sch.delete_schedule(Name=name)
    return True


def remove_triggers(cfg: Config, clients: dict[str, Any], out: Printer = print) -> list[str]:
    """Delete the rules, the schedule, the function and the DLQ, only those trainguard created:
    rules, function and queue by their tag; the schedule (Scheduler schedules take no tags) only
    while its target is trainguard's function."""
    name, gone = starter_name(cfg), []
    lam, ev, sch, sqs = clients["lambda"], clients["events"], clients["scheduler"], clients["sqs"]
    for rule in (rule_name(cfg, ALARM_RULE), rule_name(cfg, MONITOR_RULE)):
        if _remove_rule(ev, rule, out):
            gone.append(f"rule {rule}")
    fn = unless_missing("lambda:GetFunction", lambda: lam.get_function(FunctionName=name))
    ours = fn is not None and (fn.get("Tags") or {}).get(MANAGED_TAG) == OWNER
    if ours:
        fn_arn = fn["Configuration"]["FunctionArn"]
        for schedule_name in (name, rule_name(cfg, MONITOR_SCHEDULE)):
            if _remove_schedule(sch, schedule_name, fn_arn):
                gone.append(f"schedule {schedule_name}")
        with aws_errors("lambda:DeleteFunction"):
            lam.delete_function(FunctionName=name)
        gone.append(f"function {name}")
    elif fn is not None:
        out(f"function {name} was not created by trainguard; left in place with its schedule")
    url = _queue_url(sqs, cfg.triggers.dead_letter_queue)
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
