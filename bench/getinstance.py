"""GetInstance requests per second against `vrmgmt serve` with C concurrent clients
(separate processes, each its own keep-alive connection). Usage:
python -m bench.getinstance [--clients 8] [--seconds 10] [--vms 100]"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import statistics
import tempfile
import time
from pathlib import Path

import pywbem

from bench.common import machine, test_server


def _client(url, creds, uuids, seconds, out):
    conn = pywbem.WBEMConnection(url, creds, default_namespace="root/virt", timeout=60)
    lat, fails, i = [], 0, 0
    end = time.perf_counter() + seconds
    while time.perf_counter() < end and i < 10_000_000:
        path = pywbem.CIMInstanceName(
            "VRM_ComputerSystem",
            {"CreationClassName": "VRM_ComputerSystem", "Name": uuids[i % len(uuids)]},
        )
        t = time.perf_counter()
        try:
            conn.GetInstance(path)
        except pywbem.Error:
            fails += 1
        lat.append(time.perf_counter() - t)
        i += 1
    out.put((lat, fails))


def run(clients: int, seconds: float, vms: int) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        srv = test_server(Path(tmp), vms)
        with srv:
            conn = srv.conn()
            uuids = [p["Name"] for p in conn.EnumerateInstanceNames("VRM_ComputerSystem")]
            for u in uuids[:20]:  # warm up
                conn.GetInstance(
                    pywbem.CIMInstanceName(
                        "VRM_ComputerSystem", {"CreationClassName": "VRM_ComputerSystem", "Name": u}
                    )
                )
            q = mp.Queue()
            procs = [
                mp.Process(target=_client, args=(srv.url, srv.creds, uuids, seconds, q))
                for _ in range(clients)
            ]
            t = time.perf_counter()
            for p in procs:
                p.start()
            results = [q.get(timeout=seconds + 120) for _ in procs]
            for p in procs:
                p.join(30)
            wall = time.perf_counter() - t
    lat = sorted(x for r in results for x in r[0])
    fails = sum(r[1] for r in results)
    return {
        "clients": clients,
        "requests": len(lat),
        "failures": fails,
        "rps": len(lat) / wall,
        "p50": statistics.median(lat),
        "p95": lat[int(len(lat) * 0.95)],
        "p99": lat[int(len(lat) * 0.99)],
    }


def report(r: dict) -> str:
    return (
        f"machine: {machine()}\n\nGetInstance with {r['clients']} concurrent clients: "
        f"{r['rps']:.0f} requests/s ({r['requests']} requests, {r['failures']} failed); "
        f"latency p50 {r['p50'] * 1000:.1f} ms, p95 {r['p95'] * 1000:.1f} ms, "
        f"p99 {r['p99'] * 1000:.1f} ms"
    )


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--clients", type=int, default=8)
    ap.add_argument("--seconds", type=float, default=10)
    ap.add_argument("--vms", type=int, default=100)
    a = ap.parse_args(argv)
    print(report(run(a.clients, a.seconds, a.vms)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
