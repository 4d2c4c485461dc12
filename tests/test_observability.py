"""Observability pure logic: settings, alarm specs and the gate, dashboard bodies and their validation, guardrails."""

from __future__ import annotations

import copy
import dataclasses
import json
import re
from typing import Any

import boto3
import pytest
from moto import mock_aws

from payments.core import config
from payments.core.errors import ConfigError
from payments.guardrails.engine import RULES, Resource, evaluate, load_rules
from payments.layers.observability import dashboards
from payments.layers.observability.alarms import (
    AWS_POOLS,
    MAX_RULE_LENGTH,
    METRIC_DELAY_SECONDS,
    POOLS,
    Comparison,
    Missing,
    Targets,
    alarm_specs,
    gate_rule,
    gate_window_seconds,
)
from payments.layers.observability.settings import ComputeMode, DbEngine, ObservabilitySettings
from payments.layers.observability.topic import key_statement, topic_policy

WHERE = "payments-observability"
ACCOUNT = "123456789012"


def settings(**values: Any) -> ObservabilitySettings:
    return config.load(ObservabilitySettings, values, where=WHERE)


def targets(dms: bool = False) -> Targets:
    return Targets(
        alb_arn_suffix="app/alb-dev/0123456789abcdef",
        target_group_arn_suffixes={p: f"targetgroup/tg-{p}-dev/0123456789abcdef" for p in POOLS},
        db_identifier="db-dev",
        cluster_name="cluster-dev",
        service_names={p: f"svc-{p}-dev" for p in AWS_POOLS},
        asg_name="asg-dev",
        dms_instance_id="dms-dev" if dms else None,
        dms_task_id="dms-task-dev" if dms else None,
    )


def specs_by_key(cfg: ObservabilitySettings, dms: bool = False) -> dict[str, Any]:
    return {s.key: s for s in alarm_specs(cfg, targets(dms))}


# --- settings ------------------------------------------------------------------------------------------------


def test_defaults_load_and_thresholds_are_promotable_but_mirrors_are_not() -> None:
    cfg = settings()
    assert cfg.compute_mode is ComputeMode.FARGATE and cfg.db_engine is DbEngine.AURORA_MYSQL
    promotable = set(config.promotable_keys(ObservabilitySettings))
    assert {"cpuHighPercent", "latencyP99Seconds", "dbConnectionsMax", "dmsCdcLatencySeconds"} <= promotable
    # Environment-specific: which upstream shape, who gets paged, DMS identity.
    assert not promotable & {"computeMode", "dbEngine", "dmsEnabled", "alarmEmails", "dmsReplicationInstanceId"}


@pytest.mark.parametrize(("values", "key", "words"), [
    ({"datapointsToAlarm": 4, "evaluationPeriods": 3}, "datapointsToAlarm", "more than evaluationPeriods"),
    ({"alarmEmails": ["oncall@example.com", "not-an-address"]}, "alarmEmails[1]", "not an e-mail"),
    ({"alarmEmails": ["a@example.com", "a@example.com"]}, "alarmEmails", "twice"),
    ({"cpuHighPercent": 120}, "cpuHighPercent", "out of range"),
    ({"latencyP99Seconds": 0}, "latencyP99Seconds", "out of range"),
    ({"computeMode": "lambda"}, "computeMode", "not allowed"),
    ({"dmsTaskResourceId": "Task_1"}, "dmsTaskResourceId", "not a DMS identifier"),
    ({"albErrorPerMinute": 3}, "albErrorPerMinute", "unknown key"),
])
def test_bad_settings_fail_with_one_line_naming_the_key(values: dict[str, Any], key: str, words: str) -> None:
    with pytest.raises(ConfigError) as err:
        settings(**values)
    assert err.value.key == f"{WHERE}:{key}"
    assert words in str(err.value) and "Fix:" in str(err.value) and "\n" not in str(err.value)


