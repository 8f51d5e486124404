"""The proxy object cmpi-bindings' C dispatcher calls, one per provider module (miname).

src/cmpi_provider.c turns every CMPI MI call into a Python method call on the object
``get_cmpi_proxy_provider(miname, broker, ctx)`` returned (see docs/cmpi.md for the
table). Each entry point here: converts the CMPI arguments to pywbem objects, finds the
vrmgmt Provider serving the class (the provider module is loaded from the miname path,
".py" appended, with ``get_providers(env)``), calls it, converts the results back into
the CMPIResult, and returns ``(rc, bytes-or-None)``. No exception ever escapes.

Process-wide state: one ProviderEnv (configuration from ``$VRMGMT_CONFIG`` or the
default file, one Inventory) shared by all provider modules the CIMOM loads into this
process, built on the first call and built again on the first call after the
configuration file changed (its size, mtime or inode; the CIMOM need not restart);
one proxy per miname (a CIMOM creates up to four MIs - instance, method, association,
indication - for one provider; they share the proxy, and the provider's cleanup() runs
when the last of them is cleaned up).
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import threading
from pathlib import Path
from typing import Any

import pywbem
from pywbem import CIMClassName, CIMError, CIMInstance, CIMInstanceName

from vrmgmt.cim import paths as cim_paths
from vrmgmt.cim import wql
from vrmgmt.cim.loader import forget_provider_modules, load_provider_module
from vrmgmt.cim.provider import Provider, ProviderContext, ProviderEnv
from vrmgmt.cmpi import status
from vrmgmt.cmpi.convert import Converter, broker_fn, charpp, cmpi_module, obj_text, text
from vrmgmt.cmpi.indications import IndicationSender, mi_call
from vrmgmt.errors import ConfigError

log = logging.getLogger("vrmgmt.cmpi")
audit_log = logging.getLogger("vrmgmt.audit")

DEFAULT_NAMESPACE = "root/virt"


# ======================================================================================
# Process-wide state
# ======================================================================================
class _State:
    lock = threading.RLock()
    env: ProviderEnv | None = None
    config_signature: tuple | None = None  # of the file env was built from
    classes: Any = None  # vrmgmt.server.repository.ClassRepository, see class_repository()
    proxies: dict[str, CMPIProxyProvider] = {}


def _audit(user=None, action="", target="", outcome="") -> None:
    audit_log.info("%s %s on %s: %s", user or "-", action, target, outcome)


def _interop_namespace(broker: Any) -> str:
    """$VRMGMT_INTEROP_NAMESPACE, else the CIMOM's: OpenPegasus root/PG_InterOp,
    SFCB (and others) root/interop."""
    if os.environ.get("VRMGMT_INTEROP_NAMESPACE"):
        return os.environ["VRMGMT_INTEROP_NAMESPACE"]
    try:
        name = text(broker.name()) if broker is not None else None
    except Exception:  # noqa: BLE001 - informational only
        name = None
    return "root/PG_InterOp" if name == "Pegasus" else "root/interop"


_INTEROP_NAMES = frozenset({"root/interop", "interop", "root/pg_interop"})


def _implementation_namespace(hint: str | None) -> str:
    """$VRMGMT_NAMESPACE, else the namespace of the first request unless that is an
    interop namespace, else root/virt."""
    if os.environ.get("VRMGMT_NAMESPACE"):
        return os.environ["VRMGMT_NAMESPACE"]
    if hint and hint.lower() not in _INTEROP_NAMES:
        return hint
    return DEFAULT_NAMESPACE


def process_env(namespace: str | None = None, broker: Any = None) -> ProviderEnv:
    """The ProviderEnv of this CIMOM process, built on first use: configuration from
    $VRMGMT_CONFIG (else /etc/vrmgmt/vrmgmt.toml, else the built-in default)."""
    from vrmgmt.config import load_config
    from vrmgmt.inventory import Inventory
    from vrmgmt.jobs import JobStore

    with _State.lock:
        signature = _config_signature()
        if _State.env is not None and signature != _State.config_signature:
            log.info("vrmgmt CMPI adapter: the configuration changed; reloading it")
            _drop_providers()
            _release_env()
        if _State.env is None:
            cfg = load_config(os.environ.get("VRMGMT_CONFIG") or None)
            _State.config_signature = signature
            inventory = Inventory.from_config(cfg.backends)
            _State.env = ProviderEnv(
                inventory=inventory,
                config=cfg,
                namespace=_implementation_namespace(namespace),
                interop_namespace=_interop_namespace(broker),
                logger=logging.getLogger("vrmgmt.provider"),
                audit=_audit,
                cimom="cmpi",
                jobs=JobStore(cfg.state_dir),
            )
            log.info(
                "vrmgmt CMPI adapter: configuration %s, backends %s",
                cfg.source,
                ", ".join(inventory.managers) or "none",
            )
            _resume_indications(_State.env)
        return _State.env


def _resume_indications(env: ProviderEnv) -> None:
    """A new environment (the configuration changed) while the CIMOM has indications
    enabled: the CIMOM will not ask again, so the enabled senders are published on it
    and their providers' sources started over the new backends."""
    for proxy in list(_State.proxies.values()):
        sender = proxy.indication_sender
        if sender is None or not sender.enabled:
            continue
        env.indications = sender
        try:
            proxy.providers(env)
            for prov in proxy._distinct_providers():
                hook = getattr(prov, "enable_indications", None)
                if callable(hook):
                    hook(ProviderContext(namespace=env.namespace))
        except Exception:  # noqa: BLE001 - the operation that reloaded must still run
            log.exception("%s: restarting the indication sources failed", proxy.module_name)


