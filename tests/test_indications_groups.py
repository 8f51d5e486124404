"""Group and membership indications (DSP1054; issue 15): pywbem's WBEMSubscriptionManager
subscribes to VRM_Group and VRM_MemberOfGroup life-cycle indications against the
embedded server, pywbem's WBEMListener receives. Groups created, renamed and deleted,
members added, moved and removed through VRM_GroupManagementService (and a group
changed by `vrmgmt groups import` in another process) arrive within 2 s as the right
indication class, with SourceInstance as GetInstance shows it."""

from __future__ import annotations

import subprocess
import sys

import pytest
from pywbem import CIMInstance, CIMInstanceName

from support.indications import collector, subscribe
from support.inproc import inproc_server

BACKENDS = [{"id": "test", "type": "libvirt", "uri": "test:///default"}]
WITHIN = 2.0  # seconds: the bound from change to indication
GROUPS = (
    "SELECT * FROM CIM_InstIndication WHERE SourceInstance ISA VRM_Group "
    "OR SourceInstance ISA VRM_MemberOfGroup"
)
ROOT = "vrmgmt:group:root"


@pytest.fixture
def served(tmp_path):
    with inproc_server(tmp_path / "state", BACKENDS) as conn:
        yield conn


def service(conn) -> CIMInstanceName:
    (svc,) = conn.EnumerateInstanceNames("VRM_GroupManagementService")
    return svc


def vm_and_host(conn) -> tuple[CIMInstanceName, CIMInstanceName]:
    (vm,) = [
        i.path
        for i in conn.EnumerateInstances("VRM_ComputerSystem", PropertyList=["ElementName"])
        if i["ElementName"] == "test"
    ]
    (host,) = conn.EnumerateInstanceNames("VRM_HostSystem")
    return vm, host


def call(conn, method: str, **params) -> dict:
    rv, out = conn.InvokeMethod(method, service(conn), **params)
    assert rv == 0, (method, rv)
    return out


def keys(p: CIMInstanceName) -> dict:
    """A path's class and keys, without host and namespace (they are not compared)."""
    return {"class": p.classname.lower(), **{k.lower(): v for k, v in p.keybindings.items()}}


def ends(inst: CIMInstance) -> tuple[str, dict]:
    """(InstanceID of the group, keys of the member) of a VRM_MemberOfGroup instance."""
    return inst["Collection"]["InstanceID"], keys(inst["Member"])


def is_group(cls: str, iid: str):
    return lambda i: (
        i.classname == cls
        and i["SourceInstance"].classname == "VRM_Group"
        and i["SourceInstance"]["InstanceID"] == iid
    )


def is_membership(cls: str, group_iid: str, member: CIMInstanceName):
    return lambda i: (
        i.classname == cls
        and i["SourceInstance"].classname == "VRM_MemberOfGroup"
        and ends(i["SourceInstance"]) == (group_iid, keys(member))
    )


def same_as_get_instance(conn, src: CIMInstance) -> None:
    """An embedded group as GetInstance shows it (every property, same values)."""
    got = conn.GetInstance(CIMInstanceName("VRM_Group", {"InstanceID": src["InstanceID"]}))
    assert src.path is None
    assert dict(src.items()) == {k: v for k, v in got.items() if v is not None or k in src}


def membership_of(conn, member: CIMInstanceName) -> CIMInstance:
    (ref,) = conn.References(member, ResultClass="VRM_MemberOfGroup", Role="Member")
    return ref


