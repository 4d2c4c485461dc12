"""What IaC cannot do to a database: its users and grants, and Aurora/RDS binlog retention.

``invoke db-users --env E`` gives the application and DMS users of their own on both databases (issue 15 item 6):

- ``payments_app``: DML on the payments schema only (SELECT, INSERT, UPDATE, DELETE), on the on-prem MySQL and on
  the AWS database with the same password, so the DB indirection can move it without a redeploy. It cannot change
  the schema, grant, or read ``mysql.*``;
- DMS's user on each side (``payments_dms`` on AWS; the user of ``dmsSourceSecretArn`` on-prem): a source reads
  (SELECT on the schema, REPLICATION CLIENT and REPLICATION SLAVE to read the binlog), a target writes (AWS's list
  for a MySQL target: DML and DDL on the schema, all on ``awsdms_control``). Each side is a source in one direction
  and a target in the other, so each DMS user has both sets;
- people and tools on the AWS database log in with IAM tokens (``payments_ops_ro``, read-only,
  ``AWSAuthenticationPlugin``): no password exists for them.

Passwords come from ``secretsmanager:GetRandomPassword`` and go straight into the secrets the data layer created
empty; the SQL is printed with every password masked, and run only with ``--execute`` (the password then travels
in the connection to the database, never to the terminal or a file).
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterable, Sequence

from payments.core.errors import UserError

MASK = "********"
#: Every user logs in from the VPC or the VPN, never from a fixed host: '%' (TLS required, see `REQUIRE SSL`).
ANY_HOST = "%"
PASSWORD_LENGTH = 32
DMS_CONTROL_SCHEMA = "awsdms_control"
APP_PRIVILEGES = ("SELECT", "INSERT", "UPDATE", "DELETE")
#: What a DMS MySQL source needs: read the tables and the binlog.
DMS_SOURCE_PRIVILEGES = ("SELECT",)
DMS_REPLICATION_PRIVILEGES = ("REPLICATION CLIENT", "REPLICATION SLAVE")
#: What AWS lists for a MySQL/Aurora MySQL DMS target (DMS creates and alters the tables it loads).
DMS_TARGET_PRIVILEGES = ("ALTER", "CREATE", "CREATE TEMPORARY TABLES", "DROP", "INDEX", "INSERT", "UPDATE", "DELETE",
                         "SELECT")
OPS_USER = "payments_ops_ro"
_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,31}$")
#: GetRandomPassword with ExcludePunctuation returns letters and digits only: nothing to escape in a SQL literal.
_PASSWORD = re.compile(r"^[A-Za-z0-9]{16,128}$")
SIDES = ("aws", "onprem")


@dataclasses.dataclass(frozen=True)
class Grant:
    privileges: tuple[str, ...]
    on: str  #: e.g. "`payments`.*" or "*.*"


@dataclasses.dataclass(frozen=True)
class DbUser:
    name: str
    grants: tuple[Grant, ...]
    password: str | None = dataclasses.field(default=None, repr=False)  #: None: IAM authentication only
    why: str = ""


def _ident(name: str, what: str) -> str:
    if not _NAME.match(name):
        raise UserError(f"{what} '{name}' is not a plain MySQL name. Fix: use letters, digits and '_' (max 32)")
    return name


def app_user(name: str, schema: str, password: str) -> DbUser:
    return DbUser(name, (Grant(APP_PRIVILEGES, f"`{_ident(schema, 'schema')}`.*"),), password,
                  "the application: DML on the payments schema only")


def dms_user(name: str, schema: str, password: str) -> DbUser:
    """DMS on one side: the source of one direction and the target of the other."""
    target = Grant(DMS_TARGET_PRIVILEGES, f"`{_ident(schema, 'schema')}`.*")
    return DbUser(
        name,
        (target, Grant(("ALL PRIVILEGES",), f"`{DMS_CONTROL_SCHEMA}`.*"), Grant(DMS_REPLICATION_PRIVILEGES, "*.*")),
        password,
        "DMS: reads the binlog as a source, writes as a target (control tables in awsdms_control)",
    )


def ops_user(schema: str) -> DbUser:
    return DbUser(OPS_USER, (Grant(("SELECT",), f"`{_ident(schema, 'schema')}`.*"),), None,
                  "people and tools: read-only, IAM authentication (rds-db:connect), no password")


def statements(users: Iterable[DbUser], *, require_tls: bool = True, iam_plugin: bool = True) -> list[str]:
    """The SQL that creates each user (or resets its password) and gives exactly its grants; idempotent.

    `require_tls` adds REQUIRE SSL (PCI DSS 4.2.1: the app reaches the on-prem MySQL over the VPN, DMS over TLS);
    `iam_plugin` is off where AWS's authentication plugin does not exist (any server but RDS/Aurora)."""
    tls = " REQUIRE SSL" if require_tls else ""
    out: list[str] = []
    for user in users:
        who = f"'{_ident(user.name, 'user')}'@'{ANY_HOST}'"
        if user.password is None:
            if not iam_plugin:
                continue
            auth = "IDENTIFIED WITH AWSAuthenticationPlugin AS 'RDS'"
        else:
            if not _PASSWORD.match(user.password):
                raise UserError(f"the password drawn for {user.name} is not 16-128 letters and digits. Fix: run "
                                "again (GetRandomPassword with ExcludePunctuation returns such passwords)")
            auth = f"IDENTIFIED BY '{user.password}'"
        out.append(f"CREATE USER IF NOT EXISTS {who} {auth}{tls}")
        # An existing user gets the current password and nothing else it may have been given by hand.
        out.append(f"ALTER USER {who} {auth}{tls}")
        out.append(f"REVOKE ALL PRIVILEGES, GRANT OPTION FROM {who}")
        out += [f"GRANT {', '.join(g.privileges)} ON {g.on} TO {who}" for g in user.grants]
    return out


