"""VRM_EnabledLogicalElementCapabilities of each VM through both hosts, reached from the
VM by VRM_ElementCapabilities (DSP1057 §7.2.1, DSP1052 §7.3): RequestedStatesSupported
is what the VM's backend implements (the VM's AvailableRequestedStates are the part of
it possible now), ElementNameEditSupported says the backend renames VMs, and a rename
through ModifySystemSettings then works. (The host's instance: test_host_power.py.)"""

import cmpi_testkit as kit
import pywbem

from support.classcases import ALL_UUIDS, error_code, vm_path

CAPS = "VRM_EnabledLogicalElementCapabilities"
EC = "VRM_ElementCapabilities"
#: the test driver: start/resume, off, shut down, save, pause, reboot, reset
TEST_DRIVER_STATES = [2, 3, 4, 6, 9, 10, 11]


def caps_path(uuid: str) -> pywbem.CIMInstanceName:
    return pywbem.CIMInstanceName(
        CAPS, {"InstanceID": f"vrmgmt:vm-capabilities:{uuid}"}, namespace=kit.NS
    )


def test_each_vm_has_its_capabilities(host):
    for name, (uuid, _running) in kit.VMS.items():
        # (CIM_Capabilities would add the VM's VRM_VirtualSystemSnapshotCapabilities)
        (caps,) = host.assocs(vm_path(name), assoc=EC, result_class=CAPS)
        assert caps.classname == CAPS
        assert caps["InstanceID"] == caps_path(uuid)["InstanceID"]
        assert list(caps["RequestedStatesSupported"]) == TEST_DRIVER_STATES
        available = set(host.get(vm_path(name))["AvailableRequestedStates"])
        assert available and available <= set(caps["RequestedStatesSupported"])
        assert caps["ElementNameEditSupported"] is True
        back = host.assoc_names(caps.path, assoc=EC)
        assert [p["Name"] for p in back] == [uuid]
    vm_caps = [i for i in host.enum(CAPS) if "vm-capabilities" in i["InstanceID"]]
    assert sorted(i["InstanceID"].rsplit(":", 1)[1] for i in vm_caps) == ALL_UUIDS
    assert len(host.enum(CAPS)) == len(kit.VMS) + 1  # and the host's


def test_unknown_vm_capabilities(host):
    ghost = caps_path("00000000-0000-0000-0000-000000000000")
    assert error_code(lambda: host.get(ghost)) == pywbem.CIM_ERR_NOT_FOUND
    assert host.assoc_names(ghost, assoc=EC) == []
    assert host.get(caps_path(kit.VMS["gamma"][0]))["ElementName"] == "state changes of VM gamma"


def test_advertised_rename_works(fresh_host):
    h = fresh_host
    uuid = kit.VMS["gamma"][0]  # off: libvirt renames only then
    assert h.get(caps_path(uuid))["ElementNameEditSupported"] is True
    sd = h.get(
        pywbem.CIMInstanceName(
            "VRM_VirtualSystemSettingData", {"InstanceID": f"{kit.BACKEND}:{uuid}"}, kit.NS
        )
    )
    sd["ElementName"] = "gamma2"
    (vsms,) = h.enum_names("VRM_VirtualSystemManagementService")
    assert h.invoke_typed(vsms, "ModifySystemSettings", SystemSettings=sd)[0] == 0
    assert h.get(vm_path("gamma"))["ElementName"] == "gamma2"
