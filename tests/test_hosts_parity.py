"""One table of behavioural cases (tests/support/parity.py), run through both hosts of
the same providers: the embedded server (`vrmgmt serve`, driven by pywbem over CIM-XML)
and the CMPI adapter (cmpi_pywbem_bindings, driven through the cmpi-bindings test
double). Both must give the same answers, and the answers the table expects. The same
table runs through a real SFCB in tests/test_sfcb.py."""

from __future__ import annotations

import cmpi
import cmpi_mb
import cmpi_testkit as kit
import pytest
import pywbem

from support.parity import ServerHost, all_cases
from support.server import VrmServer
from vrmgmt.cmpi.convert import Converter

CASES = all_cases()


class CmpiHost:
    """The CMPI adapter through the cmpi-bindings double (MiniMB)."""

    name = "cmpi"

    def __init__(self, mb: cmpi_mb.MiniMB):
        self.mb = mb
        self.conv = Converter(mb.broker, cmpi)

    def _check(self, res):
        if res.status.rc != cmpi.CMPI_RC_OK:
            raise pywbem.CIMError(res.status.rc, res.status.msg)
        return res

    def _cop(self, path):
        return self.mb.path(path.classname, dict(path.keybindings))

    def _paths(self, res):
        return [self.conv.path_from_cmpi(p) for p in self._check(res).paths]

    def _insts(self, res):
        return [self.conv.instance_from_cmpi(i) for i in self._check(res).instances]

    def enum_names(self, cls):
        return self._paths(self.mb.enumerate_instance_names(cls))

    def enum(self, cls, plist=None):
        return self._insts(self.mb.enumerate_instances(cls, plist))

    def get(self, path, plist=None):
        return self._insts(self.mb.get_instance(self._cop(path), plist))[0]

    def assoc_names(self, path, assoc):
        return self._paths(self.mb.associator_names(self._cop(path), assoc))

    def assocs(self, path, assoc, plist=None):
        return self._insts(self.mb.associators(self._cop(path), assoc, properties=plist))

    def refs(self, path, result_class):
        return self._insts(self.mb.references(self._cop(path), result_class))

    def invoke(self, path, method, **params):
        items = [(k, int(v), cmpi.CMPI_uint16) for k, v in params.items()]
        res = self._check(self.mb.invoke_method(self._cop(path), method, self.mb.args(items)))
        return cmpi._plain(res.data[0])


@pytest.fixture(scope="module")
def server_host(tmp_path_factory):
    d = tmp_path_factory.mktemp("parity")
    node = kit.write_node_xml(d / "node.xml")
    srv = VrmServer(d, [{"id": kit.BACKEND, "type": "libvirt", "uri": f"test://{node}"}])
    with srv:
        yield ServerHost(srv.conn())


@pytest.fixture(scope="module")
def cmpi_host(tmp_path_factory):
    import os

    import vrmgmt.cmpi

    d = tmp_path_factory.mktemp("parity-cmpi")
    node = kit.write_node_xml(d / "node.xml")
    cfg = d / "vrmgmt.toml"
    cfg.write_text(f'[[backends]]\nid = "{kit.BACKEND}"\ntype = "libvirt"\nuri = "test://{node}"\n')
    old = os.environ.get("VRMGMT_CONFIG")
    os.environ["VRMGMT_CONFIG"] = str(cfg)
    vrmgmt.cmpi.reset()
    mb = cmpi_mb.MiniMB(kit.REGISTRATION, kit.PROVIDERS, namespace=kit.NS, classes=kit.CLASSES)
    yield CmpiHost(mb)
    assert not mb.escaped, mb.escaped
    mb.cleanup()
    vrmgmt.cmpi.reset()
    if old is None:
        os.environ.pop("VRMGMT_CONFIG", None)
    else:
        os.environ["VRMGMT_CONFIG"] = old


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_same_answer_on_both_hosts(case, server_host, cmpi_host):
    via_server = case.run(server_host)
    via_cmpi = case.run(cmpi_host)
    assert via_server == via_cmpi, f"{case.name}: server {via_server!r} != cmpi {via_cmpi!r}"
    assert via_server == case.expect
