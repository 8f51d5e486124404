"""Small helpers for the per-class cases in tests/classes/ (paths of the cmpi_testkit
node, CIM status codes of a call)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import cmpi_testkit as kit
import pywbem

INTEROP = "root/interop"


def vm_path(name_or_uuid: str) -> pywbem.CIMInstanceName:
    uuid = kit.VMS[name_or_uuid][0] if name_or_uuid in kit.VMS else name_or_uuid
    return pywbem.CIMInstanceName(
        "VRM_ComputerSystem",
        {"CreationClassName": "VRM_ComputerSystem", "Name": uuid},
        namespace=kit.NS,
    )


def host_path(backend: str = kit.BACKEND) -> pywbem.CIMInstanceName:
    return pywbem.CIMInstanceName(
        "VRM_HostSystem", {"CreationClassName": "VRM_HostSystem", "Name": backend}, namespace=kit.NS
    )


def error_code(fn: Callable[[], Any]) -> int:
    """The CIM status code fn fails with (0: it did not fail)."""
    try:
        fn()
    except pywbem.CIMError as exc:
        return exc.status_code
    return 0


def names(paths) -> list[str]:
    return sorted(str(p.keybindings["Name"]) for p in paths)


ALL_UUIDS = sorted(u for u, _ in kit.VMS.values())


def device_id(name: str, suffix: str, backend: str = kit.BACKEND) -> str:
    """DeviceID (= the RASD InstanceID, + "/<n>" for a vCPU) of a test VM's device."""
    return f"{backend}:{kit.VMS[name][0]}/{suffix}"


def device_path(cls: str, name: str, suffix: str, **keys) -> pywbem.CIMInstanceName:
    """The path of a device of a test VM; ``keys`` override the four keys."""
    kb = {
        "SystemCreationClassName": "VRM_ComputerSystem",
        "SystemName": kit.VMS[name][0],
        "CreationClassName": cls,
        "DeviceID": device_id(name, suffix),
    }
    kb.update(keys)
    return pywbem.CIMInstanceName(cls, kb, namespace=kit.NS)
