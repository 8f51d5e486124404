"""`python -m bench` (make bench): every benchmark in one run, each result a ratio
against a baseline measured in the same run where the target is one; the output is the
block that goes into docs/PERFORMANCE.md."""

from __future__ import annotations

import argparse
import importlib
import time

from bench.common import machine

BENCHES = {
    "enumerate": ["--sizes", "1000", "10000"],
    "pull_memory": ["--vms", "100000"],
    "startup": [],
    "getinstance": ["--clients", "8", "--seconds", "20"],
    "load": ["--clients", "32", "--seconds", "60"],
    "cimoms": ["--clients", "8", "--seconds", "20", "--vms", "1000"],
    "groups": ["--members", "10000"],
    "processes": ["--totals", "1000", "2000"],
    "deadbackend": ["--vms", "1000"],
    "vsms": ["--vms", "1000"],
    "metrics": ["--vms", "1000"],
    "console": ["--vms", "1000", "--groups", "20", "--runs", "5"],
}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("only", nargs="*", help=f"benchmarks to run (default all: {list(BENCHES)})")
    args = ap.parse_args(argv)
    names = args.only or list(BENCHES)
    print(f"# vrmgmt benchmarks, {time.strftime('%Y-%m-%d')}\n\nmachine: {machine()}\n")
    rc = 0
    for name in names:
        mod = importlib.import_module(f"bench.{name}")
        print(f"## {name}\n", flush=True)
        rc |= mod.main(BENCHES.get(name, [])) or 0
        print(flush=True)
    return rc


if __name__ == "__main__":
    raise SystemExit(main())
