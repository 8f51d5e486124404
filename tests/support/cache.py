"""Where the suite keeps what it builds (vcsim, SFCB, OpenPegasus, cmpi-bindings):
outside the clone, so a fresh clone in CI reuses the builds of earlier runs; each build
is keyed by a hash of its inputs, so a changed input rebuilds only that build.

``$VRMGMT_TEST_CACHE`` if set, else ``/var/cache/vrmgmt-test`` as root, else
``$XDG_CACHE_HOME/vrmgmt-test`` (``~/.cache/vrmgmt-test``)."""

from __future__ import annotations

import os
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
