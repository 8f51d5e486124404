"""The virtual system management service over vSphere (govmomi's vcsim, no mocks),
through the embedded server with pywbem (DSP1042 §8, DSP1057): DefineSystem from a
VSSD and four RASDs, Add/Modify/RemoveResourceSettings and DestroySystem each return
4096 and a job (vSphere tasks), the new VM is found through VRM_AffectedJobElement, and
after each step vSphere's own configuration (read with pyVmomi) agrees with what
GetInstance / Associators show."""

from __future__ import annotations

import time

import pytest
import pywbem
from pyVmomi import vim
from pywbem import CIMInstance, CIMInstanceName, Uint16, Uint64

from support.vcsim import served_vcsim

pytestmark = [pytest.mark.vcsim, pytest.mark.timeout(240)]

NS = "root/virt"
GIB = 1 << 30
NET = "DC0_DVPG0"


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    with served_vcsim(tmp_path_factory.mktemp("vsms-vc"), vms=1) as served:
        yield served[:2]


def _ref(mgr, uuid):
    """pyVmomi's own view of the VM (None when it is gone)."""
    return mgr._session.content.searchIndex.FindByUuid(None, uuid, True, True)


def vsms():
    return CIMInstanceName(
        "VRM_VirtualSystemManagementService",
        {
            "SystemCreationClassName": "VRM_HostSystem",
            "SystemName": "vc",
            "CreationClassName": "VRM_VirtualSystemManagementService",
            "Name": "VirtualSystemManagementService",
        },
        namespace=NS,
    )


def _job(conn, rv, out, timeout=60.0):
    """The finished job of a method that must have answered 4096."""
    assert rv == 4096, rv
    deadline = time.monotonic() + timeout
    while True:
        job = conn.GetInstance(out["Job"])
        if job["JobState"] >= 7:
            assert job["JobState"] == 7, job["ErrorDescription"]
            return job
        assert time.monotonic() < deadline, job["JobState"]
        time.sleep(0.1)


def _rasds(conn, vm):
    (sd,) = conn.AssociatorNames(vm, AssocClass="VRM_SettingsDefineState")
    out: dict[str, list] = {}
    for inst in conn.Associators(sd, AssocClass="VRM_VirtualSystemSettingDataComponent"):
        out.setdefault(inst.classname, []).append(inst)
    return sd, out


def test_capabilities_advertise_asynchronous_methods(env):
    conn, _ = env
    (caps,) = conn.Associators(vsms(), AssocClass="VRM_ElementCapabilities")
    assert list(caps["VirtualSystemTypesSupported"]) == ["VMware"]
    assert list(caps["SynchronousMethodsSupported"]) == []
    assert sorted(caps["AsynchronousMethodsSupported"]) == [2, 3, 5, 6, 7, 10]


