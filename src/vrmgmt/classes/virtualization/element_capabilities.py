"""VRM_ElementCapabilities (CIM_ElementCapabilities): a host's virtual system management
service and its VRM_VirtualSystemManagementCapabilities (DSP1042 §7.4), a host and its
VRM_EnabledLogicalElementCapabilities (DSP1052 §7.3: the state changes it accepts), and
a VM and its VRM_EnabledLogicalElementCapabilities (DSP1057 §7.2.1: the state changes
its backend implements, whether it can be renamed); a host's migration service and its
VRM_VirtualSystemMigrationCapabilities (DSP1081 §7.3); where the backend has snapshots, the
host's snapshot service and its VRM_VirtualSystemSnapshotServiceCapabilities and each VM
and its VRM_VirtualSystemSnapshotCapabilities (docs/snapshots.md); and each resource pool
and its VRM_AllocationCapabilities (DSP1043 §7.2)."""

from __future__ import annotations

from pywbem import CIMError

from vrmgmt.cim.association import Association, End
from vrmgmt.classes.migration import virtual_system_migration_capabilities as vsmig_caps
from vrmgmt.classes.migration import virtual_system_migration_service as vsmig
from vrmgmt.classes.pools import allocation_capabilities as alloc_caps
from vrmgmt.classes.pools import pooling, resource_pool
from vrmgmt.classes.snapshots import virtual_system_snapshot_capabilities as vs_snap_caps
from vrmgmt.classes.snapshots import virtual_system_snapshot_service as vsss
from vrmgmt.classes.snapshots import virtual_system_snapshot_service_capabilities as vsss_caps
from vrmgmt.classes.system import computer_system as vm_cls
from vrmgmt.classes.system import enabled_logical_element_capabilities as elec
from vrmgmt.classes.system import host_system
from vrmgmt.classes.virtualization import virtual_system_management_capabilities as caps
from vrmgmt.classes.virtualization import virtual_system_management_service as vsms
from vrmgmt.errors import VrmError

CLASS = "VRM_ElementCapabilities"


class ElementCapabilities(Association):
    class_name = CLASS
    ends = (End("ManagedElement", "CIM_LogicalElement"), End("Capabilities", "CIM_Capabilities"))

    #: element class module -> its capabilities class module (both keyed by backend id)
    PAIRS = ((vsms, caps), (host_system, elec), (vsmig, vsmig_caps))

    def pairs(self, ctx):
        ns = ctx.namespace
        for bid in self.env.inventory.backend_ids():
            for element, capabilities in self.PAIRS:
                yield element.path(bid, ns), capabilities.path(bid, ns)
            if vsss.has_snapshots(self.env, bid):
                yield vsss.path(bid, ns), vsss_caps.path(bid, ns)
        vms, _failures = self.env.inventory.list_vms()
        for vm in vms:
            yield vm_cls.path(vm.uuid, ns), elec.vm_path(vm.uuid, ns)
            if vsss.has_snapshots(self.env, vm.backend_id):
                yield vm_cls.path(vm.uuid, ns), vs_snap_caps.path(vm.backend_id, vm.uuid, ns)
        for hp in pooling.all_host_pools(self.env, ctx):
            for pool in hp.pools:
                yield resource_pool.path(pool.ref, ns), alloc_caps.path(pool.ref, ns)

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
                continue  # e.g. a VM's capabilities: the same class as a host's
            return [there.path(bid, ns)] if inv.has_backend(bid) else []
        if cls in (vsss.CLASS.lower(), vsss_caps.CLASS.lower()):  # snapshot service
            here, there = (vsss, vsss_caps) if near.role == "ManagedElement" else (vsss_caps, vsss)
            try:
                bid = here.parse(path)
            except CIMError:
                return []
            return [there.path(bid, ns)] if vsss.has_snapshots(self.env, bid) else []
        pool_end = (resource_pool, alloc_caps)[near.role != "ManagedElement"]
        if cls == pool_end.CLASS.lower():
            far_end = alloc_caps if pool_end is resource_pool else resource_pool
            try:
                ref = pool_end.parse(path)
            except CIMError:
                return []
            found = any(True for _ in pooling.pools_for(self.env, [ref], ctx))
            return [far_end.path(ref, ns)] if found else []
        try:
            if near.role == "ManagedElement" and cls == vm_cls.CLASS.lower():
                uuid = vm_cls.parse(path)
                bid = inv.backend_of(uuid)  # the VM exists
                out = [elec.vm_path(uuid, ns)]
                if vsss.has_snapshots(self.env, bid):
                    out.append(vs_snap_caps.path(bid, uuid, ns))
                return out
            if near.role == "Capabilities" and cls == vs_snap_caps.CLASS.lower():
                bid, uuid = vs_snap_caps.parse(path)
                if inv.backend_of(uuid) != bid or not vsss.has_snapshots(self.env, bid):
                    return []
                return [vm_cls.path(uuid, ns)]
            if near.role == "Capabilities" and cls == elec.CLASS.lower():
                uuid = elec.parse_vm(path)
                inv.backend_of(uuid)
                return [vm_cls.path(uuid, ns)]
        except (CIMError, VrmError):  # malformed, unknown or unreachable
            return []
        return []


provider = ElementCapabilities
