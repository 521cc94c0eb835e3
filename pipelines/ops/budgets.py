"""``trainguard budgets``: the pipeline's FinOps guard rails, deployed idempotently.

One KMS-encrypted SNS topic (``<pipeline>-cost-alerts``) receives every cost alert; the people in
``cost.alert_emails`` subscribe to it. Its policy lets AWS Budgets, Cost Anomaly Detection and
CloudWatch publish, each only for this account. On it hang:

- an AWS Budget (``cost.budget_usd`` a month) filtered on the pipeline's cost-allocation tag,
  notifying at 80% forecast and 100% actual;
- a Cost Anomaly Detection monitor for the same tag and an IMMEDIATE subscription (SNS takes
  only IMMEDIATE) for anomalies of at least ``cost.anomaly_threshold_usd``;
- under-use alarms per endpoint in ``cost.endpoints``: invocations near zero over a day, and
  average CPU (and, where GPUs are allowed, GPU) utilization below a floor over a day.

The cost-allocation tags must be activated (Billing console, or ce UpdateCostAllocationTagsStatus)
before the budget and the monitor see any spend: ``diff`` and ``deploy`` check ListCostAllocationTags
and say so; ``--activate-tags`` activates them. ``teardown`` deletes only what carries this
pipeline's tag (or, for the budget and the monitor, filters on it).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from trainguard.pipelines.ci.aws import aws_errors, client_config, error_code, unless_missing
from trainguard.pipelines.ops.finops_plan import (
    PIPELINE_TAG,
    Capacity,
    FinOpsPlan,
    alarm_specs,
    amount_text,
    budget_spec,
    monitor_spec,
    notification_specs,
    plan_finops,
    subscription_spec,
    topic_arn,
    topic_policy,
)
from trainguard.steps.cost_tags import COST_TAG_KEYS
from trainguard.training.config import Config

__all__ = ["Capacity", "Clients", "FinOpsPlan", "check_cost_allocation_tags", "diff_finops",
           "endpoint_capacity", "make_clients", "plan_finops", "teardown_finops", "topic_policy",
           "upsert_finops"]

Printer = Callable[[str], None]


# --------------------------------------------------------------------------------------------
# clients and reads


@dataclass(frozen=True)
class Clients:
    """The AWS clients ``trainguard budgets`` uses (ce and budgets are global: us-east-1)."""

    sts: Any
    sns: Any
    budgets: Any
    cloudwatch: Any
    ce: Any
    sagemaker: Any = None
    """Reads the watched endpoints' instance types (None: thresholds stay per vCPU)."""
    ec2: Any = None
    """DescribeInstanceTypes: vCPUs and GPUs of those instance types."""


def make_clients(cfg: Config, session: Any, endpoint_url: str | None = None) -> Clients:
    """Clients with standard retries; ``endpoint_url`` points them all at one endpoint (tests)."""
    conf = client_config()
    kw = {"endpoint_url": endpoint_url} if endpoint_url else {}
    with aws_errors("AWS client setup"):
        return Clients(sts=session.client("sts", config=conf, **kw),
                       sns=session.client("sns", config=conf, **kw),
                       budgets=session.client("budgets", region_name="us-east-1", config=conf, **kw),
                       cloudwatch=session.client("cloudwatch", config=conf, **kw),
                       ce=session.client("ce", region_name="us-east-1", config=conf, **kw),
                       sagemaker=session.client("sagemaker", config=conf, **kw),
                       ec2=session.client("ec2", config=conf, **kw))


def _account(clients: Clients) -> str:
    with aws_errors("sts:GetCallerIdentity"):
        return str(clients.sts.get_caller_identity()["Account"])


