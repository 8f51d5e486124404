"""VMware vSphere backend: one Manager per vCenter Server or standalone ESXi host (pyVmomi).

Its job: log in to the vSphere Web Services API (SOAP over HTTPS on /sdk), keep that
session alive (re-login when vCenter forgets it or restarts), and answer the Manager
interface with vrmgmt.model objects: host facts summed over the HostSystems, VMs read in
bulk with the PropertyCollector, power actions and snapshots as vSphere tasks waited for
with a bound, and performance counters for many VMs in one QueryPerf call. Library
objects and faults never leave this module; errors are vrmgmt.errors exceptions.

Choices (also visible to the CIM layer):

- VM identity is ``config.instanceUuid`` (lower case). vCenter keeps it unique across
  its inventory, unlike the BIOS ``config.uuid``, which copied or cloned-by-hand VMs
  share. get_vm() looks VMs up with SearchIndex.FindByUuid(instanceUuid=True).
- Templates are not VMs here: list_vms() skips them and get_vm() answers NotFound.
- vSphere has no pause: PAUSE is not in supported_actions() and perform() raises
  NotSupported for it. RESUME is accepted like START (vSphere resumes a suspended VM by
  powering it on). SHUTDOWN and REBOOT need running VMware Tools (ShutdownGuest /
  RebootGuest); without them they are InvalidStateTransition and possible_actions()
  leaves them out.
- Every network operation is bounded by ``timeout`` (socket timeout of each HTTPS
  connection, including the API version probe, which pyVim's SmartConnect would do
  without any timeout: that is why this module builds its SoapStubAdapter itself).
  A call against a hung server fails with BackendUnavailable after about ``timeout``
  seconds and is not retried; a dropped connection is retried once, and an expired or
  unknown session (vim.fault.NotAuthenticated) triggers one re-login and one retry.
- Credentials are kept out of repr(), logs and exception messages (even the user name).
- define_vm / modify_vm / undefine_vm take the libvirt backend's spec shape where it maps
  (name, vcpus, memory_kib, disks, nics; see their docstrings for the vSphere-only keys)
  and run CreateVM_Task / ReconfigVM_Task / Destroy_Task with the same bounded task wait
  as power operations. vSphere differs from libvirt in three visible ways: memory is set
  in whole MiB (memory_kib must be a multiple of 1024), NICs join a network (port group)
  by name, never a bridge, and undefine_vm refuses a powered-on VM (power it off first)
  and deletes the VM's files, disks included.
"""

from __future__ import annotations

import contextlib
import http.client
import logging
import math
import os
import re
import ssl
import threading
import time
import uuid as uuidlib
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeVar

from pyVmomi import SoapStubAdapter, vim, vmodl
from pyVmomi.VmomiSupport import GetServiceVersions, versionIdMap

from vrmgmt.backends.base import Manager
from vrmgmt.errors import (
    BackendError,
    BackendUnavailable,
    ConfigError,
    InvalidStateTransition,
    NotFound,
    NotSupported,
)
from vrmgmt.model import Disk, Host, Nic, PowerAction, PowerState, Snapshot, VirtualMachine

log = logging.getLogger(__name__)

T = TypeVar("T")
PC = vmodl.query.PropertyCollector

#: options accepted from the configuration (create_manager(id, "vsphere", **options))
OPTIONS = (
    "host",
    "port",
    "username",
    "password",
    "verify_tls",
    "ca_file",
    "timeout",
    "task_timeout",
)

#: pooled HTTPS connections idle longer than this are closed before reuse; below the idle
#: timeouts of vCenter's reverse proxy, so a pooled connection is rarely found dead
POOL_IDLE_SECONDS = 50

#: realtime performance interval of ESXi/vCenter (seconds)
REALTIME_INTERVAL = 20

#: counters bulk_stats() reports: name -> scale applied to the raw value
STAT_COUNTERS: dict[str, float] = {
    "cpu.usage.average": 0.01,  # raw: hundredths of a percent -> percent
    "cpu.usagemhz.average": 1.0,  # MHz
    "mem.consumed.average": 1.0,  # KiB
    "mem.active.average": 1.0,  # KiB
    "net.usage.average": 1.0,  # KB/s
    "disk.usage.average": 1.0,  # KB/s
}

_POWER_STATES = {
    "poweredOn": PowerState.RUNNING,
    "poweredOff": PowerState.OFF,
    "suspended": PowerState.SUSPENDED,
}

_BASE_TRANSITIONS: dict[PowerState, frozenset[PowerAction]] = {
    PowerState.RUNNING: frozenset({PowerAction.POWER_OFF, PowerAction.SAVE, PowerAction.RESET}),
    PowerState.SUSPENDED: frozenset({PowerAction.START, PowerAction.RESUME, PowerAction.POWER_OFF}),
    PowerState.OFF: frozenset({PowerAction.START}),
}
_GUEST_ACTIONS = frozenset({PowerAction.SHUTDOWN, PowerAction.REBOOT})

# VM properties read by list_vms()/get_vm(), all in one PropertyCollector call
_VM_PATHS = [
    "name",
    "config.instanceUuid",
    "config.template",
    "config.guestId",
    "config.hardware.numCPU",
    "config.hardware.memoryMB",
    "config.hardware.device",
    "runtime.powerState",
    "runtime.connectionState",
    # vcsim (govmomi 0.24) updates only the summary copy of the boot time
    "summary.runtime.bootTime",
    "guest.toolsRunningStatus",
]
_HOST_PATHS = [
    "name",
    "summary.hardware",
    "summary.quickStats.overallMemoryUsage",
    "runtime.connectionState",
]


@dataclass(slots=True)
class _VmState:
    moid: str
    name: str
    state: PowerState
    tools_running: bool


class _Secret:
    """Holds a password; its repr never shows it."""

    __slots__ = ("_value",)

    def __init__(self, value: str):
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "'***'"

    __str__ = __repr__


class _Session:
    """One logged-in connection: ServiceInstance, content and per-session caches."""

    def __init__(self, si: Any, content: Any, stub: Any):
        self.si = si
        self.content = content
        self.stub = stub
        self.lock = threading.Lock()
        self.views: dict[str, Any] = {}
        self.counters: dict[str, Any] | None = None

    def view(self, kind: type) -> Any:
        """A ContainerView over the whole inventory for one managed object type (cached)."""
        name = kind.__name__
        with self.lock:
            view = self.views.get(name)
            if view is None:
                view = self.content.viewManager.CreateContainerView(
                    self.content.rootFolder, [kind], True
                )
                self.views[name] = view
            return view

    def ref(self, kind: type, moid: str) -> Any:
        """A managed object reference bound to this session's stub."""
        return kind(moid, self.stub)


def _is_vcenter(about: Any) -> bool:
    return getattr(about, "apiType", "") == "VirtualCenter"


def _fault_name(fault: BaseException) -> str:
    return getattr(fault, "_wsdlName", None) or type(fault).__name__


#: fault fields that say what a fault is about when it carries no message
_FAULT_DETAILS = ("name", "file", "invalidProperty", "property", "deviceIndex", "existingState")


def _fault_text(fault: BaseException) -> str:
    msg = getattr(fault, "msg", None)
    if not msg:
        for lm in getattr(fault, "faultMessage", None) or []:
            if getattr(lm, "message", None):
                msg = lm.message
                break
    name = _fault_name(fault)
    if msg and msg.lstrip("*").removeprefix("types.") == name:
        msg = None  # vcsim's task faults carry only their Go type name ("*types.X")
    if not msg:
        details = []
        for field in _FAULT_DETAILS:
            value = getattr(fault, field, None)
            if value is not None and value != "" and not isinstance(value, bool):
                details.append(f"{field} {value!r}")
        msg = ", ".join(details)
    return f"{name}: {msg}" if msg else name


def _view_spec(view: Any, kind: type, paths: list[str]) -> Any:
    traverse = PC.TraversalSpec(name="view", path="view", skip=False, type=vim.view.ContainerView)
    return PC.FilterSpec(
        objectSet=[PC.ObjectSpec(obj=view, skip=True, selectSet=[traverse])],
        propSet=[PC.PropertySpec(type=kind, pathSet=paths)],
    )