# --- alarm specs -----------------------------------------------------------------------------------------------


def test_fargate_aurora_alarms_cover_services_pools_and_database() -> None:
    specs = specs_by_key(settings())
    assert {"ecsBlueCpuHigh", "ecsBlueMemoryHigh", "ecsGreenCpuHigh", "ecsGreenMemoryHigh"} <= set(specs)
    for pool in ("Legacy", "Blue", "Green"):
        assert {f"tg{pool}5xx", f"tg{pool}Unhealthy", f"tg{pool}LatencyP99"} <= set(specs)
    assert {"alb5xx", "dbCpuHigh", "dbConnectionsHigh", "dbAcuHigh", "dbReplicaLag"} <= set(specs)
    assert not {"asgCpuHigh", "dbFreeStorageLow", "dmsCdcLatencySource"} & set(specs)
    assert specs["ecsGreenCpuHigh"].dimensions == {"ClusterName": "cluster-dev", "ServiceName": "svc-green-dev"}
    assert specs["dbAcuHigh"].dimensions == {"DBClusterIdentifier": "db-dev"}
    assert specs["tgBlue5xx"].dimensions == {"LoadBalancer": "app/alb-dev/0123456789abcdef",
                                             "TargetGroup": "targetgroup/tg-blue-dev/0123456789abcdef"}


def test_ec2_mysql_with_dms_swaps_the_mode_and_engine_specific_alarms() -> None:
    specs = specs_by_key(settings(computeMode="ec2", dbEngine="mysql", dmsEnabled=True), dms=True)
    assert "asgCpuHigh" in specs and not any(k.startswith("ecs") for k in specs)
    assert specs["asgCpuHigh"].period == 300  # EC2 basic monitoring: 5-minute datapoints
    assert "dbFreeStorageLow" in specs and not {"dbAcuHigh", "dbReplicaLag"} & set(specs)
    assert specs["dbCpuHigh"].dimensions == {"DBInstanceIdentifier": "db-dev"}
    storage = specs["dbFreeStorageLow"]
    assert storage.comparison is Comparison.BELOW and storage.threshold == 10 * 1024 ** 3
    assert storage.missing is Missing.BREACHING  # an RDS instance that stops reporting is down
    latency = specs["dmsCdcLatencySource"]
    assert latency.dimensions == {"ReplicationInstanceIdentifier": "dms-dev",
                                  "ReplicationTaskIdentifier": "dms-task-dev"}
    assert {specs["dmsCdcLatencySource"].metric, specs["dmsCdcLatencyTarget"].metric} == {"CDCLatencySource",
                                                                                       "CDCLatencyTarget"}


def test_thresholds_and_window_come_from_config() -> None:
    specs = specs_by_key(settings(cpuHighPercent=65, latencyP99Seconds=0.8, dbConnectionsMax=900,
                                  evaluationPeriods=5, datapointsToAlarm=4, targetErrorsPerMinute=25))
    assert specs["ecsBlueCpuHigh"].threshold == 65
    assert specs["tgGreenLatencyP99"].threshold == 0.8 and specs["tgGreenLatencyP99"].percentile == "p99"
    assert specs["tgGreenLatencyP99"].statistic is None  # CloudWatch takes Statistic or ExtendedStatistic
    assert specs["dbConnectionsHigh"].threshold == 900
    assert specs["tgLegacy5xx"].threshold == 25
    assert {(s.evaluation_periods, s.datapoints) for s in specs.values()} == {(5, 4)}


