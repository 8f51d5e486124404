"""VRM_ElementCapabilities: a host's virtual system management service and its
VRM_VirtualSystemManagementCapabilities (DSP1042 §7.4; CIM_ElementCapabilities)."""

from __future__ import annotations

from pywbem import CIMError

from vrmgmt.cim.association import Association, End
from vrmgmt.classes.virtualization import virtual_system_management_capabilities as caps
from vrmgmt.classes.virtualization import virtual_system_management_service as vsms

CLASS = "VRM_ElementCapabilities"


class ElementCapabilities(Association):
    class_name = CLASS
    ends = (End("ManagedElement", vsms), End("Capabilities", caps))

    def far(self, ctx, near, path):
        inv, ns = self.env.inventory, ctx.namespace
        try:
            if near.role == "ManagedElement":
                bid = vsms.parse(path)
                return [caps.path(bid, ns)] if inv.has_backend(bid) else []
            bid = caps.parse(path)
            return [vsms.path(bid, ns)] if inv.has_backend(bid) else []
        except CIMError:
            return []


provider = ElementCapabilities
