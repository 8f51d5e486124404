"""CIM_IndicationFilter: a client's WQL query over indication classes (DSP1054
Indications 1.2 §7.2, §8.1 CreateInstance of CIM_IndicationFilter), created, listed,
modified and deleted with intrinsic operations as pywbem's WBEMSubscriptionManager does.

CreateInstance checks the filter before anything is stored: QueryLanguage must be WQL
(CIM_ERR_QUERY_LANGUAGE_NOT_SUPPORTED); the query must parse and name properties its
FROM class declares, and the FROM class must exist and be an indication class
(CIM_ERR_INVALID_QUERY, the message says what is wrong); SourceNamespaces must be
namespaces of this server (CIM_ERR_INVALID_PARAMETER). Records live in the indication
service's durable store (vrmgmt.server.indications.subscriptions).
"""

from __future__ import annotations

from collections.abc import Iterator

import pywbem
from pywbem import CIMError, CIMInstance, CIMInstanceName, CIMProperty

from vrmgmt.cim.errors import describe, invalid_parameter, not_found, not_supported
from vrmgmt.cim.provider import ProviderEnv
from vrmgmt.cim.wql import compile_query
from vrmgmt.classes.interop import object_manager
from vrmgmt.errors import AlreadyExists, NotFound

CLASS = "CIM_IndicationFilter"
INDICATION_BASE = "CIM_Indication"
KIND = "filters"


def store(env: ProviderEnv):
    svc = env.indication_service
    if svc is None:
        raise not_supported("indication subscriptions outside the embedded server")
    return svc.store


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
    """The store key of a filter path; CIM_ERR_INVALID_PARAMETER when it is no filter's."""
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
        CIMProperty("Query", rec["Query"]),
        CIMProperty("QueryLanguage", rec["QueryLanguage"]),
        CIMProperty("SourceNamespaces", rec.get("SourceNamespaces"), type="string", is_array=True),
        CIMProperty("SourceNamespace", rec.get("SourceNamespace"), type="string"),
        CIMProperty("IndividualSubscriptionSupported", True),
    ]
    return CIMInstance(CLASS, properties=props, path=p)


def instances(env, namespace, paths=None, *, bulk=False) -> Iterator[CIMInstance]:
    recs = store(env).records(KIND)
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
            raise not_found(f"no indication filter {describe(p)}")


def _string(inst: CIMInstance, name: str, required: bool) -> str | None:
    v = inst.get(name)
    if v is None:
        if required:
            raise invalid_parameter(f"{CLASS}.{name} is required")
        return None
    if not isinstance(v, str) or (required and not v.strip()):
        raise invalid_parameter(f"{CLASS}.{name} must be a non-empty string")
    return v


def _checked(env: ProviderEnv, ctx, inst: CIMInstance, rec: dict) -> dict:
    """rec updated with the query and namespaces of inst, after checking them."""
    query = _string(inst, "Query", True)
    lang = _string(inst, "QueryLanguage", True)
    q = compile_query(lang, query, ctx.get_class)
    if not ctx.is_subclass(q.class_name, INDICATION_BASE):
        raise CIMError(
            pywbem.CIM_ERR_INVALID_QUERY,
            f"invalid WQL: {q.class_name} is not an indication class "
            f"(a filter selects subclasses of {INDICATION_BASE})",
        )
    served = {n.lower(): n for n in (env.namespaces or [env.namespace, env.interop_namespace])}
    nss = inst.get("SourceNamespaces")
    if nss is not None and not isinstance(nss, list | tuple):
        raise invalid_parameter(f"{CLASS}.SourceNamespaces must be an array of strings")
    one = inst.get("SourceNamespace")
    for ns in [*(nss or []), *([one] if one else [])]:
        if not isinstance(ns, str) or ns.strip("/").lower() not in served:
            raise invalid_parameter(
                f"{CLASS}: source namespace {ns!r} is not a namespace of this server "
                f"(it has {', '.join(sorted(served.values()))})"
            )
    rec.update(
        Query=query,
        QueryLanguage=lang,
        SourceNamespaces=[served[n.strip("/").lower()] for n in nss] if nss else None,
        SourceNamespace=served[one.strip("/").lower()] if one else None,
    )
    return rec


def create(env: ProviderEnv, ctx, inst: CIMInstance) -> CIMInstanceName:
    st = store(env)
    name = _string(inst, "Name", True)
    ccn = inst.get("CreationClassName") or CLASS
    if not isinstance(ccn, str) or ccn.lower() != CLASS.lower():
        raise invalid_parameter(f"{CLASS}.CreationClassName must be {CLASS}, not {ccn!r}")
    rec = {
        "CreationClassName": CLASS,
        "Name": name,
        "SystemCreationClassName": inst.get("SystemCreationClassName")
        or object_manager.SYSTEM_CREATION_CLASS,
        "SystemName": inst.get("SystemName") or object_manager.hostname(env),
    }
    _checked(env, ctx, inst, rec)
    try:
        st.add(KIND, rec)
    except AlreadyExists:
        raise CIMError(
            pywbem.CIM_ERR_ALREADY_EXISTS, f"an indication filter named {name!r} exists"
        ) from None
    env.indication_service.rebuild()
    return path(rec, ctx.namespace)


def modify(env: ProviderEnv, ctx, inst: CIMInstance, property_list) -> None:
    st = store(env)
    key = parse(inst.path)
    cur = st.find(KIND, key)
    if cur is None:
        raise not_found(f"no indication filter {describe(inst.path)}")
    wanted = {p.lower() for p in property_list} if property_list is not None else None
    merged = instance(env, cur, ctx.namespace)
    for name in ("Query", "QueryLanguage", "SourceNamespaces", "SourceNamespace"):
        if (wanted is None or name.lower() in wanted) and name in inst:
            merged[name] = inst[name]
    rec = _checked(env, ctx, merged, dict(cur))
    st.update(KIND, key, lambda r: r.update(rec))
    env.indication_service.rebuild()


def delete(env: ProviderEnv, ctx, p: CIMInstanceName) -> None:
    st = store(env)
    key = parse(p)
    if any(tuple(s["Filter"]) == key for s in st.records("subscriptions")):
        raise CIMError(
            pywbem.CIM_ERR_FAILED,
            f"indication filter {key[1]!r} is used by a subscription; delete that first",
        )
    try:
        st.remove(KIND, key)
    except NotFound:
        raise not_found(f"no indication filter {describe(p)}") from None
    env.indication_service.rebuild()
