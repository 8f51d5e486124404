"""Node XML for libvirt's test driver (``test:///abs/path.xml``) with many domains.

The test driver reads the whole file when a connection opens and keeps the state in
that connection only: every ``libvirt.open("test:///path.xml")`` starts again from the
file, and two connections to the same file do not share state (only
``test:///default`` is shared). So each test writes its own file.

Domain state comes from the test driver's XML namespace
(``xmlns:test='http://libvirt.org/schemas/domain/test/1.0'``): ``<test:runstate>`` holds
a ``virDomainState`` number (default 1 = running; 5 = shut off, 3 = paused),
``<test:hasmanagedsave/>`` marks a saved (shut-off) domain, and ``<test:domainsnapshot>``
carries snapshot XML.

The file is written with plain string formatting (no DOM): 10,000 domains take a few
tens of milliseconds.
"""

from __future__ import annotations

import os
import random
import uuid as uuidlib
from pathlib import Path
from xml.sax.saxutils import escape

TEST_NS = "http://libvirt.org/schemas/domain/test/1.0"

# virDomainState numbers understood by <test:runstate>
RUNSTATE_RUNNING = 1
RUNSTATE_PAUSED = 3
RUNSTATE_SHUTOFF = 5

_DOMAIN = (
    "<domain type='test' xmlns:test='" + TEST_NS + "'>"
    "<name>{name}</name>"
    "<uuid>{uuid}</uuid>"
    "<memory unit='KiB'>{mem}</memory>"
    "<currentMemory unit='KiB'>{cur}</currentMemory>"
    "<vcpu>{vcpus}</vcpu>"
    "<os><type arch='i686'>hvm</type></os>"
    "<devices>"
    "<disk type='file' device='disk'>"
    "<source file='/var/lib/libvirt/images/{name}.img'/>"
    "<target dev='vda' bus='virtio'/>"
    "</disk>"
    "<interface type='network'>"
    "<mac address='{mac}'/>"
    "<source network='default'/>"
    "<model type='virtio'/>"
    "</interface>"
    "</devices>"
    "{extra}"
    "</domain>\n"
)

_NETWORK = (
    "<network><name>default</name>"
    "<uuid>dd8fe884-6c02-601e-7551-cca97df1c5df</uuid>"
    "<bridge name='virbr0'/><forward/>"
    "<ip address='192.168.122.1' netmask='255.255.255.0'/>"
    "</network>\n"
)

#: the storage pool holding the domains' images (the test driver reports its capacity
#: and, with no volumes, all of it available)
POOL_NAME = "images"
POOL_CAPACITY = 100 << 30  # what the test driver gives every pool, whatever the XML says
_POOL = (
    f"<pool type='dir'><name>{POOL_NAME}</name>"
    "<uuid>8e3a4f4c-5f65-4bd7-9d42-2f5b1f1e7a10</uuid>"
    f"<capacity unit='bytes'>{POOL_CAPACITY}</capacity>"
    f"<available unit='bytes'>{POOL_CAPACITY}</available>"
    "<target><path>/var/lib/libvirt/images</path></target></pool>\n"
)


def write_node_xml(
    path: str | os.PathLike,
    n_domains: int,
    *,
    prefix: str = "vm",
    running_every: int = 1,
    seed: int = 0,
    host_name: str | None = None,
    cpus: tuple[int, int, int, int] = (1, 2, 4, 2),
    cpu_mhz: int = 2400,
    cpu_model: str = "x86_64",
    memory_kib: int = 64 * 1024 * 1024,
    paused_every: int = 0,
    saved_every: int = 0,
) -> list[tuple[str, str]]:
    """Write a test-driver node file with ``n_domains`` domains; return [(name, uuid)].

    - Names are ``f"{prefix}{i:05d}"``; UUIDs are deterministic for (seed, i)
      (a random.Random(seed) sequence); MACs ``52:54:00:..`` unique per (seed, i).
    - Domain i (0-based) runs when ``running_every`` > 0 and ``i % running_every == 0``;
      the others are shut off. ``running_every=1`` (default): all run; 0: none.
    - ``paused_every``/``saved_every`` (> 0): of the running ones, every n-th is paused;
      of the shut-off ones, every n-th carries a managed-save image (SUSPENDED).
    - Each domain has 1-4 vCPUs, 256 MiB - 2 GiB of memory, one virtio disk ``vda`` and
      one virtio NIC on network ``default`` (also defined in the file, as is the
      storage pool ``images`` of /var/lib/libvirt/images holding the disks' images).
    - ``cpus`` is (NUMA nodes, sockets, cores, threads) of the fake host; ``memory_kib``
      its memory. ``host_name`` is only recorded as a comment: the test driver reports
      the real machine's host name (virConnectGetHostname) whatever the file says.
    """
    nodes, sockets, cores, threads = cpus
    rng = random.Random(seed)
    out: list[str] = ["<?xml version='1.0'?>\n"]
    if host_name:
        out.append(f"<!-- host: {escape(host_name).replace('--', '- -')} -->\n")
    out.append(
        "<node>\n"
        f"<cpu><mhz>{cpu_mhz}</mhz><model>{escape(cpu_model)}</model>"
        f"<nodes>{nodes}</nodes><sockets>{sockets}</sockets><cores>{cores}</cores>"
        f"<threads>{threads}</threads></cpu>\n"
        f"<memory>{memory_kib}</memory>\n"
    )
    result: list[tuple[str, str]] = []
    running_seen = shutoff_seen = 0
    mac_base = (seed & 0xFF) << 16
    for i in range(n_domains):
        name = f"{prefix}{i:05d}"
        uid = str(uuidlib.UUID(int=rng.getrandbits(128), version=4))
        vcpus = 1 + i % 4
        mem = 262144 << (i % 4)  # 256 MiB .. 2 GiB
        m = (mac_base + i) & 0xFFFFFF
        mac = f"52:54:00:{m >> 16:02x}:{(m >> 8) & 0xFF:02x}:{m & 0xFF:02x}"
        running = running_every > 0 and i % running_every == 0
        if running:
            running_seen += 1
            if paused_every > 0 and running_seen % paused_every == 0:
                extra = f"<test:runstate>{RUNSTATE_PAUSED}</test:runstate>"
            else:
                extra = ""
        else:
            shutoff_seen += 1
            extra = f"<test:runstate>{RUNSTATE_SHUTOFF}</test:runstate>"
            if saved_every > 0 and shutoff_seen % saved_every == 0:
                extra += "<test:hasmanagedsave/>"
        out.append(
            _DOMAIN.format(
                name=escape(name),
                uuid=uid,
                mem=mem,
                cur=mem,
                vcpus=vcpus,
                mac=mac,
                extra=extra,
            )
        )
        result.append((name, uid))
    out.append(_NETWORK)
    out.append(_POOL)
    out.append("</node>\n")
    Path(path).write_text("".join(out), encoding="utf-8")
    return result


def node_uri(path: str | os.PathLike) -> str:
    """The libvirt URI for a node file (the test driver wants an absolute path)."""
    return "test://" + str(Path(path).resolve())
