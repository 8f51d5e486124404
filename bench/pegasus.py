"""vrmgmt's providers inside a real OpenPegasus 2.14.4 (cmpi-bindings, out of process)
against `vrmgmt serve`, same machine, same test-driver node file, same run:
EnumerateInstances of N VMs (request sent to last byte received, unparsed; cold = the
first request, warm = median of the next ones) and
GetInstance with C concurrent clients (separate processes, bench.getinstance's client).
OpenPegasus is built and cached by tests/support/pegasus.py.
Usage: python -m bench.pegasus [--vms 1000] [--clients 8] [--seconds 10]"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import statistics
import tempfile
import time
from pathlib import Path

from bench.common import enum_body, machine, raw_request, test_server
from bench.getinstance import _client
from support import pegasus


def _enumerate(port: int, n: int, repeat: int) -> tuple[float, float, int]:
    """(cold, warm) seconds until the last byte of an unparsed EnumerateInstances
    response, and its size."""
    body = enum_body("EnumerateInstances", "VRM_ComputerSystem")
    times = []
    for _ in range(repeat + 1):
        t, data = raw_request(port, "EnumerateInstances", body)
        times.append(t)
        count = data.count(b"<VALUE.NAMEDINSTANCE>")
        assert count == n, f"{count} instances, expected {n}"
    return times[0], statistics.median(times[1:]), len(data)


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
        "p99": lat[int(len(lat) * 0.99)],
    }


def _measure(name, conn, port, url, creds, n, clients, seconds, repeat) -> dict:
    cold, warm, size = _enumerate(port, n, repeat)
    uuids = [p["Name"] for p in conn.EnumerateInstanceNames("VRM_ComputerSystem")]
    gi = _getinstance(url, creds, uuids, clients, seconds)
    return {"host": name, "cold": cold, "warm": warm, "bytes": size, **gi}


def run(vms: int, clients: int, seconds: float, repeat: int = 3) -> list[dict]:
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        srv = test_server(Path(tmp) / "serve", vms)
        node = Path(tmp) / "serve" / "node.xml"
        with srv:
            rows.append(
                _measure(
                    "vrmgmt serve",
                    srv.conn(timeout=900),
                    srv.port,
                    srv.url,
                    srv.creds,
                    vms,
                    clients,
                    seconds,
                    repeat,
                )
            )
        cfg = Path(tmp) / "vrmgmt.toml"
        cfg.write_text(
            f'[[backends]]\nid = "bench"\ntype = "libvirt"\nuri = "test://{node}"\ntimeout = 600\n'
        )
        p = pegasus.Pegasus(Path(tmp) / "pegasus", env={"VRMGMT_CONFIG": str(cfg)})
        with p:
            r = pegasus.install_vrmgmt(p)
            assert r.returncode == 0, r.stdout + r.stderr
            rows.append(
                _measure(
                    "OpenPegasus 2.14.4 (cimprovagt)",
                    p.conn(timeout=900),
                    p.port,
                    p.url,
                    None,
                    vms,
                    clients,
                    seconds,
                    repeat,
                )
            )
            crashes = p.crashes()
            assert not crashes, crashes
    return rows


def report(rows: list[dict], vms: int, clients: int) -> str:
    out = [
        f"machine: {machine()}",
        "",
        f"| host | EnumerateInstances {vms} VMs: response | cold | warm "
        f"| GetInstance, {clients} clients | p50 | p99 |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for r in rows:
        out.append(
            f"| {r['host']} | {r['bytes'] / 1e6:.1f} MB | {r['cold'] * 1000:.0f} ms "
            f"| {r['warm'] * 1000:.0f} ms | {r['rps']:.0f} req/s "
            f"({r['failures']} failed) | {r['p50'] * 1000:.1f} ms | {r['p99'] * 1000:.1f} ms |"
        )
    return "\n".join(out)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--vms", type=int, default=1000)
    ap.add_argument("--clients", type=int, default=8)
    ap.add_argument("--seconds", type=float, default=10)
    a = ap.parse_args(argv)
    print(report(run(a.vms, a.clients, a.seconds), a.vms, a.clients))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
