"""docs/adding-a-class.md, followed in a throw-away copy of the project tree: a new class
(VRM_Widget, with an extrinsic method) touches only the five places the checklist names —
its MOF area file, a reg stanza, its class module, one line in its provider module, its
test (this one) — and is then served by both hosts: the embedded server (in-process) and
the CMPI adapter (through the cmpi-bindings double), with the same answers."""

from __future__ import annotations

import os
import re
import shutil
import textwrap
from pathlib import Path

import cmpi
import cmpi_mb
import cmpi_testkit as kit
import pytest
import pywbem

from support.hosts import CmpiHost, ServerHost
from support.inproc import inproc_server
from vrmgmt.server.repository import load_classes

PROJECT = Path(__file__).resolve().parents[1]

MOF = """
// VRM_Widget: a throw-away class of tests/test_add_a_class.py
[Description ("A widget.")]
class VRM_Widget : CIM_ManagedElement {
      [Key, Override ("InstanceID"), Description ("Identifies the widget.")]
   string InstanceID;
      [Description ("Its colour.")]
   string Colour;
      [Description ("Spins the widget.")]
   uint32 Spin(
         [IN, Description ("How often.")]
      uint32 Times,
         [IN (false), OUT, Description ("Spins so far.")]
      uint32 Total);
};
"""

REG = """
[VRM_Widget]
   provider: HostControlProvider
   location: py3CmpiProvider
   type: instance method
   namespace: root/virt
   group: vrmgmt
"""

CLASS_MODULE = '''
"""VRM_Widget: three widgets (a throw-away class for tests/test_add_a_class.py)."""

from pywbem import CIMInstance, CIMInstanceName, CIMProperty, Uint32

from vrmgmt.cim import paths as cim_paths
from vrmgmt.cim.methods import MethodTable

CLASS = "VRM_Widget"
COLOURS = {"w1": "red", "w2": "green", "w3": "blue"}
SPINS = {}


def path(wid, ns):
    return CIMInstanceName(CLASS, {"InstanceID": wid}, namespace=ns)


def parse(p):
    return cim_paths.keys_of(p).get("instanceid")


def instances(env, ns, paths=None, *, bulk=False):
    wanted = COLOURS if paths is None else [parse(p) for p in paths]
    for wid in wanted:
        if wid in COLOURS:
            props = [CIMProperty("InstanceID", wid), CIMProperty("Colour", COLOURS[wid])]
            yield CIMInstance(CLASS, properties=props, path=path(wid, ns))


METHODS = MethodTable()


@METHODS.method("Spin", role="operator")
def spin(call, times=None):
    wid = parse(call.instance_path)
    SPINS[wid] = SPINS.get(wid, 0) + int(times or 1)
    return Uint32(0), {"Total": Uint32(SPINS[wid])}
'''


@pytest.fixture
def tree(tmp_path, monkeypatch):
    """A copy of mof/, registration/ and providers/, changed exactly as the checklist says."""
    root = tmp_path / "tree"
    for d in ("mof", "registration", "providers"):
        shutil.copytree(PROJECT / d, root / d, ignore=shutil.ignore_patterns("__pycache__"))
    # 1. the MOF area file
    with (root / "mof" / "VRM_System.mof").open("a") as f:
        f.write(MOF)
    # 2. the reg stanza
    with (root / "registration" / "vrmgmt.reg").open("a") as f:
        f.write(textwrap.dedent(REG))
    # 3. the class module (here on sys.path instead of src/vrmgmt/classes/<area>/)
    pkg = tmp_path / "classmods"
    pkg.mkdir()
    (pkg / "widget.py").write_text(CLASS_MODULE)
    monkeypatch.syspath_prepend(str(pkg))
    # 4. one line in the provider module of its area
    prov = root / "providers" / "HostControlProvider.py"
    text = prov.read_text()
    # the serve(env, ...) call, on one line or formatted over several
    new, n = re.subn(r"serve\(\s*env,", "serve(env, widget,", text, count=1)
    assert n == 1, "no serve(env, ...) call in HostControlProvider.py"
    prov.write_text("import widget\n" + new)
    return root


def _cases(h) -> dict:
    ns = kit.NS
    w2 = pywbem.CIMInstanceName("VRM_Widget", {"InstanceID": "w2"}, namespace=ns)
    return {
        "names": sorted(p["InstanceID"] for p in h.enum_names("VRM_Widget")),
        "colours": sorted((i["InstanceID"], i["Colour"]) for i in h.enum("VRM_Widget")),
        "get": h.get(w2)["Colour"],
        "plist": sorted(set(h.get(w2, ["Colour"]).keys()) - {"InstanceID"}),
        "hosts still there": [p["Name"] for p in h.enum_names("VRM_HostSystem")],
    }


def test_a_new_class_is_served_by_both_hosts(tree, tmp_path):
    node = kit.write_node_xml(tmp_path / "node.xml")
    backends = [{"id": kit.BACKEND, "type": "libvirt", "uri": f"test://{node}"}]
    with inproc_server(
        tmp_path / "state",
        backends,
        mof_dir=tree / "mof",
        registration=tree / "registration" / "vrmgmt.reg",
        providers_dir=tree / "providers",
    ) as conn:
        server = ServerHost(conn)
        via_server = _cases(server)
        w1 = pywbem.CIMInstanceName("VRM_Widget", {"InstanceID": "w1"}, namespace=kit.NS)
        rv, out = server.invoke_typed(w1, "Spin", Times=pywbem.Uint32(3))
        assert (rv, out["Total"]) == (0, 3)

    import vrmgmt.cmpi

    cfg = tmp_path / "vrmgmt.toml"
    cfg.write_text(
        f'[paths]\nstate_dir = "{tmp_path / "cmpi-state"}"\n\n'
        f'[[backends]]\nid = "{kit.BACKEND}"\ntype = "libvirt"\nuri = "test://{node}"\n'
    )
    old = os.environ.get("VRMGMT_CONFIG")
    os.environ["VRMGMT_CONFIG"] = str(cfg)
    vrmgmt.cmpi.reset()
    try:
        classes = load_classes(tree / "mof", None, tmp_path / "schema").classes
        mb = cmpi_mb.MiniMB(
            tree / "registration" / "vrmgmt.reg",
            tree / "providers",
            namespace=kit.NS,
            classes={c.classname: c.superclass for c in classes.values()},
        )
        via_cmpi = _cases(CmpiHost(mb))
        res = mb.invoke_method(
            mb.path("VRM_Widget", {"InstanceID": "w1"}),
            "Spin",
            mb.args([("Times", 2, cmpi.CMPI_uint32)]),
        )
        assert res.status.rc == cmpi.CMPI_RC_OK, res.status
        assert cmpi._plain(res.data[0]) == 0
        assert not mb.escaped, mb.escaped
        mb.cleanup()
    finally:
        vrmgmt.cmpi.reset()
        if old is None:
            os.environ.pop("VRMGMT_CONFIG", None)
        else:
            os.environ["VRMGMT_CONFIG"] = old

    assert via_server == via_cmpi
    assert via_server == {
        "names": ["w1", "w2", "w3"],
        "colours": [("w1", "red"), ("w2", "green"), ("w3", "blue")],
        "get": "green",
        "plist": ["Colour"],
        "hosts still there": [kit.BACKEND],
    }
