"""How tasks print: one console, tables that never cut a value, and user errors as one line, never a traceback.

Values are printed as they are. The console has rich's markup, emoji codes and highlighting off, so an ARN with
``:secret:`` in it stays an ARN (not the ㊙ emoji) and ``[bold]`` in a value is printed, not eaten as a style tag.
Styles are given explicitly, as :class:`rich.text.Text` objects (:func:`styled`), never as markup inside strings.
"""

from __future__ import annotations

import functools
import json
import sys
from collections.abc import Callable, Sequence
from typing import Any, Literal, TypeVar

from invoke.exceptions import Exit
from rich.cells import cell_len
from rich.console import Console, ConsoleOptions, Group, RenderableType, RenderResult
from rich.padding import Padding
from rich.table import Table
from rich.text import Text

from payments.core.errors import UserError

F = TypeVar("F", bound=Callable[..., Any])


def make_console(**kwargs: Any) -> Console:
    """A console that never rewrites what it prints: no markup, no emoji codes, no highlighting."""
    return Console(markup=False, emoji=False, highlight=False, **kwargs)


console = make_console()


def styled(text: str, style: str) -> Text:
    """`text` in `style` (e.g. "bold red"), with no markup parsing of `text`."""
    return Text(text, style=style)


def plural(count: int, noun: str) -> str:
    """``1 layer``, ``6 layers``."""
    return f"{count} {noun}{'' if count == 1 else 's'}"


def dumps(data: Any) -> str:
    """Machine-readable output (``--json``, ``--out``): indented JSON, keys in the order given."""
    return json.dumps(data, indent=2, default=str) + "\n"


def print_json(data: Any) -> None:
    """Write `data` as JSON to stdout, bypassing rich entirely (no wrapping, no styles, no markup)."""
    sys.stdout.write(dumps(data))
    sys.stdout.flush()


def user_errors(fn: F) -> F:
    """Turn a :class:`UserError` into ``Exit(message, 1)``: one line on stderr, exit code 1."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except UserError as exc:
            raise Exit(f"error: {exc}", code=1) from None

    return wrapper  # type: ignore[return-value]


# --- tables that never cut a value ---------------------------------------------------------------------------------

#: key: never wrapped or shortened (names, layers); value: folds inside a word when it must (ARNs, paths, messages);
#: number: right-aligned, never wrapped.
Kind = Literal["key", "value", "number"]


class Rows:
    """A table whose cells are never cut, at any width.

    When every column fits its longest line side by side, it is a table (values still fold rather than end in
    '…'). When it does not and `stack` is set, each row is printed as a heading (its first cell) followed by
    ``column  value`` lines, which an 80-column terminal reads easily; without `stack`, the ``value`` columns fold.
    """

    def __init__(self, title: str, columns: Sequence[tuple[str, Kind]], *, stack: bool = False) -> None:
        self.title = title
        self.columns = list(columns)
        self.stack = stack
        self.rows: list[list[Text]] = []
        self.sections: set[int] = set()  #: row indices after which a rule is drawn

    def add_row(self, *cells: str | Text) -> None:
        assert len(cells) == len(self.columns), (cells, self.columns)
        self.rows.append([cell if isinstance(cell, Text) else Text(cell) for cell in cells])

    def add_section(self) -> None:
        if self.rows:
            self.sections.add(len(self.rows) - 1)

    def natural_width(self) -> int:
        """Width of the table with every cell on its own lines unwrapped (borders and padding included)."""
        widths = [max([_longest(Text(name)), *(_longest(row[i]) for row in self.rows)])
                  for i, (name, _kind) in enumerate(self.columns)]
        return sum(widths) + 3 * len(widths) + 1

    def table(self) -> Table:
        table = Table(title=Text(self.title) if self.title else None, title_justify="left")
        for i, (name, kind) in enumerate(self.columns):
            if kind == "value":
                table.add_column(name, overflow="fold")
            else:
                longest = max([_longest(Text(name)), *(_longest(row[i]) for row in self.rows)])
                table.add_column(name, no_wrap=True, min_width=longest, justify="right" if kind == "number" else "left")
        for index, row in enumerate(self.rows):
            table.add_row(*row, end_section=index in self.sections)
        return table

    def stacked(self) -> RenderableType:
        parts: list[RenderableType] = [styled(self.title, "bold")] if self.title else []
        for row in self.rows:
            heading = row[0].copy()
            heading.stylize("bold")
            parts.append(Padding(heading, (0, 0, 0, 2)))
            grid = Table.grid(padding=(0, 2))
            width = max(_longest(Text(name)) for name, _ in self.columns[1:])
            grid.add_column(no_wrap=True, min_width=width, style="dim")
            grid.add_column(overflow="fold")
            for (name, _kind), cell in zip(self.columns[1:], row[1:], strict=True):
                if cell.plain:
                    grid.add_row(name, cell)
            parts.append(Padding(grid, (0, 0, 0, 4)))
        return Group(*parts)

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        if self.stack and self.rows and self.natural_width() > options.max_width:
            yield self.stacked()
        else:
            yield self.table()


def _longest(text: Text) -> int:
    return max((cell_len(line) for line in text.plain.splitlines()), default=0)
