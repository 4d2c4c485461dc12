"""Child processes of the lab: found, started, awaited and always stopped.

Every child gets ``PR_SET_PDEATHSIG``: if the lab's process dies (even by SIGKILL), the kernel ends its
servers too, so nothing is left running on a failure that skips the context managers.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import IO, Any

from payments.core.errors import UserError

INSTALL_FIX = (
    "apt-get update && apt-get install -y --no-install-recommends mariadb-server haproxy "
    "(Debian/Ubuntu, as root)"
)
#: program -> where Debian installs it (used when it is not on PATH, e.g. /usr/sbin for a non-root user)
PROGRAMS = {
    "mariadbd": "/usr/sbin/mariadbd",
    "mariadb-install-db": "/usr/bin/mariadb-install-db",
    "haproxy": "/usr/sbin/haproxy",
}
_PR_SET_PDEATHSIG = 1


class LabError(UserError):
    """The lab could not do what it was asked (a server did not start, a wait timed out)."""


def programs() -> dict[str, str]:
    """Path of every program the lab runs; one line naming the missing ones and the install command."""
    found = {name: shutil.which(name) or (path if os.access(path, os.X_OK) else None)
             for name, path in PROGRAMS.items()}
    missing = sorted(name for name, path in found.items() if path is None)
    if missing:
        raise LabError(f"the lab needs {', '.join(missing)}, which is not installed. Fix: {INSTALL_FIX}")
    return {name: str(path) for name, path in found.items()}


_handed_out: set[int] = set()


def free_port() -> int:
    """A loopback TCP port nobody listens on right now, and never one this process handed out before: a port is
    chosen when a server is configured and bound only when it starts, so two servers of one lab could otherwise be
    given the same port (the kernel may offer a closed probe's port again)."""
    while True:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port: int = probe.getsockname()[1]
        if port not in _handed_out:
            _handed_out.add(port)
            return port


def accepts(port: int) -> bool:
    """Whether a TCP connection to the loopback `port` is accepted (the kernel's answer, not the server's)."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


def _die_with_parent() -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


def spawn(args: Sequence[str], log: Path, *, stdin: int | IO[Any] | None = subprocess.DEVNULL,
          stdout: int | IO[Any] | None = None) -> subprocess.Popen[bytes]:
    """Start a child whose stderr (and stdout unless given) goes to `log`; it dies with this process."""
    with log.open("ab") as sink:
        return subprocess.Popen(
            list(args), stdin=stdin, stdout=stdout if stdout is not None else sink, stderr=sink,
            preexec_fn=_die_with_parent, close_fds=True,
        )


def stop(proc: subprocess.Popen[bytes] | None, timeout: float = 10.0) -> None:
    """SIGTERM, wait, then SIGKILL; never raises (used on the way out of failures)."""
    if proc is None or proc.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        proc.terminate()
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            proc.kill()
        proc.wait(5)


def wait_until(ready: Callable[[], bool], timeout: float, what: str, *,
               proc: subprocess.Popen[bytes] | None = None, log: Path | None = None, every: float = 0.05) -> None:
    """Poll `ready` until it is true; fail in one line naming `what` (and the log) after `timeout` or if
    `proc` exits first."""
    deadline = time.monotonic() + timeout
    while not ready():
        where = f"; see {log}" if log else ""
        if proc is not None and proc.poll() is not None:
            raise LabError(f"{what}: the process exited with code {proc.returncode}{where}")
        if time.monotonic() > deadline:
            raise LabError(f"{what}: not ready after {timeout:g}s{where}")
        time.sleep(every)


def log_tail(log: Path, lines: int = 5, only: str = "") -> str:
    """The last lines of a log (those containing `only`, if given), for an error message."""
    try:
        found = [line for line in log.read_text(errors="replace").strip().splitlines() if only in line]
    except OSError:
        return ""
    return " | ".join(found[-lines:])
