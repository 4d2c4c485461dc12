"""Reading the YAML files people edit: ``environments/<env>.yaml`` and ``<layer>/Pulumi.<env>.yaml``.

Every task reads them through :func:`load` (plain data) or :func:`load_roundtrip` (ruamel's round-trip document,
for ``invoke promote``), so a syntax error is one line everywhere, never a parser traceback:

    environments/dev.yaml line 3, column 1: a tab character; YAML indents with spaces only. Fix: replace the tab
    with spaces

A key written twice is an error too: PyYAML would silently keep the last value, so one of the two lines would do
nothing without a word.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

from payments.core.errors import UserError


class YamlError(UserError):
    """A file that is not valid YAML (or has a key twice): names the file, line and column, and the fix."""

    def __init__(self, file: str, line: int, column: int, problem: str, fix: str) -> None:
        self.file, self.line, self.column, self.problem, self.fix = file, line, column, problem, fix
        super().__init__(f"{file} line {line}, column {column}: {problem}. Fix: {fix}")


class _UniqueKeys(yaml.SafeLoader):
    """PyYAML's safe loader, refusing a mapping that has the same key twice."""

    shown = ""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: dict[Any, yaml.Node] = {}
        for key_node, _value in node.value:
            key = self.construct_object(key_node, deep=True)  # type: ignore[no-untyped-call]
            if isinstance(key, list | dict):
                continue  # unhashable keys are reported by the base class
            if key in seen:
                mark = key_node.start_mark
                raise _duplicate(self.shown, key, seen[key].start_mark.line + 1, mark.line, mark.column)
            seen[key] = key_node
        return super().construct_mapping(node, deep=deep)


def load(path: Path, shown: str | None = None) -> Any:
    """The file's data (dicts, lists, scalars); `shown` is how messages name it (default: the path)."""
    name = shown or str(path)
    text = path.read_text()
    loader = _UniqueKeys(text)
    loader.shown = name
    try:
        return loader.get_single_data()
    except yaml.MarkedYAMLError as exc:
        raise _explain(name, text, exc) from None
    except yaml.YAMLError as exc:  # pragma: no cover - PyYAML marks every syntax error it raises
        raise UserError(f"{name}: not valid YAML ({exc}). Fix: correct the file") from None
    finally:
        loader.dispose()


def load_roundtrip(path: Path, shown: str | None = None, y: Any = None) -> Any:
    """The file as a ruamel.yaml round-trip document (comments, order and quoting kept), or one-line errors.

    `y` is the ``ruamel.yaml.YAML`` instance that will also write the document back (default: a round-trip one).
    """
    from ruamel.yaml import YAML
    from ruamel.yaml.constructor import DuplicateKeyError
    from ruamel.yaml.error import MarkedYAMLError

    name = shown or str(path)
    text = path.read_text()
    y = y if y is not None else YAML()
    try:
        return y.load(text)
    except DuplicateKeyError as exc:
        mark, first = exc.problem_mark, exc.context_mark
        found = re.search(r'duplicate key "(.*?)" with value', str(exc.problem))
        key = found.group(1) if found else "?"
        raise _duplicate(name, key, first.line + 1 if first else 0, mark.line, mark.column) from None
    except MarkedYAMLError as exc:
        raise _explain(name, text, exc) from None


def _duplicate(name: str, key: Any, first_line: int, line: int, column: int) -> YamlError:
    return YamlError(name, line + 1, column + 1, f"'{key}' is written twice (first on line {first_line}), so one "
                     "of the two values would be ignored", f"keep one '{key}' line and delete the other")


def _explain(name: str, text: str, exc: Any) -> YamlError:
    """One line for a parser error: where, what in words, and the edit that fixes it."""
    problem = str(exc.problem or "")
    context = str(exc.context or "")
    mark = exc.problem_mark
    line, column = (mark.line, mark.column) if mark is not None else (0, 0)
    unclosed = _unclosed_quote(text, line)
    if unclosed is not None:
        # A quoted value may span lines, so the parser stops only where the next quote happens to be; the line that
        # opened it is where the fix goes.
        line, column = unclosed
        quote = _char(text, line, column)
        what, fix = f"the value quoted with {quote} here is never closed", f"add the closing {quote} at its end"
    elif "'\\t'" in problem or "\t" in problem:
        what, fix = "a tab character; YAML indents with spaces only", "replace the tab with spaces"
    elif "quoted scalar" in context and exc.context_mark is not None:
        opened = exc.context_mark
        line, column = opened.line, opened.column
        quote = _char(text, line, column) or '"'
        what, fix = f"the value quoted with {quote} here is never closed", f"add the closing {quote} at its end"
    elif "mapping values are not allowed" in problem:
        what = "a ': ' inside a value, or a key indented deeper than the keys above it"
        fix = "quote the whole value (key: \"a: b\"), or indent the key like its neighbours"
    elif "could not find expected ':'" in problem and exc.context_mark is not None:
        line, column = exc.context_mark.line, exc.context_mark.column
        what, fix = "a line without 'key: value'", "write it as key: value (a space after the colon), or delete it"
    elif "flow sequence" in context or "flow mapping" in context:
        opened = exc.context_mark or mark
        line, column = opened.line, opened.column
        bracket = "]" if "sequence" in context else "}"
        what, fix = "a list or map opened here is not closed", f"close it with '{bracket}' after its last item"
    elif "expected <block end>" in problem or "block mapping" in context or "block collection" in context:
        what = "this line's indentation does not match the lines above it"
        fix = "indent it with exactly as many spaces as the entries beside it (stack keys: 2, under config:)"
    elif "constructor for the tag" in problem:
        what = f"a YAML tag ({problem.rsplit(' ', 1)[-1]}) these files do not use"
        fix = "remove the tag and write a plain value"
    elif "undefined alias" in problem:
        what, fix = "an alias (*name) without its anchor (&name)", "write the value itself instead of the alias"
    else:
        what, fix = f"not valid YAML ({problem or context})", "correct the syntax at that position"
    return YamlError(name, line + 1, column + 1, what, fix)


_QUOTED_VALUE = re.compile(r"""^(\s*(?:-\s+)?(?:[^\s#'"][^#]*?:\s+)?)(["'])""")


def _unclosed_quote(text: str, upto: int) -> tuple[int, int] | None:
    """(line, column) of the first value on lines 0..`upto` that opens a quote and does not close it on its line."""
    for number, line in enumerate(text.splitlines()[: upto + 1]):
        match = _QUOTED_VALUE.match(line)
        if match is None:
            continue
        quote, start = match.group(2), match.end(2)
        rest = line[start:]
        closed = re.search(r'(?<!\\)"', rest) if quote == '"' else re.search(r"'(?!')", rest.replace("''", "__"))
        if closed is None:
            return number, start - 1
    return None


def _char(text: str, line: int, column: int) -> str:
    lines = text.splitlines()
    return lines[line][column] if line < len(lines) and column < len(lines[line]) else ""
