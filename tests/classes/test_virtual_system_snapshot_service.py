"""The snapshot classes through every host on the test driver (docs/snapshots.md):
VRM_VirtualSystemSnapshotService (one per host, VRM_HostedService, its
VRM_VirtualSystemSnapshotServiceCapabilities through VRM_ElementCapabilities),
VRM_VirtualSystemSnapshotCapabilities per VM, the snapshots as VRM_SnapshotSettingData
with VRM_SnapshotOfVirtualSystem, VRM_LastAppliedSnapshot and the tree
(VRM_ParentChildSettingData); CreateSnapshot / ApplySnapshot / DestroySnapshot and
their answers to bad input (unknown VM or snapshot: CIM_ERR_NOT_FOUND, a SnapshotType
outside 2/3: CIM_ERR_INVALID_PARAMETER, each with a description naming it).

The test node's alpha has two snapshots: base (root) and patched (its child, current)."""

import cmpi_testkit as kit
import pytest
import pywbem
from pywbem import CIMInstance, CIMInstanceName, Uint16

from support.classcases import error_code, host_path, vm_path

VSSS = "VRM_VirtualSystemSnapshotService"
SCAPS = "VRM_VirtualSystemSnapshotServiceCapabilities"
VCAPS = "VRM_VirtualSystemSnapshotCapabilities"
SNAP = "VRM_SnapshotSettingData"
OF = "VRM_SnapshotOfVirtualSystem"
LAST = "VRM_LastAppliedSnapshot"
TREE = "VRM_ParentChildSettingData"
ALPHA = kit.VMS["alpha"][0]


def vsss_path(backend=kit.BACKEND) -> CIMInstanceName:
    return CIMInstanceName(
        VSSS,
        {
            "SystemCreationClassName": "VRM_HostSystem",
            "SystemName": backend,
            "CreationClassName": VSSS,
            "Name": "VirtualSystemSnapshotService",
        },
        namespace=kit.NS,
    )


def snap_path(name, snapshot) -> CIMInstanceName:
    iid = f"{kit.BACKEND}:{kit.VMS[name][0]}/snapshot/{snapshot}"
    return CIMInstanceName(SNAP, {"InstanceID": iid}, namespace=kit.NS)


def snapshot_names(h, vm):
    return sorted(i["ElementName"] for i in h.assocs(vm_path(vm), assoc=OF))


def tree(h, vm):
    """{snapshot name: parent name or None} read through the associations only."""
    out = {}
    for s in h.assocs(vm_path(vm), assoc=OF):
        parents = h.assocs(s.path, assoc=TREE, role="Dependent")
        out[s["ElementName"]] = parents[0]["ElementName"] if parents else None
    return out


def current(h, vm):
    found = h.assocs(vm_path(vm), assoc=LAST)
    assert len(found) <= 1
    return found[0]["ElementName"] if found else None


def create(h, vm, name, stype=2):
    params = {"AffectedSystem": vm_path(vm), "SnapshotType": Uint16(stype)}
    if name is not None:
        params["SnapshotSettings"] = CIMInstance("CIM_SettingData", {"ElementName": name})
    return h.invoke_typed(vsss_path(), "CreateSnapshot", **params)


def test_one_service_per_host_with_capabilities(host):
    (svc,) = host.enum(VSSS)
    assert (svc["SystemName"], svc["Name"], svc["EnabledState"]) == (
        kit.BACKEND,
        "VirtualSystemSnapshotService",
        2,
    )
    hosted = host.assoc_names(host_path(), assoc="VRM_HostedService", result_class=VSSS)
    assert [p["Name"] for p in hosted] == ["VirtualSystemSnapshotService"]
    back = host.assoc_names(svc.path, assoc="VRM_HostedService", role="Dependent")
    assert [p["Name"] for p in back] == [kit.BACKEND]
    (caps,) = host.assocs(svc.path, assoc="VRM_ElementCapabilities", result_class=SCAPS)
    assert sorted(caps["SnapshotTypesSupported"]) == [2, 3]
    # the test driver answers at once: all three methods synchronous
    assert sorted(caps["SynchronousMethodsSupported"]) == [2, 3, 4]
    assert list(caps["AynchronousMethodsSupported"]) == []


def test_vm_snapshot_capabilities(host):
    (caps,) = host.assocs(vm_path("gamma"), assoc="VRM_ElementCapabilities", result_class=VCAPS)
    assert sorted(caps["SnapshotTypesEnabled"]) == [2, 3]
    assert caps["GuestOSNotificationEnabled"] is False
    assert len(host.enum_names(VCAPS)) == len(kit.VMS)
    back = host.assoc_names(caps.path, assoc="VRM_ElementCapabilities", role="Capabilities")
    assert [p["Name"] for p in back] == [kit.VMS["gamma"][0]]


