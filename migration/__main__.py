"""payments-migration: DMS replication and the cutover state machine (program arrives with its issue)."""

from payments.core.stack import start

start("migration")
