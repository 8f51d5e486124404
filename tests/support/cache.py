"""Where the suite keeps what it builds (vcsim, SFCB, OpenPegasus, cmpi-bindings):
outside the clone, so a fresh clone in CI reuses the builds of earlier runs; each build
is keyed by a hash of its inputs, so a changed input rebuilds only that build.

``$VRMGMT_TEST_CACHE`` if set, else ``/var/cache/vrmgmt-test`` as root, else
``$XDG_CACHE_HOME/vrmgmt-test`` (``~/.cache/vrmgmt-test``)."""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import subprocess
import time
from pathlib import Path


def cache_dir() -> Path:
    env = os.environ.get("VRMGMT_TEST_CACHE")
    if env:
        path = Path(env)
    elif os.geteuid() == 0:
        path = Path("/var/cache/vrmgmt-test")
    else:
        base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
        path = Path(base) / "vrmgmt-test"
    path.mkdir(parents=True, exist_ok=True)
    return path


def sha256_file(path: Path) -> str:
    """The SHA-256 of a file (a build input), read in 1 MiB chunks."""
    h = hashlib.sha256()
    with Path(path).open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def first_line(cmd: list[str]) -> str:
    """The first line a command prints (a tool's version, for build keys); "?" if none."""
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=60, check=False)
    except (OSError, subprocess.SubprocessError):
        return "?"
    text = (out.stdout + out.stderr).strip()
    return text.splitlines()[0] if text else "?"


@contextlib.contextmanager
def exclusive(path: Path, timeout: float, what: str, error: type[Exception] = TimeoutError):
    """An exclusive flock on path (a build or run lock shared by parallel test runs),
    waiting up to timeout seconds; `error` is raised when it cannot be had in time."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a+") as f:
        deadline = time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise error(
                        f"timed out after {timeout:.0f} s waiting for {what} ({path})"
                    ) from None
                time.sleep(0.3)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)
