"""VRM_IndicationService: the embedded server's indication service (DSP1054 Indications
1.2 §7.1 CIM_IndicationService), one instance, with its delivery settings:
DeliveryRetryAttempts and DeliveryRetryInterval (an undeliverable indication is tried
1 + DeliveryRetryAttempts times, DeliveryRetryInterval seconds apart),
SubscriptionRemovalAction (2 Remove, 3 Disable, 4 Ignore) and
SubscriptionRemovalTimeInterval (seconds of failing delivery before it applies).
ModifyInstance changes them (admin role); they are kept in the durable subscription store.
"""

from __future__ import annotations

from collections.abc import Iterator

from pywbem import CIMInstance, CIMInstanceName, CIMProperty, Uint16, Uint32

from vrmgmt.cim import paths as cim_paths
from vrmgmt.cim.errors import describe, invalid_parameter, not_found
from vrmgmt.cim.provider import ProviderEnv
from vrmgmt.classes.interop import indication_filter, object_manager

CLASS = "VRM_IndicationService"
NAME = "vrmgmt:indication-service"
#: property -> (CIM type, allowed values or None, upper bound)
SETTINGS = {
    "DeliveryRetryAttempts": (Uint16, None, 100),
    "DeliveryRetryInterval": (Uint32, None, 86400),
    "SubscriptionRemovalAction": (Uint16, (2, 3, 4), 4),
    "SubscriptionRemovalTimeInterval": (Uint32, None, 2**32 - 1),
}


def path(env: ProviderEnv, namespace: str | None = None) -> CIMInstanceName:
    return CIMInstanceName(
        CLASS,
        keybindings={
            "CreationClassName": CLASS,
            "Name": NAME,
            "SystemCreationClassName": object_manager.SYSTEM_CREATION_CLASS,
            "SystemName": object_manager.hostname(env),
        },
        namespace=namespace or env.interop_namespace,
    )


def parse(env: ProviderEnv, p: CIMInstanceName) -> None:
    if not cim_paths.same(p, path(env, p.namespace or env.interop_namespace)):
        raise not_found(f"no instance {describe(p)}")


def exists(env: ProviderEnv, p: CIMInstanceName) -> bool:
    return cim_paths.same(p, path(env, p.namespace or env.interop_namespace))


def paths(env: ProviderEnv, namespace: str) -> Iterator[CIMInstanceName]:
    yield path(env, namespace)


def instance(env: ProviderEnv, namespace: str) -> CIMInstance:
    p = path(env, namespace)
    settings = indication_filter.store(env).settings()
    props = [CIMProperty(k, v) for k, v in p.keybindings.items()]
    props += [
        CIMProperty("ElementName", "vrmgmt indication service"),
        CIMProperty("Started", True),
        CIMProperty("EnabledState", Uint16(2)),
        CIMProperty("RequestedState", Uint16(12)),  # Not Applicable
        CIMProperty("EnabledDefault", Uint16(2)),
        CIMProperty("OperationalStatus", [Uint16(2)], type="uint16", is_array=True),
        CIMProperty("HealthState", Uint16(5)),
        CIMProperty("FilterCreationEnabled", True),
    ]
    props += [CIMProperty(n, t(settings[n])) for n, (t, _, _) in SETTINGS.items()]
    return CIMInstance(CLASS, properties=props, path=p)


def instances(env, namespace, paths=None, *, bulk=False) -> Iterator[CIMInstance]:
    if paths is not None:
        wanted = [p for p in paths if cim_paths.same(p, path(env, namespace))]
        if not wanted:
            if len(paths) == 1:
                raise not_found(f"no instance {describe(paths[0])}")
            return
    yield instance(env, namespace)


def modify(env: ProviderEnv, ctx, inst: CIMInstance, property_list) -> None:
    parse(env, inst.path)
    wanted = {p.lower() for p in property_list} if property_list is not None else None
    changes: dict[str, int] = {}
    for name, (_t, allowed, top) in SETTINGS.items():
        if wanted is not None and name.lower() not in wanted:
            continue
        v = inst.get(name)
        if v is None:
            continue
        if not isinstance(v, int) or isinstance(v, bool) or not 0 <= int(v) <= top:
            raise invalid_parameter(f"{CLASS}.{name} must be an integer from 0 to {top}")
        if allowed is not None and int(v) not in allowed:
            raise invalid_parameter(
                f"{CLASS}.{name} must be one of {', '.join(map(str, allowed))}, not {v}"
            )
        changes[name] = int(v)
    keys = {k.lower() for k in path(env).keybindings}
    settable = {k.lower() for k in SETTINGS}
    current = instance(env, ctx.namespace)
    for name in inst:
        low = name.lower()
        if low in settable or low in keys or (wanted is not None and low not in wanted):
            continue
        if inst[name] != current.get(name):
            raise invalid_parameter(f"{CLASS}.{name} cannot be changed")
    if changes:
        with indication_filter.store(env).change() as data:
            data["settings"].update(changes)
