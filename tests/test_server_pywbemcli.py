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


def test_pywbemcli_pull_operations(testdriver_server):
    """pywbemcli with pull operations only (--use-pull yes): enumerate, paths,
    references and associators all go through Open*/Pull* on the server."""
    srv = testdriver_server
    r = srv.pywbemcli(
        "--use-pull",
        "yes",
        "--pull-max-cnt",
        "2",
        "-o",
        "mof",
        "instance",
        "enumerate",
        "VRM_ComputerSystem",
    )
    assert r.returncode == 0, r.stderr
    assert r.stdout.count("instance of VRM_ComputerSystem") == len(srv.domains)
    r = srv.pywbemcli(
        "--use-pull",
        "yes",
        "--pull-max-cnt",
        "2",
        "instance",
        "enumerate",
        "VRM_ComputerSystem",
        "--names-only",
    )
    assert r.returncode == 0, r.stderr
    assert all(uuid in r.stdout for _, uuid in srv.domains)
    host = 'VRM_HostSystem.CreationClassName="VRM_HostSystem",Name="tdhost"'
    r = srv.pywbemcli(
        "--use-pull",
        "yes",
        "-o",
        "mof",
        "instance",
        "references",
        host,
        "--result-class",
        "VRM_HostedDependency",
    )
    assert r.returncode == 0, r.stderr
    assert r.stdout.count("instance of VRM_HostedDependency") == len(srv.domains)
    r = srv.pywbemcli("--use-pull", "yes", "instance", "count", "VRM_*System")
    assert r.returncode == 0, r.stderr
    counts = {
        ln.split()[1]: int(ln.split()[2])
        for ln in r.stdout.splitlines()
        if ln.startswith("root/virt")
    }
    assert counts == {
        "VRM_ComputerSystem": len(srv.domains),
        "VRM_HostSystem": 1,
        "VRM_OperatingSystem": 1,
    }


def test_pywbemcli_class_commands(testdriver_server):
    r = testdriver_server.pywbemcli("class", "get", "VRM_ComputerSystem")
    assert r.returncode == 0, r.stderr
    assert "class VRM_ComputerSystem : CIM_ComputerSystem" in r.stdout
    assert "RequestStateChange(" in r.stdout
    r = testdriver_server.pywbemcli("class", "tree", "CIM_ComputerSystem")
    assert r.returncode == 0, r.stderr
    assert "VRM_HostSystem" in r.stdout and "VRM_ComputerSystem" in r.stdout
