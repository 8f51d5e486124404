"""Groups through the real embedded server (issue 12): roles of the group operations,
and RequestStateChangeOfMembers over a nested group of 100 test-driver VMs plus vcsim
VMs with MaxParallel 8 (vSphere has no pause: "not supported" for its VMs)."""

from __future__ import annotations

import time

import pytest
import pywbem

from support.inproc import inproc_server
from support.server import VrmServer
from support.testdriver import node_uri, write_node_xml
from support.vcsim import Vcsim, VcsimUnavailable, build_vcsim
from vrmgmt.auth import set_password

SVC, GROUP = "VRM_GroupManagementService", "VRM_Group"


def _host(bid):
    return pywbem.CIMInstanceName(
        "VRM_HostSystem",
        {"CreationClassName": "VRM_HostSystem", "Name": bid},
        namespace="root/virt",
    )


def _vm(uuid):
    return pywbem.CIMInstanceName(
        "VRM_ComputerSystem",
        {"CreationClassName": "VRM_ComputerSystem", "Name": uuid},
        namespace="root/virt",
    )


def test_roles_of_group_operations(tmp_path):
    srv = VrmServer(tmp_path, [{"id": "test", "type": "libvirt", "uri": "test:///default"}])
    for user, role in (("rita", "reader"), ("otto", "operator"), ("ada", "admin")):
        set_password(srv.state_dir / "users", user, f"{user}-password-1", role)
    with srv:
        conns = {
            u: pywbem.WBEMConnection(srv.url, (u, f"{u}-password-1"), default_namespace="root/virt")
            for u in ("rita", "otto", "ada")
        }
        (svc,) = conns["rita"].EnumerateInstanceNames(SVC)

        def code(fn):
            try:
                fn()
            except pywbem.CIMError as exc:
                return exc.status_code
            return 0

        denied = pywbem.CIM_ERR_ACCESS_DENIED
        assert code(lambda: conns["otto"].InvokeMethod("CreateGroup", svc, GroupName="x")) == denied
        rc, out = conns["ada"].InvokeMethod("CreateGroup", svc, GroupName="x")
        g = out["Group"]
        vm = _vm("6695eb01-f6a4-8304-79aa-97f2502e193f")
        add = ("AddMembers", svc)
        assert code(lambda: conns["rita"].InvokeMethod(*add, Group=g, Members=[vm])) == denied
        assert code(lambda: conns["otto"].InvokeMethod(*add, Group=g, Members=[vm])) == 0
        # intrinsic changes are admin work, as every Create/Modify/DeleteInstance
        new = pywbem.CIMInstance(GROUP, {"ElementName": "y"})
        assert code(lambda: conns["otto"].CreateInstance(new)) == denied
        assert code(lambda: conns["ada"].CreateInstance(new)) == 0
        # everyone reads
        assert len(conns["rita"].EnumerateInstances(GROUP)) == 3
        assert code(lambda: conns["otto"].InvokeMethod("DeleteGroup", svc, Group=g)) == denied
    audit = (srv.state_dir / "audit.log").read_text()
    assert '"AddMembers(1)"' in audit and "refused" not in audit.split('"AddMembers(1)"')[1][:80]


@pytest.fixture(scope="module")
def sim():
    try:
        build_vcsim()
    except VcsimUnavailable as exc:
        pytest.skip(str(exc))
    with Vcsim(hosts=1, vms=2) as s:
        yield s


def _wait(conn, job, timeout=180):
    deadline = time.monotonic() + timeout
    while True:
        inst = conn.GetInstance(job)
        if int(inst["JobState"]) >= 7:
            return inst
        assert time.monotonic() < deadline, inst["JobStatus"]
        time.sleep(0.2)


def _results(conn, svc, job):
    rc, out = conn.InvokeMethod("GetMemberResults", svc, Job=job)
    assert rc == 0
    return {
        str(pywbem.CIMInstanceName.from_wbem_uri(m).keybindings["Name"]): (int(c), d)
        for m, c, d in zip(out["Members"], out["ReturnCodes"], out["Descriptions"], strict=True)
    }


@pytest.mark.vcsim
def test_pause_and_resume_a_nested_group_over_libvirt_and_vsphere(sim, tmp_path):
    node = tmp_path / "node.xml"
    td = write_node_xml(node, 100, running_every=1, seed=12)
    backends = [
        {"id": "td", "type": "libvirt", "uri": node_uri(node)},
        sim.backend_config(tmp_path),
    ]
    with inproc_server(tmp_path / "state", backends) as conn:
        (svc,) = conn.EnumerateInstanceNames(SVC)
        _, out = conn.InvokeMethod("CreateGroup", svc, GroupName="fleet", Members=[_host("td")])
        fleet = out["Group"]
        _, out = conn.InvokeMethod(
            "CreateGroup", svc, GroupName="vcenter", ParentGroup=fleet, Members=[_host("vc")]
        )
        vc_vms = [
            v["Name"]
            for v in conn.EnumerateInstances("VRM_ComputerSystem")
            if v["BackendID"] == "vc"
        ]
        assert len(vc_vms) == sim.expected_vms
        t0 = time.monotonic()
        rc, out = conn.InvokeMethod(
            "RequestStateChangeOfMembers",
            svc,
            Group=fleet,
            RequestedState=pywbem.Uint16(9),
            Recursive=True,
            MaxParallel=pywbem.Uint16(8),
        )
        assert rc == 4096
        job = _wait(conn, out["Job"])
        pause_s = time.monotonic() - t0
        assert int(job["JobState"]) == 7
        res = _results(conn, svc, out["Job"])
        assert len(res) == len(td) + len(vc_vms)
        for _name, uuid in td:
            assert res[uuid] == (0, "done (pause)")
        for uuid in vc_vms:
            rc_, desc = res[uuid]
            assert rc_ == 1 and "not supported" in desc
        states = {
            v["Name"]: int(v["EnabledState"]) for v in conn.EnumerateInstances("VRM_ComputerSystem")
        }
        assert all(states[u] == 9 for _n, u in td)
        # resume: the libvirt VMs are done, the vSphere ones needed no change
        rc, out = conn.InvokeMethod(
            "RequestStateChangeOfMembers",
            svc,
            Group=fleet,
            RequestedState=pywbem.Uint16(2),
            Recursive=True,
            MaxParallel=pywbem.Uint16(8),
        )
        _wait(conn, out["Job"])
        res = _results(conn, svc, out["Job"])
        assert all(res[u] == (0, "done (resume)") for _n, u in td)
        assert all(res[u][0] == 0 and "no change" in res[u][1] for u in vc_vms)
        print(f"pause of {len(res)} VMs with MaxParallel 8: {pause_s:.2f} s")
