"""Shared fixtures: real `vrmgmt serve` processes over libvirt test-driver node files."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
# the test double of cmpi-bindings' SWIG module `cmpi` and its mini CIMOM
sys.path.insert(0, str(Path(__file__).resolve().parent / "cmpi_double"))

from support.server import VrmServer  # noqa: E402
from support.testdriver import node_uri, write_node_xml  # noqa: E402


@pytest.fixture(scope="session")
def wbemcli_bin() -> str:
    path = shutil.which("wbemcli")
    if path is None:
        pytest.fail(
            "sblim wbemcli is not installed (Debian package sblim-wbemcli); "
            "run scripts/dev test, which installs it"
        )
    return path


@pytest.fixture(scope="module")
def testdriver_server(tmp_path_factory):
    """A server over one test-driver backend with 5 domains (3 running, 2 off)."""
    d = tmp_path_factory.mktemp("srv")
    domains = write_node_xml(d / "node.xml", 5, running_every=2, seed=1)
    srv = VrmServer(d, [{"id": "tdhost", "type": "libvirt", "uri": node_uri(d / "node.xml")}])
    srv.domains = domains
    with srv:
        yield srv
