"""Tasks for the payment platform's Pulumi micro-stacks (run `invoke --list`).

Every task reads the layer graph from payments.core.graph; the logic lives in
the `payments` package so it is tested without invoke.
"""

from __future__ import annotations

import shlex
import sys
import time
from collections.abc import Callable
from pathlib import Path

from invoke import Context, task
from invoke.exceptions import Exit

from payments.core import graph as layer_graph
from payments.ops.console import console, dumps, print_json, user_errors

ROOT = Path(__file__).resolve().parent


# --- offline ------------------------------------------------------------------


@task(help={
    "env": "environment to plan: a file in environments/ (dev, prod, ...)",
    "out": "also write the whole plan as JSON to this file",
    "layers": "comma-separated layers to plan (default: all; their upstreams are planned too)",
    "quiet": "print only the findings and the summary line, not the per-layer tables",
    "json": "print the whole plan as JSON on stdout (for scripts; no tables)",
})
@user_errors
def plan(c: Context, env: str = "dev", out: str | None = None, layers: str | None = None, quiet: bool = False,
         json: bool = False) -> None:
    """Plan every layer offline under the Pulumi SDK's mocks: no cloud, no CLI, no credentials."""
    from payments.plan import render
    from payments.plan.engine import plan_environment

    selected = layer_graph.parse_layers(layers)
    if out and not Path(out).resolve().parent.is_dir():
        raise Exit(f"error: --out {out}: folder {Path(out).resolve().parent} does not exist. "
                   "Fix: create it, or write the plan to an existing folder", code=1)
    started = time.perf_counter()
    if json:
        result = plan_environment(env, selected)
        print_json(render.document(result))
    else:
        with console.status(f"planning {env}…") as status:
            result = plan_environment(env, selected,
                                      progress=lambda layer, what: status.update(f"{env}: {what} {layer}…"))
        render.show(result, console, quiet=quiet)
        console.print(f"planned in {time.perf_counter() - started:.1f}s")
    if out:
        try:
            Path(out).write_text(dumps(render.document(result)))
        except OSError as exc:
            raise Exit(f"error: --out {out}: {exc.strerror}. Fix: write the plan to a writable file", code=1) from None
        if not json:
            console.print(f"wrote {out}")
    if result.mandatory:
        raise Exit(f"error: {len(result.mandatory)} mandatory guardrail finding(s); see the findings above", code=1)


@task(help={"mermaid": "print the graph as a Mermaid flowchart (for the README)"})
def graph(c: Context, mermaid: bool = False) -> None:
    """Print the layer graph: each layer and the layers it reads."""
    print(layer_graph.mermaid() if mermaid else layer_graph.text())


@task(help={"k": "only run tests matching this pytest -k expression", "fast": "run tests on 2 worker processes"})
def test(c: Context, k: str | None = None, fast: bool = True) -> None:
    """Run the test suite (pytest): layers under mocks, contract, guardrails, orchestration, cutover, lab."""
    args = [sys.executable, "-m", "pytest", "-q"]
    if fast:
        # loadgroup: the lab's tests (xdist_group "lab") share one worker, so two labs never run at once.
        args += ["-n", "2", "--dist", "loadgroup"]
    if k:
        args += ["-k", k]
    c.run(shlex.join(args), pty=False)


# --- real deploys (Pulumi CLI) ---------------------------------------------------

_LAYERS_HELP = "comma-separated layers (default: all), e.g. network,data"
_WORKERS_HELP = "how many layers may run at once (layers whose upstreams are done run side by side)"


