"""Typed VM specs: the one contract for defining (VMSpec) and changing (VMChange) a VM,
on every backend.

Each spec is a frozen dataclass validated once, when it is built: a bad value raises
vrmgmt.errors.InvalidSpec whose message names the field ("VMSpec.vcpus: must be an
integer >= 1, got 0"). ``from_mapping`` converts a plain mapping (configuration, CIM
embedded instances, tests) and refuses unknown keys by name. Validation here covers what
is wrong on any backend; what one backend cannot do (vSphere: no bridge, no cdrom
disks; libvirt: no datastores) is its NotSupported, raised when it converts the spec.

The CIM side maps these to DSP1057 (Virtual System Profile) / DSP1041-DSP1047 resource
allocation settings; nothing here knows CIM or a hypervisor library.

Which backend reads which field:

- both: name, vcpus, memory_mib, uuid (libvirt: the domain UUID; vSphere: the
  instanceUuid, the VM's identity there), description (libvirt <description>, vSphere
  annotation), disks, nics.
- libvirt: max_memory_mib, os_type ("hvm"; "exe" for containers), arch, machine, init
  (container init), domain_type (overrides the backend's ``domain_type`` option),
  filesystems (containers), serial, on_poweroff / on_reboot / on_crash, autostart.
- vSphere: guest_id, datacenter, folder, resource_pool, datastore, scsi_controller
  (placement and hardware; see vrmgmt.backends.vsphere). max_memory_mib must equal
  memory_mib and os_type may only be "hvm" there.
"""

from __future__ import annotations

import dataclasses
import re
import uuid as uuidlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, TypeVar

from vrmgmt.errors import InvalidSpec

S = TypeVar("S")

#: DiskSpec.kind values
DISK_KINDS = ("disk", "cdrom")
#: DiskSpec.provisioning values (vSphere: thin, lazily zeroed thick, eagerly zeroed thick)
PROVISIONING = ("thin", "thick", "eagerzeroedthick")
#: VMSpec/VMChange.scsi_controller values (vSphere controller types)
SCSI_CONTROLLERS = ("paravirtual", "lsilogic", "lsilogic-sas", "buslogic")
#: VMSpec.on_poweroff / on_reboot / on_crash values (libvirt's lifecycle actions)
LIFECYCLE_ACTIONS = (
    "destroy",
    "restart",
    "preserve",
    "rename-restart",
    "coredump-destroy",
    "coredump-restart",
)
#: VMSpec.serial values: a character device type, or "none" for no serial/console at all
SERIAL_TYPES = ("pty", "null", "stdio", "vc", "none")

_WORD = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.+-]*$")
_MAC = re.compile(r"^[0-9a-f]{2}(:[0-9a-f]{2}){5}$")

#: keys of the old dict specs, with what to use instead
_RENAMED = {
    "memory_kib": "memory is given in MiB: use 'memory_mib'",
    "max_memory_kib": "memory is given in MiB: use 'max_memory_mib'",
    "add_disk": "use 'add_disks' (a list)",
    "add_nic": "use 'add_nics' (a list)",
    "remove_disk": "use 'remove_disks' (a list)",
    "remove_nic": "use 'remove_nics' (a list)",
}


# -- value checks (each raises InvalidSpec naming "Owner.field") ----------------------------
def _fail(owner: str, name: str, reason: str) -> InvalidSpec:
    return InvalidSpec(f"{owner}.{name}", reason)


def _int(owner: str, name: str, value: Any, minimum: int, optional: bool = False) -> None:
    if value is None and optional:
        return
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise _fail(owner, name, f"must be an integer >= {minimum}, got {value!r}")


def _bool(owner: str, name: str, value: Any) -> None:
    if not isinstance(value, bool):
        raise _fail(owner, name, f"must be true or false, got {value!r}")


def _text(owner: str, name: str, value: Any, optional: bool = True) -> None:
    """A non-empty string (or None when optional)."""
    if value is None and optional:
        return
    if not isinstance(value, str) or not value.strip():
        raise _fail(owner, name, f"must be a non-empty string, got {value!r}")


def _word(owner: str, name: str, value: Any) -> None:
    """An optional identifier-like string (bus, format, model, os type, …)."""
    if value is None:
        return
    if not isinstance(value, str) or not _WORD.match(value):
        raise _fail(
            owner, name, f"must be a name like 'virtio' (letters, digits, _.+-), got {value!r}"
        )


def _choice(owner: str, name: str, value: Any, choices: tuple[str, ...]) -> None:
    if value is not None and value not in choices:
        raise _fail(owner, name, f"must be one of {', '.join(choices)}, got {value!r}")


