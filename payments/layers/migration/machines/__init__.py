"""The migration state machines as Amazon States Language, built by pure functions, one module per stage."""

from payments.layers.migration.machines.asl import task_resources
from payments.layers.migration.machines.cutover import cutover_definition
from payments.layers.migration.machines.rollback import rollback_definition
from payments.layers.migration.machines.targets import Targets

__all__ = ["Targets", "cutover_definition", "rollback_definition", "task_resources"]
