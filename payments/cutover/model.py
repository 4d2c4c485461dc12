"""A model check of the migration's state machines: every path, the one-writer invariant on each.

It walks the real definitions (the ASL the plan produces) with a small interpreter of its own: Pass, Choice,
Wait, Task, Map (inline), Succeed and Fail, with Retry/Catch, ResultSelector, ResultPath and the intrinsic
functions the machines use. What a Task *does* to the world comes from one table keyed by the API action
(:data:`EFFECTS`, reading the state's Parameters); what a read *answers* comes from the world
(:data:`ANSWERS`). No state is described by hand.

Where the world is not decided by the machines, every answer is explored: CDC drained or still lagging, the
gate OK or in ALARM, a pool healthy or not. A Choice on a value the model cannot know (a path into a Map's
result it did not evaluate, say) takes every branch. Each path may carry one injected event:

* a **fault** at a Task state: its call fails on every attempt (its Retry runs out, its Catch decides);
* a person's **stop** as the execution enters any state (it ends ABORTED, nothing more runs).

An execution that ends ABORTED, FAILED or TIMED_OUT is followed, as EventBridge would, by its safety net (the
rollback machine for the cutover, writer-recovery for the writer machines), itself walked on every path.

Invariants, after every step (:func:`violations`) and at the end of each path (:func:`end_violations`):

1. **single writer**: application writes reach at most one database (none while writes are paused and
   in-flight requests drained); a fenced database receives none; pooled connections to a database the
   indirection named before reach it unless it is fenced; the legacy pool writes on-prem;
2. **drained before the flip**: the indirection moves from A to B only after replication A -> B was read
   drained while A could take no write, and stopped; or A took no write since it became the writer;
3. **a way back**: whenever Aurora takes writes (and the phase is not cutover-complete), reverse replication runs;
4. **no legacy traffic while Aurora is the writer**;
5. never both replication directions at once (a loop);
6. at the end: the pause lifted, exactly one database writable, the phase agreeing with the writer, and the
   replication out of the writer running (unless cutover-complete).
"""

from __future__ import annotations

import copy
import dataclasses
import functools
import json
import re
from collections.abc import Callable, Iterator
from typing import Any

from jsonpath_ng.ext import parse as _parse_path

from payments.core.environment import AURORA_PHASES, MigrationPhase
from payments.layers.migration.machines.targets import AURORA, ONPREM, Targets, WriterTargets


def _replace(obj: Any, **changes: Any) -> Any:
    """``dataclasses.replace`` without re-running ``__init__`` (the walk makes hundreds of thousands of copies)."""
    new = object.__new__(type(obj))
    new.__dict__.update(obj.__dict__)
    new.__dict__.update(changes)
    return new


class _Unknown:
    def __repr__(self) -> str:
        return "UNKNOWN"


UNKNOWN: Any = _Unknown()
EXECUTION_ID = "arn:aws:states:us-east-1:123456789012:execution:model:main"
ENDINGS = ("ABORTED", "FAILED", "TIMED_OUT")


# --- the world -------------------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class World:
    weights: tuple[tuple[str, Any], ...]  #: pool -> weight (UNKNOWN when the model cannot tell)
    cname: str  #: ONPREM or AURORA
    phase: str
    forward: bool = False  #: forward replication (on-prem -> Aurora) running
    reverse: bool = False
    started: frozenset[str] = frozenset()  #: replication tasks that ever ran
    paused: bool = False
    quiesced: bool = False  #: paused, and a wait has let in-flight requests finish
    fence: frozenset[int] = frozenset()  #: NACL DENY rule numbers present
    stale: frozenset[str] = frozenset()  #: databases the indirection named before (pooled connections)
    drained: frozenset[str] = frozenset()  #: "A>B": replication A -> B read drained while A was blocked
    clean: frozenset[str] = frozenset()  #: the writer took no write since it became the writer
    params: tuple[tuple[str, str], ...] = ()  #: other SSM parameters (run records)

    def weight(self, pool: str) -> Any:
        return dict(self.weights).get(pool, 0)


@dataclasses.dataclass(frozen=True)
class Subject:
    """What the model needs to read effects and answers: the targets the definitions were built for."""

    traffic: Targets
    writer: WriterTargets | None
    #: DMS tasks may take several polls to stop or start (explores the poll loops' interleavings)
    slow_dms: bool = False

    def pool_of(self, arn: Any) -> str | None:
        return next((p for p, a in self.traffic.target_group_arns.items() if a == arn), None)

    def fenced(self, world: World, db: str) -> bool:
        if self.writer is None:
            return False
        return all(rule in world.fence for rule, _ in self.writer.fence_of(db).entries())

    def blocked(self, world: World, db: str) -> bool:
        """No application write can reach `db`: paused and quiesced, and fenced (pooled connections too)."""
        return world.paused and world.quiesced and self.fenced(world, db)

    def task_role(self, arn: str) -> str | None:
        if self.writer is None:
            return None
        return {self.writer.forward_task_arn: "forward", self.writer.reverse_task_arn: "reverse"}.get(arn)

    def writer_of(self, value: Any) -> str | None:
        if self.writer is None or not isinstance(value, str):
            return None
        value = value.rstrip(".")
        return next((db for db in (ONPREM, AURORA) if self.writer.value_of(db) == value), None)


