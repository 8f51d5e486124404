"""Reading vSphere VMs: the properties list_vms()/get_vm() fetch in one
PropertyCollector call, vSphere's power states, and a VM's devices as vrmgmt.model
Disk and Nic objects (labels, backing files, controller buses, port groups)."""

from __future__ import annotations

from typing import Any

from pyVmomi import vim

from vrmgmt.model import CpuAllocation, Disk, Nic, PowerState

_POWER_STATES = {
    "poweredOn": PowerState.RUNNING,
    "poweredOff": PowerState.OFF,
    "suspended": PowerState.SUSPENDED,
}

# VM properties read by list_vms()/get_vm(), all in one PropertyCollector call
_VM_PATHS = [
    "name",
    "config.instanceUuid",
    "config.template",
    "config.guestId",
    "config.annotation",
    "config.createDate",
    "config.hardware.numCPU",
    "config.hardware.memoryMB",
    "config.hardware.device",
    "config.cpuAllocation",
    "runtime.powerState",
    "runtime.connectionState",
    # vcsim (govmomi 0.24) updates only the summary copy of the boot time
    "summary.runtime.bootTime",
    "guest.toolsRunningStatus",
]


def _controller_bus(dev: Any) -> str | None:
    for cls_name, bus in (
        ("VirtualNVMEController", "nvme"),
        ("VirtualSATAController", "sata"),
        ("VirtualSCSIController", "scsi"),
        ("VirtualIDEController", "ide"),
        ("VirtualUSBController", "usb"),
    ):
        cls = getattr(vim.vm.device, cls_name, None)
        if cls is not None and isinstance(dev, cls):
            return bus
    return None


def _nic_model(dev: Any) -> str:
    name = type(dev).__name__.rsplit(".", 1)[-1]  # e.g. "VirtualVmxnet3"
    if name.startswith("Virtual"):
        name = name[len("Virtual") :]
    return name.lower()


def devices_of(devices: list[Any], portgroups: dict[str, str]) -> tuple[list[Disk], list[Nic]]:
    """The disks (CD/DVD and floppy drives too) and NICs among a VM's devices;
    distributed port groups named through ``portgroups`` (key -> name)."""
    controllers = {d.key: _controller_bus(d) for d in devices}
    disks: list[Disk] = []
    nics: list[Nic] = []
    for dev in devices:
        label = dev.deviceInfo.label if dev.deviceInfo else str(dev.key)
        backing = dev.backing
        if isinstance(dev, vim.vm.device.VirtualDisk):
            capacity = dev.capacityInBytes
            if not capacity and dev.capacityInKB:
                capacity = dev.capacityInKB * 1024
            disks.append(
                Disk(
                    device=label,
                    source=getattr(backing, "fileName", None),
                    capacity_bytes=capacity,
                    bus=controllers.get(dev.controllerKey),
                    kind="disk",
                )
            )
        elif isinstance(dev, vim.vm.device.VirtualCdrom | vim.vm.device.VirtualFloppy):
            source = getattr(backing, "fileName", None) or None
            kind = "cdrom" if isinstance(dev, vim.vm.device.VirtualCdrom) else "floppy"
            disks.append(
                Disk(
                    device=label,
                    source=source,
                    capacity_bytes=None,
                    bus=controllers.get(dev.controllerKey),
                    kind=kind,
                )
            )
        elif isinstance(dev, vim.vm.device.VirtualEthernetCard):
            network = None
            if isinstance(backing, vim.vm.device.VirtualEthernetCard.NetworkBackingInfo):
                network = backing.deviceName
            elif (
                isinstance(
                    backing, vim.vm.device.VirtualEthernetCard.DistributedVirtualPortBackingInfo
                )
                and backing.port is not None
            ):
                key = backing.port.portgroupKey
                network = portgroups.get(key, key)
            elif isinstance(backing, vim.vm.device.VirtualEthernetCard.OpaqueNetworkBackingInfo):
                network = backing.opaqueNetworkId
            nics.append(
                Nic(
                    mac=(dev.macAddress or "").lower(),
                    network=network,
                    model=_nic_model(dev),
                    device=label,
                )
            )
    return disks, nics


def cpu_allocation_of(info: Any) -> CpuAllocation | None:
    """config.cpuAllocation (vim.ResourceAllocationInfo) as a CpuAllocation in MHz:
    reservation, limit (-1: unlimited, None) and shares (the number, whatever the level)."""
    if info is None:
        return None
    reservation = info.reservation if info.reservation is not None else None
    limit = info.limit if info.limit is not None and info.limit >= 0 else None
    shares = info.shares.shares if info.shares is not None and info.shares.shares else None
    return CpuAllocation(unit="MHz", reservation=reservation, limit=limit, weight=shares)


def cpu_allocation_info(cpu: CpuAllocation) -> Any:
    """A CpuAllocation as the vim.ResourceAllocationInfo of a ConfigSpec: an unset
    reservation is 0, an unset limit -1 (unlimited), an unset weight the "normal" level."""
    if cpu.weight is None:
        shares = vim.SharesInfo(level="normal", shares=0)
    else:
        shares = vim.SharesInfo(level="custom", shares=cpu.weight)
    return vim.ResourceAllocationInfo(
        reservation=cpu.reservation or 0,
        limit=cpu.limit if cpu.limit is not None else -1,
        shares=shares,
    )
