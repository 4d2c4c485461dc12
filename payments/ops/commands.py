"""What the deploy/preview/destroy/outputs/promote/status tasks do, so `tasks.py` stays thin and tests call it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.text import Text

from payments.core.errors import UserError
from payments.core.graph import parse_layers
from payments.ops import promote as promote_mod
from payments.ops import status as status_mod
from payments.ops.console import Rows, print_json, styled
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
    """An output as table text: strings as they are, structured values as JSON."""
    return value if isinstance(value, str) else json.dumps(value, sort_keys=True)


def outputs(env: str, root: Path, layers: str | None = None, *, console: Console = default_console,
            as_json: bool = False, **kw: Any) -> dict[str, dict[str, Any] | None]:
    orch = Orchestrator(env, root, **kw)
    values = orch.all_outputs(parse_layers(layers))
    provenance = {layer: promote_mod.provenance(layer, env, root) for layer in values}
    if as_json:
        print_json({"env": env, "layers": [
            {"layer": layer, "stack": orch.stack(layer), "deployed": outs is not None, "outputs": outs,
             "promotedFrom": provenance[layer]} for layer, outs in values.items()]})
        return values
    for layer, outs in values.items():
        prov = provenance[layer]
        title = f"{layer} outputs ({orch.stack(layer)})"
        if prov:
            title += f"; settings promoted from {prov.get('env')} @ {str(prov.get('commit', ''))[:12]}"
        if not outs:
            console.print(Text.assemble((title, "bold"), ": ", ("not deployed", "dim")))
            continue
        table = Rows(title, [("output", "key"), ("value", "value")])
        for name, value in outs.items():
            table.add_row(name, _value(value))
        console.print(table)
    return values


def promote(source: str, target: str, root: Path, layers: str | None = None, *, dry_run: bool = False,
            backward: bool = False, console: Console = default_console, **kw: Any) -> promote_mod.Promotion:
    selected = parse_layers(layers)
    promotion = promote_mod.plan_promotion(source, target, selected, root, backward=backward, **kw)
    notes = [what for what, on in (("backward", backward), ("dry run", dry_run)) if on]
    title = f"promote {source} -> {target}" + (f" ({', '.join(notes)})" if notes else "")
    table = Rows(title,
                 [("layer", "key"), ("key", "key"), (target, "value"), (f"-> from {source}", "value")], stack=True)
    for lp in promotion.layers:
        if not lp.changes:
            table.add_row(lp.layer, "", "", styled(lp.note, "dim"))
        for change in lp.changes:
            table.add_row(lp.layer, change.key.split(":", 1)[1], promote_mod.show(change.old),
                          promote_mod.show(change.new))
        if lp.refused:
            table.add_row(lp.layer, styled("refused", "bold red"), "", lp.note)
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


def status(envs: str | list[str], root: Path, *, live: bool = False, console: Console = default_console,
           as_json: bool = False) -> list[status_mod.EnvStatus]:
    """Each environment's status; with `live`, what could be read is shown before the one-line error."""
    results = [status_mod.collect(env, root, live=live) for env in ([envs] if isinstance(envs, str) else envs)]
    if as_json:
        print_json({"environments": [result.as_dict() for result in results]})
    else:
        for result in results:
            console.print(status_mod.render(result))
    failed = [result for result in results if result.live_error]
    if failed:
        raise UserError(f"{failed[0].env}: {failed[0].live_error}")
    return results
