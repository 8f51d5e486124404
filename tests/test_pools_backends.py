"""Resource pools over real backends, through the embedded server with pywbem (DSP1041,
DSP1043, DSP1047): the pools agree with what the hypervisor itself says (``virsh
pool-info --bytes`` and libvirt-python on the test driver and on libvirtd + QEMU,
pyVmomi's datastore summaries on vcsim), what a VM uses is allocated from them, and
DefineSystem refuses a disk larger than its storage pool's free space, naming the pool,
and defines nothing."""

from __future__ import annotations

import contextlib
import shutil
import subprocess
import tempfile
import uuid as uuidlib
from pathlib import Path

import libvirt
import pytest
import pywbem
from pyVmomi import vim
from pywbem import CIMInstance, CIMInstanceName, Uint16, Uint64

from support import testdriver
from support.inproc import inproc_server

NS = "root/virt"


def vsms(backend: str) -> CIMInstanceName:
    return CIMInstanceName(
        "VRM_VirtualSystemManagementService",
        {
            "SystemCreationClassName": "VRM_HostSystem",
            "SystemName": backend,
            "CreationClassName": "VRM_VirtualSystemManagementService",
            "Name": "VirtualSystemManagementService",
        },
        namespace=NS,
    )


def pools_of(conn, backend: str) -> dict[str, CIMInstance]:
    host = CIMInstanceName(
        "VRM_HostSystem", {"CreationClassName": "VRM_HostSystem", "Name": backend}, namespace=NS
    )
    return {p["InstanceID"]: p for p in conn.Associators(host, AssocClass="VRM_HostedResourcePool")}


def virsh_pool_info(uri: str, name: str) -> dict[str, str]:
    out = subprocess.run(
        ["virsh", "-c", uri, "pool-info", "--bytes", name],
        check=True,
        capture_output=True,
        text=True,
        timeout=60,
    ).stdout
    return {k.strip(): v.strip() for k, _, v in (ln.partition(":") for ln in out.splitlines()) if v}


def rasds(mib: int, disk: str | None = None, capacity: int | None = None, network=None):
    out = [
        CIMInstance(
            "VRM_ProcessorAllocationSettingData",
            {"ResourceType": Uint16(3), "VirtualQuantity": Uint64(1)},
        ),
        CIMInstance(
            "VRM_MemoryAllocationSettingData",
            {"ResourceType": Uint16(4), "VirtualQuantity": Uint64(mib)},
        ),
    ]
    if disk is not None or capacity is not None:
        props: dict = {"ResourceType": Uint16(17)}
        if disk is not None:
            props["HostResource"] = [disk]
        if capacity is not None:
            props["Capacity"] = Uint64(capacity)
        out.append(CIMInstance("VRM_StorageAllocationSettingData", props))
    if network is not None:
        out.append(
            CIMInstance(
                "VRM_EthernetPortAllocationSettingData",
                {"ResourceType": Uint16(10), "Connection": [network]},
            )
        )
    return out


def refused(conn, backend: str, name: str, resources) -> str:
    """DefineSystem's CIM_ERR_INVALID_PARAMETER description."""
    with pytest.raises(pywbem.CIMError) as exc:
        conn.InvokeMethod(
            "DefineSystem",
            vsms(backend),
            SystemSettings=CIMInstance("VRM_VirtualSystemSettingData", {"ElementName": name}),
            ResourceSettings=resources,
        )
    assert exc.value.status_code == pywbem.CIM_ERR_INVALID_PARAMETER
    return exc.value.status_description


