"""One MariaDB server of the lab: on-prem's MySQL or Aurora's writer, on a loopback port.

Each server has its data in the lab's temporary folder, binary logging as DMS needs it on a source
(``binlog_format=ROW``, ``binlog_row_image=FULL``) and GTIDs with its own ``server_id`` and
``gtid_domain_id``, so positions in each direction can be compared transaction by transaction.

The lab's own administration goes through the server's Unix socket as the operating-system user
(``unix_socket`` authentication: no password exists for it). Applications and replication log in over
TCP with users of their own, least privilege, passwords generated at run time (:class:`Credentials`
never prints them).
"""

from __future__ import annotations

import atexit
import contextlib
import dataclasses
import getpass
import os
import secrets
import shutil
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pymysql
import pymysql.cursors

from payments.lab import process
from payments.lab.process import LabError

SCHEMA = "payments"
TABLE = "payments"
APP_USER = "payments_app"
REPLICATION_USER = "payments_repl"
#: The app and replication log in over loopback TCP (the fences relay from there too).
CLIENT_HOST = "127.0.0.1"

#: One row per write. The idempotency key is unique, as in a real payment system; `payment_id` is made
#: per write and `written_on` is the server that took it, so a logical payment written twice (once on each
#: side) shows up as two payment ids for one key, whichever side the checker reads.
PAYMENTS_TABLE = f"""
CREATE TABLE {SCHEMA}.{TABLE} (
    id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
    idempotency_key VARCHAR(64) NOT NULL,
    payment_id CHAR(36) NOT NULL,
    amount_cents BIGINT UNSIGNED NOT NULL,
    currency CHAR(3) NOT NULL,
    written_on INT UNSIGNED NOT NULL,
    created_at TIMESTAMP(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
    UNIQUE KEY uq_idempotency_key (idempotency_key)
) ENGINE=InnoDB
"""


@dataclasses.dataclass(frozen=True)
class Credentials:
    """A database login; the password is generated at run time and never shown."""

    user: str
    password: str = dataclasses.field(repr=False)

    @classmethod
    def generate(cls, user: str) -> Credentials:
        return cls(user, secrets.token_urlsafe(24))


@dataclasses.dataclass(frozen=True)
class Row:
    """One payment row as the checker reads it."""

    idempotency_key: str
    payment_id: str
    written_on: int


