"""VRM_RecordLog and VRM_UseOfLog through every host (DSP1010 Record Log): vrmgmt's
audit log is one record log whose record count follows <state>/audit.log, which never
overwrites and is not cleared through CIM (ClearLog: 1, Not Supported, and the records
stay), and which each host uses (VRM_UseOfLog)."""

from __future__ import annotations

import cmpi_testkit as kit
import pytest
import pywbem

from support.classhosts import KINDS, host_path, open_host
from vrmgmt.audit import AuditLog, count

LOG = "VRM_RecordLog"
LOG_PATH = pywbem.CIMInstanceName(LOG, {"InstanceID": "vrmgmt:audit"}, kit.NS)


def audit_file(kind, d):
    """Where the host's providers find the audit log (its configured state dir)."""
    return d / ("state" if kind == "server" else "cmpi-state") / "audit.log"


@pytest.fixture(scope="module", params=KINDS)
def logged(request, tmp_path_factory):
    """A host and its audit log, with three records written by vrmgmt's audit writer."""
    d = tmp_path_factory.mktemp(f"recordlog-{request.param}")
    with open_host(request.param, d) as h:
        f = audit_file(request.param, d)
        w = AuditLog(f)
        for action in ("CreateGroup", "AddMembers", "DeleteGroup"):
            w(user="ada", client="192.0.2.7", action=action, target="g", outcome="completed")
        yield h, f


def test_one_log_counting_the_records(logged):
    host, f = logged
    [log] = host.enum(LOG)
    assert log["InstanceID"] == "vrmgmt:audit"
    assert log["CurrentNumberOfRecords"] == count(f) >= 3
    assert log["OverwritePolicy"] == 7  # Never Overwrites
    assert log["LogState"] == 2  # Normal
    assert host.get(LOG_PATH)["ElementName"] == "vrmgmt audit log"


def test_count_follows_the_file(logged):
    host, f = logged
    before = host.get(LOG_PATH)["CurrentNumberOfRecords"]
    AuditLog(f)(user="ada", action="ModifyInstance", target="t", outcome="completed")
    assert host.get(LOG_PATH)["CurrentNumberOfRecords"] == before + 1


def test_clear_log_is_not_supported_and_keeps_the_records(logged):
    host, f = logged
    text = f.read_text()
    rv = host.invoke(LOG_PATH, "ClearLog")
    assert rv == 1  # Not Supported
    assert f.read_text().startswith(text)  # nothing erased (the server audits the call)


def test_unknown_log_is_not_found(logged):
    host, _f = logged
    other = pywbem.CIMInstanceName(LOG, {"InstanceID": "vrmgmt:other"}, kit.NS)
    with pytest.raises(pywbem.CIMError) as e:
        host.get(other)
    assert e.value.status_code == pywbem.CIM_ERR_NOT_FOUND


def test_use_of_log_links_the_hosts_and_the_log(logged):
    host, _f = logged
    [log] = host.assoc_names(host_path(), assoc="VRM_UseOfLog")
    assert log.classname == LOG and log["InstanceID"] == "vrmgmt:audit"
    hosts = host.assoc_names(LOG_PATH, assoc="VRM_UseOfLog", result_class="VRM_HostSystem")
    assert [h["Name"] for h in hosts] == [kit.BACKEND]
    [ref] = host.refs(host_path(), result_class="VRM_UseOfLog")
    assert ref["Antecedent"]["InstanceID"] == "vrmgmt:audit"