def test_gate_holds_user_facing_and_database_alarms_of_the_aws_pools_only() -> None:
    specs = specs_by_key(settings(dmsEnabled=True), dms=True)
    gate = {k for k, s in specs.items() if s.gate}
    assert gate == {"tgBlue5xx", "tgBlueConnErrors", "tgBlueUnhealthy", "tgBlueLatencyP99", "tgGreen5xx",
                    "tgGreenConnErrors", "tgGreenUnhealthy", "tgGreenLatencyP99", "dbCpuHigh", "dbConnectionsHigh",
                    "dbAcuHigh", "dmsCdcLatencySource", "dmsCdcLatencyTarget"}
    # Rolling back sends traffic to legacy: its trouble is never a reason to roll back to it.
    assert not any(k.startswith("tgLegacy") for k in gate)
    # The load balancer's own 5xx count has no TargetGroup dimension: it fires as well when the SOURCE pool dies
    # (a rollback onto it would be exactly wrong), so it pages outside the gate.
    assert specs["alb5xx"].dimensions.keys() == {"LoadBalancer"} and "alb5xx" not in gate
    assert all("TargetGroup" in specs[k].dimensions for k in gate if k.startswith("tg"))


def test_the_gate_window_is_the_longest_member_window_plus_the_metrics_delay() -> None:
    specs = alarm_specs(settings(dmsEnabled=True), targets(dms=True))
    longest = max(s.evaluation_periods * s.period for s in specs if s.gate)
    assert gate_window_seconds(specs) == longest + METRIC_DELAY_SECONDS == 3 * 60 + 60


def test_missing_data_is_decided_per_alarm() -> None:
    specs = specs_by_key(settings(dmsEnabled=True), dms=True)
    # Count metrics are not published when zero; idle pools and a paused cluster publish nothing.
    assert all(s.missing is Missing.NOT_BREACHING for s in specs.values())
    mysql = specs_by_key(settings(dbEngine="mysql"))
    assert mysql["dbFreeStorageLow"].missing is Missing.BREACHING


def test_descriptions_tell_on_call_what_to_do_and_name_the_gate() -> None:
    for spec in alarm_specs(settings(dmsEnabled=True), targets(dms=True)):
        assert "On-call: " in spec.description and len(spec.description) <= 1024
        assert ("cutover gate" in spec.description) == spec.gate


def test_gate_rule_is_an_or_of_alarm_states_within_cloudwatch_limits() -> None:
    assert gate_rule(["a-dev", "b-dev"]) == 'ALARM("a-dev") OR ALARM("b-dev")'
    with pytest.raises(ValueError, match="at least one"):
        gate_rule([])
    with pytest.raises(ValueError, match=str(MAX_RULE_LENGTH)):
        gate_rule([f"alarm-{i:04d}-{'x' * 200}-dev" for i in range(60)])


def test_mode_needs_its_dimensions() -> None:
    t = dataclasses.replace(targets(), asg_name=None)
    with pytest.raises(ValueError, match="Auto Scaling group"):
        alarm_specs(settings(computeMode="ec2"), t)
    with pytest.raises(ValueError, match="DMS"):
        alarm_specs(settings(dmsEnabled=True), targets(dms=False))


# --- topic and key policies ------------------------------------------------------------------------------------


def test_cloudwatch_may_use_the_key_and_publish_only_for_this_environments_alarms() -> None:
    key = key_statement(ACCOUNT, "us-east-1", "dev")
    assert key["Principal"] == {"Service": "cloudwatch.amazonaws.com"}
    assert set(key["Action"]) == {"kms:Decrypt", "kms:GenerateDataKey*"}
    assert key["Condition"]["StringEquals"] == {"aws:SourceAccount": ACCOUNT}
    assert key["Condition"]["ArnLike"] == {"aws:SourceArn": f"arn:aws:cloudwatch:us-east-1:{ACCOUNT}:alarm:*-dev"}
    policy = topic_policy("arn:aws:sns:us-east-1:123456789012:alarms-dev", ACCOUNT, "us-east-1", "dev")
    by_sid = {s["Sid"]: s for s in policy["Statement"]}
    assert by_sid["AccountPrincipals"]["Principal"] == {"AWS": f"arn:aws:iam::{ACCOUNT}:root"}
    assert by_sid["CloudWatchAlarms"]["Action"] == "sns:Publish"
    assert by_sid["CloudWatchAlarms"]["Condition"] == key["Condition"]
    assert by_sid["DenyInsecureTransport"]["Effect"] == "Deny"


