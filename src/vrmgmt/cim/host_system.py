"""VRM_HostSystem (one per configured backend, DSP1042 System Virtualization §7.1:
the host computer system) and VRM_HostedDependency (DSP1057 §7.4: a VM depends on the
host that runs it).
"""

from __future__ import annotations

from collections.abc import Iterator

from pywbem import CIMInstance, CIMInstanceName

from vrmgmt.cim import instances
from vrmgmt.cim.errors import invalid_parameter, not_found, to_cim_error
from vrmgmt.cim.provider import Provider, ProviderContext, keys_of
from vrmgmt.cim.virtual_system import vm_uuid_from_path
from vrmgmt.errors import VrmError


def backend_id_from_path(path: CIMInstanceName) -> str:
    return instances.system_name(path, instances.HOST_CLASS)


class HostSystemProvider(Provider):
    """Instance provider for VRM_HostSystem."""

    def enum_instance_names(
        self, ctx: ProviderContext, class_name: str
    ) -> Iterator[CIMInstanceName]:
        for bid in self.env.inventory.managers:
            yield instances.host_path(bid, ctx.namespace)

    def enum_instances(self, ctx, class_name, property_list) -> Iterator[CIMInstance]:
        for host in self.env.inventory.hosts():
            yield instances.host_instance(host, ctx.namespace)

    def get_instance(self, ctx, instance_name, property_list) -> CIMInstance:
        bid = backend_id_from_path(instance_name)
        if bid not in self.env.inventory.managers:
            raise not_found(
                f"no host {bid!r} (configured backends: {', '.join(self.env.inventory.managers)})"
            )
        return instances.host_instance(self.env.inventory.host(bid), ctx.namespace)


class HostedDependencyProvider(Provider):
    """Association provider for VRM_HostedDependency (Antecedent host, Dependent VM)."""

    def enum_instances(self, ctx, class_name, property_list) -> Iterator[CIMInstance]:
        vms, _ = self.env.inventory.list_vms()
        for vm in vms:
            yield instances.hosted_dependency(vm.uuid, vm.backend_id, ctx.namespace)

    def get_instance(self, ctx, instance_name, property_list) -> CIMInstance:
        kb = keys_of(instance_name)
        ante, dep = kb.get("antecedent"), kb.get("dependent")
        if not isinstance(ante, CIMInstanceName) or not isinstance(dep, CIMInstanceName):
            raise invalid_parameter(
                f"{instances.HOSTED_DEP_CLASS} path needs Antecedent and Dependent references"
            )
        bid = backend_id_from_path(ante)
        uuid = vm_uuid_from_path(dep)
        try:
            found = self.env.inventory.backend_of(uuid)
        except VrmError as exc:
            raise to_cim_error(exc) from None
        if found != bid:
            raise not_found(f"VM {uuid} is not hosted by {bid!r}")
        return instances.hosted_dependency(uuid, bid, ctx.namespace)

    def references(self, ctx, assoc_class, object_name, role, property_list):
        cls = object_name.classname.lower()
        inv = self.env.inventory
        ns = ctx.namespace
        if (
            cls == instances.VM_CLASS.lower()
            and role in (None, "")
            or (cls == instances.VM_CLASS.lower() and role.lower() == "dependent")
        ):
            uuid = vm_uuid_from_path(object_name)
            try:
                bid = inv.backend_of(uuid)
            except VrmError:
                return
            yield instances.hosted_dependency(uuid, bid, ns)
        elif cls == instances.HOST_CLASS.lower() and (not role or role.lower() == "antecedent"):
            bid = backend_id_from_path(object_name)
            if bid not in inv.managers:
                return
            try:
                vms = inv.call(bid, lambda m: m.list_vms())
            except VrmError:
                return
            for vm in vms:
                yield instances.hosted_dependency(vm.uuid, bid, ns)

    def associators(
        self, ctx, assoc_class, object_name, result_class, role, result_role, property_list
    ):
        """Built directly (one backend call) instead of one GetInstance per VM."""
        cls = object_name.classname.lower()
        inv = self.env.inventory
        ns = ctx.namespace
        if cls == instances.VM_CLASS.lower():
            if (role and role.lower() != "dependent") or (
                result_role and result_role.lower() != "antecedent"
            ):
                return
            if result_class and not ctx.is_subclass(instances.HOST_CLASS, result_class):
                return
            uuid = vm_uuid_from_path(object_name)
            try:
                bid = inv.backend_of(uuid)
            except VrmError:
                return
            yield instances.host_instance(inv.host(bid), ns)
        elif cls == instances.HOST_CLASS.lower():
            if (role and role.lower() != "antecedent") or (
                result_role and result_role.lower() != "dependent"
            ):
                return
            if result_class and not ctx.is_subclass(instances.VM_CLASS, result_class):
                return
            bid = backend_id_from_path(object_name)
            if bid not in inv.managers:
                return
            mgr = inv.managers[bid]
            try:
                vms = inv.call(bid, lambda m: m.list_vms())
            except VrmError:
                return
            for vm in vms:
                yield instances.vm_instance(vm, ns, mgr.possible_actions(vm))