@task(help={
    "env": "environment to deploy: a file in environments/ (dev, prod, ...)",
    "layers": _LAYERS_HELP + "; their upstreams must already be deployed",
    "force": "deploy even layers whose inputs are unchanged since their last successful deploy",
    "workers": _WORKERS_HELP,
    "skip_preview": "pass --skip-preview to `pulumi up` (faster; errors then surface during the update)",
    "plan_check": "plan changed layers offline first (config validation, guardrails); --no-plan-check skips it",
})
@user_errors
def deploy(c: Context, env: str = "dev", layers: str | None = None, force: bool = False, workers: str = "4",
           skip_preview: bool = False, plan_check: bool = True) -> None:
    """Deploy layers with `pulumi up` in graph order, in parallel where possible; unchanged layers are skipped."""
    from payments.ops import commands

    commands.deploy(env, ROOT, layers, force=force, workers=workers, skip_preview=skip_preview,
                    plan_check=plan_check)


@task(help={"env": "environment to preview", "layers": _LAYERS_HELP, "diff": "show a rich diff per resource",
            "workers": _WORKERS_HELP})
@user_errors
def preview(c: Context, env: str = "dev", layers: str | None = None, diff: bool = False, workers: str = "4") -> None:
    """Run `pulumi preview` per layer in graph order (creates missing stacks, changes no resources)."""
    from payments.ops import commands

    commands.preview(env, ROOT, layers, diff=diff, workers=workers)


@task(help={
    "env": "environment to destroy",
    "layers": _LAYERS_HELP + "; layers still reading them must be included",
    "confirm": "the environment's name, to confirm (required; e.g. --confirm dev)",
    "workers": _WORKERS_HELP,
})
@user_errors
def destroy(c: Context, env: str = "dev", layers: str | None = None, confirm: str | None = None,
            workers: str = "4") -> None:
    """Destroy layers with `pulumi destroy` in reverse graph order; needs --confirm <env>."""
    from payments.ops import commands

    commands.destroy(env, ROOT, layers, confirm=confirm, workers=workers)


@task(help={"env": "environment whose stack outputs to show", "layers": _LAYERS_HELP,
            "json": "print the outputs as JSON on stdout (for scripts; no tables)"})
@user_errors
def outputs(c: Context, env: str = "dev", layers: str | None = None, json: bool = False) -> None:
    """Show every layer's stack outputs, full values (secret outputs are never shown in plaintext)."""
    from payments.ops import commands

    commands.outputs(env, ROOT, layers, as_json=json)


_BENCHMARKS = ("plan", "suite")


@task(help={"runs": "repetitions of each plan/orchestration measurement (the best is reported)",
            "only": "run one benchmark: plan (offline plan and deploy orchestration) or suite (the test suite's "
                    "wall time and slowest tests, written to benchmarks/suite.json)"})
@user_errors
def bench(c: Context, runs: str = "1", only: str | None = None) -> None:
    """Benchmark the offline plan, the deploy orchestration and the test suite (benchmarks/suite.json)."""
    if not runs.isdigit() or int(runs) < 1:
        raise Exit(f"error: --runs '{runs}' is not a whole number >= 1. Fix: use e.g. --runs 3", code=1)
    if only is not None and only not in _BENCHMARKS:
        raise Exit(f"error: --only '{only}' is not a benchmark. Fix: use one of: {', '.join(_BENCHMARKS)}", code=1)
    if only in (None, "plan"):
        c.run(shlex.join([sys.executable, str(ROOT / "benchmarks" / "orchestration.py"), "--runs", runs]), pty=False)
    if only in (None, "suite"):
        c.run(shlex.join([sys.executable, str(ROOT / "benchmarks" / "suite.py")]), pty=False)


# --- promotion and status ------------------------------------------------------


@task(help={
    "from_": "environment whose tested settings are copied (usually dev)",
    "to": "environment receiving them (usually prod)",
    "layers": _LAYERS_HELP,
    "dry_run": "show the per-layer diff only; change nothing",
    "backward": "allow copying from a production environment into a non-production one (e.g. prod -> dev)",
})
@user_errors
def promote(c: Context, from_: str = "dev", to: str = "prod", layers: str | None = None,
            dry_run: bool = False, backward: bool = False) -> None:
    """Copy promotable settings toward production (dev -> prod), recording provenance in the target's stack files."""
    from payments.ops import commands

    commands.promote(from_, to, ROOT, layers, dry_run=dry_run, backward=backward)