class Database:
    """A MariaDB server process, its data folder, and the lab's admin access to it."""

    def __init__(self, role: str, server_id: int, folder: Path, programs: Mapping[str, str]) -> None:
        self.role = role
        self.server_id = server_id
        self.folder = folder
        self.port = process.free_port()
        self._programs = programs
        self._proc: subprocess.Popen[bytes] | None = None
        self._admin: pymysql.connections.Connection[Any] | None = None
        self._admin_lock = threading.RLock()
        self._holder: pymysql.connections.Connection[Any] | None = None

    # -- files ------------------------------------------------------------------------

    @property
    def data_dir(self) -> Path:
        return self.folder / "data"

    @property
    def socket(self) -> Path:
        return self.folder / "mariadbd.sock"

    @property
    def tmpdir(self) -> Path:
        return self.folder / "tmp"

    @property
    def log(self) -> Path:
        return self.folder / "error.log"

    @property
    def config_file(self) -> Path:
        return self.folder / "my.cnf"

    def _write_config(self) -> None:
        self.config_file.write_text("\n".join([
            "[mariadbd]",
            f"datadir={self.data_dir}",
            f"socket={self.socket}",
            f"port={self.port}",
            "bind-address=127.0.0.1",
            f"pid-file={self.folder / 'mariadbd.pid'}",
            # Its own: a starting mariadbd removes every #sql* file in its tmpdir, another server's open
            # temporary tables included (a bootstrap beside a starting server failed that way).
            f"tmpdir={self.tmpdir}",
            f"log-error={self.log}",
            f"server_id={self.server_id}",
            f"gtid_domain_id={self.server_id}",
            # gtid_strict_mode stays off: DMS knows no GTIDs, so two writers show up as key conflicts, as they
            # would on AWS, not as GTID ordering errors.
            f"log_bin={self.folder / 'binlog'}",
            "binlog_format=ROW",
            "binlog_row_image=FULL",
            # A server that applies the other's changes logs them too: the next direction starts from its binlog.
            "log_slave_updates=ON",
            "skip-slave-start",  # replication runs only when the lab starts it
            "slave_net_timeout=10",
            "skip-name-resolve",
            "innodb_buffer_pool_size=32M",
            "innodb_log_file_size=8M",
            "performance_schema=OFF",
            "max_connections=300",
            "",
        ]))

    # -- life cycle ---------------------------------------------------------------------

    def _as_root(self) -> list[str]:
        # mariadbd refuses to run as root unless told to; the lab's folder belongs to whoever runs it.
        return ["--user=root"] if os.geteuid() == 0 else []

    def install(self, template: Path | None = None) -> None:
        """Create the data folder: a copy of `template` (an installed, never-started data folder) or a fresh
        ``mariadb-install-db``."""
        self.tmpdir.mkdir(parents=True, exist_ok=True)
        self._write_config()
        if template is not None:
            shutil.copytree(template, self.data_dir)
            return
        log = self.folder / "install.log"
        with log.open("wb") as sink:
            done = subprocess.run(
                [self._programs["mariadb-install-db"], f"--defaults-file={self.config_file}", *self._as_root(),
                 # The lab's operator account: whoever runs the lab, through the socket, no password.
                 "--auth-root-authentication-method=socket", f"--auth-root-socket-user={getpass.getuser()}",
                 "--skip-test-db"],
                stdout=sink, stderr=subprocess.STDOUT, check=False,
            )
        if done.returncode != 0:
            # The script ends with a generic trailer; the bootstrap server writes the reason to its error log.
            reason = process.log_tail(self.log, 2, only="[ERROR]") or process.log_tail(log, 2)
            raise LabError(f"{self.role} database: mariadb-install-db failed ({reason}); see {self.log} and {log}")

    def launch(self) -> None:
        """Start the server without waiting for it (see :meth:`wait_ready`)."""
        self._proc = process.spawn(
            [self._programs["mariadbd"], f"--defaults-file={self.config_file}", *self._as_root()], self.log
        )

    def wait_ready(self, timeout: float = 30.0) -> None:
        process.wait_until(self._answers, timeout, f"{self.role} database on port {self.port}",
                           proc=self._proc, log=self.log)

    def _answers(self) -> bool:
        """Ready means the operator can log in and get an answer. The socket file and an accepted TCP connection
        both come before that: mariadbd binds them during start-up, and a connection made then waits (or is
        refused) until the server serves logins, which under load outlasts a client's connect timeout."""
        if not self.socket.exists() or not process.accepts(self.port):
            return False
        try:
            probe = pymysql.connect(unix_socket=str(self.socket), user=getpass.getuser(), ssl_disabled=True,
                                    connect_timeout=2, read_timeout=2)
        except (pymysql.err.MySQLError, OSError):
            return False
        try:
            with probe.cursor() as cur:
                cur.execute("SELECT 1")
                return cur.fetchone() == (1,)
        except (pymysql.err.MySQLError, OSError):
            return False
        finally:
            with contextlib.suppress(Exception):
                probe.close()

    def stop(self) -> None:
        """Clean shutdown (SIGTERM lets InnoDB and the binlog close), SIGKILL if it hangs."""
        if self._holder is not None:
            self._holder.close()
            self._holder = None
        self._close_admin()
        process.stop(self._proc, timeout=30)
        self._proc = None

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    # -- access -------------------------------------------------------------------------------

    @contextlib.contextmanager
    def admin(self) -> Iterator[pymysql.connections.Connection[Any]]:
        """The lab's operator session (Unix socket, no password, autocommit): one per server, kept open and used
        by one caller at a time (a connection per question costs more than the question on a busy machine)."""
        with self._admin_lock:
            if self._admin is None or not self._admin.open:
                self._admin = pymysql.connect(unix_socket=str(self.socket), user=getpass.getuser(), autocommit=True,
                                              cursorclass=pymysql.cursors.DictCursor, connect_timeout=5,
                                              ssl_disabled=True)
            try:
                yield self._admin
            except (pymysql.err.OperationalError, pymysql.err.InterfaceError):
                self._close_admin()  # the next caller reconnects
                raise

    def _close_admin(self) -> None:
        with self._admin_lock:
            if self._admin is not None:
                with contextlib.suppress(Exception):
                    self._admin.close()
            self._admin = None

    def query(self, sql: str, args: Any = None) -> list[dict[str, Any]]:
        """One statement in the operator session; the rows it returns."""
        with self.admin() as conn, conn.cursor() as cur:
            cur.execute(sql, args)
            return list(cur.fetchall())

    def value(self, sql: str) -> Any:
        rows = self.query(sql)
        return next(iter(rows[0].values())) if rows else None

    def bootstrap(self, app: Credentials, replication: Credentials) -> None:
        """The payments schema and the two users, identical on both servers and kept out of the binlog (each
        server gets its own; replication then carries only payments)."""
        with self.admin() as conn, conn.cursor() as cur:
            cur.execute("SET SESSION sql_log_bin = 0")
            cur.execute(f"CREATE DATABASE {SCHEMA} CHARACTER SET utf8mb4")
            cur.execute(PAYMENTS_TABLE)
            # The app writes payments and reads them back: nothing else, on no other table.
            cur.execute(f"CREATE USER '{APP_USER}'@'{CLIENT_HOST}' IDENTIFIED BY %s", (app.password,))
            cur.execute(f"GRANT SELECT, INSERT ON {SCHEMA}.{TABLE} TO '{APP_USER}'@'{CLIENT_HOST}'")
            # Replication reads the binlog of the other server, and nothing else.
            cur.execute(f"CREATE USER '{REPLICATION_USER}'@'{CLIENT_HOST}' IDENTIFIED BY %s", (replication.password,))
            cur.execute(f"GRANT REPLICATION SLAVE ON *.* TO '{REPLICATION_USER}'@'{CLIENT_HOST}'")

    def rows(self) -> list[Row]:
        return [
            Row(r["idempotency_key"], r["payment_id"], int(r["written_on"]))
            for r in self.query(f"SELECT idempotency_key, payment_id, written_on FROM {SCHEMA}.{TABLE}")
        ]

    def gtid_binlog_pos(self) -> str:
        return str(self.value("SELECT @@GLOBAL.gtid_binlog_pos") or "")

    def hold_writes(self) -> None:
        """Fault hook: writes to the payments table wait (a read lock held by a session of its own) until
        :meth:`release_writes`; reads go on."""
        if self._holder is None:
            self._holder = pymysql.connect(unix_socket=str(self.socket), user=getpass.getuser(), autocommit=True,
                                           ssl_disabled=True)
            self._holder.cursor().execute(f"LOCK TABLES {SCHEMA}.{TABLE} READ")

    def writes_waiting(self) -> int:
        """Application sessions waiting on a held write."""
        return int(self.value(f"SELECT COUNT(*) FROM information_schema.processlist WHERE user = '{APP_USER}' "
                              "AND state LIKE '%lock%'") or 0)

    def release_writes(self, settle_seconds: float = 10.0) -> None:
        """Let held writes go on, and return once none of them is still waiting (they have committed, or failed
        for want of their client)."""
        if self._holder is None:
            return
        self._holder.close()  # closing the session releases its lock
        self._holder = None
        deadline = time.monotonic() + settle_seconds
        while self.writes_waiting() and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(0.2)  # the writes that were waiting commit (or roll back) now


_templates: dict[str, Path] = {}
_template_failed: list[LabError] = []


def template(programs: Mapping[str, str]) -> Path:
    """An installed, never-started data folder, made once per process and copied for every server (a copy is
    the same as a fresh ``mariadb-install-db``, in a fraction of the time); removed when the process exits.
    A failed install keeps its folder, whose logs the error names, and is not tried again in this process."""
    if _template_failed:
        raise _template_failed[0]
    if "path" not in _templates:
        folder = Path(tempfile.mkdtemp(prefix="payments-lab-template-"))
        try:
            Database("template", 1, folder, programs).install()
        except LabError as failed:
            _template_failed.append(failed)
            raise
        _templates["path"] = folder / "data"
    return _templates["path"]


@atexit.register
def _remove_templates() -> None:
    for data in _templates.values():
        shutil.rmtree(data.parent, ignore_errors=True)

