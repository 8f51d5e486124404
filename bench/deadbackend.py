"""A hung vCenter (issue 14): what it costs to enumerate VRM_ComputerSystem before,
during and after. `vrmgmt serve` over a test-driver backend of N VMs and govmomi's
vCenter simulator (its VMs listed once, then the simulator SIGSTOPped: the port
accepts, nothing answers). Target: the first enumeration costs the vc timeout once;
every later one answers in under 200 ms with vc's VMs from their last known state
(OperationalStatus 13). Usage:
python -m bench.deadbackend [--vms 100] [--rounds 20] [--timeout 5]"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

from bench.common import VrmServer, enum_body, machine, node_uri, raw_request, write_node_xml
from support.vcsim import Vcsim, VcsimUnavailable, build_vcsim

VC_VMS = 20
TARGET = 0.2


BODY = enum_body("EnumerateInstances", "VRM_ComputerSystem")


def _timed(port: int) -> float:
    """Seconds until the server's whole answer has arrived (not parsed: pywbem's ~1 ms
    per instance would be the client's time, not the server's)."""
    elapsed, body = raw_request(port, "EnumerateInstances", BODY)
    assert b"<VALUE.NAMEDINSTANCE" in body, body[:300]
    return elapsed


def _stale(conn) -> tuple[int, int]:
    """(VMs, of them Lost Communication), through pywbem."""
    vms = conn.EnumerateInstances("VRM_ComputerSystem")
    return len(vms), sum(13 in list(v["OperationalStatus"]) for v in vms)


def run(n_vms: int, rounds: int, timeout: float) -> dict:
    build_vcsim()
    with tempfile.TemporaryDirectory() as tmp, Vcsim(hosts=1, vms=VC_VMS) as sim:
        d = Path(tmp)
        write_node_xml(d / "node.xml", n_vms, seed=5, running_every=2)
        cred = d / "vc.cred"
        cred.write_text(f'username = "{sim.username}"\npassword = "{sim.password}"\n')
        os.chmod(cred, 0o600)
        backends = [
            {"id": "td", "type": "libvirt", "uri": node_uri(d / "node.xml"), "timeout": 600},
            {
                "id": "vc",
                "type": "vsphere",
                "host": sim.host,
                "port": sim.port,
                "credentials": str(cred),
                "verify_tls": True,
                "ca_file": sim.ca_file,
                "timeout": timeout,
            },
        ]
        with VrmServer(d / "srv", backends) as srv:
            conn = srv.conn(timeout=120)
            total, _ = _stale(conn)  # warm: schema, sessions, instance cache
            healthy = [_timed(srv.port) for _ in range(rounds)]
            sim.freeze()
            try:
                first = _timed(srv.port)
                later = [_timed(srv.port) for _ in range(rounds)]
                after, stale = _stale(conn)
                assert after == total, (after, total)
                t = time.perf_counter()
                conn.EnumerateInstances("VRM_HostSystem")
                hosts = time.perf_counter() - t
            finally:
                sim.thaw()
            t = time.perf_counter()
            while time.perf_counter() - t < 60 and _stale(conn)[1]:
                time.sleep(0.2)
            recovered = time.perf_counter() - t
    return {
        "vms": total,
        "timeout": timeout,
        "healthy": statistics.median(healthy),
        "first": first,
        "stale": stale,
        "later_p50": statistics.median(later),
        "later_max": max(later),
        "hosts": hosts,
        "recovered": recovered,
    }


def report(r: dict) -> str:
    ok = "meets" if r["later_p50"] < TARGET else "MISSES"
    return (
        f"machine: {machine()}\n\n"
        f"EnumerateInstances VRM_ComputerSystem (whole answer received, not parsed), "
        f"{r['vms']} VMs ({VC_VMS} on vc): healthy "
        f"p50 {r['healthy'] * 1000:.0f} ms; vc hung: first {r['first']:.2f} s (vc timeout "
        f"{r['timeout']:g} s), {r['stale']} VMs stale; later p50 "
        f"{r['later_p50'] * 1000:.0f} ms, max {r['later_max'] * 1000:.0f} ms "
        f"({ok} the {TARGET * 1000:.0f} ms target at p50; "
        f"{r['later_p50'] / r['healthy']:.2f}x healthy); "
        f"hosts {r['hosts'] * 1000:.0f} ms; fresh again {r['recovered']:.1f} s after the thaw"
    )


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--vms", type=int, default=100)
    ap.add_argument("--rounds", type=int, default=20)
    ap.add_argument("--timeout", type=float, default=5)
    a = ap.parse_args(argv)
    try:
        r = run(a.vms, a.rounds, a.timeout)
    except VcsimUnavailable as exc:
        print(f"skipped: {exc}")
        return 0
    print(report(r))
    return 0 if r["later_p50"] < TARGET else 1


if __name__ == "__main__":
    raise SystemExit(main())
