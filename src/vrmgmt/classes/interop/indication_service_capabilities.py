"""VRM_IndicationServiceCapabilities: what the embedded indication service supports
(DSP1054 Indications 1.2 §7.5 CIM_IndicationServiceCapabilities): which settings of
VRM_IndicationService can change, the most destinations and subscriptions, and that
subscriptions persist (the state dir's subscriptions.json)."""

from __future__ import annotations

from collections.abc import Iterator

from pywbem import CIMInstance, CIMInstanceName, CIMProperty, Uint32

from vrmgmt.cim import paths as cim_paths
from vrmgmt.cim.errors import describe, not_found
from vrmgmt.classes.interop import indication_subscription as subscriptions
from vrmgmt.classes.interop import listener_destination_cimxml as destinations

CLASS = "VRM_IndicationServiceCapabilities"
INSTANCE_ID = "vrmgmt:IndicationServiceCapabilities"


def path(namespace: str) -> CIMInstanceName:
    return CIMInstanceName(CLASS, keybindings={"InstanceID": INSTANCE_ID}, namespace=namespace)


def instances(env, namespace, paths=None, *, bulk=False) -> Iterator[CIMInstance]:
    p = path(namespace)
    if paths is not None and not any(cim_paths.same(q, p) for q in paths):
        if len(paths) == 1:
            raise not_found(f"no instance {describe(paths[0])}")
        return
    props = [
        CIMProperty("InstanceID", INSTANCE_ID),
        CIMProperty("ElementName", "vrmgmt indication service capabilities"),
        CIMProperty("FilterCreationEnabledIsSettable", False),
        CIMProperty("DeliveryRetryAttemptsIsSettable", True),
        CIMProperty("DeliveryRetryIntervalIsSettable", True),
        CIMProperty("SubscriptionRemovalActionIsSettable", True),
        CIMProperty("SubscriptionRemovalTimeIntervalIsSettable", True),
        CIMProperty("MaxListenerDestinations", Uint32(destinations.MAX_DESTINATIONS)),
        CIMProperty("MaxActiveSubscriptions", Uint32(subscriptions.MAX_SUBSCRIPTIONS)),
        CIMProperty("SubscriptionsPersisted", True),
    ]
    yield CIMInstance(CLASS, properties=props, path=p)
