"""VRM_ResourcePool, VRM_HostedResourcePool, VRM_AllocationCapabilities (with
VRM_ElementCapabilities) and VRM_SettingsDefineCapabilities with the template settings,
through every host (DSP1041 §7.1-7.2, DSP1043 §7, DSP1044/1045/1047/1050 §7.1): the
test node has 4 logical CPUs and 8 GiB, alpha and beta run (2 vCPUs, 512 MiB each), a
storage pool "images" of 100 GiB holds alpha's disk image and network "default" has
alpha's NIC."""

import cmpi_testkit as kit
import pytest
import pywbem
from pywbem import CIMInstanceName

from support.classcases import error_code, host_path

POOL = "VRM_ResourcePool"
CAPS = "VRM_AllocationCapabilities"
B = kit.BACKEND
PROC, MEM = f"{B}:pool/proc", f"{B}:pool/mem"
DISK, NET = f"{B}:pool/disk/{kit.POOL_NAME}", f"{B}:pool/net/{kit.NETWORK}"


def pool_path(iid: str) -> CIMInstanceName:
    return CIMInstanceName(POOL, {"InstanceID": iid}, namespace=kit.NS)


def caps_path(iid: str) -> CIMInstanceName:
    return CIMInstanceName(CAPS, {"InstanceID": iid + "/capabilities"}, namespace=kit.NS)


def test_one_primordial_pool_per_resource_type(host):
    pools = {p["InstanceID"]: p for p in host.enum(POOL)}
    assert set(pools) == {PROC, MEM, DISK, NET}
    want = {
        PROC: (3, "count", 4, 4),  # 4 logical CPUs; alpha and beta run 2 vCPUs each
        MEM: (4, "byte*2^20", 8192, 1024),  # 8 GiB; 512 MiB each running VM
        DISK: (17, "byte", kit.POOL_CAPACITY, 0),  # no volumes: all of it free
        NET: (10, "count", None, 1),  # alpha's NIC
    }
    for iid, (rtype, units, capacity, reserved) in want.items():
        p = pools[iid]
        assert (p["ResourceType"], p["AllocationUnits"]) == (rtype, units), iid
        assert (p["Capacity"], p["Reserved"]) == (capacity, reserved), iid
        assert p["Primordial"] is True and p["PoolID"] == iid
        assert list(p["OperationalStatus"]) == [2]
    assert pools[DISK]["ResourceSubType"] == "dir"
    assert pools[DISK]["ElementName"] == f"Storage pool {kit.POOL_NAME} of {B}"


def test_get_instance_and_not_found(host):
    assert host.get(pool_path(DISK))["Capacity"] == kit.POOL_CAPACITY
    for bad in (f"{B}:pool/disk/nope", f"{B}:pool/cpu", "nohost:pool/mem", "garbage"):
        assert error_code(lambda b=bad: host.get(pool_path(b))) == pywbem.CIM_ERR_NOT_FOUND, bad
    with pytest.raises(pywbem.CIMError) as exc:
        host.get(pool_path(f"{B}:pool/disk/nope"))
    assert "no resource pool with InstanceID" in exc.value.status_description


def test_hosted_resource_pool_both_ends_with_filters(host):
    got = host.assoc_names(host_path(), assoc="VRM_HostedResourcePool")
    assert sorted(p["InstanceID"] for p in got) == sorted([PROC, MEM, DISK, NET])
    assert host.assoc_names(host_path(), assoc="VRM_HostedResourcePool", role="PartComponent") == []
    assert host.assoc_names(host_path(), assoc="VRM_HostedResourcePool", result_class=CAPS) == []
    (back,) = host.assoc_names(
        pool_path(DISK), assoc="VRM_HostedResourcePool", result_role="GroupComponent"
    )
    assert back["Name"] == B
    (ref,) = host.refs(pool_path(MEM), result_class="VRM_HostedResourcePool")
    assert ref["GroupComponent"]["Name"] == B
    assert host.assoc_names(pool_path(f"{B}:pool/disk/nope"), assoc="VRM_HostedResourcePool") == []


