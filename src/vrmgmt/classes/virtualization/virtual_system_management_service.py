"""VRM_VirtualSystemManagementService: one per host, defines, reconfigures and destroys
its VMs (DSP1042 System Virtualization §7.3 / §8, DSP1057 Virtual System §8;
CIM_VirtualSystemManagementService).

Methods and their answers (DSP1042 §8.1-8.6 return codes: 0 completed, 1 not supported,
5 invalid state (e.g. renaming a running libvirt VM), 4096 job started; a job's result
carries the outcome):

- DefineSystem(SystemSettings, ResourceSettings[], ReferenceConfiguration) -> the new
  VM in ResultingSystem. SystemSettings is an embedded VSSD (ElementName = the name,
  VirtualSystemIdentifier = the UUID, Notes, AutomaticStartupAction,
  AutomaticRecoveryAction), ResourceSettings embedded RASDs (one memory, at most one
  processor, disks, DVDs, NICs; vrmgmt.classes.virtualization.embedded). A
  ReferenceConfiguration (a VSSD of a VM on the same host) complements what they leave
  out (CIM_VirtualSystemManagementService.DefineSystem): its notes, autostart, crash
  action, vCPUs, processor allocation, memory, and, for each device kind that
  ResourceSettings give none of, its disks (as new disks of the same size: images are
  never shared), DVD drives and NICs (new MACs); the name defaults to "<name>-copy".
- DestroySystem(AffectedSystem): undefines the VM (a running one is powered off first).
- AddResourceSettings(AffectedConfiguration, ResourceSettings[]) -> the new RASDs in
  ResultingResourceSettings (disks, DVDs and NICs).
- ModifyResourceSettings(ResourceSettings[]): each names an existing RASD by InstanceID;
  processor and memory change in place, a disk or NIC is replaced (removed and added
  again) -> ResultingResourceSettings.
- RemoveResourceSettings(ResourceSettings[] references): removes disks, DVDs, NICs.
- ModifySystemSettings(SystemSettings): the VSSD named by its InstanceID; renames the
  VM (ElementName; libvirt only while it is off), replaces its Notes, sets
  AutomaticStartupAction (libvirt autostart; vSphere: CIM_ERR_NOT_SUPPORTED).

Malformed parameters (wrong class, unknown property, memory 0, a duplicate MAC, a RASD
of a VM on another host) answer CIM_ERR_INVALID_PARAMETER with a description naming the
parameter, the RASD and the property; nothing is changed then. So does a DefineSystem
that exceeds a pool of the host (vrmgmt.classes.pools.admission: more vCPUs or memory
than the host has, disks larger than their storage pool's free space), naming the pool.
What the backend refuses (a disk image that does not exist, a name already taken)
answers CIM_ERR_FAILED naming the reason. On backends whose definitions are slow
(vSphere tasks) every method returns 4096 and a VRM_ConcreteJob.
"""

from __future__ import annotations

from collections.abc import Callable

import pywbem
from pywbem import CIMError, CIMInstanceName, Uint32

from vrmgmt.backends.base import Feature
from vrmgmt.cim import fastinst
from vrmgmt.cim import paths as cim_paths
from vrmgmt.cim import valuemaps as vm_map
from vrmgmt.cim.errors import to_cim_error
from vrmgmt.cim.methods import MethodCall, MethodTable
from vrmgmt.classes.host_service import HostService, audit, failed, job_result, start_job
from vrmgmt.classes.pools import admission
from vrmgmt.classes.system import computer_system as vm_cls
from vrmgmt.classes.virtualization import embedded, rasds, settings
from vrmgmt.classes.virtualization import virtual_system_setting_data as vssd_cls
from vrmgmt.errors import InvalidSpec, InvalidStateTransition, VrmError
from vrmgmt.model import VirtualMachine
from vrmgmt.model.specs import DiskSpec, NicSpec, VMChange, VMSpec

CLASS = "VRM_VirtualSystemManagementService"
NAME = "VirtualSystemManagementService"
#: CIM_VirtualSystemManagementService return code 5 "Invalid State" (DestroySystem,
#: Modify*Settings, RemoveResourceSettings; not the DSP1052 numbering)
RC_INVALID_STATE = 5


