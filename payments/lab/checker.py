"""The checker: every acknowledged payment, row by row by idempotency key, on both databases.

- **Lost**: acknowledged, and no row with that key on the final writer.
- **Duplicated**: one logical payment written more than once: more than one row for a key on either
  server, or rows for one key with different payment ids (each write makes its own id), whether both are on
  one server or one is on each side (two writers took the same retried payment), or a final row whose
  payment id is not the one the client was given.

A replicated row carries its payment id and the server that took the write, so a payment that reached
the other side by replication is one payment, not two. Rows no client saw acknowledged (a write given up
after its deadline, or whose answer was lost) are counted apart: they are neither lost nor duplicated.
"""

from __future__ import annotations

import collections
import dataclasses
from collections.abc import Iterable, Sequence

from payments.lab.database import Row
from payments.lab.load import Ack

SAMPLE = 20  #: keys listed per finding in the report


@dataclasses.dataclass(frozen=True)
class CheckResult:
    acknowledged: int
    rows_on_writer: int
    lost: tuple[str, ...]
    duplicated: tuple[str, ...]
    unacknowledged_rows: int  #: on the writer, never acknowledged to a client
    missing_on_other: int  #: on the writer, not (yet) on the other server

    @property
    def passed(self) -> bool:
        return not self.lost and not self.duplicated

    def summary(self) -> dict[str, object]:
        return {
            "acknowledged": self.acknowledged, "rowsOnWriter": self.rows_on_writer,
            "lost": len(self.lost), "duplicated": len(self.duplicated),
            "unacknowledgedRows": self.unacknowledged_rows, "missingOnOther": self.missing_on_other,
            "lostKeys": list(self.lost[:SAMPLE]), "duplicatedKeys": list(self.duplicated[:SAMPLE]),
        }


def _by_key(rows: Iterable[Row]) -> dict[str, list[Row]]:
    out: dict[str, list[Row]] = collections.defaultdict(list)
    for row in rows:
        out[row.idempotency_key].append(row)
    return out


def check(acks: Sequence[Ack], writer: Iterable[Row], other: Iterable[Row]) -> CheckResult:
    """Compare what clients were told with what each database holds."""
    on_writer, on_other = _by_key(writer), _by_key(other)
    acked = {ack.key: ack for ack in acks}
    lost = sorted(key for key in acked if key not in on_writer)
    duplicated = set()
    for key in on_writer.keys() | on_other.keys():
        mine, theirs = on_writer.get(key, []), on_other.get(key, [])
        ids = {row.payment_id for row in mine + theirs}
        if len(mine) > 1 or len(theirs) > 1 or len(ids) > 1:
            duplicated.add(key)
        elif key in acked and mine and mine[0].payment_id != acked[key].payment_id:
            duplicated.add(key)  # the row that stands is another write than the one acknowledged
    return CheckResult(
        acknowledged=len(acked),
        rows_on_writer=sum(len(rows) for rows in on_writer.values()),
        lost=tuple(lost),
        duplicated=tuple(sorted(duplicated)),
        unacknowledged_rows=sum(1 for key in on_writer if key not in acked),
        missing_on_other=sum(1 for key in on_writer if key not in on_other),
    )
