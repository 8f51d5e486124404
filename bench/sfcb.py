"""The same providers hosted two ways, measured in one run over one libvirt test-driver
node file: `vrmgmt serve` (HTTP, authentication on) and a real SFCB 1.3.16 with
cmpi-bindings 1.0.5 (tests/support/sfcb.py builds it, cached; vrmgmt registered with
`vrmgmt.cmpi.register`, the site hook in the run's own site directory; no
authentication). GetInstance with C concurrent clients (bench/getinstance.py's client
processes) and EnumerateInstances of all VMs (request sent to last byte received, cold
and warm; pywbem's total). Usage:
python -m bench.sfcb [--clients 8] [--seconds 20] [--vms 1000] [--repeat 5]"""

from __future__ import annotations

import argparse
import base64
import io
import multiprocessing as mp
import socket
import statistics
import tempfile
import time
from pathlib import Path

import pywbem

from bench.common import ROOT, enum_body, machine, node_uri, test_server
from bench.getinstance import _client
from support import sfcb as sfcb_support
from support.server import PASSWORD, USER
from vrmgmt.cmpi import register as reg

_AUTH = base64.b64encode(f"{USER}:{PASSWORD}".encode())


def _getinstance(url, creds, uuids, clients: int, seconds: float) -> dict:
    q = mp.Queue()
    procs = [
        mp.Process(target=_client, args=(url, creds, uuids, seconds, q)) for _ in range(clients)
    ]
    t = time.perf_counter()
    for p in procs:
        p.start()
    results = [q.get(timeout=seconds + 300) for _ in procs]
    for p in procs:
        p.join(30)
    wall = time.perf_counter() - t
    lat = sorted(x for r in results for x in r[0])
    return {
        "requests": len(lat),
        "failures": sum(r[1] for r in results),
        "rps": len(lat) / wall,
        "p50": statistics.median(lat),
        "p95": lat[int(len(lat) * 0.95)],
    }


def _raw(port: int, body: bytes) -> tuple[float, bytes]:
    """Like bench.common.raw_request, but the time ends with the last byte of the CIM
    message (SFCB closes the connection only after its keep-alive timeout)."""
    head = (
        b"POST /cimom HTTP/1.1\r\nHost: bench\r\nContent-Type: application/xml\r\n"
        b"CIMOperation: MethodCall\r\nCIMMethod: EnumerateInstances\r\n"
        b"CIMObject: root/virt\r\nAuthorization: Basic " + _AUTH + b"\r\n"
        b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n"
    )
    t = time.perf_counter()
    with socket.create_connection(("127.0.0.1", port), timeout=600) as s:
        s.sendall(head + body)
        chunks: list[bytes] = []
        while data := s.recv(1 << 20):
            chunks.append(data)
            if b"</CIM>" in b"".join(chunks[-2:])[-64:]:
                break
        elapsed = time.perf_counter() - t
    return elapsed, b"".join(chunks).partition(b"\r\n\r\n")[2]


def _enumerate(conn: pywbem.WBEMConnection, port: int, n: int, repeat: int) -> dict:
    body = enum_body("EnumerateInstances", "VRM_ComputerSystem")
    cold, data = _raw(port, body)
    count = data.count(b"<VALUE.NAMEDINSTANCE>")
    assert count == n, f"{count} instances, expected {n}"
    warm = statistics.median(_raw(port, body)[0] for _ in range(repeat))
    totals = []
    for _ in range(repeat):
        t = time.perf_counter()
        assert len(conn.EnumerateInstances("VRM_ComputerSystem")) == n
        totals.append(time.perf_counter() - t)
    return {"cold": cold, "warm": warm, "pywbem": statistics.median(totals), "bytes": len(data)}


def _warm_up(conn, uuids) -> None:
    for u in uuids[:20]:
        conn.GetInstance(
            pywbem.CIMInstanceName(
                "VRM_ComputerSystem", {"CreationClassName": "VRM_ComputerSystem", "Name": u}
            )
        )


