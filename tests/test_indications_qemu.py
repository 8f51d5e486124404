"""Indications from a real libvirtd + QEMU (TCG): a tiny guest defined, started,
paused, resumed, stopped and undefined — through vrmgmt and behind its back with virsh —
reaches pywbem's WBEMListener within 2 s as the right indication class with the VM as
SourceInstance (libvirt domain lifecycle events; issue 15). Needs root and the packages
in support.libvirtd.APT_PACKAGES."""

from __future__ import annotations

import os
import subprocess
import time

import libvirt
import pytest
from pywbem import CIMInstanceName, Uint16

from support.indications import arrival, arrivals, collector, subscribe
from support.inproc import inproc_server
from support.libvirtd import LibvirtdForTests, remove_domain, tiny_vm_xml
from support.peer_libvirtd import PeerLibvirtd
from vrmgmt.inventory import PROBE_INTERVAL

pytestmark = [pytest.mark.qemu, pytest.mark.timeout(180)]

URI = "qemu:///system"
WITHIN = 2.0
HOST_FILTER = "SELECT * FROM CIM_InstModification WHERE SourceInstance ISA VRM_HostSystem"
LOST_COMMUNICATION, OK = 13, 2  # OperationalStatus
COMM_LOST, COMM_OK = 3, 2  # CommunicationStatus


@pytest.fixture(scope="module")
def libvirtd():
    with LibvirtdForTests(URI) as daemon:
        yield daemon


