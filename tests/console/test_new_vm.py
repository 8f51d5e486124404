"""The console's new-VM form and the VM page's console link in Debian's chromium against
a real `vrmgmt serve` on a real libvirtd (qemu:///system) and a test-driver node:

- an admin fills in the form for the libvirtd host: DefineSystem defines the VM, libvirt
  has it with the vCPUs and memory given, and the console opens its page;
- the same name again: the VM is not defined and the page shows the CIM error (status
  name, code and the server's description); a bad value is caught before sending;
- a reader sees the form read-only;
- a running guest with a VNC display has a console link on its page, the
  VRM_KVMRedirectionSAP's AccessInfo (DSP1076).
"""

from __future__ import annotations

import contextlib
import os
import time
import uuid as uuidlib

import libvirt
import pytest

from support.browser import ConsoleBrowser, console_user, launch_chromium
from support.console_pages import PW, ROLE_USERS, open_page, page_url
from support.libvirtd import LibvirtdForTests, LibvirtdUnavailable, remove_domain, tiny_vm_xml
from support.server import VrmServer
from support.testdriver import node_uri, write_node_xml

pytestmark = [pytest.mark.browser, pytest.mark.qemu, pytest.mark.timeout(300)]


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    d = tmp_path_factory.mktemp("newvm")
    try:
        daemon = LibvirtdForTests("qemu:///system")
        daemon.start()
    except LibvirtdUnavailable as exc:
        pytest.fail(f"needs libvirtd: {exc}")
    write_node_xml(d / "node.xml", 2, prefix="nv", seed=3)
    backends = [
        {"id": "td", "type": "libvirt", "uri": node_uri(d / "node.xml")},
        {"id": "kvm", "type": "libvirt", "uri": "qemu:///system", "timeout": 30},
    ]
    srv = VrmServer(d / "srv", backends)
    for role, name in ROLE_USERS.items():
        console_user(srv, name, PW, role)
    defined: list[str] = []
    try:
        with srv, launch_chromium() as browser:
            yield type(
                "Env",
                (),
                {
                    "srv": srv,
                    "daemon": daemon,
                    "browser": browser,
                    "defined": defined,
                    "cim": srv.conn(),
                },
            )
    finally:
        conn = daemon.connect()
        try:
            for name in defined:
                with contextlib.suppress(libvirt.libvirtError):
                    remove_domain(conn, conn.lookupByName(name).UUIDString())
        finally:
            conn.close()
        daemon.stop()


def fill(page, host_label: str, name: str, cpus: str, memory: str):
    page.get_by_label("Host").select_option(label=host_label)
    page.get_by_label("Name", exact=True).fill(name)
    page.get_by_label("Virtual CPUs").fill(cpus)
    page.get_by_label("Memory (MiB)").fill(memory)


def test_defining_a_vm_with_the_form(env):
    name = f"vrmgmt-test-{os.getpid()}-{uuidlib.uuid4().hex[:6]}"
    env.defined.append(name)
    [kvm] = [h for h in env.cim.EnumerateInstances("VRM_HostSystem") if h["BackendID"] == "kvm"]
    with ConsoleBrowser(env.browser, env.srv) as cb:
        cb.open()
        cb.login(ROLE_USERS["admin"], PW)
        cb.page.get_by_role("link", name="New VM").click()
        page = cb.page
        page.locator(".page-new-vm[data-ready='true']").wait_for()
        fill(page, f"{kvm['ElementName']} — kvm (libvirt)", name, "2", "64")
        page.get_by_role("button", name="Define VM").click()
        page.locator(".page-vm[data-ready='true']").wait_for()
        assert page.locator("#vm-title").inner_text() == name
        conn = env.daemon.connect()
        try:
            dom = conn.lookupByName(name)
            _state, max_kib, _mem, vcpus, _t = dom.info()
            assert (vcpus, max_kib) == (2, 64 * 1024)
            assert not dom.isActive()
        finally:
            conn.close()
        # the page is the new VM's, from the server
        [vm] = [
            v for v in env.cim.EnumerateInstances("VRM_ComputerSystem") if v["ElementName"] == name
        ]
        assert str(vm["Name"]) in page.locator("#vm-facts").inner_text()
        # the same name again: not defined, the CIM error shown
        cb.page.goto(page_url(cb, "new-vm"))
        page.locator(".page-new-vm[data-ready='true']").wait_for()
        fill(page, f"{kvm['ElementName']} — kvm (libvirt)", name, "1", "64")
        page.get_by_role("button", name="Define VM").click()
        msg = page.locator("#nv-message.error")
        msg.wait_for()
        text = msg.inner_text()
        assert text.startswith("The VM was not defined. CIM_ERR_"), text
        assert name in text or "exist" in text.lower(), text
        assert "#/new-vm" in page.url
        conn = env.daemon.connect()
        try:
            assert [d.name() for d in conn.listAllDomains()].count(name) == 1
        finally:
            conn.close()
        assert not cb.js_errors


def test_bad_values_are_caught_and_readers_see_the_form_read_only(env):
    with ConsoleBrowser(env.browser, env.srv) as cb:
        cb.open()
        cb.login(ROLE_USERS["admin"], PW)
        open_page(cb, "new-vm")
        page = cb.page
        page.get_by_label("Name", exact=True).fill("bad name!")
        page.get_by_label("Memory (MiB)").fill("0")
        page.get_by_role("button", name="Define VM").click()
        assert page.locator("#nv-memory").get_attribute("aria-invalid") == "true"
        assert page.locator("#nv-name-error").inner_text()
        assert page.locator("#nv-memory-error").inner_text() == "At least 1 MiB."
    with ConsoleBrowser(env.browser, env.srv) as cb:
        cb.open()
        cb.login(ROLE_USERS["reader"], PW)
        open_page(cb, "new-vm")
        assert cb.page.locator("#nv-role-note").is_visible()
        assert cb.page.get_by_role("button", name="Define VM").is_disabled()
        assert cb.page.get_by_label("Name", exact=True).is_disabled()


def test_console_link_of_a_guest_with_vnc(env):
    name = f"vrmgmt-test-{os.getpid()}-vnc{uuidlib.uuid4().hex[:4]}"
    env.defined.append(name)
    xml = tiny_vm_xml(name).replace(
        "<serial type='null'/>",
        "<serial type='null'/><graphics type='vnc' autoport='yes' listen='127.0.0.1'/>",
    )
    conn = env.daemon.connect()
    try:
        dom = conn.defineXML(xml)
        dom.create()
        uuid = dom.UUIDString()
    finally:
        conn.close()
    deadline = time.monotonic() + 30
    saps = []
    while not saps and time.monotonic() < deadline:
        vms = [v for v in env.cim.EnumerateInstanceNames("VRM_ComputerSystem") if v["Name"] == uuid]
        if vms:
            saps = env.cim.Associators(vms[0], AssocClass="VRM_HostedAccessPoint")
        time.sleep(0.3)
    assert saps, "no VRM_KVMRedirectionSAP for the VNC guest"
    with ConsoleBrowser(env.browser, env.srv) as cb:
        cb.open()
        cb.login(ROLE_USERS["admin"], PW)
        open_page(cb, "vm", vms[0])
        link = cb.page.get_by_role("link", name=f"Open the VNC console of {name}")
        link.wait_for()
        assert link.get_attribute("href") == saps[0]["AccessInfo"]
        assert str(saps[0]["Port"]) in cb.page.locator(".console-link").inner_text()
