"""Operation dispatch of the embedded CIMOM: DSP0200 §5.3 intrinsic methods against the
class repository and the registered providers, and §5.4 extrinsic methods
(InvokeMethod), with the operation semantics of DSP0200 (DeepInheritance, PropertyList,
IncludeQualifiers, IncludeClassOrigin, LocalOnly for classes) and DSP0004 status codes.
"""

from __future__ import annotations

import logging
import re
import socket
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import pywbem
from pywbem import CIMClassName, CIMError, CIMInstance, CIMInstanceName

from vrmgmt import roles
from vrmgmt.audit import AuditError
from vrmgmt.cim import paths as cim_paths
from vrmgmt.cim.errors import describe, to_cim_error
from vrmgmt.cim.loader import ProviderTable
from vrmgmt.cim.provider import Provider, ProviderContext
from vrmgmt.server import cimxml_writer as xw
from vrmgmt.server.cimxml_request import Request
from vrmgmt.server.enumctx import EnumContextStore
from vrmgmt.server.params import _bool, _classname, _property_list, _string
from vrmgmt.server.query_ops import QueryOperations
from vrmgmt.server.repository import ClassRepository

log = logging.getLogger(__name__)


@dataclass
class Result:
    """What the HTTP layer streams back: a body writer or an error."""

    method: str
    intrinsic: bool
    body: Any = None  # callable(Writer) -> iterator | None
    error: CIMError | None = None
    cache_key: tuple | None = None  # lets the encoder reuse the last response's encodings


@dataclass
class OpContext(ProviderContext):
    """ProviderContext plus what the host needs per operation."""

    streaming: bool = False