SERVICE = HostService(CLASS, NAME, "Virtual system management service")
path = SERVICE.path
parse = SERVICE.parse
service_instance = SERVICE.service_instance
instances = SERVICE.instances
paths = SERVICE.paths


# -- methods -----------------------------------------------------------------------------
METHODS = MethodTable()
_OUT_NONE = {"Job": None}


def _run(
    call: MethodCall,
    bid: str,
    target: str,
    work: Callable[[], dict],
    description: str,
    affected: list[CIMInstanceName],
) -> tuple:
    """Run ``work`` (a backend change returning the output parameters) now, or as a job
    when the backend's definitions are slow. Backend failures: CIM_ERR_FAILED naming
    them (nothing was changed by a refused request)."""
    inv = call.env.inventory
    if call.env.jobs is not None and inv.definitions_are_slow(bid):
        # the new VM / RASDs in the outputs: found via AffectedJobElement
        return start_job(
            call, target, description, affected, lambda progress: job_result(progress, work())
        )
    try:
        outs = work()
    except InvalidStateTransition as exc:
        audit(call, target, f"invalid state: {exc}")
        return Uint32(RC_INVALID_STATE), dict(_OUT_NONE)
    except CIMError as exc:  # the backend refused a setting, named by its RASD
        audit(call, target, f"rejected: {exc.status_description}")
        raise
    except InvalidSpec as exc:
        audit(call, target, f"rejected: {exc}")
        raise CIMError(pywbem.CIM_ERR_INVALID_PARAMETER, f"{call.method}: {exc}") from None
    except VrmError as exc:
        audit(call, target, f"failed: {exc}")
        raise failed(call, exc) from None
    audit(call, target, "completed")
    return Uint32(vm_map.RC_COMPLETED), {"Job": None, **outs}


def _needs(call: MethodCall, bid: str, feature: Feature) -> bool:
    return feature in call.env.inventory.features(bid)


@METHODS.method("DefineSystem", role="admin")
def define_system(
    call: MethodCall, system_settings=None, resource_settings=None, reference_configuration=None
):
    bid = parse(call.instance_path)
    ns = call.ctx.namespace
    if not _needs(call, bid, Feature.DEFINE):
        audit(call, bid, "not supported by backend")
        return Uint32(vm_map.RC_NOT_SUPPORTED), dict(_OUT_NONE, ResultingSystem=None)
    ref = None
    if reference_configuration is not None:
        ref = _reference(call, bid, reference_configuration)
    if system_settings is None and ref is None:
        raise embedded.bad("SystemSettings", "DefineSystem needs the VM's system settings")
    if system_settings is not None:
        _, sys = embedded.system_settings(call.ctx, system_settings)
    else:
        sys = embedded.SystemSettings()
    if sys.name is None:
        if ref is None:
            raise embedded.bad("SystemSettings.ElementName", "is required (the VM's name)")
        sys.name = f"{ref.name}-copy"
    res = embedded.resources(call.ctx, resource_settings)
    spec = _spec(call, bid, sys, res, ref)
    admission.check_define(call.env, bid, res, spec, call.ctx)  # within the host's pools
    target = f"{bid}: VM {spec.name}" + (f" (from {ref.name})" if ref is not None else "")

    def work() -> dict:
        try:
            vm = call.env.inventory.define_vm(bid, spec)
        except InvalidSpec as exc:  # what the backend refused, named by its RASD
            raise _rasd_error(exc, res, "VMSpec.disks", "VMSpec.nics") from None
        return {"ResultingSystem": vm_cls.path(vm.uuid, ns)}

    return _run(call, bid, target, work, f"define VM {spec.name} on {bid}", [path(bid, ns)])


_PROPERTY = {"source": "HostResource", "capacity_bytes": "Capacity", "mac": "Address"}


