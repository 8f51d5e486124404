"""CIM_ObjectManager: exactly one, vrmgmt itself (DSP1033 Profile Registration §7.2;
pywbem's WBEMServer reads brand and version from it: brand = ElementName, version from
"... version X" in Description, and it needs SystemName for subscriptions)."""

from __future__ import annotations

import socket
from collections.abc import Iterator

from pywbem import CIMInstance, CIMInstanceName, CIMProperty, Uint16

from vrmgmt import __version__
from vrmgmt.cim import paths as cim_paths
from vrmgmt.cim.errors import describe, not_found
from vrmgmt.cim.provider import ProviderEnv

CLASS = "CIM_ObjectManager"
BRAND = "vrmgmt"
#: The system that hosts the object manager (there is no instance of it: the hosting
#: machine is not modelled; DSP1033 needs only the keys).
SYSTEM_CREATION_CLASS = "CIM_ComputerSystem"


def hostname(env: ProviderEnv) -> str:
    return env.hostname or socket.gethostname()


def path(env: ProviderEnv) -> CIMInstanceName:
    host = hostname(env)
    return CIMInstanceName(
        CLASS,
        keybindings={
            "SystemCreationClassName": SYSTEM_CREATION_CLASS,
            "SystemName": host,
            "CreationClassName": CLASS,
            "Name": f"{BRAND}:{host}",
        },
        namespace=env.interop_namespace,
    )


def exists(env: ProviderEnv, p: CIMInstanceName) -> bool:
    return cim_paths.same(p, path(env))


def instance(env: ProviderEnv) -> CIMInstance:
    p = path(env)
    props = [CIMProperty(k, v) for k, v in p.keybindings.items()]
    props += [
        CIMProperty("ElementName", BRAND),
        CIMProperty("Caption", f"{BRAND} CIM object manager"),
        # pywbem takes the version from "... version X" in Description
        CIMProperty("Description", f"{BRAND} version {__version__}"),
        CIMProperty("Started", True),
        CIMProperty("EnabledState", Uint16(2)),  # Enabled
        CIMProperty("RequestedState", Uint16(12)),  # Not Applicable
        CIMProperty("EnabledDefault", Uint16(2)),  # Enabled
        CIMProperty("OperationalStatus", [Uint16(2)], type="uint16", is_array=True),  # OK
        CIMProperty("HealthState", Uint16(5)),  # OK
        CIMProperty("GatherStatisticalData", False),
    ]
    return CIMInstance(CLASS, properties=props, path=p)


def paths(env: ProviderEnv, namespace: str) -> Iterator[CIMInstanceName]:
    yield path(env)


def instances(env, namespace, paths=None, *, bulk=False) -> Iterator[CIMInstance]:
    if paths is not None and not any(exists(env, p) for p in paths):
        if len(paths) == 1:
            raise not_found(f"no instance {describe(paths[0])}")
        return
    yield instance(env)
