"""Deterministic names of the migration's own resources, in one place.

The state machines find each other by these names (each refuses to run beside the others), and ``invoke
rollback`` finds them with AWS credentials alone: no Pulumi CLI, backend or passphrase is needed to put traffic
back. The migration layer creates its resources under exactly these names.
"""

from __future__ import annotations

import dataclasses

from payments.core.naming import Kind, Namer
from payments.layers.migration.machines.targets import state_machine_arn

#: The traffic machines (weights on the listener), by role.
TRAFFIC_ROLES = ("cutover", "rollback")
#: The writer machines (which database takes payments), by role; ``writer-recovery`` is their safety net.
WRITER_ROLES = ("switchover", "fallback", "finish", "writer-recovery")
#: The migration's state machines, by role.
ROLES = TRAFFIC_ROLES + WRITER_ROLES
#: The writer machines' ARNs in the migration layer's outputs, by role.
WRITER_OUTPUTS = {
    "switchover": "switchoverStateMachineArn",
    "fallback": "fallbackStateMachineArn",
    "finish": "finishStateMachineArn",
    "writer-recovery": "writerRecoveryStateMachineArn",
}


@dataclasses.dataclass(frozen=True)
class MigrationNames:
    suffix: str
    region: str
    account_id: str

    def machine(self, role: str) -> str:
        """The state machine's name, e.g. ``cutover-dev``."""
        return Namer(self.suffix)(role, Kind.STATE_MACHINE)

    def machine_arn(self, role: str) -> str:
        return state_machine_arn(self.region, self.account_id, self.machine(role))

    @property
    def machine_arns(self) -> dict[str, str]:
        """The traffic machines' ARNs (always deployed)."""
        return {role: self.machine_arn(role) for role in TRAFFIC_ROLES}

    @property
    def all_machine_arns(self) -> dict[str, str]:
        """Every machine's ARN, the writer machines included (deployed when the database stage is)."""
        return {role: self.machine_arn(role) for role in ROLES}

    @property
    def phase_parameter(self) -> str:
        return f"/payments/{self.suffix}/migration/phase"

    @property
    def run_parameter(self) -> str:
        """StringList ``execution,source,target,phase before``, written by a cutover before it changes anything."""
        return f"/payments/{self.suffix}/migration/run"

    @property
    def writer_run_parameter(self) -> str:
        """StringList ``execution,machine,phase before,stage``, written by a writer machine before it changes
        anything; the writer's safety net acts only for the execution recorded there."""
        return f"/payments/{self.suffix}/migration/writer-run"