def _rasd_error(exc: InvalidSpec, res: list[embedded.Resource], disks: str, nics: str):
    """CIM_ERR_INVALID_PARAMETER for a backend's InvalidSpec on ``disks[i]`` /
    ``nics[i]`` of a spec, naming the RASD it came from (else the spec field)."""
    for prefix, items in (
        (disks, [r for r in res if r.disk is not None]),
        (nics, [r for r in res if r.nic is not None]),
    ):
        if exc.field.startswith(prefix + "["):
            index, _, rest = exc.field[len(prefix) + 1 :].partition("]")
            if index.isdigit() and int(index) < len(items):
                prop = rest.lstrip(".")
                return embedded.bad(
                    f"{items[int(index)].where}.{_PROPERTY.get(prop, prop)}", exc.reason
                )
    return embedded.bad(exc.field, exc.reason)


def _reference(call: MethodCall, bid: str, value) -> VirtualMachine:
    """The VM whose VirtualSystemSettingData the ReferenceConfiguration names (on the
    service's host), with its devices."""
    where = "ReferenceConfiguration"
    if not isinstance(value, CIMInstanceName):
        raise embedded.bad(where, "must be a reference to a VM's VirtualSystemSettingData")
    try:
        sid = vssd_cls.parse(value)
    except CIMError:
        raise embedded.bad(where, f"{value} is not a VM's system settings of vrmgmt") from None
    if sid.backend_id != bid:
        raise embedded.bad(where, f"the VM {sid.uuid} is on host {sid.backend_id}, not on {bid}")
    return _vm_of_service(call, bid, sid.uuid, where)


def _from_reference(
    call: MethodCall, bid: str, ref: VirtualMachine | None, res: list[embedded.Resource]
):
    """What the new VM takes over from the reference VM's devices where ResourceSettings
    give none of that kind: (disks, DVD drives, NICs). A disk becomes a new disk of the
    same size and bus where the host creates disks (images are never shared; where it
    does not, CIM_ERR_INVALID_PARAMETER asks for the disks), a DVD drive keeps its medium
    (where the host adds DVD drives), a NIC its network and model with a new MAC."""
    if ref is None:
        return [], [], []
    creates, disk_kinds = call.env.inventory.disk_support(bid)
    kinds = {r.kind for r in res}
    disks = cdroms = nics = []
    ref_disks = [d for d in ref.disks if d.kind == "disk"]
    if "disk" not in kinds and ref_disks:
        if not creates:
            raise embedded.bad(
                "ReferenceConfiguration",
                f"VM {ref.name} has disks ({', '.join(d.device for d in ref_disks)}); host "
                f"{bid} does not create disk images and vrmgmt does not share or copy them: "
                "give the new VM's disks in ResourceSettings",
            )
        disks = [
            DiskSpec(kind="disk", capacity_bytes=d.capacity_bytes, bus=d.bus) for d in ref_disks
        ]
    if "cdrom" not in kinds and "cdrom" in disk_kinds:
        cdroms = [
            DiskSpec(kind="cdrom", source=d.source, bus=d.bus, readonly=True)
            for d in ref.disks
            if d.kind == "cdrom"
        ]
    if "nic" not in kinds:
        nics = [NicSpec(network=n.network, model=n.model) for n in ref.nics]
    return disks, cdroms, nics


