"""Metrics through `vrmgmt serve` over N test-driver VMs, each with RRD files in collectd's
layout (CPU and memory: 15 RRAs, a few updates), against raw `rrdtool` calls on the same
files in the same run (issue 11 targets):

- latest CPU and memory of all N VMs in one CIM call (EnumerateInstances of
  VRM_BaseMetricValue, unparsed) <= 0.5 s for 1,000 VMs; raw: lastupdate + fetch per VM;
- one graph PNG (GetMetricGraph, a day of network traffic) <= 0.3 s; raw: graphv;
- one year of one metric (GetMetricHistory) <= 50 ms; raw: xport of the same DEF.

Client-side wall times over loopback (the method calls include pywbem's parsing of the
small answers); the server's own time where its debug log has it.
Usage: python -m bench.metrics [--vms 1000] [--repeat 9]"""

from __future__ import annotations

import argparse
import re
import statistics
import tempfile
import time
from pathlib import Path

import pywbem
import rrdtool

from bench.common import VrmServer, enum_body, machine, node_uri, raw_request, write_node_xml

_LOGGED = re.compile(
    r"method (GetMetricGraph|GetMetricHistory) \S+ -> ok, \d+ bytes in ([\d.]+) ms"
)
STEP = 10
RRAS = [
    f"RRA:{cf}:0.1:{pdp}:{rows}"
    for cf in ("AVERAGE", "MIN", "MAX")
    for pdp, rows in ((1, 1200), (7, 1235), (50, 1210), (223, 1202), (2635, 1201))
]


def _tree(root: Path, backend: str, vms: list[tuple[str, str]]) -> list[Path]:
    now = int(time.time()) // STEP * STEP
    files = []
    for _name, uuid in vms:
        d = root / backend / f"virt-{uuid}"
        d.mkdir(parents=True)
        cpu, mem = str(d / "virt_cpu_total.rrd"), str(d / "memory-total.rrd")
        rrdtool.create(cpu, "-s", str(STEP), "-b", str(now - 60), "DS:value:DERIVE:20:0:U", *RRAS)
        rrdtool.create(mem, "-s", str(STEP), "-b", str(now - 60), "DS:value:GAUGE:20:0:U", *RRAS)
        for k in range(5):
            t = now - 50 + k * STEP
            rrdtool.update(cpu, f"{t}:{k * 5_000_000_000}")
            rrdtool.update(mem, f"{t}:{536870912}")
        files += [Path(cpu), Path(mem)]
    return files


def _median(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def run(n: int, repeat: int) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        vms = write_node_xml(work / "node.xml", n, seed=1, running_every=2)
        root = work / "rrd"
        t = time.perf_counter()
        files = _tree(root, "bench", vms)
        made_s = time.perf_counter() - t
        one_cpu = files[0]
        extra = f'\n[metrics]\nrrd_roots = ["{root}"]\n'
        srv = VrmServer(
            work,
            [
                {
                    "id": "bench",
                    "type": "libvirt",
                    "uri": node_uri(work / "node.xml"),
                    "timeout": 600,
                }
            ],
            extra_config=extra,
        )
        with srv:
            conn = srv.conn(timeout=600)
            body = enum_body("EnumerateInstances", "VRM_BaseMetricValue")
            _t, data = raw_request(srv.port, "EnumerateInstances", body)  # warm
            count = data.count(b"<VALUE.NAMEDINSTANCE>")
            latest = statistics.median(
                raw_request(srv.port, "EnumerateInstances", body)[0] for _ in range(repeat)
            )

            def raw_latest():
                for f in files:
                    if f.name == "memory-total.rrd":
                        rrdtool.lastupdate(str(f))
                    else:
                        rrdtool.fetch(str(f), "AVERAGE", "-s", "-100", "-e", "now")

            raw_latest_s = _median(raw_latest, repeat)
            (svc,) = conn.EnumerateInstanceNames("VRM_MetricService")
            vm = pywbem.CIMInstanceName(
                "VRM_ComputerSystem", {"CreationClassName": "VRM_ComputerSystem", "Name": vms[0][1]}
            )
            now = int(time.time())

            def cim_graph():
                rc, out = conn.InvokeMethod(
                    "GetMetricGraph", svc, ManagedElement=vm, Family="cpu", Range="day"
                )
                assert rc == 0 and out["Image"], out.get("Description")

            def raw_graph():
                rrdtool.graphv(
                    "-", "--full-size-mode", "--width", "800", "--height", "300",
                    "--start", str(now - 86400), "--end", str(now),
                    f"DEF:a={one_cpu}:value:AVERAGE", "CDEF:b=a,1e-07,*", "LINE2:b#1f77b4:cpu",
                )  # fmt: skip

            def cim_year():
                rc, out = conn.InvokeMethod(
                    "GetMetricHistory", svc, ManagedElement=vm,
                    MetricNames=["CPUUtilization"], Range="year",
                )  # fmt: skip
                assert rc == 0 and len(out["Values"]) > 1000

            def raw_year():
                rrdtool.xport(
                    "-s", str(now - 31622400), "-e", str(now), "--maxrows", "1000000",
                    f"DEF:a={one_cpu}:value:AVERAGE", "XPORT:a:cpu",
                )  # fmt: skip

            graph_s, raw_graph_s = _median(cim_graph, repeat), _median(raw_graph, repeat)
            year_s, raw_year_s = _median(cim_year, repeat), _median(raw_year, repeat)
        logged: dict[str, list[float]] = {"GetMetricGraph": [], "GetMetricHistory": []}
        for m in _LOGGED.finditer(srv.log_path.read_text(errors="replace")):
            logged[m.group(1)].append(float(m.group(2)))
    return {
        "vms": n,
        "files": len(files),
        "made_s": made_s,
        "values": count,
        "latest_s": latest,
        "raw_latest_s": raw_latest_s,
        "graph_s": graph_s,
        "raw_graph_s": raw_graph_s,
        "year_s": year_s,
        "raw_year_s": raw_year_s,
        "server_graph_ms": statistics.median(logged["GetMetricGraph"] or [float("nan")]),
        "server_year_ms": statistics.median(logged["GetMetricHistory"] or [float("nan")]),
    }


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--vms", type=int, default=1000)
    ap.add_argument("--repeat", type=int, default=9)
    args = ap.parse_args(argv)
    print(f"machine: {machine()}")
    r = run(args.vms, args.repeat)
    print(f"{r['vms']} VMs, {r['files']} RRD files made in {r['made_s']:.1f} s")
    print(
        f"latest CPU+memory of all VMs, one EnumerateInstances ({r['values']} values): "
        f"{r['latest_s'] * 1000:.0f} ms (target <= 500); raw lastupdate/fetch of the same "
        f"files: {r['raw_latest_s'] * 1000:.0f} ms; ratio {r['latest_s'] / r['raw_latest_s']:.1f}x"
    )
    print(
        f"one graph PNG (a day of CPU): {r['graph_s'] * 1000:.1f} ms at the client, "
        f"{r['server_graph_ms']:.1f} ms logged by the server (target <= 300); raw graphv: "
        f"{r['raw_graph_s'] * 1000:.1f} ms; ratio {r['graph_s'] / r['raw_graph_s']:.1f}x"
    )
    print(
        f"a year of one metric: {r['year_s'] * 1000:.1f} ms at the client, "
        f"{r['server_year_ms']:.1f} ms logged by the server (target <= 50); raw xport: "
        f"{r['raw_year_s'] * 1000:.1f} ms; ratio {r['year_s'] / r['raw_year_s']:.1f}x"
    )


if __name__ == "__main__":
    main()
