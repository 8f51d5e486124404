"""CIM_IndicationSubscription: a filter's indications go to a listener destination
(DSP1054 Indications 1.2 §7.4, §8.3), created, listed, modified and deleted with
intrinsic operations as pywbem's WBEMSubscriptionManager does.

Filter and Handler must name an existing filter and destination (CIM_ERR_INVALID_PARAMETER
otherwise). SubscriptionState 2 (Enabled) delivers, 4 (Disabled) does not; ModifyInstance
may change SubscriptionState, SubscriptionInfo and SubscriptionDuration. The indication
service disables or removes a subscription whose destination keeps failing
(VRM_IndicationService.SubscriptionRemovalAction).
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Iterator

import pywbem
from pywbem import CIMDateTime, CIMError, CIMInstance, CIMInstanceName, CIMProperty, Uint16, Uint64

from vrmgmt.cim.association import Association, End
from vrmgmt.cim.errors import describe, invalid_parameter, not_found
from vrmgmt.cim.provider import ProviderEnv
from vrmgmt.classes.interop import indication_filter, listener_destination_cimxml
from vrmgmt.errors import AlreadyExists, NotFound

CLASS = "CIM_IndicationSubscription"
KIND = "subscriptions"
MAX_SUBSCRIPTIONS = 100
STATES = {2: "Enabled", 4: "Disabled"}
POLICIES = {2: "Ignore", 3: "Disable", 4: "Remove"}


def key_of(rec: dict) -> tuple:
    return (tuple(rec["Filter"]), tuple(rec["Handler"]))


def _refs(env: ProviderEnv, rec: dict, namespace: str):
    st = indication_filter.store(env)
    f = st.find("filters", tuple(rec["Filter"]))
    d = st.find("destinations", tuple(rec["Handler"]))
    if f is None or d is None:
        return None
    return indication_filter.path(f, namespace), listener_destination_cimxml.path(d, namespace)


def path(env: ProviderEnv, rec: dict, namespace: str) -> CIMInstanceName | None:
    refs = _refs(env, rec, namespace)
    if refs is None:
        return None
    return CIMInstanceName(
        CLASS, keybindings={"Filter": refs[0], "Handler": refs[1]}, namespace=namespace
    )


def parse(p: CIMInstanceName) -> tuple:
    kb = {k.lower(): v for k, v in p.keybindings.items()}
    f, h = kb.get("filter"), kb.get("handler")
    if not isinstance(f, CIMInstanceName) or not isinstance(h, CIMInstanceName):
        raise invalid_parameter(f"{describe(p)}: Filter and Handler must be references")
    return (indication_filter.parse(f), listener_destination_cimxml.parse(h))


def instance(env: ProviderEnv, rec: dict, namespace: str) -> CIMInstance | None:
    p = path(env, rec, namespace)
    if p is None:
        return None
    dur = rec.get("SubscriptionDuration")
    props = [
        CIMProperty("Filter", p.keybindings["Filter"]),
        CIMProperty("Handler", p.keybindings["Handler"]),
        CIMProperty("OnFatalErrorPolicy", Uint16(rec.get("OnFatalErrorPolicy", 2))),
        CIMProperty("SubscriptionState", Uint16(rec.get("SubscriptionState", 2))),
        CIMProperty("SubscriptionStartTime", CIMDateTime(rec["SubscriptionStartTime"])),
        CIMProperty("TimeOfLastStateChange", CIMDateTime(rec["TimeOfLastStateChange"])),
        CIMProperty(
            "SubscriptionDuration", Uint64(dur) if dur is not None else None, type="uint64"
        ),
        CIMProperty("SubscriptionInfo", rec.get("SubscriptionInfo"), type="string"),
        CIMProperty("RepeatNotificationPolicy", Uint16(2)),  # None
        CIMProperty("AlertOnStateChange", False),
    ]
    return CIMInstance(CLASS, properties=props, path=p)


def instances(env, namespace, paths=None, *, bulk=False) -> Iterator[CIMInstance]:
    recs = indication_filter.store(env).records(KIND)
    if paths is None:
        for rec in recs:
            inst = instance(env, rec, namespace)
            if inst is not None:
                yield inst
        return
    by_key = {key_of(r): r for r in recs}
    for p in paths:
        try:
            rec = by_key.get(parse(p))
        except CIMError:
            rec = None
        inst = instance(env, rec, namespace) if rec is not None else None
        if inst is not None:
            yield inst
        elif len(paths) == 1:
            raise not_found(f"no indication subscription {describe(p)}")


def _now() -> str:
    return str(CIMDateTime(_dt.datetime.now(_dt.UTC)))


def _state(inst: CIMInstance, rec: dict) -> None:
    s = inst.get("SubscriptionState")
    if s is not None:
        if int(s) not in STATES:
            raise invalid_parameter(
                f"{CLASS}.SubscriptionState must be 2 (Enabled) or 4 (Disabled), not {s}"
            )
        if int(s) != rec.get("SubscriptionState"):
            rec["TimeOfLastStateChange"] = _now()
        rec["SubscriptionState"] = int(s)
    info = inst.get("SubscriptionInfo")
    if info is not None:
        rec["SubscriptionInfo"] = str(info)
    dur = inst.get("SubscriptionDuration")
    if dur is not None:
        rec["SubscriptionDuration"] = int(dur)


def create(env: ProviderEnv, ctx, inst: CIMInstance) -> CIMInstanceName:
    st = indication_filter.store(env)
    f, h = inst.get("Filter"), inst.get("Handler")
    if not isinstance(f, CIMInstanceName) or not isinstance(h, CIMInstanceName):
        raise invalid_parameter(f"{CLASS}: Filter and Handler must be references")
    fk, hk = indication_filter.parse(f), listener_destination_cimxml.parse(h)
    if st.find("filters", fk) is None:
        raise invalid_parameter(f"{CLASS}.Filter: no indication filter {describe(f)}")
    if st.find("destinations", hk) is None:
        raise invalid_parameter(f"{CLASS}.Handler: no listener destination {describe(h)}")
    if len(st.records(KIND)) >= MAX_SUBSCRIPTIONS:
        raise CIMError(pywbem.CIM_ERR_FAILED, f"at most {MAX_SUBSCRIPTIONS} subscriptions")
    pol = inst.get("OnFatalErrorPolicy")
    if pol is not None and int(pol) not in POLICIES:
        raise invalid_parameter(f"{CLASS}.OnFatalErrorPolicy must be 2, 3 or 4, not {pol}")
    now = _now()
    rec = {
        "Filter": list(fk),
        "Handler": list(hk),
        "OnFatalErrorPolicy": int(pol) if pol is not None else 2,
        "SubscriptionState": 2,
        "SubscriptionStartTime": now,
        "TimeOfLastStateChange": now,
    }
    _state(inst, rec)
    try:
        st.add(KIND, rec)
    except AlreadyExists:
        raise CIMError(
            pywbem.CIM_ERR_ALREADY_EXISTS, f"this filter is subscribed to {describe(h)} already"
        ) from None
    env.indication_service.rebuild()
    return path(env, rec, ctx.namespace)


def modify(env: ProviderEnv, ctx, inst: CIMInstance, property_list) -> None:
    st = indication_filter.store(env)
    key = parse(inst.path)
    wanted = {p.lower() for p in property_list} if property_list is not None else None
    given = CIMInstance(CLASS)
    for name in ("SubscriptionState", "SubscriptionInfo", "SubscriptionDuration"):
        if (wanted is None or name.lower() in wanted) and inst.get(name) is not None:
            given[name] = inst[name]
    cur = st.find(KIND, key)
    if cur is None:
        raise not_found(f"no indication subscription {describe(inst.path)}")
    _state(given, cur)
    st.update(KIND, key, lambda r: r.update(cur))
    env.indication_service.rebuild()


def delete(env: ProviderEnv, ctx, p: CIMInstanceName) -> None:
    st = indication_filter.store(env)
    try:
        st.remove(KIND, parse(p))
    except NotFound:
        raise not_found(f"no indication subscription {describe(p)}") from None
    env.indication_service.rebuild()


class IndicationSubscription(Association):
    """The association (Filter, Handler) with the subscription's own properties, so
    References/ReferenceNames on a filter or destination (pywbem's remove_filter asks)
    find the subscriptions that use it; intrinsic changes go to the functions above."""

    class_name = CLASS
    ends = (End("Filter", indication_filter), End("Handler", listener_destination_cimxml))

    def far(self, ctx, near, p):
        st = indication_filter.store(self.env)
        try:
            if near.role == "Filter":
                key, mine, other = indication_filter.parse(p), "Filter", "Handler"
            else:
                key, mine, other = listener_destination_cimxml.parse(p), "Handler", "Filter"
        except CIMError:
            return []
        out = []
        for rec in st.records(KIND):
            if tuple(rec[mine]) == key:
                refs = _refs(self.env, rec, ctx.namespace)
                if refs is not None:
                    out.append(refs[1] if other == "Handler" else refs[0])
        return out

    def enum_instances(self, ctx, class_name, property_list):
        return instances(self.env, ctx.namespace)

    def get_instance(self, ctx, instance_name, property_list):
        for inst in instances(self.env, ctx.namespace, [instance_name]):
            return inst
        raise not_found(f"no indication subscription {describe(instance_name)}")

    def references(self, ctx, assoc_class, object_name, role, property_list):
        for near in self._near_ends(ctx, object_name, role):
            try:
                key = (
                    indication_filter.parse(object_name)
                    if near.role == "Filter"
                    else listener_destination_cimxml.parse(object_name)
                )
            except CIMError:
                continue
            for rec in indication_filter.store(self.env).records(KIND):
                if tuple(rec[near.role]) == key:
                    inst = instance(self.env, rec, ctx.namespace)
                    if inst is not None:
                        yield inst

    def create_instance(self, ctx, inst):
        return create(self.env, ctx, inst)

    def modify_instance(self, ctx, inst, property_list):
        modify(self.env, ctx, inst, property_list)

    def delete_instance(self, ctx, instance_name):
        delete(self.env, ctx, instance_name)


provider = IndicationSubscription
