"""Console access (DSP1076, docs/console.md) over a real libvirtd + QEMU (TCG) through
the embedded server with pywbem: a running tiny guest with a VNC display on loopback has
one VRM_KVMRedirectionSAP whose host and port are those of libvirt's live <graphics>, and
an RFB server answers there (the VNC handshake's first bytes); when the guest is off it
has none. Needs root and the packages in support.libvirtd.APT_PACKAGES."""

from __future__ import annotations

import os
import socket
import warnings

import pytest
from lxml import etree
from pywbem import CIMInstanceName, WBEMServer

from support.inproc import inproc_server
from support.libvirtd import LibvirtdForTests, remove_domain, tiny_vm_xml

pytestmark = [pytest.mark.qemu, pytest.mark.timeout(180)]

URI = "qemu:///system"
NS = "root/virt"


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    with LibvirtdForTests(URI) as daemon:
        conn = daemon.connect()
        xml = tiny_vm_xml(f"vrmgmt-test-{os.getpid()}-console").replace(
            "<serial type='null'/>",
            "<graphics type='vnc' autoport='yes' listen='127.0.0.1'/><serial type='null'/>",
        )
        dom = conn.defineXML(xml)
        try:
            backends = [{"id": "kvm", "type": "libvirt", "uri": URI, "timeout": 60}]
            with inproc_server(tmp_path_factory.mktemp("console-qemu"), backends) as cim:
                yield cim, dom
        finally:
            remove_domain(conn, dom.UUIDString())
            conn.close()


def vm_path(uuid):
    return CIMInstanceName(
        "VRM_ComputerSystem", {"CreationClassName": "VRM_ComputerSystem", "Name": uuid}, NS
    )


def test_vnc_display_of_a_running_guest(env):
    cim, dom = env
    uuid = dom.UUIDString()
    assert cim.Associators(vm_path(uuid), AssocClass="VRM_HostedAccessPoint") == []
    dom.create()
    g = etree.fromstring(dom.XMLDesc(0)).find("devices/graphics")
    port = int(g.get("port"))
    assert port >= 5900
    (sap,) = cim.Associators(vm_path(uuid), AssocClass="VRM_HostedAccessPoint")
    assert (sap.classname, sap["Name"], sap["SystemName"]) == (
        "VRM_KVMRedirectionSAP",
        "vnc/0",
        uuid,
    )
    assert (sap["KVMProtocol"], sap["Hostname"], sap["Port"]) == (4, "127.0.0.1", port)
    assert sap["AccessInfo"] == f"vnc://127.0.0.1:{port}"
    assert cim.GetInstance(sap.path)["Port"] == port
    (back,) = cim.AssociatorNames(sap.path, AssocClass="VRM_HostedAccessPoint")
    assert back["Name"] == uuid
    # the KVM Redirection profile's central instances are the displays
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        server = WBEMServer(cim)
        (profile,) = server.get_selected_profiles("DMTF", "KVM Redirection")
        assert [p["Name"] for p in server.get_central_instances(profile.path)] == ["vnc/0"]
    # a console can open it: QEMU's VNC server greets with its RFB version
    with socket.create_connection((sap["Hostname"], int(sap["Port"])), timeout=10) as s:
        assert s.recv(12).startswith(b"RFB ")
    dom.destroy()
    assert cim.Associators(vm_path(uuid), AssocClass="VRM_HostedAccessPoint") == []
