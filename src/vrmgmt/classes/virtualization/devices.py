"""What the four device classes of a VM share (DSP1057 §7.3 "virtual devices" and
DSP1044/1045/1047/1050 §7: each virtual resource of a VM is a CIM_LogicalDevice of the
VM, keyed by SystemCreationClassName + SystemName of the VM, CreationClassName and
DeviceID): their keys, their DeviceIDs, the properties every device shows, and reading
the VMs they belong to in bulk.

DeviceIDs follow the resource allocation settings (vrmgmt.classes.virtualization.
settings): the DeviceID of a memory, disk or network device *is* the InstanceID of its
RASD (``<backend id>:<VM UUID>/mem``, ``.../disk/<device>``, ``.../nic/<MAC>``); a VM
has one processor device per vCPU, ``<backend id>:<VM UUID>/proc/<n>`` (n = 0 ...
vCPUs - 1), all defined by the one processor RASD ``.../proc``. So a device and its RASD
map both ways without a lookup, and VRM_SettingsDefineState links them.

Devices exist for every VM a backend knows, running or only defined, as libvirt-cim
does (DSP1057 lets a defined VM keep its devices); EnabledState follows the VM's
(2 Enabled while it runs, 3 Disabled while off, 9 Quiesce paused, 6 Enabled but Offline
suspended). Nothing here names a CIM class: each class module owns its own.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator

from pywbem import CIMError, CIMInstance, CIMInstanceName, CIMProperty, Uint16

from vrmgmt.cim import fastinst
from vrmgmt.cim import paths as cim_paths
from vrmgmt.cim import valuemaps as vm_map
from vrmgmt.cim.errors import invalid_parameter, not_found
from vrmgmt.cim.provider import ProviderEnv
from vrmgmt.classes.system import computer_system as vm_cls
from vrmgmt.classes.virtualization import settings
from vrmgmt.classes.virtualization.settings import SettingId
from vrmgmt.model import VirtualMachine


def path(class_name: str, sid: SettingId, namespace: str | None) -> CIMInstanceName:
    """The path of the device ``sid`` names (the VM's keys + DeviceID)."""
    return fastinst.path(
        class_name,
        {
            "SystemCreationClassName": vm_cls.CLASS,
            "SystemName": sid.uuid,
            "CreationClassName": class_name,
            "DeviceID": sid.text(),
        },
        namespace,
    )


def parse_device_id(text: object, kind: str) -> SettingId:
    """The SettingId of a DeviceID of ``kind``; CIM_ERR_NOT_FOUND when it is none."""
    if not isinstance(text, str):
        raise invalid_parameter(f"DeviceID must be a string, got {text!r}")
    try:
        if kind != "proc":
            return settings.parse_id(text, (kind,))
        head, sep, index = text.rpartition("/")
        if sep and index.isdigit() and (index == "0" or not index.startswith("0")):
            sid = settings.parse_id(head, ("proc",))
            return SettingId(sid.backend_id, sid.uuid, "proc", index)
    except CIMError:
        pass  # parse_id names settings; say what was looked for
    what = {"proc": "virtual processor", "mem": "memory", "disk": "disk", "nic": "network port"}
    raise not_found(f"no {what.get(kind, 'device')} with DeviceID {text!r}")


def parse(p: CIMInstanceName, class_name: str, kind: str) -> SettingId:
    """The SettingId of a device path of class_name: its DeviceID, after checking the
    other keys agree (CIM_ERR_NOT_FOUND when they name another class or VM)."""
    if p.classname.lower() != class_name.lower():
        raise not_found(f"{p.classname} is not {class_name}")
    keys = cim_paths.keys_of(p)
    for key, want in (
        ("creationclassname", class_name),
        ("systemcreationclassname", vm_cls.CLASS),
    ):
        value = keys.get(key)
        if value is not None and str(value).lower() != want.lower():
            raise not_found(f"{class_name} {key} {value!r} is not {want}")
    if "deviceid" not in keys:
        raise invalid_parameter(f"a {class_name} path needs the key DeviceID")
    sid = parse_device_id(keys["deviceid"], kind)
    system = keys.get("systemname")
    if system is not None and str(system).lower() != sid.uuid:
        raise not_found(f"device {sid.text()!r} is not a device of system {system!r}")
    return sid


def common(class_name: str, vm: VirtualMachine, sid: SettingId, element_name: str) -> list:
    """The properties every device of a VM has: keys, name and the VM's state."""
    P = fastinst.prop
    op_status, health = vm_map.vm_operational_status(vm.state)
    return [
        P("SystemCreationClassName", vm_cls.CLASS, "string"),
        P("SystemName", vm.uuid, "string"),
        P("CreationClassName", class_name, "string"),
        P("DeviceID", sid.text(), "string"),
        P("ElementName", element_name, "string"),
        P("EnabledState", Uint16(vm_map.ENABLED_STATE[vm.state]), "uint16"),
        P("RequestedState", Uint16(vm_map.RS_NOT_APPLICABLE), "uint16"),  # no RSC
        P("OperationalStatus", [Uint16(s) for s in op_status], "uint16", True),
        P("HealthState", Uint16(health), "uint16"),
    ]


def instance(class_name: str, sid: SettingId, ns: str, props: list[CIMProperty]) -> CIMInstance:
    return fastinst.instance(class_name, props, path(class_name, sid, ns))


def _facts_and_state(vm: VirtualMachine) -> tuple:
    """What a device instance shows of its VM: the settings facts *and* its state
    (EnabledState follows it; the settings classes' facts leave state out)."""
    return (vm.state, settings.facts(vm))


_CACHES: dict = {}


def device_instances(
    env: ProviderEnv,
    namespace: str,
    paths: list[CIMInstanceName] | None,
    parse_fn: Callable[[CIMInstanceName], SettingId],
    build: Callable[[VirtualMachine, str], list[CIMInstance]],
    sids: Callable[[VirtualMachine], Iterable[SettingId]],
    devices: bool,
    bulk: bool = False,
) -> Iterator[CIMInstance]:
    """The instances of one device class: ``build(vm, ns)`` gives a VM's devices of it.
    Without paths: one listing per backend (settings.all_vms, as the RASDs read them;
    ``devices``: the listing must carry disks and NICs). With paths: one read per VM
    named; those that exist (a single unknown path: CIM_ERR_NOT_FOUND). ``bulk``: pull
    enumerations stream without the instance cache."""
    if paths is None:
        vms = settings.all_vms(env, devices=devices)
        if bulk:  # a pull enumeration streams: no caching
            for vm in vms:
                yield from build(vm, namespace)
            return
        cache = _CACHES.setdefault(build, settings.BuildCache())
        yield from cache.instances(vms, namespace, build, _facts_and_state)
        return
    ids = [parse_fn(p) for p in paths]
    wanted = set(ids)
    found: set[SettingId] = set()
    for vm in settings.vms_for(env, ids):
        if not wanted.intersection(sids(vm)):
            continue
        for inst in build(vm, namespace):
            sid = parse_fn(inst.path)
            if sid in wanted:
                found.add(sid)
                yield inst
    if len(ids) == 1 and ids[0] not in found:
        raise not_found(f"no device with DeviceID {ids[0].text()!r}")
