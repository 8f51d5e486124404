"""VMs as backends report them: VirtualMachine, its Disk and Nic devices, Snapshot
trees, and the hypervisor-neutral PowerState / PowerAction.

Backends fill these in; the CIM layer maps them to DMTF classes (DSP1057 virtual
system profile). Nothing here knows a hypervisor library or CIM.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import datetime

from vrmgmt.model.specs import CpuAllocation


class PowerState(enum.Enum):
    """Hypervisor-neutral VM state (what every backend maps its own states to)."""

    RUNNING = "running"
    PAUSED = "paused"  # vCPUs stopped, memory resident
    SUSPENDED = "suspended"  # state saved to disk (libvirt managed save, vSphere suspend)
    SHUTTING_DOWN = "shutting-down"
    OFF = "off"
    CRASHED = "crashed"
    STARTING = "starting"
    UNKNOWN = "unknown"


class SnapshotKind(enum.Enum):
    """What a snapshot holds: FULL = disks, configuration and, of a running VM, its
    memory (reverting resumes it as it ran); DISK = disks and configuration only
    (reverting gives a VM that is off)."""

    FULL = "full"
    DISK = "disk"


class PowerAction(enum.Enum):
    """A state change a Manager can perform on a VM."""

    START = "start"  # from OFF (or SUSPENDED: restores the saved image)
    RESUME = "resume"  # from PAUSED
    POWER_OFF = "power-off"  # hard off
    SHUTDOWN = "shutdown"  # graceful, guest cooperates
    SAVE = "save"  # suspend to disk
    PAUSE = "pause"
    REBOOT = "reboot"  # graceful restart
    RESET = "reset"  # hard restart


@dataclass(slots=True)
class Disk:
    device: str  # libvirt: target name, e.g. "vda"; vSphere: device label, "Hard disk 1"
    source: str | None = None
    capacity_bytes: int | None = None
    bus: str | None = None
    kind: str = "disk"  # disk | cdrom | floppy


@dataclass(slots=True)
class Nic:
    mac: str
    network: str | None = None
    model: str | None = None
    device: str | None = None


class VmEventKind(enum.Enum):
    """What a hypervisor pushed about one VM (libvirt lifecycle events, vSphere
    property-collector updates)."""

    DEFINED = "defined"  # a new VM exists
    UNDEFINED = "undefined"  # the VM is gone
    CHANGED = "changed"  # state or configuration of an existing VM changed


@dataclass(frozen=True, slots=True)
class VmEvent:
    """One pushed event: the backend, the VM's UUID, and what happened."""

    backend_id: str
    uuid: str
    kind: VmEventKind
    #: the state the event reports (None: read the VM); events can be handled after the
    #: VM moved on, and each must show the state it announced
    state: PowerState | None = None
    #: the VM's name when the event was sent (the VM may be gone when it is handled)
    name: str = ""


@dataclass(slots=True)
class VirtualMachine:
    """One VM as a backend reports it."""

    uuid: str
    name: str
    backend_id: str
    state: PowerState
    vcpus: int = 0
    memory_kib: int = 0  # current allocation
    max_memory_kib: int = 0
    virtual_system_type: str = "Unknown"  # KVM, QEMU, Xen, LXC, VMware, Test
    persistent: bool = True
    autostart: bool = False
    uptime_s: int | None = None
    cpu_time_ns: int | None = None
    os_type: str | None = None
    #: a guest agent / VMware Tools answers (needed for graceful shutdown on vSphere);
    #: None when the backend does not know
    guest_agent_running: bool | None = None
    disks: list[Disk] = field(default_factory=list)
    nics: list[Nic] = field(default_factory=list)
    #: free-text notes (libvirt <description>, vSphere annotation); None when unknown
    description: str | None = None
    #: what the hypervisor does when the guest crashes (libvirt <on_crash>: "destroy",
    #: "restart", ...); None when the backend has no such setting or did not read it
    on_crash: str | None = None
    #: when the VM was created (timezone-aware, UTC); None when the backend does not know
    created: datetime | None = None
    #: set by the inventory when the backend cannot be reached right now and the VM is
    #: answered from its last known state: when that state was read (UTC), and why the
    #: backend is unreachable. None for a VM read just now.
    stale_since: datetime | None = None
    stale_reason: str = ""

    @property
    def stale(self) -> bool:
        return self.stale_since is not None

    #: processor reservation / limit / weight (details); None when not read or not known
    cpu: CpuAllocation | None = None


@dataclass(frozen=True, slots=True)
class Console:
    """One way to reach a running VM's display (libvirt <graphics>, a vSphere WebMKS
    ticket)."""

    protocol: str  # "vnc", "spice", "webmks"
    host: str  # where a client connects
    port: int
    url: str  # e.g. vnc://127.0.0.1:5900, wss://esx/ticket/... for WebMKS
    ticket: str | None = None  # a one-time credential (vSphere), else None


@dataclass(slots=True)
class Snapshot:
    """One node of a VM's snapshot tree."""

    id: str  # backend's snapshot id (libvirt: snapshot name; vSphere: managed object id)
    name: str
    description: str
    created: datetime  # timezone-aware, UTC
    state: PowerState  # the VM's power state when the snapshot was taken
    current: bool = False  # the VM runs on top of this snapshot
    children: list[Snapshot] = field(default_factory=list)
