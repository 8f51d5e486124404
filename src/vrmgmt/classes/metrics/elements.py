"""The measured elements of the metrics classes (DSP1053 §7: a CIM_ManagedElement that a
metric is defined for): hosts (VRM_HostSystem) and VMs (VRM_ComputerSystem), mapped to
the RRD tree's keys (backend id, VM UUID), and the reader of this host's [metrics] trees.
Not a class module: shared by the classes in vrmgmt.classes.metrics."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pywbem
from pywbem import CIMError, CIMInstanceName

from vrmgmt.cim.errors import describe
from vrmgmt.cim.provider import ProviderEnv
from vrmgmt.classes.system import computer_system as vm_cls
from vrmgmt.classes.system import host_system as host_cls
from vrmgmt.errors import VrmError
from vrmgmt.metrics.rrd import Element, RrdReader, reader_for


@dataclass(frozen=True)
class Measured:
    """An element with what the metrics classes need of it."""

    element: Element
    name: str  # MeasuredElementName: the VM's name or the host's backend id
    vcpus: int = 1
    host_cpus: int = 1  # of the VM's host (VRM metric HostCPUShare)

    def path(self, namespace: str) -> CIMInstanceName:
        el = self.element
        if el.uuid is None:
            return host_cls.path(el.backend, namespace)
        return vm_cls.path(el.uuid, namespace)


def reader(env: ProviderEnv) -> RrdReader:
    cfg = env.config
    if cfg is None:
        return reader_for([])
    return reader_for(cfg.rrd_roots, cfg.metrics.rrdcached or None)


def is_host(p: CIMInstanceName) -> bool:
    return p.classname.lower() == host_cls.CLASS.lower()


def is_vm(p: CIMInstanceName) -> bool:
    return p.classname.lower() == vm_cls.CLASS.lower()


def measured(env: ProviderEnv, p: CIMInstanceName, param: str = "ManagedElement") -> Measured:
    """The host or VM a path names: CIM_ERR_INVALID_PARAMETER for another class,
    CIM_ERR_NOT_FOUND for one that does not exist."""
    inv = env.inventory
    if is_host(p):
        bid = host_cls.parse(p)
        if not inv.has_backend(bid):
            raise CIMError(pywbem.CIM_ERR_NOT_FOUND, f"{param}: no host {bid!r}")
        return Measured(Element(bid), bid)
    if is_vm(p):
        uuid = vm_cls.parse(p)
        try:
            vm = inv.get_vm(uuid)
        except VrmError as exc:
            raise CIMError(pywbem.CIM_ERR_NOT_FOUND, f"{param}: {exc}") from None
        return Measured(
            Element(vm.backend_id, vm.uuid), vm.name, vm.vcpus or 1, host_cpus(env, vm.backend_id)
        )
    raise CIMError(
        pywbem.CIM_ERR_INVALID_PARAMETER,
        f"{param} must be a {host_cls.CLASS} or {vm_cls.CLASS}, not {describe(p)}",
    )


def host_cpus(env: ProviderEnv, backend_id: str) -> int:
    """The host's CPU count (1 when the backend cannot say)."""
    try:
        return env.inventory.host(backend_id).cpu_count or 1
    except VrmError:
        return 1


def maybe_measured(env: ProviderEnv, p: CIMInstanceName) -> Measured | None:
    try:
        return measured(env, p)
    except CIMError:
        return None


def hosts(env: ProviderEnv) -> list[Measured]:
    return [Measured(Element(bid), bid) for bid in env.inventory.backend_ids()]


def vms(env: ProviderEnv, backend_id: str | None = None) -> list[Measured]:
    inv = env.inventory
    try:
        found = inv.vms_of(backend_id) if backend_id else inv.list_vms()[0]
    except VrmError:
        return []
    cpus: dict[str, int] = {}
    out = []
    for v in found:
        if v.backend_id not in cpus:
            cpus[v.backend_id] = host_cpus(env, v.backend_id)
        out.append(
            Measured(Element(v.backend_id, v.uuid), v.name, v.vcpus or 1, cpus[v.backend_id])
        )
    return out


def all_measured(env: ProviderEnv, backend_id: str | None = None) -> Iterator[Measured]:
    """Hosts and VMs (of one host when backend_id is given)."""
    for h in hosts(env):
        if backend_id is None or h.element.backend == backend_id:
            yield h
    yield from vms(env, backend_id)
