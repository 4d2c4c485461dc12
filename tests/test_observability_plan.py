"""The observability program under mocks, over the real upstream plans (dev, prod, seed-B profile, DMS on)."""

from __future__ import annotations

import gc
import json
import logging
from typing import Any

import boto3
import pytest
from botocore.validate import validate_parameters
from moto import mock_aws

from payments.core.contract import EXPORTS
from payments.core.errors import ConfigError
from payments.layers.observability import dashboards
from payments.plan.engine import LayerPlan, PlannedResource, plan_environment
from tests.support import of_type, one, plan

TOPIC = "aws:sns/topic:Topic"
TOPIC_POLICY = "aws:sns/topicPolicy:TopicPolicy"
SUBSCRIPTION = "aws:sns/topicSubscription:TopicSubscription"
KEY = "aws:kms/key:Key"
ALARM = "aws:cloudwatch/metricAlarm:MetricAlarm"
GATE = "aws:cloudwatch/compositeAlarm:CompositeAlarm"
DASHBOARD = "aws:cloudwatch/dashboard:Dashboard"

#: The seed-B profile: EC2 Auto Scaling group and RDS MySQL; this layer mirrors both choices.
SEED_B = {"edge": {"computeMode": "ec2"}, "app": {"computeMode": "ec2"}, "data": {"engine": "mysql"},
          "observability": {"computeMode": "ec2", "dbEngine": "mysql"}}
DMS_ON = {"observability": {"dmsEnabled": True}}
# A program that fails inside an apply (the mismatch tests) abandons Output coroutines that never started; the
# garbage collector may finalize them during any later test of this module.
pytestmark = pytest.mark.filterwarnings("ignore:coroutine 'Output.:RuntimeWarning")
WITH_UPSTREAMS = ["data", "edge", "app", "observability"]


def obs(env: str = "dev", overrides: dict[str, dict[str, Any]] | None = None) -> LayerPlan:
    return plan(env, ["observability"], overrides).layer("observability")


def alarms_by_name(lp: LayerPlan) -> dict[str, PlannedResource]:
    return {r.inputs["name"]: r for r in of_type(lp, ALARM)}


@pytest.mark.parametrize("env", ["dev", "prod"])
def test_every_alarm_notifies_the_encrypted_topic(env: str) -> None:
    lp = obs(env)
    topic = one(lp, TOPIC)
    key = one(lp, KEY)
    assert topic.inputs["kmsMasterKeyId"] == lp.outputs["alarmTopicKeyArn"]
    assert key.inputs["enableKeyRotation"] is True
    statements = {s.get("Sid"): s for s in json.loads(key.inputs["policy"])["Statement"]}
    assert statements["CloudWatchAlarms"]["Principal"] == {"Service": "cloudwatch.amazonaws.com"}
    topic_arn = lp.outputs["alarmTopicArn"]
    assert topic_arn.endswith(f":alarms-{env}")
    for alarm in [*of_type(lp, ALARM), one(lp, GATE)]:
        assert alarm.inputs["alarmActions"] == [topic_arn], alarm.name
        assert alarm.inputs["okActions"] == [topic_arn], alarm.name
    policy = json.loads(one(lp, TOPIC_POLICY).inputs["policy"])
    assert {s["Sid"] for s in policy["Statement"]} == {"AccountPrincipals", "CloudWatchAlarms", "DenyInsecureTransport"}
    assert all(s["Resource"] == topic_arn for s in policy["Statement"])


@pytest.mark.parametrize("env", ["dev", "prod"])
def test_email_subscriptions_come_from_config(env: str) -> None:
    subs = of_type(obs(env), SUBSCRIPTION)
    assert [s.inputs["protocol"] for s in subs] == ["email"]
    two = of_type(obs(env, {"observability": {"alarmEmails": ["a@example.com", "b@example.com"]}}), SUBSCRIPTION)
    assert sorted(s.inputs["endpoint"] for s in two) == ["a@example.com", "b@example.com"]
    assert of_type(obs(env, {"observability": {"alarmEmails": []}}), SUBSCRIPTION) == []


