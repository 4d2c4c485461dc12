"""Deterministic names of the migration's own resources, in one place.

The state machines find each other by these names (each refuses to run beside the others), and ``invoke
rollback`` finds them with AWS credentials alone: no Pulumi CLI, backend or passphrase is needed to put traffic
back. The migration layer creates its resources under exactly these names.
"""

from __future__ import annotations

import dataclasses

from payments.core.naming import Kind, Namer
from payments.layers.migration.machines.targets import state_machine_arn

#: The migration's state machines, by role.
ROLES = ("cutover", "rollback")


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
        return {role: self.machine_arn(role) for role in ROLES}

    @property
    def phase_parameter(self) -> str:
        return f"/payments/{self.suffix}/migration/phase"

    @property
    def run_parameter(self) -> str:
        """StringList ``execution,source,target,phase before``, written by a cutover before it changes anything."""
        return f"/payments/{self.suffix}/migration/run"
