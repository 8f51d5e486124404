"""Issue 14 findings 4, 5, 7, 11: roles, login protection, complete fail-closed audit and
enumeration contexts owned by their opener. Real `vrmgmt serve` over the libvirt test
driver; users of each role in its users file."""

from __future__ import annotations

import base64
import http.client
import json
import shutil
import statistics
import time

import pytest
import pywbem

from support.server import PASSWORD, USER, VrmServer
from support.testdriver import node_uri, write_node_xml
from vrmgmt import auth

ROLE_USERS = {"reader": "rita", "operator": "otto", "admin": "ada"}
PW = "pw-of-role-user"


@pytest.fixture(scope="module")
def srv(tmp_path_factory):
    d = tmp_path_factory.mktemp("access")
    write_node_xml(d / "n.xml", 6, seed=4, running_every=2)
    s = VrmServer(d, [{"id": "acc", "type": "libvirt", "uri": node_uri(d / "n.xml")}])
    for role, name in ROLE_USERS.items():
        auth.set_password(s.state_dir / "users", name, PW, role)
    with s:
        yield s


def conn_as(srv, user: str, password: str = PW, **kw) -> pywbem.WBEMConnection:
    return pywbem.WBEMConnection(
        srv.url, (user, password), default_namespace="root/virt", timeout=60, **kw
    )


def audit_records(srv) -> list[dict]:
    path = srv.state_dir / "audit.log"
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def _vms(srv):
    return srv.conn().EnumerateInstances("VRM_ComputerSystem")


def _running(srv):
    return next(v for v in _vms(srv) if v["EnabledState"] == 2)


def _host_path(srv):
    return srv.conn().EnumerateInstanceNames("VRM_HostSystem")[0]


# -- roles -------------------------------------------------------------------------
#: every state-changing operation there is: (name, callable(conn, srv) -> None, role)
def _rsc_vm(conn, srv):
    vm = _running(srv)
    rv, _ = conn.InvokeMethod("RequestStateChange", vm.path, RequestedState=pywbem.Uint16(9))
    assert rv == 0
    srv.conn().InvokeMethod("RequestStateChange", vm.path, RequestedState=pywbem.Uint16(2))


def _rsc_host(conn, srv):
    conn.InvokeMethod("RequestStateChange", _host_path(srv), RequestedState=pywbem.Uint16(3))


def _create(conn, srv):
    conn.CreateInstance(pywbem.CIMInstance("VRM_ComputerSystem", {"ElementName": "new"}))


def _modify(conn, srv):
    vm = _running(srv)
    vm["ElementName"] = "renamed"
    conn.ModifyInstance(vm)


def _delete(conn, srv):
    conn.DeleteInstance(_running(srv).path)


CHANGES = [
    ("RequestStateChange of a VM", _rsc_vm, "operator"),
    ("RequestStateChange of a host (host power)", _rsc_host, "admin"),
    ("CreateInstance", _create, "admin"),
    ("ModifyInstance", _modify, "admin"),
    ("DeleteInstance", _delete, "admin"),
]
RANK = {"reader": 0, "operator": 1, "admin": 2}


@pytest.mark.parametrize("role", list(ROLE_USERS))
@pytest.mark.parametrize("name,op,needed", CHANGES, ids=[c[0] for c in CHANGES])
def test_each_role_may_do_exactly_what_it_allows(srv, role, name, op, needed):
    """Finding 5: any authenticated user could power off any VM."""
    conn = conn_as(srv, ROLE_USERS[role])
    before = {v["Name"]: v["EnabledState"] for v in _vms(srv)}
    try:
        op(conn, srv)
        code = 0
    except pywbem.CIMError as exc:
        code = exc.status_code
        desc = exc.status_description
    if RANK[role] >= RANK[needed]:
        assert code != pywbem.CIM_ERR_ACCESS_DENIED
    else:
        assert code == pywbem.CIM_ERR_ACCESS_DENIED
        assert f"needs role {needed}" in desc and f"has role {role}" in desc
        assert {v["Name"]: v["EnabledState"] for v in _vms(srv)} == before
        rec = audit_records(srv)[-1]
        assert rec["user"] == ROLE_USERS[role] and rec["client"] == "127.0.0.1"
        assert rec["outcome"].startswith("refused: ") and "needs role" in rec["outcome"]


@pytest.mark.parametrize("role", list(ROLE_USERS))
def test_every_role_reads(srv, role):
    conn = conn_as(srv, ROLE_USERS[role], use_pull_operations=True)
    assert len(list(conn.IterEnumerateInstances("VRM_ComputerSystem", MaxObjectCount=2))) == 6
    assert conn.GetInstance(_running(srv).path)["EnabledState"] == 2
    assert conn.EnumerateInstanceNames("VRM_HostSystem")


