"""Peak server RSS growth during a pull enumeration of N instances (default 100,000)
with MaxObjectCount 500: the provider output streams through the enumeration context,
so memory must not grow with N. Usage: python -m bench.pull_memory [--vms 100000]"""

from __future__ import annotations

import argparse
import tempfile
import threading
import time
from pathlib import Path

from bench.common import machine, rss_kib, test_server


def run(n: int, batch: int) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        srv = test_server(Path(tmp), n)
        with srv:
            conn = srv.conn(timeout=1800)
            t = time.perf_counter()
            conn.EnumerateInstances("VRM_HostSystem")  # opens the backend connection
            connect = time.perf_counter() - t
            time.sleep(0.5)
            base = rss_kib(srv.proc.pid)
            peak = [base]
            stop = threading.Event()

            def sample():
                while not stop.is_set():
                    peak[0] = max(peak[0], rss_kib(srv.proc.pid))
                    time.sleep(0.02)

            th = threading.Thread(target=sample, daemon=True)
            th.start()
            t = time.perf_counter()
            count = 0
            r = conn.OpenEnumerateInstances("VRM_ComputerSystem", MaxObjectCount=batch)
            count += len(r.instances)
            while not r.eos:
                r = conn.PullInstancesWithPath(r.context, MaxObjectCount=batch)
                count += len(r.instances)
            elapsed = time.perf_counter() - t
            stop.set()
            th.join()
            end = rss_kib(srv.proc.pid)
    assert count == n, f"pulled {count} of {n}"
    return {
        "n": n,
        "batch": batch,
        "connect_s": connect,
        "pull_s": elapsed,
        "base_mib": base / 1024,
        "peak_mib": peak[0] / 1024,
        "end_mib": end / 1024,
        "growth_mib": (peak[0] - base) / 1024,
    }


def report(r: dict) -> str:
    return (
        f"machine: {machine()}\n\n"
        f"pull enumeration of {r['n']:,} VMs, MaxObjectCount {r['batch']}: "
        f"{r['pull_s']:.1f} s; server RSS {r['base_mib']:.0f} MiB after connecting "
        f"(backend open {r['connect_s']:.1f} s), peak {r['peak_mib']:.0f} MiB, "
        f"end {r['end_mib']:.0f} MiB: peak growth {r['growth_mib']:.1f} MiB "
        f"(target <= 64 MiB)"
    )


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--vms", type=int, default=100_000)
    ap.add_argument("--batch", type=int, default=500)
    args = ap.parse_args(argv)
    print(report(run(args.vms, args.batch)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
