"""Declared associations: a class names its two ends and yields far-end paths; the
operation semantics are implemented here once, for every association.

DSP0200 §5.3.2.8-§5.3.2.11 (Associators, AssociatorNames, References, ReferenceNames)
and DSP0004 §5.1.2.9: Role and ResultRole name the reference properties of the source
and far ends, ResultClass restricts the far (or, for References, the association) class
including its subclasses, AssocClass is applied by the host when it picks the
association classes that can refer to the source object. Pull variants (DSP0200
§5.3.2.20+) reach the same code through the hosts.

An association class module::

    class HostedDependency(Association):
        class_name = CLASS
        ends = (End("Antecedent", host_system), End("Dependent", computer_system))

        def far(self, ctx, near, path):
            ...yield the paths at the other end...

``End.cls`` is the class module of that end (anything with ``CLASS``, and for the
default enumeration ``paths(env, ns)``), or a class name for ends served elsewhere.
Far-end instances come from ``ctx.get_instances(paths)``, which the host answers in bulk
through the owning class; an association may override ``far_instances`` when it has
them at hand already.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any, ClassVar

from pywbem import CIMInstance, CIMInstanceName

from vrmgmt.cim import fastinst, paths
from vrmgmt.cim.errors import describe, not_found
from vrmgmt.cim.provider import Provider, ProviderContext


@dataclass(frozen=True)
class End:
    """One end of an association: its reference property and the class it refers to."""

    role: str
    cls: Any  # class module (has CLASS) or a class name

    @property
    def class_name(self) -> str:
        return self.cls if isinstance(self.cls, str) else self.cls.CLASS

    def fits(self, ctx: ProviderContext, class_name: str) -> bool:
        """Whether an object of class_name can stand at this end."""
        return ctx.is_subclass(class_name, self.class_name)


class Association(Provider):
    """Base of every association class: subclasses set ``class_name`` and ``ends`` and
    implement ``far``; enumeration, GetInstance and the four association operations
    follow from them."""

    class_name: ClassVar[str]
    ends: ClassVar[tuple[End, End]]

    # -- what a class implements ---------------------------------------------------------
    def far(
        self, ctx: ProviderContext, near: End, path: CIMInstanceName
    ) -> Iterable[CIMInstanceName]:
        """Paths at the other end for an object at end ``near`` (its class already fits
        the end). Yield nothing when the object does not exist."""
        raise NotImplementedError

    def pairs(self, ctx: ProviderContext) -> Iterable[tuple[CIMInstanceName, CIMInstanceName]]:
        """Every (ends[0] path, ends[1] path): by default every instance of the first
        end's class and its far ends."""
        first = self.ends[0]
        for a in first.cls.paths(self.env, ctx.namespace):
            for b in self.far(ctx, first, a):
                yield a, b

    def far_instances(
        self,
        ctx: ProviderContext,
        near: End,
        path: CIMInstanceName,
        property_list: list[str] | None,
    ) -> Iterable[CIMInstance]:
        """Far-end instances; by default the far paths resolved in bulk by their class."""
        return ctx.get_instances(self.far(ctx, near, path), property_list)

    # -- instances of the association itself ---------------------------------------------
    def other(self, end: End) -> End:
        return self.ends[1] if end is self.ends[0] else self.ends[0]

    def instance(
        self, ctx: ProviderContext, near: End, a: CIMInstanceName, b: CIMInstanceName
    ) -> CIMInstance:
        """The association instance linking a (at end ``near``) and b (the other end)."""
        refs = {near.role: a, self.other(near).role: b}
        ordered = [(e.role, refs[e.role], e.class_name) for e in self.ends]
        props = [fastinst.prop(r, p, "reference", reference_class=c) for r, p, c in ordered]
        path = fastinst.path(self.class_name, {r: p for r, p, _ in ordered}, ctx.namespace)
        return fastinst.instance(self.class_name, props, path)

    def enum_instances(self, ctx, class_name, property_list) -> Iterator[CIMInstance]:
        first = self.ends[0]
        for a, b in self.pairs(ctx):
            yield self.instance(ctx, first, a, b)

    def get_instance(self, ctx, instance_name, property_list) -> CIMInstance:
        first, second = self.ends
        a = paths.reference_key(instance_name, first.role)
        b = paths.reference_key(instance_name, second.role)
        if first.fits(ctx, a.classname) and second.fits(ctx, b.classname):
            wanted = paths.identity(b)
            for far in self.far(ctx, first, a):
                if paths.identity(far) == wanted:
                    return self.instance(ctx, first, a, far)
        raise not_found(f"no instance {describe(instance_name)}")

    # -- association operations ----------------------------------------------------------
    def _near_ends(self, ctx: ProviderContext, obj: CIMInstanceName, role: str | None) -> list[End]:
        role_l = (role or "").lower()
        return [
            e
            for e in self.ends
            if (not role_l or e.role.lower() == role_l) and e.fits(ctx, obj.classname)
        ]

    def _far_end_ok(
        self, ctx: ProviderContext, end: End, result_class: str | None, result_role: str | None
    ) -> bool:
        if result_role and end.role.lower() != result_role.lower():
            return False
        if result_class:
            # the end's class or one of its subclasses must be able to be a ResultClass
            return ctx.is_subclass(end.class_name, result_class) or ctx.is_subclass(
                result_class, end.class_name
            )
        return True

    def references(self, ctx, assoc_class, object_name, role, property_list):
        for near in self._near_ends(ctx, object_name, role):
            for b in self.far(ctx, near, object_name):
                yield self.instance(ctx, near, object_name, b)

    def associator_names(self, ctx, assoc_class, object_name, result_class, role, result_role):
        for near in self._near_ends(ctx, object_name, role):
            far_end = self.other(near)
            if not self._far_end_ok(ctx, far_end, result_class, result_role):
                continue
            for b in self.far(ctx, near, object_name):
                if not result_class or ctx.is_subclass(b.classname, result_class):
                    yield b

    def associators(
        self, ctx, assoc_class, object_name, result_class, role, result_role, property_list
    ):
        for near in self._near_ends(ctx, object_name, role):
            far_end = self.other(near)
            if not self._far_end_ok(ctx, far_end, result_class, result_role):
                continue
            for inst in self.far_instances(ctx, near, object_name, property_list):
                if not result_class or ctx.is_subclass(inst.classname, result_class):
                    yield inst
