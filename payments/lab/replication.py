"""Binlog replication standing in for the DMS tasks: forward on-prem -> aws, reverse aws -> on-prem.

| DMS                                              | the lab                                                   |
|--------------------------------------------------|-----------------------------------------------------------|
| forward task, full load + CDC                    | the aws server replicates on-prem's binlog from its start |
| CDC-only task "from now" (reverse after the      | ``from_now=True``: the replica starts at the source's      |
| switch, forward after a fallback)                | binlog file and position read at that moment               |
| StartReplicationTask / StopReplicationTask       | ``START SLAVE`` / ``STOP SLAVE`` on the replica           |
| status running / stopped / failed                | :class:`State` from ``SHOW SLAVE STATUS`` (failed: an error) |
| ``CDCIncomingChanges``                           | transactions in the source's GTID position not yet in the  |
|                                                  | replica's (per GTID domain; counts unfetched ones too)     |
| ``CDCLatencyTarget``                             | ``Seconds_Behind_Master``, or for how long changes have   |
|                                                  | been waiting when the SQL thread cannot say               |

Fault hooks: :meth:`Replication.set_delay` (``MASTER_DELAY``: changes wait that long before they apply, the
task stays running) and :meth:`Replication.fail` (the replica's login is refused: the task fails).
"""

from __future__ import annotations

import dataclasses
import enum
import secrets
import time
from typing import Any

from payments.lab.database import CLIENT_HOST, Credentials, Database


class Direction(enum.Enum):
    """Which way changes flow."""

    FORWARD = "forward"  #: on-prem -> aws (DMS full load + CDC; CDC-only after a fallback)
    REVERSE = "reverse"  #: aws -> on-prem (DMS CDC-only from the switch point)


class State(enum.Enum):
    """A DMS task status, reduced to what a switchover decides on."""

    RUNNING = "running"
    STOPPED = "stopped"
    FAILED = "failed"


@dataclasses.dataclass(frozen=True)
class ReplicationStatus:
    state: State
    latency_seconds: float  #: ~ CDCLatencyTarget
    incoming_changes: int  #: ~ CDCIncomingChanges
    error: str | None = None
    #: transactions the source has logged since the start point (applied = captured - incoming_changes)
    captured: int = 0

    @property
    def drained(self) -> bool:
        """What a switchover waits for: nothing waiting to apply, latency 0."""
        return self.incoming_changes == 0 and self.latency_seconds == 0


def parse_gtid_positions(text: str) -> dict[int, int]:
    """``"1-1-42,2-2-7"`` -> ``{1: 42, 2: 7}`` (GTID domain -> last sequence number)."""
    out: dict[int, int] = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        domain, _server, seq = part.split("-")
        out[int(domain)] = max(out.get(int(domain), 0), int(seq))
    return out


def pending_transactions(source: dict[int, int], applied: dict[int, int], start: dict[int, int]) -> int:
    """Transactions the source has logged that the replica has not applied, per domain, ignoring what lies
    before the position replication was started from (`start`: skipped on purpose)."""
    return sum(max(0, seq - max(applied.get(domain, 0), start.get(domain, 0))) for domain, seq in source.items())