def _config_signature() -> tuple:
    """What identifies the configuration file's content cheaply: its path and
    (inode, size, mtime); () when there is none (the built-in default)."""
    from vrmgmt.config import DEFAULT_CONFIG_FILE

    path = os.environ.get("VRMGMT_CONFIG") or str(DEFAULT_CONFIG_FILE)
    try:
        st = os.stat(path)
    except OSError:
        return (path,)
    return (path, st.st_ino, st.st_size, st.st_mtime_ns)


def _drop_providers() -> None:
    """Let every proxy build its providers again from the next ProviderEnv (the CIMOM
    keeps calling the same proxy objects)."""
    for proxy in list(_State.proxies.values()):
        with proxy._lock:
            for prov in proxy._distinct_providers():
                try:
                    prov.cleanup()
                except Exception:  # noqa: BLE001 - one provider must not block the rest
                    log.exception("%s: cleanup of %r failed", proxy.module_name, prov)
            proxy._providers = None
            proxy._assoc = None
    _State.classes = None


def class_repository():
    """vrmgmt's compiled classes (the MOF the CIMOM was given at registration), for
    what the CMPI interface cannot ask the broker: checking a query's properties. Built
    on first use, from the schema cache in the state dir."""
    from vrmgmt.server.repository import ClassRepository, load_classes

    with _State.lock:
        if _State.classes is None:
            cfg = process_env().config
            cache = cfg.state_dir / "schema-cache" if cfg is not None else None
            schema = getattr(cfg, "schema_dir", None) or None
            _State.classes = ClassRepository(load_classes(None, schema, cache))
        return _State.classes


def _release_env() -> None:
    with _State.lock:
        env, _State.env = _State.env, None
        _State.config_signature = None
    if env is not None:
        if env.jobs is not None:
            env.jobs.close(timeout=2)
        try:
            env.inventory.close()
        except Exception:  # noqa: BLE001 - shutting down must not fail
            log.exception("closing the inventory")


def reset() -> None:
    """Forget all proxies, loaded provider modules and the environment (tests, reload)."""
    with _State.lock:
        _State.proxies.clear()
    forget_provider_modules()
    _release_env()


def module_path(miname: str) -> Path:
    """The provider module file for a miname: the registration's provider path with
    ".py" appended when missing; a relative name is looked up in $VRMGMT_PROVIDERS_DIR."""
    name = miname if miname.endswith(".py") else miname + ".py"
    path = Path(name)
    if not path.is_absolute() and os.environ.get("VRMGMT_PROVIDERS_DIR"):
        path = Path(os.environ["VRMGMT_PROVIDERS_DIR"]) / path
    return path


def swig_proxy(obj: Any, class_name: str) -> Any:
    """`obj` as an instance of the SWIG proxy class `class_name` of module cmpi when it is
    a bare SwigPyObject (what SWIG_NewPointerObj gives before cmpi.py registered its
    classes), else unchanged. cmpi_pywbem_bindings imports cmpi before the C side wraps
    anything, so this only guards against an embedding that imported it too late."""
    if obj is None or type(obj).__name__ != "SwigPyObject":
        return obj
    cls = getattr(cmpi_module(), class_name)
    proxy = cls.__new__(cls)
    proxy.this = obj
    log.warning("cmpi-bindings passed a bare SwigPyObject as %s; wrapped it", class_name)
    return proxy


