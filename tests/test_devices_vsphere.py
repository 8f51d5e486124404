"""The virtual devices of vSphere VMs (govmomi's vcsim, no mocks) through the embedded
server with pywbem (DSP1057 §7.3, DSP1044/1045/1047/1050): per VM, as many VRM_Processor
as config.hardware.numCPU, one VRM_Memory of config.hardware.memoryMB, one
VRM_LogicalDisk per VirtualDisk / VirtualCdrom / VirtualFloppy (capacityInBytes), one
VRM_NetworkPort per VirtualEthernetCard with its macAddress, all read with pyVmomi and
compared; and each VM's capabilities: no 9 (Quiesce) on vSphere, renaming advertised."""

from __future__ import annotations

import pytest
from pyVmomi import vim

from support.vcsim import served_vcsim

pytestmark = [pytest.mark.vcsim, pytest.mark.timeout(240)]


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    with served_vcsim(tmp_path_factory.mktemp("devices-vc"), vms=2) as served:
        yield served


def _pyvmomi_vms(mgr) -> dict[str, vim.VirtualMachine]:
    """pyVmomi's own view: instance UUID -> VM (templates left out, as vrmgmt does)."""
    content = mgr._session.content
    view = content.viewManager.CreateContainerView(content.rootFolder, [vim.VirtualMachine], True)
    try:
        return {v.config.instanceUuid: v for v in view.view if not v.config.template}
    finally:
        view.Destroy()


def _by_vm(insts) -> dict[str, list]:
    out: dict[str, list] = {}
    for i in insts:
        out.setdefault(i["SystemName"], []).append(i)
    return out


def test_devices_match_pyvmomi(env):
    conn, mgr, sim = env
    vms = _pyvmomi_vms(mgr)
    assert len(vms) == sim.expected_vms
    procs = _by_vm(conn.EnumerateInstances("VRM_Processor"))
    mems = _by_vm(conn.EnumerateInstances("VRM_Memory"))
    disks = _by_vm(conn.EnumerateInstances("VRM_LogicalDisk"))
    ports = _by_vm(conn.EnumerateInstances("VRM_NetworkPort"))
    assert set(procs) == set(mems) == set(vms)
    for uuid, v in vms.items():
        hw = v.config.hardware
        assert len(procs[uuid]) == hw.numCPU
        (mem,) = mems[uuid]
        assert mem["NumberOfBlocks"] * mem["BlockSize"] == hw.memoryMB << 20
        drives = [
            d
            for d in hw.device
            if isinstance(
                d,
                vim.vm.device.VirtualDisk
                | vim.vm.device.VirtualCdrom
                | vim.vm.device.VirtualFloppy,
            )
        ]
        assert any(isinstance(d, vim.vm.device.VirtualDisk) for d in drives)
        got = {i["Name"]: i for i in disks.get(uuid, [])}
        assert sorted(got) == sorted(d.deviceInfo.label for d in drives)
        for d in drives:
            if isinstance(d, vim.vm.device.VirtualDisk):
                size = d.capacityInBytes or d.capacityInKB * 1024  # vcsim sets only KB
                assert got[d.deviceInfo.label]["NumberOfBlocks"] * 512 == size
                assert got[d.deviceInfo.label]["Access"] == 3
            else:
                assert got[d.deviceInfo.label]["Access"] == 1
        macs = [
            d.macAddress.replace(":", "").upper()
            for d in hw.device
            if isinstance(d, vim.vm.device.VirtualEthernetCard)
        ]
        assert macs, "vcsim gives each VM a NIC"
        assert sorted(p["PermanentAddress"] for p in ports[uuid]) == sorted(macs)
        powered_on = v.runtime.powerState == "poweredOn"
        assert {i["EnabledState"] for i in procs[uuid]} == {2 if powered_on else 3}


def test_devices_and_rasds_map_on_vsphere(env):
    conn, mgr, _ = env
    uuid = next(iter(_pyvmomi_vms(mgr)))
    vm = next(p for p in conn.EnumerateInstanceNames("VRM_ComputerSystem") if p["Name"] == uuid)
    devices = conn.AssociatorNames(vm, AssocClass="VRM_SystemDevice")
    assert devices
    for dev in devices:
        (rasd,) = conn.AssociatorNames(dev, AssocClass="VRM_SettingsDefineState")
        assert dev["DeviceID"].startswith(rasd["InstanceID"])
    (sd,) = conn.AssociatorNames(vm, AssocClass="VRM_SettingsDefineState")
    rasds = conn.AssociatorNames(sd, AssocClass="VRM_VirtualSystemSettingDataComponent")
    defined = {
        p["InstanceID"]
        for d in devices
        for p in conn.AssociatorNames(d, AssocClass="VRM_SettingsDefineState")
    }
    assert defined == {r["InstanceID"] for r in rasds}  # every RASD defines a device


def test_vm_capabilities_on_vsphere(env):
    conn, mgr, _ = env
    for vm in conn.EnumerateInstanceNames("VRM_ComputerSystem"):
        (caps,) = conn.Associators(
            vm,
            AssocClass="VRM_ElementCapabilities",
            ResultClass="VRM_EnabledLogicalElementCapabilities",  # (not the snapshot ones)
        )
        assert list(caps["RequestedStatesSupported"]) == [2, 3, 4, 6, 10, 11]  # no 9 Quiesce
        assert caps["ElementNameEditSupported"] is True
        available = set(conn.GetInstance(vm)["AvailableRequestedStates"])
        assert available <= set(caps["RequestedStatesSupported"])
    (svc,) = conn.EnumerateInstanceNames("VRM_VirtualSystemManagementService")
    managed = conn.AssociatorNames(svc, AssocClass="VRM_ServiceAffectsElement")
    assert sorted(p["Name"] for p in managed) == sorted(_pyvmomi_vms(mgr))