def endpoint_capacity(plan: FinOpsPlan, clients: Clients) -> Capacity:
    """vCPUs and GPUs of one instance of each watched variant that exists (DescribeEndpoint,
    DescribeEndpointConfig, ec2:DescribeInstanceTypes); a missing endpoint is left out."""
    import botocore.exceptions
    from trainguard.pipelines.ops.deploy import describe_endpoint

    out: Capacity = {}
    if clients.sagemaker is None or clients.ec2 is None:
        return out
    for name, variant in plan.endpoints:
        endpoint = describe_endpoint(clients.sagemaker, name)
        if endpoint is None:
            continue
        with aws_errors("sagemaker:DescribeEndpointConfig"):
            conf = clients.sagemaker.describe_endpoint_config(EndpointConfigName=endpoint["EndpointConfigName"])
        itype = next((str(v.get("InstanceType") or "") for v in conf.get("ProductionVariants") or []
                      if v.get("VariantName") == variant), "")
        if not itype.startswith("ml."):  # serverless variants have no instance type
            continue
        with aws_errors("ec2:DescribeInstanceTypes"):
            try:
                found = clients.ec2.describe_instance_types(InstanceTypes=[itype[3:]]).get("InstanceTypes") or []
            except botocore.exceptions.ClientError as exc:
                if error_code(exc) != "InvalidInstanceType":  # a SageMaker-only type: per vCPU
                    raise
                found = []
        if found:
            info = found[0]
            gpus = sum(int(g.get("Count") or 0) for g in (info.get("GpuInfo") or {}).get("Gpus") or [])
            out[(name, variant)] = (int((info.get("VCpuInfo") or {}).get("DefaultVCpus") or 1), max(gpus, 1))
    return out


def check_cost_allocation_tags(ce: Any, keys: tuple[str, ...] = COST_TAG_KEYS) -> list[str]:
    """The cost-allocation tag keys that are not Active (inactive, or never seen on a bill yet)."""
    with aws_errors("ce:ListCostAllocationTags"):
        found = ce.list_cost_allocation_tags(TagKeys=list(keys), Type="UserDefined")
    active = {t["TagKey"] for t in found.get("CostAllocationTags") or [] if t.get("Status") == "Active"}
    return [k for k in keys if k not in active]


def _tag_message(inactive: list[str]) -> str:
    return (f"cost-allocation tag(s) {', '.join(inactive)} are not active: the budget and the anomaly "
            "monitor see no spend until they are. Activate them in the Billing console (Cost "
            "allocation tags) or rerun with --activate-tags; a tag appears there only after a tagged "
            "job has run, and activation takes up to 24 hours to apply.")


def _topic(clients: Clients, arn: str) -> dict[str, str] | None:
    found = unless_missing("sns:GetTopicAttributes", lambda: clients.sns.get_topic_attributes(TopicArn=arn),
                           ("NotFound", "NotFoundException"))
    return found["Attributes"] if found is not None else None


def _budget(clients: Clients, account: str, name: str) -> dict[str, Any] | None:
    found = unless_missing("budgets:DescribeBudget",
                           lambda: clients.budgets.describe_budget(AccountId=account, BudgetName=name),
                           ("NotFoundException",))
    return found["Budget"] if found is not None else None


def _notifications(clients: Clients, account: str, name: str) -> list[dict[str, Any]]:
    with aws_errors("budgets:DescribeNotificationsForBudget"):
        resp = clients.budgets.describe_notifications_for_budget(AccountId=account, BudgetName=name)
    return [{k: n.get(k) for k in ("NotificationType", "ComparisonOperator", "Threshold", "ThresholdType")}
            for n in resp.get("Notifications") or []]


def _monitor(clients: Clients, name: str) -> dict[str, Any] | None:
    with aws_errors("ce:GetAnomalyMonitors"):
        token = None
        while True:
            resp = clients.ce.get_anomaly_monitors(**({"NextPageToken": token} if token else {}))
            for m in resp.get("AnomalyMonitors") or []:
                if m.get("MonitorName") == name:
                    return m
            token = resp.get("NextPageToken")
            if not token:
                return None


