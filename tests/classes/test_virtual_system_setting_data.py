"""VRM_VirtualSystemSettingData, VRM_SettingsDefineState and VRM_ElementSettingData
through both hosts (DSP1057 §7.2: one VSSD per VM, linked to its VM)."""

import cmpi_testkit as kit
import pywbem

from support.classcases import ALL_UUIDS, error_code, vm_path

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
    assert len(host.enum_names(sds)) == len(kit.VMS)


def test_element_setting_data_is_default_and_current(host):
    refs = host.refs(vm_path("gamma"), result_class="VRM_ElementSettingData")
    assert len(refs) == 1
    assert refs[0]["IsDefault"] == 1 and refs[0]["IsCurrent"] == 1
    assert refs[0]["SettingData"]["InstanceID"] == vssd_path("gamma")["InstanceID"]
    vms = host.assocs(vssd_path("gamma"), assoc="VRM_ElementSettingData")
    assert [i["ElementName"] for i in vms] == ["gamma"]