# --- dashboards ----------------------------------------------------------------------------------------------------


def view(cfg: ObservabilitySettings, dms: bool = False) -> dashboards.View:
    t = targets(dms)
    arn = f"arn:aws:cloudwatch:us-east-1:{ACCOUNT}:alarm:"
    specs = alarm_specs(cfg, t)
    arns = {s.key: f"{arn}{s.slug}-dev" for s in specs}
    return dashboards.View(
        region="us-east-1", suffix="dev", cfg=cfg, alb=str(t.alb_arn_suffix),
        target_groups=dict(t.target_group_arn_suffixes), db="db-dev", gate_arn=f"{arn}cutover-gate-dev",
        alarm_arns=dashboards.alarm_groups(specs, arns), cluster="cluster-dev", services=dict(t.service_names or {}),
        asg="asg-dev", dms_instance=t.dms_instance_id, dms_task=t.dms_task_id,
    )


PROFILES = {
    "fargate-aurora": ({}, False),
    "ec2-mysql-dms": ({"computeMode": "ec2", "dbEngine": "mysql", "dmsEnabled": True}, True),
}


@pytest.mark.parametrize("profile", PROFILES)
def test_dashboard_bodies_are_valid(profile: str) -> None:
    values, dms = PROFILES[profile]
    bodies = dashboards.render(view(settings(**values), dms))
    assert set(bodies) == {"application", "database", "migration"}
    for name, body in bodies.items():
        assert dashboards.validate(body) == [], name


@mock_aws
@pytest.mark.parametrize("profile", PROFILES)
def test_put_dashboard_accepts_every_body(profile: str) -> None:
    values, dms = PROFILES[profile]
    cw = boto3.client("cloudwatch", region_name="us-east-1")
    for name, body in dashboards.render(view(settings(**values), dms)).items():
        response = cw.put_dashboard(DashboardName=f"payments-{name}-dev", DashboardBody=json.dumps(body))
        assert response["DashboardValidationMessages"] == []
    assert len(cw.list_dashboards()["DashboardEntries"]) == 3


def text_of(body: dict[str, Any]) -> str:
    return json.dumps(body)


def test_application_dashboard_shows_traffic_split_latency_errors_health_and_compute() -> None:
    body = dashboards.application(view(settings()))
    titles = [w["properties"].get("title", "") for w in body["widgets"]]
    for wanted in ("Requests per target group", "Share of requests", "p50 / p99", "4xx / 5xx", "Healthy / unhealthy",
                   "ECS CPU / memory"):
        assert any(wanted in t for t in titles), wanted
    text = text_of(body)
    for pool in POOLS:
        assert f"targetgroup/tg-{pool}-dev/0123456789abcdef" in text
    assert '"stat": "p50"' in text and '"stat": "p99"' in text
    alarm_widget = next(w for w in body["widgets"] if w["type"] == "alarm")
    assert alarm_widget["properties"]["alarms"][0].endswith("alarm:cutover-gate-dev")
    ec2 = text_of(dashboards.application(view(settings(computeMode="ec2"))))
    assert "AutoScalingGroupName" in ec2 and "AWS/ECS" not in ec2


def test_database_dashboard_follows_the_engine() -> None:
    aurora = text_of(dashboards.database(view(settings())))
    assert "ACUUtilization" in aurora and "AuroraReplicaLagMaximum" in aurora and "DBClusterIdentifier" in aurora
    assert '"Role", "WRITER"' in aurora  # read/write latency of the writer the application uses
    mysql = text_of(dashboards.database(view(settings(dbEngine="mysql"))))
    assert "FreeStorageSpace" in mysql and "DBInstanceIdentifier" in mysql and "ACUUtilization" not in mysql
    for body in (aurora, mysql):
        assert "ReadLatency" in body and "WriteLatency" in body and "DatabaseConnections" in body


