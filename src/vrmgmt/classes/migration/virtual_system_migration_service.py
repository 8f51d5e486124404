"""VRM_VirtualSystemMigrationService: one per host; moves its VMs to another host and
says beforehand whether that can work (DSP1081 Virtual System Migration 1.0.0 §7-8,
CIM_VirtualSystemMigrationService; docs/migration.md).

- MigrateVirtualSystemToHost(ComputerSystem, DestinationHost, MigrationSettingData, ...)
  and MigrateVirtualSystemToSystem(ComputerSystem, DestinationSystem, ...): always 4096
  and a VRM_ConcreteJob whose PercentComplete follows the copy; the VM is its affected
  element. DestinationHost names another host of vrmgmt (its VRM_HostSystem Name, the
  backend id) or, on a vSphere host, one of its vCenter's ESXi hosts (the VM changes ESXi
  host and stays on the same VRM_HostSystem). DestinationSystem is a VRM_HostSystem.
- CheckVirtualSystemIsMigratableToHost / ToSystem: the same checks without moving
  anything; 0 and IsMigratable true when the migration can start.

MigrationSettingData (an embedded CIM_VirtualSystemMigrationSettingData, optional):
MigrationType 2 Live (the default for a running VM), 3 Resume (paused for the copy,
resumed on the target), 4 Restart is refused (CIM_ERR_NOT_SUPPORTED: no backend does
it), 0 Unknown lets the backend choose; Priority is accepted and kept in the job's
description (the backends have no priority).

Like libvirt-cim's Virt_VSMigrationService, an impossible migration is a CIM error whose
description says why: a reference or host that names nothing CIM_ERR_NOT_FOUND /
CIM_ERR_INVALID_PARAMETER; the VM's own host CIM_ERR_INVALID_PARAMETER; a target of
another hypervisor family (libvirt <-> vSphere) CIM_ERR_NOT_SUPPORTED naming both hosts;
a target lacking the network or storage pool a VM device uses CIM_ERR_FAILED naming
them; a host that cannot migrate at all (libvirt's test driver) CIM_ERR_NOT_SUPPORTED.
"""

from __future__ import annotations

from dataclasses import dataclass

import pywbem
from pywbem import CIMError, CIMInstanceName, Uint32

from vrmgmt.backends.base import Feature
from vrmgmt.cim import valuemaps as vm_map
from vrmgmt.cim.methods import MethodCall, MethodTable
from vrmgmt.cim.provider import ProviderEnv
from vrmgmt.classes.host_service import (
    HostService,
    audit,
    failed,
    has_feature,
    start_job,
    vm_on_host,
)
from vrmgmt.classes.system import computer_system as vm_cls
from vrmgmt.classes.system import host_system as host_cls
from vrmgmt.classes.virtualization import embedded
from vrmgmt.errors import VrmError
from vrmgmt.model import PowerState, VirtualMachine

CLASS = "VRM_VirtualSystemMigrationService"
NAME = "VirtualSystemMigrationService"

#: CIM_VirtualSystemMigrationSettingData.MigrationType
UNKNOWN, LIVE, RESUME, RESTART = 0, 2, 3, 4
_TYPE_NAME = {
    UNKNOWN: "0 (Unknown)",
    LIVE: "2 (Live)",
    RESUME: "3 (Resume)",
    RESTART: "4 (Restart)",
}


SERVICE = HostService(CLASS, NAME, "Virtual system migration service")
path = SERVICE.path
parse = SERVICE.parse
exists = SERVICE.exists
service_instance = SERVICE.service_instance
instances = SERVICE.instances
paths = SERVICE.paths


def can_migrate(env: ProviderEnv, backend_id: str) -> bool:
    return has_feature(env, backend_id, Feature.MIGRATION)


# -- the checks ----------------------------------------------------------------------------
@dataclass(frozen=True)
class Plan:
    """A migration that can start: the VM, its host and where it goes (another backend,
    or a host inside its own)."""

    vm: VirtualMachine
    source: str
    target_backend: str | None
    target_host: str | None
    live: bool

    @property
    def where(self) -> str:
        return self.target_backend or f"{self.target_host} (of {self.source})"