@task(help={"env": "environment to show (default: every environment)",
            "live": "also read the phase the cutover last recorded (Pulumi CLI and AWS credentials needed)",
            "json": "print the status as JSON on stdout (for scripts; no tables)"})
@user_errors
def status(c: Context, env: str | None = None, live: bool = False, json: bool = False) -> None:
    """Show each layer's last deploy and last run (a skip is a run), provenance and migration phase."""
    from payments.core.environment import known_environments
    from payments.ops import commands

    commands.status([env] if env else known_environments(), ROOT, live=live, as_json=json)


# --- cutover ---------------------------------------------------------------------


@task(help={
    "env": "environment whose deployed cutover state machine runs (dev, prod, ...)",
    "steps": "traffic schedule in percent on the target pool, e.g. 10,50,100 (default: the stack config)",
    "bake": "seconds to wait after each step before checking the gate alarm (default: the stack config)",
    "from_": "pool traffic leaves: legacy, blue or green (give --to too; default: the stack config)",
    "to": "pool traffic moves to: blue or green (give --from too)",
    "yes": "start without asking for confirmation",
})
@user_errors
def cutover(c: Context, env: str = "dev", steps: str | None = None, bake: str | None = None,
            from_: str | None = None, to: str | None = None, yes: bool = False) -> None:
    """Move traffic to the target pool with the deployed state machine, showing each state live."""
    from payments.cutover import runner

    payload = runner.cutover_input(steps, bake, from_, to)
    deployed = runner.Deployed(env, runner.stack_outputs(env, ROOT))
    payload = runner.with_current_task_definition(deployed, payload)
    question = f"start a cutover of '{env}' ({payload or 'configured defaults'})? type the env name: "
    if not yes and input(question) != env:
        raise Exit("cancelled", code=1)
    result = runner.cutover(deployed, payload, console)
    if not result.succeeded:
        raise Exit(f"error: {runner.failure_message(result, env)}", code=1)


@task(help={
    "env": "environment to roll back (needs AWS credentials only: no Pulumi CLI, backend or passphrase)",
    "pool": "pool that takes 100% of traffic (default: the source pool of the last cutover, from its run record)",
    "force": "move traffic even if the pool has no healthy target",
    "yes": "start without asking for confirmation",
})
@user_errors
def rollback(c: Context, env: str = "dev", pool: str | None = None, force: bool = False, yes: bool = False) -> None:
    """Force 100% of traffic back onto one pool, stopping any running cutover, and wait for it."""
    from payments.cutover import runner

    runner.check_pool(pool)
    deployed = runner.Deployed(env, runner.outputs_from_aws(env))
    if not yes and input(f"roll '{env}' back to {pool or 'the last source pool'}? type the env name: ") != env:
        raise Exit("cancelled", code=1)
    result = runner.rollback(deployed, pool, force, console)
    if result.error == "DatabaseOnAws":
        raise Exit(f"error: Aurora is the writer and the legacy pool writes on-prem: fall the database back first: "
                   f"invoke fallback --env {env}", code=1)
    if not result.succeeded:
        raise Exit("error: the rollback did not complete; act by hand (see the cause above)", code=1)


