"""Hosts for the per-class cases of tests/classes/: the embedded server (in-process, over
CIM-XML) or the CMPI adapter (through the cmpi-bindings double), over a new libvirt
test-driver node (cmpi_testkit.VMS) or given backends, with optional more configuration
sections. `open_host(kind, dir, sections=None, backends=None)` is a context manager
giving a ServerHost or CmpiHost; tests/classes/conftest.py builds its fixtures on it."""

from __future__ import annotations

import json
import os

import cmpi_mb
import cmpi_testkit as kit

from support.hosts import CmpiHost, ServerHost
from support.inproc import inproc_server


def _backends(node) -> list[dict]:
    return [{"id": kit.BACKEND, "type": "libvirt", "uri": f"test://{node}"}]


class _CmpiEnv:
    """$VRMGMT_CONFIG for the adapter's process-wide environment, restored after."""

    def __init__(self, d, backends, sections=None):
        self.cfg = d / "vrmgmt.toml"
        state = d / "cmpi-state"
        text = f'[paths]\nstate_dir = "{state}"\n'
        for b in backends:
            text += "\n[[backends]]\n" + "".join(f"{k} = {json.dumps(v)}\n" for k, v in b.items())
        self.cfg.write_text(text + _toml_sections(sections or {}))

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
    return _CmpiEnv(d, backends, sections)


class _ServerCtx:
    def __init__(self, d, backends, sections=None):
        self.cm = inproc_server(d / "state", backends, sections=sections)

    def __enter__(self):
        return ServerHost(self.cm.__enter__())

    def __exit__(self, *exc):
        return self.cm.__exit__(*exc)
