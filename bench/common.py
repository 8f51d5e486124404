"""Shared helpers of the benchmarks: machine description, a server over a test-driver
backend, raw CIM-XML requests, RSS readings."""

from __future__ import annotations

import base64
import os
import platform
import socket
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from support.server import PASSWORD, USER, VrmServer  # noqa: E402
from support.testdriver import node_uri, write_node_xml  # noqa: E402

__all__ = [
    "VrmServer",
    "node_uri",
    "write_node_xml",
    "machine",
    "raw_request",
    "rss_kib",
    "test_server",
    "enum_body",
]


def machine() -> str:
    model = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return (
        f"{os.cpu_count()} cores, {model}, Python {platform.python_version()}, "
        f"{platform.system()} {platform.release()}"
    )


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError("no VmRSS")


def test_server(workdir: Path, n_domains: int, seed: int = 1) -> VrmServer:
    workdir.mkdir(parents=True, exist_ok=True)
    write_node_xml(workdir / "node.xml", n_domains, seed=seed, running_every=2)
    return VrmServer(
        workdir,
        [{"id": "bench", "type": "libvirt", "uri": node_uri(workdir / "node.xml"), "timeout": 600}],
    )


def enum_body(method: str, classname: str, extra: str = "") -> bytes:
    return (
        '<?xml version="1.0" encoding="utf-8" ?><CIM CIMVERSION="2.0" DTDVERSION="2.0">'
        '<MESSAGE ID="1" PROTOCOLVERSION="1.0"><SIMPLEREQ>'
        f'<IMETHODCALL NAME="{method}"><LOCALNAMESPACEPATH><NAMESPACE NAME="root"/>'
        '<NAMESPACE NAME="virt"/></LOCALNAMESPACEPATH><IPARAMVALUE NAME="ClassName">'
        f'<CLASSNAME NAME="{classname}"/></IPARAMVALUE>{extra}</IMETHODCALL></SIMPLEREQ>'
        "</MESSAGE></CIM>"
    ).encode()


def raw_request(port: int, method: str, body: bytes) -> tuple[float, bytes]:
    """POST one request and read the whole response without parsing it; returns
    (seconds until the last byte, body)."""
    auth = base64.b64encode(f"{USER}:{PASSWORD}".encode())
    head = (
        b"POST /cimom HTTP/1.1\r\nHost: bench\r\nContent-Type: application/xml\r\n"
        b"CIMOperation: MethodCall\r\nCIMMethod: " + method.encode() + b"\r\n"
        b"CIMObject: root/virt\r\nAuthorization: Basic " + auth + b"\r\n"
        b"Connection: close\r\nContent-Length: " + str(len(body)).encode() + b"\r\n\r\n"
    )
    t = time.perf_counter()
    with socket.create_connection(("127.0.0.1", port), timeout=600) as s:
        s.sendall(head + body)
        chunks = []
        while data := s.recv(1 << 20):
            chunks.append(data)
    elapsed = time.perf_counter() - t
    raw = b"".join(chunks)
    return elapsed, raw.partition(b"\r\n\r\n")[2]