def get_cmpi_proxy_provider(miname: Any, broker: Any, ctx: Any = None) -> CMPIProxyProvider:
    """Entry point called by cmpi-bindings' TargetInitialize for every MI it creates.
    (Older bindings pass only miname and broker.) Never raises: loading problems are
    reported by the entry points."""
    key = text(miname) or ""
    broker = swig_proxy(broker, "CMPIBroker")
    ctx = swig_proxy(ctx, "CMPIContext")
    with _State.lock:
        proxy = _State.proxies.get(key)
        if proxy is None:
            proxy = CMPIProxyProvider(key, broker, ctx)
            _State.proxies[key] = proxy
        elif proxy.broker is not broker:
            proxy.broker = broker
        proxy.mi_count += 1
    return proxy


# ======================================================================================
# Helpers
# ======================================================================================
def _plist(props: Any) -> list[str] | None:
    if props is None:
        return None
    return [text(p) for p in props]


def _ctx_string(ctx: Any, name: str) -> str | None:
    """A string entry of a CMPIContext (CMPIPrincipal, CMPIInitNameSpace), or None."""
    if ctx is None:
        return None
    try:
        c = cmpi_module()
        data = ctx.get_entry(name)
        if data is None or int(data.state) & (c.CMPI_nullValue | c.CMPI_notFound):
            return None
        value = data.value  # `data` is kept alive by this frame
        if int(data.type) == c.CMPI_string:
            return obj_text(value.string)
        if int(data.type) == c.CMPI_chars:
            return text(value.chars)
    except Exception:  # noqa: BLE001 - an absent entry raises in the bindings
        return None
    return None


def query_and_language(query: Any, lang: Any) -> tuple[str | None, str | None]:
    """ExecQuery's (query, language) as the MI receives them. OpenPegasus 2.14.4's
    CMPIProviderManager passes them swapped (execQuery(..., queryLanguage, query) against
    cmpift.h's (..., query, lang)); a language name has no blank, a query always has."""
    q, lang_ = text(query), text(lang)
    if q and lang_ and " " not in q.strip() and " " in lang_.strip():
        return lang_, q
    return q, lang_


def _with_namespace(path: CIMInstanceName, ns: str | None) -> CIMInstanceName:
    if path.namespace or not ns:
        return path
    path = path.copy()
    path.namespace = ns
    return path


def filter_properties(inst: CIMInstance, property_list: list[str] | None) -> CIMInstance:
    """The instance with only the listed properties, plus the key properties (which
    cmpi-bindings' set_property_filter adds as well, because OpenPegasus requires them).
    None means all properties."""
    if property_list is None:
        return inst
    keep = {p.lower() for p in property_list}
    if inst.path is not None:
        keep |= {k.lower() for k in inst.path.keybindings}
    out = CIMInstance(
        inst.classname,
        properties=[p for p in inst.properties.values() if p.name.lower() in keep],
        path=inst.path,
        qualifiers=inst.qualifiers,
    )
    return out