def _subscription(clients: Clients, name: str) -> dict[str, Any] | None:
    with aws_errors("ce:GetAnomalySubscriptions"):
        token = None
        while True:
            resp = clients.ce.get_anomaly_subscriptions(**({"NextPageToken": token} if token else {}))
            for s in resp.get("AnomalySubscriptions") or []:
                if s.get("SubscriptionName") == name:
                    return s
            token = resp.get("NextPageToken")
            if not token:
                return None


def _alarms(clients: Clients, names: list[str]) -> dict[str, dict[str, Any]]:
    if not names:
        return {}
    with aws_errors("cloudwatch:DescribeAlarms"):
        resp = clients.cloudwatch.describe_alarms(AlarmNames=names)
    return {a["AlarmName"]: a for a in resp.get("MetricAlarms") or []}


def _same_alarm(current: dict[str, Any], want: dict[str, Any]) -> bool:
    keys = ("Namespace", "MetricName", "Statistic", "Period", "EvaluationPeriods", "Threshold",
            "ComparisonOperator", "TreatMissingData", "AlarmActions")
    dims = sorted((d["Name"], d["Value"]) for d in current.get("Dimensions") or [])
    return all(current.get(k) == want[k] for k in keys) and \
        dims == sorted((d["Name"], d["Value"]) for d in want["Dimensions"])


def _same_budget(current: dict[str, Any], want: dict[str, Any]) -> bool:
    limit = current.get("BudgetLimit") or {}
    return (float(limit.get("Amount", "nan")) == float(want["BudgetLimit"]["Amount"])
            and limit.get("Unit") == want["BudgetLimit"]["Unit"]
            and current.get("TimeUnit") == want["TimeUnit"]
            and current.get("CostFilters") == want["CostFilters"])


def _same_subscription(current: dict[str, Any], want: dict[str, Any]) -> bool:
    return (current.get("Frequency") == want["Frequency"]
            and current.get("ThresholdExpression") == want["ThresholdExpression"]
            and [(s.get("Type"), s.get("Address")) for s in current.get("Subscribers") or []]
            == [(s["Type"], s["Address"]) for s in want["Subscribers"]]
            and current.get("MonitorArnList") == want["MonitorArnList"])


# --------------------------------------------------------------------------------------------
# diff, upsert, teardown


def diff_finops(plan: FinOpsPlan, clients: Clients) -> list[str]:
    """What ``deploy`` would change ([] when everything is in place), tag activation included."""
    account = _account(clients)
    arn = topic_arn(plan, account)
    out: list[str] = []
    attrs = _topic(clients, arn)
    if attrs is None:
        out.append(f"topic {plan.topic_name}: to create")
    else:
        if attrs.get("KmsMasterKeyId") != plan.kms_key_id:
            out.append(f"topic {plan.topic_name}: KMS key to set to {plan.kms_key_id}")
        if json.loads(attrs.get("Policy") or "{}") != topic_policy(plan, account):
            out.append(f"topic {plan.topic_name}: access policy to update")
    budget = _budget(clients, account, plan.budget_name)
    if budget is None:
        out.append(f"budget {plan.budget_name}: to create ({amount_text(plan.amount)} {plan.currency} a month)")
    else:
        if not _same_budget(budget, budget_spec(plan)):
            out.append(f"budget {plan.budget_name}: to update")
        have = _notifications(clients, account, plan.budget_name)
        for n in notification_specs():
            if n not in have:
                out.append(f"budget {plan.budget_name}: notification {n['NotificationType']} "
                           f"> {n['Threshold']:g}% to add")
    monitor = _monitor(clients, plan.monitor_name)
    if monitor is None:
        out.append(f"anomaly monitor {plan.monitor_name}: to create")
    elif monitor.get("MonitorSpecification") != monitor_spec(plan)["MonitorSpecification"]:
        out.append(f"anomaly monitor {plan.monitor_name}: watches other spend; to replace")
    sub = _subscription(clients, plan.subscription_name)
    if sub is None:
        out.append(f"anomaly subscription {plan.subscription_name}: to create")
    elif monitor is not None and not _same_subscription(
            sub, subscription_spec(plan, monitor["MonitorArn"], arn)):
        out.append(f"anomaly subscription {plan.subscription_name}: to update")
    want = alarm_specs(plan, arn, endpoint_capacity(plan, clients))
    have_alarms = _alarms(clients, [a["AlarmName"] for a in want])
    for a in want:
        if a["AlarmName"] not in have_alarms:
            out.append(f"alarm {a['AlarmName']}: to create")
        elif not _same_alarm(have_alarms[a["AlarmName"]], a):
            out.append(f"alarm {a['AlarmName']}: to update")
    inactive = check_cost_allocation_tags(clients.ce)
    if inactive:
        out.append(_tag_message(inactive))
    return out