def virsh(*args: str) -> None:
    r = subprocess.run(["virsh", "-c", URI, *args], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stdout + r.stderr


def test_qemu_lifecycle_via_virsh_and_vrmgmt(libvirtd, tmp_path):
    backends = [{"id": "qemu", "type": "libvirt", "uri": URI}]
    with inproc_server(tmp_path / "state", backends) as conn, collector() as lst:
        subscribe(conn, lst.url, "qemu")
        time.sleep(1)  # the backend's event registration runs in its own thread

        def expect(cls: str, uuid: str, enabled: int | None, what: str):
            t0 = time.monotonic()
            ind = lst.wait_for(
                lambda i: i.classname == cls and i["SourceInstance"]["Name"] == uuid, WITHIN
            )
            assert time.monotonic() - t0 < WITHIN, what
            src = ind["SourceInstance"]
            assert src.classname == "VRM_ComputerSystem", what
            if enabled is not None:
                assert src["EnabledState"] == enabled, what
            return ind

        with libvirtd.tiny_vm() as tiny:  # defined with libvirt, outside vrmgmt
            ind = expect("CIM_InstCreation", tiny.uuid, 3, "defined")
            assert ind["SourceInstance"]["ElementName"] == tiny.name
            virsh("start", tiny.name)
            expect("CIM_InstModification", tiny.uuid, 2, "virsh start")
            vm = CIMInstanceName(
                "VRM_ComputerSystem",
                {"CreationClassName": "VRM_ComputerSystem", "Name": tiny.uuid},
                namespace="root/virt",
            )
            rv, _ = conn.InvokeMethod("RequestStateChange", vm, RequestedState=Uint16(9))
            assert rv == 0
            expect("CIM_InstModification", tiny.uuid, 9, "pause through vrmgmt")
            virsh("resume", tiny.name)
            expect("CIM_InstModification", tiny.uuid, 2, "virsh resume")
            virsh("destroy", tiny.name)
            expect("CIM_InstModification", tiny.uuid, 3, "virsh destroy")
        expect("CIM_InstDeletion", tiny.uuid, None, "undefined")


def test_host_lost_and_back_when_libvirtd_stops_and_starts(tmp_path):
    LibvirtdForTests.prepare_host()  # the user the peer daemon runs as
    with PeerLibvirtd() as peer:
        backends = [{"id": "peer", "type": "libvirt", "uri": peer.uri}]
        with inproc_server(tmp_path / "state", backends) as conn, collector() as lst:
            subscribe(conn, lst.url, "host", query=HOST_FILTER)
            subscribe(conn, lst.url, "vms")
            time.sleep(1)  # the event registration runs in its own thread
            host = CIMInstanceName(
                "VRM_HostSystem",
                {"CreationClassName": "VRM_HostSystem", "Name": "peer"},
                namespace="root/virt",
            )
            assert list(conn.GetInstance(host)["OperationalStatus"]) == [OK]
            lst.drain()

            def host_change(ind) -> bool:
                return ind["SourceInstance"].classname == "VRM_HostSystem"

            # a domain defined before the outage, whose definition is removed while the
            # daemon is down (an administrator restoring its configuration): its
            # CIM_InstDeletion comes with the reconnect, from a fresh listing
            lv = libvirt.open(peer.uri)
            name = f"vrmgmt-test-{os.getpid()}-gone"
            try:
                gone = lv.defineXML(tiny_vm_xml(name)).UUIDString()
            finally:
                lv.close()
            lst.wait_for(
                lambda i: i.classname == "CIM_InstCreation" and i["SourceInstance"]["Name"] == gone,
                WITHIN,
            )
            lst.drain()

            t0 = time.monotonic()
            peer.stop()  # SIGTERM: the daemon closes its clients' connections
            when, ind = arrival(lst, host_change, 10)
            src, prev = ind["SourceInstance"], ind["PreviousInstance"]
            assert ind.classname == "CIM_InstModification"
            assert src["Name"] == "peer" and src.path is None
            assert list(src["OperationalStatus"]) == [LOST_COMMUNICATION]
            assert src["CommunicationStatus"] == COMM_LOST
            assert list(prev["OperationalStatus"]) == [OK]
            assert prev["CommunicationStatus"] == COMM_OK
            assert any("backend 'peer' unreachable" in d for d in src["StatusDescriptions"])
            assert when - t0 < WITHIN, when - t0
            assert list(conn.GetInstance(host)["OperationalStatus"]) == [LOST_COMMUNICATION]
            assert [i for i in lst.drain() if host_change(i)] == []  # once

            (peer.dir / "config/libvirt/qemu" / f"{name}.xml").unlink()
            peer.start()  # same socket; returns once the daemon answers
            answered = time.monotonic()
            got = arrivals(
                lst,
                {
                    "back": host_change,
                    "gone": lambda i: (
                        i.classname == "CIM_InstDeletion" and i["SourceInstance"]["Name"] == gone
                    ),
                },
                15,
            )
            when, ind = got["back"]
            src, prev = ind["SourceInstance"], ind["PreviousInstance"]
            assert got["gone"][1]["SourceInstance"]["ElementName"] == name
            assert got["gone"][0] - answered < PROBE_INTERVAL + WITHIN
            assert list(src["OperationalStatus"]) == [OK] and src["CommunicationStatus"] == COMM_OK
            assert list(prev["OperationalStatus"]) == [LOST_COMMUNICATION]
            # the reconnect probe, every PROBE_INTERVAL s, found it back
            assert when - answered < PROBE_INTERVAL + WITHIN, when - answered
            assert list(conn.GetInstance(host)["OperationalStatus"]) == [OK]

            # lifecycle events are registered again on the new connection
            lv = libvirt.open(peer.uri)
            uuid = None
            try:
                t0 = time.monotonic()
                dom = lv.defineXML(tiny_vm_xml(f"vrmgmt-test-{os.getpid()}-peer"))
                uuid = dom.UUIDString()
                ind = lst.wait_for(
                    lambda i: (
                        i.classname == "CIM_InstCreation" and i["SourceInstance"]["Name"] == uuid
                    ),
                    WITHIN,
                )
                assert ind["SourceInstance"]["EnabledState"] == 3
                assert time.monotonic() - t0 < WITHIN
                dom.undefine()
                lst.wait_for(
                    lambda i: (
                        i.classname == "CIM_InstDeletion" and i["SourceInstance"]["Name"] == uuid
                    ),
                    WITHIN,
                )
            finally:
                if uuid is not None:
                    remove_domain(lv, uuid)
                lv.close()
