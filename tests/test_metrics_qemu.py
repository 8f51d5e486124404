"""Real collectd with the generated config against libvirtd + QEMU (TCG): a guest with a
virtio disk gets disk statistics (the test driver has none: collectd 5.12 reads them with
virDomainBlockStatsFlags), and the values over CIM (pywbem, embedded server) are what the
RRD files hold (`rrdtool lastupdate` for the memory gauge, the last rates for counters)."""

from __future__ import annotations

import math
import os
import shutil
import tempfile
from pathlib import Path

import pytest
import rrdtool

from support import collectd
from support.inproc import inproc_server
from support.libvirtd import LibvirtdForTests, LibvirtdUnavailable, remove_domain, tiny_vm_xml

pytestmark = [pytest.mark.qemu, pytest.mark.timeout(300)]
URI = "qemu:///system"


@pytest.fixture(scope="module")
def collected(tmp_path_factory):
    d = tmp_path_factory.mktemp("metrics-qemu")
    images = Path(tempfile.mkdtemp(prefix="vrmgmt-metrics-", dir="/var/tmp"))
    images.chmod(0o755)  # QEMU runs as libvirt-qemu
    img = images / "vda.img"
    with open(img, "wb") as f:
        f.truncate(16 << 20)
    os.chmod(img, 0o666)
    disk = (
        "<disk type='file' device='disk'><driver name='qemu' type='raw'/>"
        f"<source file='{img}'/><target dev='vda' bus='virtio'/></disk>"
    )
    name = f"vrmgmt-metrics-{os.getpid()}"
    xml = tiny_vm_xml(name).replace("<serial type='null'/>", disk + "<serial type='null'/>")
    try:
        daemon = LibvirtdForTests(URI).__enter__()
    except LibvirtdUnavailable as exc:
        pytest.fail(f"needs libvirtd: {exc}")
    conn = daemon.connect()
    dom = conn.defineXML(xml)
    uuid = dom.UUIDString()
    try:
        dom.create()
        (d / "vrmgmt.toml").write_text(
            f'[paths]\nstate_dir = "{d / "state"}"\n'
            f'[metrics]\nrrd_roots = ["{d / "rrd"}"]\ncollect_interval = 1\n'
            f'[[backends]]\nid = "kvm"\ntype = "libvirt"\nuri = "{URI}"\n'
        )
        collectd.generate(d / "vrmgmt.toml", d / "collectd.conf")
        vm_dir = d / "rrd" / "kvm" / f"virt-{uuid}"
        with collectd.Collectd(d / "collectd.conf") as c:
            c.wait_for(
                [
                    vm_dir / "disk_octets-vda.rrd",
                    vm_dir / "disk_ops-vda.rrd",
                    vm_dir / "memory-total.rrd",
                    vm_dir / "virt_cpu_total.rrd",
                ],
                updates=4,
                timeout=60,
            )
        yield d, uuid, vm_dir
    finally:
        remove_domain(conn, uuid)
        conn.close()
        daemon.__exit__(None, None, None)
        shutil.rmtree(images, ignore_errors=True)


def _last_rate(f: Path, ds: str) -> float:
    (_s, _e, _step), names, rows = rrdtool.fetch(str(f), "AVERAGE", "-s", "-60")
    i = names.index(ds)
    return [r[i] for r in rows if r[i] is not None][-1]


def test_disk_statistics_over_cim(collected):
    d, uuid, vm_dir = collected
    backends = [{"id": "kvm", "type": "libvirt", "uri": URI, "timeout": 60}]
    sections = {"metrics": {"rrd_roots": [str(d / "rrd")]}}
    with inproc_server(d / "cim", backends, sections=sections) as conn:
        vals = {str(v["InstanceID"]): v for v in conn.EnumerateInstances("VRM_BaseMetricValue")}
    key = f"@kvm/{uuid.lower()}"
    for metric, fname, ds in (
        ("DiskReadRate", "disk_octets-vda.rrd", "read"),
        ("DiskWriteRate", "disk_octets-vda.rrd", "write"),
        ("DiskReadOperationRate", "disk_ops-vda.rrd", "read"),
    ):
        got = float(vals[f"vm:{metric}{key}"]["MetricValue"])
        assert got == pytest.approx(_last_rate(vm_dir / fname, ds)), metric
        assert not math.isnan(got) and got >= 0
    lu = rrdtool.lastupdate(str(vm_dir / "memory-total.rrd"))
    assert float(vals[f"vm:MemoryAllocation{key}"]["MetricValue"]) == lu["ds"]["value"]
    assert lu["ds"]["value"] == 48 << 20  # the guest's 48 MiB
    cpu = float(vals[f"vm:CPUUtilization{key}"]["MetricValue"])  # 1 vCPU, TCG: busy-ish
    assert cpu == pytest.approx(_last_rate(vm_dir / "virt_cpu_total.rrd", "value") * 1e-7)


def test_extra_stats_for_qemu(collected):
    """The generated virt block asks QEMU for ExtraStats (cpu_util, pcpu, vcpu,
    domain_state, disk_err): collectd writes their files too."""
    d, _uuid, vm_dir = collected
    assert (
        'ExtraStats "cpu_util disk_err domain_state pcpu vcpu"' in (d / "collectd.conf").read_text()
    )
    names = {p.name for p in vm_dir.iterdir()}
    assert {"percent-virt_cpu_total.rrd", "virt_vcpu-0.rrd", "domain_state.rrd"} <= names