@task(help={
    "env": "environment whose offline plan provides the definitions, the safety net and the stand-ins",
    "fail_at": "put the gate alarm into ALARM once this step (percent) is applied, e.g. 50",
    "alarm_during_bake": "with --fail-at: the alarm comes halfway through that step's bake, not at its start",
    "stop_at": "a person stops the execution in this state (e.g. Bake): the safety net must put traffic back",
})
@user_errors
def rehearse(c: Context, env: str = "dev", fail_at: str | None = None, alarm_during_bake: bool = False,
             stop_at: str | None = None) -> None:
    """Run the planned cutover in the embedded AWS emulator, with a fault if asked; end with a verdict."""
    from payments.cutover import rehearsal

    if alarm_during_bake and fail_at is None:
        raise Exit("error: --alarm-during-bake needs --fail-at <step>. Fix: e.g. --fail-at 25 --alarm-during-bake",
                   code=1)
    scenario = rehearsal.Scenario(rehearsal.parse_fail_at(fail_at), alarm_during_bake, stop_at)
    _, problem = rehearsal.rehearse(env, scenario, console)
    if problem is not None:
        raise Exit(f"error: the rehearsal did not end as expected: {problem}; see the timeline above", code=1)


# --- lab -------------------------------------------------------------------------


@task(help={
    "env": "environment whose migration settings the lab runs (traffic steps, bake, write-pause bound)",
    "scenario": "one scenario, e.g. full, fallback, gate-alarm, flip-before-drain (default: every scenario "
                "that must lose nothing; the list: docs/lab.md)",
    "quick": "short waits (2 s bakes, 2 s fallback window) for CI; the sequence is the same",
    "rate": "payments per second of the load generator (default 50)",
    "driver": "machines (default: the planned state machines move traffic, through the lab bridge) or manual "
              "(every step called on the lab directly)",
})
@user_errors
def lab(c: Context, env: str = "dev", scenario: str | None = None, quick: bool = False, rate: str = "50",
        driver: str = "machines") -> None:
    """Run the migration on this machine: real MariaDB servers, HAProxy and live payments; count lost ones."""
    from payments.lab import scenarios
    from payments.lab.lab import LabSettings
    from payments.lab.machines import MachineDriver
    from payments.lab.manual import ManualDriver
    from payments.lab.process import programs

    try:
        per_second = float(rate)
    except ValueError:
        per_second = 0.0
    if not 1 <= per_second <= 500:
        raise Exit(f"error: --rate '{rate}' is not a number of payments per second from 1 to 500. Fix: e.g. --rate 50",
                   code=1)
    names = [scenarios.scenario(scenario).name] if scenario else [
        s.name for s in scenarios.SCENARIOS.values() if not s.catches_loss]
    drivers: dict[str, Callable[[], scenarios.Driver]] = {"machines": lambda: MachineDriver(env),
                                                          "manual": ManualDriver}
    if driver not in drivers:
        raise Exit(f"error: --driver '{driver}' is unknown. Fix: use one of {', '.join(drivers)}", code=1)
    timing = scenarios.timing_for(env, quick)
    programs()  # one line with the apt-get command when mariadbd or haproxy is missing
    scenarios.run_all(names, drivers[driver](), timing, LabSettings(rate=per_second), ROOT / "reports", console)


# --- docs ------------------------------------------------------------------------


@task(help={"check": "fail if a generated block is out of date instead of rewriting it"})
@user_errors
def docs(c: Context, check: bool = False) -> None:
    """Regenerate the documentation blocks built from code (layer graph, exports, config keys)."""
    from payments.ops import docs as generated

    if check:
        stale = generated.stale()
        if stale:
            raise Exit(f"error: generated docs are stale in {', '.join(stale)}. Fix: run `invoke docs`", code=1)
        console.print("generated docs are current")
        return
    changed = generated.write()
    console.print(f"updated {', '.join(changed)}" if changed else "generated docs already current")


# --- the writer: database switchover, fallback, finish ------------------------------------------------


def _writer(env: str, role: str, payload: dict[str, object], question: str, yes: bool) -> None:
    from payments.cutover import runner

    deployed = runner.Deployed(env, runner.stack_outputs(env, ROOT))
    runner.writer_arn(deployed, role)
    if not yes and input(f"{question} type the env name: ") != env:
        raise Exit("cancelled", code=1)
    result = runner.writer_move(deployed, role, payload, console)
    if not result.succeeded:
        raise Exit(f"error: {runner.writer_failure_message(result, role, env)}", code=1)


