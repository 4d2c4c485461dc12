"""Deploy, preview and destroy every layer of an environment with the Pulumi CLI, in graph order.

Layers whose upstreams are done run side by side (a bounded thread pool over
graphlib's ``TopologicalSorter``); a failed layer stops its dependents while
independent layers finish. Every run writes a JSON report, and ``deploy``
writes a deploy record per layer (:mod:`payments.ops.records`). A layer whose
program, shared code, stack config and upstream outputs are unchanged since its
last successful deploy is skipped (``force`` deploys anyway), so re-running
after a failure resumes where it stopped.

Nothing changes before the preflight passes: environment, layers, CLI,
passphrase, AWS credentials, and an offline plan (config validation and
guardrails) of every layer whose program or config changed.
"""

from __future__ import annotations

import dataclasses
import threading
import time
from collections.abc import Callable, Iterable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from graphlib import TopologicalSorter
from pathlib import Path
from typing import Any

from payments.core import contract, naming, stackfiles
from payments.core.environment import Environment, load_environment
from payments.core.errors import UserError
from payments.core.graph import LAYERS, dependents, parse_layers, project_name
from payments.ops import freeze, protection, pulumi_cli, records
from payments.ops.pulumi_cli import PulumiCli, Result
from payments.ops.records import DeployRecord, RecordStore

SUCCEEDED, FAILED, SKIPPED, UNCHANGED = "succeeded", "failed", "skipped", "unchanged"
DEFAULT_WORKERS = 4

#: (layer, state, note): state is one of waiting, running, or a final outcome.
EventFn = Callable[[str, str, str], None]
#: Offline plan of (env, layers, root): raises UserError or returns the number of mandatory findings' lines.
PlannerFn = Callable[[str, list[str], Path], list[str]]


@dataclasses.dataclass
class LayerResult:
    layer: str
    outcome: str
    reason: str = ""
    seconds: float = 0.0
    started: str = ""
    finished: str = ""
    log: str | None = None
    changed: list[str] = dataclasses.field(default_factory=list)
    inputs_hash: str = ""


