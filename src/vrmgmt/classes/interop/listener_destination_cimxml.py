"""CIM_ListenerDestinationCIMXML: where a CIM-XML listener receives indications (DSP1054
Indications 1.2 §7.3, §8.2), created, listed, modified and deleted with intrinsic
operations as pywbem's WBEMSubscriptionManager does.

Destination must be an http:// or https:// URL with a host (https listeners get their
certificate verified against the system's CA store); Protocol, when given, must be 2
(CIM-XML). At most MAX_DESTINATIONS destinations. Deleting one that a subscription uses
is refused (CIM_ERR_FAILED), as SFCB does.
"""

from __future__ import annotations

import urllib.parse
from collections.abc import Iterator

import pywbem
from pywbem import CIMError, CIMInstance, CIMInstanceName, CIMProperty, Uint16

from vrmgmt.cim.errors import describe, invalid_parameter, not_found
from vrmgmt.cim.provider import ProviderEnv
from vrmgmt.classes.interop import indication_filter, object_manager
from vrmgmt.errors import AlreadyExists, NotFound

CLASS = "CIM_ListenerDestinationCIMXML"
#: the abstract base a client may name in a subscription's Handler reference
BASE = "CIM_ListenerDestination"
KIND = "destinations"
MAX_DESTINATIONS = 100
PERSISTENCE = {1: "Other", 2: "Permanent", 3: "Transient"}


def key_of(rec: dict) -> tuple[str, str]:
    return (rec["CreationClassName"].lower(), rec["Name"])


def path(rec: dict, namespace: str) -> CIMInstanceName:
    return CIMInstanceName(
        rec["CreationClassName"],
        keybindings={
            "CreationClassName": rec["CreationClassName"],
            "Name": rec["Name"],
            "SystemCreationClassName": rec["SystemCreationClassName"],
            "SystemName": rec["SystemName"],
        },
        namespace=namespace,
    )


def parse(p: CIMInstanceName) -> tuple[str, str]:
    kb = {k.lower(): v for k, v in p.keybindings.items()}
    ccn, name = kb.get("creationclassname"), kb.get("name")
    if not isinstance(name, str) or not name:
        raise invalid_parameter(f"{describe(p)} has no Name key")
    if not isinstance(ccn, str) or ccn.lower() != CLASS.lower():
        raise invalid_parameter(f"{describe(p)}: CreationClassName must be {CLASS}")
    return (ccn.lower(), name)


def instance(env: ProviderEnv, rec: dict, namespace: str) -> CIMInstance:
    p = path(rec, namespace)
    props = [CIMProperty(k, v) for k, v in p.keybindings.items()]
    props += [
        CIMProperty("ElementName", rec["Name"]),
        CIMProperty("Destination", rec["Destination"]),
        CIMProperty("PersistenceType", Uint16(rec.get("PersistenceType", 2))),
        CIMProperty("Protocol", Uint16(2)),
    ]
    return CIMInstance(CLASS, properties=props, path=p)


def instances(env, namespace, paths=None, *, bulk=False) -> Iterator[CIMInstance]:
    recs = indication_filter.store(env).records(KIND)
    if paths is None:
        for rec in recs:
            yield instance(env, rec, namespace)
        return
    by_key = {key_of(r): r for r in recs}
    for p in paths:
        try:
            rec = by_key.get(parse(p))
        except CIMError:
            rec = None
        if rec is not None:
            yield instance(env, rec, namespace)
        elif len(paths) == 1:
            raise not_found(f"no listener destination {describe(p)}")


def _checked(inst: CIMInstance, rec: dict) -> dict:
    url = inst.get("Destination")
    if not isinstance(url, str) or not url.strip():
        raise invalid_parameter(f"{CLASS}.Destination is required (the listener's URL)")
    parts = urllib.parse.urlsplit(url.strip())
    try:
        parts.port  # noqa: B018 - raises ValueError on a bad port
    except ValueError:
        raise invalid_parameter(f"{CLASS}.Destination {url!r} has an invalid port") from None
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        raise invalid_parameter(
            f"{CLASS}.Destination {url!r} must be an http:// or https:// URL with a host"
        )
    proto = inst.get("Protocol")
    if proto is not None and int(proto) != 2:
        raise invalid_parameter(f"{CLASS}.Protocol must be 2 (CIM-XML), not {proto}")
    pt = inst.get("PersistenceType")
    if pt is not None and int(pt) not in PERSISTENCE:
        raise invalid_parameter(f"{CLASS}.PersistenceType must be 1, 2 or 3, not {pt}")
    rec["Destination"] = url.strip()
    if pt is not None:
        rec["PersistenceType"] = int(pt)
    rec.setdefault("PersistenceType", 2)
    return rec


def create(env: ProviderEnv, ctx, inst: CIMInstance) -> CIMInstanceName:
    st = indication_filter.store(env)
    name = inst.get("Name")
    if not isinstance(name, str) or not name.strip():
        raise invalid_parameter(f"{CLASS}.Name is required")
    ccn = inst.get("CreationClassName") or CLASS
    if not isinstance(ccn, str) or ccn.lower() != CLASS.lower():
        raise invalid_parameter(f"{CLASS}.CreationClassName must be {CLASS}, not {ccn!r}")
    if len(st.records(KIND)) >= MAX_DESTINATIONS:
        raise CIMError(pywbem.CIM_ERR_FAILED, f"at most {MAX_DESTINATIONS} listener destinations")
    rec = {
        "CreationClassName": CLASS,
        "Name": name,
        "SystemCreationClassName": inst.get("SystemCreationClassName")
        or object_manager.SYSTEM_CREATION_CLASS,
        "SystemName": inst.get("SystemName") or object_manager.hostname(env),
    }
    _checked(inst, rec)
    try:
        st.add(KIND, rec)
    except AlreadyExists:
        raise CIMError(
            pywbem.CIM_ERR_ALREADY_EXISTS, f"a listener destination named {name!r} exists"
        ) from None
    env.indication_service.rebuild()
    return path(rec, ctx.namespace)


def modify(env: ProviderEnv, ctx, inst: CIMInstance, property_list) -> None:
    st = indication_filter.store(env)
    key = parse(inst.path)
    cur = st.find(KIND, key)
    if cur is None:
        raise not_found(f"no listener destination {describe(inst.path)}")
    wanted = {p.lower() for p in property_list} if property_list is not None else None
    merged = instance(env, cur, ctx.namespace)
    for name in ("Destination", "PersistenceType", "Protocol"):
        if (wanted is None or name.lower() in wanted) and name in inst:
            merged[name] = inst[name]
    rec = _checked(merged, dict(cur))
    st.update(KIND, key, lambda r: r.update(rec))
    env.indication_service.rebuild()


def delete(env: ProviderEnv, ctx, p: CIMInstanceName) -> None:
    st = indication_filter.store(env)
    key = parse(p)
    if any(tuple(s["Handler"]) == key for s in st.records("subscriptions")):
        raise CIMError(
            pywbem.CIM_ERR_FAILED,
            f"listener destination {key[1]!r} is used by a subscription; delete that first",
        )
    try:
        st.remove(KIND, key)
    except NotFound:
        raise not_found(f"no listener destination {describe(p)}") from None
    env.indication_service.rebuild()
