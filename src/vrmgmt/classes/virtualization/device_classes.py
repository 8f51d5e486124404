"""The four device classes of a VM, as one list (DSP1057 §7.3; DSP1044/1045/1047/1050):
which class module a device path belongs to, each device class's RASD class module,
and all device paths of a VM."""

from __future__ import annotations

from types import ModuleType

from pywbem import CIMInstanceName

from vrmgmt.classes.virtualization import logical_disk, memory, network_port, processor
from vrmgmt.model import VirtualMachine

MODULES: tuple[ModuleType, ...] = (processor, memory, logical_disk, network_port)
_BY_CLASS = {m.CLASS.lower(): m for m in MODULES}
_BY_RASD = {m.RASD.CLASS.lower(): m for m in MODULES}


def module_of(p: CIMInstanceName) -> ModuleType | None:
    """The device class module of a path (None: not a vrmgmt device)."""
    return _BY_CLASS.get(p.classname.lower())


def module_for_rasd(p: CIMInstanceName) -> ModuleType | None:
    """The device class module whose devices a RASD path's class defines."""
    return _BY_RASD.get(p.classname.lower())


def paths_of(vm: VirtualMachine, namespace: str) -> list[CIMInstanceName]:
    """Every device path of the VM (its devices must have been read)."""
    return [m.path(sid, namespace) for m in MODULES for sid in m.sids(vm)]


def rasd_path(module: ModuleType, sid, namespace: str) -> CIMInstanceName:
    """The path of the RASD that defines device ``sid`` of ``module`` (built by the
    RASD's own class module)."""
    rid = module.rasd_of(sid)
    keys = (rid.key,) if rid.key else ()
    return module.RASD.path(rid.backend_id, rid.uuid, *keys, namespace)
