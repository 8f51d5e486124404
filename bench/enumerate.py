"""EnumerateInstances of N test-driver VMs through `vrmgmt serve`, next to raw libvirt
(listAllDomains + info per domain) and the pywbem client's own parsing time, all in one
run. Usage: python -m bench.enumerate [--sizes 1000 10000] [--repeat 3]"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import libvirt

from bench.common import enum_body, machine, node_uri, raw_request, test_server


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
                    "server_cold": cold,
                    "server_warm": warm,
                    "client_total": client_total,
                    "client_parse": max(client_total - warm, 1e-9),
                    "libvirt": raw,
                }
            )
    return rows


def report(rows: list[dict]) -> str:
    out = [
        f"machine: {machine()}",
        "",
        "| VMs | response | server cold | server warm | pywbem parse | raw libvirt "
        "| warm / parse | warm / libvirt | cold / libvirt |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        out.append(
            f"| {r['n']:,} | {r['bytes'] / 1e6:.1f} MB | {r['server_cold'] * 1000:.0f} ms "
            f"| {r['server_warm'] * 1000:.0f} ms | {r['client_parse'] * 1000:.0f} ms "
            f"| {r['libvirt'] * 1000:.0f} ms | {r['server_warm'] / r['client_parse']:.2f} "
            f"| {r['server_warm'] / r['libvirt']:.2f} | {r['server_cold'] / r['libvirt']:.2f} |"
        )
    return "\n".join(out)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--sizes", type=int, nargs="+", default=[1000, 10000])
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args(argv)
    print(report(run(args.sizes, args.repeat)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
