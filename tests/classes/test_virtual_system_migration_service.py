"""The migration classes through every host on the test driver (docs/migration.md):
VRM_VirtualSystemMigrationService (one per host, VRM_HostedService), its
VRM_VirtualSystemMigrationCapabilities through VRM_ElementCapabilities, the default
VRM_VirtualSystemMigrationSettingData, and the answers of
CheckVirtualSystemIsMigratableToHost / ToSystem and MigrateVirtualSystemToHost / ToSystem
to every impossible migration, each naming why: an unknown host, the VM's own host, a
target lacking the VM's network and storage pool, a host that cannot migrate (libvirt's
test driver), a bad MigrationType. Real migrations: tests/test_migration_vsphere.py
(vcsim) and tests/test_migration_qemu.py (two libvirtd).

Three test-driver hosts: tdhost (the usual node: alpha with a disk in pool 'images' and a
NIC on network 'default'), tdtwin (same pool and network, no VMs) and tdbare (neither)."""

import cmpi_testkit as kit
import pytest
import pywbem
from pywbem import CIMInstance, CIMInstanceName, Uint16

from support.classcases import host_path, vm_path
from support.classhosts import KINDS, open_host

SVC = "VRM_VirtualSystemMigrationService"
CAPS = "VRM_VirtualSystemMigrationCapabilities"
MSD = "VRM_VirtualSystemMigrationSettingData"
HOSTS = [kit.BACKEND, "tdtwin", "tdbare"]


def _bare_node(path):
    path.write_text(
        "<node><cpu><mhz>2400</mhz><model>x86_64</model><active>4</active><total>4</total>"
        "<nodes>1</nodes><sockets>1</sockets><cores>2</cores><threads>2</threads></cpu>"
        "<memory>8388608</memory></node>"
    )
    return path


def _twin_node(path):
    _bare_node(path)
    path.write_text(path.read_text().replace("</node>", kit.POOLS_XML + "</node>"))
    return path


@pytest.fixture(scope="module", params=KINDS)
def mhost(request, tmp_path_factory):
    d = tmp_path_factory.mktemp(f"mig-{request.param}")
    backends = [
        {"id": kit.BACKEND, "type": "libvirt", "uri": f"test://{kit.write_node_xml(d / 'n.xml')}"},
        {"id": "tdtwin", "type": "libvirt", "uri": f"test://{_twin_node(d / 'twin.xml')}"},
        {"id": "tdbare", "type": "libvirt", "uri": f"test://{_bare_node(d / 'bare.xml')}"},
    ]
    with open_host(request.param, d, backends=backends) as h:
        yield h


def svc_path(backend=kit.BACKEND) -> CIMInstanceName:
    return CIMInstanceName(
        SVC,
        {
            "SystemCreationClassName": "VRM_HostSystem",
            "SystemName": backend,
            "CreationClassName": SVC,
            "Name": "VirtualSystemMigrationService",
        },
        namespace=kit.NS,
    )


def settings(mtype=2, priority=0):
    return CIMInstance(
        "CIM_VirtualSystemMigrationSettingData",
        {"MigrationType": Uint16(mtype), "Priority": Uint16(priority)},
    )


def _refused(fn, code, *words):
    with pytest.raises(pywbem.CIMError) as err:
        fn()
    assert err.value.status_code == code, err.value
    for w in words:
        assert w in err.value.status_description, err.value.status_description
    return err.value.status_description


def check(h, vm, dest, **more):
    return h.invoke_typed(
        svc_path(),
        "CheckVirtualSystemIsMigratableToHost",
        ComputerSystem=vm_path(vm),
        DestinationHost=dest,
        **more,
    )


def migrate(h, vm, dest, **more):
    return h.invoke_typed(
        svc_path(),
        "MigrateVirtualSystemToHost",
        ComputerSystem=vm_path(vm),
        DestinationHost=dest,
        **more,
    )


