"""The service of a host: what every host-scoped CIM_Service of vrmgmt shares (CIM
Schema 2.49 CIM_Service keys, DSP1042 §7.3 / DSP1081 §7.2 / DSP1053 §7.6 scoping to the
host through CIM_HostedService; the Virtual System Snapshot Service profile likewise).

Not a CIM class of its own: a ``HostService`` is filled by each service's class module
with its class name, Name, caption and, where the service exists only on hosts whose
backend has it, the Feature that gates it; the module then takes its ``path``,
``parse``, ``instances`` and ``paths`` from it. Keys: SystemCreationClassName
VRM_HostSystem, SystemName the backend id, CreationClassName the class, Name. A path
that names no such service answers CIM_ERR_NOT_FOUND, one without the string keys
CIM_ERR_INVALID_PARAMETER (vrmgmt.cim.paths.string_key).

The method plumbing the services share is here too: the audit record of a call, a
backend failure as a CIM error naming the method, a VM reference that must be on the
service's host, and a backend change run as a VRM_ConcreteJob; the classes with one
instance per host beside a service (``HostPart``: capabilities, default settings,
InstanceID ``<backend id>:<suffix>``); and the base of the
CIM_HostedService associations from a host to its services (``HostedServices``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import ClassVar

import pywbem
from pywbem import CIMError, CIMInstance, CIMInstanceName, Uint16

from vrmgmt.backends.base import Feature
from vrmgmt.cim import fastinst
from vrmgmt.cim import paths as cim_paths
from vrmgmt.cim import valuemaps as vm_map
from vrmgmt.cim.association import Association
from vrmgmt.cim.errors import not_found, to_cim_error
from vrmgmt.cim.methods import MethodCall
from vrmgmt.cim.provider import ProviderEnv
from vrmgmt.classes.jobs import concrete_job
from vrmgmt.classes.system import computer_system as vm_cls
from vrmgmt.classes.system import host_system as host_cls
from vrmgmt.classes.virtualization import embedded
from vrmgmt.errors import NotFound, VrmError
from vrmgmt.model import VirtualMachine


def has_feature(env: ProviderEnv, backend_id: str, feature: Feature) -> bool:
    """Whether the host is configured and its backend has the feature."""
    inv = env.inventory
    return inv.has_backend(backend_id) and feature in inv.features(backend_id)


class OnePerHost:
    """What a class with one instance per host that has it serves: ``instances`` (an
    enumeration, or the instances of ``paths``: one path of a host without it is
    CIM_ERR_NOT_FOUND) and ``paths``. Subclasses give class_name, parse, path, on and
    instance."""

    class_name: str
    #: CIM_ERR_NOT_FOUND "no <class> <missing> '<backend id>'"
    missing: ClassVar[str] = "on host"

    def parse(self, p: CIMInstanceName) -> str:
        raise NotImplementedError

    def path(self, backend_id: str, namespace: str | None) -> CIMInstanceName:
        raise NotImplementedError

    def on(self, env: ProviderEnv, backend_id: str) -> bool:
        raise NotImplementedError

    def instance(self, env: ProviderEnv, backend_id: str, namespace: str) -> CIMInstance:
        raise NotImplementedError

    def instances(
        self,
        env: ProviderEnv,
        namespace: str,
        paths: list[CIMInstanceName] | None = None,
        *,
        bulk: bool = False,
    ) -> Iterator[CIMInstance]:
        if paths is None:
            wanted = env.inventory.backend_ids()
        else:
            wanted = list(dict.fromkeys(self.parse(p) for p in paths))
            if len(wanted) == 1 and not self.on(env, wanted[0]):
                raise not_found(f"no {self.class_name} {self.missing} {wanted[0]!r}")
        for bid in wanted:
            if self.on(env, bid):
                yield self.instance(env, bid, namespace)

    def paths(self, env: ProviderEnv, namespace: str) -> Iterator[CIMInstanceName]:
        for bid in env.inventory.backend_ids():
            if self.on(env, bid):
                yield self.path(bid, namespace)


@dataclass(frozen=True)
class HostService(OnePerHost):
    """One host-scoped service class: one instance per configured host (per host whose
    backend has ``feature``, when given).

    ``health``: the instance follows the host's reachability (EnabledState, Started,
    HealthState, OperationalStatus); without it the service is always enabled and
    started and has no HealthState / OperationalStatus (it answers from vrmgmt's own
    data, e.g. the metrics' RRD files)."""

    class_name: str
    name: str
    caption: str
    feature: Feature | None = None
    health: bool = True

    # -- paths -------------------------------------------------------------------------
    def path(self, backend_id: str, namespace: str | None) -> CIMInstanceName:
        keys = {
            "SystemCreationClassName": host_cls.CLASS,
            "SystemName": backend_id,
            "CreationClassName": self.class_name,
            "Name": self.name,
        }
        return fastinst.path(self.class_name, keys, namespace)

    def parse(self, p: CIMInstanceName) -> str:
        """The backend id of a service path (CIM_ERR_NOT_FOUND for any other path)."""
        name = cim_paths.string_key(p, self.class_name, "Name")
        system = cim_paths.string_key(p, self.class_name, "SystemName")
        scn = cim_paths.keys_of(p).get("systemcreationclassname")
        if name != self.name or (scn is not None and str(scn).lower() != host_cls.CLASS.lower()):
            raise not_found(f"no {self.class_name} named {name!r} on {system!r}")
        return system

    # -- which hosts have it -----------------------------------------------------------
    def on(self, env: ProviderEnv, backend_id: str) -> bool:
        """Whether the host has this service (configured, and its backend has the
        feature where one gates the service)."""
        if self.feature is None:
            return env.inventory.has_backend(backend_id)
        return has_feature(env, backend_id, self.feature)

    def exists(self, env: ProviderEnv, p: CIMInstanceName) -> bool:
        """Whether the path names the service of a host that has it."""
        try:
            return self.on(env, self.parse(p))
        except CIMError:
            return False

    def backend_of(self, call: MethodCall) -> str:
        """The backend id of the service a method is called on; CIM_ERR_NOT_FOUND when
        its host does not have it."""
        bid = self.parse(call.instance_path)
        if not self.on(call.env, bid):
            raise not_found(f"no {self.class_name} on host {bid!r}")
        return bid

    # -- instances ---------------------------------------------------------------------
    def service_instance(self, backend_id: str, namespace: str, up: bool = True) -> CIMInstance:
        P = fastinst.prop
        up = up or not self.health
        props = [
            P("SystemCreationClassName", host_cls.CLASS, "string"),
            P("SystemName", backend_id, "string"),
            P("CreationClassName", self.class_name, "string"),
            P("Name", self.name, "string"),
            P("ElementName", f"{self.caption} of {backend_id}", "string"),
            P("Caption", self.caption, "string"),
            P("EnabledState", Uint16(vm_map.ES_ENABLED if up else vm_map.ES_UNKNOWN), "uint16"),
            P("RequestedState", Uint16(vm_map.RS_NOT_APPLICABLE), "uint16"),
            P("EnabledDefault", Uint16(vm_map.ES_ENABLED), "uint16"),
            P("Started", bool(up), "boolean"),
        ]
        if self.health:
            props += [
                P("HealthState", Uint16(5 if up else 0), "uint16"),
                P("OperationalStatus", [Uint16(2 if up else 13)], "uint16", True),
            ]
        return fastinst.instance(self.class_name, props, self.path(backend_id, namespace))

    def instance(self, env: ProviderEnv, backend_id: str, namespace: str) -> CIMInstance:
        up = not env.inventory.is_down(backend_id) if self.health else True
        return self.service_instance(backend_id, namespace, up)


@dataclass(frozen=True)
class HostPart(OnePerHost):
    """A class with one instance per host beside a host's service (its capabilities,
    its default settings): InstanceID ``<backend id>:<suffix>``, an instance per host
    that ``gate(env, backend_id)`` accepts (by default every configured host).
    ``build(env, backend_id, namespace)`` makes the instance; a path that names none
    answers CIM_ERR_NOT_FOUND."""

    class_name: str
    suffix: str
    build: Callable[[ProviderEnv, str, str], CIMInstance]
    #: which hosts have one (default: every configured host)
    gate: Callable[[ProviderEnv, str], bool] | None = None
    missing: ClassVar[str] = "for host"

    def on(self, env: ProviderEnv, backend_id: str) -> bool:
        if self.gate is not None:
            return self.gate(env, backend_id)
        return env.inventory.has_backend(backend_id)

    def instance_id(self, backend_id: str) -> str:
        return f"{backend_id}:{self.suffix}"

    def path(self, backend_id: str, namespace: str | None) -> CIMInstanceName:
        return fastinst.path(
            self.class_name, {"InstanceID": self.instance_id(backend_id)}, namespace
        )

    def parse(self, p: CIMInstanceName) -> str:
        """The backend id a path names (CIM_ERR_NOT_FOUND for others)."""
        iid = cim_paths.keys_of(p).get("instanceid")
        backend_id, sep, suffix = str(iid or "").rpartition(":")
        if p.classname.lower() != self.class_name.lower() or not sep or suffix != self.suffix:
            raise not_found(f"no {self.class_name} with InstanceID {iid!r}")
        return backend_id

    def instance(self, env: ProviderEnv, backend_id: str, namespace: str) -> CIMInstance:
        return self.build(env, backend_id, namespace)


# -- method plumbing -----------------------------------------------------------------------
def audit(call: MethodCall, target: str, outcome: str) -> None:
    """The audit record of a method call on ``target``."""
    call.env.audit(user=call.ctx.user, action=call.method, target=target, outcome=outcome)


def failed(call: MethodCall, exc: VrmError) -> CIMError:
    """A backend failure as the CIM error of its kind, naming the method."""
    err = to_cim_error(exc)
    return CIMError(err.status_code, f"{call.method} failed: {err.status_description}")


def vm_on_host(call: MethodCall, bid: str, value, where: str) -> VirtualMachine:
    """The VM a reference parameter ``where`` names, which must be on the service's host:
    no VM reference CIM_ERR_INVALID_PARAMETER, a VM that does not exist
    CIM_ERR_NOT_FOUND, one of another host CIM_ERR_INVALID_PARAMETER, a host that
    cannot answer the CIM error of its failure."""
    if not isinstance(value, CIMInstanceName):
        raise embedded.bad(where, f"{call.method} needs a reference to a {vm_cls.CLASS}")
    try:
        uuid = vm_cls.parse(value)
    except CIMError:
        raise embedded.bad(where, f"{value} is not a VM of vrmgmt") from None
    inv = call.env.inventory
    try:
        owner = inv.backend_of(uuid)
    except NotFound:
        raise CIMError(pywbem.CIM_ERR_NOT_FOUND, f"{where}: no VM {uuid}") from None
    except VrmError as exc:
        raise failed(call, exc) from None
    if owner != bid:
        raise embedded.bad(where, f"VM {uuid} is on host {owner}, not on {bid}")
    try:
        vm = inv.get_vm(uuid, bid)
        inv.check_fresh(vm, call.method)
    except VrmError as exc:
        raise failed(call, exc) from None
    return vm


def paths_in(outs: dict) -> list[CIMInstanceName]:
    """The instance paths among output parameters (single or in arrays)."""
    found: list[CIMInstanceName] = []
    for v in outs.values():
        for item in v if isinstance(v, list) else [v]:
            if isinstance(item, CIMInstanceName):
                found.append(item)
    return found


def plain(outs: dict) -> dict:
    """Output parameters as a job result records them (paths as text)."""
    out = {}
    for k, v in outs.items():
        if isinstance(v, CIMInstanceName):
            out[k] = str(v)
        elif isinstance(v, list):
            out[k] = [str(x) for x in v]
        else:
            out[k] = v
    return out


def job_result(progress, outs: dict) -> dict:
    """A completed job's result from the method's output parameters: the paths in them
    become the job's affected elements (VRM_AffectedJobElement), recorded as text."""
    for p in paths_in(outs):
        q = p.copy()
        q.host = None
        progress.add_affected(q.to_wbem_uri())
    return {"ReturnValue": vm_map.RC_COMPLETED, **plain(outs)}


def start_job(
    call: MethodCall,
    target: str,
    description: str,
    affected: list[CIMInstanceName],
    work: Callable[..., dict],
) -> tuple:
    """Start ``work(progress)`` (returns the job's result) as a VRM_ConcreteJob: 4096 and
    the Job output. Each step is audited on ``target``: started, completed, or failed
    with the backend's reason (the job then fails with it)."""

    def run(progress):
        progress.update(0, description)
        try:
            result = work(progress)
        except VrmError as exc:
            audit(call, target, f"job failed: {exc}")
            raise
        audit(call, target, "job completed")
        return result

    rv, outs = concrete_job.start(
        call, run, name=call.method, description=description, affected=affected
    )
    audit(call, target, f"job started: {outs['Job']['InstanceID']}")
    return rv, outs


# -- CIM_HostedService ---------------------------------------------------------------------
class HostedServices(Association):
    """A CIM_HostedService association from each host (Antecedent) to the services of
    ``services`` that it has (Dependent). Subclasses set ``class_name``, ``ends`` and
    ``services``; a service path of a host that does not have it, or of none, has no
    far end."""

    services: ClassVar[tuple[HostService, ...]]

    def pairs(self, ctx):
        ns = ctx.namespace
        for bid in self.env.inventory.backend_ids():
            for service in self.services:
                if service.on(self.env, bid):
                    yield host_cls.path(bid, ns), service.path(bid, ns)

    def far(self, ctx, near, path):
        ns = ctx.namespace
        if near.role == "Antecedent":
            try:
                bid = host_cls.parse(path)
            except CIMError:
                return []
            if not self.env.inventory.has_backend(bid):
                return []
            return [s.path(bid, ns) for s in self.services if s.on(self.env, bid)]
        cls = path.classname.lower()
        for service in self.services:
            if cls != service.class_name.lower():
                continue
            try:
                bid = service.parse(path)
            except CIMError:
                return []
            return [host_cls.path(bid, ns)] if service.on(self.env, bid) else []
        return []
