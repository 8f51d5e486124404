"""The embedded server in the test process (no `vrmgmt serve` subprocess): the real
dispatcher, providers and HTTP front end on a free loopback port, started in threads.
Fast enough for per-class unit cases (no process start, schema compiled once and
cached), and the tree it serves can be a test's own (mof/, registration, providers/)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

import pywbem

from support.server import free_port
from vrmgmt.config import parse_config
from vrmgmt.server.main import build_server


@contextlib.contextmanager
def inproc_server(
    state_dir: Path,
    backends: list[dict],
    *,
    mof_dir: Path | None = None,
    registration: Path | None = None,
    providers_dir: Path | None = None,
    namespace: str = "root/virt",
    sections: dict | None = None,
) -> Iterator[pywbem.WBEMConnection]:
    """A pywbem connection to an in-process server over `backends` (no authentication:
    plain HTTP on loopback only); `sections` are more configuration sections (e.g.
    {"host_control": {...}})."""
    cfg = parse_config(
        {
            "server": {"http_port": free_port(), "https_port": 0},
            "auth": {"mode": "none"},
            "paths": {"state_dir": str(state_dir)},
            "backends": backends,
            **(sections or {}),
        },
        source="<inproc test>",
    )
    server = build_server(
        cfg, mof_dir=mof_dir, registration=registration, providers_dir=providers_dir
    )
    server.start()
    try:
        port = server.ports()["http"]
        conn = pywbem.WBEMConnection(
            f"http://127.0.0.1:{port}", default_namespace=namespace, timeout=60
        )
        yield conn
        conn.close()
    finally:
        server.stop()
