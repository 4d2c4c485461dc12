"""What a migration state machine acts on: deployed ARNs and names from the upstream layers, as plain strings."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping

from payments.layers.migration.schedule import Pool


@dataclasses.dataclass(frozen=True)
class Targets:
    """The deployed things a cutover acts on (plain strings: ARNs and names from the upstream layers)."""

    environment: str
    listener_arn: str
    target_group_arns: Mapping[str, str]  #: pool name -> target group ARN (legacy, blue, green)
    gate_alarm_name: str
    phase_parameter_name: str
    topic_arn: str
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
