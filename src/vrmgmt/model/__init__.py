"""Plain data shared by every layer: hosts, VMs, devices, power states and actions, and
the typed VM specs that define_vm / modify_vm take.

Backends fill these in; the CIM layer maps them to DMTF classes. Nothing here knows
a hypervisor library or CIM. ``from vrmgmt.model import X`` works for every name of
the submodules vm, host and specs.
"""

from __future__ import annotations

from vrmgmt.model.host import Host, HostStatus
from vrmgmt.model.hostos import HostOS, HostProcess
from vrmgmt.model.pool import PoolInfo
from vrmgmt.model.specs import CpuAllocation, DiskSpec, FilesystemSpec, NicSpec, VMChange, VMSpec
from vrmgmt.model.vm import (
    Console,
    Disk,
    Nic,
    PowerAction,
    PowerState,
    Snapshot,
    SnapshotKind,
    VirtualMachine,
    VmEvent,
    VmEventKind,
)

__all__ = [
    "Console",
    "CpuAllocation",
    "Disk",
    "DiskSpec",
    "FilesystemSpec",
    "Host",
    "HostOS",
    "HostProcess",
    "HostStatus",
    "Nic",
    "NicSpec",
    "PoolInfo",
    "PowerAction",
    "PowerState",
    "Snapshot",
    "SnapshotKind",
    "VMChange",
    "VMSpec",
    "VirtualMachine",
    "VmEvent",
    "VmEventKind",
]
