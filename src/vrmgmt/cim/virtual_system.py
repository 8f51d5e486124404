"""VRM_ComputerSystem: every VM of every backend, and RequestStateChange on it.

Follows DSP1057 Virtual System Profile §7.1-7.3 (state representation,
RequestStateChange) and DSP1052 Computer System §8.1 (return codes): 0 completed,
1 not supported, 4 failed, 5 invalid parameter, 4097 invalid state transition,
4098 use of timeout parameter not supported.
"""

from __future__ import annotations

from collections.abc import Iterator

import pywbem
from pywbem import CIMError, CIMInstance, CIMInstanceName, Uint32

from vrmgmt.cim import instances, valuemaps
from vrmgmt.cim.errors import invalid_parameter, not_found, to_cim_error
from vrmgmt.cim.provider import MethodResult, Provider, ProviderContext
from vrmgmt.errors import (
    BackendUnavailable,
    InvalidStateTransition,
    NotFound,
    NotSupported,
    VrmError,
)


def vm_uuid_from_path(path: CIMInstanceName) -> str:
    """The VM UUID named by a VRM_ComputerSystem path, checking its keys."""
    return instances.system_name(path, instances.VM_CLASS).lower()


class VirtualSystemProvider(Provider):
    """Instance + method provider for VRM_ComputerSystem.

    Instances are cached per VM between enumerations, keyed by everything they show
    (instances.vm_key): an unchanged VM costs a dict lookup instead of a rebuild, and
    the server's encoder reuses its encoding. The cache holds the VMs of the last
    complete enumeration only, and at most CACHE_LIMIT of them."""

    CACHE_LIMIT = 12_000

    def __init__(self, env):
        super().__init__(env)
        self._cache: dict[tuple, CIMInstance] = {}

    def _instances(self, ctx, vms) -> Iterator[CIMInstance]:
        inv = self.env.inventory
        old = self._cache
        new: dict[tuple, CIMInstance] = {}
        limit = self.CACHE_LIMIT
        possible_for: dict[tuple, frozenset] = {}  # see Manager.possible_actions
        for vm in vms:
            pkey = (vm.backend_id, vm.state, vm.guest_agent_running)
            possible = possible_for.get(pkey)
            if possible is None:
                possible = possible_for[pkey] = inv.managers[vm.backend_id].possible_actions(vm)
            key = instances.vm_key(vm, ctx.namespace, possible)
            inst = old.get(key)
            if inst is None:
                inst = instances.vm_instance(vm, ctx.namespace, possible)
            if len(new) < limit:
                new[key] = inst
            yield inst
        self._cache = new

    def enum_instance_names(
        self, ctx: ProviderContext, class_name: str
    ) -> Iterator[CIMInstanceName]:
        vms, _failures = self.env.inventory.list_vms()
        for vm in vms:
            yield instances.vm_path(vm.uuid, ctx.namespace)

    def enum_instances(
        self, ctx: ProviderContext, class_name: str, property_list: list[str] | None
    ) -> Iterator[CIMInstance]:
        inv = self.env.inventory
        if ctx.bulk:  # streamed in batches: read VMs lazily, leave the cache alone
            for vm in inv.iter_vms():
                possible = inv.managers[vm.backend_id].possible_actions(vm)
                yield instances.vm_instance(vm, ctx.namespace, possible)
            return
        vms, _failures = inv.list_vms()
        yield from self._instances(ctx, vms)

    def get_instance(
        self, ctx: ProviderContext, instance_name: CIMInstanceName, property_list: list[str] | None
    ) -> CIMInstance:
        uuid = vm_uuid_from_path(instance_name)
        inv = self.env.inventory
        try:
            vm = inv.get_vm(uuid)
        except VrmError as exc:
            raise to_cim_error(exc) from None
        return instances.vm_instance(
            vm, ctx.namespace, inv.managers[vm.backend_id].possible_actions(vm)
        )

    def invoke_method(self, ctx, object_name, method, params) -> MethodResult:
        if method.lower() != "requeststatechange":
            return super().invoke_method(ctx, object_name, method, params)
        if not isinstance(object_name, CIMInstanceName):
            raise invalid_parameter("RequestStateChange must be invoked on a VM instance path")
        return self.request_state_change(ctx, object_name, params)

    def request_state_change(
        self, ctx: ProviderContext, path: CIMInstanceName, params: dict
    ) -> MethodResult:
        uuid = vm_uuid_from_path(path)
        p = {k.lower(): v for k, v in params.items()}
        out = {"Job": None}
        requested = p.get("requestedstate")
        if requested is None:
            raise invalid_parameter("RequestStateChange needs the RequestedState parameter")
        timeout = p.get("timeoutperiod")
        if timeout is not None and _nonzero_interval(timeout):
            return Uint32(valuemaps.RC_TIMEOUT_NOT_SUPPORTED), out
        inv = self.env.inventory
        try:
            vm = inv.get_vm(uuid)
        except VrmError as exc:
            raise to_cim_error(exc) from None
        mgr = inv.managers[vm.backend_id]
        try:
            action = valuemaps.action_for_request(int(requested), vm.state)
        except KeyError:
            self._audit(ctx, vm, requested, "rejected: invalid RequestedState")
            return Uint32(valuemaps.RC_INVALID_PARAMETER), out
        if action is None:
            self._audit(ctx, vm, requested, "no change needed")
            return Uint32(valuemaps.RC_COMPLETED), out
        if action not in mgr.supported_actions():
            self._audit(ctx, vm, requested, "not supported by backend")
            return Uint32(valuemaps.RC_NOT_SUPPORTED), out
        try:
            inv.perform(uuid, action, vm.backend_id)
        except InvalidStateTransition as exc:
            self._audit(ctx, vm, requested, f"invalid transition: {exc}")
            return Uint32(valuemaps.RC_INVALID_STATE_TRANSITION), out
        except NotSupported as exc:
            self._audit(ctx, vm, requested, f"not supported: {exc}")
            return Uint32(valuemaps.RC_NOT_SUPPORTED), out
        except NotFound as exc:
            raise not_found(str(exc)) from None
        except (BackendUnavailable, VrmError) as exc:
            self._audit(ctx, vm, requested, f"failed: {exc}")
            raise CIMError(pywbem.CIM_ERR_FAILED, f"RequestStateChange failed: {exc}") from None
        self._audit(ctx, vm, requested, f"completed ({action.value})")
        return Uint32(valuemaps.RC_COMPLETED), out

    def _audit(self, ctx: ProviderContext, vm, requested, outcome: str) -> None:
        self.env.audit(
            user=ctx.user,
            action=f"RequestStateChange({requested})",
            target=f"{instances.VM_CLASS}.Name={vm.uuid} ({vm.name} on {vm.backend_id})",
            outcome=outcome,
        )


def _nonzero_interval(value) -> bool:
    if isinstance(value, pywbem.CIMDateTime):
        return value.timedelta.total_seconds() != 0 if value.is_interval else True
    return bool(value)
