"""Configuration, registration file and credentials handling."""

from __future__ import annotations

import os

import pytest

from vrmgmt.cim.loader import ProviderTable, default_registration_file
from vrmgmt.cim.provider import ProviderEnv
from vrmgmt.config import load_config, parse_config
from vrmgmt.errors import ConfigError
from vrmgmt.registration import load_registration, parse_registration


def test_builtin_default():
    cfg = parse_config({})
    assert [(b.id, b.type, b.options) for b in cfg.backends] == [
        ("test", "libvirt", {"uri": "test:///default"})
    ]
    assert (cfg.server.http_bind, cfg.server.http_port, cfg.server.https_port) == (
        "127.0.0.1",
        5988,
        0,
    )
    assert cfg.auth_mode == "basic"


@pytest.mark.parametrize(
    "data,fragment",
    [
        ({"server": {"http_bind": "0.0.0.0"}}, "plain HTTP may only listen on loopback"),
        ({"server": {"http_port": 70000}}, "http_port must be between 0 and 65535"),
        ({"server": {"colour": "blue"}}, "unknown key(s): colour"),
        ({"bogus": {}}, "unknown section(s): bogus"),
        ({"auth": {"mode": "maybe"}}, "mode must be 'basic', 'pam' or 'none'"),
        ({"backends": [{"id": "a"}]}, "'id' and 'type' are required"),
        (
            {"backends": [{"id": "a", "type": "libvirt"}, {"id": "a", "type": "libvirt"}]},
            "duplicate backend id 'a'",
        ),
        ({"backends": [{"id": "a", "type": "libvirt", "timeout": 0}]}, "timeout must be positive"),
    ],
)
def test_config_errors_name_the_problem(data, fragment):
    with pytest.raises(ConfigError) as exc:
        parse_config(data, "my.toml")
    assert fragment in str(exc.value)
    assert "my.toml" in str(exc.value)


def test_config_file_errors(tmp_path):
    with pytest.raises(ConfigError, match="no such configuration file"):
        load_config(tmp_path / "missing.toml")
    bad = tmp_path / "bad.toml"
    bad.write_text("[server\n")
    with pytest.raises(ConfigError, match="invalid TOML"):
        load_config(bad)


def test_credentials_file_must_be_private(tmp_path):
    cred = tmp_path / "vc.cred"
    cred.write_text('username = "root"\npassword = "hunter2-secret"\n')
    os.chmod(cred, 0o644)
    data = {"backends": [{"id": "vc", "type": "vsphere", "host": "h", "credentials": str(cred)}]}
    with pytest.raises(ConfigError) as exc:
        parse_config(data)
    assert "chmod 600" in str(exc.value)
    assert "hunter2" not in str(exc.value)
    os.chmod(cred, 0o600)
    cfg = parse_config(data)
    assert cfg.backends[0].options == {
        "host": "h",
        "username": "root",
        "password": "hunter2-secret",
    }


def test_unknown_backend_type_and_option():
    from vrmgmt.inventory import Inventory

    cfg = parse_config({"backends": [{"id": "x", "type": "hyperv"}]})
    with pytest.raises(ConfigError, match="unknown type 'hyperv'"):
        Inventory.from_config(cfg.backends)
    cfg = parse_config({"backends": [{"id": "x", "type": "libvirt", "url": "test:///default"}]})
    with pytest.raises(ConfigError, match="unknown option.*url"):
        Inventory.from_config(cfg.backends)


def test_registration_file_parses_and_drives_providers():
    regs = load_registration(default_registration_file())
    by_class = {r.class_name: r for r in regs}
    assert by_class["VRM_ComputerSystem"].provider == "VMListProvider"
    assert by_class["VRM_ComputerSystem"].types == ("instance", "method")
    assert "association" in by_class["VRM_HostedDependency"].types
    # the model's classes live in root/virt, the interop classes in root/interop
    # (tests/test_interop.py checks their placement)
    assert all(set(r.namespaces) <= {"root/virt", "root/interop"} for r in regs)
    assert by_class["VRM_ComputerSystem"].namespaces == ("root/virt",)
    table = ProviderTable(ProviderEnv(inventory=None))
    assert table.get("vrm_computersystem", "ROOT/VIRT") is not None
    assert table.get("VRM_ComputerSystem", "root/interop") is None


@pytest.mark.parametrize(
    "text,fragment",
    [
        ("[A]\n provider: P\n", "lacks location, type, namespace"),
        ("[A]\n provider: P\n location: L\n type: instance bogus\n namespace: n\n", "bogus"),
        ("provider: P\n", "expected '[Class]'"),
        (
            "[A]\nprovider: P\nlocation: L\ntype: instance\nnamespace: n\n"
            "[A]\nprovider: Q\nlocation: L\ntype: instance\nnamespace: n\n",
            "registered twice",
        ),
    ],
)
def test_registration_errors(text, fragment):
    with pytest.raises(ConfigError) as exc:
        parse_registration(text, "x.reg")
    assert fragment in str(exc.value)


def test_registration_naming_a_class_the_module_lacks(tmp_path):
    regs = parse_registration(
        "[VRM_Nothing]\nprovider: VMListProvider\nlocation: py3CmpiProvider\n"
        "type: instance\nnamespace: root/virt\n"
    )
    with pytest.raises(ConfigError, match="does not serve it"):
        ProviderTable(ProviderEnv(inventory=None), regs)