def _items(spec: Any, name: str, kind: type) -> None:
    """A sequence field: stored as a tuple whose items are all ``kind``."""
    owner = type(spec).__name__
    value = getattr(spec, name)
    if isinstance(value, str | bytes | Mapping) or not isinstance(value, list | tuple):
        raise _fail(owner, name, f"must be a list of {kind.__name__}, got {value!r}")
    for i, item in enumerate(value):
        if not isinstance(item, kind):
            raise _fail(owner, f"{name}[{i}]", f"must be a {kind.__name__}, got {item!r}")
    object.__setattr__(spec, name, tuple(value))


def _strings(spec: Any, name: str) -> None:
    owner = type(spec).__name__
    value = getattr(spec, name)
    if isinstance(value, str | bytes | Mapping) or not isinstance(value, list | tuple):
        raise _fail(owner, name, f"must be a list of strings, got {value!r}")
    for i, item in enumerate(value):
        _text(owner, f"{name}[{i}]", item, optional=False)
    object.__setattr__(spec, name, tuple(value))


def _mac(owner: str, name: str, value: Any) -> str | None:
    """The MAC address in canonical form (lower case, ':'), or None."""
    if value is None:
        return None
    mac = value.strip().lower().replace("-", ":") if isinstance(value, str) else None
    if mac is None or not _MAC.match(mac):
        raise _fail(
            owner, name, f"must be a MAC address of six hex octets (52:54:00:..), got {value!r}"
        )
    return mac


def _nested(prefix: str, exc: InvalidSpec) -> InvalidSpec:
    """Re-root an item's error: "DiskSpec.bus" inside disks[1] -> "VMSpec.disks[1].bus"."""
    _, _, rest = exc.field.partition(".")
    return InvalidSpec(f"{prefix}.{rest}" if rest else prefix, exc.reason)


