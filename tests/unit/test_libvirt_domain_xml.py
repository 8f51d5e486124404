"""vrmgmt.backends.libvirt.domain_xml: pure parse/build of domain, snapshot and
capabilities XML, tested on literal strings (no libvirt connection, no libvirt import)."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime

import pytest
from lxml import etree

from vrmgmt.backends.libvirt import domain_xml as dx
from vrmgmt.errors import BackendError, NotSupported
from vrmgmt.model import DiskSpec, FilesystemSpec, NicSpec, PowerState, VMSpec

DOMAIN = """
<domain type='kvm'>
  <name>web</name>
  <os><type arch='x86_64'>hvm</type></os>
  <devices>
    <disk type='file' device='disk'>
      <source file='/var/lib/libvirt/images/web.qcow2'/><target dev='vda' bus='virtio'/>
    </disk>
    <disk type='block' device='disk'><source dev='/dev/vg/data'/><target dev='vdb'/></disk>
    <disk type='file' device='cdrom'><target dev='sda' bus='sata'/></disk>
    <disk type='network' device='disk'><source name='pool/vol'/><target dev='vdc'/></disk>
    <interface type='network'>
      <mac address='52:54:00:AA:BB:CC'/><source network='default'/><model type='virtio'/>
      <target dev='vnet0'/>
    </interface>
    <interface type='bridge'><mac address='52:54:00:00:00:02'/><source bridge='br0'/></interface>
    <interface type='user'/>
    <channel type='unix'><target type='virtio' name='org.qemu.guest_agent.0'/></channel>
  </devices>
