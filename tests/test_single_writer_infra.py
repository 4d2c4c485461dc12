"""Issue 15, the infrastructure the single-writer machines act on, over the real plans (dev, prod, compact).

- the DB indirection (a private zone, the on-prem A record, the CNAME the app connects to, owned by the migration);
- the app subnets' write fence (a network ACL whose allow entries leave room for the switchover's DENY), proven by
  the reachability analysis with and without the fence entry;
- the dormant write-pause rule at the edge, and the write methods the switchover sets;
- least privilege: the app's and DMS's own users (never the master), IAM database authentication, row binlogs,
  the SQL of `invoke db-users` run against a real MariaDB;
- the reverse replication task.
"""

from __future__ import annotations

import copy
import ipaddress
import json
import re
from pathlib import Path
from typing import Any

import boto3
import botocore.session
import pytest
import yaml
from botocore.validate import validate_parameters
from moto import mock_aws

from payments.core.errors import ConfigError, UserError
from payments.layers.data.indirection import INDIRECTION_TTL, check_on_prem_address
from payments.layers.edge import write_pause
from payments.layers.network.fence import ALLOW_RULE, FENCE_RULE
from payments.ops import db_users
from payments.plan import fabricate
from payments.plan.engine import PlannedResource
from payments.reachability import intent as reach
from tests.support import of_type, one, plan

ENVS = ("dev", "prod", "compact")
REPO = Path(__file__).resolve().parents[1]
ZONE = "aws:route53/zone:Zone"
RECORD = "aws:route53/record:Record"
NACL = "aws:ec2/networkAcl:NetworkAcl"
NACL_RULE = "aws:ec2/networkAclRule:NetworkAclRule"
NACL_ASSOC = "aws:ec2/networkAclAssociation:NetworkAclAssociation"
RULE = "aws:lb/listenerRule:ListenerRule"
SSM = "aws:ssm/parameter:Parameter"
SECRET = "aws:secretsmanager/secret:Secret"
SECRET_VERSION = "aws:secretsmanager/secretVersion:SecretVersion"
DMS_TASK = "aws:dms/replicationTask:ReplicationTask"
DMS_ENDPOINT = "aws:dms/endpoint:Endpoint"
DMS_ON = {
    "migration": {
        "dmsSourceSecretArn": "arn:aws:secretsmanager:us-east-1:123456789012:secret:onprem-mysql-AbCdEf",
        "dmsSourceSslMode": "require",
    },
    "observability": {"dmsEnabled": True},
}


def records(env: str, **data: Any) -> dict[str, PlannedResource]:
    lp = plan(env, ["network", "data"], {"data": data} if data else None).layer("data")
    return {r.inputs["type"]: r for r in of_type(lp, RECORD)}


# --- 1. the DB indirection ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("env", ENVS)
def test_the_indirection_starts_at_the_on_prem_database_and_belongs_to_the_migration(env: str) -> None:
    p = plan(env, ["network", "data"])
    data, network = p.layer("data"), p.layer("network")
    zone = one(data, ZONE)
    assert zone.inputs["name"] == f"{env}.payments.internal"
    # Private: associated with this VPC only.
    assert [v["vpcId"] for v in zone.inputs["vpcs"]] == [network.outputs["vpcId"]]
    found = records(env)
    a, cname = found["A"], found["CNAME"]
    assert a.inputs["name"] == f"onprem-db.{env}.payments.internal" and a.inputs["records"] == ["172.16.20.10"]
    assert cname.inputs["name"] == f"db.{env}.payments.internal"
    assert cname.inputs["records"] == [a.inputs["name"]] and cname.inputs["ttl"] == INDIRECTION_TTL == 5
    assert cname.ignore_changes == ("records",)
    assert data.outputs["dbIndirectionName"] == cname.inputs["name"]
    assert data.outputs["onPremDbName"] == a.inputs["name"]
    assert "dbZoneId" in data.outputs  # the zone id is known only once created


