"""Snapshots over vSphere (govmomi's vcsim, no mocks) through the embedded server with
pywbem (docs/snapshots.md): every method is a vSphere task, so each answers 4096 and a
job; snapshots with and without memory are taken, read back as a tree, applied (pyVmomi
sees the applied snapshot as the VM's current one: vcsim restores nothing else) and
destroyed; an unknown snapshot answers CIM_ERR_NOT_FOUND naming it."""

from __future__ import annotations

import time

import pytest
import pywbem
from pywbem import CIMInstance, CIMInstanceName, Uint16

from support.vcsim import served_vcsim

pytestmark = [pytest.mark.vcsim, pytest.mark.timeout(240)]

NS = "root/virt"


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    with served_vcsim(tmp_path_factory.mktemp("snap-vc"), vms=1) as served:
        yield served[:2]


def service() -> CIMInstanceName:
    return CIMInstanceName(
        "VRM_VirtualSystemSnapshotService",
        {
            "SystemCreationClassName": "VRM_HostSystem",
            "SystemName": "vc",
            "CreationClassName": "VRM_VirtualSystemSnapshotService",
            "Name": "VirtualSystemSnapshotService",
        },
        namespace=NS,
    )


def finished(cim, rv, out, timeout=60.0):
    assert rv == 4096, rv
    deadline = time.monotonic() + timeout
    while True:
        job = cim.GetInstance(out["Job"])
        if job["JobState"] >= 7:
            assert job["JobState"] == 7, job["ErrorDescription"]
            return job
        assert time.monotonic() < deadline, job["JobState"]
        time.sleep(0.1)


def create(cim, vm, name, stype):
    rv, out = cim.InvokeMethod(
        "CreateSnapshot",
        service(),
        AffectedSystem=vm,
        SnapshotSettings=CIMInstance(
            "CIM_SettingData", {"ElementName": name, "Description": f"{name} notes"}
        ),
        SnapshotType=Uint16(stype),
    )
    job = finished(cim, rv, out)
    (snap,) = cim.AssociatorNames(
        job.path, AssocClass="VRM_AffectedJobElement", ResultClass="VRM_SnapshotSettingData"
    )
    return snap


def tree(cim, vm):
    out = {}
    for s in cim.Associators(vm, AssocClass="VRM_SnapshotOfVirtualSystem"):
        parents = cim.Associators(s.path, AssocClass="VRM_ParentChildSettingData", Role="Dependent")
        out[s["ElementName"]] = parents[0]["ElementName"] if parents else None
    return out


def current(cim, vm):
    found = cim.Associators(vm, AssocClass="VRM_LastAppliedSnapshot")
    return [s["ElementName"] for s in found]


def _ref(mgr, uuid):
    return mgr._session.content.searchIndex.FindByUuid(None, uuid, True, True)


def test_snapshots_on_vcsim(env):
    cim, mgr = env
    (vm,) = cim.EnumerateInstanceNames("VRM_ComputerSystem")
    uuid = vm["Name"]
    ref = _ref(mgr, uuid)
    assert ref.runtime.powerState == "poweredOn"
    (caps,) = cim.Associators(
        vm,
        AssocClass="VRM_ElementCapabilities",
        ResultClass="VRM_VirtualSystemSnapshotCapabilities",
    )
    assert sorted(caps["SnapshotTypesEnabled"]) == [2, 3]

    full = create(cim, vm, "full", 2)
    snap = cim.GetInstance(full)
    assert (snap["ElementName"], list(snap["Notes"])) == ("full", ["full notes"])
    assert snap["VirtualSystemIdentifier"] == uuid
    assert snap["InstanceID"] == f"vc:{uuid}/snapshot/{ref.snapshot.currentSnapshot._moId}"

    disks = create(cim, vm, "disks", 3)
    assert tree(cim, vm) == {"full": None, "disks": "full"}
    assert current(cim, vm) == ["disks"]

    # apply "full": vSphere's current snapshot is "full" again. (vcsim 0.24's
    # RevertToSnapshot_Task only moves snapshot.currentSnapshot: it restores neither the
    # power state nor the configuration, so that is all a test can see here; the
    # snapshot records the state a real vSphere returns to, EnabledStateWhenApplied.)
    rv, out = cim.InvokeMethod("ApplySnapshot", service(), Snapshot=full)
    finished(cim, rv, out)
    assert ref.snapshot.currentSnapshot._moId == snap["InstanceID"].rsplit("/", 1)[1]
    assert ref.snapshot.rootSnapshotList[0].state == "poweredOn"
    assert snap["EnabledStateWhenApplied"] == 2
    assert current(cim, vm) == ["full"]

    # a second branch from "full", then "disks" goes away; "full" keeps its other child
    create(cim, vm, "branch", 2)
    assert tree(cim, vm) == {"full": None, "disks": "full", "branch": "full"}
    rv, out = cim.InvokeMethod("DestroySnapshot", service(), AffectedSnapshot=disks)
    finished(cim, rv, out)
    assert tree(cim, vm) == {"full": None, "branch": "full"}
    names = [n.name for n in ref.snapshot.rootSnapshotList]
    assert names == ["full"]
    assert [c.name for c in ref.snapshot.rootSnapshotList[0].childSnapshotList] == ["branch"]

    with pytest.raises(pywbem.CIMError) as err:
        cim.InvokeMethod("DestroySnapshot", service(), AffectedSnapshot=disks)
    assert err.value.status_code == pywbem.CIM_ERR_NOT_FOUND
    assert "AffectedSnapshot" in err.value.status_description
