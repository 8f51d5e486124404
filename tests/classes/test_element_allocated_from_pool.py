"""VRM_ElementAllocatedFromPool and VRM_ResourceAllocationFromPool through every host
(DSP1041 §7.3-7.4, DSP1044/1045/1047/1050 §7.2): each VM's processors and memory come
from the host's processor and memory pools, alpha's disk from storage pool "images"
(its image is in the pool's directory; its CD-ROM from none), alpha's NIC from network
"default"; and DefineSystem refuses settings that exceed a pool (CIM_ERR_INVALID_PARAMETER,
4, naming the RASD, the property and the pool) and defines nothing then."""

import cmpi_testkit as kit
import pytest
import pywbem
from pywbem import CIMInstance, CIMInstanceName, Uint16, Uint64

from support.classcases import ALL_UUIDS, device_id, device_path, names

POOL = "VRM_ResourcePool"
EAFP = "VRM_ElementAllocatedFromPool"
RAFP = "VRM_ResourceAllocationFromPool"
B = kit.BACKEND
PROC, MEM = f"{B}:pool/proc", f"{B}:pool/mem"
DISK, NET = f"{B}:pool/disk/{kit.POOL_NAME}", f"{B}:pool/net/{kit.NETWORK}"
ALPHA = kit.VMS["alpha"][0]


def pool_path(iid: str) -> CIMInstanceName:
    return CIMInstanceName(POOL, {"InstanceID": iid}, namespace=kit.NS)


def rasd_path(cls: str, iid: str) -> CIMInstanceName:
    return CIMInstanceName(cls, {"InstanceID": iid}, namespace=kit.NS)


def test_devices_of_each_pool(host):
    procs = host.assoc_names(pool_path(PROC), assoc=EAFP)
    assert sorted(p["DeviceID"] for p in procs) == sorted(
        device_id(n, f"proc/{i}") for n in kit.VMS for i in range(2)
    )
    mems = host.assoc_names(pool_path(MEM), assoc=EAFP, result_class="VRM_Memory")
    assert sorted(p["DeviceID"] for p in mems) == sorted(device_id(n, "mem") for n in kit.VMS)
    (disk,) = host.assoc_names(pool_path(DISK), assoc=EAFP, result_role="Dependent")
    assert (disk.classname, disk["DeviceID"]) == ("VRM_LogicalDisk", device_id("alpha", "disk/vda"))
    (nic,) = host.assocs(pool_path(NET), assoc=EAFP)
    assert nic["DeviceID"] == device_id("alpha", f"nic/{kit.ALPHA_MAC}")
    assert host.assoc_names(pool_path(NET), assoc=EAFP, result_class="VRM_Memory") == []
    assert host.assoc_names(pool_path(NET), assoc=EAFP, role="Dependent") == []


def test_pool_of_each_device(host):
    cases = {
        ("VRM_Processor", "proc/1"): PROC,
        ("VRM_Memory", "mem"): MEM,
        ("VRM_LogicalDisk", "disk/vda"): DISK,
        ("VRM_NetworkPort", f"nic/{kit.ALPHA_MAC}"): NET,
    }
    for (cls, suffix), want in cases.items():
        got = host.assoc_names(device_path(cls, "alpha", suffix), assoc=EAFP, result_class=POOL)
        assert [p["InstanceID"] for p in got] == [want], cls
    # a CD-ROM is in no storage pool; a vCPU index the VM does not have is no device
    assert host.assoc_names(device_path("VRM_LogicalDisk", "alpha", "disk/hdc"), assoc=EAFP) == []
    assert host.assoc_names(device_path("VRM_Processor", "alpha", "proc/7"), assoc=EAFP) == []
    (ref,) = host.refs(device_path("VRM_Memory", "gamma", "mem"), result_class=EAFP)
    assert ref["Antecedent"]["InstanceID"] == MEM


def test_settings_of_each_pool_and_back(host):
    got = host.assoc_names(pool_path(MEM), assoc=RAFP)
    assert sorted(p["InstanceID"] for p in got) == sorted(f"{B}:{u}/mem" for u in ALL_UUIDS)
    (disk,) = host.assocs(pool_path(DISK), assoc=RAFP)
    assert disk.classname == "VRM_StorageAllocationSettingData"
    assert list(disk["HostResource"]) == [kit.ALPHA_DISK]
    (nic,) = host.assoc_names(pool_path(NET), assoc=RAFP, result_role="Dependent")
    assert nic["InstanceID"] == f"{B}:{ALPHA}/nic/{kit.ALPHA_MAC}"
    back = host.assoc_names(
        rasd_path("VRM_StorageAllocationSettingData", f"{B}:{ALPHA}/disk/vda"),
        assoc=RAFP,
        result_role="Antecedent",
    )
    assert [p["InstanceID"] for p in back] == [DISK]
    cdrom = rasd_path("VRM_StorageAllocationSettingData", f"{B}:{ALPHA}/disk/hdc")
    assert host.assoc_names(cdrom, assoc=RAFP) == []
    proc = rasd_path("VRM_ProcessorAllocationSettingData", f"{B}:{ALPHA}/proc")
    (ref,) = host.ref_names(proc, result_class=RAFP)
    assert ref["Antecedent"]["InstanceID"] == PROC
    assert host.assoc_names(proc, assoc=RAFP, role="Antecedent") == []