def test_without_an_on_prem_database_the_indirection_starts_at_the_aws_writer() -> None:
    lp = plan("dev", ["network", "data"], {"data": {"onPremDbAddress": None}}).layer("data")
    kinds = {r.inputs["type"]: r for r in of_type(lp, RECORD)}
    assert set(kinds) == {"CNAME"}
    assert kinds["CNAME"].inputs["records"] == [lp.outputs["dbWriterEndpoint"]]
    assert "onPremDbName" not in lp.outputs


def test_an_on_prem_address_outside_the_vpn_networks_is_refused_with_the_key() -> None:
    with pytest.raises(ConfigError, match=re.escape("payments-data:onPremDbAddress: 10.9.9.9 is outside")):
        check_on_prem_address(ipaddress.IPv4Address("10.9.9.9"), ["172.16.0.0/16"], "payments-data")
    assert check_on_prem_address(ipaddress.IPv4Address("172.16.20.10"), ["172.16.0.0/16"], "x") == "172.16.20.10"


def test_the_data_folder_refreshes_before_every_update() -> None:
    """ignoreChanges without a refresh re-sends the stored value when the record updates for another reason."""
    project = yaml.safe_load((REPO / "data" / "Pulumi.yaml").read_text())
    assert project["options"]["refresh"] == "always"


@pytest.mark.parametrize("env", ENVS)
def test_the_app_connects_through_the_indirection_with_its_own_user(env: str) -> None:
    p = plan(env)
    data, app = p.layer("data"), p.layer("app")
    params = {r.inputs["name"].rsplit(f"/{env}/", 1)[1]: r for r in of_type(data, SSM)}
    assert params["db/host"].inputs["insecureValue"] == data.outputs["dbIndirectionName"]
    text = json.dumps([r.inputs for r in app.resources])
    path = data.outputs["parameterPath"]
    assert f"{path}/db/host" in text and f"{path}/db/writer-endpoint" not in text
    # The app reads its own secret, never the master's.
    assert data.outputs["appDbSecretArn"] in text and data.outputs["dbSecretArn"] not in text
    assert "db/username" not in params  # the master's name is not published to the app either


@pytest.mark.parametrize("env", ENVS)
def test_user_secrets_are_created_empty_with_the_data_key(env: str) -> None:
    data = plan(env, ["network", "data"]).layer("data")
    secrets = {r.inputs["name"]: r for r in of_type(data, SECRET)}
    assert set(secrets) == {f"payments/{env}/db/app", f"payments/{env}/db/dms"}
    assert all(s.inputs["kmsKeyId"] == data.outputs["dataKeyArn"] for s in secrets.values())
    assert not of_type(data, SECRET_VERSION), "a password must never be in code, state or plan"


@pytest.mark.parametrize("env", ENVS)
def test_iam_authentication_and_row_binlogs_on_the_aws_database(env: str) -> None:
    data = plan(env, ["network", "data"]).layer("data")
    db = [r for r in data.resources if r.type in ("aws:rds/cluster:Cluster", "aws:rds/instance:Instance")]
    assert [d.inputs["iamDatabaseAuthenticationEnabled"] for d in db] == [True]
    groups = [r for r in data.resources if r.type.startswith("aws:rds/") and "ParameterGroup" in r.type]
    params = {p["name"]: p["value"] for g in groups for p in g.inputs["parameters"]}
    assert params["binlog_format"] == "ROW" and params["binlog_row_image"] == "FULL"


# --- 2. the write fence -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("env", ENVS)
def test_the_app_subnets_carry_an_open_acl_with_room_for_the_fence(env: str) -> None:
    net = plan(env, ["network"]).layer("network")
    acl = one(net, NACL)
    assert not acl.inputs.get("ingress") and not acl.inputs.get("egress"), "inline entries would fight the fence"
    rules = of_type(net, NACL_RULE)
    assert sorted((r.inputs["egress"], r.inputs["ruleNumber"], r.inputs["ruleAction"], r.inputs["cidrBlock"],
                   r.inputs["protocol"]) for r in rules) == [
        (False, ALLOW_RULE, "allow", "0.0.0.0/0", "-1"), (True, ALLOW_RULE, "allow", "0.0.0.0/0", "-1")]
    assert FENCE_RULE < ALLOW_RULE
    assert sorted(a.inputs["subnetId"] for a in of_type(net, NACL_ASSOC)) == sorted(net.outputs["appSubnetIds"])
    assert net.outputs["appNetworkAclId"] == acl.id and net.outputs["onPremDbPort"] == 3306


