"""Indications from a real libvirtd + QEMU (TCG): a tiny guest defined, started,
paused, resumed, stopped and undefined — through vrmgmt and behind its back with virsh —
reaches pywbem's WBEMListener within 2 s as the right indication class with the VM as
SourceInstance (libvirt domain lifecycle events; issue 15). Needs root and the packages
in support.libvirtd.APT_PACKAGES."""

from __future__ import annotations

import subprocess
import time

import pytest
from pywbem import CIMInstanceName, Uint16

from support.indications import collector, subscribe
from support.inproc import inproc_server
from support.libvirtd import LibvirtdForTests

pytestmark = [pytest.mark.qemu, pytest.mark.timeout(180)]

URI = "qemu:///system"
WITHIN = 2.0


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
