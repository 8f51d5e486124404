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