def masked(sql: Sequence[str], users: Iterable[DbUser]) -> list[str]:
    """The statements with every password replaced by :data:`MASK`."""
    secrets = [u.password for u in users if u.password]
    out = []
    for line in sql:
        for secret in secrets:
            line = line.replace(secret, MASK)
        out.append(line)
    return out


def binlog_retention_sql(hours: int) -> list[str]:
    """Aurora MySQL and RDS MySQL keep binlogs only as long as this says (reverse replication reads them)."""
    return [f"CALL mysql.rds_set_configuration('binlog retention hours', {int(hours)})",
            "CALL mysql.rds_show_configuration()"]


# --- the live part: secrets and the two databases ----------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Side:
    """One database as `invoke db-users` sees it: where it is and who must exist there."""

    name: str  #: "aws" or "onprem"
    host: str
    port: int
    users: tuple[DbUser, ...]
    iam_plugin: bool


def secret_json(client: object, arn: str) -> dict[str, object] | None:
    """The secret's JSON value, or None while it has none (created empty by IaC)."""
    import json

    from botocore.exceptions import ClientError

    try:
        value = client.get_secret_value(SecretId=arn)["SecretString"]  # type: ignore[attr-defined]
    except ClientError as exc:
        # A secret without any value ("can't find the specified secret value for staging label: AWSCURRENT").
        if exc.response.get("Error", {}).get("Code") == "ResourceNotFoundException" and "secret value" in str(exc):
            return None
        raise
    loaded = json.loads(value)
    return loaded if isinstance(loaded, dict) else None


def ensure_login(client: object, arn: str, user: str, host: str, port: int, dbname: str, *, rotate: bool) -> str:
    """The password of `user` in the secret `arn`, drawn by Secrets Manager and stored first when there is none
    (or when `rotate`). The secret holds what a DMS endpoint needs: username, password, host, port, dbname."""
    import json

    current = secret_json(client, arn)
    password = str(current.get("password", "")) if current else ""
    if rotate or not password:
        password = client.get_random_password(  # type: ignore[attr-defined]
            PasswordLength=PASSWORD_LENGTH, ExcludePunctuation=True, RequireEachIncludedType=True
        )["RandomPassword"]
    value = {"username": user, "password": password, "host": host, "port": port, "dbname": dbname,
             "engine": "mysql"}
    if current != value:
        client.put_secret_value(SecretId=arn, SecretString=json.dumps(value))  # type: ignore[attr-defined]
    return password


def execute(sql: Sequence[str], host: str, port: int, user: str, password: str, *, ca_bundle: str,
            check_hostname: bool) -> None:
    """Run `sql` as `user` (an administrator) over TLS verified against `ca_bundle` (the host name too, unless the
    connection goes through a port forward); the statements hold passwords, so nothing is echoed."""
    import pymysql

    conn = pymysql.connect(host=host, port=port, user=user, password=password, connect_timeout=10, autocommit=True,
                           ssl={"ca": ca_bundle, "check_hostname": check_hostname})
    try:
        with conn.cursor() as cur:
            for statement in sql:
                cur.execute(statement)
    finally:
        conn.close()


#: Where `--execute onprem` reads the on-prem administrator's password (never an argument: shells keep history).
ADMIN_PASSWORD_ENV = "PAYMENTS_DB_ADMIN_PASSWORD"  # pragma: allowlist secret (the name of an environment variable)