def test_dms_is_not_behind_the_fence() -> None:
    """The reverse task writes on-prem after the flip: its subnets must not carry the fenced ACL."""
    p = plan("prod", None, DMS_ON)
    fenced = {a.inputs["subnetId"] for a in of_type(p.layer("network"), NACL_ASSOC)}
    dms = one(p.layer("migration"), "aws:dms/replicationSubnetGroup:ReplicationSubnetGroup")
    assert dms.inputs["subnetIds"] and not fenced & set(dms.inputs["subnetIds"])


def _fence(resources: list[PlannedResource], acl_id: str, cidrs: list[str], port: int) -> list[PlannedResource]:
    """The plan plus the entries the switchover adds (CreateNetworkAclEntry, egress DENY from rule 50)."""
    added = [
        PlannedResource(NACL_RULE, f"fence-{i}", f"urn:fence-{i}", f"fence-{i}",
                        {"networkAclId": acl_id, "ruleNumber": FENCE_RULE + i, "egress": True, "protocol": "6",
                         "ruleAction": "deny", "cidrBlock": cidr, "fromPort": port, "toPort": port}, None, True)
        for i, cidr in enumerate(cidrs)
    ]
    return [*copy.deepcopy(resources), *added]


def _verdict(env: str, fenced: bool) -> dict[str, str]:
    p = plan(env)
    resources = [r for lp in p.layers for r in lp.resources]
    net = p.layer("network")
    if fenced:
        resources = _fence(resources, net.outputs["appNetworkAclId"], net.outputs["onPremCidrs"],
                           net.outputs["onPremDbPort"])
    config = {k.split(":", 1)[1]: v for k, v in yaml.safe_load(
        (REPO / "network" / f"Pulumi.{env}.yaml").read_text())["config"].items() if k.startswith("payments-network:")}
    verdict = reach.check(env, resources, config, "us-east-1", net.outputs["dataSubnetIds"])
    assert verdict is not None
    return {c.flow: c.status for c in verdict.checks}


@pytest.mark.parametrize("env", ("dev", "compact"))
def test_the_fence_cuts_exactly_the_app_to_on_prem_database_flow(env: str) -> None:
    open_ = _verdict(env, fenced=False)
    fenced = _verdict(env, fenced=True)
    to_on_prem = [f for f in open_ if f.startswith("app -> on-prem database")]
    assert to_on_prem and all(open_[f] == "proven" for f in to_on_prem), open_
    assert "violated" not in open_.values(), open_
    assert all(fenced[f] == "violated" for f in to_on_prem), fenced
    # Everything else, DMS to on-prem included, answers as before.
    assert {f: s for f, s in fenced.items() if f not in to_on_prem} == {
        f: s for f, s in open_.items() if f not in to_on_prem}


# --- 3. the write pause -------------------------------------------------------------------------------------------


def _matches(conditions: list[dict[str, Any]], method: str, headers: dict[str, str]) -> bool:
    """How an ALB evaluates a rule's conditions (all must match; header names and values case-insensitively)."""
    for c in conditions:
        if c["Field"] == "http-request-method" and method not in c["HttpRequestMethodConfig"]["Values"]:
            return False
        if c["Field"] == "http-header":
            cfg = c["HttpHeaderConfig"]
            sent = {k.lower(): v.lower() for k, v in headers.items()}.get(cfg["HttpHeaderName"].lower())
            if sent is None or sent not in [v.lower() for v in cfg["Values"]]:
                return False
    return True


METHODS = ("GET", "HEAD", "OPTIONS", "POST", "PUT", "PATCH", "DELETE", "TRACE", "CONNECT")
CLIENT_HEADERS = ({}, {"Idempotency-Key": "k1"}, {"X-Payments-Write-Pause": "1"}, {"X-Payments-Write-Pause": "true"})


