"""What the VM settings classes share (DSP1057 §7.2-7.3, DSP1041 §7): the InstanceIDs
of a VM's VirtualSystemSettingData and of its resource allocation settings, and reading
the VMs they describe in bulk.

InstanceIDs are stable and unique across backends: ``<backend id>:<VM UUID>`` for the
system settings, ``<backend id>:<VM UUID>/<kind>[/<device>]`` for a resource setting
(kind ``proc``, ``mem``, ``disk`` + the disk's device, ``nic`` + the NIC's MAC).
Nothing here names a CIM class: each class module owns its own.
"""

from __future__ import annotations

import threading
import uuid as uuidlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from pywbem import CIMInstanceName

from vrmgmt.cim import paths as cim_paths
from vrmgmt.cim.errors import invalid_parameter, not_found
from vrmgmt.cim.provider import ProviderContext, ProviderEnv
from vrmgmt.errors import VrmError
from vrmgmt.model import VirtualMachine

#: resource kinds of the RASD InstanceIDs
KINDS = ("proc", "mem", "disk", "nic")


def facts(vm: VirtualMachine) -> tuple:
    """Everything of a VM the settings classes show: equal facts give equal instances."""
    return (
        vm.backend_id,
        vm.uuid,
        vm.name,
        vm.vcpus,
        vm.memory_kib,
        vm.max_memory_kib,
        vm.virtual_system_type,
        vm.autostart,
        vm.description,
        vm.on_crash,
        vm.created,
        vm.cpu,
        tuple((d.device, d.source, d.capacity_bytes, d.bus, d.kind) for d in vm.disks),
        tuple((n.mac, n.network, n.model, n.device) for n in vm.nics),
    )


class BuildCache:
    """The instances one class built for each VM in its last complete enumeration, with
    the VM's facts: an unchanged VM (equal facts) costs a dict lookup by its identity
    (namespace, backend, UUID) and a tuple comparison instead of a rebuild (and the
    server reuses the encoding), as VRM_ComputerSystem's instance cache does. (Keyed by
    identity, not by the facts themselves: hashing the nested facts tuple for each
    lookup cost more than the rest of an unchanged VM's way.)"""

    LIMIT = 12_000

    def __init__(self) -> None:
        self._cache: dict[tuple, tuple[tuple, list]] = {}
        self._lock = threading.Lock()

    def instances(
        self, vms: Iterable[VirtualMachine], namespace: str, build, facts_of=facts
    ) -> Iterator:
        old, new = self._cache, {}
        for vm in vms:
            key = (namespace, vm.backend_id, vm.uuid)
            f = facts_of(vm)
            hit = old.get(key)
            insts = hit[1] if hit is not None and hit[0] == f else build(vm, namespace)
            if len(new) < self.LIMIT:
                new[key] = (f, insts)
            yield from insts
        with self._lock:
            self._cache = new


_CACHES: dict = {}


@dataclass(frozen=True, slots=True)
class SettingId:
    """A parsed settings InstanceID: the VM (backend + UUID), and for a resource
    setting its kind and device key ("" for proc/mem)."""

    backend_id: str
    uuid: str
    kind: str = ""
    key: str = ""

    @property
    def vm(self) -> tuple[str, str]:
        return (self.backend_id, self.uuid)

    def text(self) -> str:
        base = f"{self.backend_id}:{self.uuid}"
        if not self.kind:
            return base
        return f"{base}/{self.kind}/{self.key}" if self.key else f"{base}/{self.kind}"


def vm_id(vm: VirtualMachine) -> SettingId:
    return SettingId(vm.backend_id, vm.uuid)


def parse_id(text: str, kinds: Iterable[str] = ("",)) -> SettingId:
    """An InstanceID of one of ``kinds`` ("" = system settings); CIM_ERR_NOT_FOUND when
    it is not one (no instance can have it)."""
    if not isinstance(text, str):
        raise invalid_parameter(f"InstanceID must be a string, got {text!r}")
    head, _, rest = text.partition("/")
    backend_id, sep, uuid = head.rpartition(":")
    kind, _, key = rest.partition("/")
    try:
        uuid = str(uuidlib.UUID(uuid))
    except ValueError:
        sep = ""
    if not sep or not backend_id or kind not in tuple(kinds):
        raise not_found(f"no settings with InstanceID {text!r}")
    if kind in ("disk", "nic") and not key:
        raise not_found(f"no settings with InstanceID {text!r} (no device)")
    if kind in ("proc", "mem", "") and key:
        raise not_found(f"no settings with InstanceID {text!r}")
    return SettingId(backend_id, uuid, kind, key)


