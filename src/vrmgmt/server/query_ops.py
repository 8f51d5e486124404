"""Pull operations (DSP0200 1.4 §5.3.2: OpenEnumerateInstances, OpenEnumerateInstancePaths,
OpenAssociatorInstances/Paths, OpenReferenceInstances/Paths, OpenQueryInstances,
PullInstancesWithPath, PullInstancePaths, PullInstances, CloseEnumeration,
EnumerationCount) and ExecQuery with WQL, as a mixin of the Dispatcher.

Responses carry IRETURNVALUE then the EndOfSequence and EnumerationContext output
parameters (DSP0201 IMETHODRESPONSE). FilterQuery on Open* and ContinueOnError=true are
refused with the DSP0200 status codes; CQL is refused with
CIM_ERR_QUERY_LANGUAGE_NOT_SUPPORTED.
"""

from __future__ import annotations

from collections.abc import Iterator

import pywbem
from pywbem import CIMError, CIMInstance

from vrmgmt.cim import fastinst, wql
from vrmgmt.server import cimxml_writer as xw
from vrmgmt.server.enumctx import DEFAULT_TIMEOUT, MAX_OBJECT_COUNT, MAX_TIMEOUT, EnumContext
from vrmgmt.server.params import _bool, _classname, _property_list, _uint


