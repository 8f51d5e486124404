"""Hostile-idle-client bench of `vrmgmt serve` (issue 14 findings 1 and 2): with many
idle TCP connections, slow-header clients (one byte per interval) and stalled TLS
handshakes open at once, how fast does a legitimate GetInstance answer over HTTP and
over HTTPS?

    python -m bench.slowclients [--idle 1000] [--slow 256] [--tls-stalled 16] [--rounds 20]

Starts a server (authentication on, HTTP and HTTPS on loopback, libvirt test driver with
5 domains), opens the hostile connections, then times GetInstance on a kept-alive
pywbem connection per scheme and prints p50/p95/max. tests/test_security_connections.py
runs the same code with the issue's figures and asserts p50 < 100 ms.
"""

from __future__ import annotations

import argparse
import socket
import ssl
import statistics
import sys
import threading
import time
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path

PROJECT = Path(__file__).resolve().parents[1]
if str(PROJECT / "tests") not in sys.path:
    sys.path.insert(0, str(PROJECT / "tests"))

SLOW_HEAD = (
    b"POST /cimom HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/xml\r\n"
    b"CIMOperation: MethodCall\r\nCIMMethod: GetInstance\r\nX-Slow: "
)
CLIENT_HELLO_START = b"\x16\x03\x01\x00\xc8\x01\x00\x00"  # a TLS record header, then silence


@dataclass
class Hostile:
    """The hostile connections, kept open until close()."""

    idle: list[socket.socket] = field(default_factory=list)
    slow: list[socket.socket] = field(default_factory=list)
    stalled: list[socket.socket] = field(default_factory=list)
    stop: threading.Event = field(default_factory=threading.Event)
    dripper: threading.Thread | None = None
    dropped: int = 0  # slow connections the server closed meanwhile

    def close(self) -> None:
        self.stop.set()
        if self.dripper is not None:
            self.dripper.join(5)
        for s in self.idle + self.slow + self.stalled:
            s.close()


def _connect(port: int) -> socket.socket:
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    s.setblocking(True)
    return s


def open_hostile(
    http_port: int,
    https_port: int,
    idle: int = 1000,
    slow: int = 256,
    tls_stalled: int = 16,
    drip_every: float = 1.0,
) -> Hostile:
    """idle: TCP connections that send nothing (half to each port: to the HTTPS port
    they are also unstarted handshakes); slow: request heads dribbled a byte per
    drip_every (half over TLS); tls_stalled: handshakes stopped after the first bytes."""
    h = Hostile()
    for i in range(idle):
        h.idle.append(_connect(http_port if i % 2 == 0 or not https_port else https_port))
    tls = ssl.create_default_context()
    tls.check_hostname = False
    tls.verify_mode = ssl.CERT_NONE
    for i in range(slow):
        s = _connect(http_port)
        if https_port and i % 2:
            s = tls.wrap_socket(_connect(https_port))
        s.sendall(SLOW_HEAD[:20])
        h.slow.append(s)
    for _ in range(tls_stalled if https_port else 0):
        s = _connect(https_port)
        s.sendall(CLIENT_HELLO_START)
        h.stalled.append(s)

    def drip() -> None:
        while not h.stop.wait(drip_every):
            for s in list(h.slow):
                try:
                    s.sendall(b"x")
                except OSError:
                    h.slow.remove(s)
                    h.dropped += 1

    h.dripper = threading.Thread(target=drip, name="drip", daemon=True)
    h.dripper.start()
    return h


def time_get_instance(conn, path, rounds: int) -> list[float]:
    conn.GetInstance(path)  # warm: connection, TLS session, authentication cache
    times = []
    for _ in range(rounds):
        t0 = time.perf_counter()
        conn.GetInstance(path)
        times.append(time.perf_counter() - t0)
    return times


def https_conn(srv):
    import pywbem

    conn = pywbem.WBEMConnection(
        f"https://127.0.0.1:{srv.https_port}",
        srv.creds,
        default_namespace="root/virt",
        no_verification=True,
        timeout=30,
    )
    conn.session.trust_env = False
    return conn


def start_server(workdir: Path, per_client: int = 4096):
    from support.server import VrmServer
    from support.testdriver import node_uri, write_node_xml

    write_node_xml(workdir / "n.xml", 5, seed=3)
    srv = VrmServer(
        workdir,
        [{"id": "slow", "type": "libvirt", "uri": node_uri(workdir / "n.xml")}],
        https=True,
    )
    text = srv.config.read_text().replace(
        "[auth]",
        f"max_connections = 8192\nmax_connections_per_client = {per_client}\n"
        "header_timeout = 60\n\n[auth]",
        1,
    )
    srv.config.write_text(text)
    return srv.start()


def summary(name: str, times: list[float]) -> str:
    ms = sorted(t * 1000 for t in times)
    p95 = ms[min(len(ms) - 1, int(len(ms) * 0.95))]
    return f"{name}: p50 {statistics.median(ms):.1f} ms, p95 {p95:.1f} ms, max {ms[-1]:.1f} ms"


def main(argv: list[str] | None = None) -> int:
    import tempfile

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--idle", type=int, default=1000)
    ap.add_argument("--slow", type=int, default=256)
    ap.add_argument("--tls-stalled", type=int, default=16)
    ap.add_argument("--rounds", type=int, default=20)
    args = ap.parse_args(argv)
    with tempfile.TemporaryDirectory() as d, ExitStack() as stack:
        srv = start_server(Path(d))
        stack.callback(srv.stop)
        path = srv.conn().EnumerateInstanceNames("VRM_ComputerSystem")[0]
        t0 = time.monotonic()
        hostile = open_hostile(srv.port, srv.https_port, args.idle, args.slow, args.tls_stalled)
        stack.callback(hostile.close)
        print(
            f"opened {args.idle} idle, {args.slow} slow-header, {args.tls_stalled} stalled-TLS "
            f"connections in {time.monotonic() - t0:.1f} s"
        )
        print(summary("GetInstance over HTTP ", time_get_instance(srv.conn(), path, args.rounds)))
        print(
            summary("GetInstance over HTTPS", time_get_instance(https_conn(srv), path, args.rounds))
        )
        print(f"slow-header connections closed by the server meanwhile: {hostile.dropped}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
