"""VRM_LogEntry and VRM_LogManagesRecord through every host (DSP1010 Record Log): the
audit records as vrmgmt wrote them, newest first, each readable by its path, and the
log's records one association away; through `vrmgmt serve`: a pull enumeration reads a
bounded window, and only admins read the records (readers and operators are refused
GetInstance and see none in enumerations) while their own changes are recorded."""

from __future__ import annotations

import json

import cmpi_testkit as kit
import pytest
import pywbem

from support.classhosts import KINDS, open_host
from support.server import VrmServer
from support.testdriver import node_uri, write_node_xml
from vrmgmt import auth
from vrmgmt.audit import AuditLog

ENTRY = "VRM_LogEntry"
LOG_PATH = pywbem.CIMInstanceName("VRM_RecordLog", {"InstanceID": "vrmgmt:audit"}, kit.NS)
ACTIONS = ["CreateGroup", "AddMembers", "RequestStateChange", "DeleteGroup"]


@pytest.fixture(scope="module", params=KINDS)
def logged(request, tmp_path_factory):
    d = tmp_path_factory.mktemp(f"logentry-{request.param}")
    with open_host(request.param, d) as h:
        f = d / ("state" if request.param == "server" else "cmpi-state") / "audit.log"
        w = AuditLog(f)
        for i, action in enumerate(ACTIONS):
            w(
                user="ada",
                client="192.0.2.7",
                action=action,
                target=f"target-{i}",
                outcome="completed" if i != 2 else "refused: needs the operator role",
                params={"Password": "s3cret", "N": i},
            )
        yield h


def ours(entries):
    """The records the fixture wrote (the embedded server adds its own for changes)."""
    return [
        e
        for e in entries
        if e["MessageArguments"][4] != "attempted" and e["MessageArguments"][1] == "192.0.2.7"
    ]


def test_newest_first_with_the_record_data(logged):
    entries = ours(logged.enum(ENTRY))
    assert [e["MessageArguments"][2] for e in entries] == ACTIONS[::-1]
    ids = [int(e["RecordID"]) for e in logged.enum(ENTRY)]
    assert ids == sorted(ids, reverse=True)  # a larger RecordID is newer
    e = entries[1]  # the refused RequestStateChange
    assert e["MessageArguments"] == [
        "ada",
        "192.0.2.7",
        "RequestStateChange",
        "target-2",
        "refused: needs the operator role",
    ]
    assert e["Message"].startswith("RequestStateChange by ada from 192.0.2.7 on target-2")
    assert e["PerceivedSeverity"] == 3 and entries[0]["PerceivedSeverity"] == 2
    data = json.loads(e["RecordData"])
    assert data["params"] == {"Password": "(redacted)", "N": "2"}
    assert e["LogInstanceID"] == "vrmgmt:audit" and e["CreationTimeStamp"] is not None


def test_get_by_path_and_bad_paths(logged):
    e = ours(logged.enum(ENTRY))[0]
    assert logged.get(e.path)["Message"] == e["Message"]
    for iid in (f"vrmgmt:audit:{int(e['RecordID']) + 1}", "vrmgmt:audit:x", "other"):
        p = pywbem.CIMInstanceName(ENTRY, {"InstanceID": iid}, kit.NS)
        with pytest.raises(pywbem.CIMError) as err:
            logged.get(p)
        assert err.value.status_code == pywbem.CIM_ERR_NOT_FOUND, iid


def test_log_manages_its_records(logged):
    names = logged.assoc_names(LOG_PATH, assoc="VRM_LogManagesRecord")
    enumerated = [p["InstanceID"] for p in logged.enum_names(ENTRY)]
    assert [p["InstanceID"] for p in names] == enumerated
    first = ours(logged.enum(ENTRY))[0]
    [log] = logged.assoc_names(first.path, assoc="VRM_LogManagesRecord")
    assert log["InstanceID"] == "vrmgmt:audit"


# -- through `vrmgmt serve` with users of each role ----------------------------------------
ROLE_USERS = {"reader": "rita", "operator": "otto", "admin": "ada"}
PW = "pw-of-role-user"


@pytest.fixture(scope="module")
def srv(tmp_path_factory):
    d = tmp_path_factory.mktemp("audit-roles")
    write_node_xml(d / "n.xml", 2, seed=1, running_every=1)
    s = VrmServer(d, [{"id": "td", "type": "libvirt", "uri": node_uri(d / "n.xml")}])
    for role, name in ROLE_USERS.items():
        auth.set_password(s.state_dir / "users", name, PW, role)
    with s:
        yield s


def conn_as(srv, role):
    return pywbem.WBEMConnection(
        srv.url, (ROLE_USERS[role], PW), default_namespace="root/virt", timeout=60
    )


def test_only_admins_read_the_records_and_changes_are_recorded(srv):
    otto, rita, ada = conn_as(srv, "operator"), conn_as(srv, "reader"), conn_as(srv, "admin")
    [vm] = [v for v in otto.EnumerateInstances("VRM_ComputerSystem") if v["EnabledState"] == 2][:1]
    otto.InvokeMethod("RequestStateChange", vm.path, RequestedState=pywbem.Uint16(9))  # pause
    newest = ada.EnumerateInstances(ENTRY)[0]
    assert newest["MessageArguments"][0] == "otto"
    assert newest["MessageArguments"][2] == "RequestStateChange"
    assert newest["MessageArguments"][4].startswith("completed")
    for c in (otto, rita):
        assert c.EnumerateInstances(ENTRY) == []
        assert c.EnumerateInstances("CIM_RecordForLog") == []
        with pytest.raises(pywbem.CIMError) as err:
            c.GetInstance(newest.path)
        assert err.value.status_code == pywbem.CIM_ERR_ACCESS_DENIED
        with pytest.raises(pywbem.CIMError) as err:
            c.AssociatorNames(LOG_PATH, AssocClass="VRM_LogManagesRecord")
        assert err.value.status_code == pywbem.CIM_ERR_ACCESS_DENIED
        # the log itself (how many records) is readable by every role
        assert c.GetInstance(LOG_PATH)["CurrentNumberOfRecords"] >= 2


def test_a_pull_reads_a_window_of_a_large_log(srv):
    ada = conn_as(srv, "admin")
    w = AuditLog(srv.state_dir / "audit.log")
    for i in range(3000):
        w(user="ada", client="198.51.100.1", action=f"Act{i}", target="t", outcome="completed")
    r = ada.OpenEnumerateInstances(ENTRY, MaxObjectCount=25)
    assert [i["ElementName"] for i in r.instances] == [f"Act{i}" for i in range(2999, 2974, -1)]
    assert not r.eos
    nxt = ada.PullInstancesWithPath(r.context, MaxObjectCount=25)
    assert nxt.instances[0]["ElementName"] == "Act2974"
    ada.CloseEnumeration(nxt.context)
