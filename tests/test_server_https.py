"""HTTPS: the server generates a self-signed certificate on first start and serves
CIM-XML over TLS; clients that check it against that certificate connect, others are
refused by their own verification."""

from __future__ import annotations

import os

import pytest
import pywbem

from support.server import VrmServer
from support.testdriver import node_uri, write_node_xml


@pytest.fixture(scope="module")
def tls_server(tmp_path_factory):
    d = tmp_path_factory.mktemp("tls")
    doms = write_node_xml(d / "n.xml", 3, seed=8)
    srv = VrmServer(d, [{"id": "tls", "type": "libvirt", "uri": node_uri(d / "n.xml")}], https=True)
    srv.domains = doms
    with srv:
        yield srv


def _https_conn(srv, ca_certs=None, no_verification=False) -> pywbem.WBEMConnection:
    conn = pywbem.WBEMConnection(
        f"https://127.0.0.1:{srv.https_port}",
        srv.creds,
        default_namespace="root/virt",
        ca_certs=ca_certs,
        no_verification=no_verification,
        timeout=60,
    )
    # This environment sets REQUESTS_CA_BUNDLE/CURL_CA_BUNDLE, which would override
    # ca_certs: make the session use only what the test passes.
    conn.session.trust_env = False
    return conn


def test_self_signed_certificate_is_generated_private(tls_server):
    cert = tls_server.state_dir / "server.pem"
    key = tls_server.state_dir / "server.key"
    assert cert.read_text().startswith("-----BEGIN CERTIFICATE-----")
    assert oct(os.stat(key).st_mode & 0o777) == "0o600"


def test_enumerate_over_verified_https(tls_server):
    conn = _https_conn(tls_server, ca_certs=str(tls_server.state_dir / "server.pem"))
    names = conn.EnumerateInstanceNames("VRM_ComputerSystem")
    assert {n["Name"] for n in names} == {u for _, u in tls_server.domains}


def test_unverifiable_certificate_is_refused_by_a_checking_client(tls_server, tmp_path):
    other = tmp_path / "other.pem"
    from vrmgmt.server.main import _self_signed

    _self_signed(other, tmp_path / "other.key")  # a different CA than the server's
    conn = _https_conn(tls_server, ca_certs=str(other))
    with pytest.raises(pywbem.ConnectionError):
        conn.EnumerateInstanceNames("VRM_ComputerSystem")


def test_https_requires_authentication_too(tls_server):
    conn = pywbem.WBEMConnection(
        f"https://127.0.0.1:{tls_server.https_port}",
        None,
        default_namespace="root/virt",
        no_verification=True,
        timeout=60,
    )
    conn.session.trust_env = False
    with pytest.raises(pywbem.AuthError):
        conn.EnumerateInstanceNames("VRM_ComputerSystem")
