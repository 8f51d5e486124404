"""The vSphere metrics collector against govmomi's vcsim (no mocks): one QueryPerf per
interval for all VMs and the ESXi hosts, written as RRDs in collectd's layout, so the same
reader and CIM classes answer vSphere VMs and hosts as libvirt ones (latest values =
`rrdtool lastupdate`, GetMetricHistory at the 20 s step, GetMetricGraph)."""

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
    with Vcsim(hosts=2, vms=3) as sim:
        backend = sim.backend_config(d, "vc", timeout=20)
        cfg = parse_config({"backends": [backend], "paths": {"state_dir": str(d / "state")}})
        inv = Inventory.from_config(cfg.backends)
        try:
            vms = inv.vms_of("vc")
            root = d / "rrd"
            collector = VSphereCollector(inv, root)
            t0 = int(time.time()) // STEP * STEP - 3 * STEP
            written = [collector.collect_once(t0 + k * STEP) for k in range(3)]
            # the last interval with the SOAP requests and QueryPerf's answer recorded
            stub = inv.manager("vc")._session.stub
            sent, answers = [], []
            invoke = stub.InvokeMethod

            def recording(mo, info, args, *rest, **kw):
                sent.append(info.wsdlName)
                out = invoke(mo, info, args, *rest, **kw)
                if info.wsdlName == "QueryPerf":
                    answers.append(out)
                return out

            stub.InvokeMethod = recording
            try:
                written.append(collector.collect_once(t0 + 3 * STEP))
            finally:
                del stub.InvokeMethod
            stats = collector.last["vc"]  # what the last interval wrote
            perf = inv.manager("vc")._session.content.perfManager
            names = {c.key: f"{c.groupInfo.key}.{c.nameInfo.key}.{c.rollupType}"
                     for c in perf.perfCounter}  # fmt: skip
            hosts = []  # (CPU threads, {counter: raw latest value}) per ESXi host
            for em in answers[0]:
                if em.entity._wsdlName == "HostSystem":
                    raw = {names[s.id.counterId]: s.value[-1] for s in em.value}
                    hosts.append((em.entity.summary.hardware.numCpuThreads, raw))
        finally:
            inv.close()
        info = {"sent": sent, "hosts": hosts, "host": collector.last_host["vc"]}
        yield d, backend, root, vms, written, stats, info  # the simulator still runs


def test_one_tree_per_running_vm(collected):
    _d, _b, root, vms, written, stats, _i = collected
    running = [v for v in vms if v.state is PowerState.RUNNING]
    assert running and all(n >= 2 * len(running) for n in written)
    for v in vms:
        d = root / "vc" / f"virt-{v.uuid}"
        assert (d / "virt_cpu_total.rrd").is_file() == (v.state is PowerState.RUNNING)
    v = running[0]
    lu = rrdtool.lastupdate(str(root / "vc" / f"virt-{v.uuid}" / "memory-total.rrd"))
    assert lu["ds"]["value"] == stats[v.uuid]["mem.consumed.average"] * 1024


def test_same_cim_answers_as_libvirt(collected):
    d, backend, root, vms, _w, _s, _i = collected
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