def _spec(
    call: MethodCall,
    bid: str,
    sys,
    res: list[embedded.Resource],
    ref: VirtualMachine | None = None,
) -> VMSpec:
    """The VMSpec of a DefineSystem, complemented by the reference VM where SystemSettings
    and ResourceSettings leave something out (CIM_VirtualSystemManagementService.
    DefineSystem: ReferenceConfiguration)."""
    inv = call.env.inventory
    domain_type = None
    vst = sys.virtual_system_type
    if vst is None and ref is not None and ref.virtual_system_type.lower() in ("kvm", "qemu"):
        vst = ref.virtual_system_type  # a QEMU host runs both: keep the reference's
    if vst is not None:
        have = inv.host(bid).virtual_system_type or ""
        want = vst.lower()
        qemu = {"kvm", "qemu"}
        if want in qemu and have.lower() in qemu:
            domain_type = want  # a QEMU host runs both (libvirt domain type)
        elif have and want != have.lower():
            raise embedded.bad(
                "SystemSettings.VirtualSystemType",
                f"host {bid} runs {have} virtual systems, not {vst}",
            )
    procs = [r for r in res if r.kind == "proc"]
    mems = [r for r in res if r.kind == "mem"]
    for group, what in ((procs, "processor"), (mems, "memory")):
        if len(group) > 1:
            raise embedded.bad(
                group[1].where, f"only one {what} setting may be given (also {group[0].where})"
            )
    if ref is not None and not (mems and mems[0].memory_mib is not None):
        memory_mib, max_memory_mib = ref.memory_kib // 1024, ref.max_memory_kib // 1024
        if max_memory_mib < memory_mib:
            max_memory_mib = memory_mib
    elif not mems or mems[0].memory_mib is None:
        where = mems[0].where + ".VirtualQuantity" if mems else "ResourceSettings"
        raise embedded.bad(where, "DefineSystem needs a memory setting with VirtualQuantity")
    else:
        memory_mib, max_memory_mib = mems[0].memory_mib, mems[0].max_memory_mib
    vcpus = procs[0].vcpus if procs and procs[0].vcpus else (ref.vcpus if ref else 1)
    ref_disks, ref_cdroms, ref_nics = _from_reference(call, bid, ref, res)
    values: dict = {
        "name": sys.name,
        "memory_mib": memory_mib,
        "max_memory_mib": max_memory_mib,
        "vcpus": vcpus,
        "disks": [r.disk for r in res if r.disk is not None] + ref_disks + ref_cdroms,
        "nics": [r.nic for r in res if r.nic is not None] + ref_nics,
    }
    if ref is not None:  # complement the system settings from the reference
        if sys.description is None and ref.description:
            values["description"] = ref.description
        if sys.autostart is None and ref.autostart:
            values["autostart"] = True
        if sys.on_crash is None and ref.on_crash in ("destroy", "restart"):
            values["on_crash"] = ref.on_crash
    if domain_type is not None:
        values["domain_type"] = domain_type
    if sys.uuid is not None:
        values["uuid"] = sys.uuid
    if sys.description is not None:
        values["description"] = sys.description
    if sys.autostart is not None:
        values["autostart"] = sys.autostart
    if sys.on_crash is not None:
        values["on_crash"] = sys.on_crash
    base = ref.cpu if ref is not None else None
    cpu = None
    if procs:
        cpu = embedded.cpu_allocation(procs[0], inv.cpu_allocation(bid), bid, current=base)
    if (
        cpu is None
        and base is not None
        and any(v is not None for v in (base.reservation, base.limit, base.weight))
    ):
        cpu = base
    if cpu is not None:
        values["cpu"] = cpu
    try:
        return VMSpec(**values)
    except InvalidSpec as exc:
        field = exc.field.split(".", 1)[-1]
        where = {
            "name": "SystemSettings.ElementName",
            "uuid": "SystemSettings.VirtualSystemIdentifier",
            "description": "SystemSettings.Notes",
            "max_memory_mib": f"{mems[0].where}.Limit",
            "memory_mib": f"{mems[0].where}.VirtualQuantity",
        }.get(field, exc.field)
        raise embedded.bad(where, exc.reason) from None


def _vm_of_service(call: MethodCall, bid: str, uuid: str, where: str) -> VirtualMachine:
    """The VM, which must be on the service's host (CIM_ERR_INVALID_PARAMETER naming
    ``where`` otherwise)."""
    inv = call.env.inventory
    try:
        owner = inv.backend_of(uuid)
    except VrmError:
        raise embedded.bad(where, f"no VM {uuid} on host {bid}") from None
    if owner != bid:
        raise embedded.bad(where, f"VM {uuid} is on host {owner}, not on {bid}")
    try:
        vm = inv.get_vm(uuid, bid)
        inv.check_fresh(vm, call.method)  # backend down: refused at once (StaleVM)
    except VrmError as exc:
        raise to_cim_error(exc) from None
    return vm