# -- the test driver -----------------------------------------------------------------------
def test_test_driver_pools_agree_with_virsh_and_libvirt(tmp_path):
    node = tmp_path / "node.xml"
    domains = testdriver.write_node_xml(node, 4, running_every=2, memory_kib=16 << 20)
    uri = f"test://{node}"
    lv = libvirt.open(uri)
    backends = [{"id": "td", "type": "libvirt", "uri": uri}]
    with inproc_server(tmp_path / "state", backends) as conn:
        pools = pools_of(conn, "td")
        disk = pools[f"td:pool/disk/{testdriver.POOL_NAME}"]
        info = virsh_pool_info(uri, testdriver.POOL_NAME)
        assert disk["Capacity"] == int(info["Capacity"].split()[0]) == testdriver.POOL_CAPACITY
        free = int(info["Available"].split()[0])
        assert disk["Capacity"] - disk["Reserved"] == free
        pool = lv.storagePoolLookupByName(testdriver.POOL_NAME)
        assert disk["ResourceSubType"] == "dir" and pool.info()[1] == disk["Capacity"]
        mem = pools["td:pool/mem"]
        assert mem["Capacity"] == lv.getInfo()[1] == 16 << 10  # MiB
        running = [d for d in lv.listAllDomains(libvirt.VIR_CONNECT_LIST_DOMAINS_ACTIVE)]
        assert mem["Reserved"] == sum(d.info()[2] // 1024 for d in running)
        assert pools["td:pool/proc"]["Reserved"] == sum(d.info()[3] for d in running)
        net = pools["td:pool/net/default"]
        assert net["Reserved"] == len(domains)  # each domain has one NIC on it
        assert [n.name() for n in lv.listAllNetworks(0)] == ["default"]
        # every domain's disk is an image in the pool's directory
        disks = conn.AssociatorNames(disk.path, AssocClass="VRM_ElementAllocatedFromPool")
        assert sorted(d["SystemName"] for d in disks) == sorted(u for _, u in domains)
        # too large for the pool's free space: refused, naming the pool; nothing defined
        why = refused(
            conn,
            "td",
            "big",
            rasds(256, "/var/lib/libvirt/images/big.img", free + 1),
        )
        assert f"storage pool '{testdriver.POOL_NAME}'" in why and "Capacity" in why, why
        assert len(lv.listAllDomains(0)) == len(domains)
        assert "big" not in [d.name() for d in libvirt.open(uri).listAllDomains(0)]
    lv.close()


# -- libvirtd + QEMU -----------------------------------------------------------------------
@pytest.mark.qemu
@pytest.mark.timeout(240)
def test_qemu_storage_pool_agrees_with_virsh_and_refuses_oversized_disks(tmp_path):
    from support.libvirtd import LibvirtdForTests, remove_domain

    uri = "qemu:///system"
    images = Path(tempfile.mkdtemp(prefix="vrmgmt-pool-", dir="/var/tmp"))
    images.chmod(0o755)
    name = f"vrmgmt-pool-{uuidlib.uuid4().hex[:8]}"
    with LibvirtdForTests(uri) as daemon:
        lv = daemon.connect()
        pool = lv.storagePoolDefineXML(
            f"<pool type='dir'><name>{name}</name><target><path>{images}</path></target></pool>"
        )
        defined = []
        try:
            pool.create(0)
            image = images / "disk0.img"
            with open(image, "wb") as f:
                f.truncate(8 << 20)
            pool.refresh(0)
            backends = [{"id": "kvm", "type": "libvirt", "uri": uri, "timeout": 60}]
            with inproc_server(tmp_path / "state", backends) as conn:
                pools = pools_of(conn, "kvm")
                mine = pools[f"kvm:pool/disk/{name}"]
                info = virsh_pool_info(uri, name)  # libvirt's values as of the refresh
                assert mine["Capacity"] == int(info["Capacity"].split()[0])
                free = int(info["Available"].split()[0])
                assert mine["Capacity"] - mine["Reserved"] == free
                assert mine["ResourceSubType"] == "dir"
                state, capacity, _alloc, available = pool.info()
                assert (capacity, available) == (mine["Capacity"], free)
                # host memory and processors as libvirt reports them
                assert pools["kvm:pool/mem"]["Capacity"] == lv.getInfo()[1]
                assert pools["kvm:pool/proc"]["Capacity"] == lv.getInfo()[2]
                nets = {n.name() for n in lv.listAllNetworks(0)}
                assert {i for i in pools if ":pool/net/" in i} == {
                    f"kvm:pool/net/{n}" for n in nets
                }
                before = {d.UUIDString() for d in lv.listAllDomains(0)}
                why = refused(conn, "kvm", name + "-big", rasds(64, str(image), free + (1 << 30)))
                assert f"storage pool '{name}'" in why and "free" in why, why
                assert {d.UUIDString() for d in lv.listAllDomains(0)} == before
                # a VM whose disk is in the pool: its disk is allocated from it
                rv, outs = conn.InvokeMethod(
                    "DefineSystem",
                    vsms("kvm"),
                    SystemSettings=CIMInstance(
                        "VRM_VirtualSystemSettingData", {"ElementName": name + "-vm"}
                    ),
                    ResourceSettings=rasds(64, str(image), 8 << 20),
                )
                assert rv == 0
                defined.append(outs["ResultingSystem"]["Name"])
                got = conn.AssociatorNames(mine.path, AssocClass="VRM_ResourceAllocationFromPool")
                assert [(p.classname, p["InstanceID"].split(":", 1)[1]) for p in got] == [
                    ("VRM_StorageAllocationSettingData", f"{defined[0]}/disk/vda")
                ]
        finally:
            for uuid in defined:
                remove_domain(lv, uuid)
            with contextlib.suppress(libvirt.libvirtError):
                pool.destroy()
            pool.undefine()
            lv.close()
            shutil.rmtree(images, ignore_errors=True)


# -- vcsim ---------------------------------------------------------------------------------
@pytest.mark.vcsim
@pytest.mark.timeout(240)
def test_vcsim_datastores_and_port_groups_agree_with_pyvmomi(tmp_path):
    from support.vcsim import served_vcsim

    with served_vcsim(tmp_path, vms=1) as (conn, mgr, _sim):
        content = mgr._session.content
        view = content.viewManager.CreateContainerView(content.rootFolder, [vim.Datastore], True)
        summaries = {ds.summary.name: ds.summary for ds in view.view}
        view.Destroy()
        view = content.viewManager.CreateContainerView(content.rootFolder, [vim.Network], True)
        networks = {n.name for n in view.view}
        view.Destroy()
        pools = pools_of(conn, "vc")
        stores = {i.split("/", 2)[2]: p for i, p in pools.items() if ":pool/disk/" in i}
        assert set(stores) == set(summaries)
        for name, p in stores.items():
            s = summaries[name]
            assert p["Capacity"] == s.capacity, name
            # free space is the simulator's host file system's: allow for other writers
            assert abs((p["Capacity"] - p["Reserved"]) - s.freeSpace) < (64 << 20), name
            assert p["ResourceSubType"] == s.type
        assert {i.split("/", 2)[2] for i in pools if ":pool/net/" in i} == networks
        name = sorted(stores)[0]
        free = stores[name]["Capacity"] - stores[name]["Reserved"]
        vms_before = set(conn.EnumerateInstanceNames("VRM_ComputerSystem"))
        why = refused(conn, "vc", "too-big", rasds(64, f"[{name}]", free + (1 << 40)))
        assert f"storage pool '{name}'" in why and f"vc:pool/disk/{name}" in why, why
        assert set(conn.EnumerateInstanceNames("VRM_ComputerSystem")) == vms_before
        # the simulator's VM: its virtual disk comes from the datastore its file is on
        (vm,) = vms_before
        ref = _ref_of(mgr, vm["Name"])
        files = [
            d.backing.fileName
            for d in ref.config.hardware.device
            if isinstance(d, vim.vm.device.VirtualDisk)
        ]
        assert files
        from_pools = set()
        for d in conn.AssociatorNames(vm, AssocClass="VRM_SystemDevice"):
            if d.classname == "VRM_LogicalDisk":
                for p in conn.AssociatorNames(d, AssocClass="VRM_ElementAllocatedFromPool"):
                    from_pools.add(p["InstanceID"])
        assert from_pools == {f"vc:pool/disk/{f[1:].partition(']')[0]}" for f in files}


def _ref_of(mgr, uuid):
    return mgr._session.content.searchIndex.FindByUuid(None, uuid, True, True)
