"""A storage or network pool as one configured backend sees it (PoolInfo): a libvirt
storage pool or network, a vSphere datastore or port group. The CIM layer maps them
(with the host's processors and memory) to DSP1041 resource pools. Nothing here knows
a hypervisor library or CIM.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class PoolInfo:
    """One storage pool ("disk": libvirt storage pool, vSphere datastore) or network
    ("net": libvirt network, vSphere port group) of a backend."""

    kind: str  # "disk" | "net"
    name: str  # the backend's own name (unique per kind within the backend)
    #: storage: total bytes; network: None (no bound on the NICs it takes)
    capacity_bytes: int | None = None
    #: storage: bytes free for new images / virtual disks (None: not known)
    available_bytes: int | None = None
    #: storage: the directory images live in (libvirt target path), or the datastore URL
    path: str | None = None
    active: bool = True
    #: the backend's type of it: "dir", "logical", "VMFS", "NFS", a bridge name, ...
    detail: str = ""
