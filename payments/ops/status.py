"""``invoke status``: each layer's last deploy, promotion provenance and the migration phase (offline)."""

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
    migration_phase: str
    layers: list[LayerStatus]


def collect(env: str, root: Path) -> EnvStatus:
    environment = load_environment(env)
    store = RecordStore(root)
    layers = [LayerStatus(name, store.last(env, name), store.latest(env, name), promote.provenance(name, env, root))
              for name in LAYERS]
    return EnvStatus(env, environment.production, environment.settings.migration_phase.value, layers)


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
    t = Table(title=f"{status.env} ({kind}) — migration phase: {status.migration_phase}", title_justify="left")
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