class Dispatcher(QueryOperations):
    def __init__(
        self,
        repo: ClassRepository,
        providers: ProviderTable,
        hostname: str | None = None,
        audit: Any = None,
    ):
        self.repo = repo
        self.providers = providers
        #: AuditLog (or None: nothing recorded); raises AuditError if it cannot write
        self.audit = audit
        self.hostname = hostname or socket.gethostname()
        self.enum_contexts = EnumContextStore()
        self._intrinsic = {
            "getclass": self.get_class,
            "enumerateclasses": self.enumerate_classes,
            "enumerateclassnames": self.enumerate_class_names,
            "getinstance": self.get_instance,
            "enumerateinstances": self.enumerate_instances,
            "enumerateinstancenames": self.enumerate_instance_names,
            "associators": self.associators,
            "associatornames": self.associator_names,
            "references": self.references,
            "referencenames": self.reference_names,
            "createinstance": self.create_instance,
            "modifyinstance": self.modify_instance,
            "deleteinstance": self.delete_instance,
            "getqualifier": self.get_qualifier,
            "enumeratequalifiers": self.enumerate_qualifiers,
            "execquery": self.exec_query,
            "openenumerateinstances": self.open_enumerate_instances,
            "openenumerateinstancepaths": self.open_enumerate_instance_paths,
            "openassociatorinstances": self.open_associator_instances,
            "openassociatorinstancepaths": self.open_associator_instance_paths,
            "openreferenceinstances": self.open_reference_instances,
            "openreferenceinstancepaths": self.open_reference_instance_paths,
            "openqueryinstances": self.open_query_instances,
            "pullinstanceswithpath": self.pull_instances_with_path,
            "pullinstancepaths": self.pull_instance_paths,
            "pullinstances": self.pull_instances,
            "closeenumeration": self.close_enumeration,
            "enumerationcount": self.enumeration_count,
        }
        # Known DSP0200 operations this server does not implement (yet).
        # Known DSP0200 operations this server does not implement.
        self._known = {
            "createclass",
            "modifyclass",
            "deleteclass",
            "setqualifier",
            "deletequalifier",
            "getproperty",
            "setproperty",
        }

    # -- entry point ---------------------------------------------------------------
    def dispatch(
        self,
        req: Request,
        user: str | None,
        streaming: bool = False,
        role: str | None = None,
        client: str | None = None,
    ) -> Result:
        """Run one operation for user with role (None: no role, nothing allowed) from
        client (address). streaming=True lets provider output flow into the response
        lazily (the client accepted a CIMStatusCode trailer for late errors)."""
        needed = self._needed_role(req)
        if needed != roles.READER:  # a change attempt: checked, audited, fail closed
            return self._dispatch_change(req, user, streaming, role, client, needed)
        if not roles.allows(role, needed):
            return Result(req.name, req.kind == "imethod", error=_denied(req, user, role, needed))
        return self._dispatch(req, user, streaming, role)

    # -- roles and audit (issue 14): kept apart from the operations -------------------
    def _needed_role(self, req: Request) -> str:
        """The role an operation needs: intrinsic reads need reader, intrinsic changes
        roles.INSTANCE_CHANGE_ROLE; a method what its class's method table says."""
        if req.kind == "imethod":
            return _needed_role(req)
        cls = getattr(req.target, "classname", "")
        try:
            prov = self.providers.get(cls, self.repo.canonical_namespace(req.namespace))
        except CIMError:
            prov = None
        declared = prov.method_role(req.name) if prov is not None else None
        return declared or roles.method_role(cls, req.name)

    def _dispatch_change(self, req, user, streaming, role, client, needed) -> Result:
        intrinsic = req.kind == "imethod"
        rec = {
            "user": user,
            "client": client,
            "action": req.name,
            "target": _audit_target(req),
            "params": req.params if intrinsic else req.method_params,
        }
        if not roles.allows(role, needed):
            err = _denied(req, user, role, needed)
            self._record(rec, f"refused: {err.status_description}", required=False)
            return Result(req.name, intrinsic, error=err)
        try:
            self._record(rec, "attempted", required=True)
        except AuditError:
            return Result(
                req.name,
                intrinsic,
                error=CIMError(
                    pywbem.CIM_ERR_FAILED,
                    "the operation was not performed: it could not be audited (see the server log)",
                ),
            )
        result = self._dispatch(req, user, streaming, role)
        if result.error is not None:
            e = result.error
            outcome = f"failed: {e.status_code_name} ({e.status_code}): {e.status_description}"
        else:
            rv = getattr(result.body, "return_value", None)
            outcome = "completed" if rv is None else f"completed, return value {rv}"
        self._record(rec, outcome, required=False)
        return result

    def _record(self, rec: dict, outcome: str, required: bool) -> None:
        if self.audit is None:
            return
        try:
            self.audit(outcome=outcome, **rec)
        except AuditError:
            if required:
                raise

    def _dispatch(self, req: Request, user: str | None, streaming: bool, role) -> Result:
        intrinsic = req.kind == "imethod"
        try:
            if req.duplicates:  # DSP0200 §5.3.1: each parameter at most once
                raise CIMError(
                    pywbem.CIM_ERR_INVALID_PARAMETER,
                    f"parameter {req.duplicates[0]} is given more than once",
                )
            ns = self.repo.canonical_namespace(req.namespace)
            ctx = self._context(ns, user)
            ctx.role = role
            ctx.streaming = streaming
            # Pull operations stream large results in batches: providers read lazily
            # and nothing is cached for them.
            ctx.bulk = req.name.lower().startswith(("open", "pull"))
            if intrinsic:
                handler = self._intrinsic.get(req.name.lower())
                if handler is None:
                    if req.name.lower() in self._known:
                        raise CIMError(
                            pywbem.CIM_ERR_NOT_SUPPORTED, f"operation {req.name} is not supported"
                        )
                    raise CIMError(pywbem.CIM_ERR_NOT_SUPPORTED, f"unknown operation {req.name}")
                body = handler(ctx, req.params)
            else:
                body = self.invoke_method(ctx, req)
            key = None if ctx.bulk else getattr(body, "cache_key", None)
            return Result(req.name, intrinsic, body=body, cache_key=key)
        except CIMError as exc:
            return Result(req.name, intrinsic, error=exc)
        except Exception as exc:  # noqa: BLE001 - never a traceback to the client
            log.exception("%s failed", req.name)
            return Result(req.name, intrinsic, error=to_cim_error(exc))

    def _context(self, ns: str, user: str | None) -> OpContext:
        def get_instance_cb(path: CIMInstanceName, property_list=None) -> CIMInstance:
            target_ns = self.repo.canonical_namespace(path.namespace or ns)
            prov = self._provider_for(path.classname, target_ns)
            if prov is None:
                raise CIMError(pywbem.CIM_ERR_NOT_FOUND, f"no provider for {path.classname}")
            return prov.get_instance(self._context(target_ns, user), path, property_list)

        def get_instances_cb(paths_, property_list=None) -> Iterator[CIMInstance]:
            """Grouped by (namespace, class): each owning provider answers in bulk."""
            groups: dict[tuple[str, str], list[CIMInstanceName]] = {}
            for path in paths_:
                target_ns = self.repo.canonical_namespace(path.namespace or ns)
                groups.setdefault((target_ns, path.classname.lower()), []).append(path)
            for (target_ns, _), group in groups.items():
                prov = self._provider_for(group[0].classname, target_ns)
                if prov is None:
                    continue
                yield from prov.get_instances(self._context(target_ns, user), group, property_list)

        return OpContext(
            namespace=ns,
            user=user,
            get_instance_cb=get_instance_cb,
            get_instances_cb=get_instances_cb,
            is_subclass_cb=self.repo.is_subclass,
            get_class_cb=self.repo.get_class,
        )

    def _provider_for(self, class_name: str, ns: str) -> Provider | None:
        return self.providers.get(class_name, ns)

    # -- classes -----------------------------------------------------------------
    def _class_view(
        self,
        cls: pywbem.CIMClass,
        local_only: bool,
        iq: bool,
        ico: bool,
        plist: list[str] | None = None,
    ) -> pywbem.CIMClass:
        # CIMClass.copy() shares the member objects: copy each one we change, so the
        # repository's classes are never mutated.
        c = pywbem.CIMClass(
            cls.classname,
            superclass=cls.superclass,
            qualifiers=cls.qualifiers if iq else None,
            path=cls.path,
        )
        wanted = {p.lower() for p in plist} if plist is not None else None
        for src, dst in ((cls.properties, c.properties), (cls.methods, c.methods)):
            for name, member in src.items():
                if local_only and member.propagated:
                    continue
                if wanted is not None and dst is c.properties and name.lower() not in wanted:
                    continue
                member = member.copy()
                if not ico:
                    member.class_origin = None
                    member.propagated = None
                if not iq:
                    member.qualifiers = {}
                    if isinstance(member, pywbem.CIMMethod):
                        params = {}
                        for pname, par in member.parameters.items():
                            par = par.copy()  # shared with the repository otherwise
                            par.qualifiers = {}
                            params[pname] = par
                        member.parameters = params
                dst[name] = member
        return c

    def _write_class(self, w: xw.Writer, cls: pywbem.CIMClass) -> None:
        w.raw(xw.explicit_end_tags(cls.tocimxmlstr()))

    def get_class(self, ctx, params):
        name = _classname(params, "ClassName", True)
        cls = self._class_view(
            self.repo.get_class(name),
            _bool(params, "LocalOnly", True),
            _bool(params, "IncludeQualifiers", True),
            _bool(params, "IncludeClassOrigin", False),
            _property_list(params),
        )

        def body(w):
            with w.xf.element("IRETURNVALUE"):
                self._write_class(w, cls)

        return body

    def enumerate_classes(self, ctx, params):
        parent = _classname(params, "ClassName", False)
        deep = _bool(params, "DeepInheritance", False)
        lo, iq = _bool(params, "LocalOnly", True), _bool(params, "IncludeQualifiers", True)
        ico = _bool(params, "IncludeClassOrigin", False)
        names = self.repo.class_names(parent, deep)
        classes = [self._class_view(self.repo.get_class(n), lo, iq, ico) for n in names]
        return xw.ireturn(classes, self._write_class)

    def enumerate_class_names(self, ctx, params):
        parent = _classname(params, "ClassName", False)
        names = self.repo.class_names(parent, _bool(params, "DeepInheritance", False))

        def write(w, n):
            with w.xf.element("CLASSNAME", NAME=n):
                pass

        return xw.ireturn(names, write)

    def get_qualifier(self, ctx, params):
        name = _string(params, "QualifierName")
        if not name:
            raise CIMError(pywbem.CIM_ERR_INVALID_PARAMETER, "missing parameter QualifierName")
        q = self.repo.get_qualifier(name)

        def body(w):
            with w.xf.element("IRETURNVALUE"):
                w.raw(_qualifier_decl_xml(q))

        return body

    def enumerate_qualifiers(self, ctx, params):
        return xw.ireturn(
            self.repo.qualifier_declarations(), lambda w, q: w.raw(_qualifier_decl_xml(q))
        )

    # -- instances -----------------------------------------------------------------
    def _served_classes(self, class_name: str, ns: str, deep_only_registered=True) -> list[str]:
        """The requested class and its subclasses that have a provider, in order."""
        self.repo.get_class(class_name)
        candidates = [class_name, *self.repo.class_names(class_name, True)]
        return [c for c in candidates if self._provider_for(c, ns) is not None]

    def _filter(self, requested_class: str, deep: bool, plist: list[str] | None) -> set[str] | None:
        """Lower-case property names allowed in the result, None = all."""
        allowed: set[str] | None = None
        if not deep:
            allowed = {p.lower() for p in self.repo.get_class(requested_class).properties}
        if plist is not None:
            wanted = {p.lower() for p in plist}
            allowed = wanted if allowed is None else allowed & wanted
        return allowed

    def _conform(
        self, inst: CIMInstance, allowed: set[str] | None, iq: bool, ico: bool
    ) -> CIMInstance:
        """Drop properties the class does not declare or the request excludes; add
        qualifiers / class origin from the class when asked."""
        cls = self.repo.get_class(inst.classname)
        declared = cls.properties
        out = CIMInstance(inst.classname, path=inst.path)
        for name, prop in inst.properties.items():
            lname = name.lower()
            if allowed is not None and lname not in allowed:
                continue
            decl = declared.get(name)
            if decl is None:
                continue
            if iq or ico:
                prop = prop.copy()
                if iq:
                    prop.qualifiers = decl.qualifiers
                if ico:
                    prop.class_origin = decl.class_origin
                    prop.propagated = decl.propagated
            out.properties[decl.name] = prop
        return out

    def _iter_instances(
        self, ctx, cname: str, deep: bool, plist, iq: bool, ico: bool
    ) -> Iterator[CIMInstance]:
        """Instances of cname (and subclasses with providers), conformed to the request;
        lazy, so a pull enumeration streams from the providers."""
        allowed = self._filter(cname, deep, plist)
        simple = allowed is None and not iq and not ico
        for c in self._served_classes(cname, ctx.namespace):
            items = self._provider_for(c, ctx.namespace).enum_instances(ctx, c, plist)
            if simple:
                yield from self._strip_undeclared(items)
            else:
                for inst in items:
                    yield self._conform(inst, allowed, iq, ico)

    def _iter_paths(self, ctx, cname: str) -> Iterator[CIMInstanceName]:
        for c in self._served_classes(cname, ctx.namespace):
            yield from self._provider_for(c, ctx.namespace).enum_instance_names(ctx, c)

    @staticmethod
    def _collect(ctx, items: Iterable) -> Iterable:
        """Materialise provider output before answering, so a provider failure becomes
        a CIM error response; streamed when the client accepts trailers."""
        return items if getattr(ctx, "streaming", False) else list(items)

    def enumerate_instances(self, ctx, params):
        cname = _classname(params, "ClassName", True)
        deep = _bool(params, "DeepInheritance", True)
        plist = _property_list(params)
        iq, ico = (
            _bool(params, "IncludeQualifiers", False),
            _bool(params, "IncludeClassOrigin", False),
        )
        items = self._iter_instances(ctx, cname, deep, plist, iq, ico)
        body = xw.ireturn(self._collect(ctx, items), lambda w, i: w.named_instance(i))
        if plist is None and not iq and not ico:  # providers' own instances, unchanged
            body.cache_key = (ctx.namespace, cname.lower(), deep)
        return body

    def _strip_undeclared(self, insts: Iterable[CIMInstance]) -> Iterator[CIMInstance]:
        ok: dict[str, bool] = {}
        for inst in insts:
            key = inst.classname.lower()
            if key not in ok:
                declared = self.repo.get_class(inst.classname).properties
                ok[key] = all(n in declared for n in inst.properties)
                if not ok[key]:
                    log.warning(
                        "provider for %s returns undeclared properties: %s",
                        inst.classname,
                        [n for n in inst.properties if n not in declared],
                    )
            yield inst if ok[key] else self._conform(inst, None, False, False)

    def enumerate_instance_names(self, ctx, params):
        cname = _classname(params, "ClassName", True)
        paths = self._collect(ctx, self._iter_paths(ctx, cname))
        return xw.ireturn(paths, lambda w, p: w.instancename(p))

    def _instance_name(self, params: dict, name: str) -> CIMInstanceName:
        v = params.get(name)
        if not isinstance(v, CIMInstanceName):
            raise CIMError(pywbem.CIM_ERR_INVALID_PARAMETER, f"{name} must be an instance name")
        return v

    def _fetch(self, ctx, path: CIMInstanceName, plist) -> CIMInstance:
        if not self.repo.has_class(path.classname):
            raise CIMError(pywbem.CIM_ERR_INVALID_CLASS, f"class {path.classname!r} does not exist")
        prov = self._provider_for(path.classname, ctx.namespace)
        if prov is None:
            raise CIMError(
                pywbem.CIM_ERR_NOT_FOUND, f"no instance {describe(path)} (class has no provider)"
            )
        p = path.copy()
        p.namespace = ctx.namespace
        return prov.get_instance(ctx, p, plist)

    def get_instance(self, ctx, params):
        path = self._instance_name(params, "InstanceName")
        plist = _property_list(params)
        iq, ico = (
            _bool(params, "IncludeQualifiers", False),
            _bool(params, "IncludeClassOrigin", False),
        )
        inst = self._fetch(ctx, path, plist)
        inst = self._conform(inst, self._filter(inst.classname, True, plist), iq, ico)

        def body(w):
            with w.xf.element("IRETURNVALUE"):
                w.instance(inst)

        return body

    def create_instance(self, ctx, params):
        inst = params.get("NewInstance")
        if not isinstance(inst, CIMInstance):
            raise CIMError(pywbem.CIM_ERR_INVALID_PARAMETER, "NewInstance must be an instance")
        self.repo.get_class(inst.classname)
        prov = self._provider_for(inst.classname, ctx.namespace)
        if prov is None:
            raise CIMError(
                pywbem.CIM_ERR_NOT_SUPPORTED, f"CreateInstance of {inst.classname} is not supported"
            )
        path = prov.create_instance(ctx, inst)

        def body(w):
            with w.xf.element("IRETURNVALUE"):
                w.instancename(path)

        return body

    def modify_instance(self, ctx, params):
        named = params.get("ModifiedInstance")
        if not isinstance(named, CIMInstance) or named.path is None:
            raise CIMError(
                pywbem.CIM_ERR_INVALID_PARAMETER, "ModifiedInstance must be a named instance"
            )
        self.repo.get_class(named.classname)
        prov = self._provider_for(named.classname, ctx.namespace)
        if prov is None:
            raise CIMError(
                pywbem.CIM_ERR_NOT_SUPPORTED,
                f"ModifyInstance of {named.classname} is not supported",
            )
        prov.modify_instance(ctx, named, _property_list(params))
        return None

    def delete_instance(self, ctx, params):
        path = self._instance_name(params, "InstanceName")
        self.repo.get_class(path.classname)
        prov = self._provider_for(path.classname, ctx.namespace)
        if prov is None:
            raise CIMError(
                pywbem.CIM_ERR_NOT_SUPPORTED, f"DeleteInstance of {path.classname} is not supported"
            )
        p = path.copy()
        p.namespace = ctx.namespace
        prov.delete_instance(ctx, p)
        return None

    # -- associations ----------------------------------------------------------------
    def _object_name(self, params) -> CIMInstanceName | CIMClassName:
        v = params.get("ObjectName")
        if isinstance(v, CIMInstanceName | CIMClassName):
            if not self.repo.has_class(v.classname):
                raise CIMError(
                    pywbem.CIM_ERR_INVALID_PARAMETER,
                    f"ObjectName names class {v.classname!r}, which does not exist",
                )
            return v
        raise CIMError(
            pywbem.CIM_ERR_INVALID_PARAMETER, "ObjectName must be a class or instance name"
        )

    def _check_class_param(self, params, name) -> str | None:
        c = _classname(params, name, False)
        if c is not None and not self.repo.has_class(c):
            raise CIMError(pywbem.CIM_ERR_INVALID_PARAMETER, f"{name} {c!r} does not exist")
        return c

    def _assoc_classes(self, ns: str, obj_class: str, filter_class: str | None) -> list[str]:
        """Association classes with a provider that can refer to obj_class."""
        out = []
        for c in self.providers.classes(ns):
            cls = self.repo.get_class(c)
            if not cls.qualifiers.get("Association"):
                continue
            if filter_class and not self.repo.is_subclass(c, filter_class):
                continue
            for p in cls.properties.values():
                if (
                    p.type == "reference"
                    and p.reference_class
                    and (
                        self.repo.is_subclass(obj_class, p.reference_class)
                        or self.repo.is_subclass(p.reference_class, obj_class)
                    )
                ):
                    out.append(c)
                    break
        return out

    def _assoc_args(self, params, names_only: bool, references: bool) -> dict:
        obj = self._object_name(params)
        if isinstance(obj, CIMClassName):
            raise CIMError(
                pywbem.CIM_ERR_NOT_SUPPORTED, "class-level association operations are not supported"
            )
        args = {
            "path": obj,
            "role": _string(params, "Role"),
            "result_class": self._check_class_param(params, "ResultClass"),
            "plist": None if names_only else _property_list(params),
            "iq": False if names_only else _bool(params, "IncludeQualifiers", False),
            "ico": False if names_only else _bool(params, "IncludeClassOrigin", False),
        }
        if not references:
            args["assoc"] = self._check_class_param(params, "AssocClass")
            args["result_role"] = _string(params, "ResultRole")
        return args

    def _iter_associators(
        self,
        ctx,
        path,
        assoc=None,
        result_class=None,
        role=None,
        result_role=None,
        plist=None,
        iq=False,
        ico=False,
        names_only=False,
    ) -> Iterator:
        path = path.copy()
        path.namespace = ctx.namespace
        seen: set = set()
        for ac in self._assoc_classes(ctx.namespace, path.classname, assoc):
            prov = self._provider_for(ac, ctx.namespace)
            if names_only:
                items = prov.associator_names(ctx, ac, path, result_class, role, result_role)
            else:
                items = prov.associators(ctx, ac, path, result_class, role, result_role, plist)
            for item in items:
                p = item if names_only else item.path
                if result_class and not self.repo.is_subclass(p.classname, result_class):
                    continue
                key = cim_paths.identity(p)
                if key in seen:
                    continue
                seen.add(key)
                yield self._finish_assoc_item(ctx, item, names_only, plist, iq, ico)

    def _iter_references(
        self,
        ctx,
        path,
        result_class=None,
        role=None,
        plist=None,
        iq=False,
        ico=False,
        names_only=False,
    ) -> Iterator:
        path = path.copy()
        path.namespace = ctx.namespace
        for ac in self._assoc_classes(ctx.namespace, path.classname, result_class):
            prov = self._provider_for(ac, ctx.namespace)
            for inst in prov.references(ctx, ac, path, role, plist):
                yield self._finish_assoc_item(
                    ctx, inst.path if names_only else inst, names_only, plist, iq, ico
                )

    def _finish_assoc_item(self, ctx, item, names_only, plist, iq, ico):
        if names_only:
            p = item.copy()
            p.namespace = p.namespace or ctx.namespace
            p.host = p.host or self.hostname
            return p
        inst = self._conform(item, self._filter(item.classname, True, plist), iq, ico)
        p = item.path.copy()
        p.namespace = p.namespace or ctx.namespace
        p.host = p.host or self.hostname
        inst.path = p
        return inst

    @staticmethod
    def _assoc_response(items, names_only: bool):
        if names_only:
            return xw.ireturn(items, lambda w, p: w.object_path(p))
        return xw.ireturn(items, lambda w, i: w.object_with_path(i))

    def associators(self, ctx, params, names_only: bool = False):
        args = self._assoc_args(params, names_only, False)
        items = self._iter_associators(ctx, names_only=names_only, **args)
        return self._assoc_response(self._collect(ctx, items), names_only)

    def associator_names(self, ctx, params):
        return self.associators(ctx, params, names_only=True)

    def references(self, ctx, params, names_only: bool = False):
        args = self._assoc_args(params, names_only, True)
        items = self._iter_references(ctx, names_only=names_only, **args)
        return self._assoc_response(self._collect(ctx, items), names_only)

    def reference_names(self, ctx, params):
        return self.references(ctx, params, names_only=True)

    # -- extrinsic methods -------------------------------------------------------------
    def invoke_method(self, ctx, req: Request):
        target = req.target
        cls = self.repo.get_class(target.classname)
        method = cls.methods.get(req.name)
        if method is None:
            raise CIMError(
                pywbem.CIM_ERR_METHOD_NOT_FOUND, f"class {cls.classname} has no method {req.name}"
            )
        params = self._typed_params(method, req.method_params)
        prov = self._provider_for(target.classname, ctx.namespace)
        if prov is None:
            raise CIMError(
                pywbem.CIM_ERR_NOT_SUPPORTED,
                f"no provider implements {cls.classname}.{method.name}",
            )
        path = target.copy()
        path.namespace = ctx.namespace
        if isinstance(path, CIMInstanceName) and path.host:
            path.host = None
        ret, outs = prov.invoke_method(ctx, path, method.name, params)
        if ret is not None and method.return_type:
            ret = pywbem.cimvalue(ret, method.return_type)
        out_params = []
        for name, value in (outs or {}).items():
            if isinstance(value, pywbem.CIMParameter):  # typed by the provider (CMPI needs
                value = value.value  # it for empty arrays); here the MOF types it
            decl = method.parameters.get(name)
            ptype = decl.type if decl is not None else None
            if (
                decl is not None
                and decl.qualifiers.get("OUT") is not None
                and not decl.qualifiers["OUT"].value
            ):
                continue
            out_params.append(
                (
                    decl.name if decl else name,
                    ptype,
                    value,
                    decl.is_array if decl else isinstance(value, list),
                )
            )
        return_type = method.return_type

        def body(w):
            xf = w.xf
            if ret is not None:
                with xf.element("RETURNVALUE", PARAMTYPE=return_type):
                    with xf.element("VALUE"):
                        xf.write(xw.value_text(ret))
            for name, ptype, value, is_array in out_params:
                attrs = {"NAME": name}
                if ptype:
                    attrs["PARAMTYPE"] = ptype
                if value is None:
                    continue  # a NULL output parameter is omitted (wbemcli crashes on one)
                sample = value[0] if is_array and value else value
                if isinstance(sample, CIMInstance):  # DSP0201 §5.2.10: an embedded instance
                    attrs["EmbeddedObject"] = "instance"
                with xf.element("PARAMVALUE", attrs):
                    if is_array and (ptype == "reference" or isinstance(sample, CIMInstanceName)):
                        with xf.element("VALUE.REFARRAY"):  # DSP0201 §5.2.4
                            for item in value:
                                w.value_reference(item)
                    elif is_array:
                        with xf.element("VALUE.ARRAY"):
                            for item in value:
                                with xf.element("VALUE"):
                                    xf.write(xw.value_text(item))
                    elif ptype == "reference" or isinstance(value, CIMInstanceName):
                        w.value_reference(value)
                    else:
                        w.value(value, ptype or "string")

        body.return_value = ret  # for the audit record
        return body

    def _typed_params(self, method: pywbem.CIMMethod, raw: dict) -> dict[str, Any]:
        """Type PARAMVALUEs from the method signature (wbemcli sends no PARAMTYPE)."""
        out: dict[str, Any] = {}
        for name, (_ptype, value) in raw.items():
            decl = method.parameters.get(name)
            if decl is None:
                raise CIMError(
                    pywbem.CIM_ERR_INVALID_PARAMETER,
                    f"method {method.name} has no parameter {name}",
                )
            out[decl.name] = _convert_param(decl, value)
        return out


