"""HAProxy standing in for the ALB, driven at run time through its stats socket (the runtime API).

- **Weighted forward**: one backend per pool (legacy, blue, green: the target groups). Each request draws
  ``rand(1000)`` and goes to the first pool whose cumulative share covers it; the shares live in a map
  that :meth:`Proxy.set_weights` replaces atomically (``prepare map`` / ``commit map``), as one
  ``ModifyListener`` call does. Weights are the ALB's (0-999 per pool); the split is exact to 1/1000.
- **Write pause** (the ALB's priority-1 rule): POST, PUT, PATCH and DELETE get 503, ``application/json``,
  ``{"error":"write_paused","retryAfterSeconds":N}`` and **no Retry-After header** (an ALB fixed response
  cannot add one); GET and HEAD pass. On or off through a map entry.
- **Health checks**: ``GET /health`` on every instance; a dead one leaves its pool in about a second.

Where it differs from the ALB: docs/lab.md.
"""

from __future__ import annotations

import json
import textwrap
from collections.abc import Mapping
from pathlib import Path

from payments.lab import process
from payments.lab.haproxy import HAProxy

POOLS = ("legacy", "blue", "green")
MAX_WEIGHT = 999  #: ALB weighted forward: 0-999 per target group
ROLL = 1000  #: rand(ROLL): resolution of the split
WRITE_METHODS = ("POST", "PUT", "PATCH", "DELETE")


def pause_body(retry_after_seconds: int) -> str:
    """The fixed-response body of the write-pause rule (the ALB rule's body, byte for byte)."""
    return json.dumps({"error": "write_paused", "retryAfterSeconds": retry_after_seconds}, separators=(",", ":"))


def shares(weights: Mapping[str, int]) -> dict[str, int]:
    """Pool -> upper bound of its slice of ``rand(ROLL)``, in POOLS order (the last pool takes the rest)."""
    unknown = set(weights) - set(POOLS)
    if unknown:
        raise ValueError(f"unknown pool(s) {sorted(unknown)}: the pools are {', '.join(POOLS)}")
    for pool, weight in weights.items():
        if not 0 <= weight <= MAX_WEIGHT:
            raise ValueError(f"weight {weight} of {pool} is outside 0-{MAX_WEIGHT} (the ALB's range)")
    total = sum(weights.values())
    if total == 0:
        raise ValueError("every weight is 0: a forward action needs one target group with traffic")
    out, upto = {}, 0.0
    for pool in POOLS:
        upto += ROLL * weights.get(pool, 0) / total
        out[pool] = round(upto)
    return out


class Proxy:
    """One HAProxy process: a frontend on a loopback port, a backend per pool."""

    def __init__(self, folder: Path, instances: Mapping[str, list[int]], retry_after_seconds: int,
                 haproxy: str, health_interval_ms: int = 500) -> None:
        self.haproxy = HAProxy(folder, haproxy)
        self.port = process.free_port()
        self.instances = {pool: list(instances.get(pool, [])) for pool in POOLS}
        self.retry_after_seconds = retry_after_seconds
        self._health_interval_ms = health_interval_ms
        self.weights: dict[str, int] = {}
        self.write_paused = False

    @property
    def weights_map(self) -> Path:
        return self.haproxy.folder / "weights.map"

    @property
    def pause_map(self) -> Path:
        return self.haproxy.folder / "pause.map"

    @property
    def log(self) -> Path:
        return self.haproxy.log

    def config(self) -> str:
        backends = []
        for pool in POOLS:
            servers = "\n".join(
                f"    server {pool}-{n} 127.0.0.1:{port} check" for n, port in enumerate(self.instances[pool], 1)
            )
            backends.append(f"backend {pool}\n    option httpchk GET /health\n    http-check expect status 200\n"
                            f"    timeout check 2s\n"
                            f"    default-server inter {self._health_interval_ms}ms fall 3 rise 2\n{servers}\n")
        body = pause_body(self.retry_after_seconds)
        return self.haproxy.global_section() + textwrap.dedent(f"""
            defaults
                mode http
                timeout connect 1s
                timeout client 30s
                timeout server 10s
                timeout http-request 10s
                # The ALB does not retry a request on another target; neither does the lab.
                retries 0

            frontend payments
                bind 127.0.0.1:{self.port}
                # Priority 1: the write pause (fixed response, body hint only: no Retry-After header).
                acl write_method method {' '.join(WRITE_METHODS)}
                acl writes_paused str(writes),map({self.pause_map},off) -m str on
                http-request return status 503 content-type application/json string '{body}' \
            if write_method writes_paused
                # Default action: weighted forward. One draw per request against cumulative shares.
                http-request set-var(txn.roll) rand({ROLL})
                http-request set-var(txn.legacy_upto) str(legacy),map_str_int({self.weights_map},0)
                http-request set-var(txn.blue_upto) str(blue),map_str_int({self.weights_map},0)
                acl to_legacy var(txn.roll),sub(txn.legacy_upto) lt 0
                acl to_blue var(txn.roll),sub(txn.blue_upto) lt 0
                use_backend legacy if to_legacy
                use_backend blue if to_blue
                default_backend green
                # Lab instrumentation (the ALB has per-target-group metrics instead): which pool answered.
                http-after-response set-header X-Lab-Backend %b

            """) + "\n".join(backends)

    def start(self, weights: Mapping[str, int]) -> None:
        self.haproxy.folder.mkdir(parents=True, exist_ok=True)
        cut = shares(weights)
        self.weights_map.write_text("".join(f"{pool} {cut[pool]}\n" for pool in POOLS))
        self.weights = {pool: weights.get(pool, 0) for pool in POOLS}
        self.pause_map.write_text("writes off\n")
        self.haproxy.start(self.config(), self.port)

    def stop(self) -> None:
        self.haproxy.stop()

    def set_weights(self, weights: Mapping[str, int]) -> None:
        """Replace every pool's weight at once (ModifyListener); pools left out get 0."""
        cut = shares(weights)
        version = self.haproxy.command(f"prepare map {self.weights_map}").split(":")[-1].strip()
        for pool in POOLS:
            self.haproxy.expect_silence(f"add map @{version} {self.weights_map} {pool} {cut[pool]}", "the weights")
        self.haproxy.expect_silence(f"commit map @{version} {self.weights_map}", f"the weights {dict(weights)}")
        self.weights = {pool: weights.get(pool, 0) for pool in POOLS}

    def set_write_pause(self, on: bool) -> None:
        self.haproxy.expect_silence(f"set map {self.pause_map} writes {'on' if on else 'off'}", "the write pause")
        self.write_paused = on

    def server_states(self) -> dict[str, str]:
        """``pool-n`` -> ``UP``/``DOWN``/... as the health checks see it."""
        lines = self.haproxy.command("show stat").splitlines()
        header = lines[0].lstrip("# ").split(",")
        out = {}
        for line in lines[1:]:
            row = dict(zip(header, line.split(","), strict=False))
            if row.get("pxname") in POOLS and row.get("svname") not in ("FRONTEND", "BACKEND", None):
                out[row["svname"]] = row["status"]
        return out