VSMS = CIMInstanceName(
    "VRM_VirtualSystemManagementService",
    {
        "SystemCreationClassName": "VRM_HostSystem",
        "SystemName": B,
        "CreationClassName": "VRM_VirtualSystemManagementService",
        "Name": "VirtualSystemManagementService",
    },
    namespace=kit.NS,
)


def rasds(vcpus=1, mib=256, disk_bytes=None, disk_pool=None):
    out = [
        CIMInstance(
            "VRM_ProcessorAllocationSettingData",
            {"ResourceType": Uint16(3), "VirtualQuantity": Uint64(vcpus)},
        ),
        CIMInstance(
            "VRM_MemoryAllocationSettingData",
            {
                "ResourceType": Uint16(4),
                "VirtualQuantity": Uint64(mib),
                "AllocationUnits": "byte*2^20",
            },
        ),
    ]
    if disk_bytes is not None:
        props = {
            "ResourceType": Uint16(17),
            "HostResource": [f"{kit.POOL_DIR}/delta.qcow2"],
            "Capacity": Uint64(disk_bytes),
        }
        if disk_pool is not None:
            props["PoolID"] = disk_pool
        out.append(CIMInstance("VRM_StorageAllocationSettingData", props))
    return out


def define(h, resources):
    system = CIMInstance("VRM_VirtualSystemSettingData", {"ElementName": "delta"})
    return h.invoke_typed(VSMS, "DefineSystem", SystemSettings=system, ResourceSettings=resources)


@pytest.mark.parametrize(
    "resources, words",
    [
        (rasds(mib=8193), ["ResourceSettings[1]", "VirtualQuantity", MEM, "8192 MiB"]),
        (rasds(vcpus=5), ["ResourceSettings[0]", "VirtualQuantity", PROC, "it has 4"]),
        (
            rasds(disk_bytes=kit.POOL_CAPACITY + 1),
            ["ResourceSettings[2]", "Capacity", f"storage pool '{kit.POOL_NAME}'", DISK, "free"],
        ),
        (rasds(disk_bytes=1, disk_pool=MEM), ["PoolID", "is not a storage pool"]),
        (rasds(disk_bytes=1, disk_pool=f"{B}:pool/disk/nope"), ["PoolID", "names no resource"]),
    ],
    ids=["memory", "vcpus", "disk", "wrong-pool-kind", "unknown-pool"],
)
def test_define_system_refuses_what_exceeds_a_pool(fresh_host, resources, words):
    with pytest.raises(pywbem.CIMError) as exc:
        define(fresh_host, resources)
    assert exc.value.status_code == pywbem.CIM_ERR_INVALID_PARAMETER == 4
    for w in words:
        assert w in exc.value.status_description, exc.value.status_description
    assert names(fresh_host.enum_names("VRM_ComputerSystem")) == ALL_UUIDS  # nothing defined


def test_define_system_within_the_pools_is_accepted(fresh_host):
    rv, outs = define(fresh_host, rasds(vcpus=4, mib=8192, disk_bytes=kit.POOL_CAPACITY))
    assert rv == 0
    vm = outs["ResultingSystem"]
    disks = fresh_host.assoc_names(pool_path(DISK), assoc=EAFP)
    assert {d["SystemName"] for d in disks} == {ALPHA, vm["Name"]}


def test_add_resource_settings_refuses_a_disk_beyond_the_pool(fresh_host):
    vssd = CIMInstanceName(
        "VRM_VirtualSystemSettingData", {"InstanceID": f"{B}:{kit.VMS['gamma'][0]}"}, kit.NS
    )
    disk = rasds(disk_bytes=kit.POOL_CAPACITY + 1)[2]
    with pytest.raises(pywbem.CIMError) as exc:
        fresh_host.invoke_typed(
            VSMS, "AddResourceSettings", AffectedConfiguration=vssd, ResourceSettings=[disk]
        )
    assert exc.value.status_code == pywbem.CIM_ERR_INVALID_PARAMETER
    assert "ResourceSettings[0]" in exc.value.status_description
    assert DISK in exc.value.status_description
    gamma = CIMInstanceName(
        "VRM_ComputerSystem",
        {"CreationClassName": "VRM_ComputerSystem", "Name": kit.VMS["gamma"][0]},
        kit.NS,
    )
    devices = fresh_host.assoc_names(gamma, assoc="VRM_SystemDevice")
    assert "VRM_LogicalDisk" not in {d.classname for d in devices}  # nothing added