# -- audit ---------------------------------------------------------------------------
def test_every_change_attempt_is_audited_with_outcome(srv):
    """Finding 11: failed and refused attempts were not recorded."""
    conn = conn_as(srv, "otto")
    vm = _running(srv)
    n0 = len(audit_records(srv))
    with pytest.raises(pywbem.CIMError) as exc:  # bad parameter
        conn.InvokeMethod("RequestStateChange", vm.path, RequestedState="lots")
    assert exc.value.status_code == pywbem.CIM_ERR_INVALID_PARAMETER
    ghost = vm.path.copy()
    ghost["Name"] = "00000000-0000-0000-0000-000000000000"
    with pytest.raises(pywbem.CIMError) as exc:  # unknown VM
        conn.InvokeMethod("RequestStateChange", ghost, RequestedState=pywbem.Uint16(3))
    assert exc.value.status_code == pywbem.CIM_ERR_NOT_FOUND
    rv, _ = conn.InvokeMethod(  # rc 4098: timeout not supported
        "RequestStateChange",
        vm.path,
        RequestedState=pywbem.Uint16(3),
        TimeoutPeriod=pywbem.CIMDateTime("00000000000010.000000:000"),
    )
    assert rv == 4098
    recs = [r for r in audit_records(srv)[n0:] if r.get("client")]  # the host's records
    outcomes = [r["outcome"] for r in recs]
    assert outcomes == [
        "attempted",
        outcomes[1],
        "attempted",
        outcomes[3],
        "attempted",
        "completed, return value 4098",
    ]
    assert outcomes[1].startswith("failed: CIM_ERR_INVALID_PARAMETER (4)")
    assert outcomes[3].startswith("failed: CIM_ERR_NOT_FOUND (6)")
    for r in recs:
        assert r["user"] == "otto" and r["client"] == "127.0.0.1"
        assert r["action"] == "RequestStateChange"
        assert "VRM_ComputerSystem" in r["target"]
    assert recs[0]["params"] == {"RequestedState": "lots"}
    assert "00000000-0000-0000-0000-000000000000" in recs[2]["target"]
    assert conn.GetInstance(vm.path)["EnabledState"] == 2


def test_401s_are_audited_with_the_client_address(srv):
    """Finding 4: 401s were not audited and named no client address."""
    n0 = len(audit_records(srv))
    with pytest.raises(pywbem.AuthError):
        conn_as(srv, "otto", "wrong-password").EnumerateInstanceNames("VRM_HostSystem")
    with pytest.raises(pywbem.AuthError):
        conn_as(srv, "nobody-here", "x").EnumerateInstanceNames("VRM_HostSystem")
    recs = audit_records(srv)[n0:]
    assert [(r["action"], r["user"], r["client"], r["outcome"]) for r in recs] == [
        ("login", "otto", "127.0.0.1", "refused: wrong password"),
        ("login", "nobody-here", "127.0.0.1", "refused: unknown user"),
    ]


def test_audit_failure_means_no_change_and_a_generic_error(tmp_path):
    """Finding 11: with audit.log unwritable the VM was powered off anyway and the
    error message leaked the path."""
    write_node_xml(tmp_path / "n.xml", 2, seed=5, running_every=1)
    backends = [{"id": "a", "type": "libvirt", "uri": node_uri(tmp_path / "n.xml")}]
    with VrmServer(tmp_path, backends) as s:
        conn = s.conn()
        vm = next(v for v in conn.EnumerateInstances("VRM_ComputerSystem"))
        assert vm["EnabledState"] == 2
        log = s.state_dir / "audit.log"
        log.unlink(missing_ok=True)
        log.mkdir()  # not writable, even for root
        try:
            with pytest.raises(pywbem.CIMError) as exc:
                conn.InvokeMethod("RequestStateChange", vm.path, RequestedState=pywbem.Uint16(3))
            assert exc.value.status_code == pywbem.CIM_ERR_FAILED
            desc = exc.value.status_description
            assert "not performed" in desc and "audit" in desc
            assert str(s.state_dir) not in desc and "audit.log" not in desc
            assert conn.GetInstance(vm.path)["EnabledState"] == 2  # still running
            # reads keep working
            assert len(conn.EnumerateInstanceNames("VRM_ComputerSystem")) == 2
        finally:
            shutil.rmtree(log)
        rv, _ = conn.InvokeMethod("RequestStateChange", vm.path, RequestedState=pywbem.Uint16(3))
        assert rv == 0 and conn.GetInstance(vm.path)["EnabledState"] == 3
        assert "cannot write the audit log" in s.log()


