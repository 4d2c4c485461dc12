"""Live progress and the per-layer report of deploy/preview/destroy runs (rich)."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from rich.console import Console
from rich.live import Live

from payments.ops.console import Rows, styled
from payments.ops.deploy import FAILED, SKIPPED, SUCCEEDED, UNCHANGED, Report

STYLE = {SUCCEEDED: "green", FAILED: "bold red", SKIPPED: "yellow", UNCHANGED: "cyan", "running": "bold blue",
         "waiting": "dim"}
LABEL = {UNCHANGED: "skipped (unchanged)", SKIPPED: "skipped"}


class LiveProgress:
    """Receives orchestrator events (from worker threads) and redraws one table."""

    def __init__(self, title: str) -> None:
        self.title = title
        self.rows: dict[str, dict[str, Any]] = {}
        self.note = ""
        self.lock = threading.Lock()
        self.live: Live | None = None

    def __call__(self, layer: str, state: str, note: str) -> None:
        with self.lock:
            if not layer:
                self.note = note
            else:
                row = self.rows.setdefault(layer, {"state": state, "note": note, "t0": None, "t1": None})
                if state == "running" and row["t0"] is None:
                    row["t0"] = time.perf_counter()
                elif state not in ("waiting", "running"):
                    row["t1"] = time.perf_counter()
                row["state"], row["note"] = state, note
        if self.live is not None:
            self.live.update(self.render())

    def render(self) -> Rows:
        table = Rows(f"{self.title}{'  ' + self.note if self.note else ''}",
                     [("layer", "key"), ("state", "key"), ("time", "number"), ("note", "value")])
        now = time.perf_counter()
        with self.lock:
            for layer, row in self.rows.items():
                elapsed = "" if row["t0"] is None else f"{(row['t1'] or now) - row['t0']:.1f}s"
                state = row["state"]
                table.add_row(layer, styled(LABEL.get(state, state), STYLE.get(state, "")), elapsed, row["note"])
        return table

    @contextmanager
    def show(self, console: Console) -> Iterator[LiveProgress]:
        # Only a terminal gets the live table; logs and tests get the final report alone.
        if not console.is_terminal:
            yield self
            return
        with Live(self.render(), console=console, refresh_per_second=4, transient=True) as live:
            self.live = live
            try:
                yield self
            finally:
                self.live = None


def report_table(report: Report) -> Rows:
    """One row per layer: outcome, duration, why, and the log of a failed layer (never shortened)."""
    verb = {"up": "deploy", "preview": "preview", "destroy": "destroy"}.get(report.action, report.action)
    table = Rows(f"{verb} {report.env}: {report.seconds:.1f}s, commit {report.commit[:12]}",
                 [("layer", "key"), ("outcome", "key"), ("duration", "number"), ("why", "value")], stack=True)
    for r in report.layers:
        why = r.reason + (f"  (log: {r.log})" if r.outcome == FAILED and r.log else "")
        table.add_row(r.layer, styled(LABEL.get(r.outcome, r.outcome), STYLE.get(r.outcome, "")),
                      f"{r.seconds:.1f}s", why)
    return table