</domain>
"""


def test_the_module_does_not_load_libvirt():
    code = (
        "import sys, vrmgmt.backends.libvirt.domain_xml, vrmgmt.backends.libvirt as p; "
        "p.build_domain_xml; assert 'libvirt' not in sys.modules, 'libvirt loaded'"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_parse_domain_xml_reads_devices():
    facts = dx.parse_domain_xml(DOMAIN)
    assert (facts["type"], facts["os_type"], facts["guest_agent"]) == ("kvm", "hvm", None)
    assert [(d.device, d.source, d.bus, d.kind) for d in facts["disks"]] == [
        ("vda", "/var/lib/libvirt/images/web.qcow2", "virtio", "disk"),
        ("vdb", "/dev/vg/data", None, "disk"),
        ("sda", None, "sata", "cdrom"),
        ("vdc", "pool/vol", None, "disk"),
    ]
    assert [(n.mac, n.network, n.model, n.device) for n in facts["nics"]] == [
        ("52:54:00:aa:bb:cc", "default", "virtio", "vnet0"),
        ("52:54:00:00:00:02", "br0", None, None),
        ("", None, None, None),
    ]


def test_parse_refuses_entities():
    evil = '<!DOCTYPE d [<!ENTITY x SYSTEM "file:///etc/passwd">]><domain><name>&x;</name></domain>'
    root = dx.parse(evil)
    assert "root:" not in (root.findtext("name") or "")


@pytest.mark.parametrize(
    "driver, domain_type, expected",
    [
        ("QEMU", "kvm", "KVM"),
        ("QEMU", None, "QEMU"),
        ("LIBXL", None, "Xen"),
        ("VBOX", None, "VBOX"),
    ],
)
def test_virtual_system_type(driver, domain_type, expected):
    assert dx.virtual_system_type(driver, domain_type) == expected


def test_build_machine_round_trips_through_parse():
    spec = VMSpec(
        name="db",
        memory_mib=512,
        max_memory_mib=1024,
        vcpus=2,
        uuid="11111111-2222-4333-8444-555555555555",
        description="a <db> & more",
        arch="x86_64",
        machine="q35",
        disks=[DiskSpec(source="/img/db.qcow2", format="qcow2"), DiskSpec(kind="cdrom")],
        nics=[NicSpec(network="default", mac="52:54:00:00:00:01"), NicSpec(bridge="br0")],
        on_crash="restart",
    )
    root = etree.fromstring(dx.build_domain_xml(spec, "qemu"))
    assert root.get("type") == "qemu" and root.findtext("uuid") == spec.uuid
    assert root.findtext("description") == "a <db> & more"
    assert (root.findtext("memory"), root.findtext("currentMemory")) == ("1048576", "524288")
    assert root.find("os/type").attrib == {"arch": "x86_64", "machine": "q35"}
    assert root.find("os/boot").get("dev") == "hd" and root.find("features/acpi") is not None
    assert root.findtext("on_crash") == "restart" and root.find("on_reboot") is None
    assert root.find("devices/disk/driver").get("type") == "qcow2"
    assert root.find("devices/serial") is None  # machines get no serial by default
    assert root.find("devices/video/model").get("type") == "none"
    facts = dx.parse_domain_xml(dx.to_string(root))
    assert [(d.device, d.bus, d.kind) for d in facts["disks"]] == [
        ("vda", "virtio", "disk"),
        ("sda", "sata", "cdrom"),  # a CD-ROM never goes on virtio
    ]
    assert [(n.mac, n.network, n.model) for n in facts["nics"]] == [
        ("52:54:00:00:00:01", "default", "virtio"),
        ("", "br0", "virtio"),  # no MAC given: libvirt generates one at define
    ]


def test_build_container_and_serial_choices():
    spec = VMSpec("c", 64, filesystems=[FilesystemSpec("/srv/c", "/", readonly=True)])
    root = etree.fromstring(dx.build_domain_xml(spec, "lxc"))
    assert root.findtext("os/type") == "exe" and root.findtext("os/init") == "/sbin/init"
    assert root.find("devices/console").get("type") == "pty"  # containers get a console
    assert root.find("devices/filesystem/target").get("dir") == "/"
    assert root.find("features") is None and root.find("devices/video") is None
    quiet = VMSpec("c", 64, serial="none", init="/bin/sh")
    root = etree.fromstring(dx.build_domain_xml(quiet, "lxc"))
    assert root.find("devices/console") is None and root.findtext("os/init") == "/bin/sh"
    root = etree.fromstring(dx.build_domain_xml(VMSpec("x", 64, serial="pty"), "kvm"))
    assert root.find("devices/serial").get("type") == "pty"


def test_disk_element_targets_and_errors():
    taken = {"vda", "vdb"}
    assert dx.disk_element(DiskSpec(source="/a"), "kvm", taken).find("target").get("dev") == "vdc"
    xen = dx.disk_element(DiskSpec(source="/dev/sdz"), "xen", set())
    assert xen.get("type") == "block" and xen.find("source").get("dev") == "/dev/sdz"
    assert xen.find("target").attrib == {"dev": "xvda", "bus": "xen"}
    assert xen.find("driver") is None  # only QEMU domains name a driver
    ro = dx.disk_element(DiskSpec(source="/a", bus="ide", readonly=True), "test", set())
    assert ro.find("target").get("dev") == "hda" and ro.find("readonly") is not None
    with pytest.raises(BackendError, match="'vda' is already in use"):
        dx.disk_element(DiskSpec(source="/a", device="vda"), "kvm", taken)
    with pytest.raises(NotSupported, match="does not create disk images"):
        dx.disk_element(DiskSpec(capacity_bytes=1 << 30), "kvm", set())


def test_nic_element_kinds():
    user = dx.nic_element(NicSpec(), "lxc")
    assert user.get("type") == "user" and user.find("model") is None  # LXC: no NIC model
    net = dx.nic_element(NicSpec(network="n1", mac="52:54:00:00:00:0A", model="e1000"), "kvm")
    assert net.get("type") == "network" and net.find("mac").get("address") == "52:54:00:00:00:0a"
    assert net.find("model").get("type") == "e1000"


def test_find_device_by_target_source_or_mac():
    root = dx.parse(DOMAIN)
    assert dx.find_device(root, "disk", "vdb") is not None
    assert dx.device_key(dx.find_device(root, "disk", "/dev/vg/data")) == "vdb"
    assert dx.device_key(dx.find_device(root, "disk", "pool/vol")) == "vdc"
    assert dx.find_device(root, "disk", "vdz") is None
    nic = dx.find_device(root, "interface", "52:54:00:aa:bb:cc")  # any case
    assert dx.device_key(nic) == "52:54:00:AA:BB:CC"
    assert dx.find_device(root, "interface", "52:54:00:00:00:99") is None
    assert dx.disk_targets(root) == {"vda", "vdb", "sda", "vdc"}


def test_snapshot_xml_and_tree():
    root = etree.fromstring(dx.snapshot_xml("s1", "before upgrade", with_memory=False))
    assert root.findtext("name") == "s1" and root.findtext("description") == "before upgrade"
    assert root.find("memory").get("snapshot") == "no"
    assert etree.fromstring(dx.snapshot_xml("s2", "", with_memory=True)).find("memory") is None

    def snap(name, t, parent=None, state="running"):
        p = f"<parent><name>{parent}</name></parent>" if parent else ""
        return (
            f"<domainsnapshot><name>{name}</name><state>{state}</state>"
            f"<creationTime>{t}</creationTime>{p}</domainsnapshot>"
        )

    nodes = [
        dx.parse_snapshot_xml(snap("child", 20, "root"), current=True),
        dx.parse_snapshot_xml(snap("root", 10, state="disk-snapshot"), current=False),
        dx.parse_snapshot_xml(snap("orphan", 5, "gone", "paused"), current=False),
    ]
    child, parent = nodes[0]
    assert (child.id, child.current, parent) == ("child", True, "root")
    assert child.created == datetime.fromtimestamp(20, UTC)
    tree = dx.snapshot_tree(nodes)
    assert [(s.name, s.state) for s in tree] == [
        ("orphan", PowerState.PAUSED),  # its parent is not listed: a root, by creation time
        ("root", PowerState.OFF),
    ]
    assert [c.name for c in tree[1].children] == ["child"]


CAPS = """
<capabilities>
  <host><cpu><arch>x86_64</arch></cpu>
    <secmodel><model>apparmor</model></secmodel>
    <secmodel><model>dac</model><baselabel type='kvm'>+64055:+994</baselabel></secmodel>
  </host>
  <guest><os_type>hvm</os_type>
    <arch name='x86_64'><domain type='qemu'/><domain type='kvm'/></arch></guest>
  <guest><os_type>hvm</os_type><arch name='i686'><domain type='qemu'/></arch></guest>
