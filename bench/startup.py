"""Time from starting `vrmgmt serve` to its first answered request, with a cold schema
cache (first start: MOF compiled) and a warm one (later starts). Target warm: <= 2 s.
Usage: python -m bench.startup [--repeat 3]"""

from __future__ import annotations

import argparse
import shutil
import statistics
import tempfile
import time
from pathlib import Path

import pywbem

from bench.common import VrmServer, machine


def first_answer(srv: VrmServer, deadline: float = 60.0) -> float:
    t0 = time.perf_counter()
    srv.start()
    conn = srv.conn(timeout=30)
    while True:
        try:
            conn.EnumerateClassNames()
            return time.perf_counter() - t0
        except (pywbem.ConnectionError, pywbem.HTTPError):
            if time.perf_counter() - t0 > deadline:
                raise
            time.sleep(0.01)


def run(repeat: int) -> dict:
    cold, warm = [], []
    with tempfile.TemporaryDirectory() as tmp:
        srv = VrmServer(Path(tmp), [{"id": "t", "type": "libvirt", "uri": "test:///default"}])
        for _ in range(repeat):
            shutil.rmtree(srv.state_dir / "schema-cache", ignore_errors=True)
            cold.append(first_answer(srv))  # compiles the MOF and fills the cache
            srv.stop()
            warm.append(first_answer(srv))  # loads the cache
            srv.stop()
    return {"cold": statistics.median(cold), "warm": statistics.median(warm), "n": repeat}


def report(r: dict) -> str:
    return (
        f"machine: {machine()}\n\nstart to first answered request: cold schema cache "
        f"{r['cold']:.2f} s, warm {r['warm']:.2f} s (median of {r['n']}; target warm "
        f"<= 2 s)"
    )


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--repeat", type=int, default=3)
    print(report(run(ap.parse_args(argv).repeat)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