def _convert_param(decl: pywbem.CIMParameter, value: Any) -> Any:
    if value is None:
        return None
    if decl.type == "reference":
        if decl.is_array:
            if not isinstance(value, list) or not all(
                isinstance(v, CIMInstanceName | CIMClassName) for v in value
            ):
                raise CIMError(
                    pywbem.CIM_ERR_INVALID_PARAMETER,
                    f"parameter {decl.name} must be an array of references",
                )
            return value
        if not isinstance(value, CIMInstanceName | CIMClassName):
            raise CIMError(
                pywbem.CIM_ERR_INVALID_PARAMETER, f"parameter {decl.name} must be a reference"
            )
        return value
    try:
        if decl.is_array:
            if not isinstance(value, list):
                value = [value]
            return [None if v is None else _scalar(decl, v) for v in value]
        if isinstance(value, list):
            raise ValueError("an array was given for a scalar parameter")
        return _scalar(decl, value)
    except (ValueError, TypeError) as exc:
        raise CIMError(
            pywbem.CIM_ERR_INVALID_PARAMETER,
            f"parameter {decl.name}: {value!r} is not a valid {decl.type}"
            f"{'[]' if decl.is_array else ''} ({exc})",
        ) from None


def _scalar(decl: pywbem.CIMParameter, v: Any) -> Any:
    if decl.embedded_object or isinstance(v, CIMInstance | pywbem.CIMClass):
        return v
    if isinstance(v, str):
        v = v.strip(" \t\r\n") if decl.type not in ("string", "char16") else v
        if decl.type == "boolean":
            low = v.lower()
            if low not in ("true", "false"):
                raise ValueError("expected TRUE or FALSE")
            return low == "true"
        if decl.type in ("real32", "real64"):
            if not _REAL.fullmatch(v):
                raise ValueError("not an ASCII real number (DSP0201)")
            return pywbem.cimvalue(float(v), decl.type)
        if decl.type.startswith(("uint", "sint")):
            if not _DECIMAL.fullmatch(v):
                raise ValueError("integers are ASCII decimal digits (DSP0201)")
            return pywbem.cimvalue(int(v), decl.type)
    return pywbem.cimvalue(v, decl.type)


