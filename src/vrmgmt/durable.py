"""Durable files shared by several processes (DESIGN.md "Groups", "Durable state"): an
exclusive flock on a separate lock file (never on the file that is renamed; not lockf),
atomic replacement (temp file in the same directory, fsync, os.replace, fsync of the
directory), so a kill -9 at any moment leaves the old file or the new one, never a torn
or empty one. Used by the job store (vrmgmt.jobs) and the groups store
(vrmgmt.groups.store), and for the small marker files next to them."""

from __future__ import annotations

import contextlib
import fcntl
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path


@contextlib.contextmanager
def locked(lock_path: Path) -> Iterator[None]:
    """Hold an exclusive flock on lock_path (created 0600 when missing)."""
    fd = os.open(lock_path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


def fsync_dir(directory: Path) -> None:
    """Make renames and unlinks in directory durable."""
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_temp(directory: Path, prefix: str, data: bytes) -> str:
    """A fsynced temp file in directory holding data; its path (the caller renames it)."""
    fd, tmp = tempfile.mkstemp(prefix=prefix, dir=directory)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    return tmp


def replace(path: Path, data: bytes, *, prefix: str, sync_dir: bool = True) -> None:
    """Atomically replace path by data (caller holds the lock)."""
    tmp = write_temp(path.parent, prefix, data)
    try:
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    if sync_dir:
        fsync_dir(path.parent)
