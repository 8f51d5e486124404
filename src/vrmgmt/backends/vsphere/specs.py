"""VMSpec / VMChange to pyVmomi: what vSphere can take of a typed spec (NotSupported
for what it cannot: bridges, CD/DVD disks, non-SCSI buses, other NIC models, several
memory sizes), and the deviceChange list of one ConfigSpec (new disks on free SCSI
units, a controller added when none has room, NICs with their network backing).
No server round trip here."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pyVmomi import vim

from vrmgmt.errors import BackendError, InvalidSpec, NotSupported
from vrmgmt.model import DiskSpec, NicSpec, VMSpec

#: guestId of VMs whose spec names none
DEFAULT_GUEST_ID = "otherGuest64"

#: spec "scsi_controller" -> the SCSI controller added for disks
SCSI_CONTROLLERS: dict[str, type] = {
    "paravirtual": vim.vm.device.ParaVirtualSCSIController,
    "lsilogic": vim.vm.device.VirtualLsiLogicController,
    "lsilogic-sas": vim.vm.device.VirtualLsiLogicSASController,
    "buslogic": vim.vm.device.VirtualBusLogicController,
}
#: NIC "model" -> virtual Ethernet card class (the names Nic.model reports)
NIC_MODELS: dict[str, type] = {
    "vmxnet3": vim.vm.device.VirtualVmxnet3,
    "e1000e": vim.vm.device.VirtualE1000e,
    "e1000": vim.vm.device.VirtualE1000,
    "vmxnet2": vim.vm.device.VirtualVmxnet2,
    "pcnet32": vim.vm.device.VirtualPCNet32,
}
#: disk "provisioning" -> (thinProvisioned, eagerlyScrub)
DISK_PROVISIONING: dict[str, tuple[bool, bool]] = {
    "thin": (True, False),
    "thick": (False, False),
    "eagerzeroedthick": (False, True),
}
_SCSI_UNITS = [u for u in range(16) if u != 7]  # unit 7 is the controller itself
_SCSI_BUSES = 4  # SCSI controllers per VM
#: label prefix of each device kind define_vm/modify_vm add
_LABELS: dict[str, type] = {
    "Hard disk": vim.vm.device.VirtualDisk,
    "Network adapter": vim.vm.device.VirtualEthernetCard,
    "SCSI controller": vim.vm.device.VirtualSCSIController,
}


@dataclass(slots=True)
class _DiskRequest:
    capacity_kb: int | None  # None: attach the existing VMDK ``source``
    source: str  # datastore path ("[ds] dir/file.vmdk", "[ds]") or "" (VM's directory)
    thin: bool
    eager_scrub: bool


@dataclass(slots=True)
class _NicRequest:
    network: str
    mac: str | None
    model: type


@dataclass(slots=True)
class _Network:
    """A network a NIC can be connected to, and what its backing needs."""

    name: str
    ref: Any
    portgroup_key: str | None = None  # distributed port group
    switch: Any = None  # its DistributedVirtualSwitch
    switch_uuid: str | None = None
    opaque_id: str | None = None  # NSX opaque network
    opaque_type: str | None = None


def _nic_backing(net: _Network) -> Any:
    card = vim.vm.device.VirtualEthernetCard
    if net.portgroup_key is not None:
        return card.DistributedVirtualPortBackingInfo(
            port=vim.dvs.PortConnection(switchUuid=net.switch_uuid, portgroupKey=net.portgroup_key)
        )
    if net.opaque_id is not None:
        return card.OpaqueNetworkBackingInfo(
            opaqueNetworkId=net.opaque_id, opaqueNetworkType=net.opaque_type
        )
    return card.NetworkBackingInfo(deviceName=net.name, network=net.ref)


class _DeviceChanges:
    """Builds the deviceChange list of one ConfigSpec: new devices get negative keys, new
    disks a free unit on a SCSI controller (adding a controller when none has room)."""

    def __init__(self, devices: list[Any], controller: type):
        self.changes: list[Any] = []
        self._controller = controller
        self._next_key = -1
        self._scsi: dict[int, set[int]] = {}  # controller key -> units in use
        self._buses: set[int] = set()
        self._labels = {d.deviceInfo.label for d in devices if d.deviceInfo and d.deviceInfo.label}
        self._counts = {
            prefix: sum(isinstance(d, kind) for d in devices) for prefix, kind in _LABELS.items()
        }
        for dev in devices:
            if isinstance(dev, vim.vm.device.VirtualSCSIController):
                self._scsi[dev.key] = {dev.scsiCtlrUnitNumber or 7}
                self._buses.add(dev.busNumber)
        for dev in devices:
            if dev.controllerKey in self._scsi and dev.unitNumber is not None:
                self._scsi[dev.controllerKey].add(dev.unitNumber)

    def _key(self) -> int:
        key, self._next_key = self._next_key, self._next_key - 1
        return key

    def _label(self, prefix: str, number: int | None = None) -> Any:
        """vSphere's label for the next device of a kind ("Hard disk 2"; controllers count
        from 0, their bus number), never one in use. ESXi labels devices itself; vcsim
        keeps the label it is given."""
        self._counts[prefix] += 1
        n = self._counts[prefix] if number is None else number
        while f"{prefix} {n}" in self._labels:
            n += 1
        label = f"{prefix} {n}"
        self._labels.add(label)
        return vim.Description(label=label, summary=label)

    def _slot(self) -> tuple[int, int]:
        for ckey, used in self._scsi.items():
            for unit in _SCSI_UNITS:
                if unit not in used:
                    used.add(unit)
                    return ckey, unit
        bus = next((b for b in range(_SCSI_BUSES) if b not in self._buses), None)
        if bus is None:
            raise BackendError(f"no room for another disk: all {_SCSI_BUSES} SCSI controllers full")
        ckey = self._key()
        self._buses.add(bus)
        self._scsi[ckey] = {7, _SCSI_UNITS[0]}
        self.changes.append(
            vim.vm.device.VirtualDeviceSpec(
                operation="add",
                device=self._controller(
                    key=ckey,
                    busNumber=bus,
                    sharedBus="noSharing",
                    deviceInfo=self._label("SCSI controller", bus),
                ),
            )
        )
        return ckey, _SCSI_UNITS[0]

    def add_disk(self, req: _DiskRequest) -> None:
        ckey, unit = self._slot()
        backing = vim.vm.device.VirtualDisk.FlatVer2BackingInfo(
            fileName=req.source, diskMode="persistent"
        )
        disk = vim.vm.device.VirtualDisk(
            key=self._key(),
            controllerKey=ckey,
            unitNumber=unit,
            backing=backing,
            deviceInfo=self._label("Hard disk"),
        )
        spec = vim.vm.device.VirtualDeviceSpec(operation="add", device=disk)
        if req.capacity_kb is not None:
            backing.thinProvisioned = req.thin
            backing.eagerlyScrub = req.eager_scrub
            disk.capacityInKB = req.capacity_kb
            disk.capacityInBytes = req.capacity_kb * 1024
            spec.fileOperation = "create"
        self.changes.append(spec)

    def add_nic(self, req: _NicRequest, net: _Network, connected: bool) -> None:
        nic = req.model(
            key=self._key(),
            deviceInfo=self._label("Network adapter"),
            backing=_nic_backing(net),
            addressType="manual" if req.mac else "generated",
            connectable=vim.vm.device.VirtualDevice.ConnectInfo(
                startConnected=True, allowGuestControl=True, connected=connected
            ),
        )
        if req.mac:
            nic.macAddress = req.mac
        self.changes.append(vim.vm.device.VirtualDeviceSpec(operation="add", device=nic))

    def remove(self, device: Any, destroy: bool = False) -> None:
        spec = vim.vm.device.VirtualDeviceSpec(operation="remove", device=device)
        if destroy:
            spec.fileOperation = "destroy"
        self.changes.append(spec)


def _find_disk(devices: list[Any], key: str) -> Any:
    """The disk (or CD/DVD or floppy drive) whose label or backing file is ``key``."""
    kinds = (vim.vm.device.VirtualDisk, vim.vm.device.VirtualCdrom, vim.vm.device.VirtualFloppy)
    for dev in devices:
        if not isinstance(dev, kinds):
            continue
        label = dev.deviceInfo.label if dev.deviceInfo else ""
        source = getattr(dev.backing, "fileName", None) or ""
        if key in (label, source) or (source and source.rsplit("/", 1)[-1] == key):
            return dev
    return None


def _find_nic(devices: list[Any], key: str) -> Any:
    """The NIC whose MAC address (any case, ':' or '-') or label is ``key``."""
    mac = key.strip().lower().replace("-", ":")
    for dev in devices:
        if isinstance(dev, vim.vm.device.VirtualEthernetCard):
            label = dev.deviceInfo.label if dev.deviceInfo else ""
            if (dev.macAddress or "").lower() == mac or label == key:
                return dev
    return None


# -- typed specs -> requests (what vSphere can take of them) --------------------------------
def controller_class(choice: str | None) -> type:
    """The SCSI controller class for a spec's scsi_controller (default paravirtual)."""
    return SCSI_CONTROLLERS[choice or "paravirtual"]


