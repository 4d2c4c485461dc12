"""Files kept between runs for work whose result depends only on the installed software (parsed state-machine
programs, the tag rules read from botocore's models): each entry is named by a digest of everything it depends on,
so a new version of that software simply misses it.

The folder is ``$PAYMENTS_CACHE`` (``off``: no cache), else the user's cache folder (``$XDG_CACHE_HOME`` or
``~/.cache``) under ``payments-platform``. It is created private, and a folder others may write to is neither read
nor written. A cache is only ever faster: an entry that cannot be read or written is computed again.
"""

from __future__ import annotations

import contextlib
import os
import stat
import threading
from pathlib import Path

ENV = "PAYMENTS_CACHE"


def folder(kind: str) -> Path | None:
    """The folder of one kind of entry; None when the cache is off."""
    setting = os.environ.get(ENV, "")
    if setting == "off":
        return None
    if setting:
        return Path(setting) / kind
    try:
        home = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    except RuntimeError:  # no home folder to be found
        return None
    return home / "payments-platform" / kind


def private(path: Path) -> bool:
    """The folder belongs to this user and no one else may write to it."""
    info = path.stat()
    return info.st_uid == os.getuid() and not info.st_mode & (stat.S_IWGRP | stat.S_IWOTH)


def load(where: Path | None, name: str) -> bytes | None:
    """An entry's bytes; None when there is none, or the folder is not private."""
    if where is None:
        return None
    try:
        path = where / name
        if not path.is_file() or not private(where):
            return None
        return path.read_bytes()
    except OSError:
        return None


def store(where: Path | None, name: str, data: bytes) -> None:
    """Keep an entry, whole or not at all (another process may be reading it)."""
    if where is None:
        return
    with contextlib.suppress(OSError):
        where.mkdir(mode=0o700, parents=True, exist_ok=True)
        if not private(where):
            return
        path = where / name
        partial = path.with_name(f"{name}.{os.getpid()}.{threading.get_ident()}.partial")
        partial.write_bytes(data)
        os.replace(partial, path)