def writers(s: Subject, w: World) -> set[str]:
    """Databases application writes can reach right now."""
    if w.paused and w.quiesced:
        return set()
    found: set[str] = set()
    if w.weight("legacy") != 0:
        found.add(ONPREM)  # the legacy servers write on-prem directly (not behind the app NACL)
    if any(w.weight(p) != 0 for p in ("blue", "green")):
        for db in {w.cname, *w.stale}:
            if not s.fenced(w, db):
                found.add(db)
    return found


def violations(s: Subject, before: World, after: World) -> list[str]:
    out = []
    now = writers(s, after)
    if len(now) > 1:
        out.append(f"two writers: {sorted(now)}")
    if after.cname == AURORA and after.weight("legacy") != 0:
        out.append("legacy traffic while Aurora is the writer")
    if AURORA in now and after.phase != MigrationPhase.COMPLETE.value and not after.reverse:
        out.append("Aurora takes writes without reverse replication running")
    if after.forward and after.reverse:
        out.append("forward and reverse replication both running (a loop)")
    if before.cname != after.cname:
        a, b = before.cname, after.cname
        if not ((f"{a}>{b}" in before.drained and not _running(before, a, b)) or a in before.clean):
            out.append(f"flip {a} -> {b} before {a} -> {b} replication was drained and stopped")
    return out


def end_violations(s: Subject, w: World) -> list[str]:
    out = []
    if w.paused:
        out.append("writes left paused")
    now = writers(s, w)
    if len(now) != 1:
        out.append(f"writes reach {sorted(now) or 'no database'} at the end")
    aurora_phase = w.phase in {p.value for p in AURORA_PHASES}
    if (w.cname == AURORA) != aurora_phase:
        out.append(f"phase {w.phase} while {w.cname} is the writer")
    if w.cname == ONPREM and not w.forward and s.writer is not None:
        out.append("on-prem is the writer but forward replication is stopped")
    if w.cname == AURORA and w.phase != MigrationPhase.COMPLETE.value and not w.reverse:
        out.append("Aurora is the writer but reverse replication is stopped")
    return out


def _running(w: World, a: str, b: str) -> bool:
    return w.forward if (a, b) == (ONPREM, AURORA) else w.reverse


def _after_step(s: Subject, w: World) -> World:
    """Bookkeeping after any change: a database that takes a write is no longer drained or clean."""
    now = writers(s, w)
    drained = frozenset(d for d in w.drained if d.split(">")[0] not in now)
    clean = frozenset(c for c in w.clean if c not in now or c == w.cname)
    # The writer itself stays "clean" only until it takes a write.
    if w.cname in now:
        clean = clean - {w.cname}
    return _replace(w, drained=drained, clean=clean)


# --- JSON paths and intrinsics ------------------------------------------------------------------------------


parse_path = functools.lru_cache(maxsize=4096)(_parse_path)
_INDEFINITE = re.compile(r"\*|\.\.|\[[^\]]*[:?,][^\]]*\]")


@functools.lru_cache(maxsize=4096)
def _plain_parts(expr: str) -> tuple[tuple[str, str], ...]:
    return tuple(re.findall(r"\.([A-Za-z0-9_]+)|\[(\d+)\]", expr))


@functools.lru_cache(maxsize=4096)
def _indefinite(expr: str) -> bool:
    return bool(_INDEFINITE.search(expr))


def read(path: str, doc: Any, context: dict[str, Any]) -> Any:
    """Value at `path` (``$``: the state's input, ``$$``: the context object); a list for indefinite paths."""
    source = context if path.startswith("$$") else doc
    expr = path[1:] if path.startswith("$$") else path
    if _contains_unknown(source, expr):
        return UNKNOWN
    if not _indefinite(expr):
        node = source
        for key, index in _plain_parts(expr):
            if key and isinstance(node, dict) and key in node:
                node = node[key]
            elif index and isinstance(node, list) and int(index) < len(node):
                node = node[int(index)]
            else:
                raise KeyError(path)
        return node
    return [m.value for m in parse_path(expr).find(source)]


def _contains_unknown(doc: Any, expr: str) -> bool:
    """Does the walk along the plain part of `expr` meet an UNKNOWN?"""
    node = doc
    for part in _plain_parts(expr):
        if node is UNKNOWN:
            return True
        key, index = part
        if key and isinstance(node, dict) and key in node:
            node = node[key]
        elif index and isinstance(node, list) and int(index) < len(node):
            node = node[int(index)]
        else:
            return False
    return node is UNKNOWN


def write(doc: Any, path: str | None, value: Any) -> Any:
    if path is None:
        return doc
    if path == "$":
        return value
    # Copy only along the path: documents are never changed in place, so the rest is shared safely.
    out = dict(doc) if isinstance(doc, dict) else {}
    node = out
    keys = path[2:].split(".")
    for key in keys[:-1]:
        child = node.get(key)
        node[key] = dict(child) if isinstance(child, dict) else {}
        node = node[key]
    node[keys[-1]] = value
    return out