class _FromMapping:
    """``from_mapping`` for the spec dataclasses: unknown keys refused by name, missing
    required ones named, nested specs converted (and their errors re-rooted)."""

    __slots__ = ()

    #: field name -> spec class of the items of that (list) field
    _NESTED: ClassVar[dict[str, type]] = {}

    @classmethod
    def from_mapping(cls: type[S], data: Any) -> S:
        owner = cls.__name__
        if not isinstance(data, Mapping):
            raise InvalidSpec(owner, f"must be a mapping of field names, got {data!r}")
        fields = {f.name: f for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
        unknown = sorted(str(k) for k in data if k not in fields)
        if unknown:
            hint = _RENAMED.get(unknown[0])
            reason = "unknown key" + (f" ({hint})" if hint else "")
            if len(unknown) > 1:
                reason += f"; also unknown: {', '.join(repr(k) for k in unknown[1:])}"
            raise InvalidSpec(f"{owner}.{unknown[0]}", f"{reason}; known keys: {', '.join(fields)}")
        for name, f in fields.items():
            required = f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
            if required and name not in data:
                raise InvalidSpec(f"{owner}.{name}", "is required")
        values = dict(data)
        for name, kind in cls._NESTED.items():  # type: ignore[attr-defined]
            if name not in values:
                continue
            items = values[name]
            if isinstance(items, str | bytes | Mapping) or not isinstance(items, list | tuple):
                raise InvalidSpec(f"{owner}.{name}", f"must be a list, got {items!r}")
            converted = []
            for i, item in enumerate(items):
                if isinstance(item, kind):
                    converted.append(item)
                    continue
                try:
                    converted.append(kind.from_mapping(item))
                except InvalidSpec as exc:
                    raise _nested(f"{owner}.{name}[{i}]", exc) from None
            values[name] = tuple(converted)
        return cls(**values)


# -- devices -----------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class DiskSpec(_FromMapping):
    """A disk or CD/DVD drive to add.

    ``source``: libvirt an image file or block device (``/dev/…``); vSphere a datastore
    path, an existing VMDK ("[ds] dir/x.vmdk") or, with ``capacity_bytes``, where to
    create the new disk ("[ds]"; default the VM's directory). ``capacity_bytes``: vSphere
    creates a new disk of that size (libvirt needs an existing ``source`` and ignores
    it). ``device``: libvirt target name ("vda"; picked from the bus when None; vSphere
    labels disks itself). ``format``: libvirt driver type ("raw" default, "qcow2").
    ``provisioning``: vSphere "thin" (default), "thick", "eagerzeroedthick".
    """

    kind: str = "disk"
    source: str | None = None
    capacity_bytes: int | None = None
    bus: str | None = None
    device: str | None = None
    format: str | None = None
    readonly: bool = False
    provisioning: str | None = None

    def __post_init__(self) -> None:
        o = "DiskSpec"
        _choice(o, "kind", self.kind, DISK_KINDS)
        _text(o, "source", self.source)
        _int(o, "capacity_bytes", self.capacity_bytes, 1, optional=True)
        _word(o, "bus", self.bus)
        _word(o, "device", self.device)
        _word(o, "format", self.format)
        _bool(o, "readonly", self.readonly)
        _choice(o, "provisioning", self.provisioning, PROVISIONING)
        if self.kind == "disk" and self.source is None and self.capacity_bytes is None:
            raise _fail(
                o,
                "source",
                "a disk needs a source (image file, block device or datastore path) "
                "or a capacity_bytes for a new one",
            )


@dataclass(frozen=True, slots=True)
class NicSpec(_FromMapping):
    """A network interface to add: joined to ``network`` (libvirt network, vSphere port
    group or opaque network, by name) or, libvirt only, to a host ``bridge``; neither
    means user-mode networking (libvirt). ``mac`` is stored in canonical form
    (lower case, ':'); None lets the hypervisor generate one. ``model``: libvirt
    "virtio", "e1000", …; vSphere "vmxnet3" (default), "e1000e", "e1000", …"""

    network: str | None = None
    bridge: str | None = None
    mac: str | None = None
    model: str | None = None

    def __post_init__(self) -> None:
        o = "NicSpec"
        _text(o, "network", self.network)
        _text(o, "bridge", self.bridge)
        if self.network is not None and self.bridge is not None:
            raise _fail(o, "bridge", "give a network or a bridge, not both")
        object.__setattr__(self, "mac", _mac(o, "mac", self.mac))
        _word(o, "model", self.model)


@dataclass(frozen=True, slots=True)
class FilesystemSpec(_FromMapping):
    """A host directory mounted into a container (libvirt <filesystem type='mount'>)."""

    source: str
    target: str = "/"
    readonly: bool = False

    def __post_init__(self) -> None:
        o = "FilesystemSpec"
        _text(o, "source", self.source, optional=False)
        _text(o, "target", self.target, optional=False)
        _bool(o, "readonly", self.readonly)


#: CpuAllocation.unit values: percent of one host processor for each virtual processor
#: (libvirt <cputune> quota/period), or MHz for the whole VM (vSphere cpuAllocation)
CPU_UNITS = ("percent", "MHz")


@dataclass(frozen=True, slots=True)
class CpuAllocation(_FromMapping):
    """A VM's processor reservation, limit and share weight, in the backend's ``unit``
    (CPU_UNITS). None: not set (no reservation, no limit, the default weight). Read into
    VirtualMachine.cpu; given whole in VMSpec.cpu / VMChange.cpu (a change replaces all
    three). What a backend has: libvirt limit (quota per period) and weight (shares),
    no reservation; vSphere all three."""

    unit: str
    reservation: int | None = None
    limit: int | None = None
    weight: int | None = None

    def __post_init__(self) -> None:
        o = "CpuAllocation"
        _choice(o, "unit", self.unit, CPU_UNITS)
        _int(o, "reservation", self.reservation, 0, optional=True)
        _int(o, "limit", self.limit, 1, optional=True)
        _int(o, "weight", self.weight, 1, optional=True)
        if self.unit == "percent" and self.limit is not None and self.limit > 100:
            raise _fail(
                o, "limit", f"a virtual processor can use at most 100 percent, got {self.limit}"
            )
        if (
            self.reservation is not None
            and self.limit is not None
            and self.reservation > self.limit
        ):
            raise _fail(
                o,
                "reservation",
                f"must not exceed the limit ({self.limit}), got {self.reservation}",
            )


def _cpu(owner: str, value: Any) -> None:
    if value is not None and not isinstance(value, CpuAllocation):
        raise _fail(owner, "cpu", f"must be a CpuAllocation, got {value!r}")


# -- the VM --------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class VMSpec(_FromMapping):
    """Everything define_vm needs to create a VM (see the module docstring for which
    backend reads which field). ``uuid`` is stored in canonical lower-case form."""

    _NESTED: ClassVar[dict[str, type]] = {
        "disks": DiskSpec,
        "nics": NicSpec,
        "filesystems": FilesystemSpec,
    }

    name: str
    memory_mib: int
    vcpus: int = 1
    max_memory_mib: int | None = None
    uuid: str | None = None
    description: str | None = None
    autostart: bool = False
    disks: tuple[DiskSpec, ...] = ()
    nics: tuple[NicSpec, ...] = ()
    cpu: CpuAllocation | None = None
    # libvirt
    os_type: str | None = None
    arch: str | None = None
    machine: str | None = None
    init: str | None = None
    domain_type: str | None = None
    filesystems: tuple[FilesystemSpec, ...] = ()
    serial: str | None = None  # None: the backend's default ("pty" console for containers)
    on_poweroff: str | None = None
    on_reboot: str | None = None
    on_crash: str | None = None
    # vSphere
    guest_id: str | None = None
    datacenter: str | None = None
    folder: str | None = None
    resource_pool: str | None = None
    datastore: str | None = None
    scsi_controller: str | None = None

    def __post_init__(self) -> None:
        o = "VMSpec"
        _text(o, "name", self.name, optional=False)
        _int(o, "memory_mib", self.memory_mib, 1)
        _int(o, "vcpus", self.vcpus, 1)
        _int(o, "max_memory_mib", self.max_memory_mib, 1, optional=True)
        if self.max_memory_mib is not None and self.max_memory_mib < self.memory_mib:
            raise _fail(
                o,
                "max_memory_mib",
                f"must be at least memory_mib ({self.memory_mib}), got {self.max_memory_mib}",
            )
        if self.uuid is not None:
            try:
                canonical = str(uuidlib.UUID(self.uuid.strip()))
            except (ValueError, AttributeError, TypeError):
                raise _fail(o, "uuid", f"must be a UUID, got {self.uuid!r}") from None
            object.__setattr__(self, "uuid", canonical)
        if self.description is not None and not isinstance(self.description, str):
            raise _fail(o, "description", f"must be a string, got {self.description!r}")
        _bool(o, "autostart", self.autostart)
        _cpu(o, self.cpu)
        _items(self, "disks", DiskSpec)
        _items(self, "nics", NicSpec)
        _items(self, "filesystems", FilesystemSpec)
        for name in ("os_type", "arch", "machine", "domain_type"):
            _word(o, name, getattr(self, name))
        _text(o, "init", self.init)
        _choice(o, "serial", self.serial, SERIAL_TYPES)
        for name in ("on_poweroff", "on_reboot", "on_crash"):
            _choice(o, name, getattr(self, name), LIFECYCLE_ACTIONS)
        for name in ("guest_id", "datacenter", "folder", "resource_pool", "datastore"):
            _text(o, name, getattr(self, name))
        _choice(o, "scsi_controller", self.scsi_controller, SCSI_CONTROLLERS)

    @property
    def memory_kib(self) -> int:
        return self.memory_mib * 1024

    @property
    def max_memory_kib(self) -> int:
        """The maximum memory (KiB): max_memory_mib, or memory_mib when not given."""
        return (self.max_memory_mib or self.memory_mib) * 1024


@dataclass(frozen=True, slots=True)
class VMChange(_FromMapping):
    """What modify_vm changes; a field left None (or empty) stays as it is.

    ``remove_disks`` name disks by device (libvirt target "vdb", vSphere label "Hard
    disk 2") or source (file, datastore path, or on vSphere its file name);
    ``remove_nics`` name NICs by MAC address (any case) or, on vSphere, label. Removals
    happen before additions. ``destroy_removed_disks`` (vSphere) also deletes the
    removed disks' files; by default they stay, as libvirt always leaves them.
    ``scsi_controller`` (vSphere): the controller type added when an added disk finds
    no free SCSI slot. ``name`` renames the VM (libvirt: only while it is off),
    ``description`` replaces its notes ("" clears them; libvirt <description>, vSphere
    annotation), ``autostart`` (libvirt only) marks it to start with the host, ``cpu``
    replaces the processor reservation, limit and weight (CpuAllocation).
    """

    _NESTED: ClassVar[dict[str, type]] = {"add_disks": DiskSpec, "add_nics": NicSpec}

    vcpus: int | None = None
    memory_mib: int | None = None
    add_disks: tuple[DiskSpec, ...] = ()
    remove_disks: tuple[str, ...] = ()
    add_nics: tuple[NicSpec, ...] = ()
    remove_nics: tuple[str, ...] = ()
    destroy_removed_disks: bool = False
    scsi_controller: str | None = None
    name: str | None = None
    description: str | None = None
    autostart: bool | None = None
    cpu: CpuAllocation | None = None

    def __post_init__(self) -> None:
        o = "VMChange"
        _cpu(o, self.cpu)
        _text(o, "name", self.name)
        if self.description is not None and not isinstance(self.description, str):
            raise _fail(o, "description", f"must be a string, got {self.description!r}")
        if self.autostart is not None:
            _bool(o, "autostart", self.autostart)
        _int(o, "vcpus", self.vcpus, 1, optional=True)
        _int(o, "memory_mib", self.memory_mib, 1, optional=True)
        _items(self, "add_disks", DiskSpec)
        _strings(self, "remove_disks")
        _items(self, "add_nics", NicSpec)
        _strings(self, "remove_nics")
        _bool(o, "destroy_removed_disks", self.destroy_removed_disks)
        _choice(o, "scsi_controller", self.scsi_controller, SCSI_CONTROLLERS)

    @property
    def empty(self) -> bool:
        """Nothing to change."""
        return (
            self.vcpus is None
            and self.memory_mib is None
            and self.name is None
            and self.description is None
            and self.autostart is None
            and self.cpu is None
            and not (self.add_disks or self.remove_disks or self.add_nics or self.remove_nics)
        )
