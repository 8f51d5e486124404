"""The vSphere metrics collector against govmomi's vcsim (no mocks): one QueryPerf per
interval for all VMs, written as RRDs in collectd's layout, so the same reader and CIM
classes answer vSphere VMs as libvirt ones (latest values = `rrdtool lastupdate`,
GetMetricHistory at the 20 s step, GetMetricGraph)."""

from __future__ import annotations

import base64
import io
import math
import time

import pytest
import pywbem
import rrdtool
from PIL import Image

from support.inproc import inproc_server
from support.vcsim import Vcsim, VcsimUnavailable, build_vcsim
from vrmgmt.config import parse_config
from vrmgmt.inventory import Inventory
from vrmgmt.metrics.vsphere_perf import STEP, VSphereCollector
from vrmgmt.model import PowerState

pytestmark = [pytest.mark.vcsim, pytest.mark.timeout(240)]


@pytest.fixture(scope="module")
def collected(tmp_path_factory):
    d = tmp_path_factory.mktemp("metrics-vc")
    try:
        build_vcsim()
    except VcsimUnavailable as exc:
        pytest.fail(f"needs vcsim: {exc}")
    with Vcsim(hosts=1, vms=3) as sim:
        backend = sim.backend_config(d, "vc", timeout=20)
        cfg = parse_config({"backends": [backend], "paths": {"state_dir": str(d / "state")}})
        inv = Inventory.from_config(cfg.backends)
        try:
            vms = inv.vms_of("vc")
            root = d / "rrd"
            collector = VSphereCollector(inv, root)
            t0 = int(time.time()) // STEP * STEP - 3 * STEP
            written = [collector.collect_once(t0 + k * STEP) for k in range(4)]
            stats = collector.last["vc"]  # what the last interval wrote
        finally:
            inv.close()
        yield d, backend, root, vms, written, stats  # the simulator still runs


def test_one_tree_per_running_vm(collected):
    _d, _b, root, vms, written, stats = collected
    running = [v for v in vms if v.state is PowerState.RUNNING]
    assert running and all(n >= 2 * len(running) for n in written)
    for v in vms:
        d = root / "vc" / f"virt-{v.uuid}"
        assert (d / "virt_cpu_total.rrd").is_file() == (v.state is PowerState.RUNNING)
    v = running[0]
    lu = rrdtool.lastupdate(str(root / "vc" / f"virt-{v.uuid}" / "memory-total.rrd"))
    assert lu["ds"]["value"] == stats[v.uuid]["mem.consumed.average"] * 1024


def test_same_cim_answers_as_libvirt(collected):
    d, backend, root, vms, _w, _s = collected
    v = next(v for v in vms if v.state is PowerState.RUNNING)
    off = [x for x in vms if x.state is not PowerState.RUNNING]
    vm_dir = root / "vc" / f"virt-{v.uuid}"
    sections = {"metrics": {"rrd_roots": [str(root)]}}
    with inproc_server(d / "cim", [backend], sections=sections) as conn:
        vals = {str(i["InstanceID"]): i for i in conn.EnumerateInstances("VRM_BaseMetricValue")}
        mem = vals[f"vm:MemoryAllocation@vc/{v.uuid}"]
        lu = rrdtool.lastupdate(str(vm_dir / "memory-total.rrd"))
        assert float(mem["MetricValue"]) == lu["ds"]["value"]
        assert mem["Duration"].timedelta.total_seconds() == STEP
        cpu = float(vals[f"vm:CPUUtilization@vc/{v.uuid}"]["MetricValue"])
        lu = rrdtool.lastupdate(str(vm_dir / "virt_cpu_total.rrd"))
        assert cpu == pytest.approx(lu["ds"]["value"] * 1e-7 / v.vcpus)
        assert 0 <= cpu <= 100
        assert not [k for k in vals if any(x.uuid in k for x in off)]
        (svc,) = conn.EnumerateInstanceNames("VRM_MetricService")
        assert svc["SystemName"] == "vc"
        ref = pywbem.CIMInstanceName(
            "VRM_ComputerSystem", {"CreationClassName": "VRM_ComputerSystem", "Name": v.uuid}
        )
        rc, out = conn.InvokeMethod(
            "GetMetricHistory", svc, ManagedElement=ref, MetricNames=["MemoryAllocation"],
            Range="hour",
        )  # fmt: skip
        assert rc == 0 and int(out["StepSeconds"]) == STEP
        known = [x for x in out["Values"] if not math.isnan(x)]
        assert len(known) >= 3 and known[-1] == float(mem["MetricValue"])
        rc, out = conn.InvokeMethod(
            "GetMetricGraph", svc, ManagedElement=ref, Family="memory", Range="hour",
            Width=pywbem.Uint32(400), Height=pywbem.Uint32(200),
        )  # fmt: skip
        img = Image.open(io.BytesIO(base64.b64decode(out["Image"])))
        img.load()
        assert rc == 0 and img.size == (400, 200)


def test_serve_runs_the_collector(collected, tmp_path):
    """`[metrics] vsphere_collector = true`: `vrmgmt serve` collects at start and every 20 s."""
    from support.server import VrmServer

    _d, backend, _root, vms, _w, _s = collected
    v = next(v for v in vms if v.state is PowerState.RUNNING)
    srv = VrmServer(tmp_path, [backend], extra_config="\n[metrics]\nvsphere_collector = true\n")
    with srv:
        f = srv.state_dir / "rrd" / "vc" / f"virt-{v.uuid}" / "memory-total.rrd"
        deadline = time.monotonic() + 30
        while not f.is_file() and time.monotonic() < deadline:
            time.sleep(0.3)
        assert f.is_file(), srv.log_path.read_text()[-2000:]
