"""VRM_Memory through both hosts (DSP1045 §7, DSP1057 §7.3): one per VM, DeviceID =
the memory RASD's InstanceID, NumberOfBlocks x BlockSize = the VM's current memory."""

import cmpi_testkit as kit
import pytest
import pywbem

from support.classcases import device_id, device_path, error_code

MEM = "VRM_Memory"


def test_one_memory_per_vm_sized_like_its_rasd(host):
    mems = {i["DeviceID"]: i for i in host.enum(MEM)}
    assert set(mems) == {device_id(n, "mem") for n in kit.VMS}
    rasds = {i["InstanceID"]: i for i in host.enum("VRM_MemoryAllocationSettingData")}
    for did, m in mems.items():
        assert did in rasds  # the DeviceID is the RASD's InstanceID
        mib = rasds[did]["VirtualQuantity"]
        assert m["NumberOfBlocks"] * m["BlockSize"] == mib << 20
        assert m["ConsumableBlocks"] == m["NumberOfBlocks"]
        assert m["Volatile"] is True
    assert mems[device_id("beta", "mem")]["NumberOfBlocks"] * 1024 == 512 << 20


def test_get_instance_and_not_found(host):
    assert host.get(device_path(MEM, "gamma", "mem"))["EnabledState"] == 3
    for bad in (device_path(MEM, "gamma", "mem/0"), device_path(MEM, "gamma", "proc")):
        assert error_code(lambda p=bad: host.get(p)) == pywbem.CIM_ERR_NOT_FOUND, bad


def test_a_garbage_device_id_is_named(host):
    bad = device_path(MEM, "gamma", "mem", DeviceID="no-such-device")
    with pytest.raises(pywbem.CIMError) as exc:
        host.get(bad)
    assert exc.value.status_code == pywbem.CIM_ERR_NOT_FOUND
    assert "no memory with DeviceID 'no-such-device'" in exc.value.status_description
