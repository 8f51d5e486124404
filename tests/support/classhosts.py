"""Hosts for the per-class cases of tests/classes/ (KINDS): the embedded server
(in-process, over CIM-XML), the CMPI adapter (through the cmpi-bindings double), and real
SFCB and OpenPegasus hosting the adapter (tests/support/cimoms.py), each over a new libvirt
test-driver node (cmpi_testkit.VMS) or given backends, with optional more configuration
sections. `open_host(kind, dir, sections=None, backends=None)` is a context manager
giving a ServerHost, CmpiHost or CimomHost; tests/classes/conftest.py builds its fixtures
on it."""

from __future__ import annotations

import json
import os

import cmpi_mb
import cmpi_testkit as kit
import pytest
import pywbem

from support import cimoms
from support.hosts import CmpiHost, ServerHost
from support.inproc import inproc_server

#: every kind of host a per-class case runs through
KINDS = ["server", "cmpi", *cimoms.KINDS]


def _backends(node) -> list[dict]:
    return [{"id": kit.BACKEND, "type": "libvirt", "uri": f"test://{node}"}]


class _CmpiEnv:
    """$VRMGMT_CONFIG for the adapter's process-wide environment, restored after."""

    def __init__(self, d, backends, sections=None):
        self.cfg = d / "vrmgmt.toml"
        self.cfg.write_text(config_text(d, backends, sections))

    def __enter__(self):
        import vrmgmt.cmpi

        self.old = os.environ.get("VRMGMT_CONFIG")
        os.environ["VRMGMT_CONFIG"] = str(self.cfg)
        vrmgmt.cmpi.reset()
        self.mb = cmpi_mb.MiniMB(
            kit.REGISTRATION, kit.PROVIDERS, namespace=kit.NS, classes=kit.CLASSES
        )
        return CmpiHost(self.mb)

    def __exit__(self, *exc):
        import vrmgmt.cmpi

        escaped = self.mb.escaped
        self.mb.cleanup()
        vrmgmt.cmpi.reset()
        if self.old is None:
            os.environ.pop("VRMGMT_CONFIG", None)
        else:
            os.environ["VRMGMT_CONFIG"] = self.old
        assert not escaped, f"exceptions escaped CMPI entry points: {escaped}"


def config_text(d, backends, sections=None) -> str:
    """The adapter's vrmgmt.toml for a case: state in d/cmpi-state, the backends, and
    more sections."""
    text = f'[paths]\nstate_dir = "{d / "cmpi-state"}"\n'
    for b in backends:
        text += "\n[[backends]]\n" + "".join(f"{k} = {json.dumps(v)}\n" for k, v in b.items())
    return text + _toml_sections(sections or {})


def _toml_sections(sections: dict) -> str:
    """{"host_control": {"allow_power_actions": True, ...}} as TOML text."""
    out = []
    for name, values in sections.items():
        out.append(f"\n[{name}]")
        for k, v in values.items():
            out.append(f"{k} = {json.dumps(v)}")  # JSON scalars and lists are TOML
    return "\n".join(out) + "\n"


def open_host(kind, d, sections=None, backends=None):
    """A host of `kind` over a new test-driver node (or over `backends`); `sections`:
    more configuration, e.g. {"host_control": {...}}."""
    if backends is None:
        backends = _backends(kit.write_node_xml(d / "node.xml"))
    if kind == "server":
        return _ServerCtx(d, backends, sections)
    if kind in cimoms.KINDS:
        return _CimomCtx(kind, d, backends, sections)
    return _CmpiEnv(d, backends, sections)


class CimomHost(ServerHost):
    """A real CIMOM (SFCB or OpenPegasus) hosting the providers, through pywbem: the same
    calls as ServerHost."""

    def __init__(self, kind: str, cimom: cimoms.SharedCimom):
        super().__init__(
            _InteropAs(cimom.conn(), cimom.interop) if kind == "pegasus" else cimom.conn()
        )
        self.name = kind
        self.cimom = cimom
        self.interop = cimom.interop  # the CIMOM's interop namespace

    def _void(self, operation, fn, *args, **kw):
        """A void operation (DeleteInstance, ModifyInstance). SFCB 1.3.16 answers their
        success with an empty IRETURNVALUE, which DSP0200 does not allow and pywbem
        rejects (CIMXMLParseError); that answer is success (docs/cmpi.md)."""
        try:
            fn(*args, **kw)
        except pywbem.CIMXMLParseError as exc:
            if f"IMETHODRESPONSE for operation {operation} which is defined as void" not in str(
                exc
            ):
                raise

    def delete(self, path):
        self._void("DeleteInstance", self.c.DeleteInstance, path)

    def modify(self, inst, plist=None):
        self._void("ModifyInstance", self.c.ModifyInstance, inst, PropertyList=plist)


class _InteropAs:
    """A pywbem connection that sends requests for root/interop (the cases' interop
    namespace) to the CIMOM's own (OpenPegasus: root/PG_InterOp), in namespace
    arguments and in the namespaces of object paths."""

    def __init__(self, conn: pywbem.WBEMConnection, interop: str):
        self._c, self._interop = conn, interop

    def _map(self, v):
        if isinstance(v, str) and v.lower() == "root/interop":
            return self._interop
        if isinstance(v, pywbem.CIMInstanceName):
            v = v.copy()
            v.namespace = self._map(v.namespace)
            v.keybindings = {k: self._map(x) for k, x in v.keybindings.items()}
        elif isinstance(v, list):
            return [self._map(x) for x in v]
        return v

    def __getattr__(self, name):
        fn = getattr(self._c, name)
        if not callable(fn):
            return fn

        def call(*args, **kw):
            return fn(*[self._map(a) for a in args], **{k: self._map(v) for k, v in kw.items()})

        return call


def provider_pid(host) -> int:
    """The process the host's providers run in: this one for the embedded server and
    the CMPI double, the CIMOM's provider process (exactly one for vrmgmt's one provider
    group) for a real CIMOM."""
    if not isinstance(host, CimomHost):
        return os.getpid()
    host.get(host_path())  # the provider is loaded
    (pid,) = host.cimom.provider_pids()
    return pid


def host_path():
    return pywbem.CIMInstanceName(
        "VRM_HostSystem", {"CreationClassName": "VRM_HostSystem", "Name": kit.BACKEND}, kit.NS
    )


class _CimomCtx:
    """The run's shared CIMOM of `kind`, configured for this case (tests/support/cimoms.py)."""

    def __init__(self, kind, d, backends, sections=None):
        self.kind, self.text = kind, config_text(d, backends, sections)

    def __enter__(self):
        try:
            cimom = cimoms.shared(self.kind)
        except cimoms.CimomUnavailable as exc:
            pytest.fail(str(exc))
        cimom.configure(self.text)
        return CimomHost(self.kind, cimom)

    def __exit__(self, *exc):
        return None


class _ServerCtx:
    def __init__(self, d, backends, sections=None):
        self.cm = inproc_server(d / "state", backends, sections=sections)

    def __enter__(self):
        return ServerHost(self.cm.__enter__())

    def __exit__(self, *exc):
        return self.cm.__exit__(*exc)