def test_define_modify_destroy_on_vcsim(env):
    conn, mgr = env
    system = CIMInstance(
        "VRM_VirtualSystemSettingData", {"ElementName": "vrm-cim", "Notes": ["made over CIM"]}
    )
    resources = [
        CIMInstance(
            "VRM_ProcessorAllocationSettingData",
            {"ResourceType": Uint16(3), "VirtualQuantity": Uint64(2)},
        ),
        CIMInstance(
            "VRM_MemoryAllocationSettingData",
            {"ResourceType": Uint16(4), "VirtualQuantity": Uint64(256)},
        ),
        CIMInstance(
            "VRM_StorageAllocationSettingData",
            {"ResourceType": Uint16(17), "Capacity": Uint64(GIB)},
        ),
        CIMInstance(
            "VRM_EthernetPortAllocationSettingData",
            {"ResourceType": Uint16(10), "Connection": [NET]},
        ),
    ]
    rv, out = conn.InvokeMethod(
        "DefineSystem", vsms(), SystemSettings=system, ResourceSettings=resources
    )
    job = _job(conn, rv, out)
    (vm,) = conn.AssociatorNames(
        job.path, AssocClass="VRM_AffectedJobElement", ResultClass="VRM_ComputerSystem"
    )
    uuid = vm["Name"]
    ref = _ref(mgr, uuid)
    assert (ref.name, ref.config.hardware.numCPU, ref.config.hardware.memoryMB) == (
        "vrm-cim",
        2,
        256,
    )
    assert ref.config.annotation == "made over CIM"
    sd, rasds = _rasds(conn, vm)
    assert list(conn.GetInstance(sd)["Notes"]) == ["made over CIM"]
    assert [i["VirtualQuantity"] for i in rasds["VRM_ProcessorAllocationSettingData"]] == [2]
    assert [i["VirtualQuantity"] for i in rasds["VRM_MemoryAllocationSettingData"]] == [256]
    assert [i["Capacity"] for i in rasds["VRM_StorageAllocationSettingData"]] == [GIB]
    [nic] = rasds["VRM_EthernetPortAllocationSettingData"]
    assert list(nic["Connection"]) == [NET]
    vs_nics = [
        d for d in ref.config.hardware.device if isinstance(d, vim.vm.device.VirtualEthernetCard)
    ]
    assert [d.macAddress.lower() for d in vs_nics] == [nic["Address"]]

    # memory to 512 MiB, then a second disk of 2 GiB
    mem = rasds["VRM_MemoryAllocationSettingData"][0]
    mem["VirtualQuantity"] = Uint64(512)
    _job(conn, *conn.InvokeMethod("ModifyResourceSettings", vsms(), ResourceSettings=[mem]))
    assert _ref(mgr, uuid).config.hardware.memoryMB == 512
    add = CIMInstance(
        "VRM_StorageAllocationSettingData",
        {"ResourceType": Uint16(17), "Capacity": Uint64(2 * GIB)},
    )
    _job(
        conn,
        *conn.InvokeMethod(
            "AddResourceSettings", vsms(), AffectedConfiguration=sd, ResourceSettings=[add]
        ),
    )
    disks = [
        d.capacityInBytes
        for d in _ref(mgr, uuid).config.hardware.device
        if isinstance(d, vim.vm.device.VirtualDisk)
    ]
    assert sorted(disks) == [GIB, 2 * GIB]
    _, rasds = _rasds(conn, vm)
    assert sorted(i["Capacity"] for i in rasds["VRM_StorageAllocationSettingData"]) == [
        GIB,
        2 * GIB,
    ]
    assert [i["VirtualQuantity"] for i in rasds["VRM_MemoryAllocationSettingData"]] == [512]

    # remove the NIC
    _job(conn, *conn.InvokeMethod("RemoveResourceSettings", vsms(), ResourceSettings=[nic.path]))
    assert not [
        d
        for d in _ref(mgr, uuid).config.hardware.device
        if isinstance(d, vim.vm.device.VirtualEthernetCard)
    ]
    _, rasds = _rasds(conn, vm)
    assert "VRM_EthernetPortAllocationSettingData" not in rasds

    # rename it and replace its notes (one ReconfigVM_Task)
    sd_inst = conn.GetInstance(sd)
    sd_inst["ElementName"] = "vrm-cim-renamed"
    sd_inst["Notes"] = ["renamed over CIM"]
    _job(conn, *conn.InvokeMethod("ModifySystemSettings", vsms(), SystemSettings=sd_inst))
    ref = _ref(mgr, uuid)
    assert (ref.name, ref.config.annotation) == ("vrm-cim-renamed", "renamed over CIM")
    assert conn.GetInstance(vm)["ElementName"] == "vrm-cim-renamed"
    assert list(conn.GetInstance(sd)["Notes"]) == ["renamed over CIM"]

    _job(conn, *conn.InvokeMethod("DestroySystem", vsms(), AffectedSystem=vm))
    assert _ref(mgr, uuid) is None
    with pytest.raises(pywbem.CIMError) as info:
        conn.GetInstance(vm)
    assert info.value.status_code == pywbem.CIM_ERR_NOT_FOUND


def test_bad_request_changes_nothing_on_vcsim(env):
    conn, mgr = env
    before = {vm.uuid for vm in mgr.list_vms()}
    mem0 = CIMInstance(
        "VRM_MemoryAllocationSettingData", {"ResourceType": Uint16(4), "VirtualQuantity": Uint64(0)}
    )
    with pytest.raises(pywbem.CIMError) as info:
        conn.InvokeMethod(
            "DefineSystem",
            vsms(),
            SystemSettings=CIMInstance("VRM_VirtualSystemSettingData", {"ElementName": "bad"}),
            ResourceSettings=[mem0],
        )
    assert info.value.status_code == pywbem.CIM_ERR_INVALID_PARAMETER
    assert "ResourceSettings[0]" in info.value.status_description
    assert "VirtualQuantity" in info.value.status_description
    assert {vm.uuid for vm in mgr.list_vms()} == before