_TOKEN = re.compile(r"\s*(States\.[A-Za-z]+\(|'(?:\\.|[^'\\])*'|\$\$?[^,)\s]*|-?\d+(?:\.\d+)?|\)|,)")


def intrinsic(text: str, doc: Any, context: dict[str, Any]) -> Any:
    tokens = [t for t in _TOKEN.findall(text)]
    pos = 0

    def expr() -> Any:
        nonlocal pos
        tok = tokens[pos]
        pos += 1
        if tok.startswith("States."):
            name, args = tok[7:-1], []
            while tokens[pos] != ")":
                args.append(expr())
                if tokens[pos] == ",":
                    pos += 1
            pos += 1
            return _call(name, args)
        if tok.startswith("'"):
            return re.sub(r"\\(.)", r"\1", tok[1:-1])
        if tok.startswith("$"):
            return read(tok, doc, context)
        return float(tok) if "." in tok else int(tok)

    return expr()


def _call(name: str, args: list[Any]) -> Any:
    if any(a is UNKNOWN for a in args) or any(_has_unknown(a) for a in args):
        return UNKNOWN
    if name == "Format":
        template, rest = args[0], list(args[1:])
        return re.sub(r"\{\}", lambda _: str(rest.pop(0)) if rest else "", template)
    if name == "JsonToString":
        return json.dumps(args[0], separators=(",", ":"))
    if name == "Array":
        return list(args)
    if name == "MathAdd":
        return round(args[0]) + round(args[1])
    if name == "StringSplit":
        return [p for p in args[0].split(args[1]) if p != ""]
    if name == "JsonMerge":
        return {**args[0], **args[1]}
    if name == "ArrayContains":
        return args[1] in args[0]
    if name == "ArrayGetItem":
        return args[0][args[1]] if 0 <= args[1] < len(args[0]) else UNKNOWN
    if name == "ArrayLength":
        return len(args[0])
    if name == "ArrayUnique":
        return [json.loads(a) for a in dict.fromkeys(json.dumps(a) for a in args[0])]
    raise ValueError(f"intrinsic States.{name} is not modelled")


def _has_unknown(value: Any) -> bool:
    if value is UNKNOWN:
        return True
    if isinstance(value, dict):
        return any(_has_unknown(v) for v in value.values())
    if isinstance(value, list):
        return any(_has_unknown(v) for v in value)
    return False


def resolve(template: Any, doc: Any, context: dict[str, Any]) -> Any:
    """Parameters / ResultSelector: ``key.$`` entries read paths or call intrinsics."""
    if isinstance(template, dict):
        out = {}
        for key, value in template.items():
            if key.endswith(".$"):
                out[key[:-2]] = (
                    intrinsic(value, doc, context) if value.startswith("States.") else read(value, doc, context)
                )
            else:
                out[key] = resolve(value, doc, context)
        return out
    if isinstance(template, list):
        return [resolve(v, doc, context) for v in template]
    return template


# --- Choice rules, three-valued --------------------------------------------------------------------------------

_COMPARE = {
    "StringEquals": lambda a, b: isinstance(a, str) and a == b,
    "NumericEquals": lambda a, b: _num(a) and a == b,
    "NumericLessThan": lambda a, b: _num(a) and a < b,
    "NumericGreaterThan": lambda a, b: _num(a) and a > b,
    "NumericLessThanEquals": lambda a, b: _num(a) and a <= b,
    "NumericGreaterThanEquals": lambda a, b: _num(a) and a >= b,
    "BooleanEquals": lambda a, b: isinstance(a, bool) and a == b,
}


