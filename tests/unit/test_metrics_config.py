"""[metrics] in the TOML configuration and the collectd.conf generated from it
(vrmgmt.config, vrmgmt.metrics.collectd): errors name the key, multi-host setups get the
network plugin, vSphere backends are refused by name."""

from __future__ import annotations

import pytest

from vrmgmt.config import default_config, parse_config
from vrmgmt.errors import ConfigError
from vrmgmt.metrics.collectd import config_text

KVM = {"id": "kvm1", "type": "libvirt", "uri": "qemu:///system"}
REMOTE = {"id": "kvm2", "type": "libvirt", "uri": "qemu+ssh://h2/system"}


def cfg(metrics=None, backends=(KVM,)):
    return parse_config(
        {"backends": list(backends), "metrics": metrics or {}, "paths": {"state_dir": "/s"}}
    )


@pytest.mark.parametrize(
    "section, message",
    [
        ({"rrd_root": "/x"}, r"\[metrics\]: unknown key\(s\): rrd_root"),
        ({"rrd_roots": "/x"}, r"\[metrics\] rrd_roots must be a list of directories"),
        ({"collect_interval": 0}, r"collect_interval must be between 1 and 3600"),
        ({"collectd": "yes"}, r"collectd must be one of off, managed, auto"),
        ({"send_to": "mgmt"}, r"send_to must be HOST:PORT"),
    ],
)
def test_bad_metrics_section_names_the_key(section, message):
    with pytest.raises(ConfigError, match=message):
        cfg(section)


def test_defaults():
    c = cfg()
    assert [str(r) for r in c.rrd_roots] == ["/s/rrd"]
    assert c.metrics.collectd == "off" and c.metrics.collect_interval == 10
    assert default_config().metrics.collectd == "auto"  # the built-in default


def test_local_backend_gets_host_plugins_remote_does_not():
    c = cfg({"rrd_roots": ["/r", "/nfs/h3"]}, [KVM, REMOTE])
    local = config_text(c)
    assert 'Hostname "kvm1"' in local and "LoadPlugin cpu" in local
    assert 'Connection "qemu:///system"' in local and 'DataDir "/r"' in local
    remote = config_text(c, "kvm2")
    assert 'Hostname "kvm2"' in remote and "LoadPlugin cpu" not in remote
    assert 'ExtraStats "cpu_util disk_err domain_state pcpu vcpu"' in local


def test_test_driver_gets_no_extra_stats():
    text = config_text(cfg(backends=[{"id": "t", "type": "libvirt", "uri": "test:///default"}]))
    assert "ExtraStats" not in text and "LoadPlugin virt" in text


def test_network_send_and_receive():
    sender = config_text(cfg({"send_to": "10.0.0.5:25826"}))
    assert 'Server "10.0.0.5" "25826"' in sender and "LoadPlugin rrdtool" not in sender
    receiver = config_text(cfg({"listen": "0.0.0.0:25826", "rrdcached": "unix:/run/r.sock"}))
    assert 'Listen "0.0.0.0" "25826"' in receiver
    assert 'DaemonAddress "unix:/run/r.sock"' in receiver and "LoadPlugin rrdtool" not in receiver


def test_vsphere_backend_is_refused_by_name():
    c = cfg(backends=[KVM, {"id": "vc", "type": "vsphere", "host": "h"}])
    with pytest.raises(ConfigError, match="backend 'vc' is vsphere"):
        config_text(c, "vc")
    with pytest.raises(ConfigError, match="no backend 'nope'"):
        config_text(c, "nope")