class _Call:
    """Per-call state: converter, namespace, ProviderContext."""

    def __init__(self, proxy: CMPIProxyProvider, ctx: Any, objpath: Any = None):
        self.conv = Converter(proxy.broker)
        ns = text(objpath.namespace()) if objpath is not None else None
        ns = ns or _ctx_string(ctx, "CMPIInitNameSpace") or proxy.init_namespace
        self.env = process_env(ns, proxy.broker)
        self.ns = ns or self.env.namespace
        self.ctx = ctx
        self.proxy = proxy
        self.pctx = ProviderContext(
            namespace=self.ns,
            user=_ctx_string(ctx, "CMPIPrincipal"),
            get_instance_cb=self._get_instance,
            get_instances_cb=self._get_instances,
            is_subclass_cb=lambda sub, sup: proxy.is_a(self.ns, sub, sup),
            get_class_cb=lambda name: class_repository().get_class(name),
        )

    def _local(self, classname: str) -> Provider | None:
        """The provider of exactly `classname` among the provider modules the CIMOM
        loaded into this process, if one is."""
        with _State.lock:
            proxies = list(_State.proxies.values())
        if self.proxy not in proxies:
            proxies.insert(0, self.proxy)
        for proxy in proxies:
            try:
                hit = proxy.providers(self.env).get(classname.lower())
            except CIMError:
                continue
            if hit is not None:
                return hit[1]
        return None

    def _get_instances(self, paths: list[CIMInstanceName], property_list=None):
        """ProviderContext.get_instances: a class served in this process answers its
        paths in bulk, directly (one backend listing; and OpenPegasus's broker
        GetInstance turns empty arrays into NULL); others one by one through the CIMOM."""
        groups: dict[str, list[CIMInstanceName]] = {}
        for path in paths:
            groups.setdefault(path.classname.lower(), []).append(path)
        plist = list(property_list) if property_list is not None else None
        for group in groups.values():
            prov = self._local(group[0].classname)
            if prov is not None:
                for inst in prov.get_instances(self.pctx, group, plist):
                    yield filter_properties(inst, plist)
                continue
            for path in group:
                try:
                    yield self._get_instance(path, plist)
                except CIMError as exc:
                    if exc.status_code != pywbem.CIM_ERR_NOT_FOUND:
                        raise

    def _get_instance(self, path: CIMInstanceName, property_list=None) -> CIMInstance:
        """ProviderContext.get_instance: directly from a provider of this process when
        one serves the class, else through CBGetInstance (routed by the CIMOM to
        whichever provider serves path.classname)."""
        prov = self._local(path.classname)
        if prov is not None:
            plist = list(property_list) if property_list is not None else None
            return filter_properties(prov.get_instance(self.pctx, path, plist), plist)
        cop = self.conv.path_to_cmpi(path, self.ns)
        props = charpp(property_list)  # the char ** typemap takes bytes only
        try:
            ci = broker_fn(self.proxy.broker, "getInstance", "get_instance")(self.ctx, cop, props)
        except Exception as exc:
            get_code = getattr(exc, "get_error_code", None)
            if not callable(get_code):
                raise
            desc = exc.get_description() if hasattr(exc, "get_description") else None
            raise CIMError(int(get_code()), text(desc) or f"GetInstance of {path} failed") from None
        if ci is None:
            raise CIMError(pywbem.CIM_ERR_NOT_FOUND, f"no instance {path}")
        return self.conv.instance_from_cmpi(ci, self.ns)


