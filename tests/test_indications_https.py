"""Indications to HTTPS listeners with certificate verification (DSP1054; issue 15):
pywbem's WBEMListener on HTTPS with its own certificate, signed by a test CA. vrmgmt
delivers when `[indications] ca_file` holds that CA; it refuses (retries, delivers
nothing, logs why) when the certificate is not trusted (system CA store, another CA)
or is not for the listener's host name. Bad ca_file values are configuration errors."""

from __future__ import annotations

import logging
import queue
import re
import time
from pathlib import Path

import pytest
import pywbem
from pywbem import Uint16, Uint32

from support.certs import make_ca
from support.indications import subscribe
from support.inproc import inproc_server
from support.server import free_port
from vrmgmt.config import parse_config
from vrmgmt.errors import ConfigError

BACKENDS = [{"id": "test", "type": "libvirt", "uri": "test:///default"}]
WITHIN = 2.0
GROUPS = "SELECT * FROM CIM_InstCreation WHERE SourceInstance ISA VRM_Group"
EXPORT_LOG = "vrmgmt.server.indications.export"


class HttpsCollector:
    """pywbem's WBEMListener on HTTPS only, with certificate cert_file / key_file."""

    def __init__(self, cert_file: Path, key_file: Path):
        self.port = free_port()
        self.got: queue.Queue = queue.Queue()
        self.listener = pywbem.WBEMListener(
            "127.0.0.1", https_port=self.port, certfile=str(cert_file), keyfile=str(key_file)
        )
        self.listener.add_callback(lambda ind, host: self.got.put(ind))

    def __enter__(self) -> HttpsCollector:
        self.listener.start()
        return self

    def __exit__(self, *exc) -> None:
        self.listener.stop()


def create_group(conn, name: str) -> str:
    (svc,) = conn.EnumerateInstanceNames("VRM_GroupManagementService")
    rv, out = conn.InvokeMethod("CreateGroup", svc, GroupName=name)
    assert rv == 0
    return out["Group"]["InstanceID"]


def fast_retries(conn, attempts: int = 2) -> None:
    (svc,) = conn.EnumerateInstances("VRM_IndicationService", namespace="root/interop")
    svc["DeliveryRetryAttempts"] = Uint16(attempts)
    svc["DeliveryRetryInterval"] = Uint32(1)
    conn.ModifyInstance(svc, PropertyList=["DeliveryRetryAttempts", "DeliveryRetryInterval"])


def test_delivered_when_ca_file_trusts_the_listener(tmp_path):
    ca = make_ca(tmp_path / "ca")
    cert, key = ca.issue(tmp_path, "listener", ["127.0.0.1", "localhost"])
    sections = {"indications": {"ca_file": str(ca.cert_file)}}
    with (
        HttpsCollector(cert, key) as lst,
        inproc_server(tmp_path / "state", BACKENDS, sections=sections) as conn,
    ):
        subscribe(conn, f"https://127.0.0.1:{lst.port}", "tls", GROUPS)
        for host in ("127.0.0.1", "localhost"):
            t0 = time.monotonic()
            iid = create_group(conn, f"tls-{host}")
            ind = lst.got.get(timeout=WITHIN)
            assert time.monotonic() - t0 < WITHIN
            assert ind.classname == "CIM_InstCreation"
            assert ind["SourceInstance"]["InstanceID"] == iid
            if host == "127.0.0.1":  # the same listener by name: one more destination
                subscribe(conn, f"https://localhost:{lst.port}", "tls-name", GROUPS, "second")
        assert lst.got.get(timeout=WITHIN)["SourceInstance"]["ElementName"] == "tls-localhost"


@pytest.mark.parametrize(
    ("trust", "cert_hosts", "why"),
    [
        ("system", ["127.0.0.1"], "certificate verify failed|unable to get local issuer"),
        ("other-ca", ["127.0.0.1"], "certificate verify failed|unable to get local issuer"),
        ("ca", ["listener.invalid"], "Hostname mismatch|IP address mismatch"),
    ],
)
def test_refused_when_not_trusted_or_not_for_the_host(tmp_path, caplog, trust, cert_hosts, why):
    caplog.set_level(logging.INFO, logger=EXPORT_LOG)
    ca = make_ca(tmp_path / "ca")
    cert, key = ca.issue(tmp_path, "listener", cert_hosts)
    sections: dict = {}
    if trust == "ca":
        sections = {"indications": {"ca_file": str(ca.cert_file)}}
    elif trust == "other-ca":
        other = make_ca(tmp_path / "other", "another CA")
        sections = {"indications": {"ca_file": str(other.cert_file)}}
    with (
        HttpsCollector(cert, key) as lst,
        inproc_server(tmp_path / "state", BACKENDS, sections=sections) as conn,
    ):
        fast_retries(conn, attempts=2)
        subscribe(conn, f"https://127.0.0.1:{lst.port}", "tls", GROUPS)
        create_group(conn, "never-delivered")
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and "gave up" not in caplog.text:
            time.sleep(0.1)
        with pytest.raises(queue.Empty):
            lst.got.get(timeout=0.2)
    refused = [
        r.getMessage()
        for r in caplog.records
        if r.name == EXPORT_LOG and "refused the listener's TLS certificate" in r.getMessage()
    ]
    assert refused, caplog.text
    assert re.search(why, refused[0]), refused[0]
    trusted = "the system's CA store" if trust == "system" else "[indications] ca_file"
    assert trusted in refused[0]
    assert "gave up on an indication after 3 attempts" in caplog.text


def test_ca_file_errors_name_the_file(tmp_path):
    def config(ca: str):
        return parse_config(
            {
                "auth": {"mode": "none"},
                "paths": {"state_dir": str(tmp_path)},
                "indications": {"ca_file": ca},
            },
            source="t.toml",
        )

    missing = tmp_path / "nope.pem"
    with pytest.raises(ConfigError, match=r"t.toml: \[indications\] ca_file .*nope.pem.*no such"):
        config(str(missing))
    junk = tmp_path / "junk.pem"
    junk.write_text("not a certificate\n")
    with pytest.raises(ConfigError, match=r"junk.pem.* no PEM CA certificate"):
        config(str(junk))
    with pytest.raises(ConfigError, match=r"unknown key\(s\): verify"):
        parse_config({"indications": {"verify": False}}, source="t.toml")
    ca = make_ca(tmp_path / "ca")
    assert config(str(ca.cert_file)).indications.ca_file == str(ca.cert_file)