@METHODS.method("DestroySystem", role="admin")
def destroy_system(call: MethodCall, affected_system=None):
    bid = parse(call.instance_path)
    if not _needs(call, bid, Feature.UNDEFINE):
        return Uint32(vm_map.RC_NOT_SUPPORTED), dict(_OUT_NONE)
    if not isinstance(affected_system, CIMInstanceName):
        raise embedded.bad("AffectedSystem", "DestroySystem needs a reference to the VM")
    try:
        uuid = vm_cls.parse(affected_system)
    except CIMError:
        raise embedded.bad("AffectedSystem", f"{affected_system} is not a VM of vrmgmt") from None
    vm = _vm_of_service(call, bid, uuid, "AffectedSystem")
    target = f"{bid}: VM {vm.name} ({vm.uuid})"

    def work() -> dict:
        call.env.inventory.undefine_vm(vm.uuid)
        vm_cls.requested_states(call.env).forget(bid, vm.uuid)
        return {}

    ns = call.ctx.namespace
    return _run(call, bid, target, work, f"destroy VM {vm.name} on {bid}", [path(bid, ns)])


def _rasd_paths(vm: VirtualMachine, ns: str) -> list[CIMInstanceName]:
    return rasds.paths_of(vm, ns)


def _change(
    call: MethodCall,
    bid: str,
    vm: VirtualMachine,
    change: VMChange,
    what: str,
    res: list[embedded.Resource] | None = None,
):
    """Apply a VMChange; ResultingResourceSettings = the RASDs that are new or changed.
    ``res``: the RASDs the added devices came from (to name them in errors)."""
    ns = call.ctx.namespace
    before = {cim_paths.identity(p) for p in _rasd_paths(vm, ns)}
    target = f"{bid}: VM {vm.name} ({vm.uuid})"

    def work() -> dict:
        try:
            after = call.env.inventory.modify_vm(vm.uuid, change)
        except InvalidSpec as exc:
            if res is None:
                raise
            raise _rasd_error(exc, res, "VMChange.add_disks", "VMChange.add_nics") from None
        new = [p for p in _rasd_paths(after, ns) if cim_paths.identity(p) not in before]
        return {"ResultingResourceSettings": new}

    return _run(call, bid, target, work, f"{what} of VM {vm.name}", [vm_cls.path(vm.uuid, ns)])


@METHODS.method("AddResourceSettings", role="admin")
def add_resource_settings(call: MethodCall, affected_configuration=None, resource_settings=None):
    bid = parse(call.instance_path)
    out = dict(_OUT_NONE, ResultingResourceSettings=None)
    if not _needs(call, bid, Feature.MODIFY):
        return Uint32(vm_map.RC_NOT_SUPPORTED), out
    if not isinstance(affected_configuration, CIMInstanceName):
        raise embedded.bad("AffectedConfiguration", "needs a reference to the VM's settings")
    try:
        sid = vssd_cls.parse(affected_configuration)
    except CIMError:
        raise embedded.bad(
            "AffectedConfiguration", f"{affected_configuration} is not a VM's system settings"
        ) from None
    if sid.backend_id != bid:
        raise embedded.bad(
            "AffectedConfiguration", f"the VM {sid.uuid} is on host {sid.backend_id}, not {bid}"
        )
    vm = _vm_of_service(call, bid, sid.uuid, "AffectedConfiguration")
    res = embedded.resources(call.ctx, resource_settings)
    if not res:
        raise embedded.bad("ResourceSettings", "no resource settings to add")
    for r in res:
        if r.kind in ("proc", "mem"):
            raise embedded.bad(
                r.where,
                "a VM has exactly one processor and one memory setting: change it with "
                "ModifyResourceSettings",
            )
        if r.nic is not None and r.nic.mac in {n.mac.lower() for n in vm.nics}:
            raise embedded.bad(f"{r.where}.Address", f"VM {vm.name} has MAC {r.nic.mac} already")
    admission.check_add(call.env, bid, res, call.ctx)  # new disks within their pools
    change = VMChange(
        add_disks=[r.disk for r in res if r.disk is not None],
        add_nics=[r.nic for r in res if r.nic is not None],
    )
    return _change(call, bid, vm, change, "add devices", res)


