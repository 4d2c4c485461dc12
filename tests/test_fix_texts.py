"""Every error's fix text works: the bad input, the exact line the user sees, then the input after doing what the
line says, which must pass (issue 14).

Rows by kind:
- `Fix`: a layer's settings (the dev or prod stack file with some keys changed), validated as a layer program
  validates them at start-up (types, ranges, cross-field checks, ARNs against the environment, production rules);
- `EnvFix`: a line of ``environments/dev.yaml`` replaced;
- `FileFix`: a stack file edited (keys no program reads, the provider guard), read as every task reads it;
- `PlanFix`: errors only a running program can find (upstream outputs, names built from several settings), through
  the offline plan.

A new error belongs here with its fix, so that the advice is checked by doing it.
"""

from __future__ import annotations

import dataclasses
import shutil
from pathlib import Path
from typing import Any

import pytest
from invoke.exceptions import Exit

from payments.core import config, environment, stackfiles
from payments.core.environment import Environment, load_environment
from payments.core.errors import UserError
from payments.core.graph import LAYERS, project_name
from payments.ops.console import user_errors
from payments.ops.layer_settings import settings_class
from payments.plan.engine import plan_environment
from tests.test_sweep_bad_input import with_lines

REPO = Path(__file__).resolve().parents[1]
CERT = "arn:aws:acm:us-east-1:123456789012:certificate/11111111-2222-3333-4444-555555555555"
SECRET = "arn:aws:secretsmanager:us-east-1:123456789012:secret:onprem-mysql-AbCdEf"
IMAGE = "123456789012.dkr.ecr.us-east-1.amazonaws.com/payments-app:1.0.0"
REMOVE = None  #: in `fixed`: delete the key


@dataclasses.dataclass(frozen=True)
class Fix:
    id: str
    layer: str
    bad: dict[str, Any]
    line: str  #: exactly what the user sees (after "error: ")
    fixed: dict[str, Any]  #: laid over `bad`: what the line told the user to do
    env: str = "dev"
    account: str | None = None  #: accountId of the environment


def settings_line(layer: str, values: dict[str, Any], env: str = "dev", account: str | None = None) -> str:
    """Validate a layer's settings the way its program does at start-up; the user's line, or "" when valid."""
    project = project_name(layer)
    own = {k.split(":", 1)[1]: v for k, v in stackfiles.config(layer, env).items() if k.startswith(f"{project}:")}
    for key, value in values.items():
        if value is None:
            own.pop(key, None)
        else:
            own[key] = value
    environment_ = load_environment(env)

    @user_errors
    def validate() -> None:
        settings = config.load(settings_class(layer), own, where=project, region=environment_.region,
                               account=account)
        if hasattr(settings, "check_environment"):
            settings.check_environment(project, environment_.production)

    try:
        validate()
    except Exit as exc:
        return str(exc.message).removeprefix("error: ")
    return ""


