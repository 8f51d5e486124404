"""The virtual devices of N test-driver VMs through `vrmgmt serve` (DSP1057 §7.3):
EnumerateInstances of CIM_LogicalDevice (every VRM_Processor, VRM_Memory,
VRM_LogicalDisk and VRM_NetworkPort; CIM_ResourceAllocationSettingData beside it, read
from the same listings) and EnumerateInstanceNames of VRM_SystemDevice
and VRM_SettingsDefineState, each as a ratio to EnumerateInstances of VRM_ComputerSystem
in the same run. Each is one backend listing per backend (the devices are read as the
RASDs are), so the ratio stays flat as N grows.
Usage: python -m bench.devices [--vms 1000] [--repeat 3]"""

from __future__ import annotations

import argparse
import statistics
import tempfile
from pathlib import Path

from bench.common import enum_body, machine, raw_request, test_server


def _time(port: int, method: str, cls: str, repeat: int) -> tuple[float, int]:
    body = enum_body(method, cls)
    marker = b"<VALUE.NAMEDINSTANCE>" if method == "EnumerateInstances" else b"<INSTANCENAME "
    times, count = [], 0
    for _ in range(repeat):
        t, data = raw_request(port, method, body)
        times.append(t)
        # an association's name holds the names of its two ends as well
        count = data.count(marker) // (1 if method == "EnumerateInstances" else 3)
    return statistics.median(times), count


def run(n: int, repeat: int) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        srv = test_server(Path(tmp), n)
        with srv:
            cases = {
                "computer_system": ("EnumerateInstances", "VRM_ComputerSystem"),
                "rasds": ("EnumerateInstances", "CIM_ResourceAllocationSettingData"),
                "devices": ("EnumerateInstances", "CIM_LogicalDevice"),
                "system_device": ("EnumerateInstanceNames", "VRM_SystemDevice"),
                "settings_define_state": ("EnumerateInstanceNames", "VRM_SettingsDefineState"),
            }
            for method, cls in cases.values():  # warm every path once
                _time(srv.port, method, cls, 1)
            out: dict = {"vms": n}
            for key, (method, cls) in cases.items():
                out[key], out[key + "_count"] = _time(srv.port, method, cls, repeat)
    assert out["computer_system_count"] == n, out
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--vms", type=int, default=1000)
    ap.add_argument("--repeat", type=int, default=3)
    a = ap.parse_args(argv)
    r = run(a.vms, a.repeat)
    print(machine())
    cs = r["computer_system"]
    print(f"{r['vms']} VMs: VRM_ComputerSystem {cs * 1000:.0f} ms")
    for key in ("rasds", "devices", "system_device", "settings_define_state"):
        print(f"  {key}: {r[key + '_count']} in {r[key] * 1000:.0f} ms, ratio {r[key] / cs:.2f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