def test_migration_dashboard_shows_dms_only_when_it_is_on() -> None:
    on = text_of(dashboards.migration(view(settings(dmsEnabled=True), dms=True)))
    assert "CDCLatencySource" in on and "CDCThroughputRowsTarget" in on and "dms-task-dev" in on
    off = text_of(dashboards.migration(view(settings())))
    assert "AWS/DMS" not in off and "dmsEnabled: false" in off
    for body in (on, off):
        assert "AWS/States" in body and "ExecutionsFailed" in body


def test_layout_fills_the_grid_without_overlap() -> None:
    body = dashboards.application(view(settings()))
    assert all(w["x"] + w["width"] <= 24 for w in body["widgets"])
    assert [w["y"] for w in body["widgets"]] == sorted(w["y"] for w in body["widgets"])


@pytest.mark.parametrize(("breakage", "words"), [
    (lambda b: b["widgets"][2].update(width=30), "off the 24-column grid"),
    (lambda b: b["widgets"][2]["properties"].pop("region"), "region is required"),
    (lambda b: b["widgets"][2]["properties"].update(stat="Avg"), "not a CloudWatch statistic"),
    (lambda b: b["widgets"][2]["properties"].update(period=45), "multiple of 60"),
    (lambda b: b["widgets"][2]["properties"]["metrics"].append(["AWS/ApplicationELB"]), "namespace, metric name"),
    (lambda b: b["widgets"][3]["properties"]["metrics"].append([{"expression": "1", "id": "Bad"}]), "lowercase"),
    (lambda b: b["widgets"][3]["properties"]["metrics"].append([{"expression": "1", "id": "rblue"}]), "used twice"),
    (lambda b: b["widgets"][1]["properties"].update(alarms=["alb-5xx-dev"]), "not an alarm ARN"),
    (lambda b: b["widgets"][0]["properties"].pop("markdown"), "markdown is required"),
    (lambda b: b["widgets"][3].update(x=b["widgets"][2]["x"], y=b["widgets"][2]["y"]), "overlaps"),
    (lambda b: b["widgets"][2].update(type="graph"), "type 'graph'"),
    (lambda b: b.update(widgets=[]), "1-500 widgets"),
])
def test_validation_catches_broken_bodies(breakage: Any, words: str) -> None:
    body = copy.deepcopy(dashboards.application(view(settings())))
    breakage(body)
    problems = dashboards.validate(body)
    assert any(words in p for p in problems), problems


# --- guardrails ----------------------------------------------------------------------------------------------------

TOPIC = "aws:sns/topic:Topic"
POLICY = "aws:sns/topicPolicy:TopicPolicy"
SUB = "aws:sns/topicSubscription:TopicSubscription"
ALARM = "aws:cloudwatch/metricAlarm:MetricAlarm"
COMPOSITE = "aws:cloudwatch/compositeAlarm:CompositeAlarm"
GOOD_ALARM = {"name": "x-dev", "alarmActions": ["arn:aws:sns:us-east-1:123456789012:alarms-dev"],
              "treatMissingData": "notBreaching"}


def findings(rule: str, *resources: Resource) -> list[str]:
    load_rules()
    return [f.message for f in evaluate(list(resources), rules=[RULES[rule]])]


