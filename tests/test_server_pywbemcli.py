"""Issue 2 acceptance through pywbemcli (a real WBEM client, as a subprocess)."""

from __future__ import annotations

import pywbem


def _vm_path(uuid: str) -> str:
    return f'VRM_ComputerSystem.CreationClassName="VRM_ComputerSystem",Name="{uuid}"'


def test_enumerate_lists_the_test_driver_domains(testdriver_server):
    r = testdriver_server.pywbemcli("-o", "mof", "instance", "enumerate", "VRM_ComputerSystem")
    assert r.returncode == 0, r.stderr
    for name, uuid in testdriver_server.domains:
        assert f'ElementName = "{name}";' in r.stdout
        assert f'Name = "{uuid}";' in r.stdout
    assert r.stdout.count("instance of VRM_ComputerSystem") == len(testdriver_server.domains)


def test_invokemethod_pauses_and_resumes(testdriver_server):
    srv = testdriver_server
    name, uuid = srv.domains[0]  # running
    conn = srv.conn()
    path = pywbem.CIMInstanceName(
        "VRM_ComputerSystem", {"CreationClassName": "VRM_ComputerSystem", "Name": uuid}
    )
    assert conn.GetInstance(path)["EnabledState"] == 2

    r = srv.pywbemcli(
        "instance", "invokemethod", _vm_path(uuid), "RequestStateChange", "-p", "RequestedState=9"
    )
    assert r.returncode == 0, r.stderr
    assert "ReturnValue=0" in r.stdout.replace(" ", "")
    inst = conn.GetInstance(path)
    assert inst["EnabledState"] == 9
    assert inst["RequestedState"] == 9

    r = srv.pywbemcli(
        "instance", "invokemethod", _vm_path(uuid), "RequestStateChange", "-p", "RequestedState=2"
    )
    assert r.returncode == 0, r.stderr
    assert conn.GetInstance(path)["EnabledState"] == 2


def test_associators_from_vm_reach_its_host(testdriver_server):
    _, uuid = testdriver_server.domains[1]
    r = testdriver_server.pywbemcli("-o", "mof", "instance", "associators", _vm_path(uuid))
    assert r.returncode == 0, r.stderr
    assert "instance of VRM_HostSystem" in r.stdout
    assert 'Name = "tdhost";' in r.stdout


def test_unknown_class_is_reported(testdriver_server):
    r = testdriver_server.pywbemcli("instance", "enumerate", "VRM_NoSuchClass")
    assert r.returncode != 0
    assert "CIM_ERR_INVALID_CLASS" in r.stderr + r.stdout