def test_host_sample_in_the_same_query(collected):
    """The ESXi hosts ride in the interval's one QueryPerf; the backend's host sample is
    their CPU % weighted by CPU threads and the sum of the rest, as pyVmomi returned them."""
    _d, _b, root, _v, _w, _s, info = collected
    assert info["sent"].count("QueryPerf") == 1
    hosts, got = info["hosts"], info["host"]
    assert len(hosts) == 2  # both ESXi hosts of the cluster
    threads = sum(t for t, _ in hosts)
    cpu = sum(t * raw["cpu.usage.average"] / 100 for t, raw in hosts) / threads
    assert got["cpu.usage.average"] == pytest.approx(cpu)
    for name in ("mem.consumed.average", "net.received.average", "disk.write.average"):
        assert got[name] == sum(raw[name] for _t, raw in hosts)
    lu = rrdtool.lastupdate(str(root / "vc" / "cpu" / "percent-idle.rrd"))
    assert lu["ds"]["value"] == pytest.approx(100 - cpu)
    lu = rrdtool.lastupdate(str(root / "vc" / "memory" / "memory-used.rrd"))
    assert lu["ds"]["value"] == got["mem.consumed.average"] * 1024
    lu = rrdtool.lastupdate(str(root / "vc" / "interface-vsphere" / "if_octets.rrd"))
    assert lu["ds"]["rx"] == got["net.received.average"] * 1024
    lu = rrdtool.lastupdate(str(root / "vc" / "disk-vsphere" / "disk_octets.rrd"))
    assert lu["ds"]["write"] == got["disk.write.average"] * 1024


def test_host_metrics_over_cim(collected):
    """VRM_BaseMetricValue of the vSphere backend's VRM_HostSystem = the host RRDs, and
    GetMetricHistory returns them at the 20 s step."""
    d, backend, root, _v, _w, _s, info = collected
    got = info["host"]
    sections = {"metrics": {"rrd_roots": [str(root)]}}
    with inproc_server(d / "cim-host", [backend], sections=sections) as conn:
        vals = {str(i["InstanceID"]): i for i in conn.EnumerateInstances("VRM_BaseMetricValue")}
        cpu = vals["host:CPUUtilization@vc"]
        lu = rrdtool.lastupdate(str(root / "vc" / "cpu" / "percent-idle.rrd"))
        assert float(cpu["MetricValue"]) == pytest.approx(100 - lu["ds"]["value"])
        assert float(cpu["MetricValue"]) == pytest.approx(got["cpu.usage.average"])
        assert cpu["Duration"].timedelta.total_seconds() == STEP
        mem = float(vals["host:MemoryUsed@vc"]["MetricValue"])
        assert mem == got["mem.consumed.average"] * 1024
        rx = float(vals["host:NetworkReceiveRate@vc"]["MetricValue"])
        assert rx == got["net.received.average"] * 1024
        tx = float(vals["host:NetworkTransmitRate@vc"]["MetricValue"])
        assert tx == got["net.transmitted.average"] * 1024
        rd = float(vals["host:DiskReadRate@vc"]["MetricValue"])
        assert rd == got["disk.read.average"] * 1024
        wr = float(vals["host:DiskWriteRate@vc"]["MetricValue"])
        assert wr == got["disk.write.average"] * 1024
        assert "host:LoadAverage@vc" not in vals  # vSphere has no load average
        (svc,) = conn.EnumerateInstanceNames("VRM_MetricService")
        (host,) = conn.EnumerateInstanceNames("VRM_HostSystem")
        rc, out = conn.InvokeMethod(
            "GetMetricHistory", svc, ManagedElement=host, MetricNames=["MemoryUsed"],
            Range="hour",
        )  # fmt: skip
        assert rc == 0 and int(out["StepSeconds"]) == STEP
        known = [x for x in out["Values"] if not math.isnan(x)]
        assert len(known) >= 3 and known[-1] == mem


def test_serve_runs_the_collector(collected, tmp_path):
    """`[metrics] vsphere_collector = true`: `vrmgmt serve` collects at start and every 20 s."""
    from support.server import VrmServer

    _d, backend, _root, vms, _w, _s, _i = collected
    v = next(v for v in vms if v.state is PowerState.RUNNING)
    srv = VrmServer(tmp_path, [backend], extra_config="\n[metrics]\nvsphere_collector = true\n")
    with srv:
        f = srv.state_dir / "rrd" / "vc" / f"virt-{v.uuid}" / "memory-total.rrd"
        deadline = time.monotonic() + 30
        while not f.is_file() and time.monotonic() < deadline:
            time.sleep(0.3)
        assert f.is_file(), srv.log_path.read_text()[-2000:]