def test_group_and_membership_changes_through_the_service(served):
    conn = served
    vm, host = vm_and_host(conn)
    with collector() as lst, collector() as creations:
        subscribe(conn, lst.url, "groups", GROUPS)
        subscribe(
            conn,
            creations.url,
            "created",
            "SELECT * FROM CIM_InstCreation WHERE SourceInstance ISA VRM_Group",
            manager="second",
        )

        # created: the group, and its membership in the root group
        web = call(conn, "CreateGroup", GroupName="web", Description="front ends")["Group"]
        web_id = web["InstanceID"]
        ind = lst.wait_for(is_group("CIM_InstCreation", web_id), WITHIN)
        src = ind["SourceInstance"]
        assert src["ElementName"] == "web" and src["Description"] == "front ends"
        same_as_get_instance(conn, src)
        assert ind["SourceInstanceModelPath"].endswith(f'InstanceID="{web_id}"')
        lst.wait_for(is_membership("CIM_InstCreation", ROOT, web), WITHIN)
        only = creations.next(WITHIN)
        assert only.classname == "CIM_InstCreation"
        assert only["SourceInstance"]["InstanceID"] == web_id
        assert creations.drain() == []  # the membership is no VRM_Group

        # renamed: CIM_InstModification with the previous name
        g = conn.GetInstance(web)
        g["ElementName"] = "frontends"
        conn.ModifyInstance(g, PropertyList=["ElementName"])
        ind = lst.wait_for(is_group("CIM_InstModification", web_id), WITHIN)
        assert ind["SourceInstance"]["ElementName"] == "frontends"
        assert ind["PreviousInstance"]["ElementName"] == "web"
        assert "ElementName" in ind["ChangedPropertyNames"]
        same_as_get_instance(conn, ind["SourceInstance"])

        # a VM added: it leaves the root group (where it was through its host) for web
        call(conn, "AddMembers", Group=web, Members=[vm])
        gone = lst.wait_for(is_membership("CIM_InstDeletion", ROOT, vm), WITHIN)
        new = lst.wait_for(is_membership("CIM_InstCreation", web_id, vm), WITHIN)
        assert int(new["SequenceNumber"]) > int(gone["SequenceNumber"])
        now = membership_of(conn, vm)
        assert ends(new["SourceInstance"]) == ends(now)
        assert new["SourceInstance"]["Member"].classname == "VRM_ComputerSystem"

        # moved to a nested group: deletion from web, creation in db
        db = call(conn, "CreateGroup", GroupName="db", ParentGroup=web)["Group"]
        lst.wait_for(is_membership("CIM_InstCreation", web_id, db), WITHIN)
        call(conn, "MoveMembers", TargetGroup=db, Members=[vm])
        lst.wait_for(is_membership("CIM_InstDeletion", web_id, vm), WITHIN)
        lst.wait_for(is_membership("CIM_InstCreation", db["InstanceID"], vm), WITHIN)

        # the host added to web; the VM, taken out of db, follows its host into web
        call(conn, "AddMembers", Group=web, Members=[host])
        lst.wait_for(is_membership("CIM_InstDeletion", ROOT, host), WITHIN)
        lst.wait_for(is_membership("CIM_InstCreation", web_id, host), WITHIN)
        call(conn, "RemoveMembers", Group=db, Members=[vm])
        lst.wait_for(is_membership("CIM_InstDeletion", db["InstanceID"], vm), WITHIN)
        lst.wait_for(is_membership("CIM_InstCreation", web_id, vm), WITHIN)
        assert ends(membership_of(conn, vm))[0] == web_id

        # the host removed: it and its unlisted VM go back to the root group
        call(conn, "RemoveMembers", Group=web, Members=[host])
        got = [lst.next(WITHIN) for _ in range(4)]
        assert sorted(summary(i) for i in got) == sorted(
            [
                ("CIM_InstDeletion", web_id, _items(host)),
                ("CIM_InstDeletion", web_id, _items(vm)),
                ("CIM_InstCreation", ROOT, _items(host)),
                ("CIM_InstCreation", ROOT, _items(vm)),
            ]
        )

        # deleted (Force: db moves up to the root): memberships end, then the group
        last = conn.GetInstance(web)
        call(conn, "DeleteGroup", Group=web, Force=True)
        got = [lst.next(WITHIN) for _ in range(3)]
        assert sorted(summary(i) for i in got) == sorted(
            [
                ("CIM_InstDeletion", web_id, _items(db)),
                ("CIM_InstDeletion", ROOT, _items(web)),
                ("CIM_InstCreation", ROOT, _items(db)),
            ]
        )
        ind = lst.next(WITHIN)
        assert is_group("CIM_InstDeletion", web_id)(ind)
        assert dict(ind["SourceInstance"].items()) == {
            k: v for k, v in last.items() if v is not None or k in ind["SourceInstance"]
        }
        assert lst.drain() == []
        assert [i["SourceInstance"]["ElementName"] for i in creations.drain()] == ["db"]


