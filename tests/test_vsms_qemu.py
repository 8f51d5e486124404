"""The virtual system management service over a real libvirtd + QEMU (TCG), through
the embedded server with pywbem (DSP1042 §8, DSP1057): a VM defined from a VSSD and
four RASDs (2 vCPUs, 256 MiB, a raw disk image made by the test, a user-mode NIC) is
started with RequestStateChange, powered off, given a second disk and more memory,
loses its NIC, is renamed and destroyed; after each step libvirt's own domain XML (read
with libvirt-python) agrees with what the CIM classes show. Needs root and the packages
in support.libvirtd.APT_PACKAGES."""

from __future__ import annotations

import os
import shutil
import tempfile
import time
import uuid as uuidlib
from pathlib import Path

import pytest
import pywbem
from lxml import etree
from pywbem import CIMInstance, CIMInstanceName, Uint16, Uint64

from support.inproc import inproc_server
from support.libvirtd import LibvirtdForTests, remove_domain

pytestmark = [pytest.mark.qemu, pytest.mark.timeout(180)]

URI = "qemu:///system"
NS = "root/virt"
MAC = "52:54:00:5e:70:01"


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    images = Path(tempfile.mkdtemp(prefix="vrmgmt-vsms-", dir="/var/tmp"))
    images.chmod(0o755)  # QEMU runs as libvirt-qemu: it must reach the images
    with LibvirtdForTests(URI) as daemon:
        state = tmp_path_factory.mktemp("vsms-qemu")
        conn = daemon.connect()
        try:
            backends = [{"id": "kvm", "type": "libvirt", "uri": URI, "timeout": 60}]
            with inproc_server(state, backends) as cim:
                yield cim, conn, images
        finally:
            for dom in conn.listAllDomains(0):
                if dom.name().startswith("vrmgmt-vsms-"):
                    remove_domain(conn, dom.UUIDString())
            conn.close()
            shutil.rmtree(images, ignore_errors=True)


def _image(images: Path, name: str, size: int = 16 << 20) -> str:
    path = images / name
    with open(path, "wb") as f:
        f.truncate(size)  # a sparse raw image
    os.chmod(path, 0o644)
    return str(path)


def vsms():
    return CIMInstanceName(
        "VRM_VirtualSystemManagementService",
        {
            "SystemCreationClassName": "VRM_HostSystem",
            "SystemName": "kvm",
            "CreationClassName": "VRM_VirtualSystemManagementService",
            "Name": "VirtualSystemManagementService",
        },
        namespace=NS,
    )


def _xml(conn, uuid):
    return etree.fromstring(conn.lookupByUUIDString(uuid).XMLDesc(0))


def _rasds(cim, vm):
    (sd,) = cim.AssociatorNames(vm, AssocClass="VRM_SettingsDefineState")
    out: dict[str, list] = {}
    for inst in cim.Associators(sd, AssocClass="VRM_VirtualSystemSettingDataComponent"):
        out.setdefault(inst.classname, []).append(inst)
    return sd, out


