"""VRM_VirtualSystemSettingData, VRM_SettingsDefineState and VRM_ElementSettingData
through both hosts (DSP1057 §7.2: one VSSD per VM, linked to its VM; DSP1041 §7.4:
each virtual device linked to the RASD that defines it)."""

import cmpi_testkit as kit
import pywbem

from support.classcases import ALL_UUIDS, device_id, device_path, error_code, vm_path

VSSD = "VRM_VirtualSystemSettingData"


def vssd_path(name: str, backend: str = kit.BACKEND) -> pywbem.CIMInstanceName:
    uuid = kit.VMS[name][0]
    return pywbem.CIMInstanceName(VSSD, {"InstanceID": f"{backend}:{uuid}"}, namespace=kit.NS)


def test_one_settings_instance_per_vm(host):
    got = {i["VirtualSystemIdentifier"]: i for i in host.enum(VSSD)}
    assert sorted(got) == ALL_UUIDS
    alpha = got[kit.VMS["alpha"][0]]
    assert alpha["InstanceID"] == f"{kit.BACKEND}:{kit.VMS['alpha'][0]}"
    assert alpha["ElementName"] == "alpha"
    assert alpha["VirtualSystemType"] == "Test"
    assert alpha["AutomaticStartupAction"] == 2  # no autostart
    assert alpha["AutomaticRecoveryAction"] == 2  # libvirt's default <on_crash>destroy
    assert alpha["Notes"] is None


def test_get_instance_and_unknown_ids(host):
    assert host.get(vssd_path("beta"))["ElementName"] == "beta"
    other_host = vssd_path("beta", backend="elsewhere")
    assert error_code(lambda: host.get(other_host)) == pywbem.CIM_ERR_NOT_FOUND
    garbage = pywbem.CIMInstanceName(VSSD, {"InstanceID": "no-such-thing"}, namespace=kit.NS)
    assert error_code(lambda: host.get(garbage)) == pywbem.CIM_ERR_NOT_FOUND


def test_settings_define_state_from_both_ends(host):
    sds = "VRM_SettingsDefineState"
    got = host.assoc_names(vm_path("alpha"), assoc=sds, result_class=VSSD)
    assert [p["InstanceID"] for p in got] == [vssd_path("alpha")["InstanceID"]]
    back = host.assoc_names(vssd_path("alpha"), assoc=sds, role="SettingData")
    assert [p["Name"] for p in back] == [kit.VMS["alpha"][0]]
    assert host.assoc_names(vssd_path("alpha"), assoc=sds, role="ManagedElement") == []
    vm_pairs = [p for p in host.enum_names(sds) if p["SettingData"].classname == VSSD]
    assert len(vm_pairs) == len(kit.VMS)


def _rasd(cls: str, name: str, suffix: str) -> pywbem.CIMInstanceName:
    return pywbem.CIMInstanceName(cls, {"InstanceID": device_id(name, suffix)}, namespace=kit.NS)


def test_settings_define_state_device_to_rasd(host):
    """DSP1041 §7.4: each device is defined by its RASD; both ends, every pair once."""
    sds = "VRM_SettingsDefineState"
    proc_rasd = _rasd("VRM_ProcessorAllocationSettingData", "alpha", "proc")
    procs = host.assoc_names(proc_rasd, assoc=sds, role="SettingData")
    assert sorted(p["DeviceID"] for p in procs) == [
        device_id("alpha", "proc/0"),
        device_id("alpha", "proc/1"),
    ]
    for cls, rasd_cls, suffix in (
        ("VRM_Processor", "VRM_ProcessorAllocationSettingData", "proc/1"),
        ("VRM_Memory", "VRM_MemoryAllocationSettingData", "mem"),
        ("VRM_LogicalDisk", "VRM_StorageAllocationSettingData", "disk/hdc"),
        ("VRM_NetworkPort", "VRM_EthernetPortAllocationSettingData", f"nic/{kit.ALPHA_MAC}"),
    ):
        (got,) = host.assocs(device_path(cls, "alpha", suffix), assoc=sds)
        assert got.classname == rasd_cls
        assert got["InstanceID"] == device_id("alpha", suffix.removesuffix("/1"))
        back = host.assoc_names(got.path, assoc=sds, result_class=cls)
        assert device_id("alpha", suffix) in [p["DeviceID"] for p in back]
        assert len(back) == (2 if cls == "VRM_Processor" else 1)
    # a VM's settings are not a device's and the other way round
    assert (
        host.assoc_names(
            vm_path("alpha"), assoc=sds, result_class="CIM_ResourceAllocationSettingData"
        )
        == []
    )
    gone = device_path("VRM_LogicalDisk", "beta", "disk/vda")
    assert host.assoc_names(gone, assoc=sds) == []
    # enumeration: one pair per VM and per device
    pairs = host.enum_names(sds)
    devices = [p for p in pairs if p["SettingData"].classname != VSSD]
    assert len(devices) == 3 * 2 + 3 + 2 + 1
    inst = host.get(devices[0])
    assert inst["ManagedElement"]["DeviceID"] == devices[0]["ManagedElement"]["DeviceID"]


def test_element_setting_data_is_default_and_current(host):
    refs = host.refs(vm_path("gamma"), result_class="VRM_ElementSettingData")
    assert len(refs) == 1
    assert refs[0]["IsDefault"] == 1 and refs[0]["IsCurrent"] == 1
    assert refs[0]["SettingData"]["InstanceID"] == vssd_path("gamma")["InstanceID"]
    vms = host.assocs(vssd_path("gamma"), assoc="VRM_ElementSettingData")
    assert [i["ElementName"] for i in vms] == ["gamma"]