def _object_spec(obj: Any, kind: type, paths: list[str]) -> Any:
    return PC.FilterSpec(
        objectSet=[PC.ObjectSpec(obj=obj, skip=False)],
        propSet=[PC.PropertySpec(type=kind, pathSet=paths)],
    )


def _props(oc: Any) -> dict[str, Any]:
    return {p.name: p.val for p in (oc.propSet or [])}


def _utc(dt: datetime | None) -> datetime | None:
    if dt is None:
        return None
    if dt.tzinfo is None:
        return dt.replace(tzinfo=UTC)
    return dt.astimezone(UTC)


def _canonical_uuid(value: str) -> str | None:
    try:
        return str(uuidlib.UUID(str(value).strip()))
    except (ValueError, AttributeError, TypeError):
        return None


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


# -- define / modify: spec parsing (no server round trip) ------------------------------
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
_MAC_RE = re.compile(r"^[0-9a-f]{2}(:[0-9a-f]{2}){5}$")


def _integer(value: Any, what: str) -> int:
    """An integer from a spec value (int, or a string of digits); BackendError otherwise."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().isdigit():
        return int(value.strip())
    raise BackendError(f"{what} must be an integer, not {value!r}")


def _vcpus(value: Any) -> int:
    n = _integer(value, "vcpus")
    if n < 1:
        raise BackendError(f"vcpus must be at least 1, not {n}")
    return n


def _memory_mb(value: Any) -> int:
    """memoryMB for a memory_kib value: vSphere sizes memory in whole MiB."""
    kib = _integer(value, "memory_kib")
    if kib < 1024:
        raise BackendError(f"memory_kib must be at least 1024 (1 MiB), not {kib}")
    if kib % 1024:
        raise BackendError(
            f"memory_kib={kib} is not a whole number of MiB: vSphere sets a VM's memory "
            f"in MiB (memoryMB), so memory_kib must be a multiple of 1024 "
            f"(e.g. {kib // 1024 * 1024} or {(kib // 1024 + 1) * 1024})"
        )
    return kib // 1024


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


def _disk_request(d: Any) -> _DiskRequest:
    if not isinstance(d, dict):
        raise BackendError(f"a disk must be a dict (capacity_bytes, source, ...), not {d!r}")
    kind = d.get("kind") or "disk"
    if kind != "disk":
        raise NotSupported(f"vsphere backend: disks of kind {kind!r} cannot be added; only 'disk'")
    bus = d.get("bus")
    if bus not in (None, "", "scsi"):
        raise NotSupported(
            f"vsphere backend: disk bus {bus!r} is not available; disks are attached to a "
            "SCSI controller (bus 'scsi', see the spec's 'scsi_controller')"
        )
    source = d.get("source") or ""
    if not isinstance(source, str):
        raise BackendError(f"a disk 'source' must be a datastore path string, not {source!r}")
    capacity_kb = None
    if d.get("capacity_bytes") is not None:
        capacity = _integer(d["capacity_bytes"], "capacity_bytes")
        if capacity <= 0 or capacity % 1024:
            raise BackendError(
                f"capacity_bytes={capacity} must be a positive multiple of 1024 "
                "(vSphere sizes disks in KiB)"
            )
        capacity_kb = capacity // 1024
    elif not source.strip().startswith("[") or source.strip().endswith("]"):
        raise BackendError(
            "a disk needs 'capacity_bytes' (a new disk) or a 'source' naming an existing "
            "VMDK as a datastore path, e.g. '[datastore1] vm/disk.vmdk'"
        )
    provisioning = str(d.get("provisioning") or "thin").lower()
    if provisioning not in DISK_PROVISIONING:
        raise BackendError(
            f"unknown disk provisioning {provisioning!r}; known: {', '.join(DISK_PROVISIONING)}"
        )
    thin, eager = DISK_PROVISIONING[provisioning]
    return _DiskRequest(capacity_kb, source.strip(), thin, eager)


def _nic_request(n: Any) -> _NicRequest:
    if not isinstance(n, dict):
        raise BackendError(f"a NIC must be a dict (network, mac, model), not {n!r}")
    network = n.get("network")
    if not network and n.get("bridge"):
        raise NotSupported(
            "vsphere backend: NICs connect to a network (port group) by name, not to a "
            f"bridge: use 'network' instead of 'bridge' ({n['bridge']!r})"
        )
    if not isinstance(network, str) or not network:
        raise BackendError("a NIC needs a 'network' (the name of a port group)")
    mac = n.get("mac")
    if mac is not None:
        mac = str(mac).strip().lower().replace("-", ":")
        if not _MAC_RE.match(mac):
            raise BackendError(f"bad MAC address {n['mac']!r} (want six hex octets, 00:50:56:..)")
    model = str(n.get("model") or "vmxnet3").lower()
    if model not in NIC_MODELS:
        raise NotSupported(
            f"vsphere backend: NIC model {model!r} is not available; known: {', '.join(NIC_MODELS)}"
        )
    return _NicRequest(network, mac, NIC_MODELS[model])


def _name_list(names: Iterable[str]) -> str:
    listed = sorted(set(names))
    return ", ".join(repr(n) for n in listed) if listed else "none"


def _pick(
    kind: str, name: str, candidates: dict[str, list[Any]], where: str, hint: str = ""
) -> Any:
    """The one candidate called ``name``; BackendError naming the choices otherwise.
    ``where`` continues the sentence, e.g. "in datacenter 'DC0'"."""
    found = candidates.get(name) or []
    available = f"(available: {_name_list(candidates)})"
    if not found:
        raise BackendError(f"{kind} {name!r} does not exist {where} {available}")
    if len(found) > 1:
        raise BackendError(
            f"{kind} name {name!r} is ambiguous {where}: {len(found)} objects have it"
            f"{hint} {available}"
        )
    return found[0]


def _view_filter(view: Any, props: dict[type, list[str]]) -> Any:
    """Like _view_spec, for several managed object types at once."""
    traverse = PC.TraversalSpec(name="view", path="view", skip=False, type=vim.view.ContainerView)
    return PC.FilterSpec(
        objectSet=[PC.ObjectSpec(obj=view, skip=True, selectSet=[traverse])],
        propSet=[PC.PropertySpec(type=kind, pathSet=paths) for kind, paths in props.items()],
    )


def _owner_kind(obj: Any) -> str:
    if isinstance(obj, vim.ClusterComputeResource):
        return "cluster"
    return "host"


@dataclass(slots=True)
class _Placement:
    """Where define_vm puts a new VM (managed object ids and names)."""

    datacenter: str  # name
    folder: str  # moid
    folder_name: str
    pool: str  # moid
    owner: Any  # the pool's ComputeResource (reference)
    owner_name: str
    datastore: str  # name


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


class VSphereManager(Manager):
    """Manager for one vCenter Server or ESXi host; safe to use from several threads."""

    kind = "vsphere"

    def __init__(
        self,
        backend_id: str,
        host: str | None = None,
        port: int = 443,
        username: str | None = None,
        password: str | None = None,
        verify_tls: bool = True,
        ca_file: str | None = None,
        timeout: float = 10.0,
        task_timeout: float | None = None,
        **unknown: Any,
    ):
        where = f"backend {backend_id!r} (vsphere)"
        if unknown:
            raise ConfigError(
                f"{where}: unknown option(s) {', '.join(sorted(unknown))}; "
                f"known: {', '.join(OPTIONS)}"
            )
        if not isinstance(host, str) or not host.strip():
            raise ConfigError(f"{where}: option 'host' (vCenter or ESXi host name) is required")
        if isinstance(port, bool) or not isinstance(port, int) or not 0 < port < 65536:
            raise ConfigError(f"{where}: option 'port' must be an integer 1-65535")
        if not isinstance(username, str) or not username:
            raise ConfigError(f"{where}: option 'username' is required")
        if not isinstance(password, str):
            raise ConfigError(f"{where}: option 'password' is required")
        if not isinstance(verify_tls, bool):
            raise ConfigError(f"{where}: option 'verify_tls' must be true or false")
        if ca_file is not None and (not isinstance(ca_file, str) or not os.path.isfile(ca_file)):
            raise ConfigError(f"{where}: ca_file {ca_file!r} is not a readable file")
        for name, value in (("timeout", timeout), ("task_timeout", task_timeout)):
            if value is None and name == "task_timeout":
                continue
            if (
                isinstance(value, bool)
                or not isinstance(value, int | float)
                or not math.isfinite(value)
                or value <= 0
            ):
                raise ConfigError(f"{where}: option {name!r} must be a positive number of seconds")
        super().__init__(backend_id, timeout=float(timeout))
        self._host = host.strip()
        self._port = port
        self._username = _Secret(username)
        self._password = _Secret(password)
        self._verify_tls = verify_tls
        self._ca_file = ca_file
        #: bound for vSphere tasks (power operations, snapshots) to finish
        self.task_timeout = float(task_timeout) if task_timeout else max(60.0, 6 * self.timeout)
        self._lock = threading.Lock()  # guards _session (login, re-login, close)
        self._session: _Session | None = None
        self._login_error: BackendUnavailable | None = None  # how the last login failed
        self._login_failed_at = 0.0  # and when (time.monotonic())
        self._tools: dict[str, bool] = {}  # uuid -> VMware Tools running, as last read

    def __repr__(self) -> str:
        return f"<VSphereManager {self.backend_id!r} {self.url}>"

    @property
    def url(self) -> str:
        host = f"[{self._host}]" if ":" in self._host else self._host
        return f"https://{host}:{self._port}/sdk"

    # -- connection -------------------------------------------------------------------
    def connect(self) -> None:
        """Log in (again); BackendUnavailable when unreachable or the login is refused."""
        with self._lock:
            old, self._session = self._session, None
            if old is not None:
                self._logout(old)
            self._login_locked(float("inf"))  # always a fresh attempt

    def close(self) -> None:
        with self._lock:
            old, self._session = self._session, None
        if old is not None:
            self._logout(old)

    @property
    def connected(self) -> bool:
        return self._session is not None

    def _ssl_context(self) -> ssl.SSLContext:
        if not self._verify_tls:
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
            return ctx
        try:
            return ssl.create_default_context(cafile=self._ca_file)
        except (OSError, ssl.SSLError) as exc:
            raise BackendUnavailable(
                self.backend_id, f"cannot load ca_file {self._ca_file!r}: {exc}"
            ) from None

    def _scrub(self, text: str) -> str:
        secret = self._password.reveal()
        if len(secret) >= 3:
            text = text.replace(secret, "***")
        return text

    def _unavailable(self, exc: BaseException, doing: str = "") -> BackendUnavailable:
        if isinstance(exc, ssl.SSLCertVerificationError):
            detail = (
                f"TLS certificate verification failed ({exc.verify_message}); "
                "configure ca_file or verify_tls = false"
            )
        elif isinstance(exc, TimeoutError):
            detail = f"no answer within {self.timeout:g} s"
        elif isinstance(exc, ConnectionRefusedError):
            detail = "connection refused"
        elif isinstance(exc, ConnectionError | http.client.RemoteDisconnected):
            detail = f"connection lost ({type(exc).__name__})"
        elif isinstance(exc, ssl.SSLError):
            detail = f"TLS error: {exc.reason or exc}"
        elif isinstance(exc, http.client.HTTPException):
            detail = f"HTTP error: {exc or type(exc).__name__}"
        else:
            detail = str(exc) or type(exc).__name__
        prefix = f"{self.url}: " + (f"{doing}: " if doing else "")
        return BackendUnavailable(self.backend_id, self._scrub(prefix + detail))

    def _negotiate_version(self, ctx: ssl.SSLContext) -> str:
        """The newest vim25 API version both pyVmomi and the server speak (bounded)."""
        conn = http.client.HTTPSConnection(
            self._host, self._port, context=ctx, timeout=self.timeout
        )
        try:
            conn.request("GET", "/sdk/vimServiceVersions.xml")
            resp = conn.getresponse()
            body = resp.read()
        finally:
            conn.close()
        if resp.status != 200:
            raise BackendUnavailable(
                self.backend_id,
                f"{self.url}: not a vSphere API endpoint (vimServiceVersions.xml: HTTP "
                f"{resp.status})",
            )
        try:
            root = ET.fromstring(body)
        except ET.ParseError:
            raise BackendUnavailable(
                self.backend_id, f"{self.url}: unreadable vimServiceVersions.xml"
            ) from None
        offered: set[str] = set()
        for ns in root.findall("namespace"):
            name = ns.findtext("name")
            if name and name != "urn:vim25":
                continue
            offered.update(v.text.strip() for v in ns.findall("version") if v.text)
            offered.update(v.text.strip() for v in ns.findall("priorVersions/version") if v.text)
        for version in GetServiceVersions("vim25"):
            if versionIdMap.get(version) in offered:
                return version
        raise BackendUnavailable(
            self.backend_id,
            f"{self.url}: no API version in common (server offers {sorted(offered)})",
        )

    def _login(self) -> _Session:
        """Open a new session. Caller holds self._lock."""
        started = time.monotonic()
        ctx = self._ssl_context()
        try:
            version = self._negotiate_version(ctx)
            stub = SoapStubAdapter(
                host=self._host,
                port=self._port,
                path="/sdk",
                version=version,
                sslContext=ctx,
                httpConnectionTimeout=self.timeout,
                connectionPoolTimeout=POOL_IDLE_SECONDS,
            )
            si = vim.ServiceInstance("ServiceInstance", stub)
            content = si.RetrieveContent()
        except (OSError, http.client.HTTPException) as exc:
            raise self._unavailable(exc) from None
        except vmodl.MethodFault as fault:
            raise BackendUnavailable(
                self.backend_id, self._scrub(f"{self.url}: {_fault_text(fault)}")
            ) from None
        try:
            content.sessionManager.Login(self._username.reveal(), self._password.reveal(), None)
        except vim.fault.InvalidLogin:
            stub.DropConnections()
            raise BackendUnavailable(
                self.backend_id,
                f"login refused: incorrect user name or password for {self.url}",
            ) from None
        except vmodl.MethodFault as fault:
            stub.DropConnections()
            raise BackendUnavailable(
                self.backend_id, self._scrub(f"login refused by {self.url}: {_fault_text(fault)}")
            ) from None
        except (OSError, http.client.HTTPException) as exc:
            stub.DropConnections()
            raise self._unavailable(exc, "login") from None
        about = content.about
        log.info(
            "vsphere backend %s: logged in to %s (%s %s, API %s) in %.2f s",
            self.backend_id,
            self.url,
            about.name,
            about.version,
            version,
            time.monotonic() - started,
        )
        return _Session(si, content, stub)

    def _logout(self, session: _Session) -> None:
        try:
            session.content.sessionManager.Logout()
        except Exception as exc:  # best effort: the server may be gone
            log.debug("vsphere backend %s: logout failed: %s", self.backend_id, type(exc).__name__)
        finally:
            session.stub.DropConnections()

    def _login_locked(self, since: float) -> _Session:
        """Log in; caller holds self._lock. ``since`` is when the caller began to wait for
        the lock: if a login failed after that, fail the same way at once instead of
        queueing another full timeout behind it."""
        if self._login_error is not None and self._login_failed_at >= since:
            raise BackendUnavailable(self.backend_id, self._login_error.detail)
        try:
            self._session = self._login()
        except BackendUnavailable as exc:
            self._login_error, self._login_failed_at = exc, time.monotonic()
            raise
        self._login_error = None
        return self._session

    def _get_session(self) -> _Session:
        session = self._session
        if session is not None:
            return session
        since = time.monotonic()
        with self._lock:
            if self._session is not None:
                return self._session
            return self._login_locked(since)

    def _relogin(self, failed: _Session) -> _Session:
        """Replace a session the server no longer knows (once, whichever thread comes first)."""
        since = time.monotonic()
        with self._lock:
            if self._session is failed:
                self._session = None
                failed.stub.DropConnections()
                log.warning("vsphere backend %s: session gone, logging in again", self.backend_id)
            if self._session is not None:
                return self._session
            return self._login_locked(since)

    def _call(self, fn: Callable[[_Session], T], *, idempotent: bool = True) -> T:
        """Run fn with a live session, translating library errors.

        An expired/unknown session leads to one re-login and one retry (the server refused
        the call, so this is safe for any call). A dropped connection is retried once only
        when ``idempotent``; a timeout or a certificate rejection is never retried (the
        backend hangs or is misconfigured: fail fast).
        """
        session = self._get_session()
        relogins, retries = 1, (1 if idempotent else 0)
        while True:
            try:
                return fn(session)
            except (vim.fault.NotAuthenticated, vmodl.fault.ManagedObjectNotFound) as fault:
                if isinstance(fault, vmodl.fault.ManagedObjectNotFound) and not isinstance(
                    getattr(fault, "obj", None), vim.view.View
                ):
                    raise NotFound(
                        f"backend {self.backend_id!r}: object vanished: {_fault_text(fault)}"
                    ) from None
                # Our session is gone. (A ContainerView is session-scoped: when it has
                # vanished, so has the session; vcsim answers property reads of a session
                # it does not know that way instead of with NotAuthenticated.)
                if relogins == 0:
                    raise BackendUnavailable(
                        self.backend_id, f"{self.url}: session refused right after login"
                    ) from None
                relogins -= 1
                session = self._relogin(session)
            except (OSError, http.client.HTTPException) as exc:
                if retries == 0 or isinstance(exc, TimeoutError | ssl.SSLCertVerificationError):
                    raise self._unavailable(exc) from None
                retries -= 1
                log.info(
                    "vsphere backend %s: %s, retrying once", self.backend_id, type(exc).__name__
                )
            except (vmodl.fault.MethodNotFound, vmodl.fault.NotImplemented) as fault:
                raise NotSupported(f"backend {self.backend_id!r}: {_fault_text(fault)}") from None
            except vmodl.MethodFault as fault:
                raise BackendError(
                    f"backend {self.backend_id!r}: {self._scrub(_fault_text(fault))}"
                ) from None

    # -- property reads ------------------------------------------------------------------
    def _retrieve(self, session: _Session, specs: list[Any]) -> list[Any]:
        return session.content.propertyCollector.RetrieveContents(specs) or []

    def _portgroup_spec(self, session: _Session) -> Any:
        return _view_spec(
            session.view(vim.dvs.DistributedVirtualPortgroup),
            vim.dvs.DistributedVirtualPortgroup,
            ["key", "name"],
        )

    def _read_vms(self, session: _Session, vm_moid: str | None = None) -> list[VirtualMachine]:
        """VMs from ONE RetrieveContents call (all VMs, or the one with vm_moid)."""
        if vm_moid is None:
            vm_spec = _view_spec(session.view(vim.VirtualMachine), vim.VirtualMachine, _VM_PATHS)
        else:
            vm_spec = _object_spec(
                session.ref(vim.VirtualMachine, vm_moid), vim.VirtualMachine, _VM_PATHS
            )
        specs = [vm_spec]
        if _is_vcenter(session.content.about):
            specs.append(self._portgroup_spec(session))
        portgroups: dict[str, str] = {}
        vm_contents = []
        for oc in self._retrieve(session, specs):
            if isinstance(oc.obj, vim.dvs.DistributedVirtualPortgroup):
                p = _props(oc)
                portgroups[p.get("key") or oc.obj._moId] = p.get("name", "")
            elif isinstance(oc.obj, vim.VirtualMachine):
                vm_contents.append(oc)
        vms = []
        for oc in vm_contents:
            vm = self._to_vm(_props(oc), portgroups)
            if vm is not None:
                vms.append(vm)
        return vms

    def _to_vm(self, p: dict[str, Any], portgroups: dict[str, str]) -> VirtualMachine | None:
        uuid = p.get("config.instanceUuid")
        if not uuid or p.get("config.template"):
            return None  # template, or a VM without configuration (inaccessible)
        uuid = uuid.lower()
        state = _POWER_STATES.get(str(p.get("runtime.powerState")), PowerState.UNKNOWN)
        if str(p.get("runtime.connectionState", "connected")) != "connected":
            state = PowerState.UNKNOWN  # disconnected / orphaned / inaccessible
        tools = str(p.get("guest.toolsRunningStatus")) == "guestToolsRunning"
        self._tools[uuid] = tools
        uptime = None
        boot = _utc(p.get("summary.runtime.bootTime"))
        if state is PowerState.RUNNING and boot is not None:
            uptime = max(0, int((datetime.now(UTC) - boot).total_seconds()))
        memory_kib = int(p.get("config.hardware.memoryMB") or 0) * 1024
        disks, nics = self._devices(p.get("config.hardware.device") or [], portgroups)
        return VirtualMachine(
            uuid=uuid,
            name=p.get("name", ""),
            backend_id=self.backend_id,
            state=state,
            vcpus=int(p.get("config.hardware.numCPU") or 0),
            memory_kib=memory_kib,
            max_memory_kib=memory_kib,
            virtual_system_type="VMware",
            persistent=True,
            autostart=False,
            uptime_s=uptime,
            os_type=p.get("config.guestId"),
            guest_agent_running=tools,
            disks=disks,
            nics=nics,
        )

    @staticmethod
    def _devices(devices: list[Any], portgroups: dict[str, str]) -> tuple[list[Disk], list[Nic]]:
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
                elif isinstance(
                    backing, vim.vm.device.VirtualEthernetCard.OpaqueNetworkBackingInfo
                ):
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

    def _find_moid(self, session: _Session, uuid: str) -> str:
        canonical = _canonical_uuid(uuid)
        if canonical is not None:
            ref = session.content.searchIndex.FindByUuid(None, canonical, True, True)
            if ref is not None:
                return ref._moId
        raise NotFound(f"no VM with UUID {uuid!r} on backend {self.backend_id!r}")

    def _vm_state(self, uuid: str) -> _VmState:
        def read(session: _Session) -> _VmState:
            moid = self._find_moid(session, uuid)
            ocs = self._retrieve(
                session,
                [
                    _object_spec(
                        session.ref(vim.VirtualMachine, moid),
                        vim.VirtualMachine,
                        [
                            "name",
                            "config.template",
                            "runtime.powerState",
                            "runtime.connectionState",
                            "guest.toolsRunningStatus",
                        ],
                    )
                ],
            )
            p = _props(ocs[0]) if ocs else {}
            if p.get("config.template"):
                raise NotFound(f"{uuid!r} on backend {self.backend_id!r} is a template")
            state = _POWER_STATES.get(str(p.get("runtime.powerState")), PowerState.UNKNOWN)
            if str(p.get("runtime.connectionState", "connected")) != "connected":
                state = PowerState.UNKNOWN
            tools = str(p.get("guest.toolsRunningStatus")) == "guestToolsRunning"
            self._tools[_canonical_uuid(uuid) or uuid.lower()] = tools
            return _VmState(moid, p.get("name", ""), state, tools)

        return self._call(read)

    # -- host ---------------------------------------------------------------------------
    def host(self) -> Host:
        def read(session: _Session) -> Host:
            about = session.content.about
            ocs = self._retrieve(
                session, [_view_spec(session.view(vim.HostSystem), vim.HostSystem, _HOST_PATHS)]
            )
            models: list[str] = []
            cpu_count = cpu_mhz = total_kib = free_kib = 0
            have_free = False
            unreachable = 0
            for oc in ocs:
                p = _props(oc)
                hw = p.get("summary.hardware")
                connected = str(p.get("runtime.connectionState", "connected")) == "connected"
                if not connected:
                    unreachable += 1
                if hw is None:
                    continue
                if hw.cpuModel and hw.cpuModel not in models:
                    models.append(hw.cpuModel)
                cpu_count += int(hw.numCpuThreads or 0)
                cpu_mhz = max(cpu_mhz, int(hw.cpuMhz or 0))
                host_kib = int(hw.memorySize or 0) // 1024
                total_kib += host_kib
                used_mb = p.get("summary.quickStats.overallMemoryUsage")
                if connected and used_mb is not None:
                    have_free = True
                    free_kib += max(0, host_kib - int(used_mb) * 1024)
            detail = ""
            if unreachable:
                detail = f"{unreachable} of {len(ocs)} ESXi hosts not connected"
            return Host(
                backend_id=self.backend_id,
                hostname=self._host,
                hypervisor_type="VMware vCenter" if _is_vcenter(about) else "VMware ESX",
                hypervisor_version=about.version or "",
                virtual_system_type="VMware",
                cpu_model="; ".join(models),
                cpu_count=cpu_count,
                cpu_mhz=cpu_mhz,
                memory_total_kib=total_kib,
                memory_free_kib=free_kib if have_free else None,
                uri=self.url,
                status_detail=detail,
            )

        return self._call(read)

    # -- VMs ----------------------------------------------------------------------------
    def list_vms(self) -> list[VirtualMachine]:
        return self._call(self._read_vms)

    def get_vm(self, uuid: str) -> VirtualMachine:
        def read(session: _Session) -> VirtualMachine:
            vms = self._read_vms(session, self._find_moid(session, uuid))
            if not vms:
                raise NotFound(
                    f"{uuid!r} on backend {self.backend_id!r} is a template or inaccessible"
                )
            return vms[0]

        return self._call(read)

    def supported_actions(self) -> frozenset[PowerAction]:
        return frozenset(PowerAction) - {PowerAction.PAUSE}

    @staticmethod
    def _transitions(state: PowerState, tools_running: bool) -> frozenset[PowerAction]:
        actions = _BASE_TRANSITIONS.get(state, frozenset())
        if state is PowerState.RUNNING and tools_running:
            actions = actions | _GUEST_ACTIONS
        return actions

    def possible_actions(self, vm: VirtualMachine) -> frozenset[PowerAction]:
        tools = self._tools.get(vm.uuid)
        if tools is None and vm.state is PowerState.RUNNING:
            try:
                tools = self._vm_state(vm.uuid).tools_running
            except (NotFound, BackendUnavailable, BackendError):
                tools = False
        return self._transitions(vm.state, bool(tools))

    def perform(self, uuid: str, action: PowerAction) -> None:
        if action is PowerAction.PAUSE:
            raise NotSupported("vSphere cannot pause a VM; use SAVE (suspend) instead")
        vm = self._vm_state(uuid)
        if action not in self._transitions(vm.state, vm.tools_running):
            if action in _GUEST_ACTIONS and vm.state is PowerState.RUNNING:
                raise InvalidStateTransition(
                    f"cannot {action.value} VM {vm.name!r}: VMware Tools are not running "
                    "in the guest (use power-off or reset instead)"
                )
            raise InvalidStateTransition(
                f"cannot {action.value} VM {vm.name!r} in state {vm.state.value}"
            )
        what = f"{action.value} VM {vm.name!r}"
        if action in _GUEST_ACTIONS:
            method = "ShutdownGuest" if action is PowerAction.SHUTDOWN else "RebootGuest"

            def guest(session: _Session) -> None:
                try:
                    getattr(session.ref(vim.VirtualMachine, vm.moid), method)()
                except (vim.fault.ToolsUnavailable, vim.fault.InvalidState) as fault:
                    raise self._task_fault(what, fault) from None

            self._call(guest, idempotent=False)
            return
        method = {
            PowerAction.START: "PowerOnVM_Task",
            PowerAction.RESUME: "PowerOnVM_Task",
            PowerAction.POWER_OFF: "PowerOffVM_Task",
            PowerAction.SAVE: "SuspendVM_Task",
            PowerAction.RESET: "ResetVM_Task",
        }[action]
        self._run_task(what, lambda s: getattr(s.ref(vim.VirtualMachine, vm.moid), method)())

    # -- define / modify / undefine -----------------------------------------------------
    def define_vm(self, spec: dict) -> VirtualMachine:
        """Create a VM (CreateVM_Task) from a spec shaped like the libvirt backend's; the new
        VM, powered off.

        Spec keys (as in LibvirtManager's build_domain_xml where they map):

        - ``name`` (required; vSphere refuses a second object of that name in the folder,
          and so does this method, before creating anything), ``memory_kib`` (required; a
          whole number of MiB, since vSphere's unit is memoryMB: anything else raises
          BackendError before anything is created; real ESXi also wants a multiple of
          4 MiB and refuses other sizes itself), ``vcpus`` (1), ``uuid`` (sets
          ``config.instanceUuid``, which is the VM's identity here), ``description`` (the
          VM's annotation). ``max_memory_kib`` must equal ``memory_kib`` if given (a
          vSphere VM has one memory size); ``os_type`` may only be "hvm"; ``arch``,
          ``machine`` and the libvirt-only keys are ignored.
        - vSphere only: ``guest_id`` (guest OS identifier, default "otherGuest64"),
          ``datacenter``, ``folder`` (a VM folder), ``resource_pool`` (a resource pool, or
          a cluster or standalone host meaning its root pool), ``datastore`` (for the VM's
          files, ``files.vmPathName = "[datastore]"``), all by name. By default the VM goes
          into the first datacenter's VM folder, the first compute resource's root
          resource pool and that compute resource's first accessible datastore. A name
          that does not exist (or that several objects share) raises BackendError listing
          the available names. ``scsi_controller``: the controller added for the disks,
          "paravirtual" (default), "lsilogic", "lsilogic-sas" or "buslogic"; none is added
          for a VM without disks.
        - ``disks`` [{``capacity_bytes`` (a new disk of that size, a multiple of 1024,
          created in the VM's directory, or at ``source`` if that names a datastore path,
          "[ds] dir/x.vmdk" or just "[ds]"), ``source`` (without ``capacity_bytes``: an
          existing VMDK to attach, "[ds] dir/x.vmdk"), ``provisioning`` ("thin" default,
          "thick", "eagerzeroedthick")}]. ``bus`` may only be "scsi"; ``kind`` only "disk"
          (NotSupported otherwise); ``device`` is ignored: vSphere labels disks itself
          ("Hard disk 1", ...), and those labels are what Disk.device reports.
        - ``nics`` [{``network`` (required: the name of a standard or distributed port
          group, or NSX opaque network, reachable from the chosen compute resource; an
          unknown name raises BackendError listing the available ones), ``mac`` (a static
          MAC, addressType "manual": vCenter accepts only 00:50:56:00:00:00 to
          00:50:56:3f:ff:ff there; without it vSphere generates one), ``model``
          ("vmxnet3" default, "e1000e", "e1000", "vmxnet2", "pcnet32")}]. ``bridge`` is
          NotSupported: vSphere connects NICs to port groups.
        """
        if not isinstance(spec, dict):
            raise BackendError(f"a VM spec must be a dict, not {type(spec).__name__}")
        name = spec.get("name")
        if not isinstance(name, str) or not name.strip():
            raise BackendError("a VM spec needs a non-empty 'name'")
        if spec.get("memory_kib") is None:
            raise BackendError("a VM spec needs integer 'memory_kib'")
        memory_mb = _memory_mb(spec["memory_kib"])
        if spec.get("max_memory_kib") is not None and _integer(
            spec["max_memory_kib"], "max_memory_kib"
        ) != _integer(spec["memory_kib"], "memory_kib"):
            raise NotSupported(
                "vsphere backend: a VM has one memory size; leave max_memory_kib out or make "
                "it equal to memory_kib"
            )
        vcpus = _vcpus(spec.get("vcpus", 1))
        if spec.get("os_type") not in (None, "", "hvm"):
            raise NotSupported(
                f"vsphere backend: os_type {spec['os_type']!r} is not available (only 'hvm')"
            )
        guest_id = spec.get("guest_id") or DEFAULT_GUEST_ID
        if not isinstance(guest_id, str):
            raise BackendError(f"guest_id must be a string, not {guest_id!r}")
        instance_uuid = None
        if spec.get("uuid"):
            instance_uuid = _canonical_uuid(spec["uuid"])
            if instance_uuid is None:
                raise BackendError(f"bad uuid {spec['uuid']!r}")
        controller = self._controller_class(spec.get("scsi_controller"))
        for key in ("disks", "nics"):
            if not isinstance(spec.get(key) or [], list | tuple):
                raise BackendError(f"'{key}' must be a list of dicts")
        disks = [_disk_request(d) for d in spec.get("disks") or ()]
        nics = [_nic_request(n) for n in spec.get("nics") or ()]
        what = f"define VM {name!r}"

        def prepare(session: _Session) -> tuple[_Placement, dict[str, _Network]]:
            place = self._placement(session, spec)
            folder = session.ref(vim.Folder, place.folder)
            if session.content.searchIndex.FindChild(folder, name) is not None:
                raise BackendError(
                    f"cannot {what}: folder {place.folder_name!r} of datacenter "
                    f"{place.datacenter!r} already holds an object of that name"
                )
            where = f"on {_owner_kind(place.owner)} {place.owner_name!r}"
            nets = self._networks(session, place.owner, [n.network for n in nics], where)
            return place, nets

        place, nets = self._call(prepare)
        changes = _DeviceChanges([], controller)
        for d in disks:
            changes.add_disk(d)
        for n in nics:
            changes.add_nic(n, nets[n.network], connected=False)
        config = vim.vm.ConfigSpec(
            name=name,
            numCPUs=vcpus,
            memoryMB=memory_mb,
            guestId=guest_id,
            files=vim.vm.FileInfo(vmPathName=f"[{place.datastore}]"),
            deviceChange=changes.changes,
        )
        if instance_uuid:
            config.instanceUuid = instance_uuid
        if spec.get("description"):
            config.annotation = str(spec["description"])
        try:
            result = self._run_task(
                what,
                lambda s: s.ref(vim.Folder, place.folder).CreateVM_Task(
                    config=config, pool=s.ref(vim.ResourcePool, place.pool)
                ),
            )
        except NotFound as exc:  # a fault about the spec, not a missing VM
            raise BackendError(str(exc)) from None
        moid = getattr(result, "_moId", None)
        if not moid:
            raise BackendError(f"{what}: the task returned no VM")
        log.info("vsphere backend %s: defined VM %r (%s)", self.backend_id, name, moid)
        vms = self._call(lambda s: self._read_vms(s, moid))
        if not vms:
            raise BackendError(f"{what}: the new VM {moid} cannot be read back")
        return vms[0]

    @staticmethod
    def _controller_class(choice: Any) -> type:
        key = str(choice or "paravirtual").lower()
        if key not in SCSI_CONTROLLERS:
            raise BackendError(
                f"unknown scsi_controller {choice!r}; known: {', '.join(SCSI_CONTROLLERS)}"
            )
        return SCSI_CONTROLLERS[key]

    def _placement(self, session: _Session, spec: dict) -> _Placement:
        """Datacenter, VM folder, resource pool and datastore for a new VM (3 round trips:
        datacenters, then one ContainerView over the chosen datacenter, read and dropped)."""
        dcs = self._retrieve(
            session,
            [_view_spec(session.view(vim.Datacenter), vim.Datacenter, ["name", "vmFolder"])],
        )
        if not dcs:
            raise BackendError(f"backend {self.backend_id!r}: the inventory has no datacenter")
        dc = dcs[0]
        if spec.get("datacenter"):
            by_name: dict[str, list[Any]] = {}
            for oc in dcs:
                by_name.setdefault(_props(oc).get("name", ""), []).append(oc)
            dc = _pick("datacenter", str(spec["datacenter"]), by_name, "in the inventory")
        dc_props = _props(dc)
        dc_name = dc_props.get("name", "")
        where = f"in datacenter {dc_name!r}"
        view = session.content.viewManager.CreateContainerView(
            dc.obj, [vim.Folder, vim.ComputeResource, vim.ResourcePool, vim.Datastore], True
        )
        try:
            ocs = self._retrieve(
                session,
                [
                    _view_filter(
                        view,
                        {
                            vim.Folder: ["name", "childType"],
                            vim.ComputeResource: ["name", "resourcePool", "datastore"],
                            vim.ResourcePool: ["name", "owner"],
                            vim.Datastore: ["name", "summary.accessible"],
                        },
                    )
                ],
            )
        finally:
            with contextlib.suppress(Exception):  # session-scoped anyway
                view.DestroyView()
        folders: dict[str, list[str]] = {}
        folder_names: dict[str, str] = {}
        computes: list[tuple[Any, dict[str, Any]]] = []
        pools: dict[str, list[str]] = {}
        pool_owner: dict[str, Any] = {}
        datastores: dict[str, tuple[str, bool]] = {}
        for oc in ocs:
            obj, p = oc.obj, _props(oc)
            if isinstance(obj, vim.Folder):
                if "VirtualMachine" in (p.get("childType") or []):
                    folders.setdefault(p.get("name", ""), []).append(obj._moId)
                    folder_names[obj._moId] = p.get("name", "")
            elif isinstance(obj, vim.ComputeResource):
                computes.append((obj, p))
            elif isinstance(obj, vim.VirtualApp):
                continue  # VMs enter a vApp with CreateChildVM_Task, not CreateVM_Task
            elif isinstance(obj, vim.ResourcePool):
                pools.setdefault(p.get("name", ""), []).append(obj._moId)
                pool_owner[obj._moId] = p.get("owner")
            elif isinstance(obj, vim.Datastore):
                accessible = p.get("summary.accessible")
                datastores[obj._moId] = (p.get("name", ""), accessible is not False)

        folder = dc_props["vmFolder"]._moId
        if spec.get("folder"):
            folder = _pick("VM folder", str(spec["folder"]), folders, where)
        if not computes:
            raise BackendError(f"datacenter {dc_name!r} has no host or cluster to run a VM on")
        by_moid = {obj._moId: (obj, p) for obj, p in computes}
        if spec.get("resource_pool"):
            candidates = {k: list(v) for k, v in pools.items()}
            for obj, p in computes:  # a cluster or host stands for its root pool
                root = p.get("resourcePool")
                if root is not None and root._moId not in candidates.get(p.get("name", ""), []):
                    candidates.setdefault(p.get("name", ""), []).append(root._moId)
                    pool_owner.setdefault(root._moId, obj)
            pool = _pick(
                "resource pool",
                str(spec["resource_pool"]),
                candidates,
                where,
                "; name its cluster or host instead",
            )
            owner_ref = pool_owner.get(pool)
            if owner_ref is None or owner_ref._moId not in by_moid:
                raise BackendError(f"resource pool {spec['resource_pool']!r} has no owner {where}")
            owner, owner_props = by_moid[owner_ref._moId]
        else:
            owner, owner_props = computes[0]
            root = owner_props.get("resourcePool")
            if root is None:
                raise BackendError(f"{owner_props.get('name')!r} {where} has no resource pool")
            pool = root._moId
        owner_name = owner_props.get("name", "")
        usable: dict[str, list[str]] = {}
        for ref in owner_props.get("datastore") or []:
            ds_name, accessible = datastores.get(ref._moId, ("", False))
            if ds_name and accessible:
                usable.setdefault(ds_name, []).append(ds_name)
        on_owner = f"on {_owner_kind(owner)} {owner_name!r}"
        if spec.get("datastore"):
            datastore = _pick("datastore", str(spec["datastore"]), usable, on_owner)
        elif usable:
            datastore = next(iter(usable))
        else:
            raise BackendError(f"no accessible datastore {on_owner}")
        return _Placement(
            datacenter=dc_name,
            folder=folder,
            folder_name=folder_names.get(folder, "vm"),
            pool=pool,
            owner=owner,
            owner_name=owner_name,
            datastore=datastore,
        )

    def _networks(
        self, session: _Session, owner: Any, names: list[str], where: str
    ) -> dict[str, _Network]:
        """The networks ``names`` as seen by ``owner`` (a compute resource or host: its
        ``network`` property); BackendError naming the available ones for an unknown one."""
        if not names:
            return {}
        spec = PC.FilterSpec(
            objectSet=[
                PC.ObjectSpec(
                    obj=owner,
                    skip=True,
                    selectSet=[
                        PC.TraversalSpec(name="net", path="network", skip=False, type=type(owner))
                    ],
                )
            ],
            propSet=[
                PC.PropertySpec(type=vim.Network, pathSet=["name"]),
                PC.PropertySpec(
                    type=vim.dvs.DistributedVirtualPortgroup,
                    pathSet=["key", "config.distributedVirtualSwitch"],
                ),
                PC.PropertySpec(type=vim.OpaqueNetwork, pathSet=["summary"]),
            ],
        )
        available: dict[str, list[_Network]] = {}
        for oc in self._retrieve(session, [spec]):
            p = _props(oc)
            net = _Network(name=p.get("name", ""), ref=oc.obj)
            if isinstance(oc.obj, vim.dvs.DistributedVirtualPortgroup):
                net.portgroup_key = p.get("key") or oc.obj._moId
                net.switch = p.get("config.distributedVirtualSwitch")
            elif isinstance(oc.obj, vim.OpaqueNetwork):
                summary = p.get("summary")
                net.opaque_id = getattr(summary, "opaqueNetworkId", None)
                net.opaque_type = getattr(summary, "opaqueNetworkType", None)
            if net.name:
                available.setdefault(net.name, []).append(net)
        chosen = {n: _pick("network", n, available, where) for n in names}
        switches = {net.switch._moId: net.switch for net in chosen.values() if net.switch}
        if switches:
            wanted = PC.FilterSpec(
                objectSet=[PC.ObjectSpec(obj=sw, skip=False) for sw in switches.values()],
                propSet=[PC.PropertySpec(type=vim.DistributedVirtualSwitch, pathSet=["uuid"])],
            )
            ocs = self._retrieve(session, [wanted])
            uuids = {oc.obj._moId: _props(oc).get("uuid") for oc in ocs}
            for net in chosen.values():
                if net.switch is not None:
                    net.switch_uuid = uuids.get(net.switch._moId)
                    if not net.switch_uuid:
                        raise BackendError(f"network {net.name!r}: its distributed switch is gone")
        return chosen

    def modify_vm(
        self,
        uuid: str,
        vcpus: int | None = None,
        memory_kib: int | None = None,
        add_disk: dict | None = None,
        remove_disk: str | dict | None = None,
        add_nic: dict | None = None,
        remove_nic: str | dict | None = None,
    ) -> VirtualMachine:
        """Change vCPUs, memory and devices in ONE ReconfigVM_Task; the VM afterwards.

        ``memory_kib`` must be a whole number of MiB (BackendError otherwise, before any
        change). ``add_disk``/``add_nic`` are dicts as in define_vm's ``disks``/``nics``;
        a new disk goes on a free unit of an existing SCSI controller, or on a controller
        added with it (``add_disk["scsi_controller"]`` picks its type). ``remove_disk``
        names the disk by label ("Hard disk 2"), backing file ("[ds] vm/vm_1.vmdk", or
        its file name "vm_1.vmdk"), or is a dict {``device`` or ``source``, ``destroy``}:
        by default the disk is only detached and its VMDK stays on the datastore (as the
        libvirt backend leaves disk images); with ``destroy`` true the VMDK is deleted
        too (fileOperation "destroy"). CD/DVD and floppy drives are removed by label the
        same way. ``remove_nic`` names the NIC by MAC address (any case) or label
        ("Network adapter 1"), or is a dict with ``mac``/``device``. Removals happen
        before additions. A name that matches nothing raises NotFound.

        On a powered-on VM vSphere hot-adds disks and NICs; vCPU and memory changes then
        need CPU/memory hot add enabled in the VM (vSphere refuses them otherwise:
        InvalidStateTransition, power the VM off first).
        """
        n_cpus = _vcpus(vcpus) if vcpus is not None else None
        memory_mb = _memory_mb(memory_kib) if memory_kib is not None else None
        disk_req = _disk_request(add_disk) if add_disk is not None else None
        nic_req = _nic_request(add_nic) if add_nic is not None else None
        controller = self._controller_class(
            add_disk.get("scsi_controller") if isinstance(add_disk, dict) else None
        )
        disk_key, destroy = None, False
        if isinstance(remove_disk, dict):
            disk_key = remove_disk.get("device") or remove_disk.get("source")
            destroy = bool(remove_disk.get("destroy"))
            if not disk_key:
                raise BackendError("remove_disk needs a 'device' (label) or 'source' (file)")
        elif remove_disk is not None:
            disk_key = str(remove_disk)
        nic_key = None
        if isinstance(remove_nic, dict):
            nic_key = remove_nic.get("mac") or remove_nic.get("device")
            if not nic_key:
                raise BackendError("remove_nic needs a 'mac' (or 'device' label)")
        elif remove_nic is not None:
            nic_key = str(remove_nic)

        def prepare(session: _Session) -> tuple[str, dict[str, Any], dict[str, _Network]]:
            moid = self._find_moid(session, uuid)
            ocs = self._retrieve(
                session,
                [
                    _object_spec(
                        session.ref(vim.VirtualMachine, moid),
                        vim.VirtualMachine,
                        [
                            "name",
                            "config.template",
                            "config.hardware.device",
                            "runtime.powerState",
                            "runtime.host",
                        ],
                    )
                ],
            )
            p = _props(ocs[0]) if ocs else {}
            if not p or p.get("config.template") or "config.hardware.device" not in p:
                raise NotFound(
                    f"{uuid!r} on backend {self.backend_id!r} is a template or inaccessible"
                )
            nets: dict[str, _Network] = {}
            if nic_req is not None:
                host = p.get("runtime.host")
                if host is None:
                    raise BackendError(f"VM {p.get('name')!r} has no host: cannot add a NIC")
                where = f"on the host of VM {p.get('name')!r}"
                nets = self._networks(session, host, [nic_req.network], where)
            return moid, p, nets

        moid, props, nets = self._call(prepare)
        name = props.get("name", "")
        devices = list(props.get("config.hardware.device") or [])
        changes = _DeviceChanges(devices, controller)
        if disk_key is not None:
            dev = _find_disk(devices, disk_key)
            if dev is None:
                raise NotFound(f"VM {name!r} has no disk {disk_key!r}")
            changes.remove(dev, destroy=destroy and isinstance(dev, vim.vm.device.VirtualDisk))
        if nic_key is not None:
            dev = _find_nic(devices, nic_key)
            if dev is None:
                raise NotFound(f"VM {name!r} has no NIC {nic_key!r}")
            changes.remove(dev)
        if disk_req is not None:
            changes.add_disk(disk_req)
        if nic_req is not None:
            running = str(props.get("runtime.powerState")) == "poweredOn"
            changes.add_nic(nic_req, nets[nic_req.network], connected=running)
        config = vim.vm.ConfigSpec()
        if n_cpus is not None:
            config.numCPUs = n_cpus
        if memory_mb is not None:
            config.memoryMB = memory_mb
        if changes.changes:
            config.deviceChange = changes.changes
        if n_cpus is not None or memory_mb is not None or changes.changes:
            try:
                self._run_task(
                    f"modify VM {name!r}",
                    lambda s: s.ref(vim.VirtualMachine, moid).ReconfigVM_Task(spec=config),
                )
            except InvalidStateTransition as exc:
                if n_cpus is None and memory_mb is None:
                    raise
                raise InvalidStateTransition(
                    f"{exc} (changing vCPUs or memory of a powered-on VM needs CPU/memory "
                    "hot add enabled in it; power it off first)"
                ) from None
        vms = self._call(lambda s: self._read_vms(s, moid))
        if not vms:
            raise NotFound(f"VM {uuid!r} on backend {self.backend_id!r} vanished")
        return vms[0]

    def undefine_vm(self, uuid: str) -> None:
        """Delete the VM (Destroy_Task, vSphere's "Delete from Disk").

        The VM must be powered off (or suspended) first: a powered-on VM is refused with
        InvalidStateTransition, unlike the libvirt backend, which powers a running VM off
        and removes its definition. Destroy_Task removes the VM from the inventory AND
        deletes its files from the datastore, its virtual disks included (libvirt leaves
        disk images behind): detach a disk to keep with modify_vm(remove_disk=...) first.
        NotFound for an unknown UUID or a template.
        """
        vm = self._vm_state(uuid)
        if vm.state is PowerState.RUNNING:
            raise InvalidStateTransition(
                f"cannot undefine VM {vm.name!r}: it is powered on, and vSphere deletes only "
                "powered-off VMs; power it off first"
            )
        what = f"undefine VM {vm.name!r}"
        try:
            self._run_task(what, lambda s: s.ref(vim.VirtualMachine, vm.moid).Destroy_Task())
        except InvalidStateTransition as exc:  # powered on meanwhile
            raise InvalidStateTransition(f"{exc} (the VM must be powered off first)") from None
        self._tools.pop(_canonical_uuid(uuid) or uuid.lower(), None)
        log.info("vsphere backend %s: undefined VM %r (%s)", self.backend_id, vm.name, vm.moid)

    # -- tasks --------------------------------------------------------------------------
    def _task_fault(self, what: str, fault: BaseException) -> Exception:
        text = self._scrub(_fault_text(fault))
        if isinstance(fault, vim.fault.ToolsUnavailable):
            return InvalidStateTransition(f"{what}: VMware Tools are not running ({text})")
        if isinstance(fault, vim.fault.InvalidState | vim.fault.InvalidPowerState):
            return InvalidStateTransition(f"{what}: {text}")
        if isinstance(
            fault,
            vmodl.fault.NotSupported | vmodl.fault.MethodNotFound | vmodl.fault.NotImplemented,
        ):
            return NotSupported(f"{what}: {text}")
        if isinstance(fault, vim.fault.NotFound | vmodl.fault.ManagedObjectNotFound):
            return NotFound(f"{what}: {text}")
        return BackendError(f"{what} failed: {text}")

    def _task_info(self, session: _Session, task_id: str) -> dict[str, Any]:
        # Only these fields: reading all of Task.info also decodes info.entity, which
        # vcsim sets to the snapshot for snapshot tasks, and pyVmomi rejects that type.
        ocs = self._retrieve(
            session,
            [
                _object_spec(
                    session.ref(vim.Task, task_id),
                    vim.Task,
                    ["info.state", "info.error", "info.result"],
                )
            ],
        )
        return _props(ocs[0]) if ocs else {}

    def _run_task(self, what: str, start: Callable[[_Session], Any]) -> Any:
        """Start a task (not retried on a dropped connection) and wait for it (bounded)."""

        def begin(session: _Session) -> str:
            try:
                return start(session)._moId
            except (vim.fault.VimFault, vmodl.RuntimeFault) as fault:
                if isinstance(fault, vim.fault.NotAuthenticated):
                    raise
                raise self._task_fault(what, fault) from None

        task_id = self._call(begin, idempotent=False)
        deadline = time.monotonic() + self.task_timeout
        delay = 0.02
        while True:
            info = self._call(lambda s: self._task_info(s, task_id))
            state = str(info.get("info.state"))
            if state == "success":
                return info.get("info.result")
            if state == "error":
                error = info.get("info.error")
                if error is None:
                    raise BackendError(f"{what} failed (task {task_id} gave no reason)")
                raise self._task_fault(what, error)
            if time.monotonic() >= deadline:
                raise BackendError(
                    f"{what}: task {task_id} did not finish within "
                    f"{self.task_timeout:g} s (state {state})"
                )
            time.sleep(min(delay, max(0.0, deadline - time.monotonic())))
            delay = min(delay * 2, 1.0)

    # -- snapshots ----------------------------------------------------------------------
    def create_snapshot(
        self, uuid: str, name: str, description: str = "", memory: bool = False
    ) -> str:
        """Take a snapshot (of the memory too when ``memory`` and the VM runs); its id."""
        if not isinstance(name, str) or not name:
            raise BackendError("a snapshot needs a non-empty name")
        vm = self._vm_state(uuid)
        result = self._run_task(
            f"snapshot VM {vm.name!r}",
            lambda s: s.ref(vim.VirtualMachine, vm.moid).CreateSnapshot_Task(
                name=name,
                description=description or "",
                memory=bool(memory) and vm.state is PowerState.RUNNING,
                quiesce=False,
            ),
        )
        return result._moId

    def list_snapshots(self, uuid: str) -> list[Snapshot]:
        """The VM's snapshot tree: root snapshots, each with its children."""

        def read(session: _Session) -> list[Snapshot]:
            moid = self._find_moid(session, uuid)
            ocs = self._retrieve(
                session,
                [
                    _object_spec(
                        session.ref(vim.VirtualMachine, moid), vim.VirtualMachine, ["snapshot"]
                    )
                ],
            )
            info = _props(ocs[0]).get("snapshot") if ocs else None
            if info is None:
                return []
            current = info.currentSnapshot._moId if info.currentSnapshot else None

            def convert(node: Any) -> Snapshot:
                sid = node.snapshot._moId
                return Snapshot(
                    id=sid,
                    name=node.name or "",
                    description=node.description or "",
                    created=_utc(node.createTime),
                    state=_POWER_STATES.get(str(node.state), PowerState.UNKNOWN),
                    current=sid == current,
                    children=[convert(c) for c in (node.childSnapshotList or [])],
                )

            return [convert(n) for n in (info.rootSnapshotList or [])]

        return self._call(read)

    def _check_snapshot(self, uuid: str, snapshot_id: str) -> None:
        def ids(nodes: list[Snapshot]) -> Iterable[str]:
            for n in nodes:
                yield n.id
                yield from ids(n.children)

        if snapshot_id not in set(ids(self.list_snapshots(uuid))):
            raise NotFound(
                f"VM {uuid!r} on backend {self.backend_id!r} has no snapshot {snapshot_id!r}"
            )

    def revert_snapshot(self, uuid: str, snapshot_id: str) -> None:
        self._check_snapshot(uuid, snapshot_id)
        self._run_task(
            f"revert VM {uuid} to snapshot {snapshot_id}",
            lambda s: s.ref(vim.vm.Snapshot, snapshot_id).RevertToSnapshot_Task(),
        )

    def delete_snapshot(self, uuid: str, snapshot_id: str, remove_children: bool = False) -> None:
        self._check_snapshot(uuid, snapshot_id)
        self._run_task(
            f"delete snapshot {snapshot_id} of VM {uuid}",
            lambda s: s.ref(vim.vm.Snapshot, snapshot_id).RemoveSnapshot_Task(
                removeChildren=bool(remove_children), consolidate=True
            ),
        )

    # -- statistics ---------------------------------------------------------------------
    def _counters(self, session: _Session) -> dict[str, Any]:
        with session.lock:
            if session.counters is None:
                perf = session.content.perfManager
                session.counters = {
                    f"{c.groupInfo.key}.{c.nameInfo.key}.{c.rollupType}": c
                    for c in (perf.perfCounter or [])
                }
            return session.counters

    def bulk_stats(self, uuids: Iterable[str] | None = None) -> dict[str, dict[str, float]]:
        """Latest realtime sample of STAT_COUNTERS for many VMs, in ONE QueryPerf call.

        Keys are the VM UUIDs (unknown UUIDs and templates are left out); a VM that is
        not running has no realtime statistics and maps to {}. Values are in the counter's
        unit (KiB, KB/s, MHz) except cpu.usage.average, which is scaled to percent.
        """
        wanted = None
        if uuids is not None:
            wanted = {c for c in (_canonical_uuid(u) for u in uuids) if c}

        def read(session: _Session) -> dict[str, dict[str, float]]:
            ocs = self._retrieve(
                session,
                [
                    _view_spec(
                        session.view(vim.VirtualMachine),
                        vim.VirtualMachine,
                        ["config.instanceUuid", "config.template", "runtime.powerState"],
                    )
                ],
            )
            result: dict[str, dict[str, float]] = {}
            running: dict[str, str] = {}  # moid -> uuid
            for oc in ocs:
                p = _props(oc)
                uuid = (p.get("config.instanceUuid") or "").lower()
                if not uuid or p.get("config.template"):
                    continue
                if wanted is not None and uuid not in wanted:
                    continue
                result[uuid] = {}
                if str(p.get("runtime.powerState")) == "poweredOn":
                    running[oc.obj._moId] = uuid
            if not running:
                return result
            counters = self._counters(session)
            known = {name: counters[name] for name in STAT_COUNTERS if name in counters}
            if not known:
                return result
            by_key = {c.key: name for name, c in known.items()}
            metric_ids = [
                vim.PerformanceManager.MetricId(counterId=c.key, instance="")
                for c in known.values()
            ]
            specs = [
                vim.PerformanceManager.QuerySpec(
                    entity=session.ref(vim.VirtualMachine, moid),
                    metricId=metric_ids,
                    intervalId=REALTIME_INTERVAL,
                    maxSample=1,
                )
                for moid in running
            ]
            for em in session.content.perfManager.QueryPerf(querySpec=specs) or []:
                uuid = running.get(em.entity._moId)
                if uuid is None:
                    continue
                for series in em.value or []:
                    name = by_key.get(series.id.counterId)
                    values = [v for v in (getattr(series, "value", None) or []) if v >= 0]
                    if name is None or series.id.instance or not values:
                        continue
                    result[uuid][name] = float(values[-1]) * STAT_COUNTERS[name]
            return result

        return self._call(read)
