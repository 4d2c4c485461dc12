"""Generated documentation is current."""

from payments.core import contract
from payments.ops import docs


def test_generated_blocks_are_current() -> None:
    assert docs.stale() == [], "run `invoke docs`"


def test_exports_table_lists_every_declared_output() -> None:
    table = contract.markdown_table()
    for outputs in contract.EXPORTS.values():
        for o in outputs:
            assert f"`{o.name}`" in table