@pytest.mark.parametrize("env", ENVS)
def test_the_write_pause_rule_is_dormant_first_and_owned_by_the_migration(env: str) -> None:
    edge = plan(env, ["network", "edge"]).layer("edge")
    rule = one(edge, RULE)
    assert rule.inputs["listenerArn"] == edge.outputs["httpsListenerArn"]
    assert rule.inputs["priority"] == 1
    (action,) = rule.inputs["actions"]
    fixed = action["fixedResponse"]
    assert (action["type"], fixed["statusCode"], fixed["contentType"]) == ("fixed-response", "503", "application/json")
    assert json.loads(fixed["messageBody"]) == {"error": "write_paused", "retry": "same Idempotency-Key, backoff"}
    assert rule.ignore_changes == ("conditions",)
    assert rule.inputs["conditions"] == [{"httpHeader": {"httpHeaderName": "X-Payments-Write-Pause",
                                                         "values": ["dormant-never-sent"]}}]
    assert edge.outputs["writePauseRuleArn"]


def test_dormant_matches_no_request_and_paused_matches_exactly_the_writes() -> None:
    dormant, paused = write_pause.dormant_conditions(), write_pause.paused_conditions()
    assert not any(_matches(dormant, m, h) for m in METHODS for h in CLIENT_HEADERS)
    for method in METHODS:
        assert all(_matches(paused, method, h) == (method in {"POST", "PUT", "PATCH", "DELETE"})
                   for h in CLIENT_HEADERS), method
    # Both are valid ModifyRule requests as AWS's model defines them.
    shape = botocore.session.get_session().get_service_model("elbv2").operation_model("ModifyRule").input_shape
    for conditions in (dormant, paused):
        validate_parameters({"RuleArn": "arn:aws:elasticloadbalancing:us-east-1:123456789012:listener-rule/app/a/1/2/3",
                             "Conditions": conditions}, shape)  # raises ParamValidationError otherwise


# --- 4. least privilege: SQL and secrets --------------------------------------------------------------------------

PASSWORD = "Abcdefghijklmnop1234567890QRSTUV"  # pragma: allowlist secret (planted to prove masking)


def test_statements_never_show_a_password_once_masked() -> None:
    users = [db_users.app_user("payments_app", "payments", PASSWORD), db_users.ops_user("payments")]
    sql = db_users.statements(users)
    assert any(PASSWORD in s for s in sql)
    shown = db_users.masked(sql, users)
    assert not any(PASSWORD in s for s in shown) and any(db_users.MASK in s for s in shown)
    assert "CREATE USER IF NOT EXISTS 'payments_ops_ro'@'%' IDENTIFIED WITH AWSAuthenticationPlugin AS 'RDS' " \
           "REQUIRE SSL" in shown
    assert "GRANT SELECT, INSERT, UPDATE, DELETE ON `payments`.* TO 'payments_app'@'%'" in shown


@pytest.mark.parametrize("bad", ["x'; DROP USER root; --", "short1"])
def test_a_password_that_could_break_the_sql_is_refused(bad: str) -> None:
    with pytest.raises(UserError, match="16-128 letters and digits"):
        db_users.statements([db_users.app_user("payments_app", "payments", bad)])


@pytest.mark.parametrize(("kwargs", "words"), [
    ({"execute_on": "both"}, "--execute 'both' is not a database here. Fix: use one of aws, onprem"),
    ({"execute_on": "aws"}, "--execute needs --ca-bundle"),
    ({"execute_on": "onprem", "ca_bundle": "/nonexistent.pem"}, "(got /nonexistent.pem)"),
])
def test_db_users_refuses_an_unverified_or_unknown_target_before_touching_anything(kwargs: dict[str, Any],
                                                                                   words: str) -> None:
    with pytest.raises(UserError) as exc:
        db_users.run("dev", REPO, **kwargs)
    assert words in str(exc.value) and "Fix:" in str(exc.value)


