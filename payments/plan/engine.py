"""Run each layer's real program under the Pulumi SDK's mock monitor.

Each layer runs in its own thread (a fresh context for the SDK's context
variables and its own event loop), in graph order. A StackReference resolves
to the upstream layer's planned outputs, so the whole environment is planned
as it would deploy, with no engine, CLI, network or AWS account.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import dataclasses
import json
import runpy
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from unittest import mock

import pulumi
from pulumi.runtime import mocks as sdk_mocks
from pulumi.runtime import resource as sdk_resource
from pulumi.runtime import rpc
from pulumi.runtime.proto import source_pb2
from pulumi.runtime.settings import SETTINGS, get_root_resource
from pulumi.runtime.stack import run_pulumi_func
from pulumi.runtime.sync_await import _ensure_event_loop, _sync_await

from payments.core import contract, stack, stackfiles
from payments.core.environment import REPO_ROOT, Environment, load_environment
from payments.core.errors import UserError
from payments.core.graph import LAYERS, deploy_order, project_name, upstream_closure
from payments.guardrails import engine as guardrails
from payments.plan import fabricate
from payments.reachability import intent as reachability

SECRET = "[secret]"
STACK_REFERENCE = "pulumi:pulumi:StackReference"
STACK = "pulumi:pulumi:Stack"


@dataclasses.dataclass
class PlannedResource:
    type: str
    name: str
    urn: str
    id: str
    inputs: dict[str, Any]
    provider: str | None
    custom: bool
    protect: bool = False
    retain_on_delete: bool = False
    #: input paths whose changes the engine ignores (`ignore_changes`), as the guardrails need them
    ignore_changes: tuple[str, ...] = ()

    def as_dict(self) -> dict[str, Any]:
        # id and urn let outside tools follow links between resources (an input holding another's id).
        return {"type": self.type, "name": self.name, "id": self.id, "urn": self.urn, "inputs": self.inputs}


@dataclasses.dataclass
class LayerPlan:
    name: str
    stack: str
    resources: list[PlannedResource]
    outputs: dict[str, Any]  #: secrets replaced by "[secret]"
    values: dict[str, Any]  #: real values for downstream StackReferences (never written out)
    secret_outputs: list[str]
    reads: list[tuple[str, str]]  #: (upstream, output) this layer read
    findings: list[guardrails.Finding]
    #: the layer's config as the program saw it (bare keys, overrides applied; never written out)
    config: dict[str, Any] = dataclasses.field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "stack": self.stack,
            "resources": [r.as_dict() for r in self.resources],
            "outputs": self.outputs,
        }

    def counts(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for r in self.resources:
            out[r.type] = out.get(r.type, 0) + 1
        return dict(sorted(out.items()))


@dataclasses.dataclass
class Plan:
    env: str
    layers: list[LayerPlan]
    #: which flows the planned network lets through (None when the network layer is not planned)
    reachability: reachability.Verdict | None = None

    @property
    def findings(self) -> list[guardrails.Finding]:
        network = self.reachability.findings() if self.reachability else []
        return [f for layer in self.layers for f in layer.findings] + network

    @property
    def mandatory(self) -> list[guardrails.Finding]:
        return [f for f in self.findings if f.severity == guardrails.Severity.MANDATORY.value]

    def layer(self, name: str) -> LayerPlan:
        return next(lp for lp in self.layers if lp.name == name)

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "env": self.env,
            "layers": [lp.as_dict() for lp in self.layers],
            "findings": [f.as_dict() for f in self.findings],
        }
        if self.reachability is not None:
            out["reachability"] = self.reachability.as_dict()
        return out

    def to_json(self) -> str:
        return json.dumps(self.as_dict(), indent=2, sort_keys=False)


def sanitize(value: Any) -> Any:
    """Make a mock input JSON-safe, replacing secrets with "[secret]"."""
    if rpc.is_rpc_secret(value):
        return SECRET
    if isinstance(value, dict):
        return {k: sanitize(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [sanitize(v) for v in value]
    if isinstance(value, str | int | float | bool) or value is None:
        return value
    if isinstance(value, pulumi.Asset | pulumi.Archive):
        return {"asset": getattr(value, "text", None) or getattr(value, "path", None) or getattr(value, "uri", None)}
    if isinstance(value, pulumi.Resource):
        return f"<resource {type(value).__name__}>"
    return str(value)


def unwrap(value: Any) -> Any:
    """Strip secret wrappers so the fabricated state carries plain values."""
    if rpc.is_rpc_secret(value):
        return unwrap(rpc.unwrap_rpc_secret(value))
    if isinstance(value, dict):
        return {k: unwrap(v) for k, v in value.items()}
    if isinstance(value, list):
        return [unwrap(v) for v in value]
    return value


@dataclasses.dataclass(frozen=True)
class Registration:
    """What the monitor knows of a registration beyond its inputs: the engine's URN and the options rules read."""

    urn: str = ""
    protect: bool = False
    retain_on_delete: bool = False
    ignore_changes: tuple[str, ...] = ()


