"""Test double of the C side of cmpi-bindings, plus a minimal CIMOM (MB) around it.

Mirrors kkaempf/cmpi-bindings:

* src/cmpi_provider.c -- the CMPI MI function tables. For every CMPI call it builds
  SWIG proxies and calls the Python method of the same meaning with exactly these
  arguments (``MIHandle`` below has one method per entry point, same order):

  =====================  =============================================================
  cleanup                (ctx, terminating: bool)
  enum_instance_names    (ctx, rslt, objpath)
  enum_instances         (ctx, rslt, objpath, properties: list[str] | None)
  get_instance           (ctx, rslt, objpath, properties)
  create_instance        (ctx, rslt, objpath, newinst)
  set_instance           (ctx, rslt, objpath, newinst, properties)
  delete_instance        (ctx, rslt, objpath)
  exec_query             (ctx, rslt, objpath, query: str, language: str)
  associator_names       (ctx, rslt, objpath, assocClass, resultClass, role, resultRole)
  associators            (ctx, rslt, objpath, assocClass, resultClass, role, resultRole,
                          properties)
  reference_names        (ctx, rslt, objpath, resultClass, role)
  references             (ctx, rslt, objpath, resultClass, role, properties)
  invoke_method          (ctx, rslt, objpath, method: str, in: CMPIArgs, out: CMPIArgs)
  authorize_filter       (ctx, filter: CMPISelectExp, className, classPath, owner)
  activate_filter        (ctx, filter, className, classPath, firstActivation: bool)
  deactivate_filter      (ctx, filter, className, classPath, lastActivation: bool)
  must_poll              (ctx, filter, className, classPath)   # no rslt (SFCB signature)
  enable_indications     (ctx)
  disable_indications    (ctx)
  =====================  =============================================================

  Strings are passed through string2target (NULL -> None), property lists through
  proplist2target (NULL -> None, else a list of str), CMPIBoolean through Target_Bool.

* src/target_python.c -- TargetInitialize imports ``cmpi_pywbem_bindings`` and calls
  ``get_cmpi_proxy_provider(miname, broker, ctx)`` once per MI (an SFCB provider with
  types "instance method" gets an Instance MI and a Method MI, so two calls with the
  same miname); TargetCall interprets the result: an exception -> CMPI_RC_ERR_FAILED with
  get_exc_trace() as message (in Python 3 that imports the Python 2 module StringIO, so
  the message is just "can't import StringIO" - the traceback is lost); anything but a
  1- or 2-tuple -> FAILED "didn't return a two-tuple"; element 0 must be an int and
  element 1 None or bytes (PyString in the Python 3 port is bytes) -> else FAILED
  "didn't return a {<int>, <str>) two-tuple"; None as message becomes "".

The MB part (``MiniMB``) is not cmpi-bindings: it plays SFCB, reading an SFCB
providerRegister file, loading one MI per (provider, type) on first use, routing client
operations and the broker's up-calls (CBGetInstance & co.) to the registered MIs, and
marking the calling thread as an MB thread during every MI call.
"""

from __future__ import annotations

import importlib
import sys
from dataclasses import dataclass, field
from pathlib import Path

import cmpi

_ENTRY_POINTS = (
    "cleanup",
    "enum_instance_names",
    "enum_instances",
    "get_instance",
    "create_instance",
    "set_instance",
    "delete_instance",
    "exec_query",
    "associator_names",
    "associators",
    "reference_names",
    "references",
    "invoke_method",
    "authorize_filter",
    "activate_filter",
    "deactivate_filter",
    "must_poll",
    "enable_indications",
    "disable_indications",
)


@dataclass
class Status:
    rc: int
    msg: str

    @property
    def ok(self) -> bool:
        return self.rc == cmpi.CMPI_RC_OK


@dataclass
class Escaped:
    opname: str
    exc: BaseException


def _get_exc_trace() -> str:
    """target_python.c get_exc_trace() running on Python 3."""
    try:
        importlib.import_module("StringIO")
    except ImportError:
        return "can't import StringIO"
    return "cmpi:<traceback>"  # pragma: no cover - never on Python 3


