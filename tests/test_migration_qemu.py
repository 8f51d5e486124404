"""Live migration of a running QEMU (TCG) VM between two libvirtd daemons on this machine
through the embedded server with pywbem (docs/migration.md): the system daemon of
support.libvirtd (backend "kvm") and a second one of support.peer_libvirtd (backend
"peer", its own sockets, directories and host_uuid). MigrateVirtualSystemToHost answers
4096 and a job; polled to completion it has PercentComplete 100, and libvirt-python shows
the VM running on the peer and gone from the system daemon; its VRM_HostedDependency
points at the peer. Then MigrateVirtualSystemToSystem with MigrationType 3 (paused for
the copy, resumed on the target) brings it back. Needs root and the packages in
support.libvirtd.APT_PACKAGES."""

from __future__ import annotations

import os
import time

import libvirt
import pytest
from pywbem import CIMInstance, CIMInstanceName, Uint16

from support.inproc import inproc_server
from support.libvirtd import LibvirtdForTests, remove_domain, tiny_vm_xml
from support.peer_libvirtd import PeerLibvirtd

pytestmark = [pytest.mark.qemu, pytest.mark.timeout(300)]

URI = "qemu:///system"
NS = "root/virt"


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    with LibvirtdForTests(URI) as daemon, PeerLibvirtd() as peer:
        conn = daemon.connect()
        pconn = libvirt.open(peer.uri)
        dom = conn.defineXML(tiny_vm_xml(f"vrmgmt-test-{os.getpid()}-mig"))
        uuid = dom.UUIDString()
        dom.create()
        try:
            backends = [
                {"id": "kvm", "type": "libvirt", "uri": URI, "timeout": 60},
                {"id": "peer", "type": "libvirt", "uri": peer.uri, "timeout": 60},
            ]
            with inproc_server(tmp_path_factory.mktemp("mig-qemu"), backends) as cim:
                yield cim, conn, pconn, uuid
        finally:
            for c in (conn, pconn):
                remove_domain(c, uuid)
            pconn.close()
            conn.close()


def service(backend) -> CIMInstanceName:
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


def vm_path(uuid) -> CIMInstanceName:
    return CIMInstanceName(
        "VRM_ComputerSystem", {"CreationClassName": "VRM_ComputerSystem", "Name": uuid}, NS
    )


def test_live_migration_between_two_daemons(env):
    cim, conn, pconn, uuid = env
    vm = vm_path(uuid)
    (caps,) = cim.Associators(
        service("kvm"),
        AssocClass="VRM_ElementCapabilities",
        ResultClass="VRM_VirtualSystemMigrationCapabilities",
    )
    assert sorted(caps["AsynchronousMethodsSupported"]) == [2, 3]
    rv, out = cim.InvokeMethod(
        "CheckVirtualSystemIsMigratableToHost",
        service("kvm"),
        ComputerSystem=vm,
        DestinationHost="peer",
    )
    assert (rv, out["IsMigratable"]) == (0, True)

    settings = CIMInstance("CIM_VirtualSystemMigrationSettingData", {"MigrationType": Uint16(2)})
    started = time.monotonic()
    rv, out = cim.InvokeMethod(
        "MigrateVirtualSystemToHost",
        service("kvm"),
        ComputerSystem=vm,
        DestinationHost="peer",
        MigrationSettingData=settings,
    )
    assert rv == 4096, rv
    while True:
        job = cim.GetInstance(out["Job"])
        if job["JobState"] >= 7:
            break
        assert time.monotonic() - started < 180, job["JobState"]
        time.sleep(0.2)
    assert job["JobState"] == 7, job["ErrorDescription"]
    assert job["PercentComplete"] == 100
    assert "live" in job["Description"]

    # libvirt: running on the peer, gone from the system daemon
    moved = pconn.lookupByUUIDString(uuid)
    assert moved.isActive() and moved.isPersistent()
    with pytest.raises(libvirt.libvirtError):
        conn.lookupByUUIDString(uuid)
    # CIM: the VM's host is now the peer
    (dep,) = cim.AssociatorNames(vm, AssocClass="VRM_HostedDependency")
    assert dep["Name"] == "peer"
    assert cim.GetInstance(vm)["EnabledState"] == 2
    print(f"live migration took {time.monotonic() - started:.1f} s")


def host(backend) -> CIMInstanceName:
    return CIMInstanceName(
        "VRM_HostSystem", {"CreationClassName": "VRM_HostSystem", "Name": backend}, NS
    )


def test_back_to_the_system_daemon_paused_and_resumed(env):
    """MigrateVirtualSystemToSystem with MigrationType 3 (Resume): QEMU pauses the guest
    for the copy and the target resumes it; NewComputerSystem names the VM."""
    cim, conn, pconn, uuid = env
    vm = vm_path(uuid)
    assert pconn.lookupByUUIDString(uuid).isActive()  # where the test above left it
    rv, out = cim.InvokeMethod(
        "MigrateVirtualSystemToSystem",
        service("peer"),
        ComputerSystem=vm,
        DestinationSystem=host("kvm"),
        MigrationSettingData=CIMInstance(
            "CIM_VirtualSystemMigrationSettingData", {"MigrationType": Uint16(3)}
        ),
    )
    assert rv == 4096, rv
    deadline = time.monotonic() + 180
    while (job := cim.GetInstance(out["Job"]))["JobState"] < 7:
        assert time.monotonic() < deadline
        time.sleep(0.2)
    assert job["JobState"] == 7, job["ErrorDescription"]
    assert "paused and resumed" in job["Description"]
    back = conn.lookupByUUIDString(uuid)
    assert back.isActive() and back.state()[0] == libvirt.VIR_DOMAIN_RUNNING
    with pytest.raises(libvirt.libvirtError):
        pconn.lookupByUUIDString(uuid)
    (dep,) = cim.AssociatorNames(vm, AssocClass="VRM_HostedDependency")
    assert dep["Name"] == "kvm"
