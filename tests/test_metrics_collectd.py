"""Real collectd (Debian collectd-core) with the config `vrmgmt collectd-config` generates,
against a libvirt test-driver node file with running domains: the virt plugin writes the
tree vrmgmt reads (DESIGN.md "Metrics"), the test driver's rates come out in users' units,
and the values over CIM (pywbem, embedded server) are what `rrdtool lastupdate` shows."""

from __future__ import annotations

import math
import time

import cmpi_testkit as kit
import pytest
import rrdtool

from support import collectd
from vrmgmt.metrics.rrd import Element, RrdReader

ALPHA = kit.VMS["alpha"][0]
BETA = kit.VMS["beta"][0]
GAMMA = kit.VMS["gamma"][0]


def _toml(d, node, extra=""):
    return (
        f'[paths]\nstate_dir = "{d / "state"}"\n'
        f'[metrics]\nrrd_roots = ["{d / "rrd"}"]\ncollect_interval = 1\n{extra}'
        f'[[backends]]\nid = "{kit.BACKEND}"\ntype = "libvirt"\nuri = "test://{node}"\n'
    )


@pytest.fixture(scope="module")
def collected(tmp_path_factory):
    """A tree written by a real collectd for ~5 s, then collectd stopped (stable values)."""
    d = tmp_path_factory.mktemp("collectd")
    node = kit.write_node_xml(d / "node.xml")
    cfg = d / "vrmgmt.toml"
    cfg.write_text(_toml(d, node))
    text = collectd.generate(cfg, d / "collectd.conf")
    vm_dir = d / "rrd" / kit.BACKEND / f"virt-{ALPHA}"
    with collectd.Collectd(d / "collectd.conf") as c:
        c.wait_for(
            [
                vm_dir / "virt_cpu_total.rrd",
                vm_dir / "memory-total.rrd",
                vm_dir / f"if_octets-{kit.ALPHA_MAC}.rrd",
                d / "rrd" / kit.BACKEND / "cpu" / "percent-idle.rrd",
            ],
            updates=4,
        )
    return d, text


def test_generated_config(collected):
    _, text = collected
    assert f'Hostname "{kit.BACKEND}"' in text
    for line in (
        "HostnameFormat hostname",
        "PluginInstanceFormat uuid",
        "InterfaceFormat address",
        "LoadPlugin cpu",
        "LoadPlugin users",
        "LoadPlugin rrdtool",
    ):
        assert line in text


def test_tree_layout_running_domains_only(collected):
    d, _ = collected
    host = d / "rrd" / kit.BACKEND
    assert (host / f"virt-{ALPHA}").is_dir() and (host / f"virt-{BETA}").is_dir()
    assert not (host / f"virt-{GAMMA}").exists()  # shut off: nothing collected
    assert (host / "load" / "load.rrd").is_file() and (host / "users" / "users.rrd").is_file()
    assert not (host / "interface-lo").exists()


def test_reader_latest_is_what_rrdtool_shows(collected):
    d, _ = collected
    reader = RrdReader([d / "rrd"])
    got = {s.metric.name: s for s in reader.latest(Element(kit.BACKEND, ALPHA), vcpus=1)}
    vm_dir = d / "rrd" / kit.BACKEND / f"virt-{ALPHA}"
    lu = rrdtool.lastupdate(str(vm_dir / "memory-total.rrd"))
    assert got["MemoryAllocation"].value == lu["ds"]["value"]
    # the test driver: one busy CPU, rx 100,000 B/s, tx 50,000 B/s
    assert got["CPUUtilization"].value == pytest.approx(100.0, rel=0.05)
    assert got["NetworkReceiveRate"].value == pytest.approx(100_000, rel=0.05)
    assert got["NetworkTransmitRate"].value == pytest.approx(50_000, rel=0.05)
    assert "DiskReadRate" not in got  # the test driver has no block stats
    (start, _e, step), names, rows = rrdtool.fetch(
        str(vm_dir / "virt_cpu_total.rrd"), "AVERAGE", "-s", "-60"
    )
    last = [r[0] for r in rows if r[0] is not None][-1]
    assert got["CPUUtilization"].value == pytest.approx(last * 1e-7)
    host = {s.metric.name: s for s in reader.latest(Element(kit.BACKEND))}
    assert 0 <= host["CPUUtilization"].value <= 100
    assert host["Users"].value >= 0 and not math.isnan(host["LoadAverage"].value)


