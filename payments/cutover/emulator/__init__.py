"""The embedded AWS emulator (moto) and the adapter that bridges its gaps, for tests and ``invoke rehearse``.

* :mod:`.adapter`: moto's gaps against Step Functions as AWS documents it, and the memoisation that keeps
  executions fast; none of it changes a definition;
* :mod:`.clock`: virtual time for Waits, retries, timeouts and history timestamps (or wall-clock time, scaled,
  for the lab);
* :mod:`.lab_bridge`: the lab's adapter, which mirrors the machines' AWS calls onto the migration lab;
* :mod:`.control`: hooks on states, injected faults, the history quota;
* :mod:`.pins`: stand-ins re-keyed to the planned ARNs;
* :mod:`.session`: :func:`emulator`, which puts it all together.
"""

from payments.cutover.emulator.clock import Clock, ClockStalledError, WallClock
from payments.cutover.emulator.control import HISTORY_QUOTA, Control, Entered
from payments.cutover.emulator.pins import pin_dms_task, pin_listener, pin_target_group
from payments.cutover.emulator.session import ACCOUNT_ID, REGION, Session, emulator

__all__ = [
    "ACCOUNT_ID",
    "HISTORY_QUOTA",
    "REGION",
    "Clock",
    "ClockStalledError",
    "Control",
    "Entered",
    "Session",
    "WallClock",
    "emulator",
    "pin_dms_task",
    "pin_listener",
    "pin_target_group",
]