def _migration_type(call: MethodCall, value) -> tuple[int, int]:
    """(MigrationType, Priority) of the optional MigrationSettingData."""
    if value is None:
        return UNKNOWN, 0
    inst = embedded.to_instance(value, "MigrationSettingData", call.ctx)
    mtype = embedded._value(inst, "MigrationType")
    prio = embedded._value(inst, "Priority")
    mtype = UNKNOWN if mtype is None else int(mtype)
    if mtype not in _TYPE_NAME:
        raise embedded.bad(
            "MigrationSettingData.MigrationType",
            f"{mtype} is not 0 (Unknown), 2 (Live), 3 (Resume) or 4 (Restart)",
        )
    if mtype == RESTART:
        raise CIMError(
            pywbem.CIM_ERR_NOT_SUPPORTED,
            "MigrationSettingData.MigrationType 4 (Restart) is not supported: vrmgmt "
            "migrates live (2) or paused and resumed (3)",
        )
    return mtype, 0 if prio is None else int(prio)


def _target(call: MethodCall, bid: str, vm: VirtualMachine, dest: str, where: str):
    """(target backend, target host inside the source backend) for a destination name."""
    inv = call.env.inventory
    if not isinstance(dest, str) or not dest.strip():
        raise embedded.bad(where, "names no host")
    dest = dest.strip()
    if dest == bid:
        raise embedded.bad(where, f"VM {vm.name} is on host {bid} already")
    if inv.has_backend(dest):
        return dest, None
    try:
        inner = inv.migration_hosts(bid)
    except VrmError as exc:
        raise failed(call, exc) from None
    if dest in inner:
        try:
            current = inv.vm_host(vm.uuid, bid)
        except VrmError as exc:
            raise failed(call, exc) from None
        if current == dest:
            raise embedded.bad(where, f"VM {vm.name} runs on {dest} already")
        return None, dest
    known = sorted({*inv.backend_ids(), *inner} - {bid})
    raise embedded.bad(
        where, f"no host {dest!r} to migrate to (known: {', '.join(known) or 'none'})"
    )


def _missing_resources(call: MethodCall, vm: VirtualMachine, target: str) -> list[str]:
    """The networks and storage pools the VM's devices use that the target lacks."""
    inv = call.env.inventory
    if Feature.POOLS not in inv.features(target) or Feature.POOLS not in inv.features(
        vm.backend_id
    ):
        return []
    try:
        mine, theirs = inv.pools(vm.backend_id), inv.pools(target)
    except VrmError as exc:
        raise failed(call, exc) from None
    nets = {p.name for p in theirs if p.kind == "net"}
    missing = []
    for nic in vm.nics:
        if nic.network and nic.network not in nets:
            missing.append(f"network {nic.network!r} (NIC {nic.mac})")
    dirs = {p.path.rstrip("/"): p.name for p in mine if p.kind == "disk" and p.path}
    their_pools = {p.name for p in theirs if p.kind == "disk"}
    for disk in vm.disks:
        if not disk.source:
            continue
        parent = disk.source.rsplit("/", 1)[0]
        pool = dirs.get(parent)
        if pool is not None and pool not in their_pools:
            missing.append(f"storage pool {pool!r} (disk {disk.source})")
    return missing


def plan(call: MethodCall, computer_system, destination: str, where: str, settings) -> Plan:
    """Every check of a migration; the plan when it can start, else the CIM error."""
    bid = SERVICE.backend_of(call)
    inv = call.env.inventory
    mtype, _prio = _migration_type(call, settings)
    vm = vm_on_host(call, bid, computer_system, "ComputerSystem")
    target_backend, target_host = _target(call, bid, vm, destination, where)
    if target_backend is not None:
        kinds = inv.kind(bid), inv.kind(target_backend)
        if kinds[0] != kinds[1]:
            raise CIMError(
                pywbem.CIM_ERR_NOT_SUPPORTED,
                f"{where}: migration from host {inv.describe(bid)} to host "
                f"{inv.describe(target_backend)} is not supported: VMs move only between "
                f"hosts of the same hypervisor family ({kinds[0]} to {kinds[1]} given)",
            )
        missing = _missing_resources(call, vm, target_backend)
        if missing:
            raise CIMError(
                pywbem.CIM_ERR_FAILED,
                f"{where}: host {target_backend} lacks what VM {vm.name} uses: "
                + ", ".join(missing),
            )
    for side in dict.fromkeys([bid, target_backend or bid]):
        if not can_migrate(call.env, side):
            raise CIMError(
                pywbem.CIM_ERR_NOT_SUPPORTED,
                f"host {inv.describe(side)} cannot migrate VMs",
            )
    if vm.state is not PowerState.RUNNING and mtype in (LIVE, RESUME):
        raise CIMError(
            pywbem.CIM_ERR_FAILED,
            f"MigrationSettingData.MigrationType {_TYPE_NAME[mtype]} needs a running VM; "
            f"VM {vm.name} is {vm.state.value} (0 moves it as it is)",
        )
    return Plan(vm, bid, target_backend, target_host, live=mtype != RESUME)


