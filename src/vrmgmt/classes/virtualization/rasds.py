"""The four resource allocation settings classes of a VM, as one list (DSP1041 §7.2):
which class module a RASD path belongs to, and all RASD paths of a VM."""

from __future__ import annotations

from types import ModuleType

from pywbem import CIMInstanceName

from vrmgmt.classes.virtualization import (
    ethernet_port_allocation_setting_data,
    memory_allocation_setting_data,
    processor_allocation_setting_data,
    storage_allocation_setting_data,
)
from vrmgmt.model import VirtualMachine

MODULES: tuple[ModuleType, ...] = (
    processor_allocation_setting_data,
    memory_allocation_setting_data,
    storage_allocation_setting_data,
    ethernet_port_allocation_setting_data,
)
_BY_CLASS = {m.CLASS.lower(): m for m in MODULES}


def module_of(p: CIMInstanceName) -> ModuleType | None:
    return _BY_CLASS.get(p.classname.lower())


def paths_of(vm: VirtualMachine, namespace: str) -> list[CIMInstanceName]:
    """Every RASD path of the VM (its devices must have been read)."""
    return [inst.path for m in MODULES for inst in m.build(vm, namespace)]
