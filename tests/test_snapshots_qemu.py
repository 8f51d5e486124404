"""Snapshots over a real libvirtd + QEMU (TCG) through the embedded server with pywbem
(docs/snapshots.md): a tiny guest with a qcow2 disk is snapshotted running (type 2, with
its memory) and off (type 3), the snapshots are read back as a tree through
VRM_SnapshotOfVirtualSystem / VRM_ParentChildSettingData / VRM_LastAppliedSnapshot,
applied (the VM's state and configuration, read with libvirt-python, are those of the
snapshot) and destroyed. QEMU snapshots are slow: every method answers 4096 and a job.
A disk-only snapshot of the running VM answers CIM_ERR_NOT_SUPPORTED saying why, an
unknown VM CIM_ERR_NOT_FOUND. Needs root and the packages in support.libvirtd.APT_PACKAGES
plus qemu-utils (qemu-img)."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import libvirt
import pytest
import pywbem
from pywbem import CIMInstance, CIMInstanceName, Uint16

from support.inproc import inproc_server
from support.libvirtd import LibvirtdForTests, remove_domain, tiny_vm_xml

pytestmark = [pytest.mark.qemu, pytest.mark.timeout(240)]

URI = "qemu:///system"
NS = "root/virt"
BACKEND = "kvm"
DESCRIPTION = libvirt.VIR_DOMAIN_METADATA_DESCRIPTION


def vm_xml(name: str, image: str) -> str:
    """The tiny TCG guest with a qcow2 disk (internal snapshots need one) and a VNC
    display on loopback."""
    disk = (
        "<disk type='file' device='disk'><driver name='qemu' type='qcow2'/>"
        f"<source file='{image}'/><target dev='vda' bus='virtio'/></disk>"
        "<graphics type='vnc' autoport='yes' listen='127.0.0.1'/>"
    )
    xml = tiny_vm_xml(name).replace("<serial type='null'/>", disk + "<serial type='null'/>")
    return xml.replace("</name>", "</name><description>v1</description>", 1)


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    if shutil.which("qemu-img") is None:
        pytest.fail("needs qemu-img (apt-get install qemu-utils)")
    images = Path(tempfile.mkdtemp(prefix="vrmgmt-snap-", dir="/var/tmp"))
    images.chmod(0o755)  # QEMU runs as libvirt-qemu: it must reach the image
    image = str(images / "disk.qcow2")
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", image, "16M"], check=True)
    os.chmod(image, 0o666)
    with LibvirtdForTests(URI) as daemon:
        conn = daemon.connect()
        name = f"vrmgmt-test-{os.getpid()}-snap"
        dom = conn.defineXML(vm_xml(name, image))
        try:
            backends = [{"id": BACKEND, "type": "libvirt", "uri": URI, "timeout": 60}]
            with inproc_server(tmp_path_factory.mktemp("snap-qemu"), backends) as cim:
                yield cim, conn, dom
        finally:
            remove_domain(conn, dom.UUIDString())
            conn.close()
            shutil.rmtree(images, ignore_errors=True)


def service() -> CIMInstanceName:
    return CIMInstanceName(
        "VRM_VirtualSystemSnapshotService",
        {
            "SystemCreationClassName": "VRM_HostSystem",
            "SystemName": BACKEND,
            "CreationClassName": "VRM_VirtualSystemSnapshotService",
            "Name": "VirtualSystemSnapshotService",
        },
        namespace=NS,
    )


def vm_path(uuid: str) -> CIMInstanceName:
    return CIMInstanceName(
        "VRM_ComputerSystem", {"CreationClassName": "VRM_ComputerSystem", "Name": uuid}, NS
    )


def finished(cim, rv, out, timeout=120.0):
    """The finished job of a method that must have answered 4096."""
    assert rv == 4096, rv
    deadline = time.monotonic() + timeout
    while True:
        job = cim.GetInstance(out["Job"])
        if job["JobState"] >= 7:
            assert job["JobState"] == 7, job["ErrorDescription"]
            return job
        assert time.monotonic() < deadline, job["JobState"]
        time.sleep(0.2)


def create(cim, uuid, name, stype):
    rv, out = cim.InvokeMethod(
        "CreateSnapshot",
        service(),
        AffectedSystem=vm_path(uuid),
        SnapshotSettings=CIMInstance("CIM_SettingData", {"ElementName": name}),
        SnapshotType=Uint16(stype),
    )
    job = finished(cim, rv, out)
    (snap,) = cim.AssociatorNames(
        job.path, AssocClass="VRM_AffectedJobElement", ResultClass="VRM_SnapshotSettingData"
    )
    return snap


def tree(cim, uuid):
    out = {}
    for s in cim.Associators(vm_path(uuid), AssocClass="VRM_SnapshotOfVirtualSystem"):
        parents = cim.Associators(s.path, AssocClass="VRM_ParentChildSettingData", Role="Dependent")
        out[s["ElementName"]] = parents[0]["ElementName"] if parents else None
    return out


def current(cim, uuid):
    found = cim.Associators(vm_path(uuid), AssocClass="VRM_LastAppliedSnapshot")
    assert len(found) <= 1
    return found[0]["ElementName"] if found else None


def types_enabled(cim, uuid):
    (caps,) = cim.Associators(
        vm_path(uuid),
        AssocClass="VRM_ElementCapabilities",
        ResultClass="VRM_VirtualSystemSnapshotCapabilities",
    )
    return sorted(caps["SnapshotTypesEnabled"])


def test_snapshots_on_qemu(env):
    cim, conn, dom = env
    uuid = dom.UUIDString()
    (caps,) = cim.EnumerateInstances("VRM_VirtualSystemSnapshotServiceCapabilities")
    assert list(caps["AynchronousMethodsSupported"]) == [2, 3, 4]
    assert list(caps["SynchronousMethodsSupported"]) == []

    dom.create()
    assert types_enabled(cim, uuid) == [2]
    # a disk-only snapshot of the running VM: QEMU cannot, and says so
    with pytest.raises(pywbem.CIMError) as err:
        cim.InvokeMethod(
            "CreateSnapshot", service(), AffectedSystem=vm_path(uuid), SnapshotType=Uint16(3)
        )
    assert err.value.status_code == pywbem.CIM_ERR_NOT_SUPPORTED
    assert "SnapshotType 3" in err.value.status_description
    assert "running" in err.value.status_description

    running = create(cim, uuid, "running", 2)
    snap = cim.GetInstance(running)
    assert (snap["ElementName"], snap["VirtualSystemIdentifier"]) == ("running", uuid)
    assert snap["VirtualSystemType"] == "QEMU" and snap["EnabledStateWhenApplied"] == 2

    # change the configuration, power off, snapshot the disks of the VM that is off
    dom.setMetadata(DESCRIPTION, "v2", None, None, libvirt.VIR_DOMAIN_AFFECT_CONFIG)
    dom.destroy()
    assert types_enabled(cim, uuid) == [2, 3]
    off = create(cim, uuid, "off", 3)
    assert cim.GetInstance(off)["EnabledStateWhenApplied"] == 3
    assert tree(cim, uuid) == {"running": None, "off": "running"}
    assert current(cim, uuid) == "off"

    # apply the running snapshot to the VM that is off: it runs again, as it was
    rv, out = cim.InvokeMethod("ApplySnapshot", service(), Snapshot=running)
    finished(cim, rv, out)
    assert dom.state()[0] == libvirt.VIR_DOMAIN_RUNNING
    assert dom.metadata(DESCRIPTION, None, libvirt.VIR_DOMAIN_AFFECT_CONFIG) == "v1"
    assert cim.GetInstance(vm_path(uuid))["EnabledState"] == 2
    assert current(cim, uuid) == "running"

    # and the one taken while off: the VM is off, with the later configuration
    rv, out = cim.InvokeMethod("ApplySnapshot", service(), Snapshot=off)
    finished(cim, rv, out)
    assert dom.state()[0] == libvirt.VIR_DOMAIN_SHUTOFF
    assert dom.metadata(DESCRIPTION, None, libvirt.VIR_DOMAIN_AFFECT_CONFIG) == "v2"
    assert current(cim, uuid) == "off"

    rv, out = cim.InvokeMethod("DestroySnapshot", service(), AffectedSnapshot=off)
    finished(cim, rv, out)
    assert [s.getName() for s in dom.listAllSnapshots(0)] == ["running"]
    assert tree(cim, uuid) == {"running": None}
    rv, out = cim.InvokeMethod("DestroySnapshot", service(), AffectedSnapshot=running)
    finished(cim, rv, out)
    assert dom.listAllSnapshots(0) == []
    assert cim.Associators(vm_path(uuid), AssocClass="VRM_SnapshotOfVirtualSystem") == []


def test_unknown_vm_and_snapshot(env):
    cim, _conn, dom = env
    missing = "5f0c2d3e-1a2b-4c5d-8e9f-0000000000ff"
    with pytest.raises(pywbem.CIMError) as err:
        cim.InvokeMethod(
            "CreateSnapshot", service(), AffectedSystem=vm_path(missing), SnapshotType=Uint16(2)
        )
    assert err.value.status_code == pywbem.CIM_ERR_NOT_FOUND
    assert missing in err.value.status_description
    ghost = CIMInstanceName(
        "VRM_SnapshotSettingData",
        {"InstanceID": f"{BACKEND}:{dom.UUIDString()}/snapshot/ghost"},
        NS,
    )
    with pytest.raises(pywbem.CIMError) as err:
        cim.InvokeMethod("ApplySnapshot", service(), Snapshot=ghost)
    assert err.value.status_code == pywbem.CIM_ERR_NOT_FOUND
    assert "ghost" in err.value.status_description


def test_snapshot_of_a_diskless_guest_fails_its_job_saying_why(env):
    """QEMU's internal snapshots need a qcow2 disk: the job ends in an error naming
    libvirt's reason, and the VM has no snapshot."""
    cim, conn, _dom = env
    name = f"vrmgmt-test-{os.getpid()}-diskless"
    dom = conn.defineXML(tiny_vm_xml(name))
    try:
        dom.create()
        rv, out = cim.InvokeMethod(
            "CreateSnapshot",
            service(),
            AffectedSystem=vm_path(dom.UUIDString()),
            SnapshotType=Uint16(2),
        )
        assert rv == 4096
        deadline = time.monotonic() + 60
        while (job := cim.GetInstance(out["Job"]))["JobState"] < 7:
            assert time.monotonic() < deadline
            time.sleep(0.2)
        assert job["JobState"] != 7
        # ("internal and full system snapshots require all disks to be selected")
        why = job["ErrorDescription"]
        assert f"cannot snapshot VM '{name}'" in why and "disks" in why, why
        assert dom.listAllSnapshots(0) == []
    finally:
        remove_domain(conn, dom.UUIDString())
