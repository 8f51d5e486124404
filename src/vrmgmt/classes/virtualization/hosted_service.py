"""VRM_HostedService: each host's virtual system management service (DSP1042 §7.3), its
virtual system migration service (DSP1081 §7.2) and, where its backend has snapshots,
its virtual system snapshot service (docs/snapshots.md) are hosted by that host
(CIM_HostedService)."""

from __future__ import annotations

from vrmgmt.cim.association import End
from vrmgmt.classes.host_service import HostedServices
from vrmgmt.classes.migration import virtual_system_migration_service as vsmig
from vrmgmt.classes.snapshots import virtual_system_snapshot_service as vsss
from vrmgmt.classes.system import host_system as host
from vrmgmt.classes.virtualization import virtual_system_management_service as vsms

CLASS = "VRM_HostedService"


class HostedService(HostedServices):
    class_name = CLASS
    ends = (End("Antecedent", host), End("Dependent", "CIM_Service"))
    services = (vsms.SERVICE, vsmig.SERVICE, vsss.SERVICE)


provider = HostedService