def target_call(instance, opname: str, args: tuple, escaped: list[Escaped]) -> Status:
    """TargetCall() in src/target_python.c."""
    fail = cmpi.CMPI_RC_ERR_FAILED
    func = getattr(instance, opname, None)
    if func is None:
        return Status(fail, f'Python module does not contain "{opname}"')
    if not callable(func):
        return Status(fail, f'Python module attribute "{opname}" is not callable')
    try:
        prv = func(*args)
    except BaseException as exc:  # noqa: BLE001 - PyErr_Occurred() catches everything
        escaped.append(Escaped(opname, exc))
        return Status(fail, _get_exc_trace())
    if not isinstance(prv, tuple) or len(prv) not in (1, 2):
        return Status(fail, f'Python function "{opname}" didn\'t return a two-tuple')
    prc = prv[0]
    prstr = prv[1] if len(prv) == 2 else None
    if not isinstance(prc, int) or not (prstr is None or isinstance(prstr, bytes)):
        return Status(
            fail, f'Python function "{opname}" didn\'t return a {{<int>, <str>) two-tuple'
        )
    return Status(int(prc), "" if prstr is None else prstr.decode("utf-8", "replace"))


def _s(value):
    """string2target()"""
    return cmpi._target_string(value) if isinstance(value, str) else value


def _plist(props):
    """proplist2target()"""
    return None if props is None else [_s(p) for p in props]


class MIHandle:
    """ProviderMIHandle for one MI: TargetInitialize() at creation, then the MI
    function table entries of src/cmpi_provider.c."""

    def __init__(self, mb: MiniMB, miname: str, mitype: str, module: str):
        self.mb = mb
        self.miname = miname
        self.mitype = mitype
        target = importlib.import_module(module)
        init_ctx = mb.context()
        with mb.broker._as_mb():
            if mb.pass_init_context:
                self.instance = target.get_cmpi_proxy_provider(_s(miname), mb.broker, init_ctx)
            else:  # the older target_python.c passes (miname, broker) only
                self.instance = target.get_cmpi_proxy_provider(_s(miname), mb.broker)

    def _call(self, opname: str, *args) -> Status:
        with self.mb.broker._as_mb():
            st = target_call(self.instance, opname, args, self.mb.escaped)
        self.mb.calls.append((self.miname, opname, st))
        return st

    def cleanup(self, ctx, terminating: bool) -> Status:
        return self._call("cleanup", ctx, bool(terminating))

    def enum_instance_names(self, ctx, rslt, op) -> Status:
        return self._call("enum_instance_names", ctx, rslt, op)

    def enum_instances(self, ctx, rslt, op, props) -> Status:
        return self._call("enum_instances", ctx, rslt, op, _plist(props))

    def get_instance(self, ctx, rslt, op, props) -> Status:
        return self._call("get_instance", ctx, rslt, op, _plist(props))

    def create_instance(self, ctx, rslt, op, inst) -> Status:
        return self._call("create_instance", ctx, rslt, op, inst)

    def set_instance(self, ctx, rslt, op, inst, props) -> Status:
        return self._call("set_instance", ctx, rslt, op, inst, _plist(props))

    def delete_instance(self, ctx, rslt, op) -> Status:
        return self._call("delete_instance", ctx, rslt, op)

    def exec_query(self, ctx, rslt, op, query, lang) -> Status:
        return self._call("exec_query", ctx, rslt, op, _s(query), _s(lang))

    def associator_names(self, ctx, rslt, op, assoc, result, role, result_role) -> Status:
        return self._call(
            "associator_names", ctx, rslt, op, _s(assoc), _s(result), _s(role), _s(result_role)
        )

    def associators(self, ctx, rslt, op, assoc, result, role, result_role, props) -> Status:
        return self._call(
            "associators",
            ctx,
            rslt,
            op,
            _s(assoc),
            _s(result),
            _s(role),
            _s(result_role),
            _plist(props),
        )

    def reference_names(self, ctx, rslt, op, result, role) -> Status:
        return self._call("reference_names", ctx, rslt, op, _s(result), _s(role))

    def references(self, ctx, rslt, op, result, role, props) -> Status:
        return self._call("references", ctx, rslt, op, _s(result), _s(role), _plist(props))

    def invoke_method(self, ctx, rslt, op, method, in_args, out_args) -> Status:
        return self._call("invoke_method", ctx, rslt, op, _s(method), in_args, out_args)

    def authorize_filter(self, ctx, flt, class_name, class_path, owner) -> Status:
        return self._call("authorize_filter", ctx, flt, _s(class_name), class_path, _s(owner))

    def activate_filter(self, ctx, flt, class_name, class_path, first) -> Status:
        return self._call("activate_filter", ctx, flt, _s(class_name), class_path, bool(first))

    def deactivate_filter(self, ctx, flt, class_name, class_path, last) -> Status:
        return self._call("deactivate_filter", ctx, flt, _s(class_name), class_path, bool(last))

    def must_poll(self, ctx, flt, class_name, class_path) -> Status:
        return self._call("must_poll", ctx, flt, _s(class_name), class_path)

    def enable_indications(self, ctx) -> Status:
        return self._call("enable_indications", ctx)

    def disable_indications(self, ctx) -> Status:
        return self._call("disable_indications", ctx)