ROWS = [
    # --- generic conversions and keys (payments/core/config.py)
    Fix("typo-in-key", "network", {"azCunt": 3}, "payments-network:azCunt: unknown key. Fix: did you mean 'azCount'?",
        {"azCunt": REMOVE, "azCount": 3}),
    Fix("required-key-missing", "app", {"image": REMOVE},
        f"payments-app:image: required key is missing. Fix: set image: {IMAGE} (container image pinned by tag or "
        "digest (never :latest))", {"image": IMAGE}),
    # the old advice, "remove the key to use the default", cannot work for a key that has no default
    Fix("required-key-empty", "app", {"image": ""},
        f"payments-app:image: is empty. Fix: set image: {IMAGE} (container image pinned by tag or digest (never "
        ":latest))", {"image": IMAGE}),
    Fix("defaulted-key-empty", "network", {"natStrategy": ""},
        'payments-network:natStrategy: is empty. Fix: write a value, or delete the line to use the default '
        '("one_per_az")', {"natStrategy": REMOVE}),
    Fix("list-entry-empty", "data", {"auditEvents": ["CONNECT", ""]},
        "payments-data:auditEvents[1]: is empty. Fix: write a non-empty value, or delete this entry",
        {"auditEvents": ["CONNECT"]}),
    Fix("not-a-whole-number", "network", {"azCount": "three"},
        "payments-network:azCount: expected a whole number, got 'three'. Fix: write an integer such as 3",
        {"azCount": 3}),
    Fix("not-a-number", "data", {"minCapacity": "lots"},
        "payments-data:minCapacity: expected a number, got 'lots'. Fix: write a number such as 0.5",
        {"minCapacity": 0.5}),
    Fix("not-a-boolean", "network", {"vpnEnabled": "yes"},
        "payments-network:vpnEnabled: expected true or false, got 'yes'. Fix: write true or false",
        {"vpnEnabled": True}),
    Fix("not-text", "data", {"databaseName": ["payments"]},
        "payments-data:databaseName: expected text, got ['payments']. Fix: write a plain string",
        {"databaseName": "payments"}),
    Fix("not-a-list", "network", {"onPremCidrs": {"dc": "172.16.0.0/16"}},
        "payments-network:onPremCidrs: expected a list, e.g. [a, b], got {'dc': '172.16.0.0/16'}. "
        "Fix: write it as a list, e.g. [a, b]", {"onPremCidrs": ["172.16.0.0/16"]}),
    Fix("not-a-map", "edge", {"initialWeights": [100, 0, 0]},
        "payments-edge:initialWeights: expected a map, e.g. {key: value}, got [100, 0, 0]. "
        "Fix: write it as a map, e.g. {key: value}", {"initialWeights": {"legacy": 100}}),
    Fix("cidr-host-bits", "network", {"vpcCidr": "10.20.0.1/16"},
        "payments-network:vpcCidr: '10.20.0.1/16' is not a valid IPv4 CIDR (10.20.0.1/16 has host bits set). "
        "Fix: write a network address with prefix, e.g. 10.20.0.0/16", {"vpcCidr": "10.20.0.0/16"}),
    Fix("ip-address-short", "network", {"customerGatewayIp": "198.51.100"},
        "payments-network:customerGatewayIp: '198.51.100' is not a valid IPv4 address. "
        "Fix: write a dotted address, e.g. 203.0.113.10", {"customerGatewayIp": "198.51.100.10"}),
    Fix("enum-unknown", "network", {"natStrategy": "two"},
        "payments-network:natStrategy: 'two' is not allowed. Fix: use one of: single, one_per_az",
        {"natStrategy": "single"}),
    Fix("out-of-range", "network", {"azCount": 7},
        "payments-network:azCount: 7 is out of range. Fix: use a value between 2 and 6", {"azCount": 6}),
    # --- network
    Fix("vpc-too-small", "network", {"vpcCidr": "10.20.0.0/24"},
        "payments-network:vpcCidr: /24 cannot hold 3 subnet tiers x 3 AZs of at least /28. Fix: use a prefix "
        "between /16 and /23, e.g. 10.20.0.0/16", {"vpcCidr": "10.20.0.0/20"}),
    Fix("alb-allow-list-empty", "network", {"albClientCidrs": []},
        "payments-network:albClientCidrs: empty while albIngress is 'cidrs'. Fix: list client networks, or set "
        "albIngress: cloudfront", {"albIngress": "cloudfront"}),
    Fix("alb-open-to-world", "network", {"albClientCidrs": ["0.0.0.0/0"]},
        "payments-network:albClientCidrs: 0.0.0.0/0 is not allowed (PCI DSS 1.3.1). Fix: list the client "
        "networks, or set albIngress: cloudfront", {"albClientCidrs": ["203.0.113.0/24"]}),
    Fix("endpoint-unknown", "network", {"interfaceEndpoints": ["ecr.api", "s3x"]},
        "payments-network:interfaceEndpoints: unknown service(s) s3x. Fix: use some of: ecr.api, ecr.dkr, logs, "
        "secretsmanager, ssm, ssmmessages, ec2messages, kms, sts, monitoring, states, sns",
        {"interfaceEndpoints": ["ecr.api"]}),
    Fix("flow-log-retention", "network", {"flowLogRetentionDays": 30},
        "payments-network:flowLogRetentionDays: 30 is not allowed (PCI DSS 10.5.1). Fix: use one of 365, 400, "
        "545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653", {"flowLogRetentionDays": 400}),
    Fix("on-prem-overlaps-vpc", "network", {"onPremCidrs": ["10.20.128.0/20"]},
        "payments-network:onPremCidrs: 10.20.128.0/20 overlaps the VPC range 10.20.0.0/16. Fix: choose a VPC "
        "range that does not collide with on-prem networks", {"vpcCidr": "10.30.0.0/16"}),
    Fix("vpn-without-gateway", "network", {"customerGatewayIp": REMOVE},
        "payments-network:customerGatewayIp: vpnEnabled needs customerGatewayIp and onPremCidrs. Fix: set both, "
        "or set vpnEnabled: false", {"vpnEnabled": False}),
    # --- app
    Fix("image-not-pinned", "app", {"image": "registry.example.com/app"},
        "payments-app:image: 'registry.example.com/app' is not an image pinned by tag or digest. Fix: use "
        "<registry>/<repository>:<tag> or <registry>/<repository>@sha256:<digest>",
        {"image": "registry.example.com/app:1.4.2"}),
    Fix("image-latest", "app", {"image": "registry.example.com/app:latest"},
        "payments-app:image: ':latest' is not a reviewable release (PCI DSS 6.5.1). Fix: pin a version tag or a "
        "digest", {"image": "registry.example.com/app:1.4.2"}),
    Fix("cpu-not-a-fargate-size", "app", {"cpu": 300},
        "payments-app:cpu: 300 CPU units are not a Fargate size. Fix: use one of 256, 512, 1024, 2048, 4096, "
        "8192, 16384", {"cpu": 256}),
    Fix("memory-not-offered", "app", {"memory": 3000},
        "payments-app:memory: Fargate does not offer 3000 MiB with 512 CPU units. Fix: use 1024-4096 MiB in steps "
        "of 1024", {"memory": 3072}),
    Fix("memory-not-offered-small", "app", {"cpu": 256, "memory": 4096},
        "payments-app:memory: Fargate does not offer 4096 MiB with 256 CPU units. Fix: use one of 512, 1024, 2048",
        {"memory": 2048}),
    Fix("container-as-root", "app", {"containerUser": "root"},
        "payments-app:containerUser: 'root' runs as root or is malformed. Fix: use a non-root uid[:gid], e.g. "
        "1000:1000", {"containerUser": "1000:1000"}),
    Fix("app-health-path", "app", {"healthCheckPath": "health"},
        "payments-app:healthCheckPath: 'health' is not a URL path. Fix: use e.g. /health",
        {"healthCheckPath": "/health"}),
    Fix("settings-env-name", "app", {"settingsParameters": {"db_host": "db/writer-endpoint"}},
        "payments-app:settingsParameters.db_host: not an environment variable name. Fix: use UPPER_CASE letters, "
        "digits and _", {"settingsParameters": {"DB_HOST": "db/writer-endpoint"}}),
    Fix("settings-parameter-name", "app", {"settingsParameters": {"DB_HOST": "/db//host"}},
        "payments-app:settingsParameters.DB_HOST: '/db//host' is not a parameter name relative to parameterPath. "
        "Fix: use e.g. db/host", {"settingsParameters": {"DB_HOST": "db/host"}}),
    # the old line blamed maxCapacity for a floor above desiredCount
    Fix("min-above-desired", "app", {"minCapacity": 2},
        "payments-app:minCapacity: 2 is above desiredCount (1); the floor must be <= the tasks a service starts "
        "with. Fix: lower minCapacity to at most 1, or raise desiredCount", {"minCapacity": 1}),
    Fix("desired-above-max", "app", {"desiredCount": 5},
        "payments-app:maxCapacity: 3 is below desiredCount (5). Fix: raise maxCapacity to at least 5, or lower "
        "desiredCount", {"maxCapacity": 5}),
    Fix("scale-in-faster-than-out", "app", {"scaleInCooldownSeconds": 30},
        "payments-app:scaleInCooldownSeconds: 30 is not longer than scaleOutCooldownSeconds (60). Fix: scale in "
        "more slowly than out, e.g. 300 vs 60", {"scaleInCooldownSeconds": 300}),
    Fix("app-log-retention", "app", {"logRetentionDays": 30},
        "payments-app:logRetentionDays: 30 is not allowed (PCI DSS 10.5.1). Fix: use one of 365, 400, 545, 731, "
        "1096, 1827, 2192, 2557, 2922, 3288, 3653", {"logRetentionDays": 365}),
    Fix("instance-type", "app", {"instanceType": "t3small"},
        "payments-app:instanceType: 't3small' is not an EC2 instance type. Fix: use e.g. t3.small",
        {"instanceType": "t3.small"}),
    Fix("asg-min-above-max", "app", {"asgMin": 5, "asgMax": 2},
        "payments-app:asgMin: 5 is above asgMax (2). Fix: make asgMin <= asgDesired <= asgMax", {"asgMin": 2}),
    Fix("asg-desired-outside", "app", {"asgDesired": 7},
        "payments-app:asgDesired: 7 is outside asgMin-asgMax (2-6). Fix: make asgMin <= asgDesired <= asgMax",
        {"asgDesired": 6}),
    Fix("prod-one-task", "app", {"desiredCount": 1},
        "payments-app:desiredCount: 1 task(s) per service in a production environment cannot survive an AZ "
        "failure. Fix: use at least 2", {"desiredCount": 2}, env="prod"),
    Fix("prod-floor-one", "app", {"minCapacity": 1},
        "payments-app:minCapacity: 1 task(s) per service in a production environment cannot survive an AZ "
        "failure. Fix: use at least 2", {"minCapacity": 2}, env="prod"),
    Fix("prod-one-instance", "app", {"computeMode": "ec2", "asgMin": 1},
        "payments-app:asgMin: 1 instance(s) in a production environment cannot survive an AZ failure. Fix: use "
        "at least 2", {"asgMin": 2}, env="prod"),
    # --- data
    Fix("aurora-version", "data", {"auroraEngineVersion": "3.10"},
        "payments-data:auroraEngineVersion: '3.10' is not an Aurora MySQL 3 version. Fix: write it like "
        "8.0.mysql_aurora.3.10.0", {"auroraEngineVersion": "8.0.mysql_aurora.3.10.0"}),
    Fix("acu-min-above-max", "data", {"minCapacity": 3},
        "payments-data:minCapacity: 3 ACU is above maxCapacity 2. Fix: set minCapacity <= maxCapacity",
        {"minCapacity": 2}),
    Fix("acu-steps", "data", {"minCapacity": 0.7},
        "payments-data:minCapacity: capacities move in steps of 0.5 ACU. Fix: use values such as 0.5, 1, 1.5",
        {"minCapacity": 0.5}),
    Fix("auto-pause-old-version", "data", {"minCapacity": 0, "auroraEngineVersion": "8.0.mysql_aurora.3.05.2"},
        "payments-data:minCapacity: 0 ACU (auto-pause) needs Aurora MySQL 3.08 or later. Fix: use 0.5, or "
        "auroraEngineVersion 8.0.mysql_aurora.3.08.0 or later", {"auroraEngineVersion": "8.0.mysql_aurora.3.08.0"}),
    Fix("mysql-version", "data", {"engine": "mysql", "mysqlEngineVersion": "5.7"},
        "payments-data:mysqlEngineVersion: '5.7' is not an exact MySQL 8.0 version (automatic minor upgrades are "
        "off, so the version is pinned). Fix: write the exact version, e.g. 8.0.42", {"mysqlEngineVersion": "8.0.42"}),
    Fix("rds-instance-class", "data", {"engine": "mysql", "instanceClass": "m6g.large"},
        "payments-data:instanceClass: 'm6g.large' is not an RDS instance class. Fix: use e.g. db.t4g.medium or "
        "db.m6g.large", {"instanceClass": "db.m6g.large"}),
    Fix("storage-ceiling-below", "data", {"engine": "mysql", "allocatedStorage": 100, "maxAllocatedStorage": 50},
        "payments-data:maxAllocatedStorage: 50 GiB is below allocatedStorage 100. Fix: set it >= "
        "allocatedStorage (it is the autoscaling ceiling)", {"maxAllocatedStorage": 100}),
    Fix("performance-insights-small", "data",
        {"engine": "mysql", "instanceClass": "db.t4g.small", "performanceInsights": True},
        "payments-data:performanceInsights: not available on db.t4g.small. Fix: use a medium or larger class, or "
        "set performanceInsights: false", {"performanceInsights": False}),
    Fix("database-name", "data", {"databaseName": "1payments"},
        "payments-data:databaseName: '1payments' is not a valid database name. Fix: use up to 64 letters, digits "
        "or '_', starting with a letter", {"databaseName": "payments1"}),
    Fix("master-user-reserved", "data", {"masterUsername": "admin"},
        "payments-data:masterUsername: 'admin' is not allowed. Fix: use up to 16 letters, digits or '_', starting "
        "with a letter, not a reserved name such as admin or the app's and DMS's users (payments_app, payments_dms)",
        {"masterUsername": "payments_owner"}),
    Fix("backup-retentions-differ", "data", {"backupRetentionDays": 31},
        "payments-data:backupRetentionDays: 31 differs from backupPlanRetentionDays 30 (AWS Backup's continuous "
        "backup manages the database's retention). Fix: set both to the same number of days (30-35)",
        {"backupPlanRetentionDays": 31}),
    Fix("backup-window", "data", {"backupWindow": "3-4"},
        "payments-data:backupWindow: '3-4' is not hh:mm-hh:mm. Fix: write e.g. 03:00-04:00 (UTC)",
        {"backupWindow": "03:00-04:00"}),
    Fix("maintenance-window", "data", {"maintenanceWindow": "sunday"},
        "payments-data:maintenanceWindow: 'sunday' is not ddd:hh:mm-ddd:hh:mm. Fix: write e.g. "
        "sun:04:30-sun:05:30 (UTC)", {"maintenanceWindow": "sun:04:30-sun:05:30"}),
    Fix("pi-retention", "data", {"performanceInsightsRetentionDays": 10},
        "payments-data:performanceInsightsRetentionDays: 10 is not allowed. Fix: use 7, a multiple of 31 up to "
        "713, or 731", {"performanceInsightsRetentionDays": 31}),
    Fix("audit-event-unknown", "data", {"auditEvents": ["LOGIN"]},
        "payments-data:auditEvents: unknown or empty (LOGIN). Fix: list some of: CONNECT, QUERY, QUERY_DCL, "
        "QUERY_DDL, QUERY_DML, TABLE", {"auditEvents": ["CONNECT"]}),
    Fix("db-log-retention", "data", {"logRetentionDays": 90},
        "payments-data:logRetentionDays: 90 is not allowed (PCI DSS 10.5.1). Fix: use one of 365, 400, 545, 731, "
        "1096, 1827, 2192, 2557, 2922, 3288, 3653", {"logRetentionDays": 731}),
    Fix("parameter-prefix", "data", {"parameterPrefix": "payments/"},
        "payments-data:parameterPrefix: 'payments/' is not a parameter path. Fix: write e.g. /payments (leading "
        "slash, no trailing slash)", {"parameterPrefix": "/payments"}),
    Fix("app-setting-name", "data", {"appSettings": {"bad key": "x"}},
        "payments-data:appSettings.bad key: not a valid parameter name. Fix: use letters, digits, '_', '.', '-' "
        "(and '/' between parts)", {"appSettings": {"bad_key": "x"}}),
    Fix("backup-schedule", "data", {"backupSchedule": "rate(1 day)"},
        "payments-data:backupSchedule: 'rate(1 day)' is not a daily AWS cron expression. Fix: write e.g. "
        "cron(0 5 * * ? *) (05:00 UTC every day)", {"backupSchedule": "cron(0 5 * * ? *)"}),
    Fix("rotation-over-30", "data", {"secretRotationDays": 90},
        "payments-data:secretRotationDays: 90 is out of range. Fix: use a value between 1 and 30",
        {"secretRotationDays": 30}),
    # --- edge
    Fix("tls-policy-old", "edge", {"tlsPolicy": "ELBSecurityPolicy-2016-08"},
        "payments-edge:tlsPolicy: 'ELBSecurityPolicy-2016-08' is not a TLS 1.2+ policy (older protocols break PCI "
        "DSS 4.2.1). Fix: use one of: ELBSecurityPolicy-TLS13-1-2-2021-06, ELBSecurityPolicy-TLS13-1-2-Res-2021-06, "
        "ELBSecurityPolicy-TLS13-1-3-2021-06, ELBSecurityPolicy-TLS13-1-2-PQ-2025-09, "
        "ELBSecurityPolicy-TLS13-1-2-Res-PQ-2025-09, ELBSecurityPolicy-TLS13-1-3-PQ-2025-09, "
        "ELBSecurityPolicy-FS-1-2-Res-2020-10", {"tlsPolicy": "ELBSecurityPolicy-TLS13-1-2-2021-06"}),
    Fix("no-certificate-source", "edge", {"domainName": REMOVE, "hostedZoneId": REMOVE},
        "payments-edge:certificateArn: no certificate source for the HTTPS listener. Fix: set certificateArn to an "
        "ACM certificate, or domainName and hostedZoneId to issue one", {"certificateArn": CERT}),
    Fix("two-certificate-sources", "edge", {"certificateArn": CERT},
        "payments-edge:domainName: set together with certificateArn; the listener can only use one certificate "
        "source. Fix: remove domainName (and hostedZoneId) or certificateArn",
        {"domainName": REMOVE, "hostedZoneId": REMOVE}),
    Fix("certificate-not-an-arn", "edge", {"certificateArn": "pay-cert", "domainName": REMOVE, "hostedZoneId": REMOVE},
        "payments-edge:certificateArn: 'pay-cert' is not an ARN. Fix: write it as "
        "arn:aws:acm:us-east-1:<account id>:certificate/<id>", {"certificateArn": CERT}),
    Fix("certificate-of-another-service", "edge",
        {"certificateArn": SECRET, "domainName": REMOVE, "hostedZoneId": REMOVE},
        f"payments-edge:certificateArn: '{SECRET}' is not the ARN of an ACM certificate. Fix: write it as "
        "arn:aws:acm:us-east-1:<account id>:certificate/<id>", {"certificateArn": CERT}),
    Fix("certificate-other-region", "edge",
        {"certificateArn": CERT.replace("us-east-1", "eu-west-1"), "domainName": REMOVE, "hostedZoneId": REMOVE},
        "payments-edge:certificateArn: the ARN is in eu-west-1, the environment in us-east-1; AWS uses it only in "
        "its own region. Fix: create or import it in us-east-1 and use that ARN", {"certificateArn": CERT}),
    Fix("certificate-other-partition", "edge",
        {"certificateArn": CERT.replace("arn:aws:", "arn:aws-us-gov:"), "domainName": REMOVE, "hostedZoneId": REMOVE},
        "payments-edge:certificateArn: partition 'aws-us-gov' is not the partition of us-east-1 ('aws'). Fix: use "
        "the aws ARN: arn:aws:acm:us-east-1:<account id>:certificate/<id>", {"certificateArn": CERT}),
    Fix("certificate-other-account", "edge", {"certificateArn": CERT, "domainName": REMOVE, "hostedZoneId": REMOVE},
        "payments-edge:certificateArn: the ARN is in account 123456789012, the environment deploys to "
        "210987654321 (accountId). Fix: use the ARN from account 210987654321",
        {"certificateArn": CERT.replace("123456789012", "210987654321")}, account="210987654321"),
    Fix("domain-uppercase", "edge", {"domainName": "Pay.Example.com"},
        "payments-edge:domainName: 'Pay.Example.com' is not a lowercase DNS name. Fix: use e.g. pay.example.com",
        {"domainName": "pay.example.com"}),
    Fix("zone-missing", "edge", {"hostedZoneId": REMOVE},
        "payments-edge:hostedZoneId: missing while domainName is set; DNS validation needs the Route 53 zone. Fix: "
        "set hostedZoneId to the zone id (Z...) that serves domainName", {"hostedZoneId": "Z0DEVEXAMPLE000000001"}),
    Fix("zone-malformed", "edge", {"hostedZoneId": "dev-zone"},
        "payments-edge:hostedZoneId: 'dev-zone' is not a Route 53 zone id. Fix: use the Z... id of the zone",
        {"hostedZoneId": "Z0DEVEXAMPLE000000001"}),
    Fix("weights-unknown-pool", "edge", {"initialWeights": {"legacy": 100, "purple": 5}},
        "payments-edge:initialWeights: unknown pool(s) purple. Fix: use legacy, blue, green",
        {"initialWeights": {"legacy": 100, "green": 5}}),
    Fix("weight-over-999", "edge", {"initialWeights": {"legacy": 1000}},
        "payments-edge:initialWeights.legacy: 1000 is outside 0-999. Fix: use a weight from 0 to 999",
        {"initialWeights": {"legacy": 999}}),
    Fix("weights-all-zero", "edge", {"initialWeights": {"legacy": 0, "blue": 0}},
        "payments-edge:initialWeights: every weight is 0, so the listener would serve nothing. Fix: give at least "
        "one pool a weight above 0", {"initialWeights": {"legacy": 100, "blue": 0}}),
    Fix("legacy-weight-without-targets", "edge", {"legacyTargets": []},
        "payments-edge:legacyTargets: empty while the legacy pool has weight. Fix: list the on-prem servers, or "
        "set initialWeights to send traffic to blue", {"initialWeights": {"blue": 100}}),
    Fix("legacy-target-public", "edge", {"legacyTargets": ["8.8.8.8"]},
        "payments-edge:legacyTargets[0]: 8.8.8.8 is not a private address; the legacy pool is reached over the "
        "VPN. Fix: list the on-prem servers' private addresses", {"legacyTargets": ["172.16.10.11"]}),
    Fix("edge-health-path", "edge", {"healthCheckPath": "health check"},
        "payments-edge:healthCheckPath: 'health check' is not a URL path. Fix: use e.g. /health",
        {"healthCheckPath": "/health"}),
    Fix("slow-start-short", "edge", {"slowStartSeconds": 10},
        "payments-edge:slowStartSeconds: 10 is not allowed. Fix: use 0 (off) or 30-900", {"slowStartSeconds": 30}),
    Fix("waf-log-retention", "edge", {"wafLogRetentionDays": 30},
        "payments-edge:wafLogRetentionDays: 30 is not allowed (PCI DSS 10.5.1). Fix: use one of 365, 400, 545, "
        "731, 1096, 1827, 2192, 2557, 2922, 3288, 3653", {"wafLogRetentionDays": 365}),
    # --- observability
    Fix("datapoints-over-periods", "observability", {"datapointsToAlarm": 5},
        "payments-observability:datapointsToAlarm: 5 is more than evaluationPeriods (3). Fix: use at most 3, or "
        "raise evaluationPeriods", {"datapointsToAlarm": 3}),
    Fix("alarm-email", "observability", {"alarmEmails": ["oncall"]},
        "payments-observability:alarmEmails[0]: 'oncall' is not an e-mail address. Fix: write name@domain, e.g. "
        "oncall@example.com", {"alarmEmails": ["oncall@example.com"]}),
    Fix("alarm-email-twice", "observability", {"alarmEmails": ["a@example.com", "a@example.com"]},
        "payments-observability:alarmEmails: lists an address twice. Fix: list each address once",
        {"alarmEmails": ["a@example.com"]}),
    Fix("dms-identifier", "observability", {"dmsReplicationInstanceId": "DMS_1"},
        "payments-observability:dmsReplicationInstanceId: 'DMS_1' is not a DMS identifier. Fix: use 1-63 lowercase "
        "letters, digits and single hyphens, starting with a letter", {"dmsReplicationInstanceId": "dms-1"}),
    # --- migration
    Fix("steps-decrease", "migration", {"trafficSteps": [50, 10, 100]},
        "payments-migration:trafficSteps: steps must increase, 10 follows 50. Fix: order them, e.g. 10,50,100",
        {"trafficSteps": "10,50,100"}),
    Fix("steps-never-complete", "migration", {"trafficSteps": [10, 50]},
        "payments-migration:trafficSteps: the last step is 50 %, so the cutover would never complete. Fix: end the "
        "schedule with 100", {"trafficSteps": [10, 50, 100]}),
    Fix("steps-empty", "migration", {"trafficSteps": []},
        "payments-migration:trafficSteps: the step schedule is empty. Fix: give at least one step, e.g. 10,50,100",
        {"trafficSteps": "10,50,100"}),
    Fix("step-zero", "migration", {"trafficSteps": [0, 100]},
        "payments-migration:trafficSteps: step 0 is outside 1-100 %. Fix: use percentages of traffic on the target "
        "pool, e.g. 10,50,100", {"trafficSteps": [10, 100]}),
    # the old advice named the task's flags (--from/--to) for a stack-file key
    Fix("same-pools", "migration", {"sourcePool": "blue", "targetPool": "blue"},
        "payments-migration:targetPool: source and target are both 'blue'. Fix: move traffic between two different "
        "pools, e.g. sourcePool: legacy and targetPool: blue", {"sourcePool": "legacy"}),
    Fix("scale-down-on-prem", "migration", {"scaleDownSource": True},
        "payments-migration:scaleDownSource: the legacy pool is on-prem and cannot be scaled down. Fix: set "
        "scaleDownSource: false, or use a blue/green source pool", {"scaleDownSource": False}),
    Fix("execution-log-retention", "migration", {"logRetentionDays": 7},
        "payments-migration:logRetentionDays: 7 is not allowed (PCI DSS 10.5.1). Fix: use one of 365, 400, 545, "
        "731, 1096, 1827, 2192, 2557, 2922, 3288, 3653", {"logRetentionDays": 365}),
    Fix("dms-secret-not-an-arn", "migration", {"dmsSourceSecretArn": "onprem-mysql", "dmsSourceSslMode": "require"},
        "payments-migration:dmsSourceSecretArn: 'onprem-mysql' is not an ARN. Fix: write it as "
        "arn:aws:secretsmanager:us-east-1:<account id>:secret:<name>", {"dmsSourceSecretArn": SECRET}),
    Fix("dms-secret-other-region", "migration",
        {"dmsSourceSecretArn": SECRET.replace("us-east-1", "us-west-2"), "dmsSourceSslMode": "require"},
        "payments-migration:dmsSourceSecretArn: the ARN is in us-west-2, the environment in us-east-1; AWS uses "
        "it only in its own region. Fix: create or import it in us-east-1 and use that ARN",
        {"dmsSourceSecretArn": SECRET}),
    Fix("dms-keys-without-source", "migration", {"dmsTargetSecretArn": SECRET},
        "payments-migration:dmsSourceSecretArn: DMS is on (dmsTargetSecretArn is set) without a source secret. "
        "Fix: set dmsSourceSecretArn to the on-prem MySQL secret, or remove the DMS keys",
        {"dmsTargetSecretArn": REMOVE}),
    Fix("dms-verify-without-ca", "migration", {"dmsSourceSecretArn": SECRET},
        "payments-migration:dmsSourceCaCertificateArn: dmsSourceSslMode verify-full needs the on-prem CA "
        "certificate. Fix: import the CA with `aws dms import-certificate` and set its ARN, or use "
        "dmsSourceSslMode: require",
        {"dmsSourceCaCertificateArn": "arn:aws:dms:us-east-1:123456789012:cert:ONPREMCA"}),
    Fix("dms-no-schema", "migration", {"dmsSourceSecretArn": SECRET, "dmsSourceSslMode": "require", "dmsSchemas": []},
        "payments-migration:dmsSchemas: no schema to replicate. Fix: list the source schemas, e.g. [payments]",
        {"dmsSchemas": ["payments"]}),
    Fix("dms-exclude-not-a-table", "migration",
        {"dmsSourceSecretArn": SECRET, "dmsSourceSslMode": "require", "dmsExcludeTables": ["audit"]},
        "payments-migration:dmsExcludeTables: 'audit' is not schema.table. Fix: write e.g. payments.audit_tmp",
        {"dmsExcludeTables": ["payments.audit"]}),
]