class PlanMocks(sdk_mocks.Mocks):
    def __init__(self, env: Environment, upstream: dict[str, LayerPlan]) -> None:
        self.env = env
        self.refs = {lp.stack: lp for lp in upstream.values()}
        self.recorded: list[PlannedResource] = []
        #: the registration in flight on this thread (set by PlanMonitor; the SDK registers from a thread pool)
        self.pending = threading.local()

    def new_resource(self, args: sdk_mocks.MockResourceArgs) -> tuple[str | None, dict[str, Any]]:
        inputs = dict(args.inputs)
        if args.typ == STACK_REFERENCE:
            target = self.refs.get(inputs.get("name", ""))
            if target is None:
                raise UserError(
                    f"StackReference to '{inputs.get('name')}' has no planned stack. Fix: plan its layer first"
                )
            rid, state = (
                args.name,
                {"name": inputs["name"], "outputs": target.values, "secretOutputNames": target.secret_outputs},
            )
        else:
            rid, state = fabricate.state(args.typ, args.name, unwrap(inputs), self.env.region, self.env.name)
        reg: Registration = getattr(self.pending, "value", None) or Registration()
        self.recorded.append(
            PlannedResource(
                args.typ,
                args.name,
                reg.urn,
                rid,
                sanitize(inputs),
                args.provider or None,
                # reads (StackReference, `get`) arrive with an id and are custom resources too
                bool(args.custom or args.resource_id),
                reg.protect,
                reg.retain_on_delete,
                reg.ignore_changes,
            )
        )
        return rid, state

    def call(self, args: sdk_mocks.MockCallArgs) -> tuple[dict[str, Any], list[tuple[str, str]] | None]:
        return fabricate.call(args.token, unwrap(dict(args.args)), self.env.region), []


