"""Migration layer (project payments-migration): DMS replication and the cutover state machines."""