@pytest.mark.parametrize("row", ROWS, ids=[r.id for r in ROWS])
def test_the_line_names_the_key_and_its_fix_works(row: Fix) -> None:
    assert settings_line(row.layer, row.bad, row.env, row.account) == row.line
    assert settings_line(row.layer, {**row.bad, **row.fixed}, row.env, row.account) == ""


def test_the_stack_files_themselves_are_valid() -> None:
    """The control: every row starts from a stack file that validates as it is."""
    for env in ("dev", "prod"):
        for layer in LAYERS:
            assert settings_line(layer, {}, env) == "", (env, layer)


# --- environment files -------------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class EnvFix:
    id: str
    bad: str  #: key: value lines replacing those of environments/dev.yaml (or added)
    line: str
    fixed: str


ENV_ROWS = [
    EnvFix("region-typo", "region: us-east-7",
           "environments/dev.yaml:region: 'us-east-7' is not an AWS region (botocore's endpoints data). Fix: did you "
           "mean us-east-2 or us-east-1 or us-west-2?", "region: us-east-1"),
    EnvFix("region-unknown", "region: mars-1",
           "environments/dev.yaml:region: 'mars-1' is not an AWS region (botocore's endpoints data). Fix: use a "
           "region such as us-east-1", "region: us-east-1"),
    EnvFix("cost-center-characters", "costCenter: payments;platform",
           "environments/dev.yaml:costCenter: as the CostCenter tag value, 'payments;platform' has characters AWS "
           "does not allow (the services' Tag shapes). Fix: use at most 256 letters, digits, spaces and "
           "_ . : / = + - @", "costCenter: payments-platform"),
    EnvFix("cost-center-too-long", "costCenter: " + "p" * 257,
           "environments/dev.yaml:costCenter: as the CostCenter tag value, '" + "p" * 257 + "' is 257 characters; "
           "AWS allows 0-256 (the services' Tag shapes). Fix: use at most 256 letters, digits, spaces and "
           "_ . : / = + - @", "costCenter: " + "p" * 256),
    EnvFix("cost-center-empty", 'costCenter: ""',
           "environments/dev.yaml:costCenter: is empty. Fix: set costCenter: payments-platform (CostCenter tag on "
           "every resource)", "costCenter: payments-platform"),
    EnvFix("account-not-12-digits", 'accountId: "1234"',
           "environments/dev.yaml:accountId: '1234' is not a 12-digit AWS account id. Fix: write the 12 digits, "
           'quoted (accountId: "123456789012")', 'accountId: "123456789012"'),
    EnvFix("suffix-invalid", "environmentSuffix: Dev_42",
           "environments/dev.yaml:environmentSuffix: 'Dev_42' is not a valid suffix. Fix: use 2-16 lowercase letters, "
           "digits or hyphens, starting with a letter (e.g. dev-pr42)", "environmentSuffix: dev-42"),
    EnvFix("phase-unknown", "migrationPhase: done",
           "environments/dev.yaml:migrationPhase: 'done' is not allowed. Fix: use one of: prepare, parallel-run, "
           "app-cutover, app-on-aws, rolled-back, db-switchover, db-on-aws, db-fallback, cutover-complete",
           "migrationPhase: cutover-complete"),
    EnvFix("production-not-bool", "production: maybe",
           "environments/dev.yaml:production: expected true or false, got 'maybe'. Fix: write true or false",
           "production: false"),
]