def test_alarm_dimensions_are_the_upstream_exports() -> None:
    p = plan("dev", WITH_UPSTREAMS)
    edge, data, app = p.layer("edge").outputs, p.layer("data").outputs, p.layer("app").outputs
    alarms = alarms_by_name(p.layer("observability"))
    assert alarms["tg-green-5xx-dev"].inputs["dimensions"] == {
        "LoadBalancer": edge["albArnSuffix"], "TargetGroup": edge["targetGroupArnSuffixes"]["green"]}
    assert alarms["db-acu-high-dev"].inputs["dimensions"] == {"DBClusterIdentifier": data["dbIdentifier"]}
    assert alarms["ecs-blue-cpu-high-dev"].inputs["dimensions"] == {
        "ClusterName": app["clusterName"], "ServiceName": app["serviceNames"]["blue"]}


def test_gate_is_a_composite_over_the_gate_alarms_that_exist() -> None:
    lp = obs("prod", DMS_ON)
    gate = one(lp, GATE)
    names = set(alarms_by_name(lp))
    members = set(gate.inputs["alarmRule"].replace('ALARM("', "").replace('")', "").split(" OR "))
    assert members <= names
    assert {"tg-blue-unhealthy-prod", "tg-blue-conn-errors-prod", "tg-green-latency-p99-prod",
            "db-connections-high-prod", "dms-cdc-latency-source-prod", "dms-cdc-latency-target-prod"} <= members
    assert not {n for n in members if "legacy" in n or n.startswith("ecs-")}
    assert "alb-5xx-prod" not in members  # no TargetGroup dimension: it cannot say which pool fails
    assert lp.outputs["gateMemberNames"] == sorted(members, key=lp.outputs["gateMemberNames"].index)
    assert lp.outputs["gateWindowSeconds"] == 240
    assert lp.outputs["gateAlarmName"] == "cutover-gate-prod" == gate.inputs["alarmName"]


def test_dms_alarms_only_when_dms_is_on() -> None:
    off, on = obs("dev"), obs("dev", DMS_ON)
    assert not any(k.startswith("dms") for k in off.outputs["alarmNames"])
    assert len(on.outputs["alarmNames"]) - len(off.outputs["alarmNames"]) == 2
    assert {"dmsCdcLatencySource", "dmsCdcLatencyTarget"} <= set(on.outputs["alarmNames"])
    dims = alarms_by_name(on)["dms-cdc-latency-target-dev"].inputs["dimensions"]
    assert dims == {"ReplicationInstanceIdentifier": "dms-dev", "ReplicationTaskIdentifier": "dms-task-dev"}


def test_seed_b_profile_watches_the_auto_scaling_group_and_rds() -> None:
    p = plan("dev", WITH_UPSTREAMS, SEED_B)
    names = p.layer("observability").outputs["alarmNames"]
    assert "asgCpuHigh" in names and "dbFreeStorageLow" in names and len(names) == 17  # as docs/observability.md says
    assert not any(k.startswith("ecs") or k in ("dbAcuHigh", "dbReplicaLag") for k in names)
    asg = alarms_by_name(p.layer("observability"))["asg-cpu-high-dev"]
    assert asg.inputs["dimensions"] == {"AutoScalingGroupName": p.layer("app").outputs["asgName"]}


@pytest.mark.parametrize(("overrides", "key"), [
    ({"observability": {"computeMode": "ec2"}}, "computeMode"),
    ({"observability": {"dbEngine": "mysql"}}, "dbEngine"),
])
def test_a_mirror_setting_that_disagrees_with_the_upstream_stops_the_program(overrides: dict, key: str) -> None:
    with pytest.raises(ConfigError) as err:
        plan("dev", ["observability"], overrides)
    assert err.value.key == f"payments-observability:{key}"
    assert "but the" in str(err.value) and "Fix:" in str(err.value)


def test_a_program_that_fails_leaves_no_error_for_the_garbage_collector_to_log(caplog: pytest.LogCaptureFixture
                                                                                ) -> None:
    """The registrations a failed program left in flight are cancelled with it. Left alone, each failed later with
    nobody to read its error, and asyncio logged it with a traceback whenever the garbage collector found it: in an
    unrelated test, where Python 3.11's traceback formatting broke an ``ast.parse`` in progress (CPython gh-106905,
    "AST constructor recursion depth mismatch")."""
    gc.collect()
    caplog.clear()
    with caplog.at_level(logging.ERROR, logger="asyncio"):
        failed = []
        for _ in range(2):  # the SDK lets go of a run's RPCs when the next run starts
            try:
                plan_environment("dev", ["observability"], overrides={"observability": {"dbEngine": "mysql"}})
            except ConfigError as error:  # not pytest.raises: its record of the error would keep the program alive
                failed.append(error.key)
        assert failed == ["payments-observability:dbEngine"] * 2
        gc.collect()
    assert [r.getMessage() for r in caplog.records if r.name == "asyncio"] == []