def test_binlog_retention_sql() -> None:
    assert db_users.binlog_retention_sql(168)[0] == "CALL mysql.rds_set_configuration('binlog retention hours', 168)"


@mock_aws
def test_secrets_are_filled_once_by_secrets_manager_and_rotated_on_demand() -> None:
    sm = boto3.client("secretsmanager", region_name="us-east-1")
    arn = sm.create_secret(Name="payments/dev/db/app")["ARN"]  # empty, as IaC creates it
    assert db_users.secret_json(sm, arn) is None
    first = db_users.ensure_login(sm, arn, "payments_app", "db.dev.payments.internal", 3306, "payments", rotate=False)
    assert re.fullmatch(r"[A-Za-z0-9]{32}", first)
    stored = json.loads(sm.get_secret_value(SecretId=arn)["SecretString"])
    assert stored == {"username": "payments_app", "password": first, "host": "db.dev.payments.internal",
                      "port": 3306, "dbname": "payments", "engine": "mysql"}
    assert db_users.ensure_login(sm, arn, "payments_app", "db.dev.payments.internal", 3306, "payments",
                                 rotate=False) == first
    assert db_users.ensure_login(sm, arn, "payments_app", "db.dev.payments.internal", 3306, "payments",
                                 rotate=True) != first


@mock_aws
def test_both_databases_get_the_same_app_login_and_dms_its_own() -> None:
    sm = boto3.client("secretsmanager", region_name="us-east-1")
    app, dms = (sm.create_secret(Name=f"payments/dev/db/{r}")["ARN"] for r in ("app", "dms"))
    onprem = sm.create_secret(Name="onprem", SecretString=json.dumps(
        {"username": "dms_onprem", "password": PASSWORD, "host": "10.0.0.1", "port": 3306}))["ARN"]
    outputs = {"data": {"dbName": "payments", "dbWriterEndpoint": "w.rds", "dbPort": 3306, "appDbSecretArn": app,
                        "dmsDbSecretArn": dms, "dbIndirectionName": "db.dev.payments.internal",
                        "onPremDbName": "onprem-db.dev.payments.internal"},
               "network": {"onPremDbPort": 3306}}
    sides = db_users.plan_sides(outputs, {"payments-migration:dmsSourceSecretArn": onprem}, sm, rotate=False)
    by = {s.name: {u.name: u for u in s.users} for s in sides}
    assert set(by["aws"]) == {"payments_app", "payments_dms", "payments_ops_ro"}
    assert set(by["onprem"]) == {"payments_app", "dms_onprem"}
    assert by["aws"]["payments_app"].password == by["onprem"]["payments_app"].password
    assert by["onprem"]["dms_onprem"].password == PASSWORD
    assert [s.host for s in sides] == ["w.rds", "onprem-db.dev.payments.internal"]


@pytest.fixture(scope="module")
def mariadb(tmp_path_factory: pytest.TempPathFactory) -> Any:
    from payments.lab import process
    from payments.lab.database import Database

    db = Database("grants", 7, tmp_path_factory.mktemp("grants"), process.programs())
    db.install()
    db.launch()
    try:
        db.wait_ready()
        db.query("CREATE DATABASE payments")
        db.query("CREATE TABLE payments.payments (id INT PRIMARY KEY, amount INT)")
        yield db
    finally:
        db.stop()


def _login(db: Any, user: str, password: str) -> Any:
    import pymysql

    return pymysql.connect(host="127.0.0.1", port=db.port, user=user, password=password, autocommit=True,
                           ssl_disabled=True, connect_timeout=5)


def _refused(conn: Any, sql: str) -> bool:
    import pymysql

    try:
        with conn.cursor() as cur:
            cur.execute(sql)
    except (pymysql.err.OperationalError, pymysql.err.ProgrammingError) as exc:
        return exc.args[0] in (1044, 1045, 1142, 1143, 1227, 1410)  # access denied of each kind
    return False