def _env_line(tmp_path: Path, lines: str) -> str:
    folder = tmp_path / "environments"
    folder.mkdir(exist_ok=True)
    (folder / "dev.yaml").write_text(with_lines((REPO / "environments" / "dev.yaml").read_text(), lines))
    try:
        load_environment("dev", folder)
    except UserError as exc:
        return str(exc)
    return ""


@pytest.mark.parametrize("row", ENV_ROWS, ids=[r.id for r in ENV_ROWS])
def test_environment_file_line_and_fix(tmp_path: Path, row: EnvFix) -> None:
    assert _env_line(tmp_path, row.bad) == row.line
    assert _env_line(tmp_path, row.fixed) == ""


# --- stack files: keys no program reads, and the provider guard --------------------------------------------------


@dataclasses.dataclass(frozen=True)
class FileFix:
    id: str
    layer: str
    bad: tuple[tuple[str, str], ...]  #: (old, new) replacements in <layer>/Pulumi.dev.yaml
    line: str
    fixed: tuple[tuple[str, str, str], ...]  #: (file, old, new) replacements applied after `bad`


NET = "network/Pulumi.dev.yaml"
AZ = "  payments-network:azCount: 3\n"
ENV_REGION = "region: us-east-1\n"
FILE_ROWS = [
    # a key of another layer: it belongs in that layer's file
    FileFix("other-layers-key", "network", ((AZ, AZ + "  payments-data:slowQuerySeconds: 2\n"),),
            "payments-data:slowQuerySeconds (network/Pulumi.dev.yaml): belongs to payments-data, but this file "
            "configures payments-network, so it would do nothing. Fix: move it to data/Pulumi.dev.yaml (where it is "
            "already set, change the value there instead)",
            ((NET, "  payments-data:slowQuerySeconds: 2\n", ""),
             ("data/Pulumi.dev.yaml", "payments-data:slowQuerySeconds: 1", "payments-data:slowQuerySeconds: 2"))),
    FileFix("other-namespace-own-key", "network", ((AZ, AZ + "  payments-data:flowLogRetentionDays: 400\n"),),
            "payments-data:flowLogRetentionDays (network/Pulumi.dev.yaml): belongs to payments-data, but this file "
            "configures payments-network, so it would do nothing. Fix: did you mean "
            "payments-network:flowLogRetentionDays?",
            ((NET, "payments-data:flowLogRetentionDays", "payments-network:flowLogRetentionDays"),)),
    FileFix("other-namespace-unknown-key", "network", ((AZ, AZ + "  payments-data:foo: 1\n"),),
            "payments-data:foo (network/Pulumi.dev.yaml): belongs to payments-data, but this file configures "
            "payments-network, so it would do nothing. Fix: delete it: payments-data has no key 'foo' either",
            ((NET, "  payments-data:foo: 1\n", ""),)),
    # the example: a misspelled namespace planned 3 AZs without a word
    FileFix("misspelled-namespace-key-already-set", "network", ((AZ, AZ + "  payments-netwrok:azCount: 2\n"),),
            "payments-netwrok:azCount (network/Pulumi.dev.yaml): 'payments-netwrok' is not a namespace any program "
            "here reads, so it would do nothing. Fix: did you mean payments-network:azCount? It is already in this "
            "file: put the value you meant there, and delete this line",
            ((NET, "  payments-netwrok:azCount: 2\n", ""), (NET, AZ, "  payments-network:azCount: 2\n"))),
    FileFix("misspelled-namespace", "network", ((AZ, AZ + "  payments-netwrok:flowLogRetentionDays: 400\n"),),
            "payments-netwrok:flowLogRetentionDays (network/Pulumi.dev.yaml): 'payments-netwrok' is not a namespace "
            "any program here reads, so it would do nothing. Fix: did you mean payments-network:flowLogRetentionDays?",
            ((NET, "payments-netwrok:", "payments-network:"),)),
    FileFix("no-namespace", "network", ((AZ, AZ + "  natStrategy: one_per_az\n"),),
            "natStrategy (network/Pulumi.dev.yaml): has no namespace, so no program reads it. Fix: did you mean "
            "payments-network:natStrategy? It is already in this file: put the value you meant there, and delete "
            "this line",
            ((NET, "  natStrategy: one_per_az\n", ""),
             (NET, "payments-network:natStrategy: single", "payments-network:natStrategy: one_per_az"))),
    FileFix("aws-region", "network", ((AZ, AZ + "  aws:region: eu-west-1\n"),),
            "aws:region (network/Pulumi.dev.yaml): has no effect: default providers are disabled and the layer's own "
            "AWS provider reads no aws: config. Fix: set region: eu-west-1 in environments/dev.yaml and delete this "
            "line", ((NET, "  aws:region: eu-west-1\n", ""), ("environments/dev.yaml", ENV_REGION,
                                                              "region: eu-west-1\n"))),
    FileFix("aws-profile", "network", ((AZ, AZ + "  aws:profile: payments-dev\n"),),
            "aws:profile (network/Pulumi.dev.yaml): has no effect: default providers are disabled and the layer's "
            "own AWS provider reads no aws: config. Fix: export AWS_PROFILE=payments-dev before running invoke or "
            "pulumi, and delete this line", ((NET, "  aws:profile: payments-dev\n", ""),)),
    FileFix("pulumi-unknown-key", "network", ((AZ, AZ + "  pulumi:template: aws-python\n"),),
            "pulumi:template (network/Pulumi.dev.yaml): is not a Pulumi setting these stacks use. Fix: delete it "
            "(the one pulumi: key here is pulumi:disable-default-providers)",
            ((NET, "  pulumi:template: aws-python\n", ""),)),
    FileFix("guard-misspelt-provider", "network", (("    - aws\n", "    - awss\n"),),
            "pulumi:disable-default-providers (network/Pulumi.dev.yaml): is ['awss']; it must list aws (or '*'), so "
            "that no resource escapes the layer's tagged provider. Fix: write pulumi:disable-default-providers: "
            "[aws] under config:", ((NET, "    - awss\n", "    - aws\n"),)),
    FileFix("guard-missing", "network", (("  pulumi:disable-default-providers:\n    - aws\n", ""),),
            "pulumi:disable-default-providers (network/Pulumi.dev.yaml): is missing, so a resource could use an "
            "untagged default provider. Fix: write pulumi:disable-default-providers: [aws] under config:",
            ((NET, "config:\n", "config:\n  pulumi:disable-default-providers: [aws]\n"),)),
]