class PlanMonitor(sdk_mocks.MockMonitor):
    """The SDK's mock monitor, also capturing each resource's URN as the engine builds it and the options the
    guardrails read (`protect`, `retain_on_delete`, `ignore_changes`), and the event loops its calls run on.

    The SDK's monitor gives each executor thread that calls it a new event loop and never closes it; futures of
    the plan keep those loops alive until interpreter exit, where one finalized after its sockets prints
    "Exception ignored ... Invalid file descriptor" after a clean plan. They are recorded here (the SDK then
    reuses the thread's loop) and closed when the layer is planned.
    """

    mocks: PlanMocks

    def __init__(self, mocks: PlanMocks) -> None:
        super().__init__(mocks)
        self.loops: set[asyncio.AbstractEventLoop] = set()
        self._loops_lock = threading.Lock()

    def _track_loop(self) -> None:
        loop = _ensure_event_loop()
        with self._loops_lock:
            self.loops.add(loop)

    def close_loops(self) -> None:
        for loop in self.loops:
            if not loop.is_running():
                loop.close()

    def make_urn(self, parent: str, type_: str, name: str) -> str:
        """The URN the engine gives: the type is qualified by every ancestor's type, the stack excluded.

        (The SDK's mock keeps only the parent's last type and the stack's, so targets built from it would miss.)
        """
        if parent:
            parent_type = parent.split("::")[2]
            if parent_type != STACK:
                type_ = f"{parent_type}${type_}"
        return "urn:pulumi:" + "::".join([pulumi.get_stack(), pulumi.get_project(), type_, name])

    def RegisterResource(self, request: Any) -> Any:  # noqa: N802 - gRPC method name
        self._track_loop()
        self.mocks.pending.value = Registration(
            self.make_urn(request.parent, request.type, request.name),
            bool(getattr(request, "protect", False)),
            bool(getattr(request, "retainOnDelete", False)),
            tuple(getattr(request, "ignoreChanges", ()) or ()),
        )
        try:
            return super().RegisterResource(request)
        finally:
            self.mocks.pending.value = None

    def Invoke(self, request: Any) -> Any:  # noqa: N802 - gRPC method name
        self._track_loop()
        return super().Invoke(request)

    def ReadResource(self, request: Any) -> Any:  # noqa: N802 - gRPC method name
        self._track_loop()
        self.mocks.pending.value = Registration(self.make_urn(request.parent, request.type, request.name))
        try:
            return super().ReadResource(request)
        finally:
            self.mocks.pending.value = None


def _quiet_user_errors(loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
    """A UserError raised inside an apply also sits in sibling futures nobody awaits;
    it reaches the user once, as one line, not as "never retrieved" tracebacks."""
    if isinstance(context.get("exception"), UserError):
        return
    loop.default_exception_handler(context)


def _drain_abandoned(loop: asyncio.AbstractEventLoop) -> None:
    """Cancel what a failed program left running on its loop, and collect how each piece ended.

    A program that fails inside an apply leaves registrations in flight. Left alone they fail once the executor is
    shut down, nobody reads those errors, and asyncio logs each one, with its traceback, whenever the garbage
    collector finds it: in a later, unrelated test or command, on whatever thread is running. On Python 3.11 that
    traceback formatting can re-enter an ``ast.parse`` in progress and break it with "AST constructor recursion
    depth mismatch" (CPython gh-106905). A program that succeeds leaves nothing here (the SDK waits for its RPCs).
    """
    pending = asyncio.all_tasks(loop)
    for task in pending:
        task.cancel()
    loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))


def _in_thread(fn: Callable[[], Any]) -> Any:
    """Run `fn` in a new thread: the SDK keeps its state in context variables."""
    box: dict[str, Any] = {}

    def target() -> None:
        loop = asyncio.new_event_loop()
        loop.set_exception_handler(_quiet_user_errors)
        asyncio.set_event_loop(loop)
        try:
            box["result"] = fn()
        except BaseException as exc:
            box["error"] = exc
        finally:
            try:
                _drain_abandoned(loop)
                loop.run_until_complete(loop.shutdown_default_executor())  # the monitor's RPC threads end with the run
            finally:
                asyncio.set_event_loop(None)
                loop.close()

    thread = threading.Thread(target=target, name="pulumi-plan")
    thread.start()
    thread.join()
    if "error" in box:
        raise box["error"]
    return box["result"]


Overrides = dict[str, dict[str, Any]]


