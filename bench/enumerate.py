"""EnumerateInstances of N test-driver VMs through `vrmgmt serve`, next to raw libvirt
(listAllDomains + UUID, name and info per domain) and the pywbem client's own parsing
time, all in one run. Server time is given twice: as the client sees it (request sent
to last byte received, over loopback) and as the server logs it (request parsed to last
byte handed to the socket). Usage: python -m bench.enumerate [--sizes 1000 10000]"""

from __future__ import annotations

import argparse
import re
import statistics
import tempfile
import time
from pathlib import Path

import libvirt

from bench.common import enum_body, machine, node_uri, raw_request, test_server

_LOGGED = re.compile(r"imethod EnumerateInstances \S+ -> ok, \d+ bytes in ([\d.]+) ms")


def server_times(log: Path) -> list[float]:
    """Seconds the server logged for each EnumerateInstances it answered."""
    text = log.read_text(errors="replace")
    return [float(m.group(1)) / 1000 for m in _LOGGED.finditer(text)]


def raw_libvirt(uri: str, repeat: int) -> float:
    conn = libvirt.open(uri)
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        for d in conn.listAllDomains(0):
            d.UUIDString(), d.name(), d.info()
        times.append(time.perf_counter() - t)
    conn.close()
    return statistics.median(times)


def run(sizes: list[int], repeat: int) -> list[dict]:
    rows = []
    for n in sizes:
        with tempfile.TemporaryDirectory() as tmp:
            srv = test_server(Path(tmp), n)
            with srv:
                conn = srv.conn(timeout=900)
                body = enum_body("EnumerateInstances", "VRM_ComputerSystem")
                cold, data = raw_request(srv.port, "EnumerateInstances", body)
                assert data.count(b"<VALUE.NAMEDINSTANCE>") == n, "wrong instance count"
                warm = statistics.median(
                    raw_request(srv.port, "EnumerateInstances", body)[0] for _ in range(repeat)
                )
                inside = statistics.median(server_times(srv.log_path)[-repeat:])
                client = []
                for _ in range(repeat):
                    t = time.perf_counter()
                    insts = conn.EnumerateInstances("VRM_ComputerSystem")
                    client.append(time.perf_counter() - t)
                    assert len(insts) == n
                client_total = statistics.median(client)
                raw = raw_libvirt(node_uri(Path(tmp) / "node.xml"), repeat)
            rows.append(
                {
                    "n": n,
                    "bytes": len(data),
                    "cold": cold,
                    "warm": warm,
                    "inside": inside,
                    "parse": max(client_total - warm, 1e-9),
                    "libvirt": raw,
                }
            )
    return rows


def report(rows: list[dict]) -> str:
    out = [
        f"machine: {machine()}",
        "",
        "| VMs | response | server cold | server warm, client-side | server warm, "
        "server log | pywbem parse | raw libvirt | log / parse | log / libvirt "
        "| client-side / libvirt | cold / libvirt |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        ms = {k: f"{r[k] * 1000:.0f} ms" for k in ("cold", "warm", "inside", "parse", "libvirt")}
        out.append(
            f"| {r['n']:,} | {r['bytes'] / 1e6:.1f} MB | {ms['cold']} | {ms['warm']} "
            f"| {ms['inside']} | {ms['parse']} | {ms['libvirt']} "
            f"| {r['inside'] / r['parse']:.2f} | {r['inside'] / r['libvirt']:.2f} "
            f"| {r['warm'] / r['libvirt']:.2f} | {r['cold'] / r['libvirt']:.2f} |"
        )
    return "\n".join(out)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--sizes", type=int, nargs="+", default=[1000, 10000])
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args(argv)
    print(report(run(args.sizes, args.repeat)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