def _repo_copy(tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    for layer in LAYERS:
        (root / layer).mkdir(parents=True)
        for file in (REPO / layer).glob("Pulumi.*.yaml"):
            shutil.copy(file, root / layer / file.name)
    shutil.copytree(REPO / "environments", root / "environments")
    return root


def _edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text, (path, old)
    path.write_text(text.replace(old, new, 1))


def _file_line(root: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setattr(environment.load_environment, "__defaults__", (root / "environments",))
    try:
        load_environment("dev")
        for layer in LAYERS:
            values = stackfiles.config(layer, "dev", root)
            project = project_name(layer)
            own = {k.split(":", 1)[1]: v for k, v in values.items() if k.startswith(f"{project}:")}
            config.load(settings_class(layer), own, where=project)
    except UserError as exc:
        return str(exc)
    return ""


@pytest.mark.parametrize("row", FILE_ROWS, ids=[r.id for r in FILE_ROWS])
def test_stack_file_line_and_fix(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, row: FileFix) -> None:
    root = _repo_copy(tmp_path)
    assert _file_line(root, monkeypatch) == ""  # the control
    for old, new in row.bad:
        _edit(root / row.layer / "Pulumi.dev.yaml", old, new)
    assert _file_line(root, monkeypatch) == row.line
    for file, old, new in row.fixed:
        _edit(root / file, old, new)
    assert _file_line(root, monkeypatch) == ""


# --- errors only a running program finds (through the offline plan) -----------------------------------------------


@dataclasses.dataclass(frozen=True)
class PlanFix:
    id: str
    layer: str
    bad: dict[str, dict[str, Any]]  #: layer -> overrides
    line: str
    fixed: dict[str, dict[str, Any]]  #: layer -> overrides laid over `bad`


PLAN_ROWS = [
    PlanFix("bucket-name-too-long", "data", {"data": {"staticBucketPrefix": "payments-static-content-for-the-"
                                                                                "checkout-frontend"}},
            "payments-data:staticBucketPrefix: bucket name 'payments-static-content-for-the-checkout-frontend-dev-"
            "123456789012' would be 66 characters, S3 allows 63. Fix: shorten staticBucketPrefix to at most 46 "
            "characters", {"data": {"staticBucketPrefix": "payments-static-content-for-the-checkout-front"}}),
    PlanFix("legacy-target-outside-on-prem", "edge", {"edge": {"legacyTargets": ["10.99.0.5"]}},
            "payments-edge:legacyTargets[0]: 10.99.0.5 is outside the on-prem networks the VPC routes to "
            "(172.16.0.0/16). Fix: list a server inside payments-network:onPremCidrs, or add its network there",
            {"network": {"onPremCidrs": ["172.16.0.0/16", "10.99.0.0/16"]}}),
    PlanFix("observability-compute-mode-differs", "observability", {"observability": {"computeMode": "ec2"}},
            "payments-observability:computeMode: is 'ec2' but the app layer runs 'fargate'. Fix: set computeMode: "
            "fargate in this layer's stack file (or change the app layer)",
            {"observability": {"computeMode": "fargate"}}),
]


def _plan_line(layer: str, overrides: dict[str, dict[str, Any]]) -> str:
    @user_errors
    def plan() -> None:
        plan_environment("dev", [layer], overrides=overrides)

    try:
        plan()
    except Exit as exc:
        return str(exc.message).removeprefix("error: ")
    return ""


@pytest.mark.parametrize("row", PLAN_ROWS, ids=[r.id for r in PLAN_ROWS])
def test_program_error_line_and_fix(row: PlanFix) -> None:
    assert _plan_line(row.layer, row.bad) == row.line
    merged = {layer: {**row.bad.get(layer, {}), **row.fixed.get(layer, {})} for layer in {*row.bad, *row.fixed}}
    assert _plan_line(row.layer, merged) == ""


def test_every_kind_of_row_is_there() -> None:
    assert len(ROWS) + len(ENV_ROWS) + len(FILE_ROWS) + len(PLAN_ROWS) >= 120
    assert {r.layer for r in ROWS} == set(LAYERS)
    assert len({r.id for r in [*ROWS, *ENV_ROWS, *FILE_ROWS, *PLAN_ROWS]}) == sum(
        map(len, (ROWS, ENV_ROWS, FILE_ROWS, PLAN_ROWS)))


def test_environment_object_is_unchanged_by_account() -> None:
    """accountId is optional: the environments in the repository do not set it, so ARNs are checked for partition
    and region only."""
    env: Environment = load_environment("dev")
    assert env.settings.account_id is None