</capabilities>
"""


def test_capabilities_queries():
    caps = dx.parse(CAPS)
    assert dx.caps_arch(caps) == "x86_64"
    assert dx.caps_dac_kvm_label(caps) == "+64055:+994"
    assert dx.caps_offer(caps, "hvm", "x86_64", "kvm")
    assert not dx.caps_offer(caps, "hvm", "i686", "kvm")
    assert not dx.caps_offer(caps, "exe", "x86_64", "qemu")
    assert dx.caps_dac_kvm_label(dx.parse("<capabilities><host/></capabilities>")) is None


def test_cputune_round_trip_keeps_other_children():
    from lxml import etree

    from vrmgmt.backends.libvirt import domain_xml as dx
    from vrmgmt.model import CpuAllocation

    root = etree.fromstring(
        "<domain><vcpu>2</vcpu><cputune><vcpupin vcpu='0' cpuset='1'/>"
        "<quota>30000</quota></cputune></domain>"
    )
    assert dx.cpu_allocation(root) == CpuAllocation("percent", limit=30)  # default period
    dx.set_cputune(root, CpuAllocation("percent", limit=25, weight=700))
    tune = root.find("cputune")
    assert [(c.tag, c.text) for c in tune][:3] == [
        ("shares", "700"),
        ("period", "100000"),
        ("quota", "25000"),
    ]
    assert tune.find("vcpupin") is not None
    assert dx.cpu_allocation(root) == CpuAllocation("percent", limit=25, weight=700)
    dx.set_cputune(root, CpuAllocation("percent"))
    assert [c.tag for c in root.find("cputune")] == ["vcpupin"]
    bare = etree.fromstring("<domain><vcpu>1</vcpu><cputune><shares>5</shares></cputune></domain>")
    dx.set_cputune(bare, CpuAllocation("percent"))
    assert bare.find("cputune") is None  # nothing left: the element goes
    assert dx.cpu_allocation(bare) == CpuAllocation("percent")


# -- consoles (parse_graphics) ---------------------------------------------------------
def _graphics(*elements: str) -> str:
    return f"<domain type='qemu'><name>g</name><devices>{''.join(elements)}</devices></domain>"


def test_parse_graphics_vnc_spice_and_listen_forms():
    xml = _graphics(
        "<graphics type='vnc' port='5901' listen='127.0.0.1'/>",
        "<graphics type='spice' port='5930'><listen type='address' address='0.0.0.0'/></graphics>",
        "<graphics type='spice' port='-1' tlsPort='5931'><listen type='address' address='::1'/>"
        "</graphics>",
        "<graphics type='vnc' port='-1' autoport='yes'/>",  # not running: no port yet
        "<graphics type='sdl'/>",
    )
    got = [(c.protocol, c.host, c.port, c.url) for c in dx.parse_graphics(xml, "h.example")]
    assert got == [
        ("vnc", "127.0.0.1", 5901, "vnc://127.0.0.1:5901"),
        ("spice", "h.example", 5930, "spice://h.example:5930"),
        ("spice", "::1", 5931, "spice://[::1]:5931"),
    ]