def test_the_printed_sql_runs_on_mariadb_and_grants_least_privilege(mariadb: Any) -> None:
    """TLS is not configured on the throwaway server, so REQUIRE SSL is left out here; IAM users exist on AWS only."""
    app = db_users.app_user("payments_app", "payments", PASSWORD)
    dms = db_users.dms_user("payments_dms", "payments", PASSWORD[::-1])
    sql = db_users.statements([app, dms], require_tls=False, iam_plugin=False)
    for _ in range(2):  # idempotent: a second run (e.g. --rotate) succeeds too
        for statement in sql:
            mariadb.query(statement)
    conn = _login(mariadb, "payments_app", PASSWORD)
    with conn.cursor() as cur:
        cur.execute("INSERT INTO payments.payments VALUES (1, 100)")
        cur.execute("UPDATE payments.payments SET amount = 101 WHERE id = 1")
        cur.execute("SELECT amount FROM payments.payments WHERE id = 1")
        assert cur.fetchone() == (101,)
        cur.execute("DELETE FROM payments.payments WHERE id = 1")
    for forbidden in ("DROP TABLE payments.payments", "CREATE TABLE payments.t2 (id INT)",
                      "ALTER TABLE payments.payments ADD COLUMN x INT", "SELECT * FROM mysql.user",
                      "GRANT SELECT ON payments.* TO 'payments_dms'@'%'", "CREATE USER 'x'@'%'",
                      "SHOW MASTER STATUS", "CREATE DATABASE other"):
        assert _refused(conn, forbidden), forbidden
    conn.close()
    repl = _login(mariadb, "payments_dms", PASSWORD[::-1])
    with repl.cursor() as cur:
        cur.execute("SHOW MASTER STATUS")  # REPLICATION CLIENT: DMS reads the binlog position
        cur.execute("CREATE DATABASE IF NOT EXISTS awsdms_control")
        cur.execute("CREATE TABLE payments.dms_loaded (id INT)")
        cur.execute("DROP TABLE payments.dms_loaded")
    assert _refused(repl, "SELECT * FROM mysql.user") and _refused(repl, "CREATE DATABASE other")
    repl.close()


# --- 5. the reverse replication -----------------------------------------------------------------------------------


@pytest.mark.parametrize(("env", "engine"), [("prod", "aurora"), ("compact", "mysql")])
def test_the_reverse_task_replays_aws_changes_on_prem_cdc_only_and_stopped(env: str, engine: str) -> None:
    p = plan(env, None, DMS_ON)
    mig, data = p.layer("migration"), p.layer("data")
    tasks = {r.name: r for r in of_type(mig, DMS_TASK)}
    # The plan's stand-in ARN of each endpoint, as the tasks reference them.
    endpoints = {fabricate.state(DMS_ENDPOINT, r.name, r.inputs, "us-east-1", mig.stack.rsplit("/", 1)[-1])[1][
        "endpointArn"]: r for r in of_type(mig, DMS_ENDPOINT)}
    reverse = tasks["dms-reverse-task"]
    assert reverse.inputs["migrationType"] == "cdc" and reverse.inputs["startReplicationTask"] is False
    source, target = (endpoints[reverse.inputs[k]] for k in ("sourceEndpointArn", "targetEndpointArn"))
    assert (source.inputs["endpointType"], source.inputs["engineName"]) == ("source", engine)
    assert (target.inputs["endpointType"], target.inputs["engineName"]) == ("target", "mysql")
    assert source.inputs["secretsManagerArn"] == data.outputs["dmsDbSecretArn"]
    assert target.inputs["secretsManagerArn"] == DMS_ON["migration"]["dmsSourceSecretArn"]
    forward_target = endpoints[tasks["dms-task"].inputs["targetEndpointArn"]]
    assert forward_target.inputs["secretsManagerArn"] == data.outputs["dmsDbSecretArn"] != data.outputs["dbSecretArn"]
    settings = json.loads(reverse.inputs["replicationTaskSettings"])
    assert "FullLoadSettings" not in settings
    assert not any(settings["ChangeProcessingDdlHandlingPolicy"].values())
    assert mig.outputs["reverseDmsTaskArn"] and mig.outputs["dmsTaskArn"] != mig.outputs["reverseDmsTaskArn"]
