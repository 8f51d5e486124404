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

from vrmgmt.cim.errors import describe, not_supported


@dataclass
class ProviderEnv:
    """What a host hands to `get_providers(env)` once, at load time."""

    inventory: Any  # vrmgmt.inventory.Inventory
    config: Any = None  # vrmgmt.config.Config
    namespace: str = "root/virt"
    interop_namespace: str = "root/interop"
    logger: logging.Logger = field(default_factory=lambda: logging.getLogger("vrmgmt.provider"))
    #: Records a state change: audit(user, action, target, outcome)
    audit: Callable[..., None] = lambda *a, **k: None
    #: Host-specific extras (e.g. the embedded server's class repository)
    extras: dict[str, Any] = field(default_factory=dict)


@dataclass
class ProviderContext:
    """What a host hands to each call."""

    namespace: str
    user: str | None = None
    #: get_instance(path, property_list=None) -> CIMInstance, routed by the host to
    #: whichever provider serves path.classname (embedded dispatcher or CMPI broker).
    get_instance_cb: Callable[..., pywbem.CIMInstance] | None = None
    #: is_subclass(sub, sup) -> bool, answered from the host's class repository.
    is_subclass_cb: Callable[[str, str], bool] | None = None
    #: the host streams this result in batches (pull operations): providers should
    #: produce it lazily and not cache it
    bulk: bool = False
    #: the caller's role (vrmgmt.roles: reader/operator/admin), set by the host per
    #: request; None when the host has no roles
    role: str | None = None

    def get_instance(
        self, path: pywbem.CIMInstanceName, property_list: Iterable[str] | None = None
    ) -> pywbem.CIMInstance:
        if self.get_instance_cb is None:
            raise CIMError(pywbem.CIM_ERR_FAILED, "host offers no cross-provider GetInstance")
        return self.get_instance_cb(path, property_list)

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
        wanted = _normalized_keys(instance_name)
        for inst in self.enum_instances(ctx, instance_name.classname, property_list):
            if _normalized_keys(inst.path) == wanted:
                return inst
        raise CIMError(pywbem.CIM_ERR_NOT_FOUND, f"no instance {describe(instance_name)}")

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
    def references(
        self,
        ctx: ProviderContext,
        assoc_class: str,
        object_name: pywbem.CIMInstanceName,
        role: str | None,
        property_list: list[str] | None,
    ) -> Iterator[pywbem.CIMInstance]:
        """Instances of the association class assoc_class that refer to object_name
        (through the reference property named role, if given). Default: scan
        enum_instances and compare references."""
        target = _normalized_keys(object_name)
        tclass = object_name.classname.lower()
        for assoc in self.enum_instances(ctx, assoc_class, None):
            for pname, prop in assoc.properties.items():
                if prop.type != "reference" or prop.value is None:
                    continue
                if role and pname.lower() != role.lower():
                    continue
                ref = prop.value
                if ref.classname.lower() == tclass and _normalized_keys(ref) == target:
                    yield assoc
                    break

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
        target = _normalized_keys(object_name)
        tclass = object_name.classname.lower()
        for assoc in self.references(ctx, assoc_class, object_name, role, None):
            for pname, prop in assoc.properties.items():
                if prop.type != "reference" or prop.value is None:
                    continue
                if result_role and pname.lower() != result_role.lower():
                    continue
                if role and pname.lower() == role.lower():
                    continue
                ref = prop.value
                if ref.classname.lower() == tclass and _normalized_keys(ref) == target:
                    continue  # the source end
                if result_class and not ctx.is_subclass(ref.classname, result_class):
                    continue
                yield ref

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
        """Objects associated with object_name; default resolves associator_names
        through the host's cross-provider GetInstance."""
        for path in self.associator_names(
            ctx, assoc_class, object_name, result_class, role, result_role
        ):
            try:
                yield ctx.get_instance(path, property_list)
            except CIMError as exc:
                if exc.status_code != pywbem.CIM_ERR_NOT_FOUND:
                    raise

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

    # -- lifecycle --------------------------------------------------------------------
    def cleanup(self) -> None:
        """Called once when the host unloads the provider."""


def keys_of(path: pywbem.CIMInstanceName) -> dict[str, Any]:
    """A path's keybindings by lower-case name (an unnamed key is "")."""
    return {str(k or "").lower(): v for k, v in path.keybindings.items()}


def _normalized_keys(path: pywbem.CIMInstanceName) -> dict[str, Any]:
    """keys_of, with reference keys reduced to comparable tuples."""
    out = keys_of(path)
    for k, v in out.items():
        if isinstance(v, pywbem.CIMInstanceName):
            out[k] = (v.classname.lower(), tuple(sorted(_normalized_keys(v).items())))
    return out