@task(help={
    "env": "environment whose writer moves from the on-prem MySQL to Aurora",
    "hold": "seconds the legacy pool must stay at 0 % before writes pause (default: switchoverHoldSeconds)",
    "yes": "start without asking for confirmation",
})
@user_errors
def switchover(c: Context, env: str = "dev", hold: str | None = None, yes: bool = False) -> None:
    """Make Aurora the writer inside a bounded write pause, with reverse replication as the way back."""
    from payments.layers.migration.schedule import check_seconds

    payload: dict[str, object] = {} if hold is None else {"holdSeconds": check_seconds(hold, "--hold", maximum=3600)}
    _writer(env, "switchover", payload, f"pause writes of '{env}' and make Aurora the writer?", yes)


@task(help={"env": "environment whose writer moves back from Aurora to the on-prem MySQL",
            "yes": "start without asking for confirmation"})
@user_errors
def fallback(c: Context, env: str = "dev", yes: bool = False) -> None:
    """Make the on-prem MySQL the writer again inside a bounded write pause, restarting forward replication."""
    _writer(env, "fallback", {}, f"pause writes of '{env}' and make the on-prem MySQL the writer again?", yes)


@task(help={"env": "environment whose fallback window ends", "yes": "start without asking for confirmation"})
@user_errors
def finish(c: Context, env: str = "dev", yes: bool = False) -> None:
    """End the fallback window: phase cutover-complete, then stop reverse replication (no fallback after this)."""
    _writer(env, "finish", {}, f"end the fallback window of '{env}' for good (no fallback afterwards)?", yes)


@task(help={"env": "environment whose write pause, fences and replication are made to agree with the writer",
            "yes": "start without asking for confirmation"})
@user_errors
def recover_writer(c: Context, env: str = "dev", yes: bool = False) -> None:
    """Run writer-recovery by hand: lift the pause, unfence the writer the DB indirection names, restart its way
    back; never moves the writer."""
    _writer(env, "writer-recovery", {"trigger": "operator"}, f"run writer-recovery on '{env}'?", yes)
# --- what IaC cannot do to a database ----------------------------------------------------------------------------


@task(help={
    "env": "environment whose databases get their users (secrets filled from secretsmanager:GetRandomPassword)",
    "rotate": "draw new passwords even where a secret already holds one",
    "execute": "run the SQL on one database: aws (as the master, from its secret) or onprem (--admin-user, "
               "password in $PAYMENTS_DB_ADMIN_PASSWORD); default: print only",
    "host": "connect here instead (e.g. 127.0.0.1 through an SSM port forward)",
    "port": "port with --host",
    "admin_user": "on-prem administrator (with --execute onprem)",
    "ca_bundle": "CA file that verifies the server certificate (with --execute): the RDS bundle or the on-prem CA",
})
@user_errors
def db_users(c: Context, env: str = "dev", rotate: bool = False, execute: str | None = None, host: str | None = None,
             port: str | None = None, admin_user: str | None = None, ca_bundle: str | None = None) -> None:
    """Create the app's and DMS's database users with least privilege on both databases (passwords masked)."""
    from payments.ops import db_users as users

    for side, sql in users.run(env, ROOT, rotate=rotate, execute_on=execute, host=host,
                               port=int(port) if port else None, admin_user=admin_user, ca_bundle=ca_bundle):
        console.print(f"-- {side}{' (executed)' if side == execute else ''}")
        for statement in sql:
            console.print(f"{statement};", highlight=False, markup=False)


@task(help={"env": "environment whose AWS database keeps binlogs for the reverse replication"})
@user_errors
def binlog_retention(c: Context, env: str = "dev") -> None:
    """Print the SQL that sets the AWS database's binlog retention (run it as the master user, before a switchover)."""
    from payments.ops import db_users as users

    for statement in users.retention(env, ROOT):
        console.print(f"{statement};", highlight=False, markup=False)