def test_requested_state_and_impossible_transitions_on_vcsim(env):
    """vSphere: reset only a powered-on VM, suspend only a powered-on one (vSphere API;
    vcsim itself would suspend a powered-off VM and reset a suspended one, so the check
    is vrmgmt's, made before any task). Refused requests answer 4097 at once, change
    nothing (pyVmomi's runtime.powerState) and leave RequestedState as it was."""
    conn, mgr = env
    (vm,) = [
        p
        for p in conn.EnumerateInstanceNames("VRM_ComputerSystem", namespace=NS)
        if conn.GetInstance(p)["BackendID"] == "vc"
    ][:1]
    uuid = vm["Name"]

    def rsc(state):
        rv, out = conn.InvokeMethod("RequestStateChange", vm, RequestedState=Uint16(state))
        if rv == 4096:
            _job(conn, rv, out)
            return 0
        return int(rv)

    def states():
        i = conn.GetInstance(vm, PropertyList=["EnabledState", "RequestedState"])
        return int(i["EnabledState"]), int(i["RequestedState"])

    def power():
        return str(_ref(mgr, uuid).runtime.powerState)

    assert states() == (2, 0) and power() == "poweredOn"
    assert rsc(9) == 1 and states() == (2, 0)  # no pause on vSphere: not supported
    assert rsc(6) == 0 and states() == (6, 6) and power() == "suspended"
    for impossible in (11, 10, 4):  # reset, reboot, shutdown of a suspended VM
        assert rsc(impossible) == 4097, impossible
    assert states() == (6, 6) and power() == "suspended"
    assert rsc(3) == 0 and states() == (3, 3) and power() == "poweredOff"
    for impossible in (6, 11, 10):  # suspend, reset, reboot of a VM that is off
        assert rsc(impossible) == 4097, impossible
    assert states() == (3, 3) and power() == "poweredOff"
    assert rsc(2) == 0 and states() == (2, 2) and power() == "poweredOn"
    assert rsc(11) == 0 and states() == (2, 11) and power() == "poweredOn"


def test_processor_reservation_limit_weight_on_vcsim(env):
    """vSphere config.cpuAllocation in MHz (AllocationUnits "hertz*10^6"): DefineSystem
    sets reservation, limit and custom shares (pyVmomi's own view); ModifyResourceSettings
    changes them and NULL unsets them (reservation 0, limit -1, normal shares); a limit
    in percent is refused by property name."""
    conn, mgr = env

    def proc(**extra):
        return CIMInstance(
            "VRM_ProcessorAllocationSettingData",
            {"ResourceType": Uint16(3), "VirtualQuantity": Uint64(2), **extra},
        )

    memory = CIMInstance(
        "VRM_MemoryAllocationSettingData",
        {"ResourceType": Uint16(4), "VirtualQuantity": Uint64(128)},
    )
    system = CIMInstance("VRM_VirtualSystemSettingData", {"ElementName": "vrm-cpu"})
    with pytest.raises(pywbem.CIMError) as info:
        conn.InvokeMethod(
            "DefineSystem",
            vsms(),
            SystemSettings=system,
            ResourceSettings=[proc(AllocationUnits="percent", Limit=Uint64(50)), memory],
        )
    assert info.value.status_code == pywbem.CIM_ERR_INVALID_PARAMETER
    assert "AllocationUnits" in info.value.status_description
    assert "hertz*10^6" in info.value.status_description

    resources = [
        proc(
            AllocationUnits="hertz*10^6",
            Reservation=Uint64(500),
            Limit=Uint64(1500),
            Weight=pywbem.Uint32(3000),
        ),
        memory,
    ]
    rv, out = conn.InvokeMethod(
        "DefineSystem", vsms(), SystemSettings=system, ResourceSettings=resources
    )
    job = _job(conn, rv, out)
    (vm,) = conn.AssociatorNames(
        job.path, AssocClass="VRM_AffectedJobElement", ResultClass="VRM_ComputerSystem"
    )
    uuid = vm["Name"]
    alloc = _ref(mgr, uuid).config.cpuAllocation
    assert (alloc.reservation, alloc.limit, alloc.shares.level, alloc.shares.shares) == (
        500,
        1500,
        "custom",
        3000,
    )
    _, rasds = _rasds(conn, vm)
    (p,) = rasds["VRM_ProcessorAllocationSettingData"]
    assert (p["AllocationUnits"], p["Reservation"], p["Limit"], p["Weight"]) == (
        "hertz*10^6",
        500,
        1500,
        3000,
    )
    p["Limit"] = Uint64(2000)
    _job(conn, *conn.InvokeMethod("ModifyResourceSettings", vsms(), ResourceSettings=[p]))
    alloc = _ref(mgr, uuid).config.cpuAllocation
    assert (alloc.reservation, alloc.limit, alloc.shares.shares) == (500, 2000, 3000)
    for name, cimtype in (("Reservation", "uint64"), ("Limit", "uint64"), ("Weight", "uint32")):
        p[name] = pywbem.CIMProperty(name, None, type=cimtype)
    _job(conn, *conn.InvokeMethod("ModifyResourceSettings", vsms(), ResourceSettings=[p]))
    alloc = _ref(mgr, uuid).config.cpuAllocation
    assert (alloc.reservation, alloc.limit, alloc.shares.level) == (0, -1, "normal")
    _, rasds = _rasds(conn, vm)
    (p,) = rasds["VRM_ProcessorAllocationSettingData"]
    assert (p["Reservation"], p["Limit"]) == (0, None)
    _job(conn, *conn.InvokeMethod("DestroySystem", vsms(), AffectedSystem=vm))


