"""YAML syntax errors in the files people edit are one line: file, line, column, what is wrong, and a fix that works.

Each row is a broken stack or environment file, the exact line the user sees, and the file after doing what the
line says. The fixed file must load. Both readers are covered: the plain one every task uses, and the round-trip one
`invoke promote` rewrites stack files with. That tasks use them is covered by the task rows of the bad-input sweep.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from payments.core import yamlfiles
from payments.core.errors import UserError

STACK = "config:\n  payments-network:vpcCidr: 10.20.0.0/16\n  payments-network:azCount: 3\n"

ROWS = [
    # (id, broken text, the line the user sees, the text after applying the fix)
    ("tab-indent",
     "config:\n\tpayments-network:azCount: 3\n",
     "network/Pulumi.dev.yaml line 2, column 1: a tab character; YAML indents with spaces only. "
     "Fix: replace the tab with spaces",
     "config:\n  payments-network:azCount: 3\n"),
    ("unclosed-double-quote",
     'config:\n  payments-data:mysqlEngineVersion: "8.0\n  payments-data:multiAz: false\n',
     'network/Pulumi.dev.yaml line 2, column 37: the value quoted with " here is never closed. '
     'Fix: add the closing " at its end',
     'config:\n  payments-data:mysqlEngineVersion: "8.0"\n  payments-data:multiAz: false\n'),
    # the parser would stop at the next quote, on line 4: the line names where the quote was opened
    ("unclosed-quote-before-another-quoted-value",
     'config:\n  payments-data:engine: "aurora-mysql\n  payments-data:multiAz: false\n'
     '  payments-data:mysqlEngineVersion: "8.0"\n',
     'network/Pulumi.dev.yaml line 2, column 25: the value quoted with " here is never closed. '
     'Fix: add the closing " at its end',
     'config:\n  payments-data:engine: "aurora-mysql"\n  payments-data:multiAz: false\n'
     '  payments-data:mysqlEngineVersion: "8.0"\n'),
    ("unclosed-single-quote",
     "config:\n  payments-data:mysqlEngineVersion: '8.0\n",
     "network/Pulumi.dev.yaml line 2, column 37: the value quoted with ' here is never closed. "
     "Fix: add the closing ' at its end",
     "config:\n  payments-data:mysqlEngineVersion: '8.0'\n"),
    ("colon-in-value",
     "config:\n  payments-app:healthCheckCommand: curl -f http://localhost: 8080/health\n",
     "network/Pulumi.dev.yaml line 2, column 60: a ': ' inside a value, or a key indented deeper than the keys "
     "above it. Fix: quote the whole value (key: \"a: b\"), or indent the key like its neighbours",
     "config:\n  payments-app:healthCheckCommand: \"curl -f http://localhost: 8080/health\"\n"),
    ("line-without-colon",
     "config:\n  payments-network:azCount: 3\n  payments-network:natStrategy single\n  payments-network:appPort: 1\n",
     "network/Pulumi.dev.yaml line 3, column 3: a line without 'key: value'. "
     "Fix: write it as key: value (a space after the colon), or delete it",
     "config:\n  payments-network:azCount: 3\n  payments-network:natStrategy: single\n  payments-network:appPort: 1\n"),
    ("key-out-of-line",
     "config:\n  payments-network:azCount: 3\n payments-network:natStrategy: single\n",
     "network/Pulumi.dev.yaml line 3, column 2: this line's indentation does not match the lines above it. "
     "Fix: indent it with exactly as many spaces as the entries beside it (stack keys: 2, under config:)",
     "config:\n  payments-network:azCount: 3\n  payments-network:natStrategy: single\n"),
    ("list-item-out-of-line",
     "config:\n  payments-network:onPremCidrs:\n    - 172.16.0.0/16\n   - 172.17.0.0/16\n",
     "network/Pulumi.dev.yaml line 4, column 4: this line's indentation does not match the lines above it. "
     "Fix: indent it with exactly as many spaces as the entries beside it (stack keys: 2, under config:)",
     "config:\n  payments-network:onPremCidrs:\n    - 172.16.0.0/16\n    - 172.17.0.0/16\n"),
    ("unclosed-list",
     "config:\n  payments-migration:trafficSteps: [5, 25, 50, 100\n  payments-migration:bakeSeconds: 60\n",
     "network/Pulumi.dev.yaml line 2, column 36: a list or map opened here is not closed. "
     "Fix: close it with ']' after its last item",
     "config:\n  payments-migration:trafficSteps: [5, 25, 50, 100]\n  payments-migration:bakeSeconds: 60\n"),
    ("unclosed-map",
     "config:\n  payments-edge:initialWeights: {legacy: 100, blue: 0\n",
     "network/Pulumi.dev.yaml line 2, column 33: a list or map opened here is not closed. "
     "Fix: close it with '}' after its last item",
     "config:\n  payments-edge:initialWeights: {legacy: 100, blue: 0}\n"),
    ("duplicate-key",
     "config:\n  payments-network:azCount: 3\n  payments-network:natStrategy: single\n  payments-network:azCount: 2\n",
     "network/Pulumi.dev.yaml line 4, column 3: 'payments-network:azCount' is written twice (first on line 2), so "
     "one of the two values would be ignored. Fix: keep one 'payments-network:azCount' line and delete the other",
     "config:\n  payments-network:natStrategy: single\n  payments-network:azCount: 2\n"),
    ("unknown-tag",
     "config:\n  payments-network:azCount: !Ref three\n",
     "network/Pulumi.dev.yaml line 2, column 29: a YAML tag ('!Ref') these files do not use. "
     "Fix: remove the tag and write a plain value",
     "config:\n  payments-network:azCount: three\n"),
    ("alias-without-anchor",
     "config:\n  payments-network:onPremCidrs: *onprem\n",
     "network/Pulumi.dev.yaml line 2, column 33: an alias (*name) without its anchor (&name). "
     "Fix: write the value itself instead of the alias",
     "config:\n  payments-network:onPremCidrs: [172.16.0.0/16]\n"),
]
#: The round-trip reader (ruamel) keeps unknown tags as data instead of refusing them; `promote` reads a file with
#: it only after the plain reader accepted it, so that row does not apply to it.
ROUNDTRIP_ROWS = [row for row in ROWS if row[0] != "unknown-tag"]


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "Pulumi.dev.yaml"
    path.write_text(text)
    return path


@pytest.mark.parametrize(("case", "bad", "line", "fixed"), ROWS, ids=[r[0] for r in ROWS])
def test_plain_reader_gives_one_line_and_the_fix_works(tmp_path: Path, case: str, bad: str, line: str,
                                                       fixed: str) -> None:
    path = _write(tmp_path, bad)
    with pytest.raises(UserError) as err:
        yamlfiles.load(path, "network/Pulumi.dev.yaml")
    assert str(err.value) == line
    assert path.read_text() == bad  # reading never rewrites
    path.write_text(fixed)
    assert isinstance(yamlfiles.load(path, "network/Pulumi.dev.yaml"), dict)


@pytest.mark.parametrize(("case", "bad", "line", "fixed"), ROUNDTRIP_ROWS, ids=[r[0] for r in ROUNDTRIP_ROWS])
def test_roundtrip_reader_gives_the_same_line(tmp_path: Path, case: str, bad: str, line: str, fixed: str) -> None:
    path = _write(tmp_path, bad)
    with pytest.raises(UserError) as err:
        yamlfiles.load_roundtrip(path, "network/Pulumi.dev.yaml")
    assert str(err.value) == line
    path.write_text(fixed)
    assert yamlfiles.load_roundtrip(path, "network/Pulumi.dev.yaml") is not None


def test_a_valid_file_reads_as_before(tmp_path: Path) -> None:
    import yaml

    path = _write(tmp_path, STACK)
    assert yamlfiles.load(path) == yaml.safe_load(STACK)


def test_a_broken_stack_file_stops_a_plan_before_any_layer_is_planned(tmp_path: Path,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """app's stack file is broken: `invoke plan` says so at once, not after planning network, data and edge."""
    from payments.core.environment import REPO_ROOT
    from payments.core.graph import LAYERS
    from payments.plan import engine

    for layer in LAYERS:
        (tmp_path / layer).mkdir()
        (tmp_path / layer / "Pulumi.dev.yaml").write_text((REPO_ROOT / layer / "Pulumi.dev.yaml").read_text())
    guard = tmp_path / "app" / "Pulumi.dev.yaml"
    guard.write_text(guard.read_text().replace("    - aws\n", "    - awss\n", 1))
    planned: list[str] = []
    monkeypatch.setattr(engine, "plan_layer", lambda layer, *args, **kwargs: planned.append(layer))
    with pytest.raises(UserError, match=r"pulumi:disable-default-providers \(app/Pulumi\.dev\.yaml\)"):
        engine.plan_environment("dev", ["app"], root=tmp_path)
    assert planned == []
