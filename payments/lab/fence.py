"""The fences: one TCP relay per database, standing in for the network ACL on the app subnets.

The AWS pool (blue/green) reaches a database only through its fence. Blocking a fence does what a
stateless NACL deny on the app -> database port does: new connections fail and *existing* ones die at
once, pooled or not. The legacy pool is on-prem and does not go through a fence (it reaches the on-prem
database directly), and neither does replication (DMS runs in the data subnets, outside the app's NACL).

The relays are a second HAProxy process in TCP mode (not the ALB stand-in): blocking puts the fence's only
server into maintenance (new connections are closed at once) and shuts its open sessions down.

Difference from a NACL: a deny there drops packets, so the app waits for its connect or read timeout; the
relay closes, so the app learns at once. The app's timeouts decide how long the real fence takes to bite
(docs/lab.md).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from payments.lab import process
from payments.lab.haproxy import HAProxy


class Fences:
    """``127.0.0.1:<port(db)>`` -> the database's own port, for each database."""

    def __init__(self, folder: Path, upstream_ports: Mapping[str, int], haproxy: str) -> None:
        self.haproxy = HAProxy(folder, haproxy)
        self.upstream_ports = dict(upstream_ports)
        self.ports = {name: process.free_port() for name in upstream_ports}
        self._blocked = {name: False for name in upstream_ports}

    def config(self) -> str:
        # A blocked fence refuses at once (its server is in maintenance: no usable server), rather than queueing
        # the connection and retrying it for seconds.
        listeners = "".join(
            f"\nlisten fence-{name}\n    bind 127.0.0.1:{self.ports[name]}\n"
            f"    tcp-request connection reject if {{ nbsrv(fence-{name}) lt 1 }}\n"
            f"    server db 127.0.0.1:{upstream}\n"
            for name, upstream in self.upstream_ports.items()
        )
        # Pooled database connections idle for long: the app's lifetime cap ends them, not the relay.
        return self.haproxy.global_section() + (
            "\ndefaults\n    mode tcp\n    retries 0\n    timeout connect 1s\n"
            "    timeout client 1h\n    timeout server 1h\n"
        ) + listeners

    def start(self) -> None:
        self.haproxy.start(self.config(), next(iter(self.ports.values())))

    def stop(self) -> None:
        self.haproxy.stop()

    def port(self, database: str) -> int:
        return self.ports[database]

    def set_blocked(self, database: str, blocked: bool) -> None:
        server = f"fence-{database}/db"
        if blocked:
            self.haproxy.expect_silence(f"set server {server} state maint", f"the fence of {database}")
            self.haproxy.expect_silence(f"shutdown sessions server {server}", f"the fence of {database}")
        else:
            self.haproxy.expect_silence(f"set server {server} state ready", f"the fence of {database}")
        self._blocked[database] = blocked

    def blocked(self) -> dict[str, bool]:
        return dict(self._blocked)
