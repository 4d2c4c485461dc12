"""The :class:`Lab`: every part started, wired and stopped together, and the operations a driver calls.

The operations are the ones the single-writer design performs on AWS, so an adapter can mirror each AWS
call onto one of them:

| AWS call (design)                                   | Lab operation                                   |
|-----------------------------------------------------|-------------------------------------------------|
| ``elasticloadbalancingv2:ModifyListener`` (weights) | :meth:`Lab.set_weights`                         |
| create / delete the priority-1 pause rule           | :meth:`Lab.set_write_pause`                     |
| ``databasemigration:StartReplicationTask``          | :meth:`Lab.replication_start`                   |
| ``databasemigration:StopReplicationTask``           | :meth:`Lab.replication_stop`                    |
| ``DescribeReplicationTasks`` + CDC metrics          | :meth:`Lab.replication_status`                  |
| ``route53:ChangeResourceRecordSets`` (UPSERT)       | :meth:`Lab.set_indirection`                     |
| NACL entries on the app subnets                     | :meth:`Lab.set_fence`                           |
| the gate alarm's 5xx rate                           | :meth:`Lab.gate_error_rate`                     |

Plus fault hooks (:meth:`Lab.replication_lag`, :meth:`Lab.replication_fail`, :meth:`Lab.kill_instance`,
:meth:`Lab.hold_writes`, :meth:`Lab.after`), phase timing (:meth:`Lab.phase`) and a timeline of every
operation (:attr:`Lab.events`).
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import select
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any, Literal

from payments.lab import database, process
from payments.lab.checker import CheckResult, check
from payments.lab.database import Credentials, Database
from payments.lab.fence import Fences
from payments.lab.indirection import Zone
from payments.lab.load import LoadFigures, LoadGenerator, RetryPolicy
from payments.lab.process import LabError
from payments.lab.proxy import POOLS, Proxy
from payments.lab.replication import Direction, Replication, ReplicationStatus

DatabaseName = Literal["onprem", "aws"]
DATABASES: tuple[DatabaseName, ...] = ("onprem", "aws")
SERVER_IDS = {"onprem": 1, "aws": 2}
MIN_GATE_ERRORS = 3  #: errors in the gate's window before it can alarm


@dataclasses.dataclass(frozen=True)
class LabSettings:
    """What the lab is built with. The defaults follow the design (TTL 5 s, 50 payments/s)."""

    suffix: str = "lab"
    instances: Mapping[str, int] = dataclasses.field(default_factory=lambda: {"legacy": 1, "blue": 2})
    dns_ttl_seconds: float = 5.0  #: the writer record's TTL
    connection_lifetime_seconds: float = 30.0  #: the app's pool cap (contract)
    retry_after_seconds: int = 2  #: the pause rule's body hint
    rate: float = 50.0  #: payments per second
    read_ratio: float = 1.0  #: reads per payment
    gate_window_seconds: float = 5.0  #: the error-rate window the gate reads
    write_deadline_seconds: float = 30.0  #: a client gives a write up after this long

    def __post_init__(self) -> None:
        for pool, count in self.instances.items():
            if pool not in POOLS or count < 0:
                raise ValueError(f"instances: {pool}={count}; pools are {', '.join(POOLS)}, counts >= 0")
        if self.instances.get("legacy", 0) < 1:
            raise ValueError("instances: the legacy pool needs at least one instance (it starts with the traffic)")


@dataclasses.dataclass(frozen=True)
class Event:
    at_seconds: float  #: since the lab started
    operation: str
    detail: str


@dataclasses.dataclass(frozen=True)
class PhaseRecord:
    name: str
    started_seconds: float
    seconds: float


@dataclasses.dataclass
class Instance:
    pool: str
    name: str
    port: int
    proc: subprocess.Popen[bytes]


class Lab:
    """``with Lab(settings) as lab:`` two databases, forward replication stopped, fences (aws blocked), the
    indirection on on-prem, one service process per instance and the proxy with 100 % on legacy."""

    def __init__(self, settings: LabSettings | None = None, *, keep_folder: bool = False) -> None:
        self.settings = settings or LabSettings()
        self._keep_folder = keep_folder
        self._stack = contextlib.ExitStack()
        self._t0 = time.monotonic()
        self.folder = Path()
        self.events: list[Event] = []
        self.phases: list[PhaseRecord] = []
        self.databases: dict[str, Database] = {}
        self.replications: dict[Direction, Replication] = {}
        self.instances: list[Instance] = []
        self.load: LoadGenerator | None = None
        self.startup_seconds = 0.0
        self._hooks: dict[str, list[Callable[[], None]]] = {}

    # -- life cycle ---------------------------------------------------------------------------

    def __enter__(self) -> Lab:
        try:
            self._start()
        except BaseException:
            self._stack.close()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self._stack.close()

    def _start(self) -> None:
        programs = process.programs()
        self._t0 = time.monotonic()
        self.folder = Path(tempfile.mkdtemp(prefix="payments-lab-"))
        if not self._keep_folder:
            self._stack.callback(shutil.rmtree, self.folder, ignore_errors=True)
        template = database.template(programs)
        for name in DATABASES:
            db = Database(name, SERVER_IDS[name], self.folder / name, programs)
            db.install(template)
            self._stack.callback(db.stop)
            db.launch()
            self.databases[name] = db
        app, repl = Credentials.generate(database.APP_USER), Credentials.generate(database.REPLICATION_USER)
        for db in self.databases.values():
            db.wait_ready()
            db.bootstrap(app, repl)
        onprem, aws = self.databases["onprem"], self.databases["aws"]
        self.replications = {
            Direction.FORWARD: Replication(Direction.FORWARD, onprem, aws, repl),
            Direction.REVERSE: Replication(Direction.REVERSE, aws, onprem, repl),
        }
        self.fences = Fences(self.folder / "fences", {name: db.port for name, db in self.databases.items()},
                             programs["haproxy"])
        self._stack.callback(self.fences.stop)
        self.fences.start()
        self.fences.set_blocked("aws", True)  # app-cutover: the app may reach only on-prem's database
        self.zone = Zone(self.folder / "zone.json", self.settings.suffix,
                         {name: f"127.0.0.1:{self.fences.port(name)}" for name in DATABASES},
                         self.settings.dns_ttl_seconds)
        self.zone.point_at("onprem")
        self._start_instances(app, onprem.port)
        ports = {pool: [i.port for i in self.instances if i.pool == pool] for pool in POOLS}
        self.proxy = Proxy(self.folder / "proxy", ports, self.settings.retry_after_seconds, programs["haproxy"])
        self._stack.callback(self.proxy.stop)
        self.proxy.start({"legacy": 100})
        self._wait_healthy()
        self.startup_seconds = time.monotonic() - self._t0
        self._event("lab started", f"{self.startup_seconds:.2f}s, proxy on 127.0.0.1:{self.proxy.port}")

    def _start_instances(self, app: Credentials, onprem_port: int) -> None:
        for pool, count in self.settings.instances.items():
            for n in range(1, count + 1):
                name = f"{pool}-{n}"
                # Legacy is on-prem: it writes to the on-prem database directly, not through the AWS indirection.
                target = {"direct": f"127.0.0.1:{onprem_port}"} if pool == "legacy" else {
                    "zone": str(self.folder / "zone.json"), "name": self.zone.name}
                settings = {"pool": pool, "instance": name, "database": target, "user": app.user,
                            "password": app.password,
                            "connectionLifetimeSeconds": self.settings.connection_lifetime_seconds}
                log = self.folder / f"service-{name}.log"
                proc = process.spawn([sys.executable, "-m", "payments.lab.service"], log,
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE)
                self._stack.callback(process.stop, proc)
                assert proc.stdin is not None
                proc.stdin.write(json.dumps(settings).encode() + b"\n")  # the password travels only here
                proc.stdin.close()
                self.instances.append(Instance(pool, name, 0, proc))
        for instance in self.instances:
            instance.port = self._listening_port(instance)

    def _listening_port(self, instance: Instance) -> int:
        stdout = instance.proc.stdout
        assert stdout is not None
        ready, _, _ = select.select([stdout], [], [], 20)
        line = stdout.readline().decode() if ready else ""
        if not line.startswith("listening "):
            log = self.folder / f"service-{instance.name}.log"
            raise LabError(f"payment service {instance.name} did not start ({process.log_tail(log, 2)}); see {log}")
        return int(line.split()[1])

    def _wait_healthy(self) -> None:
        expected = {i.name for i in self.instances}
        process.wait_until(lambda: {n for n, s in self.proxy.server_states().items() if s == "UP"} >= expected,
                           15, "haproxy health checks of the payment services", log=self.proxy.log)

    def elapsed(self) -> float:
        return time.monotonic() - self._t0

    def _event(self, operation: str, detail: str = "") -> None:
        self.events.append(Event(round(self.elapsed(), 3), operation, detail))
        for hook in self._hooks.pop(operation, []):
            hook()

    def after(self, operation: str, hook: Callable[[], None]) -> None:
        """Fault hook: run `hook` once, right after the next `operation` (e.g. ``"replication_stop"``), whichever
        driver calls it."""
        self._hooks.setdefault(operation, []).append(hook)

    @contextlib.contextmanager
    def phase(self, name: str) -> Iterator[None]:
        """Time a phase of the migration (recorded even if it fails)."""
        started = self.elapsed()
        self._event("phase", name)
        try:
            yield
        finally:
            self.phases.append(PhaseRecord(name, round(started, 3), round(self.elapsed() - started, 3)))

    # -- traffic (ALB) ------------------------------------------------------------------------

    def set_weights(self, weights: Mapping[str, int]) -> None:
        """ModifyListener: every pool's weight at once (0-999; pools left out get 0)."""
        self.proxy.set_weights(weights)
        self._event("set_weights", json.dumps(dict(weights), sort_keys=True))

    def weights(self) -> dict[str, int]:
        return dict(self.proxy.weights)

    def set_write_pause(self, on: bool) -> None:
        """The priority-1 rule: writes answered 503 ``write_paused`` (on) or forwarded (off)."""
        self.proxy.set_write_pause(on)
        self._event("set_write_pause", "on" if on else "off")

    @property
    def write_paused(self) -> bool:
        return self.proxy.write_paused

    def hold_writes(self, database: DatabaseName, held: bool) -> None:
        """Fault hook: writes on `database` wait (in flight, uncommitted) until released; releasing returns once
        they have finished."""
        db = self.databases[database]
        if held:
            db.hold_writes()
        else:
            db.release_writes()
        self._event("fault hold_writes", f"{database} {'held' if held else 'released'}")

    def writes_waiting(self, database: DatabaseName) -> int:
        """How many application writes are held on `database` right now."""
        return self.databases[database].writes_waiting()

    def kill_instance(self, pool: str, index: int = 1) -> str:
        """Fault hook: SIGKILL one instance of `pool` (the health checks then take it out)."""
        name = f"{pool}-{index}"
        instance = next((i for i in self.instances if i.name == name), None)
        if instance is None:
            raise LabError(f"kill_instance: no instance {name}; instances: {', '.join(i.name for i in self.instances)}")
        instance.proc.kill()
        instance.proc.wait(5)
        self._event("kill_instance", name)
        return name

    # -- replication (DMS) --------------------------------------------------------------------------

    def replication_start(self, direction: Direction | str, from_switch_point: bool = False) -> None:
        """StartReplicationTask. ``from_switch_point``: CDC only, from the source's position now (reverse after
        the switch, forward after a fallback); otherwise resume, or start from the beginning the first time."""
        d = Direction(direction)
        self.replications[d].start(from_now=from_switch_point)
        self._event("replication_start", f"{d.value}{' from now' if from_switch_point else ''}")

    def replication_stop(self, direction: Direction | str) -> None:
        d = Direction(direction)
        self.replications[d].stop()
        self._event("replication_stop", d.value)

    def replication_status(self, direction: Direction | str) -> ReplicationStatus:
        return self.replications[Direction(direction)].status()

    def replication_lag(self, direction: Direction | str, seconds: int) -> None:
        """Fault hook: changes wait `seconds` before they apply (0 removes it); the task keeps running."""
        d = Direction(direction)
        self.replications[d].set_delay(seconds)
        self._event("fault replication_lag", f"{d.value} {seconds}s")

    def replication_fail(self, direction: Direction | str) -> None:
        """Fault hook: the task fails (the source refuses its login) until it is started again."""
        d = Direction(direction)
        self.replications[d].fail()
        self._event("fault replication_fail", d.value)

    # -- writer indirection (Route 53) and fences (NACL) ---------------------------------------------

    def set_indirection(self, target: DatabaseName) -> None:
        """UPSERT the writer record to on-prem or aws."""
        if target not in DATABASES:
            raise ValueError(f"set_indirection: '{target}' is not one of {', '.join(DATABASES)}")
        self.zone.point_at(target)
        self._event("set_indirection", target)

    @property
    def indirection(self) -> str:
        return self.zone.target

    def set_fence(self, database: DatabaseName, blocked: bool) -> None:
        """Block (new connections refused, open ones cut) or open the app's way to `database`."""
        if database not in DATABASES:
            raise ValueError(f"set_fence: '{database}' is not one of {', '.join(DATABASES)}")
        self.fences.set_blocked(database, blocked)
        self._event("set_fence", f"{database} {'blocked' if blocked else 'open'}")

    def fence_state(self) -> dict[str, bool]:
        return self.fences.blocked()

    # -- load, gate, check ---------------------------------------------------------------------------

    def start_load(self) -> LoadGenerator:
        s = self.settings
        self.load = LoadGenerator(self.proxy.port, s.rate, read_ratio=s.read_ratio,
                                  window_seconds=s.gate_window_seconds,
                                  retry=RetryPolicy(deadline_seconds=s.write_deadline_seconds))
        self.load.start()
        self._stack.callback(self.load.stop)  # a failure never leaves client threads running
        self._event("load started", f"{s.rate:g} payments/s, {s.read_ratio:g} reads per payment")
        return self.load

    def stop_load(self) -> LoadFigures:
        if self.load is None:
            raise LabError("stop_load: the load was never started")
        figures = self.load.stop()
        self._event("load stopped", f"{figures.acknowledged} acknowledged")
        return figures

    def gate_error_rate(self, pool: str | None = None) -> float:
        """The error rate the gate alarm reads: 5xx (not the pause) and failed connections over the window."""
        return self.load.error_rate(pool)[0] if self.load else 0.0

    def gate_samples(self, pool: str | None = None) -> int:
        """How many answers that rate is made of (0: the gate has no data, like INSUFFICIENT_DATA)."""
        return self.load.error_rate(pool)[1] if self.load else 0

    def gate_alarm(self, pool: str, threshold: float) -> bool:
        """The lab's gate rule for `pool`: an error rate above `threshold` over the window, made of at least
        :data:`MIN_GATE_ERRORS` errors (one error among a handful of answers at a 5 % step is noise, as a
        CloudWatch threshold on counts would treat it). No answers at all is not an alarm (missing data is not
        breaching, as the planned alarms treat it)."""
        rate = self.gate_error_rate(pool)
        return rate > threshold and rate * self.gate_samples(pool) >= MIN_GATE_ERRORS

    def instance_health(self) -> dict[str, bool]:
        """Instance name (``blue-1``) -> whether the proxy's health checks have it up (what target health reads)."""
        states = self.proxy.server_states()
        return {i.name: states.get(i.name) == "UP" for i in self.instances}

    def writer(self) -> str:
        """The database that takes writes now: the indirection's target (legacy always writes on-prem, so it may
        have traffic only while that is on-prem)."""
        return self.zone.target

    def check(self) -> CheckResult:
        """Row-by-row check of every acknowledged payment on the writer (and the other database)."""
        writer = self.writer()
        other = next(name for name in DATABASES if name != writer)
        acks = self.load.acks if self.load else []
        return check(acks, self.databases[writer].rows(), self.databases[other].rows())

    def summary(self) -> dict[str, Any]:
        return {"weights": self.weights(), "writePaused": self.write_paused, "writer": self.writer(),
                "fences": self.fence_state()}
