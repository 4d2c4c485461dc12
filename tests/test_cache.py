"""The project cache (payments.core.cache) trusts only what is this user's alone, checked on what it opened."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from payments.core import cache
from payments.cutover.emulator import adapter


def test_an_entry_is_kept_whole_and_read_back(tmp_path: Path) -> None:
    where = tmp_path / "kind"
    cache.store(where, "entry", b"data")
    assert cache.load(where, "entry") == b"data"
    assert [p.name for p in where.iterdir()] == ["entry"]  # no partial file left behind
    assert (where.stat().st_mode & 0o777, (where / "entry").stat().st_mode & 0o777) == (0o700, 0o600)
    assert cache.load(where, "absent") is None and cache.load(None, "entry") is None


def test_links_and_what_others_may_write_are_never_trusted(tmp_path: Path) -> None:
    where = tmp_path / "kind"
    cache.store(where, "entry", b"data")
    linked = tmp_path / "linked"
    linked.symlink_to(where)
    assert cache.load(linked, "entry") is None  # a folder that is a link (it could be swapped for another)
    cache.store(linked, "other", b"x")
    assert not (where / "other").exists()
    (where / "link").symlink_to(where / "entry")
    assert cache.load(where, "link") is None  # an entry that is a link
    os.chmod(where / "entry", 0o620)
    assert cache.load(where, "entry") is None  # an entry others may write
    os.chmod(where / "entry", 0o600)
    os.chmod(where, 0o770)
    assert cache.load(where, "entry") is None  # a folder others may write
    cache.store(where, "entry", b"new")
    os.chmod(where, 0o700)
    assert cache.load(where, "entry") == b"data"  # and nothing was written into it


def test_off_and_where_the_folders_are(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(cache.ENV, "off")
    monkeypatch.delenv(adapter.CACHE_ENV, raising=False)
    assert cache.folder("asl") is None and adapter.cache_dir() is None  # the emulator's programs too
    monkeypatch.setenv(adapter.CACHE_ENV, str(tmp_path / "programs"))
    assert adapter.cache_dir() == tmp_path / "programs"  # its own setting wins
    monkeypatch.setenv(cache.ENV, str(tmp_path))
    assert cache.folder("aws-rules") == tmp_path / "aws-rules"
    monkeypatch.delenv(cache.ENV)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert cache.folder("asl") == tmp_path / "xdg" / "payments-platform" / "asl"