def plan_layer(
    layer: str,
    env: Environment,
    upstream: dict[str, LayerPlan],
    root: Path = REPO_ROOT,
    overrides: dict[str, Any] | None = None,
) -> LayerPlan:
    """Run one layer's ``__main__.py`` under mocks and collect what it registered and exported.

    `overrides` maps bare keys (``azCount``) to values laid over the stack file,
    for tests and profiles.
    """
    program = root / layer / "__main__.py"
    values_in = stackfiles.config(layer, env.name, root)
    for key, value in (overrides or {}).items():  # None removes a key, as if never written
        full = f"{project_name(layer)}:{key}"
        if value is None:
            values_in.pop(full, None)
        else:
            values_in[full] = value
    config, secret_keys = stackfiles.engine_config(values_in)
    mocks = PlanMocks(env, upstream)
    monitor = PlanMonitor(mocks)

    def run() -> tuple[dict[str, Any], dict[str, bool]]:
        pulumi.runtime.set_all_config(config, secret_keys)
        sdk_mocks.set_mocks(
            mocks,
            project=project_name(layer),
            stack=env.name,
            preview=False,
            organization=env.settings.organization,
            monitor=monitor,
        )
        # As the SDK's own test helper does: drop RPCs and outputs a previous run
        # (e.g. one that failed inside an apply) left behind on a now-closed loop.
        SETTINGS.rpc_manager.clear()
        SETTINGS.outputs.clear()

        def program_body() -> None:
            runpy.run_path(str(program), run_name="__main__")

        _sync_await(run_pulumi_func(program_body))
        root_stack = get_root_resource()
        values: dict[str, Any] = {}
        secrets: dict[str, bool] = {}
        for name, value in root_stack.outputs.items():  # type: ignore[union-attr]
            out = pulumi.Output.from_input(value)
            values[name] = _sync_await(out.future())
            secrets[name] = bool(_sync_await(out.is_secret()))
        return values, secrets

    stack.READS.clear()
    try:
        # The SDK walks the Python stack at every registration (traceback.extract_stack, reading source lines) to
        # tell the engine where each resource was declared; the mock monitor drops it. Skipping the walk saves about
        # a tenth of a plan's CPU, and nothing the plan records depends on it.
        with mock.patch.object(sdk_resource, "_get_stack_trace", source_pb2.StackTrace):
            values, secrets = _in_thread(run)
    finally:
        monitor.close_loops()
    reads = [(up, name) for reader, up, name in stack.READS if reader == layer]
    _check_exports(layer, values)
    # Registration order depends on async scheduling; sort so plans diff cleanly.
    resources = sorted((r for r in mocks.recorded if r.custom), key=lambda r: (r.type, r.name))
    plan = LayerPlan(
        name=layer,
        stack=env.stack_ref(project_name(layer)),
        resources=resources,
        outputs={k: (SECRET if secrets[k] else v) for k, v in values.items()},
        values=values,
        secret_outputs=[k for k, s in secrets.items() if s],
        reads=reads,
        findings=[],
        config={key.split(":", 1)[1]: v for key, v in values_in.items() if key.startswith(f"{project_name(layer)}:")},
    )
    plan.findings = guardrails.evaluate(guardrail_view(plan, env))
    return plan


def _check_exports(layer: str, values: dict[str, Any]) -> None:
    missing = [o.name for o in contract.EXPORTS[layer] if not o.optional and o.name not in values]
    if missing:
        raise UserError(
            f"layer '{layer}' did not export {', '.join(missing)}. "
            "Fix: export them or mark them optional in the contract"
        )


def guardrail_view(plan: LayerPlan, env: Environment) -> list[guardrails.Resource]:
    """The plan's resources as the rules see them, each with its provider's default tags."""
    providers: dict[str, dict[str, str]] = {}
    for r in plan.resources:
        if r.type.startswith("pulumi:providers:"):
            tags = r.inputs.get("defaultTags")
            if isinstance(tags, str):
                tags = json.loads(tags)
            providers[r.id] = dict((tags or {}).get("tags") or {})
    view = []
    for r in plan.resources:
        # A provider reference is "<urn>::<id>".
        default_tags = providers.get(r.provider.rsplit("::", 1)[-1], {}) if r.provider else {}
        view.append(
            guardrails.Resource(
                r.type,
                r.name,
                r.inputs,
                default_tags,
                env.production,
                env.suffix,
                id=r.id,
                protect=r.protect,
                retain_on_delete=r.retain_on_delete,
                ignore_changes=r.ignore_changes,
            )
        )
    return view


