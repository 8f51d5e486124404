"""Reading the embedded instances of the virtual system management service's methods
(DSP1042 §8 / DSP1057 §8: SystemSettings, ResourceSettings[]) into typed VM specs
(vrmgmt.model.specs), once, with errors that name the parameter, the RASD and the
property (CIM_ERR_INVALID_PARAMETER).

An embedded instance arrives as a pywbem CIMInstance (pywbem, the CMPI adapter), as
CIM-XML <INSTANCE> text, or as a MOF instance declaration (vrmgmt.cim.mof_instance:
``instance of CIM_ResourceAllocationSettingData { ResourceType = 3; VirtualQuantity = 2; };``);
sblim wbemcli sends whatever text it is given verbatim inside VALUE, unmarked.
The system settings must be a CIM_VirtualSystemSettingData, each resource setting a
CIM_ResourceAllocationSettingData (a vrmgmt subclass or the DMTF class itself; the kind
follows ResourceType, or the vrmgmt class when ResourceType is not given).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import pywbem
from pywbem import CIMError, CIMInstance

from vrmgmt.cim import mof_instance
from vrmgmt.cim.provider import ProviderContext
from vrmgmt.classes.virtualization import (
    ethernet_port_allocation_setting_data as nic_cls,
)
from vrmgmt.classes.virtualization import (
    memory_allocation_setting_data as mem_cls,
)
from vrmgmt.classes.virtualization import (
    processor_allocation_setting_data as proc_cls,
)
from vrmgmt.classes.virtualization import (
    storage_allocation_setting_data as disk_cls,
)
from vrmgmt.classes.virtualization import virtual_system_setting_data as vssd_cls
from vrmgmt.errors import InvalidSpec
from vrmgmt.model.specs import CpuAllocation, DiskSpec, NicSpec
from vrmgmt.server.cimxml_request import parse_instance_xml

VSSD_BASE = "CIM_VirtualSystemSettingData"
RASD_BASE = "CIM_ResourceAllocationSettingData"

#: what a resource type means here
KIND_OF_TYPE = {
    proc_cls.RESOURCE_TYPE: "proc",
    mem_cls.RESOURCE_TYPE: "mem",
    disk_cls.RT_DISK: "disk",
    disk_cls.RT_DVD: "cdrom",
    nic_cls.RT_ETHERNET_ADAPTER: "nic",
    nic_cls.RT_ETHERNET_CONNECTION: "nic",
}
_KIND_OF_CLASS = {
    proc_cls.CLASS.lower(): "proc",
    mem_cls.CLASS.lower(): "mem",
    disk_cls.CLASS.lower(): "disk",
    nic_cls.CLASS.lower(): "nic",
}
#: properties every setting may carry (echoed back from GetInstance): read or ignored
_COMMON = {
    "instanceid",
    "caption",
    "description",
    "elementname",
    "resourcetype",
    "otherresourcetype",
    "poolid",
    "consumervisibility",
    "automaticallocation",
    "automaticdeallocation",
    "parent",
    "mappingbehavior",
    "virtualquantityunits",
    "allocationunits",
    "changeabletype",
    "configurationname",
    "generation",
}
#: the properties each kind reads (anything else with a value is refused by name)
_READ = {
    "proc": {"virtualquantity", "reservation", "limit", "weight"},
    "mem": {"virtualquantity", "limit"},
    "disk": {
        "hostresource",
        "capacity",
        "virtualquantity",
        "resourcesubtype",
        "addressonparent",
        "virtualresourceblocksize",
    },
    "nic": {"address", "connection", "resourcesubtype"},
}
_READ["cdrom"] = _READ["disk"]
_VSSD_READ = {
    "instanceid",
    "caption",
    "description",
    "elementname",
    "virtualsystemidentifier",
    "virtualsystemtype",
    "notes",
    "automaticstartupaction",
    "automaticrecoveryaction",
    "creationtime",
    "changeabletype",
    "configurationname",
}
_UNITS = re.compile(r"^\s*byte\s*(?:\*\s*2\s*\^\s*(\d+))?\s*$", re.IGNORECASE)


def bad(where: str, reason: str) -> CIMError:
    return CIMError(pywbem.CIM_ERR_INVALID_PARAMETER, f"{where}: {reason}")


def to_instance(value: Any, where: str, ctx: ProviderContext | None = None) -> CIMInstance:
    """The embedded instance of a parameter value: a CIMInstance, CIM-XML <INSTANCE>
    text, or (with a context whose host has classes) a MOF instance declaration."""
    if isinstance(value, CIMInstance):
        return value
    if isinstance(value, str):
        if ctx is not None and mof_instance.looks_like_mof(value):
            try:
                return mof_instance.parse_instance(value, ctx.get_class, ctx.namespace)
            except mof_instance.MofInstanceError as exc:
                raise bad(where, f"not an embedded instance (MOF instance of ...): {exc}") from None
        try:
            return parse_instance_xml(value)
        except ValueError as exc:
            raise bad(
                where,
                f"not an embedded instance (CIM-XML INSTANCE or MOF instance of ...): {exc}",
            ) from None
    raise bad(where, f"must be an embedded instance, got {type(value).__name__}")


def _check_class(ctx: ProviderContext, inst: CIMInstance, base: str, where: str) -> None:
    if not ctx.is_subclass(inst.classname, base):
        raise bad(where, f"class {inst.classname} is not a {base}")


def _value(inst: CIMInstance, name: str) -> Any:
    p = inst.properties.get(name)
    return None if p is None else p.value


def _refuse_others(inst: CIMInstance, allowed: set[str], where: str, what: str) -> None:
    for name, prop in inst.properties.items():
        if name.lower() not in allowed and prop.value not in (None, [], ""):
            raise bad(f"{where}.{name}", f"unknown or not supported for {what}")


def _int(inst: CIMInstance, name: str, where: str, minimum: int) -> int | None:
    v = _value(inst, name)
    if v is None:
        return None
    if isinstance(v, bool) or not isinstance(v, int):
        try:
            v = int(str(v).strip())
        except ValueError:
            raise bad(f"{where}.{name}", f"must be an integer, got {v!r}") from None
    if v < minimum:
        raise bad(f"{where}.{name}", f"must be at least {minimum}, got {v}")
    return int(v)


def _first(inst: CIMInstance, name: str) -> str | None:
    v = _value(inst, name)
    if isinstance(v, list | tuple):
        items = [x for x in v if x not in (None, "")]
        if len(items) > 1:
            raise ValueError(f"{name}: one value expected, got {len(items)}")
        return str(items[0]) if items else None
    return str(v) if v not in (None, "") else None


# -- system settings -------------------------------------------------------------------
@dataclass
class SystemSettings:
    name: str | None = None
    uuid: str | None = None
    virtual_system_type: str | None = None
    description: str | None = None
    autostart: bool | None = None
    on_crash: str | None = None


def system_settings(ctx: ProviderContext, value: Any, where: str = "SystemSettings"):
    inst = to_instance(value, where, ctx)
    _check_class(ctx, inst, VSSD_BASE, where)
    where = f"{where} ({inst.classname})"
    _refuse_others(inst, _VSSD_READ, where, "virtual system settings")
    out = SystemSettings()
    name = _value(inst, "ElementName")
    if name is not None:
        if not isinstance(name, str) or not name.strip():
            raise bad(f"{where}.ElementName", f"must be a non-empty name, got {name!r}")
        out.name = name
    out.uuid = _value(inst, "VirtualSystemIdentifier") or None
    out.virtual_system_type = _value(inst, "VirtualSystemType") or None
    notes = _value(inst, "Notes")
    if notes is not None:
        out.description = "\n".join(str(n) for n in notes) if isinstance(notes, list) else notes
    startup = _int(inst, "AutomaticStartupAction", where, 0)
    if startup is not None:
        if startup not in (vssd_cls.STARTUP_NONE, 3, vssd_cls.STARTUP_ALWAYS):
            raise bad(f"{where}.AutomaticStartupAction", f"must be 2, 3 or 4, got {startup}")
        out.autostart = startup != vssd_cls.STARTUP_NONE
    recovery = _int(inst, "AutomaticRecoveryAction", where, 0)
    if recovery is not None:
        if recovery not in (vssd_cls.RECOVERY_NONE, vssd_cls.RECOVERY_RESTART):
            raise bad(
                f"{where}.AutomaticRecoveryAction",
                f"must be 2 (None) or 3 (Restart), got {recovery}",
            )
        out.on_crash = "destroy" if recovery == vssd_cls.RECOVERY_NONE else "restart"
    return inst, out


# -- resource settings -----------------------------------------------------------------
@dataclass
class Resource:
    """One resource setting, read: its kind and what it sets."""

    index: int
    inst: CIMInstance
    kind: str  # proc | mem | disk | cdrom | nic
    where: str
    vcpus: int | None = None
    memory_mib: int | None = None
    max_memory_mib: int | None = None
    disk: DiskSpec | None = None
    nic: NicSpec | None = None
    extra: dict = field(default_factory=dict)
    #: processor: the CpuAllocation fields whose property the instance carries (a NULL
    #: value: None, i.e. unset), and its AllocationUnits
    cpu_given: dict = field(default_factory=dict)
    cpu_units: str | None = None


def _kind(inst: CIMInstance, where: str) -> str:
    rt = _value(inst, "ResourceType")
    by_class = _KIND_OF_CLASS.get(inst.classname.lower())
    if rt is None:
        if by_class is None:
            raise bad(f"{where}.ResourceType", "is required for a " + inst.classname)
        return by_class
    try:
        kind = KIND_OF_TYPE[int(rt)]
    except (KeyError, ValueError, TypeError):
        raise bad(
            f"{where}.ResourceType",
            f"{rt!r} is not supported (3 processor, 4 memory, 16 DVD, 17 disk, 10/33 Ethernet)",
        ) from None
    if by_class is not None and by_class != kind.replace("cdrom", "disk"):
        raise bad(f"{where}.ResourceType", f"{rt} does not fit class {inst.classname}")
    return kind


def _mib(inst: CIMInstance, name: str, where: str) -> int | None:
    """A memory quantity in MiB, from AllocationUnits "byte*2^N" (default 2^20)."""
    v = _int(inst, name, where, 1)
    if v is None:
        return None
    units = _value(inst, "AllocationUnits") or mem_cls.UNITS
    m = _UNITS.match(str(units))
    if m is None:
        raise bad(f"{where}.AllocationUnits", f"must be like 'byte*2^20', got {units!r}")
    exp = int(m.group(1) or 0)
    total = v << exp
    if total % (1 << 20) or total < (1 << 20):
        raise bad(f"{where}.{name}", f"{v} {units} is not a whole number of MiB (at least 1)")
    return total >> 20


def resource(ctx: ProviderContext, value: Any, index: int, param: str) -> Resource:
    where = f"{param}[{index}]"
    inst = to_instance(value, where, ctx)
    _check_class(ctx, inst, RASD_BASE, where)
    where = f"{where} ({inst.classname})"
    kind = _kind(inst, where)
    _refuse_others(inst, _COMMON | _READ[kind], where, f"a {kind} setting")
    r = Resource(index, inst, kind, where)
    try:
        if kind == "proc":
            r.vcpus = _int(inst, "VirtualQuantity", where, 1)
            for prop, name in _CPU_PROPERTIES.items():
                if prop in inst.properties:
                    r.cpu_given[name] = _int(inst, prop, where, 0)
            units = _value(inst, "AllocationUnits")
            r.cpu_units = str(units) if units not in (None, "") else None
        elif kind == "mem":
            r.memory_mib = _mib(inst, "VirtualQuantity", where)
            r.max_memory_mib = _mib(inst, "Limit", where)
        elif kind in ("disk", "cdrom"):
            source = _first(inst, "HostResource")
            size = _int(inst, "Capacity", where, 1)
            if size is None:
                size = _int(inst, "VirtualQuantity", where, 1)
            fmt = "qcow2" if source and source.lower().endswith(".qcow2") else None
            r.disk = DiskSpec(
                kind=kind,
                source=source,
                capacity_bytes=size,
                bus=_value(inst, "ResourceSubType") or None,
                device=_value(inst, "AddressOnParent") or None,
                format=fmt,
                readonly=kind == "cdrom",
            )
        else:
            r.nic = NicSpec(
                network=_first(inst, "Connection"),
                mac=_value(inst, "Address") or None,
                model=_value(inst, "ResourceSubType") or None,
            )
    except InvalidSpec as exc:
        raise bad(f"{where}.{_PROPERTY_OF.get(exc.field, exc.field)}", exc.reason) from None
    except ValueError as exc:
        raise bad(where, str(exc)) from None
    return r


#: spec field -> the RASD property it came from (for error messages)
_PROPERTY_OF = {
    "DiskSpec.source": "HostResource",
    "DiskSpec.capacity_bytes": "Capacity",
    "DiskSpec.bus": "ResourceSubType",
    "DiskSpec.device": "AddressOnParent",
    "NicSpec.network": "Connection",
    "NicSpec.mac": "Address",
    "NicSpec.model": "ResourceSubType",
}


def resources(ctx: ProviderContext, values: Any, param: str = "ResourceSettings") -> list[Resource]:
    """All resource settings of a parameter; duplicate MACs among them refused."""
    if values is None:
        return []
    if not isinstance(values, list | tuple):
        values = [values]
    out = [resource(ctx, v, i, param) for i, v in enumerate(values)]
    seen: dict[str, int] = {}
    for r in out:
        if r.nic is not None and r.nic.mac:
            if r.nic.mac in seen:
                raise bad(
                    f"{r.where}.Address",
                    f"MAC {r.nic.mac} is already given by {param}[{seen[r.nic.mac]}]",
                )
            seen[r.nic.mac] = r.index
    return out


# -- processor reservation, limit, weight (DSP1044 §7, CIM_ResourceAllocationSettingData) --
#: RASD property -> CpuAllocation field
_CPU_PROPERTIES = {"Reservation": "reservation", "Limit": "limit", "Weight": "weight"}
#: CpuAllocation.unit -> the AllocationUnits (DSP0004 programmatic units) it is shown as
CPU_ALLOCATION_UNITS = {"percent": "percent", "MHz": "hertz*10^6"}


def _norm_units(text: str) -> str:
    return re.sub(r"\s+", "", text).lower()


def cpu_allocation(
    r: Resource,
    support: tuple[str, frozenset[str]] | None,
    host: str,
    current: CpuAllocation | None = None,
) -> CpuAllocation | None:
    """The CpuAllocation a processor RASD asks for: its Reservation / Limit / Weight
    where it carries them (NULL: unset), the VM's ``current`` ones where it does not.
    None when that is no change (or, for a new VM, sets nothing). ``support``: the
    backend's unit and fields (Inventory.cpu_allocation). Refused by property name:
    a field the host does not have, AllocationUnits other than the host's unit, values
    out of range."""
    fields = ("reservation", "limit", "weight")
    have = {f: getattr(current, f) if current is not None else None for f in fields}
    want = {f: r.cpu_given.get(f, have[f]) for f in fields}
    if want == have:
        return None
    prop_of = {v: k for k, v in _CPU_PROPERTIES.items()}
    if support is None:
        name = next(f for f in fields if want[f] is not None)
        raise bad(f"{r.where}.{prop_of[name]}", f"host {host} has no processor allocation settings")
    unit, known = support
    for f in fields:
        if r.cpu_given.get(f) is not None and f not in known:
            raise bad(f"{r.where}.{prop_of[f]}", f"host {host} has no processor {f}")
    cim_unit = CPU_ALLOCATION_UNITS[unit]
    setting = [f for f in ("reservation", "limit") if r.cpu_given.get(f) is not None]
    if setting and r.cpu_units is not None and _norm_units(r.cpu_units) != cim_unit:
        raise bad(
            f"{r.where}.AllocationUnits",
            f"host {host} takes Reservation and Limit in {cim_unit!r}, not {r.cpu_units!r}",
        )
    try:
        return CpuAllocation(unit=unit, **want)
    except InvalidSpec as exc:
        prop = prop_of.get(exc.field.split(".")[-1], exc.field)
        raise bad(f"{r.where}.{prop}", exc.reason) from None