def test_snapshots_of_the_node_as_a_tree(host):
    snaps = {i["ElementName"]: i for i in host.enum(SNAP)}
    assert sorted(snaps) == ["base", "patched"]
    base = snaps["base"]
    assert base["InstanceID"] == f"{kit.BACKEND}:{ALPHA}/snapshot/base"
    assert base["VirtualSystemIdentifier"] == ALPHA
    assert base["VirtualSystemType"] == "Test"
    assert list(base["Notes"]) == ["clean install"]
    assert base["CreationTime"].datetime.timestamp() == 1700000000
    assert base["EnabledStateWhenApplied"] == 2
    assert host.get(base.path)["ElementName"] == "base"
    assert tree(host, "alpha") == {"base": None, "patched": "base"}
    children = host.assocs(base.path, assoc=TREE, role="Antecedent")
    assert [c["ElementName"] for c in children] == ["patched"]
    assert current(host, "alpha") == "patched"
    (vm,) = host.assoc_names(snaps["patched"].path, assoc=LAST)
    assert vm["Name"] == ALPHA
    (vm,) = host.assoc_names(base.path, assoc=OF)
    assert vm["Name"] == ALPHA
    assert snapshot_names(host, "beta") == []
    assert len(host.enum_names(OF)) == 2 and len(host.enum_names(TREE)) == 1
    assert len(host.enum_names(LAST)) == 1


def test_unknown_snapshot_and_service_are_not_found(host):
    assert error_code(lambda: host.get(snap_path("alpha", "nosuch"))) == pywbem.CIM_ERR_NOT_FOUND
    assert error_code(lambda: host.get(vsss_path("elsewhere"))) == pywbem.CIM_ERR_NOT_FOUND


def test_create_apply_destroy(fresh_host):
    h = fresh_host
    rv, out = create(h, "beta", "first")
    assert rv == 0 and out.get("Job") is None
    first = out["ResultingSnapshot"]
    assert h.get(first)["ElementName"] == "first"
    assert current(h, "beta") == "first"
    rv, out = create(h, "beta", "second", stype=3)
    assert rv == 0
    assert tree(h, "beta") == {"first": None, "second": "first"}
    assert current(h, "beta") == "second"
    # back to the first, and a new branch from there
    rv, out = h.invoke_typed(vsss_path(), "ApplySnapshot", Snapshot=first)
    assert rv == 0
    assert current(h, "beta") == "first"
    rv, _ = create(h, "beta", "third")
    assert tree(h, "beta") == {"first": None, "second": "first", "third": "first"}
    # destroying the root moves its children up
    rv, out = h.invoke_typed(vsss_path(), "DestroySnapshot", AffectedSnapshot=first)
    assert rv == 0
    assert tree(h, "beta") == {"second": None, "third": None}
    assert error_code(lambda: h.get(first)) == pywbem.CIM_ERR_NOT_FOUND


def test_create_without_settings_names_the_snapshot(fresh_host):
    rv, out = create(fresh_host, "gamma", None)
    assert rv == 0
    assert fresh_host.get(out["ResultingSnapshot"])["ElementName"].startswith("snapshot-")


def _refused(fn, code, *words):
    with pytest.raises(pywbem.CIMError) as err:
        fn()
    assert err.value.status_code == code, err.value
    for w in words:
        assert w in err.value.status_description, err.value.status_description


def test_bad_input(host):
    missing = "5f0c2d3e-1a2b-4c5d-8e9f-0000000000ff"
    _refused(
        lambda: create(host, missing, "x"), pywbem.CIM_ERR_NOT_FOUND, "AffectedSystem", missing
    )
    _refused(
        lambda: create(host, "alpha", "x", stype=7),
        pywbem.CIM_ERR_INVALID_PARAMETER,
        "SnapshotType",
        "7",
    )
    _refused(
        lambda: host.invoke_typed(
            vsss_path(), "ApplySnapshot", Snapshot=snap_path("alpha", "nosuch")
        ),
        pywbem.CIM_ERR_NOT_FOUND,
        "Snapshot",
        "nosuch",
    )
    _refused(
        lambda: host.invoke_typed(
            vsss_path(), "DestroySnapshot", AffectedSnapshot=snap_path("beta", "base")
        ),
        pywbem.CIM_ERR_NOT_FOUND,
        "AffectedSnapshot",
        "beta",
    )
    _refused(
        lambda: create(host, "alpha", "a/b"),
        pywbem.CIM_ERR_INVALID_PARAMETER,
        "SnapshotSettings.ElementName",
    )
    assert tree(host, "alpha") == {"base": None, "patched": "base"}


def test_snapshots_are_virtual_system_settings(host):
    """A client asking for CIM_VirtualSystemSettingData gets the VMs' settings and the
    snapshots; VRM_VirtualSystemSettingData alone stays the VMs' current settings."""
    deep = sorted(
        (p.classname, p["InstanceID"]) for p in host.enum_names("CIM_VirtualSystemSettingData")
    )
    snaps = [iid for cls, iid in deep if cls == SNAP]
    assert snaps == sorted(
        [f"{kit.BACKEND}:{ALPHA}/snapshot/base", f"{kit.BACKEND}:{ALPHA}/snapshot/patched"]
    )
    assert len([cls for cls, _ in deep if cls == "VRM_VirtualSystemSettingData"]) == len(kit.VMS)
    assert len(host.enum_names("VRM_VirtualSystemSettingData")) == len(kit.VMS)
