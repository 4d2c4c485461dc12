"""The migration lab: real MariaDB servers, a real HAProxy and live payment traffic on one machine.

It stands in for the single-writer design (docs/migration.md) so that what happens to payments in flight
can be counted, not assumed. The parts, each in its own module:

- :mod:`.database` two MariaDB servers (on-prem, aws) on loopback ports, data in a temporary folder;
- :mod:`.replication` binlog (GTID) replication standing in for the DMS tasks, both directions;
- :mod:`.proxy` HAProxy standing in for the ALB: weighted pools and the write-pause rule, at run time;
- :mod:`.fence` TCP relays standing in for the network ACL that fences the app from a database;
- :mod:`.indirection` the zone file standing in for the Route 53 record the app resolves;
- :mod:`.service` the payment service (one process per pool instance);
- :mod:`.load` the load generator (the application contract's client side);
- :mod:`.checker` lost and duplicated payments, row by row;
- :mod:`.lab` the :class:`~payments.lab.lab.Lab` control object an adapter mirrors AWS calls onto;
- :mod:`.scenarios` the scenario runner and its figures; :mod:`.manual` the manual driver.

How it works and where it differs from AWS: docs/lab.md.
"""