ProgressFn = Callable[[str, str], None]

#: Layer plans by everything the layer's program reads (see :func:`_memo_key`); None (the default) plans every
#: layer afresh. The test suite turns it on: the same network is otherwise planned again under every test of a
#: downstream layer. Only callers that opt in with :func:`requested_from_memo` add to it, and only they are served
#: the layers they ask for from it; any caller is served the layers it plans only as upstreams. A caller that does
#: not opt in (a test watching the monitor, or patching the program) plans what it asks for afresh, and its plans,
#: made under whatever it patched, never reach anyone else.
PLAN_MEMO: dict[str, LayerPlan] | None = None
_REQUESTED_FROM_MEMO: contextvars.ContextVar[bool] = contextvars.ContextVar("requested_from_memo", default=False)


@contextlib.contextmanager
def requested_from_memo() -> Iterator[None]:
    """Within: plans are added to :data:`PLAN_MEMO` (when it is on) and the layers a caller asks for are served from
    it, for callers that share plans anyway, like the tests' plan cache."""
    token = _REQUESTED_FROM_MEMO.set(True)
    try:
        yield
    finally:
        _REQUESTED_FROM_MEMO.reset(token)


def _memo_key(layer: str, env: Environment, root: Path, overrides: dict[str, Any] | None, upstream: list[str]) -> str:
    """Everything a layer's plan depends on: the program (by path), its environment (every setting), its stack file
    with the overrides laid over it, the output contract (which outputs are secret), and the keys of the upstream
    plans it reads."""
    config = stackfiles.config(layer, env.name, root)
    return json.dumps(
        [layer, str(root), repr(env), config, overrides, repr(contract.EXPORTS), upstream], sort_keys=True,
        default=repr,
    )


def plan_environment(
    env_name: str,
    layers: list[str] | None = None,
    progress: ProgressFn | None = None,
    root: Path = REPO_ROOT,
    overrides: Overrides | None = None,
) -> Plan:
    """Plan `layers` (default: all) of an environment, and the upstreams they read.

    `overrides` maps layer -> {key: value} laid over that layer's stack file.
    """
    env = load_environment(env_name)
    wanted = set(layers or LAYERS)
    needed = wanted | {up for layer in wanted for up in upstream_closure(layer)}
    stackfiles.check_syntax(env_name, root, needed)  # a broken stack file is one line at once, not after its upstreams
    planned: dict[str, LayerPlan] = {}
    keys: dict[str, str] = {}
    for layer in deploy_order(needed):
        if progress:
            progress(layer, "planning")
        upstream = {up: planned[up] for up in LAYERS[layer]}
        layer_overrides = (overrides or {}).get(layer)
        if PLAN_MEMO is None:
            planned[layer] = plan_layer(layer, env, upstream, root, layer_overrides)
        else:
            keys[layer] = _memo_key(layer, env, root, layer_overrides, [keys[up] for up in LAYERS[layer]])
            shared = _REQUESTED_FROM_MEMO.get()
            if (layer in wanted and not shared) or keys[layer] not in PLAN_MEMO:
                planned[layer] = plan_layer(layer, env, upstream, root, layer_overrides)
                if shared:
                    PLAN_MEMO.setdefault(keys[layer], planned[layer])
            else:
                planned[layer] = PLAN_MEMO[keys[layer]]
        if progress:
            progress(layer, "done")
    result = Plan(env=env_name, layers=[planned[name] for name in deploy_order(needed) if name in wanted])
    result.reachability = check_reachability(env, planned)
    return result


def check_reachability(env: Environment, planned: dict[str, LayerPlan]) -> reachability.Verdict | None:
    """The intent table over every planned layer's resources (upstreams included): None without a network."""
    network = planned.get("network")
    if network is None:
        return None
    resources = [r for lp in planned.values() for r in lp.resources]
    data_subnets = network.values.get("dataSubnetIds") or []
    return reachability.check(env.name, resources, network.config, env.region, data_subnets)
