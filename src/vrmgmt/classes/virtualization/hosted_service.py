"""VRM_HostedService: each host's virtual system management service is hosted by that
host (DSP1042 §7.3; CIM_HostedService)."""

from __future__ import annotations

from pywbem import CIMError

from vrmgmt.cim.association import Association, End
from vrmgmt.classes.system import host_system as host
from vrmgmt.classes.virtualization import virtual_system_management_service as vsms

CLASS = "VRM_HostedService"


class HostedService(Association):
    class_name = CLASS
    ends = (End("Antecedent", host), End("Dependent", vsms))

    def far(self, ctx, near, path):
        inv, ns = self.env.inventory, ctx.namespace
        try:
            bid = host.parse(path) if near.role == "Antecedent" else vsms.parse(path)
        except CIMError:
            return []
        if not inv.has_backend(bid):
            return []
        return [vsms.path(bid, ns) if near.role == "Antecedent" else host.path(bid, ns)]


provider = HostedService
