"""The operating system of a hypervisor host (HostOS) and its processes (HostProcess),
as a backend or the local machine reports them. Plain data: the CIM layer maps them to
CIM_OperatingSystem / CIM_UnixProcess (DSP1052, CIM Schema 2.49 System model). A field
a backend does not know stays None (shown as NULL, never invented)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime


@dataclass(slots=True)
class HostOS:
    """The operating system running a host."""

    name: str  # e.g. "Debian GNU/Linux 13 (trixie)" or "VMware ESXi 8.0.3 build-..."
    os_type: int = 0  # CIM_OperatingSystem.OSType (0 Unknown, 36 LINUX, 1 Other ...)
    other_type: str | None = None  # OtherTypeDescription when os_type is 1 (Other)
    version: str | None = None
    last_boot: datetime | None = None  # timezone-aware
    processes: int | None = None
    users: int | None = None
    total_memory_kib: int | None = None
    free_memory_kib: int | None = None
    #: why processes are not shown, "" when they are (e.g. "remote libvirt host")
    process_note: str = ""


@dataclass(slots=True)
class HostProcess:
    """One process of the machine vrmgmt runs on."""

    pid: int
    name: str
    ppid: int
    uid: int
    pgid: int | None
    sid: int | None
    args: list[str] = field(default_factory=list)
    exe: str | None = None
    tty: str | None = None
    created: datetime | None = None
    state: str = ""  # psutil status: running, sleeping, disk-sleep, stopped, zombie, ...
    user_ms: int | None = None
    kernel_ms: int | None = None
    priority: int | None = None  # kernel priority (20 + nice for normal tasks)
    nice: int | None = None
    rss_bytes: int | None = None
