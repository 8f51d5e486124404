"""VRM_HostSystem through both hosts (DSP1042 §7.1)."""

import cmpi_testkit as kit
import pytest
import pywbem

from support.classcases import error_code, host_path


def test_enumerate_names(host):
    names = [p.keybindings["Name"] for p in host.enum_names("VRM_HostSystem")]
    assert names == [kit.BACKEND]


def test_get_has_the_node_facts(host):
    inst = host.get(host_path())
    assert inst["NumberOfProcessors"] == 4
    assert inst["ProcessorMHz"] == 2400
    assert inst["BackendID"] == kit.BACKEND
    assert list(inst["OperationalStatus"]) == [2]


def test_vm_counts_by_state(host):
    """The host summary: its VMs by state (alpha and beta run, gamma is off)."""
    for inst in (host.get(host_path()), host.enum("VRM_HostSystem")[0]):
        assert inst["NumberOfVirtualSystems"] == len(kit.VMS) == 3
        assert inst["VirtualSystemsRunning"] == 2
        assert inst["VirtualSystemsOff"] == 1
        assert inst["VirtualSystemsPaused"] == inst["VirtualSystemsSuspended"] == 0
        assert inst["VirtualSystemsOther"] == 0


def test_property_list(host):
    inst = host.get(host_path(), ["ElementName"])
    assert set(inst.keys()) - {"CreationClassName", "Name"} == {"ElementName"}


@pytest.mark.parametrize(
    "keys, code",
    [
        ({"CreationClassName": "VRM_HostSystem", "Name": "nohost"}, pywbem.CIM_ERR_NOT_FOUND),
        (
            {"CreationClassName": "VRM_ComputerSystem", "Name": kit.BACKEND},
            pywbem.CIM_ERR_NOT_FOUND,
        ),
        ({"CreationClassName": "VRM_HostSystem"}, pywbem.CIM_ERR_INVALID_PARAMETER),
    ],
)
def test_bad_paths(host, keys, code):
    path = pywbem.CIMInstanceName("VRM_HostSystem", keys, namespace=kit.NS)
    assert error_code(lambda: host.get(path)) == code