# DSP0201 §3.2.x value formats: integers in decimal, reals as XML Schema float/double;
# Python's int()/float() would also take "1_0", non-ASCII digits and hex.
_DECIMAL = re.compile(r"[+-]?[0-9]+", re.ASCII)
_REAL = re.compile(r"[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)([eE][+-]?[0-9]+)?|[+-]?INF|NaN", re.ASCII)


#: intrinsic operations that change nothing (DSP0200 §5.3); every other one (Create/
#: Modify/DeleteInstance, and class/qualifier/property writes should they ever be
#: implemented) needs roles.INSTANCE_CHANGE_ROLE and is audited
_READ_OPS = {
    "getclass", "enumerateclasses", "enumerateclassnames", "getinstance",
    "enumerateinstances", "enumerateinstancenames", "associators", "associatornames",
    "references", "referencenames", "getqualifier", "enumeratequalifiers", "execquery",
    "getproperty", "openenumerateinstances", "openenumerateinstancepaths",
    "openassociatorinstances", "openassociatorinstancepaths", "openreferenceinstances",
    "openreferenceinstancepaths", "openqueryinstances", "pullinstanceswithpath",
    "pullinstancepaths", "pullinstances", "closeenumeration", "enumerationcount",
}  # fmt: skip


def _needed_role(req: Request) -> str:
    """The role an operation needs (roles.py holds the table of methods)."""
    if req.kind == "imethod":
        return roles.READER if req.name.lower() in _READ_OPS else roles.INSTANCE_CHANGE_ROLE
    return roles.method_role(getattr(req.target, "classname", ""), req.name)