# -- login protection --------------------------------------------------------------
def _status(srv, user: str, password: str, source: str = "127.0.0.1") -> int:
    body = (
        b'<?xml version="1.0" encoding="utf-8" ?><CIM CIMVERSION="2.0" DTDVERSION="2.0">'
        b'<MESSAGE ID="1" PROTOCOLVERSION="1.0"><SIMPLEREQ>'
        b'<IMETHODCALL NAME="EnumerateInstanceNames"><LOCALNAMESPACEPATH>'
        b'<NAMESPACE NAME="root"/><NAMESPACE NAME="virt"/></LOCALNAMESPACEPATH>'
        b'<IPARAMVALUE NAME="ClassName"><CLASSNAME NAME="VRM_HostSystem"/></IPARAMVALUE>'
        b"</IMETHODCALL></SIMPLEREQ></MESSAGE></CIM>"
    )
    c = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=30, source_address=(source, 0))
    cred = base64.b64encode(f"{user}:{password}".encode()).decode()
    c.request(
        "POST",
        "/cimom",
        body=body,
        headers={
            "Content-Type": "application/xml",
            "CIMOperation": "MethodCall",
            "CIMMethod": "EnumerateInstanceNames",
            "CIMObject": "root/virt",
            "Authorization": "Basic " + cred,
        },
    )
    r = c.getresponse()
    r.read()
    c.close()
    return r.status


def test_wrong_passwords_lock_the_address_not_the_user(srv):
    """Finding 4: 2,300 wrong passwords, then the right one still worked (31 guesses/s)."""
    auth.set_password(srv.state_dir / "users", "victim", "victim-password", "reader")
    assert _status(srv, "victim", "victim-password", "127.0.0.5") == 200
    t0 = time.monotonic()
    for i in range(20):
        assert _status(srv, "victim", f"guess-{i}", "127.0.0.5") == 401
    # the next guesses are refused without a password check (even the right one)
    assert _status(srv, "victim", "victim-password", "127.0.0.5") == 401
    assert time.monotonic() - t0 < 20
    # the right password from another address still works (documented policy)
    assert _status(srv, "victim", "victim-password", "127.0.0.6") == 200
    recs = [r for r in audit_records(srv) if r["user"] == "victim"]
    assert sum(r["outcome"] == "refused: wrong password" for r in recs) == 6
    assert any(
        r["outcome"].startswith("refused: locked for") and r["client"] == "127.0.0.5" for r in recs
    )
    assert srv.alive()


def test_many_user_names_from_one_address_lock_the_address(srv):
    for i in range(21):
        assert _status(srv, f"guess{i}", "x", "127.0.0.7") == 401
    assert _status(srv, USER, PASSWORD, "127.0.0.7") == 401  # the address is locked
    assert _status(srv, USER, PASSWORD, "127.0.0.8") == 200


def test_unknown_user_costs_the_same_as_a_wrong_password(tmp_path):
    """Finding 4: unknown user 1.2 ms, wrong password 45 ms: user names leaked."""
    users = tmp_path / "users"
    auth.set_password(users, "alice", "alice-password")
    a = auth.Authenticator(users)
    unknown, wrong = [], []
    for i in range(7):  # interleaved, each from a fresh address (no lock involved)
        t0 = time.perf_counter()
        assert not a.authenticate("mallory", "x", f"10.0.0.{i}").ok
        unknown.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        assert not a.authenticate("alice", "x", f"10.0.1.{i}").ok
        wrong.append(time.perf_counter() - t0)
    u, w = statistics.median(unknown), statistics.median(wrong)
    assert abs(u - w) <= 0.2 * max(u, w), (unknown, wrong)


# -- enumeration contexts ------------------------------------------------------------
def _open(conn, **kw):
    return conn.OpenEnumerateInstancePaths("VRM_ComputerSystem", MaxObjectCount=1, **kw)


def test_enumeration_contexts_belong_to_their_opener(srv):
    """Finding 7: contexts were not tied to their owner."""
    otto, ada = conn_as(srv, "otto"), conn_as(srv, "ada")
    res = _open(otto)
    assert not res.eos
    for op in (
        lambda: ada.PullInstancePaths(res.context, MaxObjectCount=1),
        lambda: ada.CloseEnumeration(res.context),
    ):
        with pytest.raises(pywbem.CIMError) as exc:
            op()
        assert exc.value.status_code == pywbem.CIM_ERR_INVALID_ENUMERATION_CONTEXT
    more = otto.PullInstancePaths(res.context, MaxObjectCount=100)
    assert len(res.paths) + len(more.paths) == 6 and more.eos


def test_one_user_cannot_take_every_context(srv):
    """Finding 7: one user could open all 256 contexts; others then got CIM error 27."""
    from vrmgmt.server.enumctx import MAX_CONTEXTS_PER_USER

    rita = conn_as(srv, "rita")
    opened = []
    with pytest.raises(pywbem.CIMError) as exc:
        for _ in range(MAX_CONTEXTS_PER_USER + 1):
            opened.append(_open(rita).context)
    assert exc.value.status_code == pywbem.CIM_ERR_SERVER_LIMITS_EXCEEDED
    assert "per user" in exc.value.status_description
    assert len(opened) == MAX_CONTEXTS_PER_USER
    res = _open(conn_as(srv, "ada"))  # another user still can
    conn_as(srv, "ada").CloseEnumeration(res.context)
    for c in opened:
        rita.CloseEnumeration(c)
    rita.CloseEnumeration(_open(rita).context)  # and rita again after closing
