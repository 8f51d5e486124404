"""The Provider interface every CIM host (embedded server, CMPI adapter) calls.

One base class covers instance, association and method operations (the CMPI
Instance/Association/Method MI split, DSP0200 §5.3 intrinsic and extrinsic methods).
Providers receive and return pywbem 1.x objects (CIMInstance, CIMInstanceName,
CIMClassName) and signal failures by raising pywbem.CIMError, or vrmgmt.errors
exceptions which the host maps with vrmgmt.cim.errors.to_cim_error.

A provider module `providers/<Name>.py` exposes `get_providers(env)` returning
`{class_name: provider}`; the same provider object may serve several classes.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pywbem
from pywbem import CIMError

from vrmgmt.cim import paths
from vrmgmt.cim.errors import describe, not_found, not_supported
from vrmgmt.cim.paths import keys_of


@dataclass
class ProviderEnv:
    """What a host hands to `get_providers(env)` once, at load time: the typed services
    every class may use (DESIGN.md "Conventions" 6)."""

    inventory: Any  # vrmgmt.inventory.Inventory
    config: Any = None  # vrmgmt.config.Config
    namespace: str = "root/virt"
    interop_namespace: str = "root/interop"
    logger: logging.Logger = field(default_factory=lambda: logging.getLogger("vrmgmt.provider"))
    #: Records a state change: audit(user, action, target, outcome)
    audit: Callable[..., None] = lambda *a, **k: None
    #: Which host runs the providers: "embedded" (`vrmgmt serve`, which is the CIMOM
    #: and serves the object manager itself) or "cmpi" (inside SFCB/OpenPegasus)
    cimom: str = "embedded"
    #: The name the CIMOM's host is known by (object manager keys); "" = the machine's
    hostname: str = ""
    #: The CIMOM's namespaces (CIM_Namespace); empty = implementation + interop
    namespaces: list[str] = field(default_factory=list)
    #: Where providers deliver indications (vrmgmt.cim.indications.IndicationSink)
    indications: Any = None
    #: Long-running work (vrmgmt.jobs.JobStore); None until the host provides one
    jobs: Any = None
    #: The embedded server's indication service (vrmgmt.server.indications.service):
    #: subscriptions, filters, destinations and delivery settings; None under CMPI,
    #: where the CIMOM's own indication service has them
    indication_service: Any = None
    #: Class modules whose indication source (their ``watch(env)``) runs on this
    #: environment: each starts once (vrmgmt.cim.indications.start_watch)
    watches: set[str] = field(default_factory=set)


@dataclass
class ProviderContext:
    """What a host hands to each call."""

    namespace: str
    user: str | None = None
    #: get_instance(path, property_list=None) -> CIMInstance, routed by the host to
    #: whichever provider serves path.classname (embedded dispatcher or CMPI broker).
    get_instance_cb: Callable[..., pywbem.CIMInstance] | None = None
    #: get_instances(paths, property_list=None) -> iterable of CIMInstance: the same in
    #: bulk; the host groups paths by class and asks each owning provider once.
    get_instances_cb: Callable[..., Iterable[pywbem.CIMInstance]] | None = None
    #: is_subclass(sub, sup) -> bool, answered from the host's class repository.
    is_subclass_cb: Callable[[str, str], bool] | None = None
    #: get_class(name) -> CIMClass (inherited properties included) from the host's class
    #: repository, e.g. to type a MOF embedded instance; CIMError when there is none
    get_class_cb: Callable[[str], pywbem.CIMClass] | None = None
    #: the host streams this result in batches (pull operations): providers should
    #: produce it lazily and not cache it
    bulk: bool = False
    #: the caller's role (vrmgmt.roles: reader/operator/admin), set by the host per
    #: request; None when the host has no roles
    role: str | None = None
    #: scratch space of this one operation, shared by the classes it reaches (e.g. one
    #: backend listing for all subclasses of an enumerated base class); a host makes a
    #: new context, so a new memo, per operation, and nothing in it outlives that
    memo: dict = field(default_factory=dict)

    def get_instance(
        self, path: pywbem.CIMInstanceName, property_list: Iterable[str] | None = None
    ) -> pywbem.CIMInstance:
        if self.get_instance_cb is None:
            raise CIMError(pywbem.CIM_ERR_FAILED, "host offers no cross-provider GetInstance")
        return self.get_instance_cb(path, property_list)

    def get_instances(
        self,
        paths: Iterable[pywbem.CIMInstanceName],
        property_list: Iterable[str] | None = None,
    ) -> Iterator[pywbem.CIMInstance]:
        """The instances the paths name, in bulk (missing ones are left out): each
        owning class answers all its paths at once (one backend call, not one per path)."""
        paths = list(paths)
        if not paths:
            return
        if self.get_instances_cb is not None:
            yield from self.get_instances_cb(paths, property_list)
            return
        for path in paths:
            try:
                yield self.get_instance(path, property_list)
            except CIMError as exc:
                if exc.status_code != pywbem.CIM_ERR_NOT_FOUND:
                    raise

    def get_class(self, name: str) -> pywbem.CIMClass:
        if self.get_class_cb is None:
            raise CIMError(pywbem.CIM_ERR_FAILED, "host offers no class repository")
        return self.get_class_cb(name)

    def is_subclass(self, sub: str, sup: str) -> bool:
        if sub.lower() == sup.lower():
            return True
        if self.is_subclass_cb is None:
            return False
        return self.is_subclass_cb(sub, sup)


MethodResult = tuple[Any, dict[str, Any]]


class Provider:
    """Base for all vrmgmt providers. Override what the class supports; the defaults
    answer CIM_ERR_NOT_SUPPORTED (or derive from other operations where possible)."""

    def __init__(self, env: ProviderEnv):
        self.env = env

    # -- instance operations -------------------------------------------------------
    def enum_instance_names(
        self, ctx: ProviderContext, class_name: str
    ) -> Iterator[pywbem.CIMInstanceName]:
        """Paths of all instances of class_name (exactly that class; the host walks
        subclasses). Default: paths of enum_instances."""
        for inst in self.enum_instances(ctx, class_name, None):
            yield inst.path

    def enum_instances(
        self, ctx: ProviderContext, class_name: str, property_list: list[str] | None
    ) -> Iterator[pywbem.CIMInstance]:
        """All instances of class_name, each with .path set. property_list is a hint
        (the host filters); None means all properties."""
        raise not_supported(f"EnumerateInstances of {class_name}")

    def get_instance(
        self,
        ctx: ProviderContext,
        instance_name: pywbem.CIMInstanceName,
        property_list: list[str] | None,
    ) -> pywbem.CIMInstance:
        """One instance; CIM_ERR_NOT_FOUND if absent. Default: search enum_instances."""
        wanted = paths.identity(instance_name)
        for inst in self.enum_instances(ctx, instance_name.classname, property_list):
            if paths.identity(inst.path) == wanted:
                return inst
        raise not_found(f"no instance {describe(instance_name)}")

    def get_instances(
        self,
        ctx: ProviderContext,
        instance_names: list[pywbem.CIMInstanceName],
        property_list: list[str] | None,
    ) -> Iterator[pywbem.CIMInstance]:
        """The instances of several paths of this provider's classes, leaving out the
        missing ones. Default: one get_instance per path; class providers answer in bulk."""
        for path in instance_names:
            try:
                yield self.get_instance(ctx, path, property_list)
            except CIMError as exc:
                if exc.status_code != pywbem.CIM_ERR_NOT_FOUND:
                    raise

    def create_instance(
        self, ctx: ProviderContext, instance: pywbem.CIMInstance
    ) -> pywbem.CIMInstanceName:
        raise not_supported(f"CreateInstance of {instance.classname}")

    def modify_instance(
        self,
        ctx: ProviderContext,
        instance: pywbem.CIMInstance,
        property_list: list[str] | None,
    ) -> None:
        raise not_supported(f"ModifyInstance of {instance.classname}")

    def delete_instance(self, ctx: ProviderContext, instance_name: pywbem.CIMInstanceName) -> None:
        raise not_supported(f"DeleteInstance of {instance_name.classname}")

    # -- association operations -----------------------------------------------------
    # Association classes derive from vrmgmt.cim.association.Association, which
    # implements these once for every association from its declared ends.
    def references(
        self,
        ctx: ProviderContext,
        assoc_class: str,
        object_name: pywbem.CIMInstanceName,
        role: str | None,
        property_list: list[str] | None,
    ) -> Iterator[pywbem.CIMInstance]:
        """Instances of the association class assoc_class that refer to object_name
        (through the reference property named role, if given)."""
        raise not_supported(f"References through {assoc_class}")

    def associator_names(
        self,
        ctx: ProviderContext,
        assoc_class: str,
        object_name: pywbem.CIMInstanceName,
        result_class: str | None,
        role: str | None,
        result_role: str | None,
    ) -> Iterator[pywbem.CIMInstanceName]:
        """Paths of objects associated with object_name through assoc_class."""
        raise not_supported(f"AssociatorNames through {assoc_class}")

    def associators(
        self,
        ctx: ProviderContext,
        assoc_class: str,
        object_name: pywbem.CIMInstanceName,
        result_class: str | None,
        role: str | None,
        result_role: str | None,
        property_list: list[str] | None,
    ) -> Iterator[pywbem.CIMInstance]:
        """Objects associated with object_name through assoc_class."""
        raise not_supported(f"Associators through {assoc_class}")

    # -- method operations ----------------------------------------------------------
    def invoke_method(
        self,
        ctx: ProviderContext,
        object_name: pywbem.CIMInstanceName | pywbem.CIMClassName,
        method: str,
        params: dict[str, Any],
    ) -> MethodResult:
        """Run an extrinsic method. params: input parameter name -> value (typed by the
        host from the class's method signature). Returns (return value, {out name: value})."""
        raise CIMError(
            pywbem.CIM_ERR_METHOD_NOT_AVAILABLE,
            f"method {method} of {object_name.classname} is not implemented",
        )

    def method_role(self, method: str) -> str | None:
        """The least role (vrmgmt.roles) that may invoke method; None: the host's default
        (admin). Class modules declare it in their method table."""
        return None

    # -- lifecycle --------------------------------------------------------------------
    def cleanup(self) -> None:
        """Called once when the host unloads the provider."""


__all__ = ["MethodResult", "Provider", "ProviderContext", "ProviderEnv", "keys_of"]