def upsert_finops(plan: FinOpsPlan, clients: Clients, *, activate_tags: bool = False,
                  out: Printer = print) -> list[str]:
    """Create or update every resource of the plan; returns what changed ([] on a rerun)."""
    account = _account(clients)
    tags = [{"Key": k, "Value": v} for k, v in plan.tags]
    arn, done = _upsert_topic(plan, clients, account, tags)
    done.extend(_subscribe_emails(plan, clients, arn))
    done.extend(_upsert_budget(plan, clients, account, arn))
    done.extend(_upsert_anomaly_detection(plan, clients, arn, tags))
    done.extend(_upsert_alarms(plan, clients, arn, tags))
    done.extend(_activate_cost_tags(clients, activate_tags, out))
    for line in done:
        out(line)
    return done


def _upsert_topic(plan: FinOpsPlan, clients: Clients, account: str,
                  tags: list[dict[str, str]]) -> tuple[str, list[str]]:
    """(topic ARN, changes): the KMS-encrypted alert topic with its access policy."""
    arn = topic_arn(plan, account)
    done: list[str] = []
    attrs = _topic(clients, arn)
    policy = topic_policy(plan, account)
    if attrs is None:
        with aws_errors("sns:CreateTopic"):
            made = clients.sns.create_topic(Name=plan.topic_name, Tags=tags, Attributes={
                "KmsMasterKeyId": plan.kms_key_id, "Policy": json.dumps(policy)})
        arn = made["TopicArn"]
        done.append(f"topic {plan.topic_name} created (KMS-encrypted)")
    else:
        if attrs.get("KmsMasterKeyId") != plan.kms_key_id:
            with aws_errors("sns:SetTopicAttributes"):
                clients.sns.set_topic_attributes(TopicArn=arn, AttributeName="KmsMasterKeyId",
                                                 AttributeValue=plan.kms_key_id)
            done.append(f"topic {plan.topic_name}: KMS key set")
        if json.loads(attrs.get("Policy") or "{}") != policy:
            with aws_errors("sns:SetTopicAttributes"):
                clients.sns.set_topic_attributes(TopicArn=arn, AttributeName="Policy",
                                                 AttributeValue=json.dumps(policy))
            done.append(f"topic {plan.topic_name}: access policy updated")
    return arn, done


def _upsert_budget(plan: FinOpsPlan, clients: Clients, account: str, arn: str) -> list[str]:
    """The monthly budget and its forecast and actual notifications to the topic."""
    done: list[str] = []
    subscribers = [{"SubscriptionType": "SNS", "Address": arn}]
    budget = _budget(clients, account, plan.budget_name)
    spec = budget_spec(plan)
    if budget is None:
        with aws_errors("budgets:CreateBudget"):
            clients.budgets.create_budget(AccountId=account, Budget=spec, NotificationsWithSubscribers=[
                {"Notification": n, "Subscribers": subscribers} for n in notification_specs()])
        done.append(f"budget {plan.budget_name} created ({spec['BudgetLimit']['Amount']} "
                    f"{plan.currency} a month, alerts at 80% forecast and 100% actual)")
    else:
        if not _same_budget(budget, spec):
            with aws_errors("budgets:UpdateBudget"):
                clients.budgets.update_budget(AccountId=account, NewBudget=spec)
            done.append(f"budget {plan.budget_name} updated")
        have = _notifications(clients, account, plan.budget_name)
        for n in notification_specs():
            if n not in have:
                with aws_errors("budgets:CreateNotification"):
                    clients.budgets.create_notification(AccountId=account, BudgetName=plan.budget_name,
                                                        Notification=n, Subscribers=subscribers)
                done.append(f"budget {plan.budget_name}: notification {n['NotificationType']} added")

    return done