def test_one_service_per_host_with_capabilities(mhost):
    services = mhost.enum(SVC)
    assert sorted(s["SystemName"] for s in services) == sorted(HOSTS)
    assert {s["EnabledState"] for s in services} == {2}
    hosted = mhost.assoc_names(host_path(), assoc="VRM_HostedService", result_class=SVC)
    assert [p["SystemName"] for p in hosted] == [kit.BACKEND]
    back = mhost.assoc_names(svc_path("tdtwin"), assoc="VRM_HostedService", role="Dependent")
    assert [p["Name"] for p in back] == ["tdtwin"]
    (caps,) = mhost.assocs(svc_path(), assoc="VRM_ElementCapabilities", result_class=CAPS)
    assert caps["InstanceID"] == f"{kit.BACKEND}:VirtualSystemMigrationCapabilities"
    # the test driver cannot migrate: the checks answer, no migration is offered
    assert sorted(caps["SynchronousMethodsSupported"]) == [4, 5]
    assert list(caps["AsynchronousMethodsSupported"]) == []
    assert list(caps["DestinationHostFormatsSupported"]) == [2]
    back = mhost.assoc_names(caps.path, assoc="VRM_ElementCapabilities", role="Capabilities")
    assert [p["SystemName"] for p in back] == [kit.BACKEND]
    defaults = {i["InstanceID"]: i for i in mhost.enum(MSD)}
    d = defaults[f"{kit.BACKEND}:VirtualSystemMigrationSettingData"]
    assert (d["MigrationType"], d["Priority"]) == (2, 0)
    assert len(defaults) == len(HOSTS)


def test_unknown_and_own_host(mhost):
    text = _refused(
        lambda: check(mhost, "alpha", "nosuch"),
        pywbem.CIM_ERR_INVALID_PARAMETER,
        "DestinationHost",
        "'nosuch'",
    )
    assert "tdtwin" in text and "tdbare" in text  # the hosts it could name
    _refused(
        lambda: migrate(mhost, "alpha", "nosuch"),
        pywbem.CIM_ERR_INVALID_PARAMETER,
        "'nosuch'",
    )
    _refused(
        lambda: check(mhost, "alpha", kit.BACKEND),
        pywbem.CIM_ERR_INVALID_PARAMETER,
        "already",
        kit.BACKEND,
    )
    missing = "5f0c2d3e-1a2b-4c5d-8e9f-0000000000ff"
    _refused(
        lambda: check(mhost, missing, "tdtwin"), pywbem.CIM_ERR_NOT_FOUND, "ComputerSystem", missing
    )


def test_target_lacking_network_and_pool(mhost):
    text = _refused(
        lambda: check(mhost, "alpha", "tdbare"),
        pywbem.CIM_ERR_FAILED,
        "tdbare",
        "network 'default'",
        f"storage pool '{kit.POOL_NAME}'",
        kit.ALPHA_DISK,
    )
    assert "alpha" in text
    _refused(lambda: migrate(mhost, "alpha", "tdbare"), pywbem.CIM_ERR_FAILED, "network 'default'")


def test_test_driver_cannot_migrate(mhost):
    # tdtwin has alpha's network and pool: what is left is that the test driver cannot
    for fn in (
        lambda: check(mhost, "alpha", "tdtwin"),
        lambda: migrate(mhost, "alpha", "tdtwin"),
        lambda: mhost.invoke_typed(
            svc_path(),
            "CheckVirtualSystemIsMigratableToSystem",
            ComputerSystem=vm_path("beta"),
            DestinationSystem=host_path("tdbare"),  # beta has no devices: nothing lacks
        ),
        lambda: mhost.invoke_typed(
            svc_path(),
            "MigrateVirtualSystemToSystem",
            ComputerSystem=vm_path("gamma"),
            DestinationSystem=host_path("tdtwin"),
        ),
    ):
        _refused(fn, pywbem.CIM_ERR_NOT_SUPPORTED, "cannot migrate VMs", "test")
    # nothing moved
    names = sorted(p["Name"] for p in mhost.assoc_names(host_path(), assoc="VRM_HostedDependency"))
    assert names == sorted(u for u, _ in kit.VMS.values())


def test_bad_settings(mhost):
    _refused(
        lambda: check(mhost, "beta", "tdtwin", MigrationSettingData=settings(7)),
        pywbem.CIM_ERR_INVALID_PARAMETER,
        "MigrationType",
        "7",
    )
    _refused(
        lambda: check(mhost, "beta", "tdtwin", MigrationSettingData=settings(4)),
        pywbem.CIM_ERR_NOT_SUPPORTED,
        "4 (Restart)",
    )
    _refused(
        lambda: mhost.invoke_typed(
            svc_path(),
            "CheckVirtualSystemIsMigratableToSystem",
            ComputerSystem=vm_path("beta"),
            DestinationSystem=vm_path("gamma"),
        ),
        pywbem.CIM_ERR_INVALID_PARAMETER,
        "DestinationSystem",
    )
