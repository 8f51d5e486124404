"""A hypervisor host as one configured backend sees it (Host) and its health
(HostStatus). Backends fill these in; the CIM layer maps them to DSP1081/DSP1057
host classes. Nothing here knows a hypervisor library or CIM.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass


class HostStatus(enum.Enum):
    OK = "ok"
    LOST_COMMUNICATION = "lost-communication"
    ERROR = "error"


@dataclass(slots=True)
class Host:
    """A hypervisor host as one configured backend sees it."""

    backend_id: str
    hostname: str
    hypervisor_type: str  # e.g. "QEMU", "Test", "Xen", "LXC", "VMware ESX"
    hypervisor_version: str
    virtual_system_type: str
    cpu_model: str = ""
    cpu_count: int = 0
    cpu_mhz: int = 0
    memory_total_kib: int = 0
    memory_free_kib: int | None = None
    uri: str = ""
    backend_type: str = ""  # "libvirt" | "vsphere" (set by the inventory)
    status: HostStatus = HostStatus.OK
    status_detail: str = ""