def _upsert_anomaly_detection(plan: FinOpsPlan, clients: Clients, arn: str,
                              tags: list[dict[str, str]]) -> list[str]:
    """The anomaly monitor (replaced when its specification changed) and its subscription."""
    done: list[str] = []
    monitor = _monitor(clients, plan.monitor_name)
    want_monitor = monitor_spec(plan)
    if monitor is not None and monitor.get("MonitorSpecification") != want_monitor["MonitorSpecification"]:
        with aws_errors("ce:DeleteAnomalyMonitor"):  # a monitor's specification cannot be updated
            clients.ce.delete_anomaly_monitor(MonitorArn=monitor["MonitorArn"])
        monitor = None
    if monitor is None:
        with aws_errors("ce:CreateAnomalyMonitor"):
            monitor_arn = clients.ce.create_anomaly_monitor(AnomalyMonitor=want_monitor,
                                                            ResourceTags=tags)["MonitorArn"]
        done.append(f"anomaly monitor {plan.monitor_name} created")
    else:
        monitor_arn = monitor["MonitorArn"]
    sub = _subscription(clients, plan.subscription_name)
    want_sub = subscription_spec(plan, monitor_arn, arn)
    if sub is None:
        with aws_errors("ce:CreateAnomalySubscription"):
            clients.ce.create_anomaly_subscription(AnomalySubscription=want_sub, ResourceTags=tags)
        done.append(f"anomaly subscription {plan.subscription_name} created (IMMEDIATE, SNS)")
    elif not _same_subscription(sub, want_sub):
        with aws_errors("ce:UpdateAnomalySubscription"):
            clients.ce.update_anomaly_subscription(
                SubscriptionArn=sub["SubscriptionArn"], Frequency="IMMEDIATE",
                MonitorArnList=want_sub["MonitorArnList"], Subscribers=want_sub["Subscribers"],
                ThresholdExpression=want_sub["ThresholdExpression"])
        done.append(f"anomaly subscription {plan.subscription_name} updated")

    return done


def _upsert_alarms(plan: FinOpsPlan, clients: Clients, arn: str, tags: list[dict[str, str]]) -> list[str]:
    """The under-use alarms, put where missing or different."""
    done: list[str] = []
    want = alarm_specs(plan, arn, endpoint_capacity(plan, clients))
    have_alarms = _alarms(clients, [a["AlarmName"] for a in want])
    for a in want:
        current = have_alarms.get(a["AlarmName"])
        if current is None or not _same_alarm(current, a):
            with aws_errors("cloudwatch:PutMetricAlarm"):
                clients.cloudwatch.put_metric_alarm(**a, Tags=tags)
            done.append(f"alarm {a['AlarmName']} {'created' if current is None else 'updated'}")

    return done


def _activate_cost_tags(clients: Clients, activate_tags: bool, out: Printer) -> list[str]:
    """Activate inactive cost-allocation tags when asked; else warn that spend is not seen yet."""
    done: list[str] = []
    inactive = check_cost_allocation_tags(clients.ce)
    if inactive and activate_tags:
        with aws_errors("ce:UpdateCostAllocationTagsStatus"):
            clients.ce.update_cost_allocation_tags_status(CostAllocationTagsStatus=[
                {"TagKey": k, "Status": "Active"} for k in inactive])
        done.append(f"cost-allocation tags activated: {', '.join(inactive)}")
    elif inactive:
        out(f"warning: {_tag_message(inactive)}")
    return done