class QueryOperations:
    """Mixin: needs self.enum_contexts, self.repo and the _iter_* helpers of Dispatcher."""

    # -- common -----------------------------------------------------------------------
    def _open_common(self, params: dict) -> tuple[float, int]:
        if params.get("FilterQueryLanguage") or params.get("FilterQuery"):
            raise CIMError(
                pywbem.CIM_ERR_FILTERED_ENUMERATION_NOT_SUPPORTED,
                "filtered pull enumerations (FilterQuery) are not supported; "
                "use OpenQueryInstances or ExecQuery with WQL",
            )
        if _bool(params, "ContinueOnError", False):
            raise CIMError(
                pywbem.CIM_ERR_CONTINUATION_ON_ERROR_NOT_SUPPORTED,
                "ContinueOnError is not supported",
            )
        timeout = _uint(params, "OperationTimeout", DEFAULT_TIMEOUT)
        if timeout == 0 or timeout > MAX_TIMEOUT:
            raise CIMError(
                pywbem.CIM_ERR_INVALID_OPERATION_TIMEOUT,
                f"OperationTimeout must be 1..{MAX_TIMEOUT} seconds, got {timeout}",
            )
        max_count = _uint(params, "MaxObjectCount", 0, MAX_OBJECT_COUNT)
        return float(timeout), max_count

    def _open(self, ctx, kind: str, items: Iterator, params: dict):
        timeout, max_count = self._open_common(params)
        ectx = self.enum_contexts.open(ctx.namespace, kind, items, timeout, ctx.user)
        ectx.lock.acquire()
        return self._respond_batch(ectx, max_count)

    def _respond_batch(self, ectx: EnumContext, max_count: int):
        try:
            batch, done = ectx.take(max_count)
        except BaseException:
            self.enum_contexts.release(ectx, finished=True)
            raise
        self.enum_contexts.release(ectx, finished=done)
        kind = ectx.kind
        ctx_id = ectx.id

        def body(w: xw.Writer) -> Iterator[None]:
            with w.xf.element("IRETURNVALUE"):
                for item in batch:
                    if kind == "instances":
                        w.instance_with_path(item)
                    elif kind == "paths":
                        w.instance_path(item)
                    else:
                        w.instance(item)
                    yield None
            w.paramvalue("EndOfSequence", "boolean", done)
            w.paramvalue("EnumerationContext", "string", None if done else ctx_id)

        return body

    # -- open ---------------------------------------------------------------------------
    def open_enumerate_instances(self, ctx, params):
        cname = _classname(params, "ClassName", True)
        self.repo.get_class(cname)
        self._open_common(params)  # validate before any provider work
        items = self._iter_instances(
            ctx,
            cname,
            _bool(params, "DeepInheritance", True),
            _property_list(params),
            False,
            _bool(params, "IncludeClassOrigin", False),
        )
        return self._open(ctx, "instances", self._with_ns(ctx, items), params)

    def open_enumerate_instance_paths(self, ctx, params):
        cname = _classname(params, "ClassName", True)
        self.repo.get_class(cname)
        self._open_common(params)
        return self._open(
            ctx, "paths", self._paths_with_ns(ctx, self._iter_paths(ctx, cname)), params
        )

    def open_associator_instances(self, ctx, params, names_only: bool = False):
        args = self._assoc_args(_as_instance_name(params), names_only, False)
        self._open_common(params)
        items = self._iter_associators(ctx, names_only=names_only, **args)
        return self._open(ctx, "paths" if names_only else "instances", items, params)

    def open_associator_instance_paths(self, ctx, params):
        return self.open_associator_instances(ctx, params, names_only=True)

    def open_reference_instances(self, ctx, params, names_only: bool = False):
        args = self._assoc_args(_as_instance_name(params), names_only, True)
        self._open_common(params)
        items = self._iter_references(ctx, names_only=names_only, **args)
        return self._open(ctx, "paths" if names_only else "instances", items, params)

    def open_reference_instance_paths(self, ctx, params):
        return self.open_reference_instances(ctx, params, names_only=True)

    def open_query_instances(self, ctx, params):
        if _bool(params, "ReturnQueryResultClass", False):
            raise CIMError(
                pywbem.CIM_ERR_NOT_SUPPORTED,
                "ReturnQueryResultClass is not supported for WQL queries",
            )
        # DSP0200 names OpenQueryInstances' query FilterQueryLanguage / FilterQuery.
        query = self._parse_query(
            params.get("FilterQueryLanguage", params.get("QueryLanguage")),
            params.get("FilterQuery", params.get("Query")),
        )
        rest = {k: v for k, v in params.items() if k not in ("FilterQueryLanguage", "FilterQuery")}
        self._open_common(rest)
        return self._open(ctx, "query", self._iter_query(ctx, query), rest)

    # -- pull / close ---------------------------------------------------------------------
    def _pull(self, ctx, params, kinds: tuple[str, ...]):
        ctx_id = params.get("EnumerationContext")
        if not isinstance(ctx_id, str) or not ctx_id:
            raise CIMError(
                pywbem.CIM_ERR_INVALID_ENUMERATION_CONTEXT, "EnumerationContext is missing"
            )
        if params.get("MaxObjectCount") is None:
            raise CIMError(pywbem.CIM_ERR_INVALID_PARAMETER, "MaxObjectCount is required")
        max_count = _uint(params, "MaxObjectCount", 0, MAX_OBJECT_COUNT)
        ectx = self.enum_contexts.acquire(ctx_id, ctx.namespace, ctx.user)
        if ectx.kind not in kinds:
            self.enum_contexts.release(ectx, finished=False)
            raise CIMError(
                pywbem.CIM_ERR_INVALID_ENUMERATION_CONTEXT,
                f"enumeration context {ctx_id!r} holds {ectx.kind}, not what this "
                "pull operation returns",
            )
        return self._respond_batch(ectx, max_count)

    def pull_instances_with_path(self, ctx, params):
        return self._pull(ctx, params, ("instances",))

    def pull_instance_paths(self, ctx, params):
        return self._pull(ctx, params, ("paths",))

    def pull_instances(self, ctx, params):
        return self._pull(ctx, params, ("query",))

    def close_enumeration(self, ctx, params):
        ctx_id = params.get("EnumerationContext")
        if not isinstance(ctx_id, str) or not ctx_id:
            raise CIMError(
                pywbem.CIM_ERR_INVALID_ENUMERATION_CONTEXT, "EnumerationContext is missing"
            )
        self.enum_contexts.remove(ctx_id, ctx.namespace, ctx.user)
        return None

    def enumeration_count(self, ctx, params):
        raise CIMError(
            pywbem.CIM_ERR_NOT_SUPPORTED,
            "EnumerationCount is not supported (the count is not known in advance)",
        )

    # -- queries ---------------------------------------------------------------------------
    def _parse_query(self, language, text):
        return wql.compile_query(language, text, self.repo.get_class)

    def _iter_query(self, ctx, query) -> Iterator[CIMInstance]:
        for inst in self._iter_instances(ctx, query.class_name, True, None, False, False):
            if query.matches(inst, self.repo.is_subclass):
                yield query.project(inst)

    def exec_query(self, ctx, params):
        query = self._parse_query(params.get("QueryLanguage"), params.get("Query"))
        items = self._collect(ctx, self._with_ns(ctx, self._iter_query(ctx, query)))
        return xw.ireturn(items, lambda w, i: w.object_with_path(i))

    # -- helpers ---------------------------------------------------------------------------
    def _with_ns(self, ctx, items: Iterator[CIMInstance]) -> Iterator[CIMInstance]:
        for inst in items:
            if inst.path is not None and (inst.path.namespace is None or inst.path.host is None):
                path = inst.path.copy()
                path.namespace = path.namespace or ctx.namespace
                path.host = path.host or self.hostname
                inst = fastinst.with_path(inst, path)
            yield inst

    def _paths_with_ns(self, ctx, paths):
        for p in paths:
            if p.namespace is None or p.host is None:
                p = p.copy()
                p.namespace = p.namespace or ctx.namespace
                p.host = p.host or self.hostname
            yield p


def _as_instance_name(params: dict) -> dict:
    """Open*Associator/Reference take InstanceName where the classic ones take ObjectName."""
    p = dict(params)
    if "InstanceName" in p and "ObjectName" not in p:
        p["ObjectName"] = p.pop("InstanceName")
    return p
