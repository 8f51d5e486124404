"""The virtual devices of a real QEMU guest (libvirtd + QEMU under TCG) through the
embedded server with pywbem (DSP1057 §7.3): the tiny test guest's VRM_Processor,
VRM_Memory and VRM_NetworkPort agree with libvirt's own domain XML (read with
libvirt-python: <vcpu>, <currentMemory>, the MAC libvirt generated), exist while the
guest is defined and off (EnabledState 3) and follow it when it runs (2). Needs root and
the packages in support.libvirtd.APT_PACKAGES."""

from __future__ import annotations

import pytest
from lxml import etree
from pywbem import CIMInstanceName

from support.inproc import inproc_server
from support.libvirtd import LibvirtdForTests, LibvirtdUnavailable

pytestmark = [pytest.mark.qemu, pytest.mark.timeout(180)]

URI = "qemu:///system"


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    try:
        daemon = LibvirtdForTests(URI).__enter__()
    except LibvirtdUnavailable as exc:
        pytest.fail(f"needs libvirtd: {exc}")
    try:
        with daemon.tiny_vm(nic=True) as vm:
            conn = daemon.connect()
            backends = [{"id": "kvm", "type": "libvirt", "uri": URI, "timeout": 60}]
            try:
                with inproc_server(tmp_path_factory.mktemp("devices-qemu"), backends) as cim:
                    yield cim, conn, vm
            finally:
                conn.close()
    finally:
        daemon.__exit__(None, None, None)


def _devices(cim, uuid):
    vm = CIMInstanceName(
        "VRM_ComputerSystem", {"CreationClassName": "VRM_ComputerSystem", "Name": uuid}, "root/virt"
    )
    out: dict[str, list] = {}
    for inst in cim.Associators(vm, AssocClass="VRM_SystemDevice"):
        out.setdefault(inst.classname, []).append(inst)
    return out


def test_devices_follow_libvirt_defined_then_running(env):
    cim, conn, vm = env
    dom = conn.lookupByUUIDString(vm.uuid)
    xml = etree.fromstring(dom.XMLDesc(0))
    vcpus = int(xml.findtext("vcpu"))
    current_kib = int(xml.findtext("currentMemory"))
    macs = [m.get("address") for m in xml.iterfind("devices/interface/mac")]
    assert macs, "libvirt generates a MAC for the tiny guest's NIC"

    off = _devices(cim, vm.uuid)
    assert len(off["VRM_Processor"]) == vcpus
    (mem,) = off["VRM_Memory"]
    assert mem["NumberOfBlocks"] * mem["BlockSize"] == current_kib * 1024
    assert [p["PermanentAddress"] for p in off["VRM_NetworkPort"]] == [
        m.replace(":", "").upper() for m in macs
    ]
    assert "VRM_LogicalDisk" not in off  # the tiny guest is diskless
    assert {i["EnabledState"] for v in off.values() for i in v} == {3}

    dom.create()
    try:
        on = _devices(cim, vm.uuid)
        assert {i["EnabledState"] for v in on.values() for i in v} == {2}
        (port,) = on["VRM_NetworkPort"]
        assert port["DeviceID"].endswith("/nic/" + macs[0].lower())
        (rasd,) = cim.AssociatorNames(port.path, AssocClass="VRM_SettingsDefineState")
        assert rasd["InstanceID"] == port["DeviceID"]
    finally:
        dom.destroy()
