"""Fixtures and helpers shared by tests/test_cmpi_*.py: a private libvirt test-driver
node file per test, a vrmgmt configuration pointing at it ($VRMGMT_CONFIG), and a
MiniMB (tests/cmpi_double/cmpi_mb.py) loading the real providers through the real
registration/vrmgmt.reg and the real cmpi_pywbem_bindings module."""

from __future__ import annotations

from pathlib import Path

import cmpi
import cmpi_mb
import pytest

PROJECT = Path(__file__).resolve().parents[2]
REGISTRATION = PROJECT / "registration" / "vrmgmt.reg"
PROVIDERS = PROJECT / "providers"
NS = "root/virt"
BACKEND = "tdhost"

TEST_NS = "http://libvirt.org/schemas/domain/test/1.0"
VMS = {
    # name: (uuid, running)
    "alpha": ("5f0c2d3e-1a2b-4c5d-8e9f-000000000001", True),
    "beta": ("5f0c2d3e-1a2b-4c5d-8e9f-000000000002", True),
    "gamma": ("5f0c2d3e-1a2b-4c5d-8e9f-000000000003", False),
}

#: devices of the test VMs (name: domain XML <devices>): alpha has a disk, a CD-ROM and a
#: NIC, so every resource allocation settings class has instances, and a VNC display;
#: beta a SPICE display
ALPHA_DISK = "/var/lib/vrmgmt-test/alpha.qcow2"
ALPHA_MAC = "52:54:00:aa:00:01"
DEVICES = {
    "alpha": (
        "<devices><disk type='file' device='disk'><driver name='qemu' type='qcow2'/>"
        f"<source file='{ALPHA_DISK}'/><target dev='vda' bus='virtio'/></disk>"
        "<disk type='file' device='cdrom'><target dev='hdc' bus='ide'/><readonly/></disk>"
        f"<interface type='network'><mac address='{ALPHA_MAC}'/><source network='default'/>"
        "<model type='virtio'/></interface>"
        "<graphics type='vnc' port='5901' autoport='no' listen='127.0.0.1'/></devices>"
    ),
    # a SPICE display listening on every address (reached at 127.0.0.1)
    "beta": (
        "<devices><graphics type='spice' port='5930' autoport='no' listen='0.0.0.0'/></devices>"
    ),
}

#: snapshots of the test VMs (name: [(snapshot, parent, description, creation time,
#: current)]): alpha has a root snapshot and a child it runs on top of
SNAPSHOTS = {
    "alpha": [
        ("base", None, "clean install", 1700000000, False),
        ("patched", "base", "after updates", 1700000600, True),
    ],
}


def _snapshots_xml(name: str) -> str:
    """<test:domainsnapshot> elements (the test driver's status format) of a test VM."""
    uuid = VMS[name][0]
    out = []
    for snap, parent, description, created, current in SNAPSHOTS.get(name, []):
        out.append(
            f"<test:domainsnapshot><name>{snap}</name><description>{description}</description>"
            f"<state>running</state><creationTime>{created}</creationTime>"
            + (f"<parent><name>{parent}</name></parent>" if parent else "")
            + f"<memory snapshot='internal'/><active>{int(current)}</active>"
            f"<domain type='test'><name>{name}</name><uuid>{uuid}</uuid>"
            "<memory unit='KiB'>524288</memory><vcpu>2</vcpu>"
            "<os><type arch='x86_64'>hvm</type></os></domain></test:domainsnapshot>"
        )
    return "".join(out)


