"""VRM_KVMRedirectionSAP and VRM_HostedAccessPoint through every host on the test driver
(DSP1076, docs/console.md): alpha (running) has a VNC display on 127.0.0.1:5901, beta
(running) a SPICE display listening on every address, gamma (off) none."""

import cmpi_testkit as kit
import pywbem
from pywbem import CIMInstanceName

from support.classcases import error_code, vm_path

SAP = "VRM_KVMRedirectionSAP"
HAP = "VRM_HostedAccessPoint"


def sap_path(vm, name) -> CIMInstanceName:
    return CIMInstanceName(
        SAP,
        {
            "SystemCreationClassName": "VRM_ComputerSystem",
            "SystemName": kit.VMS[vm][0],
            "CreationClassName": SAP,
            "Name": name,
        },
        namespace=kit.NS,
    )


def test_displays_of_running_vms(host):
    saps = {(i["SystemName"], i["Name"]): i for i in host.enum(SAP)}
    alpha, beta = kit.VMS["alpha"][0], kit.VMS["beta"][0]
    assert sorted(saps) == sorted([(alpha, "vnc/0"), (beta, "spice/0")])
    vnc = saps[(alpha, "vnc/0")]
    assert (vnc["KVMProtocol"], vnc["OtherKVMProtocol"]) == (4, None)
    assert (vnc["Hostname"], vnc["Port"], vnc["AccessInfo"]) == (
        "127.0.0.1",
        5901,
        "vnc://127.0.0.1:5901",
    )
    assert vnc["EnabledState"] == 2 and vnc["ElementName"] == "VNC console of alpha"
    spice = saps[(beta, "spice/0")]
    assert (spice["KVMProtocol"], spice["OtherKVMProtocol"]) == (1, "SPICE")
    assert spice["AccessInfo"] == "spice://127.0.0.1:5930"
    assert host.get(sap_path("alpha", "vnc/0"))["Port"] == 5901


def test_hosted_by_the_vm(host):
    (p,) = host.assoc_names(vm_path("alpha"), assoc=HAP)
    assert (p.classname, p["Name"]) == (SAP, "vnc/0")
    (back,) = host.assoc_names(sap_path("beta", "spice/0"), assoc=HAP)
    assert back["Name"] == kit.VMS["beta"][0]
    assert host.assoc_names(vm_path("gamma"), assoc=HAP) == []
    assert len(host.enum_names(HAP)) == 2


def test_unknown_display_is_not_found(host):
    assert error_code(lambda: host.get(sap_path("alpha", "spice/0"))) == pywbem.CIM_ERR_NOT_FOUND
    assert error_code(lambda: host.get(sap_path("gamma", "vnc/0"))) == pywbem.CIM_ERR_NOT_FOUND


def test_a_vm_that_stops_has_none(fresh_host):
    h = fresh_host
    rv, _ = h.invoke_typed(vm_path("alpha"), "RequestStateChange", RequestedState=pywbem.Uint16(3))
    assert rv == 0
    assert h.assoc_names(vm_path("alpha"), assoc=HAP) == []
    assert error_code(lambda: h.get(sap_path("alpha", "vnc/0"))) == pywbem.CIM_ERR_NOT_FOUND