def test_define_start_modify_destroy_on_qemu(env):
    cim, conn, images = env
    name = f"vrmgmt-vsms-{uuidlib.uuid4().hex[:8]}"
    disk1 = _image(images, "disk1.img")
    rv, out = cim.InvokeMethod(
        "DefineSystem",
        vsms(),
        SystemSettings=CIMInstance(
            "VRM_VirtualSystemSettingData", {"ElementName": name, "VirtualSystemType": "QEMU"}
        ),
        ResourceSettings=[
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
                {"ResourceType": Uint16(17), "HostResource": [disk1]},
            ),
            CIMInstance(
                "VRM_EthernetPortAllocationSettingData",
                {"ResourceType": Uint16(10), "Address": MAC},
            ),
        ],
    )
    assert rv == 0
    vm = out["ResultingSystem"]
    uuid = vm["Name"]
    x = _xml(conn, uuid)
    assert (x.get("type"), x.findtext("name"), x.findtext("vcpu")) == ("qemu", name, "2")
    assert int(x.find("memory").text) == 256 * 1024
    assert [d.get("file") for d in x.iterfind("devices/disk/source")] == [disk1]
    assert [m.get("address") for m in x.iterfind("devices/interface/mac")] == [MAC]

    # start it, then power it off again (RequestedState 2, 3)
    for state in (2, 3):
        rv, _ = cim.InvokeMethod("RequestStateChange", vm, RequestedState=Uint16(state))
        assert rv == 0, state
        assert cim.GetInstance(vm)["EnabledState"] == state

    sd, rasds = _rasds(cim, vm)
    disk2 = _image(images, "disk2.img")
    rv, out = cim.InvokeMethod(
        "AddResourceSettings",
        vsms(),
        AffectedConfiguration=sd,
        ResourceSettings=[
            CIMInstance(
                "VRM_StorageAllocationSettingData",
                {"ResourceType": Uint16(17), "HostResource": [disk2]},
            )
        ],
    )
    assert rv == 0 and len(out["ResultingResourceSettings"]) == 1
    mem = rasds["VRM_MemoryAllocationSettingData"][0]
    mem["VirtualQuantity"] = Uint64(384)
    assert cim.InvokeMethod("ModifyResourceSettings", vsms(), ResourceSettings=[mem])[0] == 0
    [nic] = rasds["VRM_EthernetPortAllocationSettingData"]
    assert cim.InvokeMethod("RemoveResourceSettings", vsms(), ResourceSettings=[nic.path])[0] == 0
    x = _xml(conn, uuid)
    assert sorted(d.get("file") for d in x.iterfind("devices/disk/source")) == [disk1, disk2]
    assert int(x.find("currentMemory").text) == 384 * 1024
    assert x.find("devices/interface") is None
    _, rasds = _rasds(cim, vm)
    assert sorted(
        list(i["HostResource"])[0] for i in rasds["VRM_StorageAllocationSettingData"]
    ) == [
        disk1,
        disk2,
    ]
    assert [i["VirtualQuantity"] for i in rasds["VRM_MemoryAllocationSettingData"]] == [384]
    assert "VRM_EthernetPortAllocationSettingData" not in rasds

    sd_inst = cim.GetInstance(sd)
    sd_inst["ElementName"] = name + "-renamed"
    sd_inst["Notes"] = ["renamed over CIM"]
    assert cim.InvokeMethod("ModifySystemSettings", vsms(), SystemSettings=sd_inst)[0] == 0
    x = _xml(conn, uuid)
    assert (x.findtext("name"), x.findtext("description")) == (
        name + "-renamed",
        "renamed over CIM",
    )
    assert cim.GetInstance(vm)["ElementName"] == name + "-renamed"

    assert cim.InvokeMethod("DestroySystem", vsms(), AffectedSystem=vm)[0] == 0
    assert uuid not in [d.UUIDString() for d in conn.listAllDomains(0)]
    assert os.path.exists(disk1) and os.path.exists(disk2)  # images stay, as libvirt leaves them


def test_a_disk_image_that_does_not_exist_is_refused(env):
    cim, conn, images = env
    before = sorted(d.UUIDString() for d in conn.listAllDomains(0))
    missing = str(images / "no-such-disk.img")
    with pytest.raises(pywbem.CIMError) as info:
        cim.InvokeMethod(
            "DefineSystem",
            vsms(),
            SystemSettings=CIMInstance(
                "VRM_VirtualSystemSettingData", {"ElementName": "vrmgmt-vsms-missing"}
            ),
            ResourceSettings=[
                CIMInstance(
                    "VRM_MemoryAllocationSettingData",
                    {"ResourceType": Uint16(4), "VirtualQuantity": Uint64(64)},
                ),
                CIMInstance(
                    "VRM_StorageAllocationSettingData",
                    {"ResourceType": Uint16(17), "HostResource": [missing]},
                ),
            ],
        )
    assert info.value.status_code == pywbem.CIM_ERR_INVALID_PARAMETER
    text = info.value.status_description
    assert "ResourceSettings[1]" in text and "HostResource" in text and missing in text, text
    assert sorted(d.UUIDString() for d in conn.listAllDomains(0)) == before


def test_requested_state_and_impossible_transitions_on_qemu(env):
    """On QEMU a paused domain accepts virDomainReboot / virDomainReset and stays paused:
    RequestStateChange answers 4097 for both instead, leaves the VM paused (libvirt's own
    state) and keeps RequestedState 9; a VM saved while paused starts running."""
    import libvirt

    from support.libvirtd import running_tiny_vm

    cim, conn, _ = env
    with running_tiny_vm() as (tiny, _pid):
        dom = conn.lookupByUUIDString(tiny.uuid)
        vm = CIMInstanceName(
            "VRM_ComputerSystem",
            {"CreationClassName": "VRM_ComputerSystem", "Name": tiny.uuid},
            namespace=NS,
        )

        def rsc(state):
            """0 when done (a job, for a slow action like a managed save, waited for)."""
            rv, out = cim.InvokeMethod("RequestStateChange", vm, RequestedState=Uint16(state))
            if rv == 4096:
                for _ in range(600):
                    job = cim.GetInstance(out["Job"])
                    if job["JobState"] >= 7:
                        assert job["JobState"] == 7, job["ErrorDescription"]
                        return 0
                    time.sleep(0.1)
            return int(rv)

        def states():
            i = cim.GetInstance(vm, PropertyList=["EnabledState", "RequestedState"])
            return int(i["EnabledState"]), int(i["RequestedState"])

        assert states() == (2, 0)  # started behind vrmgmt's back: nothing requested
        assert rsc(11) == 0 and states() == (2, 11)
        assert dom.state()[0] == libvirt.VIR_DOMAIN_RUNNING
        assert rsc(9) == 0 and states() == (9, 9)
        for impossible in (10, 11, 4):  # reboot, reset, graceful shutdown while paused
            assert rsc(impossible) == 4097, impossible
            assert dom.state()[0] == libvirt.VIR_DOMAIN_PAUSED
            assert states() == (9, 9)
        assert rsc(6) == 0 and states() == (6, 6)  # managed save of the paused VM
        assert dom.hasManagedSaveImage(0) == 1
        assert rsc(9) == 4097 and rsc(10) == 4097 and states() == (6, 6)
        assert rsc(2) == 0 and states() == (2, 2)  # restored running, not paused
        assert dom.state()[0] == libvirt.VIR_DOMAIN_RUNNING
        assert rsc(3) == 0 and states() == (3, 3)
        for impossible in (10, 11, 9, 6):  # reboot, reset, pause, save of a VM that is off
            assert rsc(impossible) == 4097, impossible
        assert states() == (3, 3) and dom.state()[0] == libvirt.VIR_DOMAIN_SHUTOFF


