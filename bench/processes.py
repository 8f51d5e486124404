"""EnumerateInstances of VRM_UnixProcess (all processes of this machine) through
`vrmgmt serve` over a test-driver backend (its host is this machine), next to the /proc
listing alone (vrmgmt.localhost.processes, what the provider reads): as the machine is,
then with extra `sleep` processes started by the bench (and stopped afterwards) so that
the machine has at least each of the given totals.
Usage: python -m bench.processes [--totals 1000 2000]"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

from bench.common import enum_body, machine, raw_request, test_server
from vrmgmt import localhost


def _count() -> int:
    return sum(1 for n in os.listdir("/proc") if n.isdigit())


def _median(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--totals", type=int, nargs="*", default=[1000, 2000])
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args(argv)
    print(f"machine: {machine()}\n")
    print("| processes | /proc listing | EnumerateInstances (client) | response bytes |")
    print("|---:|---:|---:|---:|")
    extra: list[subprocess.Popen] = []
    with tempfile.TemporaryDirectory() as d:
        srv = test_server(Path(d), 4)
        with srv:
            body = enum_body("EnumerateInstances", "VRM_UnixProcess")
            try:
                for target in [0, *args.totals]:
                    while _count() < target:
                        extra.append(subprocess.Popen(["sleep", "3600"]))
                    n = _count()
                    lib = _median(localhost.processes, args.repeat)
                    size = 0

                    def enum():
                        nonlocal size
                        _t, resp = raw_request(srv.port, "EnumerateInstances", body)
                        size = len(resp)

                    srv_t = _median(enum, args.repeat)
                    print(f"| {n} | {lib * 1000:.0f} ms | {srv_t * 1000:.0f} ms | {size} |")
            finally:
                for p in extra:
                    p.kill()
                for p in extra:
                    p.wait()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
