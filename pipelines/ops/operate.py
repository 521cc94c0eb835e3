"""``trainguard ops``: the topic, the degradation alarms and the retraining triggers as one upsert.

upsert = check the input (topic region, schedule, thresholds) → topic → quality and drift alarms
(thresholds from the Approved package's baselines and the config) → dead-letter queue, starter,
schedule and alarm rule. ``diff`` runs the same comparison without writing; ``remove`` deletes
only what carries trainguard's tag; ``explain`` shows, offline, what a check result would fire.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from trainguard.pipelines.ci.aws import DeployError, make_session
from trainguard.pipelines.ops.alarms import (
    AlarmSpec,
    alarm_specs,
    check_topic,
    dead_letter_alarm,
    dead_letter_alarm_name,
    diff_alarms,
    package_baselines,
    quality_alarm_names,
    remove_alarms,
    topic_arn,
    topic_changes,
    upsert_alarms,
    upsert_topic,
)
from trainguard.pipelines.ops.common import Printer, account_of, clients
from trainguard.pipelines.ops.metrics import check_metrics
from trainguard.pipelines.ops.starter import check_cost
from trainguard.pipelines.ops.triggers import (
    check_schedule,
    check_timezone,
    remove_triggers,
    starter_name,
    upsert_triggers,
)
from trainguard.training.config import Config

__all__ = ["Firing", "explain", "ops_diff", "ops_remove", "ops_upsert"]

OWNER = "alarms"
_SERVICES = ("sns", "cloudwatch", "sagemaker", "s3", "sqs", "lambda", "scheduler", "events")


def _precheck(cfg: Config, starter_role: str | None, invoke_role: str | None) -> None:
    """Everything refusable without AWS, refused before any call."""
    check_topic(cfg)
    if cfg.triggers.schedule is not None:
        check_schedule(cfg.triggers.schedule)
    if cfg.triggers.monitor_schedule is not None:
        check_schedule(cfg.triggers.monitor_schedule, "triggers.monitor_schedule")
    if cfg.triggers.schedule is not None or cfg.triggers.monitor_schedule is not None:
        check_timezone(cfg.triggers.timezone)
    if _function_needed(cfg) and not (starter_role and invoke_role):
        raise DeployError("triggers need --starter-role-arn (the function's role) and "
                          "--invoke-role-arn (the role the schedule invokes it with); see trainguard "
                          "iam-policy --ops. Or set triggers.schedule=null, triggers.on_alarms=false "
                          "and triggers.on_monitor=false.")
    for role, flag in ((starter_role, "--starter-role-arn"), (invoke_role, "--invoke-role-arn")):
        if role and not account_of(role):
            raise DeployError(f"{flag} {role!r} is not an IAM role ARN (arn:aws:iam::<account>:role/<name>).")
    if not cfg.security.kms_key_id:
        raise DeployError("security.kms_key_id must be set: the topic, the queue, the starter and "
                          "the schedule are encrypted with it.")


def _function_needed(cfg: Config) -> bool:
    t = cfg.triggers
    return t.schedule is not None or t.on_alarms or t.on_monitor or t.monitor_schedule is not None


def _run(cfg: Config, session: Any, endpoint_url: str | None, starter_role: str | None,
         invoke_role: str | None, apply: bool, out: Printer, unchanged: list[str] | None = None
         ) -> list[str]:
    _precheck(cfg, starter_role, invoke_role)
    c = dict(zip(_SERVICES, clients(session, endpoint_url, *_SERVICES), strict=True))
    if cfg.cost.max_execution_usd is not None and (cfg.triggers.schedule is not None or cfg.triggers.on_alarms):
        # the starter refuses every start the limit refuses: say so now, not in the dead-letter queue
        check_cost(cfg, c["sagemaker"], {"TriggerReason": "schedule"}, out)
    account = account_of(cfg.aws.role_arn)
    baselines, _arn = package_baselines(c["s3"], c["sagemaker"], cfg)
    topic = topic_arn(cfg, account)
    specs = alarm_specs(cfg, topic, baselines, endpoint=False)  # threshold errors: before writes
    if _function_needed(cfg):
        specs.append(dead_letter_alarm(cfg, topic))
    lines = topic_changes(c["sns"], cfg, account)
    if apply:
        upsert_topic(c["sns"], cfg, account, out)
    alarm_lines, same = diff_alarms(c["cloudwatch"], specs)  # created / changed, with the fields
    lines += alarm_lines
    if unchanged is not None:
        unchanged += [f"alarm {n}" for n in same]
    if apply:
        upsert_alarms(c["cloudwatch"], cfg, specs, OWNER, out)
    retrain = [s.name for s in specs if s.retrain]
    arns = [f"arn:aws:cloudwatch:{cfg.aws.region}:{account}:alarm:{n}" for n in retrain]
    if _function_needed(cfg):
        ch = upsert_triggers(cfg, c, starter_role=str(starter_role), invoke_role=str(invoke_role),
                             alarm_arns=arns, account=account, apply=apply, out=out)
        lines += ch.lines
    return lines


def ops_upsert(cfg: Config, *, starter_role: str | None = None, invoke_role: str | None = None,
               endpoint_url: str | None = None, profile: str | None = None, session: Any = None,
               out: Printer = print) -> list[str]:
    """Create or update the topic, the alarms and the triggers; returns what changed ([]: no-op)."""
    _precheck(cfg, starter_role, invoke_role)
    session = session or make_session(cfg.aws.region, profile)
    return _run(cfg, session, endpoint_url, starter_role, invoke_role, True, out)


def ops_diff(cfg: Config, *, starter_role: str | None = None, invoke_role: str | None = None,
             endpoint_url: str | None = None, profile: str | None = None, session: Any = None,
             unchanged: list[str] | None = None) -> list[str]:
    """What ``ops_upsert`` would change, without writing anything; the alarms left as they are
    are appended to ``unchanged`` when given."""
    _precheck(cfg, starter_role, invoke_role)
    session = session or make_session(cfg.aws.region, profile)
    return _run(cfg, session, endpoint_url, starter_role, invoke_role, False, lambda _l: None, unchanged)


def ops_remove(cfg: Config, *, endpoint_url: str | None = None, profile: str | None = None,
               session: Any = None, out: Printer = print) -> list[str]:
    """Delete the triggers and the degradation alarms trainguard created (the topic stays: the
    endpoint's alarms and budgets may use it)."""
    session = session or make_session(cfg.aws.region, profile)
    c = dict(zip(_SERVICES, clients(session, endpoint_url, *_SERVICES), strict=True))
    gone = remove_triggers(cfg, c, out)
    alarms = remove_alarms(c["cloudwatch"], [*quality_alarm_names(cfg), dead_letter_alarm_name(cfg)], OWNER)
    for name in alarms:
        out(f"deleted alarm {name}")
    return gone + [f"alarm {n}" for n in alarms]


# --------------------------------------------------------------------------------------------
# explain: what a check result would fire (offline)


@dataclass
class Firing:
    """The explain view of one check: metric values, the alarms that would fire, and the start."""

    metrics: list[dict[str, Any]]
    firing: list[tuple[str, float, str, float]] = field(default_factory=list)
    """(alarm, value, operator, threshold) of each alarm that would go to ALARM."""
    quiet: list[tuple[str, float | None, str, float]] = field(default_factory=list)
    start: dict[str, Any] | None = None


def _breaches(spec: AlarmSpec, value: float) -> bool:
    op, threshold = spec.request["ComparisonOperator"], float(spec.request["Threshold"])
    return {"GreaterThanThreshold": value > threshold, "LessThanThreshold": value < threshold,
            "GreaterThanOrEqualToThreshold": value >= threshold,
            "LessThanOrEqualToThreshold": value <= threshold}[op]


def explain(cfg: Config, check: Mapping[str, Any], baselines: Mapping[str, float] | None,
            champion_bar: float | None = None) -> Firing:
    """Which degradation alarms ``check`` would set off and which start would follow. The
    ChampionBar is computed from the registry at start time; ``champion_bar`` shows it if known."""
    data = check_metrics(cfg, check)
    specs = alarm_specs(cfg, "arn:aws:sns:local:000000000000:explain", baselines, endpoint=False)
    result = Firing(metrics=data)
    for spec in specs:
        values = [d["Value"] for d in data if d["MetricName"] == spec.request["MetricName"]
                  and d["Dimensions"] == spec.request["Dimensions"]]
        row = (spec.name, values[0] if values else None, spec.request["ComparisonOperator"],
               float(spec.request["Threshold"]))
        if values and _breaches(spec, values[0]):
            result.firing.append(row)  # type: ignore[arg-type]
        else:
            result.quiet.append(row)
    retrain = [f for f in result.firing if f[0] in quality_alarm_names(cfg)]
    if retrain and cfg.triggers.on_alarms:
        result.start = {"pipeline": cfg.aws.pipeline_name, "via": starter_name(cfg),
                        "parameters": {"TriggerReason": f"alarm:{retrain[0][0]}",
                                       "ChampionBar": repr(champion_bar) if champion_bar is not None
                                       else f"from the registry at start ({cfg.approval.champion_metric} "
                                            f"of the newest Approved package + margin)"},
                        "also_firing": [f[0] for f in retrain[1:]]}
    return result