def _denied(req: Request, user, role, needed: str) -> CIMError:
    what = req.name
    if req.kind != "imethod":
        what = f"{getattr(req.target, 'classname', '?')}.{req.name}"
    return CIMError(
        pywbem.CIM_ERR_ACCESS_DENIED,
        f"{what} needs role {needed}; user {user or '-'} has role {role or 'none'}",
    )


def _audit_target(req: Request) -> str:
    if req.kind != "imethod":
        return describe(req.target)
    for key in ("InstanceName", "ModifiedInstance", "NewInstance"):
        v = req.params.get(key)
        if isinstance(v, CIMInstance):
            return describe(v.path if v.path is not None else v.classname)
        if v is not None:
            return describe(v)
    return req.namespace


def _qualifier_decl_xml(q: pywbem.CIMQualifierDeclaration):
    """QUALIFIER.DECLARATION with a normalised SCOPE (pywbem writes an invalid
    ANY="false" attribute for MOF-loaded declarations)."""
    elem = xw.explicit_end_tags(q.tocimxmlstr())
    for scope in elem.iter("SCOPE"):
        if "ANY" in scope.attrib:
            any_v = scope.attrib.pop("ANY")
            if any_v.lower() == "true":
                for k in (
                    "CLASS",
                    "ASSOCIATION",
                    "REFERENCE",
                    "PROPERTY",
                    "METHOD",
                    "PARAMETER",
                    "INDICATION",
                ):
                    scope.attrib[k] = "true"
    return elem