def disk_request(d: DiskSpec, where: str) -> _DiskRequest:
    """What to create or attach for a DiskSpec; ``where`` names it in errors
    ("VMSpec.disks[0]"). device and format (libvirt's) are ignored: vSphere labels
    disks itself ("Hard disk 1", ...)."""
    if d.kind != "disk":
        raise NotSupported(
            f"vsphere backend: disks of kind {d.kind!r} cannot be added; only 'disk' ({where})"
        )
    if d.bus not in (None, "scsi"):
        raise NotSupported(
            f"vsphere backend: disk bus {d.bus!r} is not available; disks are attached to a "
            f"SCSI controller (bus 'scsi', see scsi_controller) ({where})"
        )
    source = (d.source or "").strip()
    capacity_kb = None
    if d.capacity_bytes is not None:
        if d.capacity_bytes % 1024:
            raise InvalidSpec(
                f"{where}.capacity_bytes",
                f"must be a multiple of 1024 on vSphere (it sizes disks in KiB), "
                f"got {d.capacity_bytes}",
            )
        capacity_kb = d.capacity_bytes // 1024
    elif not source.startswith("[") or source.endswith("]"):
        raise InvalidSpec(
            f"{where}.source",
            "a disk needs capacity_bytes (a new disk) or a source naming an existing VMDK "
            f"as a datastore path, e.g. '[datastore1] vm/disk.vmdk'; got {d.source!r}",
        )
    thin, eager = DISK_PROVISIONING[d.provisioning or "thin"]
    return _DiskRequest(capacity_kb, source, thin, eager)


