"""``invoke status``: each layer's last deploy and last run, promotion provenance and the migration phase.

The *last deploy* is the last time the Pulumi CLI changed (or tried to change) the layer's stack: a ``pulumi up``
that succeeded or failed, or a destroy. The *last run* is the last ``invoke deploy`` that touched the layer at
all, including runs that skipped it because nothing had changed or because an upstream failed: a skip is a run,
not a deploy.

Offline by default (deploy records, stack files, the environment file); ``--live`` also reads the phase the cutover
last wrote to the deployed SSM parameter (Pulumi CLI for the parameter's name, then AWS). When that fails, what
could be read offline is still shown, then the one-line error.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from rich.console import Group, RenderableType
from rich.text import Text

from payments.core.environment import load_environment
from payments.core.errors import UserError
from payments.core.graph import LAYERS
from payments.ops import promote
from payments.ops.console import Rows, styled
from payments.ops.records import DeployRecord, RecordStore

STYLE = {"succeeded": "green", "failed": "bold red"}


@dataclasses.dataclass
class LayerStatus:
    layer: str
    deploy: DeployRecord | None  #: the last time the CLI ran for the layer (up or destroy, succeeded or failed)
    run: DeployRecord | None  #: the last record of any kind (an unchanged or blocked skip is a run)
    provenance: dict[str, Any] | None


@dataclasses.dataclass
class EnvStatus:
    env: str
    production: bool
    migration_phase: str  #: the MigrationPhase tag, from environments/<env>.yaml
    layers: list[LayerStatus]
    live_phase: str | None = None  #: what the cutover last recorded in SSM (``--live`` only)
    live_error: str | None = None  #: why ``--live`` could not read it
    live_writer: str | None = None  #: the database the DB indirection names (``--live`` only)

    def as_dict(self) -> dict[str, Any]:
        return {
            "env": self.env,
            "production": self.production,
            "migrationPhaseTag": self.migration_phase,
            "deployedPhase": self.live_phase,
            "deployedPhaseError": self.live_error,
            "writer": self.live_writer,
            "layers": [{"layer": ls.layer, "lastDeploy": _record(ls.deploy), "lastRun": _record(ls.run),
                        "promotedFrom": ls.provenance} for ls in self.layers],
        }


def collect(env: str, root: Path, *, live: bool = False) -> EnvStatus:
    environment = load_environment(env)
    store = RecordStore(root)
    layers = [LayerStatus(name, store.last_change(env, name), store.latest(env, name),
                          promote.provenance(name, env, root)) for name in LAYERS]
    status = EnvStatus(env, environment.production, environment.settings.migration_phase.value, layers)
    if live:
        try:
            status.live_phase = deployed_phase(env, root, environment.settings.region)
            status.live_writer = deployed_writer(env, root)
        except UserError as exc:
            status.live_error = str(exc)
    return status


def deployed_writer(env: str, root: Path, route53: Any | None = None) -> str:
    """Which database takes payments: the DB indirection's value (the only truth; the phase is what the machines
    recorded), named after the data layer's outputs."""
    from payments.cutover.runner import aws_errors, stack_outputs

    data = stack_outputs(env, root)("data") or {}
    zone, name = data.get("dbZoneId"), data.get("dbIndirectionName")
    if not zone or not name:
        return "unknown (no DB indirection deployed: the app writes to Aurora's endpoint directly)"
    if route53 is None:
        import boto3

        route53 = boto3.client("route53")
    with aws_errors(f"reading {name}"):
        records = route53.list_resource_record_sets(
            HostedZoneId=zone, StartRecordName=name, StartRecordType="CNAME", MaxItems="1"
        )["ResourceRecordSets"]
    found = [r for r in records if r["Name"].rstrip(".") == name.rstrip(".") and r["Type"] == "CNAME"]
    if not found:
        return f"unknown ({name} has no CNAME)"
    value = str(found[0]["ResourceRecords"][0]["Value"]).rstrip(".")
    if value == str(data.get("dbWriterEndpoint", "")).rstrip("."):
        return f"Aurora ({value})"
    if value == str(data.get("onPremDbName", "")).rstrip("."):
        return f"on-prem MySQL ({value})"
    return f"unknown ({name} -> {value})"


def deployed_phase(env: str, root: Path, region: str) -> str:
    """The phase parameter's current value, or why there is none (migration layer not deployed)."""
    import boto3

    from payments.cutover.runner import aws_errors, stack_outputs

    outputs = stack_outputs(env, root)("migration")
    name = (outputs or {}).get("phaseParameterName")
    if not name:
        return "unknown (the migration layer is not deployed)"
    with aws_errors(f"reading {name}"):
        value = boto3.client("ssm", region_name=region).get_parameter(Name=name)["Parameter"]["Value"]
    return str(value)


def _record(record: DeployRecord | None) -> dict[str, Any] | None:
    if record is None:
        return None
    return {"action": record.action, "outcome": record.outcome, "finished": record.finished, "commit": record.commit,
            "runId": record.run_id, "reason": record.reason, "changed": record.changed}


def _when(stamp: str) -> str:
    return stamp[:19].replace("T", " ") if stamp else ""


def _deploy_text(record: DeployRecord | None) -> Text:
    if record is None:
        return styled("never", "dim")
    if record.action == "destroy":
        what = "destroyed" if record.outcome == "succeeded" else f"destroy failed: {record.reason}"
    elif record.outcome == "succeeded":
        what = "succeeded (" + ", ".join(record.changed or ["changed"]) + ")"
    else:
        what = f"{record.outcome}: {record.reason}"
    return styled(f"{_when(record.finished)} {what}, commit {record.commit[:12]}", STYLE.get(record.outcome, ""))


def _run_text(run: DeployRecord | None, deploy: DeployRecord | None) -> Text:
    if run is None:
        return styled("never", "dim")
    if deploy is not None and (run.run_id, run.finished) == (deploy.run_id, deploy.finished):
        return styled("the last deploy", "dim")
    if run.outcome == "unchanged":
        what = f"skipped (unchanged since {_when(run.deployed_at)})"
    elif run.outcome == "skipped":
        what = run.reason  # "not run: upstream 'data' failed"
    else:
        what = f"{run.outcome}: {run.reason}"
    return Text(f"{_when(run.finished)} {what}")


def _promoted_text(prov: dict[str, Any] | None) -> str:
    if not prov:
        return ""
    return (f"{prov.get('env')} @ {str(prov.get('commit', ''))[:12]}, deployed {_when(prov.get('deployedAt', ''))}, "
            f"promoted {_when(prov.get('promotedAt', ''))}")


def render(status: EnvStatus) -> RenderableType:
    """The environment's heading (phase tag, and the deployed phase with --live) and a row per layer."""
    kind = "production" if status.production else "non-production"
    heading = Text.assemble((f"{status.env} ({kind})", "bold"), f" — migration phase tag: {status.migration_phase}")
    if status.live_phase is not None:
        heading.append(f"; deployed phase (SSM): {status.live_phase}")
    if status.live_writer is not None:
        heading.append(f"; writer: {status.live_writer}")
    elif status.live_error is not None:
        heading.append("; deployed phase (SSM): unavailable, see the error below")
    table = Rows("", [("layer", "key"), ("last deploy (UTC)", "value"), ("last run (UTC)", "value"),
                      ("promoted from", "value")], stack=True)
    for ls in status.layers:
        table.add_row(ls.layer, _deploy_text(ls.deploy), _run_text(ls.run, ls.deploy), _promoted_text(ls.provenance))
    return Group(heading, table)