@pytest.mark.parametrize("env", ["dev", "prod"])
def test_exports_match_the_contract_and_name_the_dashboards(env: str) -> None:
    lp = obs(env)
    declared = {o.name for o in EXPORTS["observability"]}
    assert set(lp.outputs) == declared
    assert lp.outputs["dashboardNames"] == {b: f"payments-{b}-{env}" for b in ("application", "database", "migration")}
    assert set(lp.outputs["alarmNames"]) == set(lp.outputs["alarmArns"])
    assert len(lp.outputs["alarmNames"]) == 21  # Fargate + Aurora, as docs/observability.md says
    assert {r.inputs["dashboardName"] for r in of_type(lp, DASHBOARD)} == set(lp.outputs["dashboardNames"].values())


PLANS = {"dev": ("dev", None), "prod": ("prod", None), "seed-b": ("dev", SEED_B), "dms": ("prod", DMS_ON)}


@pytest.mark.parametrize("profile", PLANS)
def test_planned_dashboard_bodies_pass_validation_and_put_dashboard(profile: str) -> None:
    env, overrides = PLANS[profile]
    lp = obs(env, overrides)
    with mock_aws():
        cw = boto3.client("cloudwatch", region_name="us-east-1")
        for board in of_type(lp, DASHBOARD):
            body = board.inputs["dashboardBody"]
            assert dashboards.validate(json.loads(body)) == [], board.name
            response = cw.put_dashboard(DashboardName=board.inputs["dashboardName"], DashboardBody=body)
            assert response["DashboardValidationMessages"] == []


def put_metric_alarm_args(inputs: dict[str, Any]) -> dict[str, Any]:
    """A planned MetricAlarm as CloudWatch's PutMetricAlarm call (botocore validates names and types)."""
    names = {"name": "AlarmName", "alarmDescription": "AlarmDescription", "namespace": "Namespace",
             "metricName": "MetricName", "statistic": "Statistic", "extendedStatistic": "ExtendedStatistic",
             "period": "Period", "evaluationPeriods": "EvaluationPeriods", "datapointsToAlarm": "DatapointsToAlarm",
             "threshold": "Threshold", "comparisonOperator": "ComparisonOperator",
             "treatMissingData": "TreatMissingData", "alarmActions": "AlarmActions", "okActions": "OKActions",
             "evaluateLowSampleCountPercentiles": "EvaluateLowSampleCountPercentile"}
    args = {api: inputs[key] for key, api in names.items() if inputs.get(key) is not None}
    for api in ("Period", "EvaluationPeriods", "DatapointsToAlarm"):  # the wire has numbers, the API integers
        assert float(args[api]).is_integer(), api
        args[api] = int(args[api])
    args["Dimensions"] = [{"Name": k, "Value": v} for k, v in inputs["dimensions"].items()]
    unknown = set(inputs) - set(names) - {"dimensions"}
    assert not unknown, f"inputs not mapped to the API: {unknown}"
    return args


@pytest.mark.parametrize("profile", PLANS)
def test_planned_alarms_are_accepted_by_the_cloudwatch_api(profile: str) -> None:
    env, overrides = PLANS[profile]
    lp = obs(env, overrides)
    with mock_aws():
        cw = boto3.client("cloudwatch", region_name="us-east-1")
        for alarm in of_type(lp, ALARM):
            cw.put_metric_alarm(**put_metric_alarm_args(alarm.inputs))
        described = cw.describe_alarms(AlarmTypes=["MetricAlarm"])
        # The emulator has no PutCompositeAlarm: check the call against the API model only.
        gate = one(lp, GATE).inputs
        validate_parameters(
            {"AlarmName": gate["alarmName"], "AlarmRule": gate["alarmRule"],
             "AlarmDescription": gate["alarmDescription"], "AlarmActions": gate["alarmActions"],
             "OKActions": gate["okActions"]},
            cw.meta.service_model.operation_model("PutCompositeAlarm").input_shape)
    assert len(described["MetricAlarms"]) == len(of_type(lp, ALARM))


@pytest.mark.parametrize("profile", PLANS)
def test_plan_has_no_guardrail_findings(profile: str) -> None:
    env, overrides = PLANS[profile]
    assert obs(env, overrides).findings == []
