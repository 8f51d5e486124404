"""Serving class modules: the Provider a host calls, built from a class module.

A class module (``vrmgmt/classes/<area>/<class>.py``) owns one CIM class. An instance
class module has::

    CLASS = "PFX_Something"
    def path(...) -> CIMInstanceName            # the only place its paths are built
    def parse(path) -> ...                       # the only place its keys are read
    def instances(env, ns, paths=None, *, bulk=False[, ctx=None]) -> Iterator[CIMInstance]
    def paths(env, ns) -> Iterator[CIMInstanceName]    # optional, cheaper than instances
    METHODS = MethodTable()                            # optional, extrinsic methods
    def create(env, ctx, instance) / modify(env, ctx, instance, property_list)
        / delete(env, ctx, path)                       # optional intrinsic changes

``instances`` with ``paths`` answers all of them at once and leaves out the ones that
do not exist (for a single path it may raise a CIM error naming the problem); without
``paths`` it yields every instance, lazily when ``bulk`` (a pull enumeration streams it:
no caching). An ``instances`` that takes ``ctx`` gets the operation's ProviderContext for
an enumeration (its ``memo`` is shared by the classes of one operation). An association
class module has a ``provider`` class (an ``association.Association``) instead.

A module may set ``READ_ROLE`` (vrmgmt.roles) when reading its instances needs more
than the reader role (the audit records: admin). Below that role (where the host has
roles) GetInstance is refused with CIM_ERR_ACCESS_DENIED and enumerations leave the
class out (an enumeration of a base class such as CIM_ManagedElement still works).

A provider module (providers/<Name>.py) then is one line per class::

    def get_providers(env):
        return serve(env, host_system, hosted_dependency)
"""

from __future__ import annotations

import inspect
from collections.abc import Iterator
from types import ModuleType
from typing import Any

import pywbem
from pywbem import CIMError, CIMInstance, CIMInstanceName

from vrmgmt import roles
from vrmgmt.cim.errors import describe, not_found, not_supported
from vrmgmt.cim.indications import start_watch
from vrmgmt.cim.methods import MethodTable
from vrmgmt.cim.provider import MethodResult, Provider, ProviderContext, ProviderEnv


def may_read(ctx: ProviderContext, needed: str | None) -> bool:
    """Whether the caller's role may read a class that needs role `needed` (None: any)."""
    return needed is None or ctx.role is None or roles.allows(ctx.role, needed)


def check_read_role(ctx: ProviderContext, needed: str | None, class_name: str) -> None:
    """CIM_ERR_ACCESS_DENIED when the caller's role may not read class_name (a host
    without roles, ctx.role None, leaves access control to the CIMOM)."""
    if may_read(ctx, needed):
        return
    raise CIMError(
        pywbem.CIM_ERR_ACCESS_DENIED,
        f"reading {class_name} needs the {needed} role (yours: {ctx.role})",
    )


class ClassProvider(Provider):
    """The Provider of one instance class module."""

    def __init__(self, env: ProviderEnv, module: ModuleType):
        super().__init__(env)
        self.module = module
        self.class_name: str = module.CLASS
        self.methods: MethodTable | None = getattr(module, "METHODS", None)
        instances = getattr(module, "instances", None)
        self._wants_ctx = instances is not None and "ctx" in inspect.signature(instances).parameters
        self.read_role: str | None = getattr(module, "READ_ROLE", None)

    def __repr__(self) -> str:
        return f"<ClassProvider {self.class_name}>"

    def enum_instance_names(
        self, ctx: ProviderContext, class_name: str
    ) -> Iterator[CIMInstanceName]:
        if not may_read(ctx, self.read_role):
            return
        paths = getattr(self.module, "paths", None)
        if paths is not None:
            yield from paths(self.env, ctx.namespace)
        else:
            for inst in self.module.instances(self.env, ctx.namespace, bulk=ctx.bulk):
                yield inst.path

    def enum_instances(self, ctx, class_name, property_list) -> Iterator[CIMInstance]:
        if not may_read(ctx, self.read_role):
            return iter(())
        if self._wants_ctx:
            return self.module.instances(self.env, ctx.namespace, bulk=ctx.bulk, ctx=ctx)
        return self.module.instances(self.env, ctx.namespace, bulk=ctx.bulk)

    def get_instance(self, ctx, instance_name, property_list) -> CIMInstance:
        check_read_role(ctx, self.read_role, self.class_name)
        for inst in self.module.instances(self.env, ctx.namespace, [instance_name]):
            return inst
        raise not_found(f"no instance {describe(instance_name)}")

    def get_instances(self, ctx, instance_names, property_list) -> Iterator[CIMInstance]:
        check_read_role(ctx, self.read_role, self.class_name)
        if instance_names:
            yield from self.module.instances(self.env, ctx.namespace, list(instance_names))

    def invoke_method(self, ctx, object_name, method, params) -> MethodResult:
        if self.methods is None or method not in self.methods:
            return super().invoke_method(ctx, object_name, method, params)
        return self.methods.invoke(self.env, ctx, object_name, method, params)

    def method_role(self, method: str) -> str | None:
        m = self.methods.get(method) if self.methods is not None else None
        return m.role if m is not None else None

    def create_instance(self, ctx, instance) -> CIMInstanceName:
        return self._hook("create", f"CreateInstance of {self.class_name}")(self.env, ctx, instance)

    def modify_instance(self, ctx, instance, property_list) -> None:
        self._hook("modify", f"ModifyInstance of {self.class_name}")(
            self.env, ctx, instance, property_list
        )

    def delete_instance(self, ctx, instance_name) -> None:
        self._hook("delete", f"DeleteInstance of {self.class_name}")(self.env, ctx, instance_name)

    # -- indications: a module's watch(env) starts its event source once ------------------
    def enable_indications(self, ctx) -> None:
        start_watch(self.env, self.module)

    def cleanup(self) -> None:
        """Stops the event source a module's watch(env) started, if it has unwatch(env)."""
        unwatch = getattr(self.module, "unwatch", None)
        if unwatch is not None and getattr(self, "_watching", False):
            self._watching = False
            unwatch(self.env)

    def _hook(self, name: str, what: str) -> Any:
        fn = getattr(self.module, name, None)
        if fn is None:
            raise not_supported(what)
        return fn


def provider_for(env: ProviderEnv, module: ModuleType) -> Provider:
    """The Provider serving a class module."""
    assoc = getattr(module, "provider", None)
    return assoc(env) if assoc is not None else ClassProvider(env, module)


def serve(env: ProviderEnv, *modules: ModuleType) -> dict[str, Provider]:
    """``{class name: provider}`` for a provider module's get_providers(env)."""
    return {m.CLASS: provider_for(env, m) for m in modules}
