"""The settings model and the virtual system management service through `vrmgmt serve`
over N test-driver VMs (4 devices each: processor, memory, disk, NIC): EnumerateInstances
of CIM_ResourceAllocationSettingData (all RASDs) as a ratio to EnumerateInstances of
VRM_ComputerSystem in the same run (issue 9 target: <= 3x), and a DefineSystem +
DestroySystem round trip (server time as the server logs it; target <= 50 ms).
The two enumerations take turns, so both see the same load of a shared machine.
Usage: python -m bench.vsms [--vms 1000] [--repeat 15]"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import tempfile
import time
from pathlib import Path

from pywbem import CIMInstance, CIMInstanceName, Uint16, Uint64

from bench.common import enum_body, machine, raw_request, test_server

_METHOD = re.compile(r"method (DefineSystem|DestroySystem) \S+ -> ok, \d+ bytes in ([\d.]+) ms")


def _vsms() -> CIMInstanceName:
    return CIMInstanceName(
        "VRM_VirtualSystemManagementService",
        {
            "SystemCreationClassName": "VRM_HostSystem",
            "SystemName": "bench",
            "CreationClassName": "VRM_VirtualSystemManagementService",
            "Name": "VirtualSystemManagementService",
        },
        namespace="root/virt",
    )


def _enum(port: int, cls: str, repeat: int) -> tuple[float, int]:
    body = enum_body("EnumerateInstances", cls)
    times, count = [], 0
    for _ in range(repeat):
        t, data = raw_request(port, "EnumerateInstances", body)
        times.append(t)
        count = data.count(b"<VALUE.NAMEDINSTANCE>")
    return statistics.median(times), count


def _cpu_s(pid: int) -> float:
    """CPU seconds (user + system) the process has used so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _interleaved(
    port: int, pid: int, classes: list[str], repeat: int
) -> list[tuple[list[float], list[float], int]]:
    """Each class's enumeration times (wall, at the client) and the server's CPU time
    for it, the classes taking turns (a loaded, shared machine changes speed within
    seconds: alternating keeps both sides under the same load; CPU time hardly depends
    on the others' load), and the instance count of each."""
    bodies = [enum_body("EnumerateInstances", c) for c in classes]
    out: list[tuple[list[float], list[float], int]] = [([], [], 0) for _ in classes]
    for _ in range(repeat):
        for i, body in enumerate(bodies):
            cpu = _cpu_s(pid)
            t, data = raw_request(port, "EnumerateInstances", body)
            out[i][1].append(_cpu_s(pid) - cpu)
            out[i][0].append(t)
            out[i] = (out[i][0], out[i][1], data.count(b"<VALUE.NAMEDINSTANCE>"))
    return out


def run(n: int, repeat: int, round_trips: int) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        srv = test_server(Path(tmp), n)
        with srv:
            conn = srv.conn(timeout=900)
            _enum(srv.port, "VRM_ComputerSystem", 1)  # warm both paths once
            _enum(srv.port, "CIM_ResourceAllocationSettingData", 1)
            (cs_t, cs_cpu, n_cs), (rasd_t, rasd_cpu, n_rasd) = _interleaved(
                srv.port,
                srv.proc.pid,
                ["VRM_ComputerSystem", "CIM_ResourceAllocationSettingData"],
                repeat,
            )
            assert n_cs == n and n_rasd == 4 * n, (n_cs, n_rasd)
            cs, rasd = statistics.median(cs_t), statistics.median(rasd_t)
            pair_ratios = [r / c for c, r in zip(cs_t, rasd_t, strict=True)]
            cpu_ratio = sum(rasd_cpu) / sum(cs_cpu) if sum(cs_cpu) else float("nan")
            client = []
            for i in range(round_trips):
                t = time.perf_counter()
                rv, out = conn.InvokeMethod(
                    "DefineSystem",
                    _vsms(),
                    SystemSettings=CIMInstance(
                        "VRM_VirtualSystemSettingData", {"ElementName": f"bench-new-{i}"}
                    ),
                    ResourceSettings=[
                        CIMInstance(
                            "VRM_MemoryAllocationSettingData",
                            {"ResourceType": Uint16(4), "VirtualQuantity": Uint64(256)},
                        ),
                        CIMInstance(
                            "VRM_StorageAllocationSettingData",
                            {"ResourceType": Uint16(17), "HostResource": ["/img/x.qcow2"]},
                        ),
                    ],
                )
                assert rv == 0, rv
                rv, _ = conn.InvokeMethod(
                    "DestroySystem", _vsms(), AffectedSystem=out["ResultingSystem"]
                )
                assert rv == 0, rv
                client.append(time.perf_counter() - t)
            logged: dict[str, list[float]] = {"DefineSystem": [], "DestroySystem": []}
            for m in _METHOD.finditer(srv.log_path.read_text(errors="replace")):
                logged[m.group(1)].append(float(m.group(2)))
    server_rt = [
        d + x for d, x in zip(logged["DefineSystem"], logged["DestroySystem"], strict=False)
    ]
    return {
        "vms": n,
        "computer_system_s": cs,
        "rasd_s": rasd,
        "ratio": rasd / cs,
        "pair_ratio_median": statistics.median(pair_ratios),
        "server_cpu_ms": (sum(cs_cpu) / repeat * 1000, sum(rasd_cpu) / repeat * 1000),
        "cpu_ratio": cpu_ratio,
        "round_trip_client_ms": statistics.median(client) * 1000,
        "round_trip_server_ms": statistics.median(server_rt) if server_rt else None,
    }


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--vms", type=int, default=1000)
    ap.add_argument("--repeat", type=int, default=15)
    ap.add_argument("--round-trips", type=int, default=20)
    a = ap.parse_args(argv)
    r = run(a.vms, a.repeat, a.round_trips)
    print(machine())
    print(
        f"{r['vms']} VMs: VRM_ComputerSystem {r['computer_system_s'] * 1000:.0f} ms, "
        f"all RASDs ({4 * r['vms']}) {r['rasd_s'] * 1000:.0f} ms (medians of {a.repeat}, "
        f"taking turns), ratio {r['ratio']:.2f}x; median of the pairs' ratios "
        f"{r['pair_ratio_median']:.2f}x"
    )
    cs_cpu, rasd_cpu = r["server_cpu_ms"]
    print(
        f"server CPU per enumeration: VRM_ComputerSystem {cs_cpu:.0f} ms, all RASDs "
        f"{rasd_cpu:.0f} ms, ratio {r['cpu_ratio']:.2f}x"
    )
    server = r["round_trip_server_ms"]
    print(
        f"DefineSystem + DestroySystem: {r['round_trip_client_ms']:.1f} ms at the client, "
        + (f"{server:.1f} ms server-side" if server is not None else "server time not logged")
    )


if __name__ == "__main__":
    main()