def test_serve_runs_managed_collectd(tmp_path):
    """`collectd = "managed"`: `vrmgmt serve` starts collectd with the generated config
    (RRDs appear for the running domains) and stops it with itself."""
    import psutil

    from support.server import VrmServer

    node = kit.write_node_xml(tmp_path / "node.xml")
    root = tmp_path / "rrd"
    extra = f'\n[metrics]\nrrd_roots = ["{root}"]\ncollect_interval = 1\ncollectd = "managed"\n'
    srv = VrmServer(
        tmp_path,
        [{"id": kit.BACKEND, "type": "libvirt", "uri": f"test://{node}"}],
        extra_config=extra,
    )
    with srv:
        mem = root / kit.BACKEND / f"virt-{ALPHA}" / "memory-total.rrd"
        pid = srv.proc.pid
        deadline = time.monotonic() + 30
        while not mem.is_file() and time.monotonic() < deadline:
            time.sleep(0.3)
        assert mem.is_file(), (tmp_path / "server.log").read_text()[-2000:]
        kids = [p for p in psutil.Process(pid).children() if p.name() == "collectd"]
        assert len(kids) == 1
    assert not kids[0].is_running() or kids[0].status() == psutil.STATUS_ZOMBIE


def test_values_over_cim_are_what_rrdtool_lastupdate_shows(collected):
    """pywbem against the embedded server over the tree collectd wrote: the memory gauge is
    `rrdtool lastupdate`'s value, CPU and network rates the RRD's last rows, converted
    (alpha has 2 vCPUs: one busy CPU is 50 %)."""
    import pywbem

    from support.inproc import inproc_server

    d, _ = collected
    backends = [{"id": kit.BACKEND, "type": "libvirt", "uri": f"test://{d / 'node.xml'}"}]
    sections = {"metrics": {"rrd_roots": [str(d / "rrd")]}}
    with inproc_server(d / "cim-state", backends, sections=sections) as conn:
        vals = {str(v["InstanceID"]): v for v in conn.EnumerateInstances("VRM_BaseMetricValue")}
        vm_dir = d / "rrd" / kit.BACKEND / f"virt-{ALPHA}"
        lu = rrdtool.lastupdate(str(vm_dir / "memory-total.rrd"))
        mem = vals[f"vm:MemoryAllocation@{kit.BACKEND}/{ALPHA}"]
        assert float(mem["MetricValue"]) == lu["ds"]["value"]
        assert mem["TimeStamp"].datetime.timestamp() == pytest.approx(lu["date"].timestamp())
        cpu = float(vals[f"vm:CPUUtilization@{kit.BACKEND}/{ALPHA}"]["MetricValue"])
        assert cpu == pytest.approx(50.0, rel=0.05)
        # and of the host's 4 CPUs (cmpi_testkit's node)
        share = float(vals[f"vm:HostCPUShare@{kit.BACKEND}/{ALPHA}"]["MetricValue"])
        assert share == pytest.approx(25.0, rel=0.05)
        rx = float(vals[f"vm:NetworkReceiveRate@{kit.BACKEND}/{ALPHA}"]["MetricValue"])
        assert rx == pytest.approx(100_000, rel=0.05)
        users = vals[f"host:Users@{kit.BACKEND}"]
        lu = rrdtool.lastupdate(str(d / "rrd" / kit.BACKEND / "users" / "users.rrd"))
        assert float(users["MetricValue"]) == lu["ds"]["value"]
        assert not [k for k in vals if GAMMA in k]  # off: no values
        (svc,) = conn.EnumerateInstanceNames("VRM_MetricService")
        vm = pywbem.CIMInstanceName(
            "VRM_ComputerSystem", {"CreationClassName": "VRM_ComputerSystem", "Name": ALPHA}
        )
        rc, out = conn.InvokeMethod(
            "GetMetricHistory",
            svc,
            ManagedElement=vm,
            MetricNames=["MemoryAllocation"],
            Range="hour",
        )
        assert rc == 0 and int(out["StepSeconds"]) == 1  # collect_interval 1
        known = [v for v in out["Values"] if not math.isnan(v)]
        assert known and known[-1] == float(mem["MetricValue"])