def run(clients: int, seconds: float, vms: int, repeat: int) -> dict:
    out: dict = {"clients": clients, "vms": vms, "seconds": seconds}
    build = sfcb_support.build_sfcb()
    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp)
        srv = test_server(d / "serve", vms)
        node = d / "serve" / "node.xml"
        with srv:
            conn = srv.conn(timeout=900)
            uuids = [p["Name"] for p in conn.EnumerateInstanceNames("VRM_ComputerSystem")]
            out["serve_enum"] = _enumerate(conn, srv.port, vms, repeat)
            _warm_up(conn, uuids)
            out["serve_gi"] = _getinstance(srv.url, srv.creds, uuids, clients, seconds)
        cfg = d / "vrmgmt.toml"
        cfg.write_text(
            f'[[backends]]\nid = "bench"\ntype = "libvirt"\nuri = "{node_uri(node)}"\n'
            "timeout = 600\n"
        )
        # SFCB's own defaults for HTTP keep-alive (15 s, 10 requests per connection)
        cimom = sfcb_support.Sfcb(
            build,
            d / "sfcb",
            env={"VRMGMT_CONFIG": str(cfg)},
            config={"keepaliveTimeout": "15", "keepaliveMaxRequest": "10"},
        )
        with cimom:
            log = io.StringIO()
            assert (
                reg.site_hook(
                    log, ROOT, layout=_layout(cimom), site_dir=cimom.site_dir, install=True
                )
                == 0
            ), log.getvalue()
            rc = reg.register("sfcb", False, ROOT, log, prefix=cimom.prefix)
            assert rc == 0, log.getvalue()
            cimom.restart()
            conn = cimom.conn(timeout=900)
            out["sfcb_enum"] = _enumerate(conn, cimom.port, vms, repeat)
            _warm_up(conn, uuids)
            out["sfcb_gi"] = _getinstance(cimom.url, None, uuids, clients, seconds)
            out["crashes"] = cimom.crashes()
    return out


def _layout(cimom):
    from vrmgmt.cmpi.sfcb import sfcb_layout

    return sfcb_layout(cimom.prefix)


def report(r: dict) -> str:
    s, v = r["serve_gi"], r["sfcb_gi"]
    se, ve = r["serve_enum"], r["sfcb_enum"]

    def ms(x: float) -> str:
        return f"{x * 1000:.0f} ms"

    lines = [
        f"machine: {machine()}",
        "",
        f"GetInstance, {r['clients']} concurrent clients for {r['seconds']:.0f} s, {r['vms']} VMs:",
        "",
        "| host | requests/s | requests | failed | p50 | p95 |",
        "|---|---:|---:|---:|---:|---:|",
        f"| vrmgmt serve | {s['rps']:.0f} | {s['requests']} | {s['failures']} "
        f"| {s['p50'] * 1000:.1f} ms | {s['p95'] * 1000:.1f} ms |",
        f"| SFCB + cmpi-bindings | {v['rps']:.0f} | {v['requests']} | {v['failures']} "
        f"| {v['p50'] * 1000:.1f} ms | {v['p95'] * 1000:.1f} ms |",
        "",
        f"SFCB / serve: {v['rps'] / s['rps']:.2f}",
        "",
        f"EnumerateInstances of {r['vms']:,} VMs (median of the warm repeats):",
        "",
        "| host | response | cold | warm, client-side | pywbem total |",
        "|---|---:|---:|---:|---:|",
        f"| vrmgmt serve | {se['bytes'] / 1e6:.1f} MB | {ms(se['cold'])} | {ms(se['warm'])} "
        f"| {ms(se['pywbem'])} |",
        f"| SFCB + cmpi-bindings | {ve['bytes'] / 1e6:.1f} MB | {ms(ve['cold'])} "
        f"| {ms(ve['warm'])} | {ms(ve['pywbem'])} |",
        "",
        f"SFCB / serve, warm: {ve['warm'] / se['warm']:.1f}; provider crashes in sfcbd's log: "
        f"{len(r['crashes'])}",
    ]
    return "\n".join(lines)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--clients", type=int, default=8)
    ap.add_argument("--seconds", type=float, default=20)
    ap.add_argument("--vms", type=int, default=1000)
    ap.add_argument("--repeat", type=int, default=5)
    a = ap.parse_args(argv)
    r = run(a.clients, a.seconds, a.vms, a.repeat)
    print(report(r))
    return 1 if r["crashes"] or r["sfcb_gi"]["failures"] else 0


if __name__ == "__main__":
    raise SystemExit(main())
