"""Files kept between runs for work whose result depends only on the installed software (parsed state-machine
programs, the tag rules read from botocore's models): each entry is named by a digest of everything it depends on,
so a new version of that software simply misses it.

The folder is ``$PAYMENTS_CACHE`` (``off``: no cache), else the user's cache folder (``$XDG_CACHE_HOME`` or
``~/.cache``) under ``payments-platform``. Each kind's folder is created private (0700); a folder, or an entry,
that is a link, belongs to someone else or may be written by others is neither read nor written (checked on what
was opened, so it cannot be swapped in between). A cache is only ever faster: an entry that cannot be read or
written is computed again.
"""

from __future__ import annotations

import contextlib
import os
import stat
import threading
from collections.abc import Iterator
from pathlib import Path

ENV = "PAYMENTS_CACHE"


def folder(kind: str, own: str | None = None) -> Path | None:
    """The folder of one kind of entry; None when the cache is off. The environment variable `own`, when set, names
    that kind's folder (or ``off``) whatever ``$PAYMENTS_CACHE`` says."""
    setting = os.environ.get(own, "") if own else ""
    if setting:
        return None if setting == "off" else Path(setting)
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


def _private(info: os.stat_result) -> bool:
    return info.st_uid == os.getuid() and not info.st_mode & (stat.S_IWGRP | stat.S_IWOTH)


@contextlib.contextmanager
def _opened(where: Path) -> Iterator[int]:
    """The folder, opened without following a link and checked private through what was opened: nobody can swap
    it between the check and its use."""
    fd = os.open(where, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
    try:
        if not _private(os.fstat(fd)):
            raise PermissionError(f"{where} may be written by others")
        yield fd
    finally:
        os.close(fd)


def load(where: Path | None, name: str) -> bytes | None:
    """An entry's bytes; None when there is none, or the folder or the entry is not this user's alone."""
    if where is None:
        return None
    try:
        with _opened(where) as dir_fd:
            fd = os.open(name, os.O_RDONLY | os.O_NOFOLLOW, dir_fd=dir_fd)
            with os.fdopen(fd, "rb") as entry:
                return entry.read() if _private(os.fstat(entry.fileno())) else None
    except OSError:
        return None


def store(where: Path | None, name: str, data: bytes) -> None:
    """Keep an entry, whole or not at all (another process may be reading it)."""
    if where is None:
        return
    partial = f"{name}.{os.getpid()}.{threading.get_ident()}.partial"
    with contextlib.suppress(OSError):
        where.mkdir(mode=0o700, parents=True, exist_ok=True)
        with _opened(where) as dir_fd:
            try:
                fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600, dir_fd=dir_fd)
                with os.fdopen(fd, "wb") as entry:
                    entry.write(data)
                os.replace(partial, name, src_dir_fd=dir_fd, dst_dir_fd=dir_fd)
            except OSError:
                with contextlib.suppress(OSError):
                    os.unlink(partial, dir_fd=dir_fd)
                raise
