"""What the deploy/preview/destroy/outputs/promote/status tasks do, so `tasks.py` stays thin and tests call it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from payments.core.errors import UserError
from payments.core.graph import parse_layers
from payments.ops import promote as promote_mod
from payments.ops import status as status_mod
from payments.ops.console import console as default_console
from payments.ops.deploy import DEFAULT_WORKERS, FAILED, Orchestrator, Report
from payments.ops.progress import LiveProgress, report_table


def _finish(report: Report, console: Console) -> Report:
    console.print(report_table(report))
    rel = report.path
    console.print(f"report: {rel}")
    if not report.ok:
        failed = [r.layer for r in report.layers if r.outcome == FAILED]
        blocked = [r.layer for r in report.blocked]
        parts = ([f"failed: {', '.join(failed)}"] if failed else []) + ([f"not run: {', '.join(blocked)}"]
                                                                         if blocked else [])
        raise UserError(f"{report.action} {report.env}: {'; '.join(parts)}. "
                        f"Fix: see the logs named above, then re-run (finished layers are skipped)")
    return report


def deploy(env: str, root: Path, layers: str | None = None, *, force: bool = False,
           workers: int | str = DEFAULT_WORKERS, skip_preview: bool = False, plan_check: bool = True,
           console: Console = default_console, **kw: Any) -> Report:
    selected = parse_layers(layers)
    progress = LiveProgress(f"deploy {env}")
    orch = Orchestrator(env, root, workers=workers, on_event=progress, **kw)
    with progress.show(console):
        report = orch.deploy(selected, force=force, skip_preview=skip_preview, plan_check=plan_check)
    return _finish(report, console)


def preview(env: str, root: Path, layers: str | None = None, *, diff: bool = False,
            workers: int | str = DEFAULT_WORKERS, console: Console = default_console, **kw: Any) -> Report:
    selected = parse_layers(layers)
    progress = LiveProgress(f"preview {env}")
    orch = Orchestrator(env, root, workers=workers, on_event=progress, **kw)
    with progress.show(console):
        report = orch.preview(selected, diff=diff)
    return _finish(report, console)


def destroy(env: str, root: Path, layers: str | None = None, *, confirm: str | None = None,
            workers: int | str = DEFAULT_WORKERS, console: Console = default_console, **kw: Any) -> Report:
    selected = parse_layers(layers)
    progress = LiveProgress(f"destroy {env}")
    orch = Orchestrator(env, root, workers=workers, on_event=progress, **kw)
    with progress.show(console):
        report = orch.destroy(selected, confirm=confirm)
    return _finish(report, console)


def _value(value: Any) -> str:
    """An output as table text, escaped: a '[secret]' marker must print as itself, not vanish as a markup tag."""
    return escape(value if isinstance(value, str) else json.dumps(value, sort_keys=True))


def outputs(env: str, root: Path, layers: str | None = None, *, console: Console = default_console,
            **kw: Any) -> dict[str, dict[str, Any] | None]:
    orch = Orchestrator(env, root, **kw)
    values = orch.all_outputs(parse_layers(layers))
    table = Table(title=f"outputs of {env}", title_justify="left")
    for column in ("layer", "output", "value"):
        table.add_column(column, no_wrap=column != "value", overflow="fold")
    for layer, outs in values.items():
        prov = promote_mod.provenance(layer, env, root)
        label = layer + (f"\n(promoted from {prov.get('env')} @ {str(prov.get('commit', ''))[:12]})" if prov else "")
        if not outs:
            table.add_row(label, "", "[dim]not deployed[/]")
            continue
        for i, (name, value) in enumerate(outs.items()):
            table.add_row(label if i == 0 else "", name, _value(value))
        table.add_section()
    console.print(table)
    return values


def promote(source: str, target: str, root: Path, layers: str | None = None, *, dry_run: bool = False,
            console: Console = default_console, **kw: Any) -> promote_mod.Promotion:
    selected = parse_layers(layers)
    promotion = promote_mod.plan_promotion(source, target, selected, root, **kw)
    table = Table(title=f"promote {source} -> {target}{' (dry run)' if dry_run else ''}", title_justify="left")
    for column in ("layer", "key", target, f"-> from {source}"):
        table.add_column(column, overflow="fold")
    for lp in promotion.layers:
        if not lp.changes:
            table.add_row(lp.layer, "", "", f"[dim]{lp.note}[/]")
        for i, change in enumerate(lp.changes):
            table.add_row(lp.layer if i == 0 else "", change.key.split(":", 1)[1], promote_mod.show(change.old),
                          promote_mod.show(change.new))
        if lp.refused:
            table.add_row("", "[bold red]refused[/]", "", lp.note)
        table.add_section()
    console.print(table)
    if promotion.refused:
        first = promotion.refused[0]
        raise UserError(f"promotion refused for {first.layer}: {first.note}")
    if not any(lp.changes for lp in promotion.layers):
        console.print(f"nothing to promote: {target} already has {source}'s promotable settings")
        return promotion
    if dry_run:
        console.print("dry run: nothing written")
        return promotion
    promote_mod.apply(promotion, root)
    for path in promotion.written:
        console.print(f"wrote {path.relative_to(root)}")
    console.print(f"next: review the diff, then `invoke deploy --env {target}`")
    return promotion


def status(env: str, root: Path, *, live: bool = False, console: Console = default_console) -> status_mod.EnvStatus:
    result = status_mod.collect(env, root, live=live)
    console.print(status_mod.table(result))
    return result
