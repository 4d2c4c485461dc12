"""``invoke status``: each layer's last deploy, promotion provenance and the migration phase.

Offline by default (deploy records, stack files, the environment file); ``--live`` also reads the phase the cutover
last wrote to the deployed SSM parameter (Pulumi CLI for the parameter's name, then AWS).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from rich.table import Table

from payments.core.environment import load_environment
from payments.core.graph import LAYERS
from payments.ops import promote
from payments.ops.records import DeployRecord, RecordStore


@dataclasses.dataclass
class LayerStatus:
    layer: str
    last: DeployRecord | None  #: the last real attempt (deploy or destroy)
    latest: DeployRecord | None  #: the last record of any kind (may be a skip because an upstream failed)
    provenance: dict[str, Any] | None


@dataclasses.dataclass
class EnvStatus:
    env: str
    production: bool
    migration_phase: str  #: the MigrationPhase tag, from environments/<env>.yaml
    layers: list[LayerStatus]
    live_phase: str | None = None  #: what the cutover last recorded in SSM (``--live`` only)


def collect(env: str, root: Path, *, live: bool = False) -> EnvStatus:
    environment = load_environment(env)
    store = RecordStore(root)
    layers = [LayerStatus(name, store.last(env, name), store.latest(env, name), promote.provenance(name, env, root))
              for name in LAYERS]
    status = EnvStatus(env, environment.production, environment.settings.migration_phase.value, layers)
    if live:
        status.live_phase = deployed_phase(env, root, environment.settings.region)
    return status


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


def _when(stamp: str) -> str:
    return stamp[:19].replace("T", " ") if stamp else ""


def _what(record: DeployRecord) -> str:
    if record.action == "destroy":
        return "destroyed" if record.outcome == "succeeded" else f"destroy {record.outcome}"
    if record.outcome == "unchanged":
        return f"skipped: unchanged since {_when(record.deployed_at)}"
    if record.outcome == "succeeded":
        return "deployed (" + ", ".join(record.changed or ["changed"]) + ")"
    return record.outcome


def table(status: EnvStatus) -> Table:
    kind = "production" if status.production else "non-production"
    phase = f"migration phase tag: {status.migration_phase}"
    if status.live_phase is not None:
        phase += f"; deployed phase (SSM): {status.live_phase}"
    t = Table(title=f"{status.env} ({kind}) — {phase}", title_justify="left")
    for column in ("layer", "last deploy (UTC)", "commit", "outcome", "what happened", "promoted from"):
        t.add_column(column, no_wrap=column not in ("what happened", "promoted from"))
    for ls in status.layers:
        rec = ls.last
        prov = ls.provenance
        promoted = (f"{prov.get('env')} @ {str(prov.get('commit', ''))[:12]}, "
                    f"deployed {_when(prov.get('deployedAt', ''))}, promoted {_when(prov.get('promotedAt', ''))}"
                    if prov else "")
        if rec is None:
            t.add_row(ls.layer, "never", "", "", "", promoted)
            continue
        style = {"succeeded": "green", "unchanged": "cyan", "failed": "bold red"}.get(rec.outcome, "yellow")
        what = _what(rec)
        if ls.latest is not None and ls.latest.finished != rec.finished and ls.latest.outcome == "skipped":
            what += f"; later run skipped it: {ls.latest.reason}"
        elif rec.outcome == "failed":
            what = rec.reason
        t.add_row(ls.layer, _when(rec.finished), rec.commit[:12], f"[{style}]{rec.outcome}[/]", what, promoted)
    return t
