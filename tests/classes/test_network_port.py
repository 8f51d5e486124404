"""VRM_NetworkPort through both hosts (DSP1050 §7, DSP1057 §7.3): one per NIC, DeviceID
= the Ethernet port RASD's InstanceID, PermanentAddress = the MAC in CIM_EthernetPort's
twelve-hex-digit form."""

import cmpi_testkit as kit
import pywbem

from support.classcases import device_id, device_path, error_code

NIC = "VRM_NetworkPort"


def test_nic_of_alpha(host):
    (port,) = host.enum(NIC)
    assert port["DeviceID"] == device_id("alpha", f"nic/{kit.ALPHA_MAC}")
    assert port["PermanentAddress"] == kit.ALPHA_MAC.replace(":", "").upper()
    assert list(port["NetworkAddresses"]) == [port["PermanentAddress"]]
    assert port["LinkTechnology"] == 2  # Ethernet
    assert port.get("Speed") is None  # no backend reports a virtual link speed
    (rasd,) = host.enum("VRM_EthernetPortAllocationSettingData")
    assert rasd["InstanceID"] == port["DeviceID"]
    assert rasd["Address"].replace(":", "").upper() == port["PermanentAddress"]


def test_get_instance_and_not_found(host):
    good = device_path(NIC, "alpha", f"nic/{kit.ALPHA_MAC}")
    assert host.get(good)["EnabledState"] == 2
    bad = device_path(NIC, "alpha", "nic/52:54:00:00:00:99")
    assert error_code(lambda: host.get(bad)) == pywbem.CIM_ERR_NOT_FOUND
