"""Migration over vSphere (govmomi's vcsim, no mocks) through the embedded server with
pywbem (docs/migration.md): a VM of the simulated cluster moves to the cluster's other
ESXi host through MigrateVirtualSystemToHost (RelocateVM_Task; the job is polled to
completion with PercentComplete 100; pyVmomi shows the VM on the new ESXi host, and its
VRM_HostedDependency still points at the vCenter's VRM_HostSystem, which holds both ESXi
hosts). Between the vCenter and a libvirt host the service answers CIM_ERR_NOT_SUPPORTED
naming both hosts, both ways."""

from __future__ import annotations

import time

import pytest
import pywbem
from pywbem import CIMInstance, CIMInstanceName, Uint16

from support.inproc import inproc_server
from support.vcsim import Vcsim, VcsimUnavailable, build_vcsim

pytestmark = [pytest.mark.vcsim, pytest.mark.timeout(240)]

NS = "root/virt"


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    from vrmgmt.backends import create_manager

    try:
        build_vcsim()
    except VcsimUnavailable as exc:
        pytest.skip(str(exc))
    d = tmp_path_factory.mktemp("mig-vc")
    with Vcsim(hosts=2, vms=1) as sim:
        mgr = create_manager("vc-check", "vsphere", **sim.manager_options())
        mgr.connect()
        try:
            backends = [
                sim.backend_config(d, "vc", timeout=20),
                {"id": "lv", "type": "libvirt", "uri": "test:///default"},
            ]
            with inproc_server(d / "state", backends) as conn:
                yield conn, mgr
        finally:
            mgr.close()


def service(backend="vc") -> CIMInstanceName:
    return CIMInstanceName(
        "VRM_VirtualSystemMigrationService",
        {
            "SystemCreationClassName": "VRM_HostSystem",
            "SystemName": backend,
            "CreationClassName": "VRM_VirtualSystemMigrationService",
            "Name": "VirtualSystemMigrationService",
        },
        namespace=NS,
    )


def host(backend) -> CIMInstanceName:
    return CIMInstanceName(
        "VRM_HostSystem", {"CreationClassName": "VRM_HostSystem", "Name": backend}, namespace=NS
    )


def vms_of(cim, backend):
    return cim.AssociatorNames(host(backend), AssocClass="VRM_HostedDependency")


def _esx_of(mgr, uuid):
    ref = mgr._session.content.searchIndex.FindByUuid(None, uuid, True, True)
    return ref.runtime.host.name, [h.name for h in ref.runtime.host.parent.host]


def test_vm_moves_between_esxi_hosts(env):
    cim, mgr = env
    (caps,) = cim.Associators(
        service(),
        AssocClass="VRM_ElementCapabilities",
        ResultClass="VRM_VirtualSystemMigrationCapabilities",
    )
    assert sorted(caps["AsynchronousMethodsSupported"]) == [2, 3]
    vm = vms_of(cim, "vc")[0]
    uuid = vm["Name"]
    here, cluster = _esx_of(mgr, uuid)
    (there,) = [h for h in cluster if h != here]

    rv, out = cim.InvokeMethod(
        "CheckVirtualSystemIsMigratableToHost", service(), ComputerSystem=vm, DestinationHost=there
    )
    assert (rv, out["IsMigratable"]) == (0, True)
    with pytest.raises(pywbem.CIMError) as err:
        cim.InvokeMethod(
            "CheckVirtualSystemIsMigratableToHost",
            service(),
            ComputerSystem=vm,
            DestinationHost=here,
        )
    assert err.value.status_code == pywbem.CIM_ERR_INVALID_PARAMETER
    assert "already" in err.value.status_description and here in err.value.status_description

    settings = CIMInstance(
        "CIM_VirtualSystemMigrationSettingData",
        {"MigrationType": Uint16(2), "Priority": Uint16(1)},
    )
    rv, out = cim.InvokeMethod(
        "MigrateVirtualSystemToHost",
        service(),
        ComputerSystem=vm,
        DestinationHost=there,
        MigrationSettingData=settings,
    )
    assert rv == 4096, rv
    deadline = time.monotonic() + 60
    while True:
        job = cim.GetInstance(out["Job"])
        if job["JobState"] >= 7:
            break
        assert time.monotonic() < deadline, job["JobState"]
        time.sleep(0.1)
    assert job["JobState"] == 7, job["ErrorDescription"]
    assert job["PercentComplete"] == 100
    assert there in job["Description"]
    affected = cim.AssociatorNames(job.path, AssocClass="VRM_AffectedJobElement")
    assert [p["Name"] for p in affected] == [uuid]

    assert _esx_of(mgr, uuid)[0] == there  # pyVmomi: the VM runs on the other ESXi host
    (dep,) = cim.AssociatorNames(vm, AssocClass="VRM_HostedDependency")
    assert dep["Name"] == "vc"  # the vCenter's host system holds both ESXi hosts
    assert cim.GetInstance(vm)["EnabledState"] == 2  # still running (vMotion)


def test_libvirt_and_vsphere_do_not_mix(env):
    cim, _ = env
    vc_vm = vms_of(cim, "vc")[0]
    lv_vm = vms_of(cim, "lv")[0]
    for svc, vm, dest in ((service("vc"), vc_vm, "lv"), (service("lv"), lv_vm, "vc")):
        for method in ("CheckVirtualSystemIsMigratableToHost", "MigrateVirtualSystemToHost"):
            with pytest.raises(pywbem.CIMError) as err:
                cim.InvokeMethod(method, svc, ComputerSystem=vm, DestinationHost=dest)
            text = err.value.status_description
            assert err.value.status_code == pywbem.CIM_ERR_NOT_SUPPORTED, text
            assert "not supported" in text and "vc (vsphere" in text and "lv (libvirt" in text
        with pytest.raises(pywbem.CIMError) as err:
            cim.InvokeMethod(
                "MigrateVirtualSystemToSystem", svc, ComputerSystem=vm, DestinationSystem=host(dest)
            )
        assert err.value.status_code == pywbem.CIM_ERR_NOT_SUPPORTED
    assert [p["Name"] for p in vms_of(cim, "vc")] == [vc_vm["Name"]]