@pytest.mark.parametrize(("rule", "bad", "words"), [
    ("sns-topic-cmk", Resource(TOPIC, "t", {"name": "alarms-dev"}), "not encrypted"),
    ("sns-topic-cmk", Resource(TOPIC, "t", {"name": "alarms-dev", "kmsMasterKeyId": "alias/aws/sns"}), "dropped"),
    ("alarm-has-actions", Resource(ALARM, "a", {**GOOD_ALARM, "alarmActions": []}), "no alarmActions"),
    ("alarm-has-actions", Resource(COMPOSITE, "g", {"alarmName": "g-dev", "alarmRule": 'ALARM("x")'}),
     "no alarmActions"),
    ("alarm-has-actions", Resource(ALARM, "a", {**GOOD_ALARM, "actionsEnabled": False}), "actionsEnabled"),
    ("alarm-missing-data-explicit",
     Resource(ALARM, "a", {k: v for k, v in GOOD_ALARM.items() if k != "treatMissingData"}), "treatMissingData"),
    ("sns-topic-policy-scoped", Resource(POLICY, "p", {"policy": json.dumps({"Statement": [
        {"Sid": "Open", "Effect": "Allow", "Principal": "*", "Action": "sns:Publish", "Resource": "*"}]})}),
     "any principal"),
    ("sns-topic-policy-scoped", Resource(POLICY, "p", {"policy": json.dumps({"Statement": [
        {"Sid": "Cw", "Effect": "Allow", "Principal": {"Service": "cloudwatch.amazonaws.com"}, "Action": "sns:Publish",
         "Resource": "*"}]})}), "confused deputy"),
    ("sns-subscription-tls", Resource(SUB, "s", {"protocol": "http", "endpoint": "http://hook.example.com"}),
     "clear text"),
])
def test_each_rule_fires_on_a_breaking_resource(rule: str, bad: Resource, words: str) -> None:
    assert any(words in m for m in findings(rule, bad))


def test_rules_accept_what_the_layer_builds() -> None:
    policy = topic_policy("arn:aws:sns:us-east-1:123456789012:alarms-dev", ACCOUNT, "us-east-1", "dev")
    good = [
        Resource(TOPIC, "t", {"name": "alarms-dev", "kmsMasterKeyId": "arn:aws:kms:us-east-1:123456789012:key/k"}),
        Resource(POLICY, "p", {"policy": json.dumps(policy)}),
        Resource(ALARM, "a", GOOD_ALARM),
        Resource(SUB, "s", {"protocol": "email", "endpoint": "oncall@example.com"}),
    ]
    for rule in ("sns-topic-cmk", "alarm-has-actions", "alarm-missing-data-explicit", "sns-topic-policy-scoped",
                 "sns-subscription-tls"):
        assert findings(rule, *good) == [], rule


def test_production_topic_without_subscription_is_reported() -> None:
    topic = Resource(TOPIC, "alarm-topic", {"name": "alarms-prod"}, production=True, id="alarms-prod")
    assert findings("alarm-topic-subscribed", topic) == ["no subscription: alarms publish to a topic nobody reads"]
    sub = Resource(SUB, "s", {"topic": "arn:aws:sns:us-east-1:123456789012:alarms-prod", "protocol": "email"})
    assert findings("alarm-topic-subscribed", topic, sub) == []
    assert findings("alarm-topic-subscribed", dataclasses.replace(topic, production=False)) == []


# --- docs ------------------------------------------------------------------------------------------------------------


def test_docs_describe_every_key_alarm_and_export() -> None:
    from pathlib import Path

    from payments.core.contract import EXPORTS

    doc = (Path(__file__).resolve().parents[1] / "docs" / "observability.md").read_text()
    for info in config.describe(ObservabilitySettings):
        assert f"`{info.key}`" in doc, info.key
    every = alarm_specs(settings(dmsEnabled=True), targets(dms=True)) + alarm_specs(
        settings(computeMode="ec2", dbEngine="mysql"), targets())
    for spec in every:
        pool = re.sub("legacy|blue|green", "<pool>", spec.slug)
        service = re.sub("blue|green", "<blue/green>", spec.slug)
        assert {spec.slug, pool, service} & set(re.findall(r"`([^`]+)`", doc)), spec.slug
    for out in EXPORTS["observability"]:
        assert f"`{out.name}`" in doc, out.name