def _items(p: CIMInstanceName) -> tuple:
    return tuple(sorted(keys(p).items()))


def summary(i: CIMInstance) -> tuple:
    """(indication class, group InstanceID, member keys) of a membership indication."""
    gid, _member = ends(i["SourceInstance"])
    return (i.classname, gid, _items(i["SourceInstance"]["Member"]))


def test_intrinsic_create_delete_and_refused_edits(served):
    conn = served
    vm, _host = vm_and_host(conn)
    with collector() as lst:
        subscribe(conn, lst.url, "groups", GROUPS)
        p = conn.CreateInstance(CIMInstance("VRM_Group", properties={"ElementName": "lab"}))
        lst.wait_for(is_group("CIM_InstCreation", p["InstanceID"]), WITHIN)
        lst.wait_for(is_membership("CIM_InstCreation", ROOT, p), WITHIN)
        assoc = CIMInstance("VRM_MemberOfGroup", properties={"Collection": p, "Member": vm})
        conn.CreateInstance(assoc)
        lst.wait_for(is_membership("CIM_InstDeletion", ROOT, vm), WITHIN)
        lst.wait_for(is_membership("CIM_InstCreation", p["InstanceID"], vm), WITHIN)
        # refused edits change nothing and send nothing
        with pytest.raises(Exception, match="not empty"):
            conn.DeleteInstance(p)
        with pytest.raises(Exception, match="already"):
            conn.CreateInstance(assoc)
        assert lst.drain(0.5) == []
        conn.DeleteInstance(membership_of(conn, vm).path)
        lst.wait_for(is_membership("CIM_InstDeletion", p["InstanceID"], vm), WITHIN)
        lst.wait_for(is_membership("CIM_InstCreation", ROOT, vm), WITHIN)
        conn.DeleteInstance(p)
        lst.wait_for(is_membership("CIM_InstDeletion", ROOT, p), WITHIN)
        lst.wait_for(is_group("CIM_InstDeletion", p["InstanceID"]), WITHIN)


def test_changes_written_by_another_process(served, tmp_path):
    """`vrmgmt groups import` (another process, the same state dir, as an SFCB provider
    process would write) renames one group, adds one and drops one."""
    conn = served
    with collector() as lst:
        subscribe(conn, lst.url, "groups", GROUPS)
        keep = call(conn, "CreateGroup", GroupName="keep")["Group"]
        drop = call(conn, "CreateGroup", GroupName="drop")["Group"]
        lst.wait_for(is_membership("CIM_InstCreation", ROOT, drop), WITHIN)
        kid, did = keep["InstanceID"].split(":")[-1], drop["InstanceID"].split(":")[-1]
        assert did != kid
        doc = tmp_path / "groups.xml"
        doc.write_text(
            "<groups version='1'>"
            f"<group id='{kid}' name='kept' description='renamed elsewhere'/>"
            "<group id='fresh1' name='fresh'/>"
            "</groups>"
        )
        state = tmp_path / "state"
        done = subprocess.run(
            [sys.executable, "-m", "vrmgmt", "groups", "import", str(doc), "--state-dir", state],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert done.returncode == 0, done.stderr
        fresh = "vrmgmt:group:fresh1"
        ind = lst.wait_for(is_group("CIM_InstCreation", fresh), WITHIN)
        assert ind["SourceInstance"]["ElementName"] == "fresh"
        ind = lst.wait_for(is_group("CIM_InstModification", keep["InstanceID"]), WITHIN)
        assert ind["SourceInstance"]["ElementName"] == "kept"
        assert ind["PreviousInstance"]["ElementName"] == "keep"
        assert set(ind["ChangedPropertyNames"]) >= {"ElementName", "Description"}
        same_as_get_instance(conn, ind["SourceInstance"])
        lst.wait_for(is_group("CIM_InstDeletion", drop["InstanceID"]), WITHIN)