def test_capabilities_of_each_pool(host):
    caps = {c["InstanceID"]: c for c in host.enum(CAPS)}
    assert set(caps) == {i + "/capabilities" for i in (PROC, MEM, DISK, NET)}
    assert caps[DISK + "/capabilities"]["ResourceType"] == 17
    assert caps[MEM + "/capabilities"]["SharingMode"] == 3
    (c,) = host.assocs(pool_path(NET), assoc="VRM_ElementCapabilities", result_class=CAPS)
    assert c["InstanceID"] == NET + "/capabilities"
    (p,) = host.assoc_names(
        caps_path(NET), assoc="VRM_ElementCapabilities", result_role="ManagedElement"
    )
    assert p.classname == POOL and p["InstanceID"] == NET
    assert (
        host.assoc_names(caps_path(NET), assoc="VRM_ElementCapabilities", role="ManagedElement")
        == []
    )
    assert error_code(lambda: host.get(caps_path(f"{B}:pool/disk/x"))) == pywbem.CIM_ERR_NOT_FOUND


def templates(host, iid):
    """{(ValueRole, ValueRange): template instance} of a pool's capabilities."""
    out = {}
    for link in host.refs(caps_path(iid), result_class="VRM_SettingsDefineCapabilities"):
        inst = host.get(link["PartComponent"])
        out[(link["ValueRole"], link["ValueRange"])] = inst
    return out


def test_templates_are_what_define_system_accepts(host):
    proc = templates(host, PROC)
    assert set(proc) == {(0, 0), (3, 1), (3, 2), (3, 3)}  # Default, Min, Max, Increment
    assert {k: t["VirtualQuantity"] for k, t in proc.items()} == {
        (0, 0): 1,
        (3, 1): 1,
        (3, 2): 4,
        (3, 3): 1,
    }
    assert {t.classname for t in proc.values()} == {"VRM_ProcessorAllocationSettingData"}
    mem = templates(host, MEM)
    assert mem[(3, 2)]["VirtualQuantity"] == 8192 and mem[(3, 2)]["AllocationUnits"] == "byte*2^20"
    assert mem[(0, 0)]["PoolID"] == MEM and mem[(0, 0)]["ResourceType"] == 4
    disk = templates(host, DISK)
    assert disk[(3, 2)]["Capacity"] == kit.POOL_CAPACITY  # the free space
    assert disk[(3, 2)].classname == "VRM_StorageAllocationSettingData"
    net = templates(host, NET)
    assert list(net) == [(0, 0)] and list(net[(0, 0)]["Connection"]) == [kit.NETWORK]


def test_template_to_capabilities_and_not_a_vm_setting(host):
    (link,) = host.refs(caps_path(MEM), result_class="VRM_SettingsDefineCapabilities")[:1]
    template = link["PartComponent"]
    (back,) = host.assoc_names(
        template, assoc="VRM_SettingsDefineCapabilities", result_role="GroupComponent"
    )
    assert back["InstanceID"] == MEM + "/capabilities"
    # templates are not among the VMs' settings
    assert template["InstanceID"] not in {
        i["InstanceID"] for i in host.enum("VRM_MemoryAllocationSettingData")
    }
    bad = CIMInstanceName(
        "VRM_MemoryAllocationSettingData",
        {"InstanceID": MEM + "/template/Biggest"},
        namespace=kit.NS,
    )
    assert error_code(lambda: host.get(bad)) == pywbem.CIM_ERR_NOT_FOUND
    wrong_class = CIMInstanceName(
        "VRM_ProcessorAllocationSettingData",
        {"InstanceID": MEM + "/template/Default"},
        namespace=kit.NS,
    )
    assert error_code(lambda: host.get(wrong_class)) == pywbem.CIM_ERR_NOT_FOUND
