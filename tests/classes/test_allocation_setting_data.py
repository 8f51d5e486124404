"""The resource allocation settings of each VM through both hosts (DSP1041 §7.2,
DSP1044/1045/1047/1050): VRM_ProcessorAllocationSettingData,
VRM_MemoryAllocationSettingData, VRM_StorageAllocationSettingData,
VRM_EthernetPortAllocationSettingData, and VRM_VirtualSystemSettingDataComponent from
the VM's VRM_VirtualSystemSettingData to them."""

import cmpi_testkit as kit
import pywbem

from support.classcases import error_code

PROC = "VRM_ProcessorAllocationSettingData"
MEM = "VRM_MemoryAllocationSettingData"
DISK = "VRM_StorageAllocationSettingData"
NIC = "VRM_EthernetPortAllocationSettingData"
COMPONENT = "VRM_VirtualSystemSettingDataComponent"


def _id(name: str, suffix: str) -> str:
    return f"{kit.BACKEND}:{kit.VMS[name][0]}/{suffix}"


def _path(cls: str, name: str, suffix: str) -> pywbem.CIMInstanceName:
    return pywbem.CIMInstanceName(cls, {"InstanceID": _id(name, suffix)}, namespace=kit.NS)


def test_processor_and_memory_per_vm(host):
    procs = {i["InstanceID"]: i for i in host.enum(PROC)}
    assert set(procs) == {_id(n, "proc") for n in kit.VMS}
    p = procs[_id("alpha", "proc")]
    assert (p["ResourceType"], p["VirtualQuantity"]) == (3, 2)
    mems = {i["InstanceID"]: i for i in host.enum(MEM)}
    m = mems[_id("beta", "mem")]
    assert (m["ResourceType"], m["AllocationUnits"], m["VirtualQuantity"]) == (4, "byte*2^20", 512)


def test_disks_and_dvd(host):
    disks = {i["InstanceID"]: i for i in host.enum(DISK)}
    assert set(disks) == {_id("alpha", "disk/vda"), _id("alpha", "disk/hdc")}
    vda = disks[_id("alpha", "disk/vda")]
    assert vda["ResourceType"] == 17
    assert list(vda["HostResource"]) == [kit.ALPHA_DISK]
    assert vda["AddressOnParent"] == "vda" and vda["ResourceSubType"] == "virtio"
    assert vda["Capacity"] > 0
    hdc = disks[_id("alpha", "disk/hdc")]
    assert hdc["ResourceType"] == 16 and hdc["HostResource"] is None


def test_nic(host):
    nics = host.enum(NIC)
    assert [(i["InstanceID"], i["ResourceType"], i["Address"]) for i in nics] == [
        (_id("alpha", f"nic/{kit.ALPHA_MAC}"), 10, kit.ALPHA_MAC)
    ]
    assert list(nics[0]["Connection"]) == ["default"]


def test_get_instance_and_not_found(host):
    assert host.get(_path(DISK, "alpha", "disk/vda"))["ElementName"] == "vda"
    assert host.get(_path(MEM, "gamma", "mem"))["VirtualQuantity"] == 512
    for cls, suffix in ((DISK, "disk/vdz"), (NIC, "nic/52:54:00:00:00:99"), (PROC, "mem")):
        p = _path(cls, "alpha", suffix)
        assert error_code(lambda p=p: host.get(p)) == pywbem.CIM_ERR_NOT_FOUND, suffix


def test_component_from_both_ends(host):
    vssd = pywbem.CIMInstanceName(
        "VRM_VirtualSystemSettingData",
        {"InstanceID": f"{kit.BACKEND}:{kit.VMS['alpha'][0]}"},
        namespace=kit.NS,
    )
    parts = host.assoc_names(vssd, assoc=COMPONENT, role="GroupComponent")
    assert sorted((p.classname, p["InstanceID"]) for p in parts) == sorted(
        [
            (PROC, _id("alpha", "proc")),
            (MEM, _id("alpha", "mem")),
            (DISK, _id("alpha", "disk/vda")),
            (DISK, _id("alpha", "disk/hdc")),
            (NIC, _id("alpha", f"nic/{kit.ALPHA_MAC}")),
        ]
    )
    only_disks = host.assocs(vssd, assoc=COMPONENT, result_class=DISK)
    assert sorted(i["ElementName"] for i in only_disks) == ["hdc", "vda"]
    up = host.assoc_names(_path(NIC, "alpha", f"nic/{kit.ALPHA_MAC}"), assoc=COMPONENT)
    assert [p["InstanceID"] for p in up] == [vssd["InstanceID"]]
    assert host.assoc_names(_path(NIC, "alpha", "nic/52:54:00:00:00:99"), assoc=COMPONENT) == []
    assert host.assoc_names(vssd, assoc=COMPONENT, result_role="GroupComponent") == []


def _key(i):
    return (i.classname, i["InstanceID"])


def test_base_class_enumeration_is_its_subclasses(fresh_host):
    """An enumeration of CIM_ResourceAllocationSettingData (one listing shared by the
    four classes within the operation) gives what the four classes give one by one, and
    the next enumeration sees a change made in between (nothing is kept across
    operations)."""
    h = fresh_host
    whole = {_key(i): i for i in h.enum("CIM_ResourceAllocationSettingData")}
    parts = {_key(i): i for cls in (PROC, MEM, DISK, NIC) for i in h.enum(cls)}
    assert whole.keys() == parts.keys() and len(whole) == 3 + 3 + 2 + 1
    for k, inst in whole.items():
        assert dict(inst) == dict(parts[k]), k
    assert whole[(PROC, _id("gamma", "proc"))]["VirtualQuantity"] == 2
    p = h.get(_path(PROC, "gamma", "proc"))
    p["VirtualQuantity"] = pywbem.Uint64(4)
    vsms = pywbem.CIMInstanceName(
        "VRM_VirtualSystemManagementService",
        {
            "SystemCreationClassName": "VRM_HostSystem",
            "SystemName": kit.BACKEND,
            "CreationClassName": "VRM_VirtualSystemManagementService",
            "Name": "VirtualSystemManagementService",
        },
        namespace=kit.NS,
    )
    assert h.invoke_typed(vsms, "ModifyResourceSettings", ResourceSettings=[p])[0] == 0
    again = {_key(i): i for i in h.enum("CIM_ResourceAllocationSettingData")}
    assert again[(PROC, _id("gamma", "proc"))]["VirtualQuantity"] == 4
