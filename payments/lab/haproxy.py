"""One HAProxy process: its configuration checked before it starts, its runtime API (stats socket), its end.

The lab runs two: the ALB stand-in (:mod:`payments.lab.proxy`) and the fences (:mod:`payments.lab.fence`).
"""

from __future__ import annotations

import socket
import subprocess
from pathlib import Path

from payments.lab import process
from payments.lab.process import LabError


class HAProxy:
    def __init__(self, folder: Path, binary: str) -> None:
        self.folder = folder
        self._binary = binary
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def socket_path(self) -> Path:
        return self.folder / "haproxy.sock"

    @property
    def log(self) -> Path:
        return self.folder / "haproxy.log"

    def global_section(self) -> str:
        return (f"global\n    stats socket {self.socket_path} mode 600 level admin\n"
                "    nbthread 1\n    maxconn 2000\n")

    def start(self, config: str, port: int, timeout: float = 15.0) -> None:
        """Check `config`, start HAProxy on it, and wait until `port` accepts connections."""
        self.folder.mkdir(parents=True, exist_ok=True)
        path = self.folder / "haproxy.cfg"
        path.write_text(config)
        checked = subprocess.run([self._binary, "-c", "-q", "-f", str(path)], capture_output=True, text=True,
                                 check=False)
        if checked.returncode != 0:
            raise LabError(f"haproxy rejected {path}: {' | '.join(checked.stderr.strip().splitlines()[-2:])}")
        self._proc = process.spawn([self._binary, "-db", "-f", str(path)], self.log)
        process.wait_until(lambda: self._accepting(port), timeout, f"haproxy on port {port}", proc=self._proc,
                           log=self.log)

    def _accepting(self, port: int) -> bool:
        """The port accepts connections and the runtime API answers (its socket file exists a moment before)."""
        try:
            return process.accepts(port) and "Name: HAProxy" in self.command("show info")
        except OSError:
            return False

    def stop(self) -> None:
        process.stop(self._proc)
        self._proc = None

    def command(self, line: str) -> str:
        """One runtime-API command; its answer."""
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.settimeout(5)
            sock.connect(str(self.socket_path))
            sock.sendall(line.encode() + b"\n")
            chunks = []
            while chunk := sock.recv(65536):
                chunks.append(chunk)
        return b"".join(chunks).decode()

    def expect_silence(self, line: str, what: str) -> None:
        """Run a command whose success is an empty answer; fail in one line otherwise."""
        answer = self.command(line).strip()
        if answer:
            raise LabError(f"haproxy did not take {what}: {answer}")
