"""VRM_SystemDevice through both hosts (DSP1057 §7.3): a VM and its devices, from both
ends, with ResultClass narrowing, and nothing for unknown devices. CASES: the devices'
parity cases, also run through a real SFCB."""

import cmpi_testkit as kit

from support.classcases import device_id, device_path, vm_path
from support.parity import Case

SD = "VRM_SystemDevice"
SDS = "VRM_SettingsDefineState"
NIC_SUFFIX = f"nic/{kit.ALPHA_MAC}"
ALPHA_DEVICES = sorted(
    [
        ("VRM_Processor", device_id("alpha", "proc/0")),
        ("VRM_Processor", device_id("alpha", "proc/1")),
        ("VRM_Memory", device_id("alpha", "mem")),
        ("VRM_LogicalDisk", device_id("alpha", "disk/vda")),
        ("VRM_LogicalDisk", device_id("alpha", "disk/hdc")),
        ("VRM_NetworkPort", device_id("alpha", NIC_SUFFIX)),
    ]
)

#: run by tests/test_hosts_parity.py and, through a real SFCB, tests/test_sfcb.py
CASES = [
    Case(
        "a VM's devices (SystemDevice)",
        lambda h: sorted((p.classname, p["DeviceID"]) for p in h.assoc_names(vm_path("alpha"), SD)),
        ALPHA_DEVICES,
    ),
    Case(
        "a device's settings (SettingsDefineState)",
        lambda h: [
            (p.classname, p["InstanceID"])
            for p in h.assoc_names(device_path("VRM_LogicalDisk", "alpha", "disk/vda"), SDS)
        ],
        [("VRM_StorageAllocationSettingData", device_id("alpha", "disk/vda"))],
    ),
    Case(
        "a NIC device's MAC",
        lambda h: h.get(device_path("VRM_NetworkPort", "alpha", NIC_SUFFIX))["PermanentAddress"],
        kit.ALPHA_MAC.replace(":", "").upper(),
    ),
    Case(
        "a VM's capabilities",
        lambda h: [
            list(c["RequestedStatesSupported"])
            for c in h.assocs(
                vm_path("alpha"),
                "VRM_ElementCapabilities",
                result_class="VRM_EnabledLogicalElementCapabilities",
            )
        ],
        [[2, 3, 4, 6, 9, 10, 11]],
    ),
]


def test_vm_to_its_devices(host):
    parts = host.assoc_names(vm_path("alpha"), assoc=SD, role="GroupComponent")
    assert sorted((p.classname, p["DeviceID"]) for p in parts) == ALPHA_DEVICES
    disks = host.assocs(vm_path("alpha"), assoc=SD, result_class="CIM_StorageExtent")
    assert sorted(i.classname for i in disks) == ["VRM_LogicalDisk"] * 2 + ["VRM_Memory"]
    gamma = host.assoc_names(vm_path("gamma"), assoc=SD)
    assert sorted(p.classname for p in gamma) == ["VRM_Memory"] + ["VRM_Processor"] * 2


def test_device_to_its_vm_and_enumeration(host):
    up = host.assocs(device_path("VRM_NetworkPort", "alpha", f"nic/{kit.ALPHA_MAC}"), assoc=SD)
    assert [i["ElementName"] for i in up] == ["alpha"]
    assert host.assoc_names(device_path("VRM_LogicalDisk", "beta", "disk/vda"), assoc=SD) == []
    assert host.assoc_names(vm_path("alpha"), assoc=SD, role="PartComponent") == []
    n_devices = sum(len(host.enum(c)) for c in ("VRM_Processor", "VRM_Memory"))
    n_devices += len(host.enum("VRM_LogicalDisk")) + len(host.enum("VRM_NetworkPort"))
    assert len(host.enum_names(SD)) == n_devices == 3 * 2 + 3 + 2 + 1
