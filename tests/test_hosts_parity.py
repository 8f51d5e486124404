"""One table of behavioural cases (tests/support/parity.py), run through both hosts of
the same providers: the embedded server (`vrmgmt serve`, driven by pywbem over CIM-XML)
and the CMPI adapter (cmpi_pywbem_bindings, driven through the cmpi-bindings test
double). Both must give the same answers, and the answers the table expects. The same
table runs through a real SFCB in tests/test_sfcb.py."""

from __future__ import annotations

import cmpi_mb
import cmpi_testkit as kit
import pytest

from support.hosts import CmpiHost
from support.parity import ServerHost, all_cases
from support.server import VrmServer

CASES = all_cases()


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