# ======================================================================================
# The proxy
# ======================================================================================
class CMPIProxyProvider:
    """Receives the CMPI calls for one provider module."""

    def __init__(self, miname: str, broker: Any, ctx: Any = None):
        self.miname = miname
        self.broker = broker
        self.mi_count = 0
        self.path = module_path(miname)
        self.module_name = self.path.stem
        self.init_namespace = _ctx_string(ctx, "CMPIInitNameSpace")
        self.indication_sender: IndicationSender | None = None
        self._providers: dict[str, tuple[str, Provider]] | None = None
        self._assoc: list[str] | None = None
        self._lock = threading.RLock()

    def __repr__(self) -> str:
        return f"<vrmgmt CMPI proxy for {self.path}>"

    # -- plumbing ------------------------------------------------------------------------
    def _run(self, operation: str, fn, *args) -> status.Status:
        with mi_call():
            try:
                result = fn(*args)
                return result if result is not None else status.ok()
            except BaseException as exc:  # noqa: BLE001 - nothing may reach TargetCall
                return status.status_for_exception(exc, f"{self.module_name}: {operation}", log)

    def providers(self, env: ProviderEnv) -> dict[str, tuple[str, Provider]]:
        with self._lock:
            if self._providers is None:
                try:
                    mod = load_provider_module(self.path)
                except ConfigError as exc:
                    raise CIMError(
                        pywbem.CIM_ERR_FAILED,
                        f"{exc} (the CMPI miname is the registration's provider path; "
                        "'.py' is appended)",
                    ) from None
                except Exception as exc:
                    raise CIMError(
                        pywbem.CIM_ERR_FAILED,
                        f"cannot load provider module {self.path}: {type(exc).__name__}: {exc}",
                    ) from exc
                provs = mod.get_providers(env)
                self._providers = {str(cn).lower(): (str(cn), p) for cn, p in provs.items()}
            return self._providers

    def _distinct_providers(self) -> list[Provider]:
        seen: list[Provider] = []
        for _, p in (self._providers or {}).values():
            if not any(p is q for q in seen):
                seen.append(p)
        return seen

    def is_a(self, ns: str | None, sub: str, sup: str) -> bool:
        if sub.lower() == sup.lower():
            return True
        try:
            op = self.broker.new_object_path(ns, sub)
            if broker_fn(self.broker, "classPathIsA", "class_path_is_a")(op, sup):
                return True
        except Exception:  # noqa: BLE001 - the class is not in ns (or not at all)
            pass
        # A reference may point into another namespace: a VM (root/virt) at an end of
        # VRM_ElementConformsToProfile asked in root/PG_InterOp. OpenPegasus knows no
        # VRM_ComputerSystem there (and answers "no"); vrmgmt's own classes say what it
        # derives from.
        try:
            return class_repository().is_subclass(sub, sup)
        except Exception:  # noqa: BLE001 - unknown classes are simply not subclasses
            return False

    def _targets(self, call: _Call, classname: str) -> list[tuple[str, Provider]]:
        provs = self.providers(call.env)
        hit = provs.get(classname.lower())
        if hit is not None:
            return [hit]
        found = [v for v in provs.values() if self.is_a(call.ns, v[0], classname)]
        if not found:
            served = ", ".join(cn for cn, _ in provs.values()) or "nothing"
            raise CIMError(
                pywbem.CIM_ERR_INVALID_CLASS,
                f"provider module {self.module_name} serves {served}, not {classname}",
            )
        return found

    def association_classes(self, env: ProviderEnv) -> list[str]:
        """Association classes of this module: those registered with type "association"
        in registration/vrmgmt.reg ($VRMGMT_REGISTRATION, else ../registration/vrmgmt.reg
        next to the provider module); without a registration file, the classes whose
        provider implements references()."""
        provs = self.providers(env)
        with self._lock:
            if self._assoc is None:
                names = _registered_associations(self.path)
                if names is None:
                    names = [
                        cn
                        for cn, p in provs.values()
                        if type(p).references is not Provider.references
                        or type(p).associators is not Provider.associators
                    ]
                self._assoc = [provs[n.lower()][0] for n in names if n.lower() in provs]
            return self._assoc

    def _assoc_targets(self, call: _Call, assoc_class: str | None) -> list[tuple[str, Provider]]:
        provs = self.providers(call.env)
        assocs = self.association_classes(call.env)
        if assoc_class:
            exact = [c for c in assocs if c.lower() == assoc_class.lower()]
            if not exact and assoc_class.lower() in provs:
                exact = [provs[assoc_class.lower()][0]]
            names = exact or [c for c in assocs if self.is_a(call.ns, c, assoc_class)]
        else:
            names = assocs
        return [provs[n.lower()] for n in names]

    def _return_instance(
        self, call: _Call, rslt: Any, inst: CIMInstance, plist: list[str] | None
    ) -> None:
        if inst.path is not None:
            inst.path = _with_namespace(inst.path, call.ns)
        ci = call.conv.instance_to_cmpi(filter_properties(inst, plist), call.ns, plist)
        rslt.return_instance(ci)

    def _return_path(self, call: _Call, rslt: Any, path: CIMInstanceName) -> None:
        rslt.return_objectpath(call.conv.path_to_cmpi(_with_namespace(path, call.ns), call.ns))

    # == instance MI ===================================================================
    def enum_instance_names(self, ctx, rslt, objpath):
        def run():
            call = _Call(self, ctx, objpath)
            classname = text(objpath.classname())
            for cn, prov in self._targets(call, classname):
                for path in prov.enum_instance_names(call.pctx, cn):
                    self._return_path(call, rslt, path)
            rslt.done()

        return self._run("EnumerateInstanceNames", run)

    def enum_instances(self, ctx, rslt, objpath, properties):
        def run():
            call = _Call(self, ctx, objpath)
            plist = _plist(properties)
            classname = text(objpath.classname())
            for cn, prov in self._targets(call, classname):
                for inst in prov.enum_instances(call.pctx, cn, plist):
                    self._return_instance(call, rslt, inst, plist)
            rslt.done()

        return self._run("EnumerateInstances", run)

    def get_instance(self, ctx, rslt, objpath, properties):
        def run():
            call = _Call(self, ctx, objpath)
            plist = _plist(properties)
            path = call.conv.path_from_cmpi(objpath, call.ns)
            targets = self._targets(call, path.classname)
            inst = None
            for i, (_cn, prov) in enumerate(targets):
                try:
                    inst = prov.get_instance(call.pctx, path, plist)
                    break
                except CIMError as exc:
                    if exc.status_code != pywbem.CIM_ERR_NOT_FOUND or i == len(targets) - 1:
                        raise
            if inst is None:
                raise CIMError(pywbem.CIM_ERR_NOT_FOUND, f"no instance {path}")
            if inst.path is None:
                inst.path = path
            self._return_instance(call, rslt, inst, plist)
            rslt.done()

        return self._run("GetInstance", run)

    def create_instance(self, ctx, rslt, objpath, newinst):
        def run():
            call = _Call(self, ctx, objpath)
            inst = call.conv.instance_from_cmpi(newinst, call.ns)
            path = call.conv.path_from_cmpi(objpath, call.ns)
            if not inst.path or not inst.path.keybindings:
                inst.path = path
            (_cn, prov) = self._targets(call, path.classname)[0]
            new_path = prov.create_instance(call.pctx, inst)
            self._return_path(call, rslt, new_path if new_path is not None else inst.path)
            rslt.done()

        return self._run("CreateInstance", run)

    def set_instance(self, ctx, rslt, objpath, newinst, properties):
        def run():
            call = _Call(self, ctx, objpath)
            inst = call.conv.instance_from_cmpi(newinst, call.ns)
            inst.path = call.conv.path_from_cmpi(objpath, call.ns)
            (_cn, prov) = self._targets(call, inst.path.classname)[0]
            prov.modify_instance(call.pctx, inst, _plist(properties))
            rslt.done()

        return self._run("ModifyInstance", run)

    def delete_instance(self, ctx, rslt, objpath):
        def run():
            call = _Call(self, ctx, objpath)
            path = call.conv.path_from_cmpi(objpath, call.ns)
            (_cn, prov) = self._targets(call, path.classname)[0]
            prov.delete_instance(call.pctx, path)
            rslt.done()

        return self._run("DeleteInstance", run)

    def exec_query(self, ctx, rslt, objpath, query, lang):
        """WQL through the same engine as the embedded server (vrmgmt.cim.wql), over
        the instances of the query's class and its subclasses served here."""

        def run():
            call = _Call(self, ctx, objpath)
            text_q, lang_q = query_and_language(query, lang)  # OpenPegasus 2.14.4 swaps them
            q = wql.compile_query(lang_q, text_q, class_repository().get_class)
            for cn, prov in self._targets(call, text(objpath.classname()) or q.class_name):
                for inst in prov.enum_instances(call.pctx, cn, None):
                    if q.matches(inst, call.pctx.is_subclass):
                        self._return_instance(call, rslt, q.project(inst), None)
            rslt.done()

        return self._run("ExecQuery", run)

    # == association MI ================================================================
    def associator_names(self, ctx, rslt, objpath, assocClass, resultClass, role, resultRole):  # noqa: N803
        def run():
            call = _Call(self, ctx, objpath)
            obj = call.conv.path_from_cmpi(objpath, call.ns)
            seen: set = set()
            for ac, prov in self._assoc_targets(call, text(assocClass)):
                for path in prov.associator_names(
                    call.pctx, ac, obj, text(resultClass), text(role), text(resultRole)
                ):
                    path = _with_namespace(path, call.ns)
                    if cim_paths.identity(path) not in seen:
                        seen.add(cim_paths.identity(path))
                        self._return_path(call, rslt, path)
            rslt.done()

        return self._run("AssociatorNames", run)

    def associators(
        self,
        ctx,
        rslt,
        objpath,
        assocClass,
        resultClass,
        role,
        resultRole,
        properties,  # noqa: N803
    ):
        def run():
            call = _Call(self, ctx, objpath)
            obj = call.conv.path_from_cmpi(objpath, call.ns)
            plist = _plist(properties)
            seen: set = set()
            for ac, prov in self._assoc_targets(call, text(assocClass)):
                for inst in prov.associators(
                    call.pctx, ac, obj, text(resultClass), text(role), text(resultRole), plist
                ):
                    if inst.path is not None:
                        inst.path = _with_namespace(inst.path, call.ns)
                        if cim_paths.identity(inst.path) in seen:
                            continue
                        seen.add(cim_paths.identity(inst.path))
                    self._return_instance(call, rslt, inst, plist)
            rslt.done()

        return self._run("Associators", run)

    def reference_names(self, ctx, rslt, objpath, resultClass, role):  # noqa: N803
        def run():
            call = _Call(self, ctx, objpath)
            obj = call.conv.path_from_cmpi(objpath, call.ns)
            # CMPI's resultClass of References/ReferenceNames is the association class
            for ac, prov in self._assoc_targets(call, text(resultClass)):
                for inst in prov.references(call.pctx, ac, obj, text(role), None):
                    if inst.path is not None:
                        self._return_path(call, rslt, inst.path)
            rslt.done()

        return self._run("ReferenceNames", run)

    def references(self, ctx, rslt, objpath, resultClass, role, properties):  # noqa: N803
        def run():
            call = _Call(self, ctx, objpath)
            obj = call.conv.path_from_cmpi(objpath, call.ns)
            plist = _plist(properties)
            for ac, prov in self._assoc_targets(call, text(resultClass)):
                for inst in prov.references(call.pctx, ac, obj, text(role), plist):
                    self._return_instance(call, rslt, inst, plist)
            rslt.done()

        return self._run("References", run)

    # == method MI =====================================================================
    def invoke_method(self, ctx, rslt, objpath, method, in_args, out_args):
        def run():
            call = _Call(self, ctx, objpath)
            path = call.conv.path_from_cmpi(objpath, call.ns)
            target: CIMInstanceName | CIMClassName = path
            if not path.keybindings:
                target = CIMClassName(path.classname, namespace=path.namespace)
            params = call.conv.args_from_cmpi(in_args)
            (_cn, prov) = self._targets(call, path.classname)[0]
            retval, outs = prov.invoke_method(call.pctx, target, text(method), params)
            call.conv.args_to_cmpi(outs, out_args, call.ns)
            if retval is not None:
                cv, ctype, _keep = call.conv.value_to_cmpi(
                    retval, default_ns=call.ns, int_type="uint32"
                )
                rslt.return_data(cv, ctype)
            rslt.done()

        return self._run(f"InvokeMethod({text(method)})", run)

    # == indication MI =================================================================
    def _sender(self, call: _Call) -> IndicationSender:
        """Prepared in this MB thread; published for the providers' worker threads."""
        with self._lock:
            if self.indication_sender is None:
                self.indication_sender = IndicationSender(self.broker, call.ctx)
            call.env.indications = self.indication_sender
            return self.indication_sender

    def authorize_filter(self, ctx, filter, className, classPath, owner):  # noqa: A002, N803
        def run():
            call = _Call(self, ctx, classPath)
            for cn, prov in self._targets(call, text(className)):
                hook = getattr(prov, "authorize_filter", None)
                if callable(hook) and hook(call.pctx, obj_text(filter), cn, text(owner)) is False:
                    raise CIMError(
                        pywbem.CIM_ERR_ACCESS_DENIED,
                        f"subscription to {cn} is not allowed for {text(owner)}",
                    )

        return self._run("AuthorizeFilter", run)

    def activate_filter(self, ctx, filter, className, classPath, firstActivation):  # noqa: A002, N803
        return self._filter_op(
            "activate_filter", ctx, filter, className, classPath, firstActivation
        )

    def deactivate_filter(self, ctx, filter, className, classPath, lastActivation):  # noqa: A002, N803
        return self._filter_op(
            "deactivate_filter", ctx, filter, className, classPath, lastActivation
        )

    def _filter_op(self, hook_name, ctx, flt, class_name, class_path, flag):
        def run():
            call = _Call(self, ctx, class_path)
            cn_req = text(class_name)
            targets = self._targets(call, cn_req)
            hooks = [(cn, getattr(p, hook_name, None)) for cn, p in targets]
            if not any(callable(h) for _, h in hooks):
                raise CIMError(pywbem.CIM_ERR_NOT_SUPPORTED, f"no indication provider for {cn_req}")
            if hook_name == "activate_filter":
                self._sender(call)
            for cn, hook in hooks:
                if callable(hook):
                    hook(call.pctx, obj_text(flt), cn, bool(flag))

        return self._run(hook_name, run)

    def must_poll(self, ctx, *args):
        """(ctx, filter, className, classPath); SFCB never calls it. vrmgmt providers
        push indications themselves, so polling is declined."""
        return (
            status.CMPI_RC_ERR_NOT_SUPPORTED,
            status.message("vrmgmt indication providers do not need polling"),
        )

    def enable_indications(self, ctx):
        def run():
            call = _Call(self, ctx)
            sender = self._sender(call)
            sender.enabled = True
            for prov in self._distinct_providers() or []:
                hook = getattr(prov, "enable_indications", None)
                if callable(hook):
                    hook(call.pctx)

        return self._run("EnableIndications", run)

    def disable_indications(self, ctx):
        def run():
            call = _Call(self, ctx)
            if self.indication_sender is not None:
                self.indication_sender.enabled = False
            for prov in self._distinct_providers():
                hook = getattr(prov, "disable_indications", None)
                if callable(hook):
                    hook(call.pctx)

        return self._run("DisableIndications", run)

    # == lifecycle =====================================================================
    def cleanup(self, ctx, terminating):
        """Called once per MI; the providers' cleanup() runs with the last one.

        While the CIMOM is not terminating (SFCB's idle unload after
        providerTimeoutInterval, OpenPegasus's idle unload) the answer is
        CMPI_RC_DO_NOT_UNLOAD and nothing is released: cmpi-bindings' Cleanup() then
        returns at once, and the CIMOM keeps the provider loaded and asks again after
        the next idle period. Unloading would run cmpi-bindings' TargetCleanup, which
        takes the GIL without a thread state (PyEval_AcquireLock) and kills the provider
        process with SIGSEGV."""
        if not terminating:
            log.info("%s: idle cleanup declined, staying loaded", self.module_name)
            return (
                status.CMPI_RC_DO_NOT_UNLOAD,
                status.message("vrmgmt providers stay loaded until the CIMOM terminates"),
            )

        def run():
            if _in_sfcb_provider_process():
                _stop_sfcb_provider_process()  # does not return
            with _State.lock:
                self.mi_count -= 1
                last = self.mi_count <= 0
                if last and _State.proxies.get(self.miname) is self:
                    del _State.proxies[self.miname]
                no_proxies_left = not _State.proxies
            if not last:
                return
            for prov in self._distinct_providers():
                try:
                    prov.cleanup()
                except Exception:  # noqa: BLE001 - one provider must not block the rest
                    log.exception("%s: cleanup of %r failed", self.module_name, prov)
            if self.indication_sender is not None:
                self.indication_sender.close()
            self._providers = None
            self._assoc = None
            if no_proxies_left:
                _release_env()

        return self._run("Cleanup", run)


