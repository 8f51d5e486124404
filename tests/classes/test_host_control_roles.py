"""Host control is for admins only: process termination (VRM_UnixProcess.RequestStateChange)
and host power (VRM_HostSystem.RequestStateChange, VRM_OperatingSystem.Reboot/Shutdown)
refused with CIM_ERR_ACCESS_DENIED for readers and operators, and audited, even with
[host_control] allowing both. Roles are the embedded server's (`vrmgmt serve` with users
of each role); inside SFCB/OpenPegasus the CIMOM authorizes. The local libvirt host
(qemu:///system on support.libvirtd's daemon) runs a harmless recording command."""

import json
import signal
import subprocess
import sys

import pytest
import pywbem

from support.libvirtd import LibvirtdForTests, LibvirtdUnavailable
from support.server import VrmServer
from support.testdriver import node_uri, write_node_xml
from vrmgmt import auth

ROLE_USERS = {"reader": "rita", "operator": "otto", "admin": "ada"}
PW = "pw-of-role-user"
RECORD = "import sys; open(sys.argv[1], 'a').write(sys.argv[2] + '\\n')"


@pytest.fixture(scope="module")
def srv(tmp_path_factory):
    try:
        daemon = LibvirtdForTests("qemu:///system")
        daemon.start()
    except LibvirtdUnavailable as exc:
        pytest.fail(f"needs libvirtd: {exc}")
    d = tmp_path_factory.mktemp("hostctl-roles")
    write_node_xml(d / "n.xml", 2, seed=1, running_every=1)
    record = d / "record"
    extra = "\n[host_control]\n" + "\n".join(
        [
            "allow_power_actions = true",
            "allow_process_control = true",
            f"reboot_command = {json.dumps([sys.executable, '-c', RECORD, str(record), 'reboot'])}",
            f"shutdown_command = {json.dumps([sys.executable, '-c', RECORD, str(record), 'off'])}",
        ]
    )
    backends = [
        {"id": "td", "type": "libvirt", "uri": node_uri(d / "n.xml")},
        {"id": "kvm", "type": "libvirt", "uri": "qemu:///system"},
    ]
    s = VrmServer(d, backends, extra_config=extra + "\n")
    for role, name in ROLE_USERS.items():
        auth.set_password(s.state_dir / "users", name, PW, role)
    s.record = record
    try:
        with s:
            yield s
    finally:
        daemon.stop()


def conn_as(srv, role):
    return pywbem.WBEMConnection(
        srv.url, (ROLE_USERS[role], PW), default_namespace="root/virt", timeout=60
    )


@pytest.fixture
def sleeper():
    p = subprocess.Popen(["sleep", "300"])
    yield p
    if p.poll() is None:
        p.kill()
    p.wait()


def _proc(conn, pid):
    [p] = [
        p
        for p in conn.EnumerateInstanceNames("VRM_UnixProcess")
        if p["Handle"] == str(pid) and p["CSName"] == "td"
    ]
    return p


def _host(conn, bid="kvm"):
    return next(p for p in conn.EnumerateInstanceNames("VRM_HostSystem") if p["Name"] == bid)


def _os(conn, bid="kvm"):
    return next(p for p in conn.EnumerateInstanceNames("VRM_OperatingSystem") if p["Name"] == bid)


def _audit(srv):
    text = (srv.state_dir / "audit.log").read_text()
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def _record(srv):
    return srv.record.read_text().splitlines() if srv.record.exists() else []


def _denied(fn, role):
    with pytest.raises(pywbem.CIMError) as exc:
        fn()
    assert exc.value.status_code == pywbem.CIM_ERR_ACCESS_DENIED
    assert "needs role admin" in exc.value.status_description
    assert f"has role {role}" in exc.value.status_description


@pytest.mark.parametrize("role", ["reader", "operator"])
def test_terminate_is_refused_below_admin(srv, role, sleeper):
    conn = conn_as(srv, role)
    path = _proc(conn, sleeper.pid)
    _denied(
        lambda: conn.InvokeMethod("RequestStateChange", path, RequestedState=pywbem.Uint16(3)),
        role,
    )
    assert sleeper.poll() is None
    rec = _audit(srv)[-1]
    assert rec["user"] == ROLE_USERS[role] and rec["outcome"].startswith("refused: ")


@pytest.mark.parametrize("role", ["reader", "operator"])
def test_host_power_is_refused_below_admin(srv, role):
    conn = conn_as(srv, role)
    for state in (4, 10):
        _denied(
            lambda s=state: conn.InvokeMethod(
                "RequestStateChange", _host(conn), RequestedState=pywbem.Uint16(s)
            ),
            role,
        )
    for method in ("Reboot", "Shutdown"):
        _denied(lambda m=method: conn.InvokeMethod(m, _os(conn)), role)
    assert _record(srv) == []


def test_admin_may(srv, sleeper):
    conn = conn_as(srv, "admin")
    rv, _ = conn.InvokeMethod(
        "RequestStateChange", _proc(conn, sleeper.pid), RequestedState=pywbem.Uint16(3)
    )
    assert rv == 0
    assert sleeper.wait(10) == -signal.SIGTERM
    rv, _ = conn.InvokeMethod("RequestStateChange", _host(conn), RequestedState=pywbem.Uint16(10))
    assert rv == 0
    assert _record(srv) == ["reboot"]
    rv, _ = conn.InvokeMethod(
        "RequestStateChange", _host(conn, "td"), RequestedState=pywbem.Uint16(10)
    )
    assert rv == 1  # the test driver's host cannot be powered
    assert _record(srv) == ["reboot"]
    outcomes = [r["outcome"] for r in _audit(srv) if r["user"] == "ada"]
    # the class's own records (besides the dispatcher's "attempted" / "completed, ...")
    assert "completed: terminated" in outcomes
    assert any(o.startswith("completed: ran ") for o in outcomes)
    assert any(o.startswith("not supported: the libvirt test driver") for o in outcomes)
