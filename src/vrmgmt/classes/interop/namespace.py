"""CIM_Namespace: one per namespace of the server (DSP1033 §7.3; pywbem's WBEMServer
finds the interop namespace and the list of namespaces through it)."""

from __future__ import annotations

from collections.abc import Iterator

from pywbem import CIMInstance, CIMInstanceName, CIMProperty, Uint16

from vrmgmt.cim import paths as cim_paths
from vrmgmt.cim.provider import ProviderEnv
from vrmgmt.classes.interop import object_manager

CLASS = "CIM_Namespace"
#: ClassInfo 1 = Other (described in DescriptionOfClassInfo); ClassType 2 = CIM
NS_CLASSINFO_OTHER = 1
NS_CLASSTYPE_CIM = 2
SCHEMA_VERSION = "2.49.0"


def norm(ns: str | None) -> str:
    return (ns or "").strip("/").lower()


def names(env: ProviderEnv) -> list[str]:
    """The server's namespaces, each once."""
    out: list[str] = []
    for ns in env.namespaces or (env.namespace, env.interop_namespace):
        if norm(ns) not in {norm(n) for n in out}:
            out.append(ns)
    return out


def path(env: ProviderEnv, name: str) -> CIMInstanceName:
    om = object_manager.path(env).keybindings
    return CIMInstanceName(
        CLASS,
        keybindings={
            "SystemCreationClassName": om["SystemCreationClassName"],
            "SystemName": om["SystemName"],
            "ObjectManagerCreationClassName": om["CreationClassName"],
            "ObjectManagerName": om["Name"],
            "CreationClassName": CLASS,
            "Name": name,
        },
        namespace=env.interop_namespace,
    )


def instance(env: ProviderEnv, name: str) -> CIMInstance:
    p = path(env, name)
    role = "interop" if norm(name) == norm(env.interop_namespace) else "implementation"
    props = [CIMProperty(k, v) for k, v in p.keybindings.items()]
    props += [
        CIMProperty("ElementName", name),
        CIMProperty("Description", f"{object_manager.BRAND} {role} namespace"),
        CIMProperty("ClassInfo", Uint16(NS_CLASSINFO_OTHER)),
        CIMProperty("DescriptionOfClassInfo", f"DMTF CIM Schema {SCHEMA_VERSION}"),
        CIMProperty("ClassType", Uint16(NS_CLASSTYPE_CIM)),
        CIMProperty("ClassTypeVersion", SCHEMA_VERSION),
    ]
    return CIMInstance(CLASS, properties=props, path=p)


def paths(env: ProviderEnv, namespace: str) -> Iterator[CIMInstanceName]:
    for name in names(env):
        yield path(env, name)


def instances(env, namespace, paths=None, *, bulk=False) -> Iterator[CIMInstance]:
    wanted = None if paths is None else {cim_paths.identity(p) for p in paths}
    for name in names(env):
        if wanted is None or cim_paths.identity(path(env, name)) in wanted:
            yield instance(env, name)