def parse_path(p: CIMInstanceName, class_name: str, kinds: Iterable[str]) -> SettingId:
    """The SettingId of a path of class_name (its InstanceID key)."""
    if p.classname.lower() != class_name.lower():
        raise not_found(f"{p.classname} is not {class_name}")
    value = cim_paths.keys_of(p).get("instanceid")
    if value is None:
        raise invalid_parameter(f"a {class_name} path needs the key InstanceID")
    return parse_id(str(value), kinds)


def detailed_vm(env: ProviderEnv, backend_id: str, uuid: str) -> VirtualMachine | None:
    """The VM with its devices, or None when the backend has no such VM (or is down)."""
    try:
        return env.inventory.get_vm(uuid, backend_id)
    except VrmError:
        return None


def vms_for(env: ProviderEnv, ids: Iterable[SettingId]) -> Iterator[VirtualMachine]:
    """The VMs (with devices) the ids name, each read once; unknown ones left out."""
    for backend_id, uuid in dict.fromkeys(i.vm for i in ids):
        if not env.inventory.has_backend(backend_id):
            continue
        vm = detailed_vm(env, backend_id, uuid)
        if vm is not None and vm.backend_id == backend_id:
            yield vm


def all_vms(env: ProviderEnv, devices: bool) -> Iterator[VirtualMachine]:
    """Every VM of every reachable backend; with ``devices``, each with its disks and
    NICs (a listing may leave them out, e.g. libvirt's)."""
    inv = env.inventory
    for backend_id in inv.backend_ids():
        try:
            vms = inv.vms_with_devices_of(backend_id) if devices else inv.vms_of(backend_id)
        except VrmError:
            continue  # unreachable and never listed: nothing is known of its VMs
        # (an unreachable backend listed before gives its last known VMs, as for
        # VRM_ComputerSystem; settings have no status to mark them stale with)
        yield from vms


def single_missing(ids: list[SettingId], found: set[SettingId]) -> None:
    """For a single requested path that matched nothing: CIM_ERR_NOT_FOUND naming it."""
    if len(ids) == 1 and ids[0] not in found:
        raise not_found(f"no settings with InstanceID {ids[0].text()!r}")


def _shared_listing(env: ProviderEnv, ctx: ProviderContext) -> tuple[list[VirtualMachine], Any]:
    """The VMs with devices, read once per operation (ctx.memo) for every settings class
    it enumerates (an EnumerateInstances of CIM_ResourceAllocationSettingData reaches
    four), and their facts, made once per VM."""
    shared = ctx.memo.get(_MEMO)
    if shared is None:
        vms = list(all_vms(env, devices=True))
        known: dict[int, tuple] = {}

        def facts_of(vm: VirtualMachine) -> tuple:
            f = known.get(id(vm))
            if f is None:
                f = known[id(vm)] = facts(vm)
            return f

        shared = ctx.memo[_MEMO] = (vms, facts_of)
    return shared


_MEMO = "vrmgmt.settings.vms"


def rasd_instances(
    env: ProviderEnv,
    namespace: str,
    paths: list[CIMInstanceName] | None,
    parse,
    build,
    devices: bool,
    ctx: ProviderContext | None = None,
) -> Iterator:
    """The instances of one resource allocation settings class: ``build(vm, ns)`` gives
    a VM's instances of it; ``parse`` reads a path's SettingId. With paths: those that
    exist (a single unknown path: CIM_ERR_NOT_FOUND). An enumeration with the
    operation's ``ctx`` (not a streamed pull) shares one listing with devices with the
    other settings classes of that operation. Paths of a pool's template settings
    (vrmgmt.classes.pools.templates) are answered by it."""
    if paths is None:
        cache = _CACHES.setdefault(build, BuildCache())
        if ctx is not None and not ctx.bulk:
            vms, facts_of = _shared_listing(env, ctx)
            yield from cache.instances(vms, namespace, build, facts_of)
            return
        yield from cache.instances(all_vms(env, devices=devices), namespace, build)
        return
    from vrmgmt.classes.pools import templates  # the pools' template settings

    tpl = [p for p in paths if templates.is_template(p)]
    if tpl:
        yield from templates.instances(env, namespace, tpl)
        paths = [p for p in paths if not templates.is_template(p)]
        if not paths:
            return
    ids = [parse(p) for p in paths]
    wanted = set(ids)
    found: set[SettingId] = set()
    for vm in vms_for(env, ids):
        for inst in build(vm, namespace):
            sid = parse(inst.path)
            if sid in wanted:
                found.add(sid)
                yield inst
    single_missing(ids, found)
