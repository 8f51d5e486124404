"""VRM_Processor through both hosts (DSP1044 §7, DSP1057 §7.3): one virtual processor
per vCPU of every VM, running or defined, keyed by the VM and a DeviceID derived from
the processor RASD's InstanceID; EnabledState follows the VM's."""

import cmpi_testkit as kit
import pywbem

from support.classcases import device_id, device_path, error_code, vm_path

PROC = "VRM_Processor"


def test_one_processor_per_vcpu_of_every_vm(host):
    procs = {i["DeviceID"]: i for i in host.enum(PROC)}
    assert set(procs) == {device_id(n, f"proc/{i}") for n in kit.VMS for i in (0, 1)}
    p = procs[device_id("alpha", "proc/1")]
    assert (p["SystemCreationClassName"], p["SystemName"]) == (
        "VRM_ComputerSystem",
        kit.VMS["alpha"][0],
    )
    assert p["CreationClassName"] == PROC
    assert p["NumberOfEnabledCores"] == 1 and p["Role"] == "Central Processor"
    assert p["ElementName"] == "Virtual processor 1"
    # the keys are the VM's: SystemName is the VM's Name
    assert p.path["SystemName"] == host.get(vm_path("alpha"))["Name"]


def test_devices_of_a_defined_vm_are_disabled(host):
    states = {i["DeviceID"]: i["EnabledState"] for i in host.enum(PROC)}
    assert states[device_id("alpha", "proc/0")] == 2  # running: Enabled
    assert states[device_id("gamma", "proc/0")] == 3  # defined, off: Disabled
    assert {i["RequestedState"] for i in host.enum(PROC)} == {12}  # Not Applicable


def _beta_states(h) -> set[int]:
    return {i["EnabledState"] for i in h.enum(PROC) if i["SystemName"] == kit.VMS["beta"][0]}


def test_device_state_follows_a_state_change(fresh_host):
    """Also after an enumeration (whose instances are reused while a VM is unchanged)."""
    h = fresh_host
    assert h.get(device_path(PROC, "beta", "proc/0"))["EnabledState"] == 2
    assert _beta_states(h) == {2}
    assert h.invoke(vm_path("beta"), "RequestStateChange", RequestedState=3) == 0
    assert h.get(device_path(PROC, "beta", "proc/0"))["EnabledState"] == 3
    assert _beta_states(h) == {3}


def test_get_instance_and_bad_paths(host):
    got = host.get(device_path(PROC, "beta", "proc/1"))
    assert got["DeviceID"] == device_id("beta", "proc/1")
    for bad in (
        device_path(PROC, "beta", "proc/2"),  # beta has 2 vCPUs
        device_path(PROC, "beta", "proc/01"),
        device_path(PROC, "beta", "proc"),  # the RASD's id, not a device
        device_path(PROC, "beta", "mem"),
        device_path(PROC, "beta", "proc/0", SystemName=kit.VMS["alpha"][0]),
        device_path(PROC, "beta", "proc/0", CreationClassName="VRM_Memory"),
        device_path(PROC, "beta", "proc/0", SystemCreationClassName="VRM_HostSystem"),
    ):
        assert error_code(lambda p=bad: host.get(p)) == pywbem.CIM_ERR_NOT_FOUND, bad
