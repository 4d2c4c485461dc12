"""The writer indirection: a zone file standing in for the Route 53 private hosted zone.

The zone holds what the design's zone holds: the CNAME ``db.<suffix>.payments.internal`` (TTL 5 s by
default) pointing at on-prem's name (``onprem-db.<suffix>.payments.internal``) or at the Aurora writer
endpoint's name, and an address for each of those. The switchover flips the CNAME with one atomic write of
the file (Route 53: one UPSERT). An address is ``host:port`` because the lab's databases (behind their
fences) share one host; in AWS both listen on 3306 at different addresses.

:class:`Resolver` is the app's side: it resolves the name for each new connection and, like any DNS
resolver, keeps an answer for the record's TTL, so a flip reaches the app within TTL seconds; until then
new connections still go to the old writer, which the fence then refuses.
"""

from __future__ import annotations

import json
import os
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

WRITER_NAME = "db.{suffix}.payments.internal"
TARGET_NAMES = {"onprem": "onprem-db.{suffix}.payments.internal", "aws": "aurora-{suffix}.cluster.lab.internal"}


class Zone:
    """The lab's control of the zone file."""

    def __init__(self, path: Path, suffix: str, addresses: dict[str, str], ttl_seconds: float) -> None:
        self.path = path
        self.name = WRITER_NAME.format(suffix=suffix)
        self._targets = {db: name.format(suffix=suffix) for db, name in TARGET_NAMES.items()}
        self._addresses = {self._targets[db]: address for db, address in addresses.items()}
        self.ttl_seconds = ttl_seconds
        self.target = ""

    def point_at(self, database: str) -> None:
        """UPSERT the CNAME to `database`'s name (atomic: a reader sees the old file or the new one)."""
        records = {
            self.name: {"type": "CNAME", "ttl": self.ttl_seconds, "value": self._targets[database]},
            **{name: {"type": "A", "ttl": 300, "value": address} for name, address in self._addresses.items()},
        }
        fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=".zone-")
        with os.fdopen(fd, "w") as out:
            json.dump({"records": records}, out)
        os.replace(tmp, self.path)
        self.target = database


class Resolver:
    """Resolves a name through the zone file, caching each answer for its TTL (thread-safe)."""

    def __init__(self, path: Path, clock: Any = time.monotonic) -> None:
        self.path = path
        self._clock = clock
        self._cache: dict[str, tuple[float, str]] = {}
        self._lock = threading.Lock()

    def resolve(self, name: str) -> tuple[str, int]:
        """``(host, port)`` the name stands for now, following CNAMEs."""
        with self._lock:
            cached = self._cache.get(name)
            if cached and cached[0] > self._clock():
                return _address(cached[1])
            records = json.loads(self.path.read_text())["records"]
            ttl, value = float("inf"), name
            for _ in range(8):  # a CNAME chain, as a resolver follows it
                record = records.get(value)
                if record is None:
                    raise LookupError(f"{value}: no such record in {self.path}")
                ttl, value = min(ttl, float(record["ttl"])), record["value"]
                if record["type"] == "A":
                    break
            self._cache[name] = (self._clock() + ttl, value)
            return _address(value)


def _address(value: str) -> tuple[str, int]:
    host, _, port = value.rpartition(":")
    return host, int(port)