#: the host's storage pool (holding alpha's disk image) and network (alpha's NIC's):
#: the test driver gives every pool 100 GiB (whatever the XML says), all of it free
POOL_NAME = "images"
POOL_DIR = "/var/lib/vrmgmt-test"
POOL_CAPACITY = 100 << 30
NETWORK = "default"
POOLS_XML = (
    f"<network><name>{NETWORK}</name><uuid>dd8fe884-6c02-601e-7551-cca97df1c5df</uuid>"
    "<bridge name='virbr0'/><forward/><ip address='192.168.122.1' netmask='255.255.255.0'/>"
    "</network>"
    f"<pool type='dir'><name>{POOL_NAME}</name><uuid>35bb2ad9-388a-cdfe-461a-b8907f6e53fe</uuid>"
    f"<capacity unit='bytes'>{POOL_CAPACITY}</capacity><allocation>0</allocation>"
    f"<available unit='bytes'>{POOL_CAPACITY}</available>"
    f"<target><path>{POOL_DIR}</path></target></pool>"
)


def _hierarchy() -> dict[str, str | None]:
    """What a CIMOM knows from its class repository (answering CMClassPathIsA): every
    class of the project's compiled MOF and its superclass, read from the same compiled
    schema the embedded server serves (cached outside the clone)."""
    from support.cache import cache_dir
    from vrmgmt.server.repository import load_classes

    classes = load_classes(PROJECT / "mof", None, cache_dir() / "schema").classes
    return {c.classname: c.superclass for c in classes.values()}


CLASSES = _hierarchy()


def write_node_xml(path: Path) -> Path:
    domains = []
    for name, (uuid, running) in VMS.items():
        state = "" if running else "<test:runstate>5</test:runstate>"
        domains.append(
            f"<domain type='test' xmlns:test='{TEST_NS}'><name>{name}</name>"
            f"<uuid>{uuid}</uuid><memory unit='KiB'>524288</memory><vcpu>2</vcpu>"
            f"<os><type arch='x86_64'>hvm</type></os>{DEVICES.get(name, '')}{state}"
            f"{_snapshots_xml(name)}</domain>"
        )
    path.write_text(
        "<node><cpu><mhz>2400</mhz><model>x86_64</model><active>4</active><total>4</total>"
        "<nodes>1</nodes><sockets>1</sockets><cores>2</cores><threads>2</threads></cpu>"
        "<memory>8388608</memory>" + "".join(domains) + POOLS_XML + "</node>"
    )
    return path


@pytest.fixture
def vrm_config(tmp_path, monkeypatch) -> Path:
    """$VRMGMT_CONFIG: one libvirt test-driver backend over a node file of this test, and
    a state dir of its own (jobs, groups, requested states: never /var/lib/vrmgmt)."""
    import vrmgmt.cmpi

    node = write_node_xml(tmp_path / "node.xml")
    cfg = tmp_path / "vrmgmt.toml"
    cfg.write_text(
        f'[paths]\nstate_dir = "{tmp_path / "state"}"\n\n'
        f'[[backends]]\nid = "{BACKEND}"\ntype = "libvirt"\nuri = "test://{node}"\ntimeout = 10\n'
    )
    monkeypatch.setenv("VRMGMT_CONFIG", str(cfg))
    vrmgmt.cmpi.reset()
    yield cfg
    vrmgmt.cmpi.reset()


@pytest.fixture
def mb(vrm_config):
    """A minimal CIMOM over the real providers; checks on teardown that no exception
    escaped an entry point and CMPI's thread rules were kept."""
    m = cmpi_mb.MiniMB(REGISTRATION, PROVIDERS, namespace=NS, classes=CLASSES)
    yield m
    assert not m.escaped, f"exceptions escaped entry points: {m.escaped}"
    assert not m.broker.violations, m.broker.violations
    m.cleanup()


def vm_path(mb: cmpi_mb.MiniMB, uuid: str):
    return mb.path("VRM_ComputerSystem", {"CreationClassName": "VRM_ComputerSystem", "Name": uuid})


def host_path(mb: cmpi_mb.MiniMB, backend: str = BACKEND):
    return mb.path("VRM_HostSystem", {"CreationClassName": "VRM_HostSystem", "Name": backend})


def ok(res: cmpi_mb.OpResult) -> cmpi_mb.OpResult:
    assert res.status.rc == cmpi.CMPI_RC_OK, res.status
    assert res.result._done >= 1, "the MI did not call rslt.done()"
    return res
