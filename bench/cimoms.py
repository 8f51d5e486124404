"""The same providers hosted three ways, measured in one run over one libvirt test-driver
node file: `vrmgmt serve` (HTTP, authentication on), a real SFCB 1.3.16 and a real
OpenPegasus 2.14.4 (cimprovagt, out of process), both with cmpi-bindings 1.0.5 built and
cached by tests/support/sfcb.py and tests/support/pegasus.py, vrmgmt registered as
`vrmgmt register` does it (no authentication in the CIMOMs). Measured for each host:
GetInstance with C concurrent clients (bench/getinstance.py's client processes) and
EnumerateInstances of all VMs (request sent to the last byte of the CIM message, cold =
the first request, warm = median of the repeats; pywbem's total). Ratios are against
`vrmgmt serve` in the same run. Usage:
python -m bench.cimoms [--clients 8] [--seconds 20] [--vms 1000] [--repeat 5] [--only ...]"""

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
from support import pegasus as pegasus_support
from support import sfcb as sfcb_support
from support.server import PASSWORD, USER
from vrmgmt.cmpi import register as reg

_AUTH = base64.b64encode(f"{USER}:{PASSWORD}".encode())
HOSTS = ("serve", "sfcb", "pegasus")
TITLES = {
    "serve": "vrmgmt serve",
    "sfcb": "SFCB 1.3.16 + cmpi-bindings",
    "pegasus": "OpenPegasus 2.14.4 (cimprovagt) + cmpi-bindings",
}


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


def _measure(conn, port, url, creds, vms, clients, seconds, repeat) -> dict:
    enum = _enumerate(conn, port, vms, repeat)
    uuids = [p["Name"] for p in conn.EnumerateInstanceNames("VRM_ComputerSystem")]
    for u in uuids[:20]:  # warm up: the provider process and its backend are open
        conn.GetInstance(
            pywbem.CIMInstanceName(
                "VRM_ComputerSystem", {"CreationClassName": "VRM_ComputerSystem", "Name": u}
            )
        )
    return {"enum": enum, "gi": _getinstance(url, creds, uuids, clients, seconds)}


def _sfcb(d: Path, cfg: Path, args) -> dict:
    # SFCB's own defaults for HTTP keep-alive (15 s, 10 requests per connection)
    cimom = sfcb_support.Sfcb(
        sfcb_support.build_sfcb(),
        d / "sfcb",
        env={"VRMGMT_CONFIG": str(cfg)},
        config={"keepaliveTimeout": "15", "keepaliveMaxRequest": "10"},
    )
    with cimom:
        from vrmgmt.cmpi.sfcb import sfcb_layout

        log = io.StringIO()
        layout = sfcb_layout(cimom.prefix)
        hook = reg.site_hook(log, ROOT, layout=layout, site_dir=cimom.site_dir, install=True)
        assert hook == 0, log.getvalue()
        assert reg.register("sfcb", False, ROOT, log, prefix=cimom.prefix) == 0, log.getvalue()
        cimom.restart()
        row = _measure(
            cimom.conn(timeout=900),
            cimom.port,
            cimom.url,
            None,
            args.vms,
            args.clients,
            args.seconds,
            args.repeat,
        )
        row["crashes"] = cimom.crashes()
    return row


def _pegasus(d: Path, cfg: Path, args) -> dict:
    p = pegasus_support.Pegasus(d / "pegasus", env={"VRMGMT_CONFIG": str(cfg)})
    with p:
        r = pegasus_support.install_vrmgmt(p)
        assert r.returncode == 0, r.stdout + r.stderr
        row = _measure(
            p.conn(timeout=900),
            p.port,
            p.url,
            None,
            args.vms,
            args.clients,
            args.seconds,
            args.repeat,
        )
        row["crashes"] = p.crashes()
    return row


def run(args) -> dict:
    rows: dict = {}
    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp)
        srv = test_server(d / "serve", args.vms)
        node = d / "serve" / "node.xml"
        with srv:
            conn = srv.conn(timeout=900)
            rows["serve"] = _measure(
                conn, srv.port, srv.url, srv.creds, args.vms, args.clients, args.seconds,
                args.repeat,
            )  # fmt: skip
            rows["serve"]["crashes"] = []
        cfg = d / "vrmgmt.toml"
        cfg.write_text(
            f'[[backends]]\nid = "bench"\ntype = "libvirt"\nuri = "{node_uri(node)}"\n'
            "timeout = 600\n"
        )
        if "sfcb" in args.only:
            rows["sfcb"] = _sfcb(d, cfg, args)
        if "pegasus" in args.only:
            rows["pegasus"] = _pegasus(d, cfg, args)
    return rows


def report(rows: dict, args) -> str:
    base_gi, base_enum = rows["serve"]["gi"], rows["serve"]["enum"]

    def ms(x: float) -> str:
        return f"{x * 1000:.0f} ms"

    out = [
        f"machine: {machine()}",
        "",
        f"GetInstance, {args.clients} concurrent clients for {args.seconds:.0f} s, "
        f"{args.vms:,} VMs:",
        "",
        "| host | requests/s | / serve | requests | failed | p50 | p95 |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for name, r in rows.items():
        g = r["gi"]
        out.append(
            f"| {TITLES[name]} | {g['rps']:.0f} | {g['rps'] / base_gi['rps']:.2f} "
            f"| {g['requests']} | {g['failures']} | {g['p50'] * 1000:.1f} ms "
            f"| {g['p95'] * 1000:.1f} ms |"
        )
    out += [
        "",
        f"EnumerateInstances of {args.vms:,} VMs (warm: median of {args.repeat}):",
        "",
        "| host | response | cold | warm, client-side | / serve | pywbem total |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for name, r in rows.items():
        e = r["enum"]
        out.append(
            f"| {TITLES[name]} | {e['bytes'] / 1e6:.1f} MB | {ms(e['cold'])} | {ms(e['warm'])} "
            f"| {e['warm'] / base_enum['warm']:.1f}× | {ms(e['pywbem'])} |"
        )
    crashes = {name: len(r["crashes"]) for name, r in rows.items() if name != "serve"}
    out += ["", f"provider crashes in the CIMOMs' logs: {crashes}"]
    return "\n".join(out)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--clients", type=int, default=8)
    ap.add_argument("--seconds", type=float, default=20)
    ap.add_argument("--vms", type=int, default=1000)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument(
        "--only", nargs="+", choices=HOSTS[1:], default=list(HOSTS[1:]),
        help="CIMOMs to measure beside vrmgmt serve (default both)",
    )  # fmt: skip
    a = ap.parse_args(argv)
    rows = run(a)
    print(report(rows, a))
    bad = any(r["crashes"] or r["gi"]["failures"] for r in rows.values())
    return 1 if bad else 0


if __name__ == "__main__":
    raise SystemExit(main())