def _num(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def rule_true(rule: dict[str, Any], doc: Any, context: dict[str, Any]) -> Any:
    """True, False, or UNKNOWN."""
    if "And" in rule or "Or" in rule:
        parts = rule.get("And") or rule.get("Or") or []
        want_all = "And" in rule
        unknown = False
        for part in parts:
            value = rule_true(part, doc, context)
            if value is UNKNOWN:
                unknown = True
            elif value != want_all:
                return not want_all
        return UNKNOWN if unknown else want_all
    if "Not" in rule:
        value = rule_true(rule["Not"], doc, context)
        return UNKNOWN if value is UNKNOWN else not value
    path = rule["Variable"]
    try:
        value = read(path, doc, context)
    except KeyError:
        value = _MISSING
    if value is UNKNOWN:
        return UNKNOWN
    if "IsPresent" in rule:
        return (value is not _MISSING) == rule["IsPresent"]
    if value is _MISSING:
        raise _RuntimeError(f"Choice on missing {path}")
    if "IsNumeric" in rule:
        return _num(value) == rule["IsNumeric"]
    if "IsString" in rule:
        return isinstance(value, str) == rule["IsString"]
    if "IsNull" in rule:
        return (value is None) == rule["IsNull"]
    for op, compare in _COMPARE.items():
        if op in rule:
            return compare(value, rule[op])
        if f"{op}Path" in rule:
            other = read(rule[f"{op}Path"], doc, context)
            if other is UNKNOWN:
                return UNKNOWN
            return compare(value, other)
    if "StringMatches" in rule:
        pattern = "^" + re.escape(rule["StringMatches"]).replace(r"\*", ".*") + "$"
        return isinstance(value, str) and re.match(pattern, value) is not None
    raise ValueError(f"Choice operator not modelled: {rule}")


_MISSING = object()


class _RuntimeError(Exception):
    """States.Runtime: a path that does not exist; no Catch handles it."""


# --- effects and answers: one table keyed by API action --------------------------------------------------------

Effect = Callable[[Subject, World, dict[str, Any]], World]


def _set_weights(s: Subject, w: World, p: dict[str, Any]) -> World:
    groups = p["DefaultActions"][0]["ForwardConfig"]["TargetGroups"]
    if groups is UNKNOWN:
        return _replace(w, weights=tuple((pool, UNKNOWN) for pool, _ in w.weights))
    new = dict.fromkeys(s.traffic.target_group_arns, 0)
    for group in groups:
        pool = s.pool_of(group["TargetGroupArn"])
        if pool is None:
            return _replace(w, weights=tuple((pool, UNKNOWN) for pool, _ in w.weights))
        new[pool] = group.get("Weight", 1)
    return _replace(w, weights=tuple(sorted(new.items())))


def _modify_rule(s: Subject, w: World, p: dict[str, Any]) -> World:
    paused = any(c.get("Field") == "http-request-method" for c in p["Conditions"])
    return _replace(w, paused=paused, quiesced=w.quiesced and paused)


def _flip(s: Subject, w: World, p: dict[str, Any]) -> World:
    change = p["ChangeBatch"]["Changes"][0]["ResourceRecordSet"]
    target = s.writer_of(change["ResourceRecords"][0]["Value"])
    if target is None or change["Name"] != (s.writer.indirection_name if s.writer else None):
        raise ValueError(f"the model does not know the record {change}")
    if target == w.cname:
        return w
    return _replace(w, cname=target, stale=w.stale | {w.cname}, clean=w.clean | {target})


def _fence(on: bool) -> Effect:
    def effect(s: Subject, w: World, p: dict[str, Any]) -> World:
        rule = p["RuleNumber"]
        return _replace(w, fence=(w.fence | {rule}) if on else (w.fence - {rule}))

    return effect


def _replication(on: bool) -> Effect:
    def effect(s: Subject, w: World, p: dict[str, Any]) -> World:
        role = s.task_role(p["ReplicationTaskArn"])
        if role is None:
            return w
        started = w.started | {role} if on else w.started
        if role == "forward":
            return _replace(w, started=started, forward=on)
        return _replace(w, started=started, reverse=on)

    return effect


def _put_parameter(s: Subject, w: World, p: dict[str, Any]) -> World:
    if p["Name"] == s.traffic.phase_parameter_name:
        return _replace(w, phase=p["Value"] if isinstance(p["Value"], str) else "UNKNOWN")
    params = dict(w.params)
    params[p["Name"]] = p["Value"] if isinstance(p["Value"], str) else "UNKNOWN"
    return _replace(w, params=tuple(sorted(params.items())))


#: What each API action does to the world (reads are absent: they change nothing).
EFFECTS: dict[str, Effect] = {
    "elasticloadbalancingv2:modifyListener": _set_weights,
    "elasticloadbalancingv2:modifyRule": _modify_rule,
    "route53:changeResourceRecordSets": _flip,
    "ec2:createNetworkAclEntry": _fence(True),
    "ec2:deleteNetworkAclEntry": _fence(False),
    "databasemigration:startReplicationTask": _replication(True),
    "databasemigration:stopReplicationTask": _replication(False),
    "ssm:putParameter": _put_parameter,
}

Answer = Callable[[Subject, World, dict[str, Any], dict[str, Any]], list[Any]]


def _tasks(s: Subject, w: World, p: dict[str, Any], ctx: dict[str, Any]) -> list[Any]:
    arn = p["Filters"][0]["Values"][0]
    role = s.task_role(arn)
    if role is None:
        return [{"ReplicationTasks": [{"Status": "running", "ReplicationTaskStats": {"FullLoadProgressPercent": 100}}]}]
    status = "running" if getattr(w, role) else ("stopped" if role in w.started else "ready")
    statuses = [status]
    if s.slow_dms and status in ("running", "stopped"):
        statuses.append({"running": "starting", "stopped": "stopping"}[status])
    return [
        {"ReplicationTasks": [{"Status": st, "ReplicationTaskStats": {"FullLoadProgressPercent": 100}}]}
        for st in statuses
    ]


def _table_statistics(s: Subject, w: World, p: dict[str, Any], ctx: dict[str, Any]) -> list[Any]:
    def table(applied: int) -> dict[str, Any]:
        return {
            "TableName": "payments",
            "Inserts": 10,
            "Updates": 5,
            "Deletes": 0,
            "Ddls": 0,
            "AppliedInserts": applied,
            "AppliedUpdates": 5,
            "AppliedDeletes": 0,
            "AppliedDdls": 0,
            "ValidationFailedRecords": 0,
            "TableState": "Table completed",
        }

    return [{"TableStatistics": [table(10)], "_drained": True}, {"TableStatistics": [table(7)], "_drained": False}]


def _records(s: Subject, w: World, p: dict[str, Any], ctx: dict[str, Any]) -> list[Any]:
    assert s.writer is not None
    value = s.writer.value_of(w.cname)
    record = {"Name": f"{s.writer.indirection_name}.", "Type": "CNAME", "ResourceRecords": [{"Value": value}]}
    return [{"ResourceRecordSets": [record]}]


def _nacl(s: Subject, w: World, p: dict[str, Any], ctx: dict[str, Any]) -> list[Any]:
    entries = [{"RuleNumber": r, "Egress": True, "RuleAction": "deny"} for r in sorted(w.fence)]
    entries.append({"RuleNumber": 32767, "Egress": True, "RuleAction": "deny"})
    return [{"NetworkAcls": [{"Entries": entries}]}]


def _rules(s: Subject, w: World, p: dict[str, Any], ctx: dict[str, Any]) -> list[Any]:
    field = "http-request-method" if w.paused else "http-header"
    return [{"Rules": [{"Conditions": [{"Field": field}]}]}]


def _listeners(s: Subject, w: World, p: dict[str, Any], ctx: dict[str, Any]) -> list[Any]:
    if any(weight is UNKNOWN for _, weight in w.weights):
        return [UNKNOWN]
    groups = [{"TargetGroupArn": s.traffic.target_group_arns[pool], "Weight": weight} for pool, weight in w.weights]
    return [{"Listeners": [{"DefaultActions": [{"ForwardConfig": {"TargetGroups": groups}}]}]}]


def _parameter(s: Subject, w: World, p: dict[str, Any], ctx: dict[str, Any]) -> list[Any]:
    if p["Name"] == s.traffic.phase_parameter_name:
        return [{"Parameter": {"Value": w.phase}}]
    value = dict(w.params).get(p["Name"], "none")
    return [{"Parameter": {"Value": value}}]


def _alarms(s: Subject, w: World, p: dict[str, Any], ctx: dict[str, Any]) -> list[Any]:
    return [{"MetricAlarms": [{"StateValue": v, "AlarmName": "a"}], "CompositeAlarms": []} for v in ("OK", "ALARM")]


def _health(s: Subject, w: World, p: dict[str, Any], ctx: dict[str, Any]) -> list[Any]:
    return [{"TargetHealthDescriptions": [{"TargetHealth": {"State": v}}]} for v in ("healthy", "unhealthy")]


def _executions(s: Subject, w: World, p: dict[str, Any], ctx: dict[str, Any]) -> list[Any]:
    own = ctx["StateMachine"]["Id"] == p["StateMachineArn"]
    return [{"Executions": [{"ExecutionArn": ctx["Execution"]["Id"]}] if own else []}]


def _services(s: Subject, w: World, p: dict[str, Any], ctx: dict[str, Any]) -> list[Any]:
    release = ctx["Execution"]["Input"].get("taskDefinition", "arn:aws:ecs:us-east-1:1:task-definition/app:1")
    deployment = {"Status": "PRIMARY", "TaskDefinition": release, "RolloutState": "COMPLETED"}
    service = {"TaskDefinition": release, "RunningCount": 2, "DesiredCount": 2, "Deployments": [deployment]}
    return [{"Services": [service]}]


#: What each read answers, from the world (one entry per possible answer).
ANSWERS: dict[str, Answer] = {
    "databasemigration:describeReplicationTasks": _tasks,
    "databasemigration:describeTableStatistics": _table_statistics,
    "route53:listResourceRecordSets": _records,
    "ec2:describeNetworkAcls": _nacl,
    "elasticloadbalancingv2:describeRules": _rules,
    "elasticloadbalancingv2:describeListeners": _listeners,
    "elasticloadbalancingv2:describeTargetHealth": _health,
    "ssm:getParameter": _parameter,
    "cloudwatch:describeAlarms": _alarms,
    "sfn:listExecutions": _executions,
    "ecs:describeServices": _services,
}
#: Calls that neither change the modelled world nor answer anything a path depends on.
SILENT = {"sns:publish", "sfn:stopExecution", "ecs:updateService"}


def action_of(resource: str) -> str:
    if resource == "arn:aws:states:::sns:publish":
        return "sns:publish"
    return resource.split("aws-sdk:", 1)[1]


# --- the walk --------------------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Injection:
    kind: str  #: "fault" or "stop"
    state: str


@dataclasses.dataclass
class Path:
    machine: str
    steps: list[str]
    world: World
    ending: str  #: SUCCEEDED, FAILED, ABORTED
    injection: Injection | None
    problems: list[str]
    pause_seconds: int  #: longest continuous write pause on this path (worst case of each call)


@dataclasses.dataclass
class Result:
    paths: int = 0
    problems: list[tuple[str, list[str], list[str]]] = dataclasses.field(default_factory=list)
    longest_pause: int = 0
    pause_path: list[str] = dataclasses.field(default_factory=list)


@dataclasses.dataclass
class _Cursor:
    state: str | None
    doc: Any
    world: World
    steps: list[str]
    injected: Injection | None
    problems: list[str]
    pause: int
    longest: int
    visits: dict[str, int]


#: A state entered more often than this on one path is a loop the model has seen enough of (loop bodies are
#: reads and waits: cutting them loses no change of the world).
MAX_VISITS = 24


def _task_worst(state: dict[str, Any]) -> int:
    timeout = int(state.get("TimeoutSeconds", 60))
    total, attempts = timeout, 0
    for retry in state.get("Retry", []):
        interval, rate = retry.get("IntervalSeconds", 1), retry.get("BackoffRate", 2.0)
        for i in range(retry.get("MaxAttempts", 3)):
            attempts += 1
            total += int(interval * rate**i) + timeout
        break
    return total


def walk(
    s: Subject,
    definition: dict[str, Any],
    machine: str,
    world: World,
    execution_input: dict[str, Any],
    *,
    inject: bool = True,
    machine_arn: str = "",
) -> Iterator[Path]:
    """Every path of one execution (with at most one injected event when `inject`)."""
    context = {
        "Execution": {"Id": EXECUTION_ID if inject else EXECUTION_ID + "-net", "Input": execution_input},
        "StateMachine": {"Id": machine_arn},
        "State": {"EnteredTime": "2026-12-02T21:00:00Z"},
    }
    states = definition["States"]
    start = _Cursor(definition["StartAt"], copy.deepcopy(execution_input), world, [], None, [], 0, 0, {})
    stack = [start]
    while stack:
        cur = stack.pop()
        name = cur.state
        if name is None:
            continue
        state = states[name]
        visits = dict(cur.visits)
        visits[name] = visits.get(name, 0) + 1
        if visits[name] > MAX_VISITS:
            continue
        steps = [*cur.steps, name]
        if inject and cur.injected is None:
            yield _end(machine, _replace(cur, steps=steps), "ABORTED", Injection("stop", name))
        for nxt in _step(s, state, name, _replace(cur, steps=steps, visits=visits), context, inject):
            if isinstance(nxt, Path):
                yield _replace(nxt, machine=machine)
            else:
                stack.append(nxt)


def _end(machine: str, cur: _Cursor, ending: str, injection: Injection | None = None) -> Path:
    return Path(machine, cur.steps, cur.world, ending, injection or cur.injected, cur.problems, cur.longest)


def _change(s: Subject, cur: _Cursor, world: World, seconds: int) -> _Cursor:
    """Apply a new world (checking the invariants) and account for the pause's length."""
    problems = cur.problems + [f"{cur.steps[-1]}: {v}" for v in violations(s, cur.world, world)]
    world = _after_step(s, world)
    pause = cur.pause + seconds if (cur.world.paused or world.paused) else 0
    longest = max(cur.longest, pause)
    return _replace(cur, world=world, problems=problems, pause=pause if world.paused else 0, longest=longest)


def _step(
    s: Subject, state: dict[str, Any], name: str, cur: _Cursor, context: dict[str, Any], inject: bool
) -> Iterator[_Cursor | Path]:
    kind = state["Type"]
    doc = cur.doc
    try:
        if kind == "Pass":
            value = (
                state["Result"]
                if "Result" in state
                else (resolve(state["Parameters"], doc, context) if "Parameters" in state else doc)
            )
            if "InputPath" in state:
                value = read(state["InputPath"], doc, context)
            yield _next(state, _replace(cur, doc=write(doc, state.get("ResultPath", "$"), value)))
            return
        if kind == "Wait":
            seconds = state["Seconds"] if "Seconds" in state else read(state["SecondsPath"], doc, context)
            if seconds is UNKNOWN:
                seconds = 0
            world = _replace(cur.world, quiesced=cur.world.paused)
            yield _next(state, _change(s, cur, world, int(seconds)))
            return
        if kind == "Choice":
            taken = False
            for rule in state["Choices"]:
                verdict = rule_true(rule, doc, context)
                if verdict is UNKNOWN:
                    yield _replace(cur, state=rule["Next"])
                elif verdict:
                    yield _replace(cur, state=rule["Next"])
                    taken = True
                    break
            if not taken:
                if "Default" not in state:
                    raise _RuntimeError(f"{name}: no Choice matched and no Default")
                yield _replace(cur, state=state["Default"])
            return
        if kind == "Succeed":
            yield _end("", cur, "SUCCEEDED")
            return
        if kind == "Fail":
            yield _end("", cur, "FAILED")
            return
        if kind == "Map":
            items = read(state["ItemsPath"], doc, context)
            result = UNKNOWN
            if isinstance(items, list) and not items:
                result = []
            elif isinstance(items, list) and not _has_tasks(state["ItemProcessor"]["States"]):
                result = _map(state, items, doc, context)
            if inject and cur.injected is None and _has_tasks(state["ItemProcessor"]["States"]):
                yield from _caught(state, cur, Injection("fault", name))
            yield _next(state, _replace(cur, doc=write(doc, state.get("ResultPath", "$"), result)))
            return
        if kind == "Task":
            yield from _task(s, state, name, cur, context, inject)
            return
    except _RuntimeError as exc:
        yield _end("", _replace(cur, problems=cur.problems), "FAILED")
        del exc
        return
    except KeyError:
        yield _end("", cur, "FAILED")  # States.Runtime: a missing path; no Catch runs
        return
    raise ValueError(f"state type {kind} is not modelled")


def _has_tasks(states: dict[str, Any]) -> bool:
    return any(s["Type"] == "Task" for s in states.values())


def _map(state: dict[str, Any], items: list[Any], doc: Any, context: dict[str, Any]) -> Any:
    """An inline Map of Pass and Choice states only, evaluated for each item (a Choice it cannot decide: UNKNOWN)."""
    out = []
    processor = state["ItemProcessor"]
    for index, item in enumerate(items):
        ctx = {**context, "Map": {"Item": {"Value": item, "Index": index}}}
        sub = resolve(state.get("ItemSelector", {}), doc, ctx) if "ItemSelector" in state else item
        name = processor["StartAt"]
        for _ in range(64):
            st = processor["States"][name]
            if st["Type"] == "Pass":
                value = resolve(st["Parameters"], sub, ctx) if "Parameters" in st else st.get("Result", sub)
                sub = write(sub, st.get("ResultPath", "$"), value)
            elif st["Type"] == "Choice":
                nxt = st.get("Default")
                for rule in st["Choices"]:
                    verdict = rule_true(rule, sub, ctx)
                    if verdict is UNKNOWN:
                        return UNKNOWN
                    if verdict:
                        nxt = rule["Next"]
                        break
                name = nxt
                continue
            elif st["Type"] == "Fail":
                return UNKNOWN
            if st.get("End"):
                break
            name = st["Next"]
        out.append(sub)
    return out


def _next(state: dict[str, Any], cur: _Cursor) -> _Cursor | Path:
    if state.get("End"):
        return _end("", cur, "SUCCEEDED")
    return _replace(cur, state=state["Next"])


def _caught(state: dict[str, Any], cur: _Cursor, injection: Injection) -> Iterator[_Cursor | Path]:
    error = {"Error": "InternalFailure", "Cause": f"model: fault at {injection.state}"}
    cur = _replace(
        cur, injected=injection, pause=cur.pause + (_task_worst(state) if cur.world.paused else 0)
    )
    for catcher in state.get("Catch", []):
        if "States.ALL" in catcher["ErrorEquals"] or "States.TaskFailed" in catcher["ErrorEquals"]:
            doc = write(cur.doc, catcher.get("ResultPath", "$"), error)
            yield _replace(cur, state=catcher["Next"], doc=doc)
            return
    yield _end("", cur, "FAILED")


def _task(
    s: Subject, state: dict[str, Any], name: str, cur: _Cursor, context: dict[str, Any], inject: bool
) -> Iterator[_Cursor | Path]:
    action = action_of(state["Resource"])
    params = resolve(state.get("Parameters", {}), cur.doc, context)
    ctx = {**context, "State": {"EnteredTime": "2026-12-02T21:00:00Z", "Name": name}}
    if inject and cur.injected is None:
        yield from _caught(state, cur, Injection("fault", name))
    seconds = _task_worst(state) if state.get("TimeoutSeconds") else 1
    if cur.world.paused and "TimeoutSeconds" not in state:
        cur = _replace(
            cur,
            problems=[*cur.problems, f"{name}: a call without TimeoutSeconds while writes are paused (no bound)"],
        )
    if action in EFFECTS:
        world = EFFECTS[action](s, cur.world, params)
        cur = _change(s, cur, world, seconds)
        answers: list[Any] = [{}]
    elif action in ANSWERS:
        answers = ANSWERS[action](s, cur.world, params, ctx)
        cur = _change(s, cur, cur.world, seconds)
    elif action in SILENT:
        cur = _change(s, cur, cur.world, seconds)
        answers = [{}]
    else:
        raise ValueError(f"{name}: API action {action} is in neither EFFECTS nor ANSWERS")
    for answer in answers:
        world = cur.world
        if isinstance(answer, dict) and answer.pop("_drained", None):
            direction = _direction(s, params)
            if direction and s.blocked(world, direction.split(">")[0]):
                world = _replace(world, drained=world.drained | {direction})
        value: Any = answer
        if "ResultSelector" in state:
            value = UNKNOWN if answer is UNKNOWN else resolve(state["ResultSelector"], answer, ctx)
        doc = write(cur.doc, state.get("ResultPath", "$"), value)
        yield _next(state, _replace(cur, doc=doc, world=world))


def _direction(s: Subject, params: dict[str, Any]) -> str | None:
    role = s.task_role(params.get("ReplicationTaskArn", ""))
    return {"forward": f"{ONPREM}>{AURORA}", "reverse": f"{AURORA}>{ONPREM}"}.get(role or "")


# --- the check ---------------------------------------------------------------------------------------------


def check(
    s: Subject,
    main: dict[str, Any],
    main_arn: str,
    world: World,
    execution_input: dict[str, Any],
    safety_net: tuple[dict[str, Any], str] | None,
    *,
    inject: bool = True,
) -> Result:
    """Walk every path of `main` from `world` (and its safety net after any abnormal end); judge each."""
    result = Result()
    for path in walk(s, main, "main", world, execution_input, inject=inject, machine_arn=main_arn):
        outcomes = [(path.world, path.problems, path.steps, path.pause_seconds)]
        if safety_net is not None and path.ending in ENDINGS:
            net, net_arn = safety_net
            payload = {"trigger": "execution-ended", "executionArn": EXECUTION_ID, "status": path.ending}
            # The pause, if still on, goes on while the safety net starts.
            outcomes = []
            for after in walk(s, net, "net", path.world, payload, inject=False, machine_arn=net_arn):
                outcomes.append(
                    (
                        after.world,
                        path.problems + [f"net {p}" for p in after.problems],
                        [*path.steps, "|net|", *after.steps],
                        max(path.pause_seconds, after.pause_seconds),
                    )
                )
        for end_world, problems, steps, pause in outcomes:
            result.paths += 1
            found = problems + [f"end: {p}" for p in end_violations(s, end_world)]
            if found:
                result.problems.append((str(path.injection), steps, found))
            if pause > result.longest_pause:
                result.longest_pause, result.pause_path = pause, steps
    return result


# --- the scenarios: which machine from which world -------------------------------------------------------------


def worlds(s: Subject) -> dict[str, World]:
    """The worlds the machines start from, one per phase they may meet."""
    assert s.writer is not None
    onprem_fence = frozenset(rule for rule, _ in s.writer.onprem_fence.entries())
    aurora_fence = frozenset(rule for rule, _ in s.writer.aurora_fence.entries())

    def weights(pool: str) -> tuple[tuple[str, Any], ...]:
        return tuple(sorted((p, 100 if p == pool else 0) for p in s.traffic.target_group_arns))

    app = World(weights("blue"), ONPREM, MigrationPhase.APP_ON_AWS.value, forward=True, started=frozenset({"forward"}))
    return {
        "parallel-run": _replace(app, weights=weights("legacy"), phase=MigrationPhase.PARALLEL_RUN.value),
        "app-on-aws": app,
        "app-on-aws after a fallback": _replace(
            app, fence=aurora_fence, stale=frozenset({AURORA}), started=frozenset({"forward", "reverse"})
        ),
        "db-on-aws": World(
            weights("blue"),
            AURORA,
            MigrationPhase.DB_ON_AWS.value,
            reverse=True,
            started=frozenset({"forward", "reverse"}),
            fence=onprem_fence,
            stale=frozenset({ONPREM}),
        ),
    }


@dataclasses.dataclass(frozen=True)
class Scenario:
    machine: str  #: role of the machine walked
    world: str  #: key of :func:`worlds`
    execution_input: dict[str, Any]
    net: str | None  #: role of its safety net


def scenarios(task_definition: str | None = None) -> list[Scenario]:
    cutover_input: dict[str, Any] = {"bakeSeconds": 0, "pollSeconds": 60, "holdSeconds": 0, "maxPolls": 1}
    if task_definition:
        cutover_input["taskDefinition"] = task_definition
    fast = {"holdSeconds": 0, "pollSeconds": 30}
    return [
        Scenario("switchover", "app-on-aws", fast, "writer-recovery"),
        Scenario("switchover", "app-on-aws after a fallback", fast, "writer-recovery"),
        Scenario("switchover", "db-on-aws", fast, "writer-recovery"),
        Scenario("fallback", "db-on-aws", fast, "writer-recovery"),
        Scenario("fallback", "app-on-aws", fast, "writer-recovery"),
        Scenario("finish", "db-on-aws", {}, "writer-recovery"),
        Scenario("writer-recovery", "db-on-aws", {}, None),
        Scenario("writer-recovery", "app-on-aws", {}, None),
        Scenario(
            "cutover", "parallel-run", {**cutover_input, "sourcePool": "legacy", "targetPool": "blue"}, "rollback"
        ),
        Scenario("cutover", "app-on-aws", {**cutover_input, "sourcePool": "blue", "targetPool": "green"}, "rollback"),
        Scenario("cutover", "db-on-aws", {**cutover_input, "sourcePool": "blue", "targetPool": "green"}, "rollback"),
        Scenario("cutover", "db-on-aws", {**cutover_input, "sourcePool": "legacy", "targetPool": "blue"}, "rollback"),
        Scenario("rollback", "db-on-aws", {"pool": "legacy", "force": True}, None),
        Scenario("rollback", "db-on-aws", {"pool": "green", "force": True}, None),
        Scenario("rollback", "db-on-aws", {}, None),
        Scenario("rollback", "app-on-aws", {"pool": "legacy"}, None),
    ]


def run(
    s: Subject, definitions: dict[str, dict[str, Any]], arns: dict[str, str], task_definition: str | None = None
) -> list[tuple[Scenario, Result]]:
    """Every scenario, every path: the results by scenario."""
    all_worlds = worlds(s)
    out = []
    for sc in scenarios(task_definition):
        net = (definitions[sc.net], arns[sc.net]) if sc.net else None
        result = check(s, definitions[sc.machine], arns[sc.machine], all_worlds[sc.world], sc.execution_input, net)
        out.append((sc, result))
    return out