def test_define_from_a_reference_configuration_on_vcsim(env):
    """DefineSystem(SystemSettings = a name, ReferenceConfiguration = the simulator's VM's
    VSSD): vSphere's view of the new VM has the reference's vCPUs, memory and
    cpuAllocation, a new disk of each reference disk's size (its own file) and a NIC on
    the same network with another MAC."""
    conn, mgr = env
    (ref_vm,) = [
        p
        for p in conn.EnumerateInstanceNames("VRM_ComputerSystem", namespace=NS)
        if not conn.GetInstance(p)["ElementName"].startswith("vrm")  # the simulator's own
    ][:1]
    ref_sd, _ = _rasds(conn, ref_vm)
    ref = _ref(mgr, ref_vm["Name"])
    rv, out = conn.InvokeMethod(
        "DefineSystem",
        vsms(),
        SystemSettings=CIMInstance("VRM_VirtualSystemSettingData", {"ElementName": "vrm-copy"}),
        ReferenceConfiguration=ref_sd,
    )
    job = _job(conn, rv, out)
    (vm,) = conn.AssociatorNames(
        job.path, AssocClass="VRM_AffectedJobElement", ResultClass="VRM_ComputerSystem"
    )
    new = _ref(mgr, vm["Name"])
    assert new.name == "vrm-copy"
    assert (new.config.hardware.numCPU, new.config.hardware.memoryMB) == (
        ref.config.hardware.numCPU,
        ref.config.hardware.memoryMB,
    )

    def disks(r):
        return [d for d in r.config.hardware.device if isinstance(d, vim.vm.device.VirtualDisk)]

    def nics(r):
        return [
            d for d in r.config.hardware.device if isinstance(d, vim.vm.device.VirtualEthernetCard)
        ]

    def size(d):
        return d.capacityInBytes or d.capacityInKB * 1024

    assert [size(d) for d in disks(new)] == [size(d) for d in disks(ref)]
    assert {d.backing.fileName for d in disks(new)}.isdisjoint(
        {d.backing.fileName for d in disks(ref)}
    )
    assert len(nics(new)) == len(nics(ref)) >= 1
    assert {n.macAddress for n in nics(new)}.isdisjoint({n.macAddress for n in nics(ref)})
    _, rasds = _rasds(conn, vm)
    _, ref_rasds = _rasds(conn, ref_vm)
    assert [list(n["Connection"]) for n in rasds["VRM_EthernetPortAllocationSettingData"]] == [
        list(n["Connection"]) for n in ref_rasds["VRM_EthernetPortAllocationSettingData"]
    ]
    _job(conn, *conn.InvokeMethod("DestroySystem", vsms(), AffectedSystem=vm))