def _existing(call: MethodCall, bid: str, p: CIMInstanceName, where: str):
    """(module, SettingId, VM) of an existing RASD path on this host."""
    module = rasds.module_of(p)
    if module is None:
        raise embedded.bad(where, f"{p.classname} is not a resource setting of vrmgmt")
    try:
        sid = module.parse(p)
    except CIMError as exc:
        raise embedded.bad(where, exc.status_description) from None
    if sid.backend_id != bid:
        raise embedded.bad(where, f"the VM {sid.uuid} is on host {sid.backend_id}, not {bid}")
    vm = _vm_of_service(call, bid, sid.uuid, where)
    if not any(module.parse(i.path) == sid for i in module.build(vm, call.ctx.namespace)):
        raise embedded.bad(where, f"VM {vm.name} has no resource setting {sid.text()!r}")
    return module, sid, vm


def _one_vm(items: list, where: str) -> VirtualMachine:
    uuids = {vm.uuid for _, _, vm in items}
    if len(uuids) > 1:
        raise embedded.bad(where, "all resource settings of one call must belong to one VM")
    return items[0][2]


@METHODS.method("RemoveResourceSettings", role="admin")
def remove_resource_settings(call: MethodCall, resource_settings=None):
    bid = parse(call.instance_path)
    if not _needs(call, bid, Feature.MODIFY):
        return Uint32(vm_map.RC_NOT_SUPPORTED), dict(_OUT_NONE)
    refs = resource_settings or []
    if not refs:
        raise embedded.bad("ResourceSettings", "no resource settings to remove")
    items = [_existing(call, bid, p, f"ResourceSettings[{i}]") for i, p in enumerate(refs)]
    vm = _one_vm(items, "ResourceSettings")
    disks, nics = [], []
    for i, (_module, sid, _vm) in enumerate(items):
        if sid.kind == "disk":
            disks.append(sid.key)
        elif sid.kind == "nic":
            nics.append(sid.key)
        else:
            raise embedded.bad(
                f"ResourceSettings[{i}]", "the processor and memory settings cannot be removed"
            )
    rv, outs = _change(call, bid, vm, VMChange(remove_disks=disks, remove_nics=nics), "remove")
    outs.pop("ResultingResourceSettings", None)
    return rv, outs