@dataclass
class Registration:
    class_name: str
    provider: str
    location: str
    types: tuple[str, ...]
    namespaces: tuple[str, ...]


def parse_sfcb_reg(text: str) -> list[Registration]:
    """SFCB providerRegister stanzas (independent of vrmgmt.registration on purpose)."""
    out: list[Registration] = []
    cur: str | None = None
    fields: dict[str, str] = {}

    def flush():
        if cur is not None:
            out.append(
                Registration(
                    cur,
                    fields["provider"],
                    fields.get("location", ""),
                    tuple(fields.get("type", "").split()),
                    tuple(fields.get("namespace", "").split()),
                )
            )

    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("["):
            flush()
            cur, fields = line.strip("[]").strip(), {}
        else:
            k, _, v = line.partition(":")
            fields[k.strip().lower()] = v.strip()
    flush()
    return out


@dataclass
class OpResult:
    status: Status
    result: cmpi.CMPIResult
    out: cmpi.CMPIArgs | None = None

    @property
    def instances(self) -> list[cmpi.CMPIInstance]:
        return self.result._instances

    @property
    def paths(self) -> list[cmpi.CMPIObjectPath]:
        return self.result._paths

    @property
    def data(self) -> list[cmpi.CMPIData]:
        return self.result._data


@dataclass
class MiniMB:
    """A CIMOM small enough for tests: SFCB-style registration, one MI per (provider,
    type), routing of client operations and broker up-calls."""

    registration: Path
    providers_dir: Path
    namespace: str = "root/virt"
    broker_name: str = "vrmgmt-test-MB"
    classes: dict[str, str | None] = field(default_factory=dict)
    principal: str = "testuser"
    module: str = "cmpi_pywbem_bindings"
    pass_init_context: bool = True

    def __post_init__(self):
        self.broker = cmpi.CMPIBroker(self.broker_name)
        self.broker._router = self
        self.broker._classes.update(self.classes)
        self.regs = parse_sfcb_reg(Path(self.registration).read_text())
        self.mis: dict[tuple[str, str], MIHandle] = {}
        self.escaped: list[Escaped] = []
        self.calls: list[tuple[str, str, Status]] = []

    # -- objects the MB hands to MIs --------------------------------------------------
    def context(self, principal: str | None = None) -> cmpi.CMPIContext:
        ctx = cmpi.CMPIContext._make()
        v = cmpi.CMPIValue()
        v.string = cmpi.CMPIString._make(principal or self.principal)
        ctx._set(cmpi.CMPIPrincipal, v, cmpi.CMPI_string)
        v = cmpi.CMPIValue()
        v.string = cmpi.CMPIString._make(self.namespace)
        ctx._set(cmpi.CMPIInitNameSpace, v, cmpi.CMPI_string)
        v = cmpi.CMPIValue()
        v.uint32 = 0
        ctx._set(cmpi.CMPIInvocationFlags, v, cmpi.CMPI_uint32)
        return ctx

    def path(self, classname: str, keys: dict | None = None, ns: str | None = None):
        """An object path as the MB builds it from a client request. keys values: str,
        bool, CMPIObjectPath, or (value, CMPIType)."""
        op = cmpi.CMPIObjectPath._make(ns or self.namespace, classname)
        for name, value in (keys or {}).items():
            v = cmpi.CMPIValue()
            if isinstance(value, tuple):
                value, ctype = value
                member = cmpi.MEMBER_FOR_TYPE[ctype]
                if member == "string":
                    value = cmpi.CMPIString._make(value)
                setattr(v, member, value)
            elif isinstance(value, cmpi.CMPIObjectPath):
                v.ref, ctype = value, cmpi.CMPI_ref
            elif isinstance(value, bool):
                v.boolean, ctype = int(value), cmpi.CMPI_boolean
            else:
                v.string, ctype = cmpi.CMPIString._make(str(value)), cmpi.CMPI_string
            op.add_key(name, v, ctype)
        return op

    def args(self, items: list[tuple[str, object, int]] | None = None) -> cmpi.CMPIArgs:
        a = cmpi.CMPIArgs._make()
        for name, value, ctype in items or ():
            v = cmpi.CMPIValue()
            member = cmpi.MEMBER_FOR_TYPE[ctype]
            if member == "string":
                value = cmpi.CMPIString._make(value)
            elif member == "dateTime":
                import pywbem

                value = cmpi.CMPIDateTime._make(pywbem.CIMDateTime(value))
            setattr(v, member, value)
            a._set(name, v, ctype)
        return a

    # -- registration -----------------------------------------------------------------
    def _in_ns(self, reg: Registration, ns: str | None) -> bool:
        ns = ns or self.namespace
        return any(n.lower() == ns.lower() for n in reg.namespaces)

    def _reg(self, classname: str, ns: str | None = None) -> Registration | None:
        for r in self.regs:
            if r.class_name.lower() == classname.lower() and self._in_ns(r, ns):
                return r
        return None

    def miname(self, reg: Registration) -> str:
        p = Path(reg.provider)
        return str(p if p.is_absolute() else Path(self.providers_dir) / reg.provider)

    def mi(self, reg: Registration, mitype: str) -> MIHandle:
        key = (reg.provider, mitype)
        if key not in self.mis:
            self.mis[key] = MIHandle(self, self.miname(reg), mitype, self.module)
        return self.mis[key]

    def _isa(self, sub: str, sup: str) -> bool:
        with self.broker._as_mb():
            return bool(self.broker.classPathIsA(cmpi.CMPIObjectPath._make(None, sub), sup))

    def _instance_regs(self, classname: str, ns: str | None = None) -> list[Registration]:
        exact = self._reg(classname, ns)
        if exact is not None:
            return [exact]
        return [
            r
            for r in self.regs
            if "instance" in r.types and self._in_ns(r, ns) and self._isa(r.class_name, classname)
        ]

    def _assoc_regs(self, assoc_class: str | None, ns: str | None = None) -> list[Registration]:
        regs = [r for r in self.regs if "association" in r.types and self._in_ns(r, ns)]
        if assoc_class:
            regs = [r for r in regs if self._isa(r.class_name, assoc_class)]
        seen, out = set(), []
        for r in regs:
            if r.provider not in seen:
                seen.add(r.provider)
                out.append(r)
        return out

    def _no_provider(self, classname: str) -> OpResult:
        return OpResult(
            Status(cmpi.CMPI_RC_ERR_NOT_SUPPORTED, f"no provider for {classname}"),
            cmpi.CMPIResult._make(self.broker),
        )

    # -- client operations ------------------------------------------------------------
    def _each(self, regs, mitype, call) -> OpResult:
        result = cmpi.CMPIResult._make(self.broker)
        status = Status(cmpi.CMPI_RC_OK, "")
        for reg in regs:
            st = call(self.mi(reg, mitype), reg, result)
            if not st.ok:
                return OpResult(st, result)
            status = st
        return OpResult(status, result)

    def _each_class(self, classname: str, ctx, ns, call) -> OpResult:
        """An instance-MI operation on classname as a CIMOM routes it: to the providers of
        the class (or of its subclasses), each with an object path of its own class.
        call(mi, ctx, rslt, objectpath) -> Status."""
        ns = ns or self.namespace
        regs = self._instance_regs(classname, ns)
        if not regs:
            return self._no_provider(classname)
        ctx = ctx or self.context()
        return self._each(
            regs,
            "instance",
            lambda mi, reg, res: call(mi, ctx, res, cmpi.CMPIObjectPath._make(ns, reg.class_name)),
        )

    def enumerate_instance_names(self, classname: str, ctx=None, ns=None) -> OpResult:
        return self._each_class(
            classname, ctx, ns, lambda mi, c, r, op: mi.enum_instance_names(c, r, op)
        )

    def enumerate_instances(self, classname: str, properties=None, ctx=None, ns=None):
        return self._each_class(
            classname, ctx, ns, lambda mi, c, r, op: mi.enum_instances(c, r, op, properties)
        )

    def exec_query(self, classname: str, query: str, lang: str = "WQL", ctx=None, ns=None):
        """ExecQuery, routed like the enumerations."""
        return self._each_class(
            classname, ctx, ns, lambda mi, c, r, op: mi.exec_query(c, r, op, query, lang)
        )

    def get_instance(self, op, properties=None, ctx=None) -> OpResult:
        reg = self._reg(op.classname(), op.namespace())
        if reg is None:
            return self._no_provider(op.classname())
        ctx = ctx or self.context()
        return self._each(
            [reg], "instance", lambda mi, _r, res: mi.get_instance(ctx, res, op, properties)
        )

    def associators(
        self,
        op,
        assoc_class=None,
        result_class=None,
        role=None,
        result_role=None,
        properties=None,
        ctx=None,
    ) -> OpResult:
        ctx = ctx or self.context()
        return self._each(
            self._assoc_regs(assoc_class, op.namespace()),
            "association",
            lambda mi, _r, res: mi.associators(
                ctx, res, op, assoc_class, result_class, role, result_role, properties
            ),
        )

    def associator_names(
        self, op, assoc_class=None, result_class=None, role=None, result_role=None, ctx=None
    ) -> OpResult:
        ctx = ctx or self.context()
        return self._each(
            self._assoc_regs(assoc_class, op.namespace()),
            "association",
            lambda mi, _r, res: mi.associator_names(
                ctx, res, op, assoc_class, result_class, role, result_role
            ),
        )

    def references(self, op, result_class=None, role=None, properties=None, ctx=None):
        ctx = ctx or self.context()
        return self._each(
            self._assoc_regs(result_class, op.namespace()),
            "association",
            lambda mi, _r, res: mi.references(ctx, res, op, result_class, role, properties),
        )

    def reference_names(self, op, result_class=None, role=None, ctx=None) -> OpResult:
        ctx = ctx or self.context()
        return self._each(
            self._assoc_regs(result_class, op.namespace()),
            "association",
            lambda mi, _r, res: mi.reference_names(ctx, res, op, result_class, role),
        )

    def _instance_op(self, op, call, ctx) -> OpResult:
        reg = self._reg(op.classname(), op.namespace())
        if reg is None:
            return self._no_provider(op.classname())
        ctx = ctx or self.context()
        return self._each([reg], "instance", lambda mi, _r, res: call(mi, ctx, res))

    def create_instance(self, op, inst, ctx=None) -> OpResult:
        """CreateInstance: the instance MI's createInstance(ctx, rslt, op, inst)."""
        return self._instance_op(op, lambda mi, c, res: mi.create_instance(c, res, op, inst), ctx)

    def modify_instance(self, op, inst, properties=None, ctx=None) -> OpResult:
        """ModifyInstance: the instance MI's modifyInstance (SetInstance in the bindings)."""
        return self._instance_op(
            op, lambda mi, c, res: mi.set_instance(c, res, op, inst, properties), ctx
        )

    def delete_instance(self, op, ctx=None) -> OpResult:
        return self._instance_op(op, lambda mi, c, res: mi.delete_instance(c, res, op), ctx)

    def invoke_method(self, op, method: str, in_args=None, ctx=None) -> OpResult:
        reg = self._reg(op.classname(), op.namespace())
        if reg is None or "method" not in reg.types:
            return self._no_provider(op.classname())
        ctx = ctx or self.context()
        in_args = in_args if in_args is not None else self.args()
        out = cmpi.CMPIArgs._make()
        res = self._each(
            [reg],
            "method",
            lambda mi, _r, r: mi.invoke_method(ctx, r, op, method, in_args, out),
        )
        res.out = out
        return res

    def cleanup(self, terminating: bool = True) -> list[Status]:
        """Cleanup of every MI, as cmpi_provider.c's Cleanup(): when not terminating,
        an MI answering CMPI_RC_DO_NOT_UNLOAD or CMPI_RC_NEVER_UNLOAD stays loaded
        (TargetCleanup is skipped); every other one is released."""
        out = []
        for key, mi in list(self.mis.items()):
            st = mi.cleanup(self.context(), terminating)
            out.append(st)
            keep = st.rc in (cmpi.CMPI_RC_DO_NOT_UNLOAD, cmpi.CMPI_RC_NEVER_UNLOAD)
            if terminating or not keep:
                del self.mis[key]
        return out

    # -- broker up-calls (CBGetInstance & co.) ------------------------------------------
    def upcall(self, op: str, ctx, cop, *args):
        name, ns = cop.classname(), cop.namespace()
        if op in (
            "enum_instance_names",
            "enum_instances",
            "get_instance",
            "create_instance",
            "set_instance",
            "delete_instance",
            "exec_query",
        ):
            regs = self._instance_regs(name, ns)
            mitype = "instance"
        elif op == "invoke_method":
            regs = [r for r in [self._reg(name, ns)] if r is not None]
            mitype = "method"
        else:
            regs = self._assoc_regs(args[0] if args else None, ns)
            mitype = "association"
        if not regs:
            cmpi._raise(cmpi.CMPI_RC_ERR_NOT_SUPPORTED, f"no provider for {name}")
        result = cmpi.CMPIResult._make(self.broker)
        for reg in regs:
            st = getattr(self.mi(reg, mitype), op)(ctx, result, cop, *args)
            if not st.ok:
                cmpi._raise(st.rc, st.msg)
        return result._instances or result._paths or result._data


def ensure_on_path(*dirs: Path) -> None:
    for d in dirs:
        if str(d) not in sys.path:
            sys.path.insert(0, str(d))
