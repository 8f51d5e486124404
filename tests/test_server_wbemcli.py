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


def test_ei_of_the_settings_classes(testdriver_server, wbemcli_bin):
    """Issue 9: wbemcli enumerates VRM_VirtualSystemSettingData and the RASD classes."""
    srv = testdriver_server
    r = wbemcli("ei", srv.wbemcli_url("VRM_VirtualSystemSettingData"))
    assert r.returncode == 0, r.stderr
    for name, uuid in srv.domains:
        assert f'InstanceID="tdhost:{uuid}"' in r.stdout
        assert f'ElementName="{name}"' in r.stdout
    for cls, expect in (
        ("VRM_ProcessorAllocationSettingData", "ResourceType=3"),
        ("VRM_MemoryAllocationSettingData", 'AllocationUnits="byte*2^20"'),
        ("VRM_StorageAllocationSettingData", "ResourceType=17"),
        ("VRM_EthernetPortAllocationSettingData", "ResourceType=10"),
    ):
        r = wbemcli("ei", srv.wbemcli_url(cls))
        assert r.returncode == 0, (cls, r.stderr)
        lines = [ln for ln in r.stdout.splitlines() if ln.strip()]
        assert len(lines) == len(srv.domains), (cls, r.stdout)  # one device of each per VM
        assert all(expect in ln for ln in lines), (cls, r.stdout)


def test_cm_define_system_with_embedded_instances(tmp_path, wbemcli_bin):
    """Issue 9: wbemcli calls DefineSystem with embedded instances (it sends each
    instance as markup inside VALUE); the VM is defined, and a bad one is refused."""
    import pywbem

    from support.server import VrmServer
    from support.testdriver import node_uri, write_node_xml

    write_node_xml(tmp_path / "node.xml", 2, seed=1)
    srv = VrmServer(
        tmp_path, [{"id": "tdhost", "type": "libvirt", "uri": node_uri(tmp_path / "node.xml")}]
    )
    vsms = (
        'VRM_VirtualSystemManagementService.SystemCreationClassName="VRM_HostSystem",'
        'SystemName="tdhost",CreationClassName="VRM_VirtualSystemManagementService",'
        'Name="VirtualSystemManagementService"'
    )
    sd = pywbem.CIMInstance("VRM_VirtualSystemSettingData", {"ElementName": "wbemvm"})
    mem = pywbem.CIMInstance(
        "VRM_MemoryAllocationSettingData",
        {"ResourceType": pywbem.Uint16(4), "VirtualQuantity": pywbem.Uint64(128)},
    )
    with srv:
        args = (
            f"DefineSystem.SystemSettings={sd.tocimxmlstr()},ResourceSettings={mem.tocimxmlstr()}"
        )
        r = wbemcli("cm", srv.wbemcli_url(vsms), args)
        assert r.returncode == 0, r.stderr
        assert "DefineSystem: 0" in r.stdout and "ResultingSystem" in r.stdout, r.stdout
        assert 'ElementName="wbemvm"' in wbemcli("ei", srv.wbemcli_url("VRM_ComputerSystem")).stdout
        mem["VirtualQuantity"] = pywbem.Uint64(0)
        args = (
            f"DefineSystem.SystemSettings={sd.tocimxmlstr()},ResourceSettings={mem.tocimxmlstr()}"
        )
        r = wbemcli("cm", srv.wbemcli_url(vsms), args)
        assert r.returncode != 0 and "VirtualQuantity" in r.stderr + r.stdout, (r.stdout, r.stderr)


def test_cm_define_system_with_mof_instances(tmp_path, wbemcli_bin):
    """wbemcli sends a parameter's text verbatim inside VALUE: embedded instances typed
    as MOF (`instance of X { ... };`) define the VM; bad MOF is refused naming the
    property. (wbemcli splits parameters at commas: MOF arrays with several elements
    cannot be typed this way.)"""
    from support.server import VrmServer
    from support.testdriver import node_uri, write_node_xml

    write_node_xml(tmp_path / "node.xml", 2, seed=1)
    srv = VrmServer(
        tmp_path, [{"id": "tdhost", "type": "libvirt", "uri": node_uri(tmp_path / "node.xml")}]
    )
    vsms = (
        'VRM_VirtualSystemManagementService.SystemCreationClassName="VRM_HostSystem",'
        'SystemName="tdhost",CreationClassName="VRM_VirtualSystemManagementService",'
        'Name="VirtualSystemManagementService"'
    )
    sd = 'instance of VRM_VirtualSystemSettingData { ElementName = "mofvm"; };'
    mem = "instance of VRM_MemoryAllocationSettingData { ResourceType = 4; VirtualQuantity = 96; };"
    with srv:
        r = wbemcli(
            "cm", srv.wbemcli_url(vsms), f"DefineSystem.SystemSettings={sd},ResourceSettings={mem}"
        )
        assert r.returncode == 0, r.stderr
        assert "DefineSystem: 0" in r.stdout, r.stdout
        out = wbemcli("ei", srv.wbemcli_url("VRM_ComputerSystem")).stdout
        (line,) = [ln for ln in out.splitlines() if 'ElementName="mofvm"' in ln]
        assert "MemoryKiB=98304" in line
        bad = "instance of VRM_MemoryAllocationSettingData { Colour = 4; };"
        r = wbemcli(
            "cm", srv.wbemcli_url(vsms), f"DefineSystem.SystemSettings={sd},ResourceSettings={bad}"
        )
        assert r.returncode != 0
        assert "ResourceSettings[0]" in r.stderr + r.stdout and "Colour" in r.stderr + r.stdout
