"""VRM_EnabledLogicalElementCapabilities of each host: which state changes
VRM_HostSystem.RequestStateChange accepts right now (DSP1052 Computer System §7.3 and
§8.1.2: RequestedStatesSupported lists exactly the RequestedState values the element
supports; empty while host power is disabled or impossible). Linked to the host by
VRM_ElementCapabilities. ElementName cannot be changed through vrmgmt."""

from __future__ import annotations

from collections.abc import Iterator

from pywbem import CIMInstance, CIMInstanceName, Uint16

from vrmgmt.cim import fastinst
from vrmgmt.cim import paths as cim_paths
from vrmgmt.cim.errors import not_found
from vrmgmt.cim.provider import ProviderEnv
from vrmgmt.classes.system import host_power
from vrmgmt.errors import VrmError

CLASS = "VRM_EnabledLogicalElementCapabilities"
PREFIX = "vrmgmt:host-capabilities:"
#: StateAwareness 3 = RequestStateChange (the element changes state on request only)
STATE_AWARENESS_RSC = 3


def path(backend_id: str, namespace: str | None) -> CIMInstanceName:
    return fastinst.path(CLASS, {"InstanceID": PREFIX + backend_id}, namespace)


def parse(p: CIMInstanceName) -> str:
    """The backend id of a host's capabilities path (CIM_ERR_NOT_FOUND otherwise)."""
    iid = cim_paths.keys_of(p).get("instanceid")
    if not isinstance(iid, str) or not iid.startswith(PREFIX):
        raise not_found(f"no {CLASS} {iid!r}")
    return iid[len(PREFIX) :]


def instance(env: ProviderEnv, backend_id: str, namespace: str) -> CIMInstance:
    states = host_power.available_states(env, backend_id)
    try:
        why = host_power.power_control(env, backend_id).description
    except VrmError as exc:  # the backend cannot be asked right now
        why = f"host power unknown: {exc}"
    P = fastinst.prop
    props = [
        P("InstanceID", PREFIX + backend_id, "string"),
        P("ElementName", f"state changes of host {backend_id}", "string"),
        P("Description", why, "string"),
        P("RequestedStatesSupported", [Uint16(s) for s in states], "uint16", True),
        P("StateAwareness", [Uint16(STATE_AWARENESS_RSC)], "uint16", True),
        P("ElementNameEditSupported", False, "boolean"),
    ]
    return fastinst.instance(CLASS, props, path(backend_id, namespace))


def paths(env: ProviderEnv, namespace: str) -> Iterator[CIMInstanceName]:
    for bid in env.inventory.backend_ids():
        yield path(bid, namespace)


def instances(env, namespace, paths=None, *, bulk=False) -> Iterator[CIMInstance]:
    inv = env.inventory
    wanted = inv.backend_ids() if paths is None else [parse(p) for p in paths]
    for bid in wanted:
        if inv.has_backend(bid):
            yield instance(env, bid, namespace)
        elif paths is not None and len(paths) == 1:
            raise not_found(f"no host {bid!r}, so no {CLASS} for it")