def _destination_system(call: MethodCall, value) -> str:
    where = "DestinationSystem"
    if not isinstance(value, CIMInstanceName):
        raise embedded.bad(where, f"{call.method} needs a reference to a {host_cls.CLASS}")
    try:
        return host_cls.parse(value)
    except CIMError:
        raise embedded.bad(where, f"{value} is not a host of vrmgmt") from None


# -- methods -------------------------------------------------------------------------------
METHODS = MethodTable()


def _check(call: MethodCall, computer_system, destination, where, settings):
    """0 and IsMigratable true, or the CIM error saying why not (plan)."""
    plan(call, computer_system, destination, where, settings)
    return Uint32(vm_map.RC_COMPLETED), {"IsMigratable": True}


def _migrate(call: MethodCall, computer_system, destination, where, settings, to_system):
    try:
        p = plan(call, computer_system, destination, where, settings)
    except CIMError as exc:
        audit(call, f"{computer_system} to {destination}", f"refused: {exc.status_description}")
        raise
    if call.env.jobs is None:
        raise CIMError(pywbem.CIM_ERR_FAILED, f"{call.method}: this host has no job store")
    inv, ns = call.env.inventory, call.ctx.namespace
    vm = p.vm
    how = "live" if p.live and vm.state is PowerState.RUNNING else "offline"
    if vm.state is PowerState.RUNNING and not p.live:
        how = "paused and resumed"
    target = f"{p.source}: VM {vm.name} ({vm.uuid}) to {p.where}"
    description = f"migrate VM {vm.name} from {p.source} to {p.where} ({how})"

    def work(progress) -> dict:
        last = [0]

        def step(percent: int) -> None:
            if percent > last[0]:
                last[0] = percent
                progress.update(percent)

        inv.migrate_vm(vm.uuid, p.target_backend, p.target_host, p.live, step)
        progress.update(100, f"VM {vm.name} runs on {p.where}")
        result: dict = {"ReturnValue": vm_map.RC_COMPLETED}
        if to_system:
            result["NewComputerSystem"] = str(vm_cls.path(vm.uuid, ns))
        return result

    rv, outs = start_job(call, target, description, [vm_cls.path(vm.uuid, ns)], work)
    if to_system:
        outs = {**outs, "NewComputerSystem": None}
    return rv, outs


@METHODS.method("CheckVirtualSystemIsMigratableToHost", role="operator")
def check_to_host(
    call: MethodCall,
    computer_system=None,
    destination_host=None,
    migration_setting_data=None,
    new_system_setting_data=None,
    new_resource_setting_data=None,
):
    return _check(
        call, computer_system, destination_host, "DestinationHost", migration_setting_data
    )


@METHODS.method("CheckVirtualSystemIsMigratableToSystem", role="operator")
def check_to_system(
    call: MethodCall,
    computer_system=None,
    destination_system=None,
    migration_setting_data=None,
    new_system_setting_data=None,
    new_resource_setting_data=None,
):
    dest = _destination_system(call, destination_system)
    return _check(call, computer_system, dest, "DestinationSystem", migration_setting_data)


@METHODS.method("MigrateVirtualSystemToHost", role="operator")
def migrate_to_host(
    call: MethodCall,
    computer_system=None,
    destination_host=None,
    migration_setting_data=None,
    new_system_setting_data=None,
    new_resource_setting_data=None,
):
    _no_new_settings(new_system_setting_data, new_resource_setting_data)
    return _migrate(
        call, computer_system, destination_host, "DestinationHost", migration_setting_data, False
    )


@METHODS.method("MigrateVirtualSystemToSystem", role="operator")
def migrate_to_system(
    call: MethodCall,
    computer_system=None,
    destination_system=None,
    migration_setting_data=None,
    new_system_setting_data=None,
    new_resource_setting_data=None,
):
    _no_new_settings(new_system_setting_data, new_resource_setting_data)
    dest = _destination_system(call, destination_system)
    return _migrate(call, computer_system, dest, "DestinationSystem", migration_setting_data, True)


def _no_new_settings(system, resources) -> None:
    if system is not None or resources:
        raise CIMError(
            pywbem.CIM_ERR_NOT_SUPPORTED,
            "NewSystemSettingData / NewResourceSettingData: vrmgmt migrates a VM with its "
            "settings as they are (change them with ModifySystemSettings afterwards)",
        )