def test_processor_limit_and_weight_on_qemu(env):
    """DefineSystem with Limit 50 (percent of a host CPU per vCPU) and Weight 512 writes
    <cputune> shares 512, period 100000, quota 50000 (libvirt's own XML); on the running
    VM ModifyResourceSettings changes the live values (virDomainGetSchedulerParameters)
    and the persistent definition, and NULL lifts the limit."""
    import libvirt

    cim, conn, _ = env
    name = f"vrmgmt-vsms-{uuidlib.uuid4().hex[:8]}"
    rv, out = cim.InvokeMethod(
        "DefineSystem",
        vsms(),
        SystemSettings=CIMInstance(
            "VRM_VirtualSystemSettingData", {"ElementName": name, "VirtualSystemType": "QEMU"}
        ),
        ResourceSettings=[
            CIMInstance(
                "VRM_ProcessorAllocationSettingData",
                {
                    "ResourceType": Uint16(3),
                    "VirtualQuantity": Uint64(1),
                    "AllocationUnits": "percent",
                    "Limit": Uint64(50),
                    "Weight": pywbem.Uint32(512),
                },
            ),
            CIMInstance(
                "VRM_MemoryAllocationSettingData",
                {"ResourceType": Uint16(4), "VirtualQuantity": Uint64(48)},
            ),
        ],
    )
    assert rv == 0
    vm = out["ResultingSystem"]
    x = _xml(conn, vm["Name"])
    tune = {c.tag: c.text for c in x.find("cputune")}
    assert tune == {"shares": "512", "period": "100000", "quota": "50000"}
    rv, _ = cim.InvokeMethod("RequestStateChange", vm, RequestedState=Uint16(2))
    assert rv == 0
    dom = conn.lookupByUUIDString(vm["Name"])
    live = dom.schedulerParametersFlags(libvirt.VIR_DOMAIN_AFFECT_LIVE)
    assert (live["cpu_shares"], live["vcpu_period"], live["vcpu_quota"]) == (512, 100000, 50000)

    _, rasds = _rasds(cim, vm)
    (p,) = rasds["VRM_ProcessorAllocationSettingData"]
    assert (p["Limit"], p["Weight"], p["Reservation"], p["AllocationUnits"]) == (
        50,
        512,
        None,
        "percent",
    )
    p["Limit"] = Uint64(20)
    p["Weight"] = pywbem.Uint32(300)
    rv, _ = cim.InvokeMethod("ModifyResourceSettings", vsms(), ResourceSettings=[p])
    assert rv == 0
    live = dom.schedulerParametersFlags(libvirt.VIR_DOMAIN_AFFECT_LIVE)
    assert (live["cpu_shares"], live["vcpu_quota"]) == (300, 20000)
    inactive = etree.fromstring(dom.XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE))
    assert inactive.findtext("cputune/quota") == "20000"
    assert inactive.findtext("cputune/shares") == "300"

    p["Limit"] = pywbem.CIMProperty("Limit", None, type="uint64")
    rv, _ = cim.InvokeMethod("ModifyResourceSettings", vsms(), ResourceSettings=[p])
    assert rv == 0
    live = dom.schedulerParametersFlags(libvirt.VIR_DOMAIN_AFFECT_LIVE)
    assert live["vcpu_quota"] < 0 or live["vcpu_quota"] >= 17592186044415  # unlimited
    _, rasds = _rasds(cim, vm)
    (p,) = rasds["VRM_ProcessorAllocationSettingData"]
    assert (p["Limit"], p["Weight"]) == (None, 300)
    assert (
        etree.fromstring(dom.XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE)).find("cputune/quota") is None
    )
    rv, _ = cim.InvokeMethod("DestroySystem", vsms(), AffectedSystem=vm)
    assert rv == 0