@METHODS.method("ModifyResourceSettings", role="admin")
def modify_resource_settings(call: MethodCall, resource_settings=None):
    bid = parse(call.instance_path)
    out = dict(_OUT_NONE, ResultingResourceSettings=None)
    if not _needs(call, bid, Feature.MODIFY):
        return Uint32(vm_map.RC_NOT_SUPPORTED), out
    res = embedded.resources(call.ctx, resource_settings)
    if not res:
        raise embedded.bad("ResourceSettings", "no resource settings to modify")
    items = []
    for r in res:
        iid = embedded._value(r.inst, "InstanceID")
        if not iid:
            raise embedded.bad(f"{r.where}.InstanceID", "names the setting to modify: required")
        if rasds.module_of(r.inst) is not None:
            p = fastinst.path(r.inst.classname, {"InstanceID": iid}, call.ctx.namespace)
        else:
            p = _guess_path(r, iid, call.ctx.namespace)
        items.append((r, *_existing(call, bid, p, f"{r.where}.InstanceID")))
    vm = _one_vm([(m, s, v) for _, m, s, v in items], "ResourceSettings")
    values: dict = {"add_disks": [], "add_nics": [], "remove_disks": [], "remove_nics": []}
    for r, _module, sid, _vm in items:
        if sid.kind == "proc":
            if r.kind != "proc" or r.vcpus is None:
                raise embedded.bad(f"{r.where}.VirtualQuantity", "the number of vCPUs is required")
            values["vcpus"] = r.vcpus
            cpu = embedded.cpu_allocation(
                r, call.env.inventory.cpu_allocation(bid), bid, current=_vm.cpu
            )
            if cpu is not None:
                values["cpu"] = cpu
        elif sid.kind == "mem":
            if r.kind != "mem" or r.memory_mib is None:
                raise embedded.bad(f"{r.where}.VirtualQuantity", "the memory size is required")
            limit = r.max_memory_mib
            if limit is not None and limit not in (r.memory_mib, _vm.max_memory_kib // 1024):
                raise embedded.bad(
                    f"{r.where}.Limit",
                    "the maximum memory cannot be changed on its own (it follows "
                    "VirtualQuantity where it must)",
                )
            values["memory_mib"] = r.memory_mib
        elif sid.kind == "disk":
            if r.disk is None:
                raise embedded.bad(f"{r.where}.ResourceType", "a disk setting must stay a disk")
            values["remove_disks"].append(sid.key)
            values["add_disks"].append(r.disk)
        else:
            if r.nic is None:
                raise embedded.bad(f"{r.where}.ResourceType", "a NIC setting must stay a NIC")
            values["remove_nics"].append(sid.key)
            values["add_nics"].append(r.nic)
    try:
        change = VMChange(**values)
    except InvalidSpec as exc:
        raise embedded.bad("ResourceSettings", str(exc)) from None
    rv, outs = _change(call, bid, vm, change, "modify settings")
    if outs.get("ResultingResourceSettings") is not None:
        changed = [
            module.path(sid.backend_id, sid.uuid, call.ctx.namespace)
            for _, module, sid, _ in items
            if sid.kind in ("proc", "mem")
        ]
        outs["ResultingResourceSettings"] = changed + outs["ResultingResourceSettings"]
    return rv, outs


def _guess_path(r: embedded.Resource, iid: object, ns: str) -> CIMInstanceName:
    """The vrmgmt RASD path an InstanceID names when the instance came as a DMTF class."""
    kind = settings.parse_id(str(iid), settings.KINDS).kind
    module = {m.KIND: m for m in rasds.MODULES}[kind]
    return fastinst.path(module.CLASS, {"InstanceID": iid}, ns)


@METHODS.method("ModifySystemSettings", role="admin")
def modify_system_settings(call: MethodCall, system_settings=None):
    bid = parse(call.instance_path)
    if system_settings is None:
        raise embedded.bad("SystemSettings", "ModifySystemSettings needs the VM's settings")
    inst, sys = embedded.system_settings(call.ctx, system_settings)
    iid = embedded._value(inst, "InstanceID")
    if not iid:
        raise embedded.bad("SystemSettings.InstanceID", "names the settings to modify: required")
    try:
        sid = settings.parse_id(str(iid))
    except CIMError as exc:
        raise embedded.bad("SystemSettings.InstanceID", exc.status_description) from None
    if sid.backend_id != bid:
        raise embedded.bad(
            "SystemSettings.InstanceID", f"the VM {sid.uuid} is on host {sid.backend_id}"
        )
    vm = _vm_of_service(call, bid, sid.uuid, "SystemSettings.InstanceID")
    values: dict = {}
    if sys.name is not None and sys.name != vm.name:
        values["name"] = sys.name
    if sys.description is not None and sys.description != (vm.description or ""):
        values["description"] = sys.description
    if sys.autostart is not None and sys.autostart != vm.autostart:
        values["autostart"] = sys.autostart
    if sys.on_crash is not None and sys.on_crash != (vm.on_crash or sys.on_crash):
        raise CIMError(
            pywbem.CIM_ERR_NOT_SUPPORTED,
            "SystemSettings.AutomaticRecoveryAction: cannot be changed after DefineSystem",
        )
    if not values:
        return Uint32(vm_map.RC_COMPLETED), dict(_OUT_NONE)
    if not _needs(call, bid, Feature.MODIFY):
        return Uint32(vm_map.RC_NOT_SUPPORTED), dict(_OUT_NONE)
    try:
        change = VMChange(**values)
    except InvalidSpec as exc:
        field = {"name": "ElementName", "description": "Notes"}.get(exc.field.split(".")[-1])
        raise embedded.bad(f"SystemSettings.{field or exc.field}", exc.reason) from None
    rv, outs = _change(call, bid, vm, change, "modify system settings")
    outs.pop("ResultingResourceSettings", None)
    return rv, outs