class Replication:
    """One direction: `replica` applies `source`'s binlog."""

    def __init__(self, direction: Direction, source: Database, replica: Database, user: Credentials) -> None:
        self.direction = direction
        self.source = source
        self.replica = replica
        self._user = user
        self._start_gtids: dict[int, int] = {}
        self._pending_since: float | None = None
        self._delay = 0

    def _new_source(self, cur: Any, log_file: str | None = None, log_pos: int | None = None) -> None:
        """Point the replica at the source (which resets its position: to `log_file`/`log_pos`, or to the
        source's first binlog)."""
        position = ", MASTER_LOG_FILE=%s, MASTER_LOG_POS=%s" if log_file is not None else ""
        # MASTER_USE_GTID=no: a DMS task reads binlog positions, not GTIDs, so the lab does too (GTIDs are
        # still logged and give the incoming-changes figure).
        cur.execute(
            f"CHANGE MASTER TO MASTER_HOST='{CLIENT_HOST}', MASTER_PORT={self.source.port}, MASTER_USER=%s, "
            f"MASTER_PASSWORD=%s, MASTER_USE_GTID=no, MASTER_CONNECT_RETRY=1, MASTER_DELAY={self._delay}"
            + position,
            (self._user.user, self._user.password) + ((log_file, log_pos) if log_file is not None else ()),
        )

    def start(self, from_now: bool) -> None:
        """Start applying. ``from_now``: from the source's current binlog position (a CDC-only task started at
        the switch or fallback point, during the write pause); otherwise from where it stopped, or from the
        beginning of the source's binlog the first time (full load + CDC: the binlog holds every payment)."""
        with self.replica.admin() as conn, conn.cursor() as cur:
            cur.execute("STOP SLAVE")
            if from_now:
                # Position first, then GTIDs: a transaction between the two reads is then applied, never
                # skipped while counted as done.
                master = self.source.query("SHOW MASTER STATUS")[0]
                self._start_gtids = parse_gtid_positions(self.source.gtid_binlog_pos())
                self._new_source(cur, master["File"], int(master["Position"]))
            elif not self.replica.query("SHOW SLAVE STATUS"):
                self._start_gtids = {}
                self._new_source(cur)
            else:
                # Resume where it stopped: credentials and delay only (naming the source would reset the position).
                cur.execute(f"CHANGE MASTER TO MASTER_USER=%s, MASTER_PASSWORD=%s, MASTER_DELAY={self._delay}",
                            (self._user.user, self._user.password))
            cur.execute("START SLAVE")
        self._pending_since = None

    def stop(self) -> None:
        with self.replica.admin() as conn, conn.cursor() as cur:
            cur.execute("STOP SLAVE")

    def set_delay(self, seconds: int) -> None:
        """Fault hook: every change waits `seconds` before it applies (0 removes the lag)."""
        self._delay = seconds
        with self.replica.admin() as conn, conn.cursor() as cur:
            running = self._threads_running(cur)
            cur.execute("STOP SLAVE")
            cur.execute(f"CHANGE MASTER TO MASTER_DELAY={int(seconds)}")
            if running:
                cur.execute("START SLAVE")

    def fail(self, timeout: float = 10.0) -> None:
        """Fault hook: the source refuses the replica's login, so the task fails (restart with :meth:`start`).
        Returns once the failure shows in :meth:`status`."""
        with self.replica.admin() as conn, conn.cursor() as cur:
            cur.execute("STOP SLAVE")
            cur.execute("CHANGE MASTER TO MASTER_PASSWORD=%s", (secrets.token_urlsafe(16),))
            cur.execute("START SLAVE")
        deadline = time.monotonic() + timeout
        while self.status().state is not State.FAILED and time.monotonic() < deadline:
            time.sleep(0.05)

    @staticmethod
    def _threads_running(cur: Any) -> bool:
        cur.execute("SHOW SLAVE STATUS")
        row = cur.fetchone()
        return bool(row) and row["Slave_SQL_Running"] == "Yes"

    def status(self) -> ReplicationStatus:
        rows = self.replica.query("SHOW SLAVE STATUS")
        source = parse_gtid_positions(self.source.gtid_binlog_pos())
        positions = self.replica.query(
            "SELECT @@GLOBAL.gtid_slave_pos AS applied, @@GLOBAL.gtid_binlog_pos AS logged")[0]
        applied = parse_gtid_positions(str(positions["applied"] or ""))
        for domain, seq in parse_gtid_positions(str(positions["logged"] or "")).items():
            applied[domain] = max(applied.get(domain, 0), seq)
        incoming = pending_transactions(source, applied, self._start_gtids)
        captured = sum(max(0, seq - self._start_gtids.get(domain, 0)) for domain, seq in source.items())
        state, error, behind = State.STOPPED, None, None
        if rows:
            row = rows[0]
            io, sql = row["Slave_IO_Running"], row["Slave_SQL_Running"]
            if row["Last_SQL_Errno"]:
                state, error = State.FAILED, f"apply error {row['Last_SQL_Errno']}: {row['Last_SQL_Error']}"
            elif row["Last_IO_Errno"] and io != "Yes":
                state, error = State.FAILED, f"source error {row['Last_IO_Errno']}: {row['Last_IO_Error']}"
            elif sql == "Yes" and io in ("Yes", "Connecting", "Preparing"):
                state = State.RUNNING
            behind = row["Seconds_Behind_Master"]
        now = time.monotonic()
        if incoming == 0:
            self._pending_since = None
            return ReplicationStatus(state, 0.0, 0, error, captured)
        if self._pending_since is None:
            self._pending_since = now
        latency = max(float(behind or 0), now - self._pending_since)
        return ReplicationStatus(state, round(latency, 3), incoming, error, captured)
