"""Issue 2 acceptance through sblim wbemcli (Debian's package): ei, ein, gi, cm."""

from __future__ import annotations

from support.server import wbemcli


def _vm(uuid: str) -> str:
    return f'VRM_ComputerSystem.CreationClassName="VRM_ComputerSystem",Name="{uuid}"'


def test_ein_and_ei(testdriver_server, wbemcli_bin):
    srv = testdriver_server
    r = wbemcli("ein", srv.wbemcli_url("VRM_ComputerSystem"))
    assert r.returncode == 0, r.stderr
    lines = [ln for ln in r.stdout.splitlines() if ln.strip()]
    assert len(lines) == len(srv.domains)
    for _, uuid in srv.domains:
        assert f'Name="{uuid}"' in r.stdout

    r = wbemcli("ei", srv.wbemcli_url("VRM_ComputerSystem"))
    assert r.returncode == 0, r.stderr
    for name, _ in srv.domains:
        assert f'ElementName="{name}"' in r.stdout


def test_gi_and_cm_pause_resume(testdriver_server, wbemcli_bin):
    srv = testdriver_server
    _, uuid = srv.domains[2]  # running
    url = srv.wbemcli_url(_vm(uuid))
    r = wbemcli("gi", url)
    assert r.returncode == 0, r.stderr
    assert "EnabledState=2," in r.stdout

    r = wbemcli("cm", url, "RequestStateChange.RequestedState=9")
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip().endswith("RequestStateChange: 0")
    assert "EnabledState=9," in wbemcli("gi", url).stdout

    r = wbemcli("cm", url, "RequestStateChange.RequestedState=2")
    assert r.returncode == 0, r.stderr
    assert "EnabledState=2," in wbemcli("gi", url).stdout


def test_cm_invalid_state_transition(testdriver_server, wbemcli_bin):
    srv = testdriver_server
    _, uuid = srv.domains[1]  # shut off: cannot be paused
    r = wbemcli("cm", srv.wbemcli_url(_vm(uuid)), "RequestStateChange.RequestedState=9")
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip().endswith("RequestStateChange: 4097")


def test_unknown_class_error(testdriver_server, wbemcli_bin):
    r = wbemcli("ei", testdriver_server.wbemcli_url("VRM_Nope"))
    assert r.returncode != 0
    assert "CIM_ERR_INVALID_CLASS" in r.stderr
