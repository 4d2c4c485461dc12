"""Migration rules: the cutover state machines are audited, DMS is private, encrypted, TLS-only and validated.

(Alarms having actions and encrypted topics are checked by rules_observability
for every layer, the DMS latency alarm included.)
"""

from __future__ import annotations

import json
from collections.abc import Iterator

from payments.guardrails.engine import Resource, rule

STATE_MACHINE = "aws:sfn/stateMachine:StateMachine"
DMS_INSTANCE = "aws:dms/replicationInstance:ReplicationInstance"
DMS_ENDPOINT = "aws:dms/endpoint:Endpoint"
DMS_TASK = "aws:dms/replicationTask:ReplicationTask"


@rule(
    "sfn-logged-and-traced",
    pci="10.2.1, 10.2.2",
    types=[STATE_MACHINE],
    description="State machines log every event (level ALL) to CloudWatch and trace with X-Ray",
)
def sfn_logged_and_traced(r: Resource) -> Iterator[str]:
    if r.get("loggingConfiguration", "level") != "ALL":
        yield "logging level is not ALL (loggingConfiguration.level)"
    if not r.get("loggingConfiguration", "logDestination"):
        yield "no log destination (loggingConfiguration.logDestination)"
    if r.get("tracingConfiguration", "enabled") is not True:
        yield "X-Ray tracing is off (tracingConfiguration.enabled)"


@rule(
    "sfn-sdk-integrations-only",
    pci="6.2.4",
    types=[STATE_MACHINE],
    description="State machines call AWS APIs only through service integrations (no Lambda code to patch and review)",
)
def sfn_sdk_only(r: Resource) -> Iterator[str]:
    definition = r.json("definition")
    if not isinstance(definition, dict):
        return
    found: list[str] = []

    def walk(states: dict[str, object]) -> None:
        for name, state in states.items():
            if not isinstance(state, dict):
                continue
            resource = str(state.get("Resource", ""))
            if state.get("Type") == "Task" and not resource.startswith("arn:aws:states:::"):
                found.append(f"{name} ({resource})")
            processor = state.get("ItemProcessor") or state.get("Iterator")
            if isinstance(processor, dict):
                walk(processor.get("States", {}))

    walk(definition.get("States", {}))
    for task in found:
        yield f"task {task} is not an AWS service integration"


def _bake_floor(states: dict[str, object]) -> float | None:
    """The lowest bakeSeconds the definition's own input check accepts (NumericGreaterThanEquals on it)."""
    floors: list[float] = []

    def walk(node: object) -> None:
        if isinstance(node, dict):
            if node.get("Variable") == "$.config.bakeSeconds" and "NumericGreaterThanEquals" in node:
                floors.append(float(node["NumericGreaterThanEquals"]))
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(states)
    return max(floors) if floors else None


@rule(
    "cutover-bake-covers-gate-window",
    pci="6.5.1",
    types=[STATE_MACHINE],
    description="A cutover refuses a bake shorter than the gate's evaluation window, and its default bake is not",
)
def cutover_bake_covers_gate_window(r: Resource) -> Iterator[str]:
    """A step whose bake ends before its errors can reach ALARM is a step no gate watched (issue: dev baked 60 s
    against a 240 s gate). The definition carries the window as the floor of its bakeSeconds check."""
    definition = r.json("definition")
    states = definition.get("States") if isinstance(definition, dict) else None
    if not isinstance(states, dict):
        return
    defaults = states.get("Defaults", {}).get("Result", {}) if isinstance(states.get("Defaults"), dict) else {}
    if "bakeSeconds" not in defaults:
        return  # not a cutover (rollback and other machines have no bake)
    floor = _bake_floor(states)
    if floor is None or floor <= 0:
        yield ("the definition accepts any bakeSeconds: it must refuse a bake shorter than the gate's window "
               "(CheckWaits: $.config.bakeSeconds NumericGreaterThanEquals <gateWindowSeconds>)")
    elif defaults["bakeSeconds"] < floor:
        yield (f"default bakeSeconds {defaults['bakeSeconds']} is shorter than the gate's window {floor:g} s: "
               "every default execution would be refused")


@rule(
    "dms-instance-private-encrypted",
    pci="1.4.4, 3.5.1",
    types=[DMS_INSTANCE],
    description="DMS replication instances are not public, use a customer-managed key, and are Multi-AZ in production",
)
def dms_instance(r: Resource) -> Iterator[str]:
    if r.inputs.get("publiclyAccessible") is not False:
        yield "publiclyAccessible is not false"
    if not r.inputs.get("kmsKeyArn"):
        yield "storage is not encrypted with a customer-managed key (kmsKeyArn)"
    if r.production and r.inputs.get("multiAz") is not True:
        yield "not Multi-AZ in production (multiAz)"


@rule(
    "dms-endpoint-tls-secret",
    pci="4.2.1, 8.3.2",
    types=[DMS_ENDPOINT],
    description="DMS endpoints use TLS and take credentials from Secrets Manager, never a password in config",
)
def dms_endpoint(r: Resource) -> Iterator[str]:
    if r.inputs.get("sslMode") in (None, "none"):
        yield "sslMode is none (database traffic in clear text)"
    if r.inputs.get("password"):
        yield "a password is set on the endpoint; use secretsManagerArn"
    if not r.inputs.get("secretsManagerArn"):
        yield "no secretsManagerArn"


@rule(
    "dms-task-validated-logged",
    pci="10.2.1, 6.5.1",
    types=[DMS_TASK],
    description="DMS tasks validate every row they move and log to CloudWatch",
)
def dms_task(r: Resource) -> Iterator[str]:
    raw = r.inputs.get("replicationTaskSettings")
    try:
        settings = json.loads(raw) if isinstance(raw, str) else (raw or {})
    except json.JSONDecodeError:
        settings = {}
    if not (settings.get("ValidationSettings") or {}).get("EnableValidation"):
        yield "validation is off (ValidationSettings.EnableValidation)"
    if not (settings.get("Logging") or {}).get("EnableLogging"):
        yield "CloudWatch logging is off (Logging.EnableLogging)"
