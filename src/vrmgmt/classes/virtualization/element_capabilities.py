"""VRM_ElementCapabilities (CIM_ElementCapabilities): a host's virtual system management
service and its VRM_VirtualSystemManagementCapabilities (DSP1042 §7.4), and a host and
its VRM_EnabledLogicalElementCapabilities (DSP1052 §7.3: the state changes it accepts)."""

from __future__ import annotations

from pywbem import CIMError

from vrmgmt.cim.association import Association, End
from vrmgmt.classes.system import enabled_logical_element_capabilities as host_caps
from vrmgmt.classes.system import host_system
from vrmgmt.classes.virtualization import virtual_system_management_capabilities as caps
from vrmgmt.classes.virtualization import virtual_system_management_service as vsms

CLASS = "VRM_ElementCapabilities"


class ElementCapabilities(Association):
    class_name = CLASS
    ends = (End("ManagedElement", "CIM_LogicalElement"), End("Capabilities", "CIM_Capabilities"))

    #: element class module -> its capabilities class module (both keyed by backend id)
    PAIRS = ((vsms, caps), (host_system, host_caps))

    def pairs(self, ctx):
        ns = ctx.namespace
        for bid in self.env.inventory.backend_ids():
            for element, capabilities in self.PAIRS:
                yield element.path(bid, ns), capabilities.path(bid, ns)

    def far(self, ctx, near, path):
        inv, ns = self.env.inventory, ctx.namespace
        cls = path.classname.lower()
        for element, capabilities in self.PAIRS:
            here, there = (
                (element, capabilities)
                if near.role == "ManagedElement"
                else (capabilities, element)
            )
            if cls != here.CLASS.lower():
                continue
            try:
                bid = here.parse(path)
            except CIMError:
                return []
            return [there.path(bid, ns)] if inv.has_backend(bid) else []
        return []


provider = ElementCapabilities
