"""What a migration state machine acts on: deployed ARNs and names from the upstream layers, as plain strings."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from payments.layers.migration.schedule import Pool


def state_machine_arn(region: str, account_id: str, name: str) -> str:
    """A state machine's ARN from its name: how the machines find each other, and `invoke rollback` finds them."""
    return f"arn:aws:states:{region}:{account_id}:stateMachine:{name}"


@dataclasses.dataclass(frozen=True)
class Targets:
    """The deployed things a cutover acts on (plain strings: ARNs and names from the upstream layers)."""

    environment: str
    listener_arn: str
    target_group_arns: Mapping[str, str]  #: pool name -> target group ARN (legacy, blue, green)
    gate_alarm_name: str
    phase_parameter_name: str
    topic_arn: str
    #: the migration's state machines by role (cutover, rollback): each refuses to run beside the others
    machine_arns: Mapping[str, str] = dataclasses.field(default_factory=dict)
    #: SSM parameter where a cutover records itself (execution, pools, phase before) before it changes anything
    run_parameter_name: str = ""
    #: the gate's members (metric alarms), so a notice can say which one went to ALARM
    gate_members: tuple[str, ...] = ()
    #: seconds the gate needs to see a failure: evaluation periods x period + the metrics' delay
    gate_window_seconds: int = 0
    cluster_name: str | None = None  #: None in EC2 mode: no ECS service to update
    service_names: Mapping[str, str] = dataclasses.field(default_factory=dict)  #: pool -> ECS service (blue, green)
    dms_task_arn: str | None = None  #: None: no database stage
    dms_latency_alarm_name: str | None = None
    #: ALB target-group stickiness during the split (0: off, so a rollback moves every client at once)
    stickiness_seconds: int = 0

    def __post_init__(self) -> None:
        missing = [p.value for p in Pool if p.value not in self.target_group_arns]
        if missing:
            raise ValueError(f"target group ARN(s) missing for pool(s) {', '.join(missing)}")
        if (self.dms_task_arn is None) != (self.dms_latency_alarm_name is None):
            raise ValueError("a DMS stage needs both the task ARN and its latency alarm")
        for role in ("cutover", "rollback"):
            if role not in self.machine_arns:
                raise ValueError(f"the {role} state machine's ARN is missing")
        if not self.run_parameter_name:
            raise ValueError("the run parameter's name is missing")


#: Which database takes payments: the two values the DB indirection can point at.
ONPREM, AURORA = "onprem", "aurora"


@dataclasses.dataclass(frozen=True)
class Fence:
    """NACL egress DENY entries on the app subnets: no connection from the app can reach `cidrs` on `port`.

    A rule number is unique per NACL and direction, so each CIDR gets its own, from `first_rule` up; they sit
    below the network layer's ALLOW entries (NACL rules are evaluated lowest number first).
    """

    cidrs: tuple[str, ...]
    port: int
    first_rule: int

    def entries(self) -> list[tuple[int, str]]:
        return [(self.first_rule + i, cidr) for i, cidr in enumerate(self.cidrs)]


@dataclasses.dataclass(frozen=True)
class WriterTargets:
    """What the database switchover, fallback and finish act on (plain strings from the upstream layers).

    The infrastructure contract (DESIGN.md section 6): the network layer's app NACL, the data layer's private
    zone with the indirection CNAME, the edge layer's dormant write-pause rule, and the two DMS tasks.
    """

    nacl_id: str  #: network: appNetworkAclId
    onprem_fence: Fence  #: deny the app the on-prem MySQL (onPremCidrs, onPremDbPort)
    aurora_fence: Fence  #: deny the app Aurora (the VPC CIDR, dbPort): the data subnets are inside it
    zone_id: str  #: data: dbZoneId (private hosted zone)
    indirection_name: str  #: data: dbIndirectionName, the CNAME the app connects to
    onprem_name: str  #: data: onPremDbName (A record of the on-prem MySQL)
    aurora_endpoint: str  #: data: dbWriterEndpoint
    pause_rule_arn: str  #: edge: writePauseRuleArn (fixed 503 to writes when active)
    #: the rule's dormant condition (never matches): what the pause is lifted back to; must equal the edge's
    dormant_conditions: tuple[dict[str, Any], ...]
    forward_task_arn: str  #: migration: dmsTaskArn (on-prem -> Aurora, full load and CDC)
    reverse_task_arn: str  #: migration: reverseDmsTaskArn (Aurora -> on-prem, CDC only, created stopped)
    writer_run_parameter_name: str
    ttl_seconds: int = 5  #: the CNAME's TTL (the data layer's)
    forward_latency_alarm_name: str | None = None  #: CDC latency of the forward task under its threshold

    def __post_init__(self) -> None:
        if not self.onprem_fence.cidrs:
            raise ValueError("the on-prem fence needs the on-prem CIDRs (network: onPremCidrs)")
        low, high = sorted((self.onprem_fence, self.aurora_fence), key=lambda f: f.first_rule)
        if low.first_rule + len(low.cidrs) > high.first_rule:
            raise ValueError("the on-prem and Aurora fences' NACL rule numbers overlap")

    def value_of(self, writer: str) -> str:
        """The CNAME's value that makes `writer` (ONPREM or AURORA) the database the app writes to."""
        return {ONPREM: self.onprem_name, AURORA: self.aurora_endpoint}[writer]

    def fence_of(self, writer: str) -> Fence:
        return {ONPREM: self.onprem_fence, AURORA: self.aurora_fence}[writer]
