"""Group store and group classes at 10,000 members (issue 12): edit latency p50/p99 of
the store (including its fsyncs) and of AddMembers/RemoveMembers through `vrmgmt serve`,
and the time to list a group of 10,000 members (AssociatorNames) and to enumerate
VRM_MemberOfGroup. Usage: python -m bench.groups [--members 10000] [--edits 200]"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import pywbem

from bench.common import machine, test_server
from vrmgmt.groups import GroupStore


def _pct(values: list[float], p: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(len(values) * p))]


def store_edits(members: int, edits: int) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        s = GroupStore(tmp)
        gids = [s.edit(lambda t, i=i: t.create(f"g{i}")) for i in range(100)]

        def fill(t):
            for i in range(members):
                t.groups[gids[i % 100]].members.append(("vm", f"{i:08x}-0000-4000-8000-0000000000"))

        s.edit(fill)
        lat = []
        for i in range(edits):
            t0 = time.perf_counter()
            s.edit(lambda t, i=i: t.add(gids[i % 100], [("host", f"h{i}")]))
            lat.append((time.perf_counter() - t0) * 1000)
        t0 = time.perf_counter()
        GroupStore(tmp).snapshot()
        load = (time.perf_counter() - t0) * 1000
    return {"p50": statistics.median(lat), "p99": _pct(lat, 0.99), "load": load}


def server(members: int, edits: int) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        srv = test_server(Path(tmp), members)
        with srv:
            conn = pywbem.WBEMConnection(
                srv.url, srv.creds, default_namespace="root/virt", timeout=600
            )
            (svc,) = conn.EnumerateInstanceNames("VRM_GroupManagementService")
            vms = conn.EnumerateInstanceNames("VRM_ComputerSystem")
            _, out = conn.InvokeMethod("CreateGroup", svc, GroupName="big")
            big = out["Group"]
            for i in range(0, len(vms), 1000):  # every VM listed in the file
                conn.InvokeMethod("AddMembers", svc, Group=big, Members=vms[i : i + 1000])
            _, out = conn.InvokeMethod("CreateGroup", svc, GroupName="small")
            small = out["Group"]
            lat = []
            for i in range(edits):
                vm = vms[i % len(vms)]
                t0 = time.perf_counter()
                conn.InvokeMethod(
                    "MoveMembers", svc, TargetGroup=small if i % 2 == 0 else big, Members=[vm]
                )
                lat.append((time.perf_counter() - t0) * 1000)
            t0 = time.perf_counter()
            got = conn.AssociatorNames(big, AssocClass="VRM_MemberOfGroup", Role="Collection")
            assoc = time.perf_counter() - t0
            t0 = time.perf_counter()
            links = conn.EnumerateInstanceNames("VRM_MemberOfGroup")
            enum = time.perf_counter() - t0
    return {
        "p50": statistics.median(lat),
        "p99": _pct(lat, 0.99),
        "assoc_s": assoc,
        "assoc_n": len(got),
        "enum_s": enum,
        "enum_n": len(links),
    }


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--members", type=int, default=10_000)
    ap.add_argument("--edits", type=int, default=200)
    args = ap.parse_args(argv)
    print(f"machine: {machine()}\n")
    st = store_edits(args.members, args.edits)
    print(
        f"store edit with {args.members} members in groups.xml (incl. fsync of file and "
        f"directory): p50 {st['p50']:.1f} ms, p99 {st['p99']:.1f} ms (target p99 <= 50 ms); "
        f"cold load + XSD validation {st['load']:.0f} ms"
    )
    sv = server(args.members, args.edits)
    print(
        f"MoveMembers of one VM through vrmgmt serve, {args.members} members: "
        f"p50 {sv['p50']:.1f} ms, p99 {sv['p99']:.1f} ms"
    )
    print(
        f"AssociatorNames of a group of {sv['assoc_n']} members: {sv['assoc_s']:.2f} s; "
        f"EnumerateInstanceNames VRM_MemberOfGroup ({sv['enum_n']} links): {sv['enum_s']:.2f} s"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
