"""VRM_HostedDependency through both hosts (DSP1057 §7.4): Role, ResultRole, ResultClass
and AssocClass as the framework applies them for every declared association."""

import cmpi_testkit as kit
import pytest
import pywbem

from support.classcases import ALL_UUIDS, error_code, host_path, names, vm_path

HD = "VRM_HostedDependency"


def test_vm_to_host(host):
    assert names(host.assoc_names(vm_path("alpha"), HD)) == [kit.BACKEND]


def test_host_to_vms_with_property_list(host):
    got = host.assocs(host_path(), HD, ["ElementName"])
    assert sorted(i["ElementName"] for i in got) == sorted(kit.VMS)
    assert all(i.path.classname == "VRM_ComputerSystem" for i in got)


@pytest.mark.parametrize(
    "kw, expect",
    [
        ({"role": "Antecedent"}, ALL_UUIDS),
        ({"role": "antecedent", "result_role": "DEPENDENT"}, ALL_UUIDS),  # any case
        ({"role": "Dependent"}, []),  # the host is never the Dependent
        ({"result_role": "Antecedent"}, []),
        ({"result_class": "CIM_ComputerSystem"}, ALL_UUIDS),  # a superclass
        ({"result_class": "VRM_HostSystem"}, []),
        ({"result_class": "CIM_Service"}, []),  # unrelated
    ],
)
def test_filters_from_the_host(host, kw, expect):
    assert names(host.assoc_names(host_path(), HD, **kw)) == expect


def test_assoc_class_filter(host):
    # its host, and its VNC display (VRM_HostedAccessPoint is a CIM_HostedDependency)
    assert names(host.assoc_names(vm_path("alpha"), "CIM_HostedDependency")) == [
        kit.BACKEND,
        "vnc/0",
    ]
    # a VM's CIM_Component associations are its devices (VRM_SystemDevice), not its host
    parts = host.assoc_names(vm_path("alpha"), "CIM_Component")
    assert {p.classname for p in parts} == {
        "VRM_Processor",
        "VRM_Memory",
        "VRM_LogicalDisk",
        "VRM_NetworkPort",
    }
    assert host.assoc_names(vm_path("alpha"), "CIM_HostedService") == []


def test_references(host):
    refs = host.refs(host_path(), HD)
    assert sorted(str(r["Dependent"].keybindings["Name"]) for r in refs) == ALL_UUIDS
    assert host.refs(host_path(), HD, role="Dependent") == []
    names_ = host.ref_names(vm_path("beta"), HD, role="Dependent")
    assert [p.classname for p in names_] == [HD]
    assert names_[0].keybindings["Antecedent"].keybindings["Name"] == kit.BACKEND


def test_enumerate_and_get(host):
    insts = host.enum(HD)
    assert sorted(str(i["Dependent"].keybindings["Name"]) for i in insts) == ALL_UUIDS
    one = host.get(insts[0].path)
    assert one["Antecedent"].keybindings["Name"] == kit.BACKEND


def test_get_of_a_pair_that_does_not_exist(host):
    path = pywbem.CIMInstanceName(
        HD, {"Antecedent": host_path("nohost"), "Dependent": vm_path("alpha")}, namespace=kit.NS
    )
    assert error_code(lambda: host.get(path)) == pywbem.CIM_ERR_NOT_FOUND


def test_unknown_vm_has_no_host(host):
    assert host.assoc_names(vm_path("00000000-0000-0000-0000-00000000abcd"), HD) == []