def nic_request(n: NicSpec, where: str) -> _NicRequest:
    """The NIC to add for a NicSpec (its MAC is canonical already)."""
    if n.network is None and n.bridge is not None:
        raise NotSupported(
            "vsphere backend: NICs connect to a network (port group) by name, not to a "
            f"bridge: use 'network' instead of 'bridge' ({n.bridge!r})"
        )
    if n.network is None:
        raise InvalidSpec(
            f"{where}.network", "vSphere NICs need a network (the name of a port group)"
        )
    model = (n.model or "vmxnet3").lower()
    if model not in NIC_MODELS:
        raise NotSupported(
            f"vsphere backend: NIC model {model!r} is not available; known: {', '.join(NIC_MODELS)}"
        )
    return _NicRequest(n.network, n.mac, NIC_MODELS[model])


def check_vm_spec(spec: VMSpec) -> None:
    """NotSupported for what a vSphere VM cannot be (before anything is created); the
    libvirt-only fields (arch, machine, init, domain_type, filesystems, serial,
    on_*) are ignored."""
    if spec.max_memory_mib is not None and spec.max_memory_mib != spec.memory_mib:
        raise NotSupported(
            "vsphere backend: a VM has one memory size; leave max_memory_mib out or make "
            "it equal to memory_mib"
        )
    if spec.os_type not in (None, "hvm"):
        raise NotSupported(
            f"vsphere backend: os_type {spec.os_type!r} is not available (only 'hvm')"
        )
    if spec.autostart:
        raise NotSupported(
            "vsphere backend: autostart is a per-host setting (AutoStartManager) that "
            "define_vm does not change; define the VM without it"
        )
