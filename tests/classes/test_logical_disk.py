"""VRM_LogicalDisk through both hosts (DSP1047 §7, DSP1057 §7.3): one per disk and per
CD/DVD drive, DeviceID = the storage RASD's InstanceID, NumberOfBlocks from the
capacity; a CD/DVD drive is read-only (Access 1)."""

import pywbem

from support.classcases import device_id, device_path, error_code

DISK = "VRM_LogicalDisk"


def test_disk_and_dvd_of_alpha(host):
    disks = {i["DeviceID"]: i for i in host.enum(DISK)}
    assert set(disks) == {device_id("alpha", "disk/vda"), device_id("alpha", "disk/hdc")}
    rasds = {i["InstanceID"]: i for i in host.enum("VRM_StorageAllocationSettingData")}
    vda = disks[device_id("alpha", "disk/vda")]
    capacity = rasds[vda["DeviceID"]]["Capacity"]
    assert vda["BlockSize"] == 512
    assert capacity <= vda["NumberOfBlocks"] * 512 < capacity + 512
    assert (vda["Name"], vda["Access"], vda["Purpose"]) == ("vda", 3, "virtual disk")
    hdc = disks[device_id("alpha", "disk/hdc")]
    assert (hdc["Name"], hdc["Access"], hdc["Purpose"]) == ("hdc", 1, "CD/DVD drive")
    assert hdc["NumberOfBlocks"] is None  # an empty drive has no size
    assert rasds[hdc["DeviceID"]]["ResourceType"] == 16


def test_get_instance_and_not_found(host):
    assert host.get(device_path(DISK, "alpha", "disk/vda"))["ElementName"] == "vda"
    for bad in (
        device_path(DISK, "alpha", "disk/vdz"),
        device_path(DISK, "beta", "disk/vda"),
        device_path(DISK, "alpha", "disk"),
    ):
        assert error_code(lambda p=bad: host.get(p)) == pywbem.CIM_ERR_NOT_FOUND, bad
    no_id = pywbem.CIMInstanceName(DISK, {"SystemName": "x"}, namespace="root/virt")
    assert error_code(lambda: host.get(no_id)) == pywbem.CIM_ERR_INVALID_PARAMETER