def _in_sfcb_provider_process() -> bool:
    """True inside one of SFCB's provider processes (forks of sfcbd): they exist only
    to host providers, and SFCB ends them with exit(0) right after the terminating
    cleanup."""
    try:
        return os.path.basename(os.readlink("/proc/self/exe")) == "sfcbd"
    except OSError:
        return False


def _stop_sfcb_provider_process() -> None:
    """SFCB's first terminating cleanup in a provider process: clean up every vrmgmt
    provider of the process, release the environment and end the process without C exit
    handlers. SFCB's stopProc would call exit(0) after its cleanups, and exit's atexit
    handlers and library destructors then run while the provider's other threads
    (libvirt's event loop, job and delivery threads of the embedded Python, which
    cmpi-bindings never finalizes) still run: two SFCB stops of the suite died with
    SIGSEGV there, after "stopped ..." was logged (docs/cmpi.md, "Stopping"). All at the
    first cleanup, because stopProc cleans each MI type only once per library, and every
    vrmgmt provider shares cmpi-bindings' library: the others are never asked."""
    with _State.lock:
        proxies = list({id(p): p for p in _State.proxies.values()}.values())
        _State.proxies.clear()
    for proxy in proxies:
        for prov in proxy._distinct_providers():
            try:
                prov.cleanup()
            except Exception:  # noqa: BLE001 - one provider must not block the rest
                log.exception("%s: cleanup of %r failed", proxy.module_name, prov)
        if proxy.indication_sender is not None:
            proxy.indication_sender.enabled = False  # the process ends at once
    _release_env()
    logging.shutdown()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()
    os._exit(0)


def _registered_associations(provider_path: Path) -> list[str] | None:
    from vrmgmt.registration import load_registration

    candidates = []
    if os.environ.get("VRMGMT_REGISTRATION"):
        candidates.append(Path(os.environ["VRMGMT_REGISTRATION"]))
    candidates.append(provider_path.resolve().parent.parent / "registration" / "vrmgmt.reg")
    for reg_file in candidates:
        if reg_file.is_file():
            regs = load_registration(reg_file)
            stem = provider_path.stem
            return [
                r.class_name for r in regs if r.module_name == stem and "association" in r.types
            ]
    return None
