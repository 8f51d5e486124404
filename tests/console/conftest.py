"""Fixtures of the web console's browser tests (support/browser.py): one chromium per
test module, and a `vrmgmt serve` over a libvirt test-driver node file."""

from __future__ import annotations

import pytest

from support.browser import ConsoleBrowser, launch_chromium
from support.server import VrmServer
from support.testdriver import node_uri, write_node_xml


@pytest.fixture(scope="module")
def chromium():
    with launch_chromium() as browser:
        yield browser


@pytest.fixture(scope="module")
def td_server(tmp_path_factory):
    """A server over a test-driver node file with 6 domains (half of them running)."""
    d = tmp_path_factory.mktemp("console")
    domains = write_node_xml(d / "node.xml", 6, running_every=2, prefix="web", seed=16)
    srv = VrmServer(d / "srv", [{"id": "td", "type": "libvirt", "uri": node_uri(d / "node.xml")}])
    srv.domains = domains
    with srv:
        yield srv


@pytest.fixture
def console(chromium, td_server):
    """A fresh browser context (no cookies) on td_server."""
    with ConsoleBrowser(chromium, td_server) as cb:
        yield cb