@dataclasses.dataclass
class Report:
    action: str
    env: str
    run_id: str
    commit: str
    workers: int
    forced: bool
    started: str
    finished: str = ""
    seconds: float = 0.0
    layers: list[LayerResult] = dataclasses.field(default_factory=list)
    path: Path | None = None

    @property
    def ok(self) -> bool:
        return all(r.outcome != FAILED for r in self.layers) and not self.blocked

    @property
    def blocked(self) -> list[LayerResult]:
        return [r for r in self.layers if r.outcome == SKIPPED]

    def counts(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for r in self.layers:
            out[r.outcome] = out.get(r.outcome, 0) + 1
        return out

    def result(self, layer: str) -> LayerResult:
        return next(r for r in self.layers if r.layer == layer)

    def as_dict(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data.pop("path")
        data["summary"] = self.counts()
        return data


def default_planner(env: str, layers: list[str], root: Path) -> list[str]:
    """Plan `layers` offline (config validation, contract, guardrails); return mandatory findings."""
    from payments.plan.engine import plan_environment

    try:
        plan = plan_environment(env, layers, root=root)
    except UserError:
        raise
    except Exception as exc:  # a program bug: one line, the traceback is in `invoke plan`
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise UserError(f"offline plan of {env} failed: {first}. "
                        f"Fix: run `invoke plan --env {env}` to see why") from exc
    return [f"{f.rule} {f.resource}: {f.message}" for f in plan.mandatory]


def parse_workers(workers: int | str) -> int:
    """The --workers option: a whole number ≥ 1 (tasks take it as text so that invoke's parser cannot crash on it)."""
    try:
        count = int(workers)
    except ValueError:
        raise UserError(f"--workers '{workers}' is not a whole number. Fix: use e.g. --workers 4") from None
    if count < 1:
        raise UserError(f"--workers {count} must be at least 1. Fix: use e.g. --workers 4")
    return count


class Orchestrator:
    """Runs one action over the layers of one environment."""

    def __init__(self, env: str, root: Path, *, cli: PulumiCli | None = None, workers: int | str = DEFAULT_WORKERS,
                 on_event: EventFn | None = None, planner: PlannerFn | None = default_planner,
                 package_dir: Path = records.PACKAGE_DIR, commit: str | None = None,
                 running: freeze.RunningFn | None = None) -> None:
        self.workers = parse_workers(workers)
        self.environment: Environment = load_environment(env)
        stackfiles.check_syntax(env, root)  # a broken stack file is one line here, not the CLI's error later
        self.env = env
        self.root = root
        self.cli = cli or PulumiCli(root)
        self.on_event = on_event or (lambda layer, state, note: None)
        self.planner = planner
        self.package_dir = package_dir
        self.commit = commit if commit is not None else records.git_commit(root)
        self.records = RecordStore(root)
        self.run_id = naming.run_stamp()
        self._outputs: dict[str, dict[str, Any] | None] = {}
        self._outputs_lock = threading.Lock()
        self._layer_locks = {name: threading.Lock() for name in LAYERS}
        #: how the deploy freeze asks Step Functions for running migration executions (default: boto3, at call time)
        self.running = running

    # --- helpers ---------------------------------------------------------------------

    def stack(self, layer: str) -> str:
        return self.environment.stack_ref(project_name(layer))

    def _rel(self, path: Path) -> str:
        return str(path.relative_to(self.root)) if path.is_relative_to(self.root) else str(path)

    def log_path(self, action: str, layer: str) -> Path:
        return self.root / records.REPORTS_DIR / f"{action}-{self.env}-{self.run_id}" / f"{layer}.log"

    def outputs(self, layer: str, refresh: bool = False) -> dict[str, Any] | None:
        """A stack's current outputs, None when the stack does not exist (cached per run; one CLI call per layer).

        Any other CLI failure (backend, passphrase, lock) raises: it must not read as "not deployed".
        """
        with self._layer_locks[layer]:
            with self._outputs_lock:
                if layer in self._outputs and not refresh:
                    return self._outputs[layer]
            values, result = self.cli.outputs(layer, self.stack(layer))
            if values is None and not result.missing_stack:
                raise UserError(f"reading the outputs of {self.stack(layer)} failed: {result.last_error()}")
            with self._outputs_lock:
                self._outputs[layer] = values
            return values

    def deployed(self, layer: str) -> bool:
        """The stack holds a deployment: it has outputs, or our last attempt on it was a deploy."""
        if self.outputs(layer):
            return True
        last = self.records.last(self.env, layer)
        return self.outputs(layer) is not None and last is not None and last.action == "up"

    def _report(self, action: str, forced: bool = False) -> Report:
        return Report(action=action, env=self.env, run_id=self.run_id, commit=self.commit, workers=self.workers,
                      forced=forced, started=records.now())

    def _finish(self, report: Report, results: dict[str, LayerResult], order: list[str], t0: float) -> Report:
        report.layers = [results[name] for name in order if name in results]
        report.finished = records.now()
        report.seconds = round(time.perf_counter() - t0, 3)
        report.path = records.report_path(self.root, report.action, self.env, self.run_id)
        records.write_json_atomic(report.path, report.as_dict())
        return report

    def _run_graph(self, graph: dict[str, list[str]], order: list[str], work: Callable[[str], LayerResult],
                   blocked: Callable[[str, str], str]) -> dict[str, LayerResult]:
        """Run `work` per layer once its predecessors in `graph` are done; failures block successors.

        `blocked(layer, cause)` words the reason a layer did not run because `cause` failed or was blocked.
        """
        rank = {name: i for i, name in enumerate(order)}
        results: dict[str, LayerResult] = {}
        cause: dict[str, str] = {}  # layer -> the failed layer that blocked it
        for name in order:
            self.on_event(name, "waiting", "")
        ts = TopologicalSorter(graph)
        ts.prepare()
        running: dict[Future[LayerResult], str] = {}
        with ThreadPoolExecutor(max_workers=self.workers, thread_name_prefix="layer") as pool:
            while ts.is_active():
                for name in sorted(ts.get_ready(), key=rank.__getitem__):
                    bad = [p for p in graph[name] if results[p].outcome in (FAILED, SKIPPED)]
                    if bad:
                        origin = cause.get(bad[0], bad[0])
                        cause[name] = origin
                        results[name] = LayerResult(name, SKIPPED, blocked(name, origin), started=records.now(),
                                                    finished=records.now())
                        self.on_event(name, SKIPPED, results[name].reason)
                        ts.done(name)
                        continue
                    self.on_event(name, "running", "")
                    running[pool.submit(self._guarded, work, name)] = name
                if not running:
                    continue
                done, _ = wait(running, return_when=FIRST_COMPLETED)
                for fut in done:
                    name = running.pop(fut)
                    results[name] = fut.result()
                    self.on_event(name, results[name].outcome, results[name].reason)
                    ts.done(name)
        return results

    @staticmethod
    def _guarded(work: Callable[[str], LayerResult], layer: str) -> LayerResult:
        started, t0 = records.now(), time.perf_counter()
        try:
            result = work(layer)
        except UserError as exc:
            result = LayerResult(layer, FAILED, str(exc))
        except Exception as exc:  # one layer's crash must not stop the others
            result = LayerResult(layer, FAILED, f"{type(exc).__name__}: {exc}")
        result.started = result.started or started
        result.finished = result.finished or records.now()
        result.seconds = result.seconds or round(time.perf_counter() - t0, 3)
        return result

    # --- preflight ---------------------------------------------------------------------

    def preflight(self, credentials: bool = True) -> None:
        """Everything that can fail before a change: CLI, passphrase, credentials (env/layers: in __init__/run)."""
        pulumi_cli.check_cli(self.cli.executable)
        pulumi_cli.check_backend(self.cli.backend, self.environment.settings.organization, self.cli.environ)
        pulumi_cli.check_passphrase(self.cli.backend, self.cli.environ)
        if credentials:
            pulumi_cli.check_credentials()
        # A fresh clone has no state folder yet: the CLI must read that as "no stack", not fail on the path.
        self.cli.prepare_backend()

    def check_freeze(self, action: str, layers: list[str]) -> None:
        """Refuse to change edge, app or migration while a migration state machine runs (payments.ops.freeze)."""
        if any(name in freeze.FROZEN_LAYERS for name in layers):
            freeze.check(self.env, action, layers, self.outputs("migration"), self.environment.region,
                         self.running or freeze.running_executions)

    def local_hashes(self, layer: str) -> tuple[str, str]:
        return (records.code_hash(layer, self.root, self.package_dir), records.config_hash(layer, self.env, self.root))

    # --- deploy --------------------------------------------------------------------------

    def deploy(self, layers: Iterable[str] | None = None, *, force: bool = False, skip_preview: bool = False,
               plan_check: bool = True) -> Report:
        selected = _selection(layers)
        order = [name for name in LAYERS if name in selected]
        self.preflight()
        self.check_freeze("deploy", order)
        local = {name: self.local_hashes(name) for name in order}
        if plan_check and self.planner is not None:
            changed_locally = [
                name for name in order
                if force or (base := self.records.baseline(self.env, name)) is None
                or (base.code_hash, base.config_hash) != local[name]
            ]
            if changed_locally:
                self.on_event("", "planning", f"offline plan of {', '.join(changed_locally)}")
                findings = self.planner(self.env, changed_locally, self.root)
                if findings:
                    raise UserError(
                        f"the offline plan of {self.env} has {len(findings)} mandatory guardrail finding(s), "
                        f"first: {findings[0]}. Fix: run `invoke plan --env {self.env}` and resolve them")
        report = self._report("up", force)
        t0 = time.perf_counter()

        def work(layer: str) -> LayerResult:
            return self._deploy_layer(layer, local[layer], force, skip_preview)

        graph = {name: [up for up in LAYERS[name] if up in selected] for name in order}
        results = self._run_graph(graph, order, work, lambda name, origin: f"not run: upstream '{origin}' failed")
        for name in order:
            if results[name].outcome == SKIPPED:
                self._record(name, "up", results[name], forced=force)
        return self._finish(report, results, order, t0)

    def _deploy_layer(self, layer: str, local: tuple[str, str], force: bool, skip_preview: bool) -> LayerResult:
        code, config = local
        started, t0 = records.now(), time.perf_counter()
        extra: dict[str, str] = {}
        try:
            result = self._deploy_checked(layer, code, config, force, skip_preview, extra)
        except Exception as exc:  # recorded, and reported as this layer's failure
            message = str(exc) if isinstance(exc, UserError) else f"{type(exc).__name__}: {exc}"
            result = LayerResult(layer, FAILED, message)
        result.started, result.finished = started, records.now()
        result.seconds = round(time.perf_counter() - t0, 3)
        self._record(layer, "up", result, code=code, config=config, forced=force, **extra)
        return result

    def _deploy_checked(self, layer: str, code: str, config: str, force: bool, skip_preview: bool,
                        extra: dict[str, str]) -> LayerResult:
        upstream_outputs: dict[str, dict[str, Any]] = {}
        for up in LAYERS[layer]:
            values = self.outputs(up)
            if not values:
                raise UserError(f"upstream '{up}' is not deployed in {self.env}. "
                                f"Fix: deploy it first (invoke deploy --env {self.env} --layers {up})")
            upstream_outputs[up] = values
        upstream = extra["upstream"] = records.upstream_hash(upstream_outputs)
        inputs = records.inputs_hash(code, config, upstream)
        base = self.records.baseline(self.env, layer)
        same_inputs = base is not None and base.inputs_hash == inputs and not force
        if base is not None and same_inputs and self._stack_exists(layer):
            extra["deployed_at"] = base.deployed_at or base.finished
            when = extra["deployed_at"][:19].replace("T", " ")
            extra["outputs_hash"] = base.outputs_hash
            return LayerResult(layer, UNCHANGED, f"unchanged since the deploy of {when} UTC ({base.commit[:12]})",
                               inputs_hash=inputs)
        changed = (["stack missing or empty (destroyed outside invoke)"] if same_inputs
                   else _changes(base, self.records.last(self.env, layer), code, config, upstream, force))
        log = self.log_path("up", layer)
        selected = self.cli.select(layer, self.stack(layer), log)
        run = selected if not selected.ok else self.cli.up(layer, self.stack(layer), log, skip_preview)
        if not run.ok:
            return LayerResult(layer, FAILED, run.last_error(), log=self._rel(log), changed=changed, inputs_hash=inputs)
        outputs = self.outputs(layer, refresh=True)
        extra["outputs_hash"] = records.digest(outputs)
        return LayerResult(layer, SUCCEEDED, "deployed: " + ", ".join(changed), log=self._rel(log), changed=changed,
                           inputs_hash=inputs)

    def _stack_exists(self, layer: str) -> bool:
        """The stack still holds a deployment (every layer exports something once deployed).

        Without this, a stack destroyed outside invoke would read as "unchanged" forever and its readers would fail.
        A stack updated from its own folder with the same program and config is left alone: it matches its inputs.
        """
        return bool(self.outputs(layer))

    def _record(self, layer: str, action: str, result: LayerResult, *, code: str = "", config: str = "",
                upstream: str = "", outputs_hash: str = "", forced: bool = False, deployed_at: str = "") -> None:
        finished = result.finished or records.now()
        if action == "up" and result.outcome == SUCCEEDED:
            deployed_at = finished
        self.records.write(DeployRecord(
            layer=layer, env=self.env, action=action, outcome=result.outcome, reason=result.reason,
            run_id=self.run_id, commit=self.commit, started=result.started or finished, finished=finished,
            seconds=result.seconds, code_hash=code, config_hash=config, upstream_hash=upstream,
            inputs_hash=result.inputs_hash, outputs_hash=outputs_hash, changed=list(result.changed), forced=forced,
            deployed_at=deployed_at))

    # --- preview ---------------------------------------------------------------------------

    def preview(self, layers: Iterable[str] | None = None, *, diff: bool = False) -> Report:
        """``pulumi preview`` per layer in graph order (stacks are created when missing, nothing else changes)."""
        selected = _selection(layers)
        order = [name for name in LAYERS if name in selected]
        self.preflight()
        report = self._report("preview")
        t0 = time.perf_counter()

        def work(layer: str) -> LayerResult:
            log = self.log_path("preview", layer)
            selected_ = self.cli.select(layer, self.stack(layer), log)
            run = selected_ if not selected_.ok else self.cli.preview(layer, self.stack(layer), log, diff)
            if not run.ok:
                return LayerResult(layer, FAILED, run.last_error(), log=self._rel(log))
            return LayerResult(layer, SUCCEEDED, "previewed", log=self._rel(log))

        graph = {name: [up for up in LAYERS[name] if up in selected] for name in order}
        results = self._run_graph(graph, order, work, lambda name, origin: f"not run: upstream '{origin}' failed")
        return self._finish(report, results, order, t0)

    # --- destroy -------------------------------------------------------------------------------

    def destroy(self, layers: Iterable[str] | None = None, *, confirm: str | None = None) -> Report:
        """``pulumi destroy`` in reverse graph order; a layer goes only after every layer reading it."""
        selected = _selection(layers)
        order = [name for name in reversed(LAYERS) if name in selected]
        if confirm != self.env:
            if self.environment.production:
                raise UserError(f"'{self.env}' is a production environment: destroy needs --confirm {self.env}. "
                                "Fix: re-run with that flag if you really mean to delete it")
            raise UserError(f"destroy deletes every resource of {self.env}. Fix: re-run with --confirm {self.env}")
        self.preflight()
        self.check_freeze("destroy", order)
        for name in order:
            for reader in sorted(dependents(name) - set(selected)):
                if self.deployed(reader):
                    raise UserError(f"cannot destroy '{name}' in {self.env}: '{reader}' is still deployed and reads "
                                    f"it. Fix: add it: --layers {','.join(sorted(set(selected) | {reader}))}")
        report = self._report("destroy")
        t0 = time.perf_counter()

        def work(layer: str) -> LayerResult:
            if self.outputs(layer) is None:
                return LayerResult(layer, UNCHANGED, f"no stack in {self.env}: nothing to destroy")
            log = self.log_path("destroy", layer)
            lift = self._lift_deletion_protection(layer, log)
            if lift is not None and not lift.ok:
                result = LayerResult(layer, FAILED, f"deletion protection not lifted: {lift.last_error()}",
                                     log=self._rel(log))
            else:
                self.on_event(layer, "running", "destroying")
                run = self.cli.destroy(layer, self.stack(layer), log)
                result = (LayerResult(layer, SUCCEEDED, "destroyed", log=self._rel(log)) if run.ok
                          else LayerResult(layer, FAILED, run.last_error(), log=self._rel(log)))
            result.finished = records.now()
            self._record(layer, "destroy", result)
            return result

        readers = {name: [r for r in LAYERS if name in LAYERS[r] and r in selected] for name in order}
        results = self._run_graph(readers, order, work,
                                  lambda name, origin: f"not run: '{origin}', which reads it, was not destroyed")
        return self._finish(report, results, order, t0)

    def _lift_deletion_protection(self, layer: str, log: Path) -> Result | None:
        """Turn deletion protection off on the layer's protected resources (a targeted update), if it is on."""
        spec = protection.protected(layer, self.env, self.root)
        if spec is None:
            return None
        self.on_event(layer, "running", "lifting deletion protection")
        with protection.lifted_config(layer, self.env, self.root, spec) as config_file:
            return self.cli.up_targets(layer, self.stack(layer), config_file, spec.targets(), log)

    # --- outputs ---------------------------------------------------------------------------------

    def all_outputs(self, layers: Iterable[str] | None = None) -> dict[str, dict[str, Any] | None]:
        """Every selected layer's outputs, secrets (per the contract or the CLI) masked as ``[secret]``."""
        selected = _selection(layers)
        self.preflight(credentials=False)
        out: dict[str, dict[str, Any] | None] = {}
        with ThreadPoolExecutor(max_workers=self.workers) as pool:
            fetched = dict(zip(selected, pool.map(self.outputs, selected), strict=True))
        for layer in selected:
            values = fetched[layer]
            if values is None:
                out[layer] = None
                continue
            declared = contract.declared(layer)
            out[layer] = {k: ("[secret]" if (declared.get(k) and declared[k].secret) else v)
                          for k, v in sorted(values.items())}
        return out


def _selection(layers: Iterable[str] | None) -> list[str]:
    if layers is None:
        return list(LAYERS)
    if isinstance(layers, str):
        return parse_layers(layers)
    return [name for name in parse_layers(",".join(layers))]


def _changes(base: DeployRecord | None, last: DeployRecord | None, code: str, config: str, upstream: str,
             force: bool) -> list[str]:
    if base is None:
        if last is None:
            return ["first deploy"]
        return ["redeploy after destroy"] if last.action == "destroy" else ["retry after failure"]
    changed = [what for what, old, new in (("program", base.code_hash, code), ("config", base.config_hash, config),
                                           ("upstream outputs", base.upstream_hash, upstream)) if old != new]
    if force and not changed:
        changed = ["forced"]
    return changed
