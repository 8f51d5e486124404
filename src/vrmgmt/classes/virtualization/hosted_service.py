"""VRM_HostedService: each host's virtual system management service (DSP1042 §7.3), its
virtual system migration service (DSP1081 §7.2) and, where its backend has snapshots,
its virtual system snapshot service (docs/snapshots.md) are hosted by that host
(CIM_HostedService)."""

from __future__ import annotations

from pywbem import CIMError

from vrmgmt.cim.association import Association, End
from vrmgmt.classes.migration import virtual_system_migration_service as vsmig
from vrmgmt.classes.snapshots import virtual_system_snapshot_service as vsss
from vrmgmt.classes.system import host_system as host
from vrmgmt.classes.virtualization import virtual_system_management_service as vsms

CLASS = "VRM_HostedService"


class HostedService(Association):
    class_name = CLASS
    ends = (End("Antecedent", host), End("Dependent", "CIM_Service"))

    def pairs(self, ctx):
        ns = ctx.namespace
        for bid in self.env.inventory.backend_ids():
            yield host.path(bid, ns), vsms.path(bid, ns)
            yield host.path(bid, ns), vsmig.path(bid, ns)
            if vsss.has_snapshots(self.env, bid):
                yield host.path(bid, ns), vsss.path(bid, ns)

    def far(self, ctx, near, path):
        inv, ns = self.env.inventory, ctx.namespace
        if near.role == "Antecedent":
            try:
                bid = host.parse(path)
            except CIMError:
                return []
            if not inv.has_backend(bid):
                return []
            out = [vsms.path(bid, ns), vsmig.path(bid, ns)]
            if vsss.has_snapshots(self.env, bid):
                out.append(vsss.path(bid, ns))
            return out
        cls = path.classname.lower()
        for service in (vsms, vsss, vsmig):
            if cls != service.CLASS.lower():
                continue
            try:
                bid = service.parse(path)
            except CIMError:
                return []
            ok = vsss.has_snapshots(self.env, bid) if service is vsss else inv.has_backend(bid)
            return [host.path(bid, ns)] if ok else []
        return []


provider = HostedService