def _subscribe_emails(plan: FinOpsPlan, clients: Clients, arn: str) -> list[str]:
    if not plan.emails:
        return []
    with aws_errors("sns:ListSubscriptionsByTopic"):
        subs = clients.sns.list_subscriptions_by_topic(TopicArn=arn).get("Subscriptions") or []
    have = {s.get("Endpoint") for s in subs if s.get("Protocol") == "email"}
    done = []
    for email in plan.emails:
        if email not in have:
            with aws_errors("sns:Subscribe"):
                clients.sns.subscribe(TopicArn=arn, Protocol="email", Endpoint=email)
            done.append(f"{email} subscribed to {plan.topic_name} (they must confirm the email)")
    return done


def _tagged_ours(tags: list[dict[str, str]], plan: FinOpsPlan) -> bool:
    return any(t.get("Key") == PIPELINE_TAG and t.get("Value") == plan.pipeline for t in tags)


def teardown_finops(plan: FinOpsPlan, clients: Clients, out: Printer = print) -> list[str]:
    """Delete what ``deploy`` made for this pipeline, and only that: each resource must carry the
    pipeline's tag (topic, alarms) or filter on it (budget, monitor); anything else is left."""
    account = _account(clients)
    arn = topic_arn(plan, account)
    done: list[str] = []
    want = alarm_specs(plan, arn)
    for name, alarm in _alarms(clients, [a["AlarmName"] for a in want]).items():
        with aws_errors("cloudwatch:ListTagsForResource"):
            tags = clients.cloudwatch.list_tags_for_resource(ResourceARN=alarm["AlarmArn"]).get("Tags") or []
        if _tagged_ours(tags, plan):
            with aws_errors("cloudwatch:DeleteAlarms"):
                clients.cloudwatch.delete_alarms(AlarmNames=[name])
            done.append(f"alarm {name} deleted")
        else:
            out(f"alarm {name} kept: it does not carry {PIPELINE_TAG}={plan.pipeline}")
    monitor = _monitor(clients, plan.monitor_name)
    sub = _subscription(clients, plan.subscription_name)
    if sub is not None and monitor is not None and sub.get("MonitorArnList") == [monitor["MonitorArn"]]:
        with aws_errors("ce:DeleteAnomalySubscription"):
            clients.ce.delete_anomaly_subscription(SubscriptionArn=sub["SubscriptionArn"])
        done.append(f"anomaly subscription {plan.subscription_name} deleted")
    if monitor is not None:
        if monitor.get("MonitorSpecification") == monitor_spec(plan)["MonitorSpecification"]:
            with aws_errors("ce:DeleteAnomalyMonitor"):
                clients.ce.delete_anomaly_monitor(MonitorArn=monitor["MonitorArn"])
            done.append(f"anomaly monitor {plan.monitor_name} deleted")
        else:
            out(f"anomaly monitor {plan.monitor_name} kept: it does not watch {PIPELINE_TAG}={plan.pipeline}")
    budget = _budget(clients, account, plan.budget_name)
    if budget is not None:
        if budget.get("CostFilters") == budget_spec(plan)["CostFilters"]:
            with aws_errors("budgets:DeleteBudget"):
                clients.budgets.delete_budget(AccountId=account, BudgetName=plan.budget_name)
            done.append(f"budget {plan.budget_name} deleted")
        else:
            out(f"budget {plan.budget_name} kept: it does not filter on {plan.tag_filter}")
    if _topic(clients, arn) is not None:
        with aws_errors("sns:ListTagsForResource"):
            tags = clients.sns.list_tags_for_resource(ResourceArn=arn).get("Tags") or []
        if _tagged_ours(tags, plan):
            with aws_errors("sns:DeleteTopic"):
                clients.sns.delete_topic(TopicArn=arn)
            done.append(f"topic {plan.topic_name} deleted")
        else:
            out(f"topic {plan.topic_name} kept: it does not carry {PIPELINE_TAG}={plan.pipeline}")
    for line in done:
        out(line)
    return done