def plan_sides(outputs: dict[str, dict[str, object]], migration_config: dict[str, object], client: object, *,
               rotate: bool) -> list[Side]:
    """Both databases with their users, passwords drawn/stored as needed (secrets written, nothing printed)."""
    data, network = outputs["data"], outputs["network"]
    schema = str(data["dbName"])
    aws_host, aws_port = str(data["dbWriterEndpoint"]), int(str(data["dbPort"]))
    app_password = ensure_login(client, str(data["appDbSecretArn"]), "payments_app", str(data["dbIndirectionName"]),
                                aws_port, schema, rotate=rotate)
    dms_password = ensure_login(client, str(data["dmsDbSecretArn"]), "payments_dms", aws_host, aws_port, schema,
                                rotate=rotate)
    sides = [Side("aws", aws_host, aws_port, (app_user("payments_app", schema, app_password),
                                              dms_user("payments_dms", schema, dms_password), ops_user(schema)), True)]
    on_prem_host = data.get("onPremDbName")
    if on_prem_host:
        users = [app_user("payments_app", schema, app_password)]
        arn = migration_config.get("payments-migration:dmsSourceSecretArn")
        if arn:
            login = secret_json(client, str(arn)) or {}
            if not login.get("username") or not login.get("password"):
                raise UserError(f"the on-prem DMS secret {arn} has no username/password. Fix: store "
                                '{"username","password","host","port"} in it (payments-migration:dmsSourceSecretArn)')
            users.append(dms_user(str(login["username"]), schema, str(login["password"])))
        sides.append(Side("onprem", str(on_prem_host), int(str(network["onPremDbPort"])), tuple(users), False))
    return sides


def run(env: str, root: object, *, rotate: bool = False, execute_on: str | None = None, host: str | None = None,
        port: int | None = None, admin_user: str | None = None,
        ca_bundle: str | None = None) -> list[tuple[str, list[str]]]:
    """`invoke db-users`: secrets filled, then per database (side, masked SQL); runs one side with `execute_on`."""
    import os
    from pathlib import Path

    import boto3

    from payments.core import stackfiles
    from payments.core.environment import load_environment
    from payments.cutover.runner import aws_errors, stack_outputs

    if execute_on is not None and execute_on not in SIDES:
        raise UserError(f"--execute '{execute_on}' is not a database here. Fix: use one of {', '.join(SIDES)}")
    if execute_on is not None and not (ca_bundle and os.path.isfile(ca_bundle)):
        raise UserError(f"--execute needs --ca-bundle, a CA file that exists (got {ca_bundle or 'none'}): the server "
                        "certificate is verified. Fix: download the RDS bundle (https://truststore.pki.rds.amazonaws."
                        "com/global/global-bundle.pem) or use the on-prem CA")
    region = load_environment(env).region
    read = stack_outputs(env, Path(str(root)))
    outputs = {layer: read(layer) or {} for layer in ("network", "data")}
    if not outputs["data"].get("appDbSecretArn"):
        raise UserError(f"the data stack of '{env}' has no appDbSecretArn. Fix: `invoke deploy --env {env} "
                        "--layers network,data` first")
    client = boto3.client("secretsmanager", region_name=region)
    with aws_errors("filling the database users' secrets"):
        sides = plan_sides(outputs, stackfiles.config("migration", env, Path(str(root))), client, rotate=rotate)
    shown = []
    for side in sides:
        sql = statements(side.users, iam_plugin=side.iam_plugin)
        shown.append((side.name, masked(sql, side.users)))
        if side.name != execute_on:
            continue
        if side.name == "aws":
            with aws_errors("reading the master secret"):
                master = secret_json(client, str(outputs["data"]["dbSecretArn"])) or {}
            user, password = str(master.get("username", "")), str(master.get("password", ""))
        else:
            user, password = admin_user or "", os.environ.get(ADMIN_PASSWORD_ENV, "")
            if not user or not password:
                raise UserError(f"--execute onprem needs --admin-user and the password in ${ADMIN_PASSWORD_ENV}. "
                                "Fix: export it (read -s) and pass --admin-user")
        assert ca_bundle is not None
        # Through a port forward the certificate still names the database, not the local address.
        execute(sql, host or side.host, port or side.port, user, password, ca_bundle=ca_bundle,
                check_hostname=host is None)
    return shown


def retention(env: str, root: object) -> list[str]:
    """`invoke binlog-retention`: the SQL for the data layer's binlogRetentionHours (run it as the master user)."""
    from pathlib import Path

    from payments.cutover.runner import stack_outputs

    data = stack_outputs(env, Path(str(root)))("data") or {}
    if "binlogRetentionHours" not in data:
        raise UserError(f"the data stack of '{env}' has no binlogRetentionHours. Fix: `invoke deploy --env {env} "
                        "--layers data` first")
    return binlog_retention_sql(int(data["binlogRetentionHours"]))
