"""The console's tree in Debian's chromium against ONE `vrmgmt serve` with three
backends: a real libvirtd + QEMU (one tiny TCG guest, running), govmomi's vCenter
simulator (1 host, 2 VMs) and a libvirt test-driver node file (4 domains).

- every backend's hosts and VMs appear, each VM in the group the server puts it in
  (VRM_MemberOfGroup), with the badge of its EnabledState and the counts;
- pausing the QEMU guest from its menu (by keyboard) changes its badge, and libvirtd
  itself reports it paused; resuming it too;
- a vSphere VM's menu offers exactly its AvailableRequestedStates (no pause);
- "Move to" and drag-and-drop regroup a VM through MoveMembers; it survives a reload
  and the server agrees;
- a change made by another client shows up without a reload (polling);
- screenshots of the tree at 1280x800 and on a phone are written as artifacts, and the
  phone layout has no horizontal scrolling.
"""

from __future__ import annotations

import contextlib
import time
from pathlib import Path
from types import SimpleNamespace

import libvirt
import pytest
from pywbem import Uint16

from support.browser import PHONE, ConsoleBrowser, launch_chromium
from support.browser import POWER_MENU as MENU
from support.libvirtd import LibvirtdForTests
from support.server import VrmServer
from support.testdriver import node_uri, write_node_xml
from support.vcsim import Vcsim, VcsimUnavailable, build_vcsim

pytestmark = [
    pytest.mark.browser,
    pytest.mark.qemu,
    pytest.mark.vcsim,
    pytest.mark.timeout(300),
]

BADGE = {2: "Running", 3: "Off", 6: "Suspended", 9: "Paused"}


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    try:
        build_vcsim()
    except VcsimUnavailable as exc:
        pytest.skip(str(exc))
    d: Path = tmp_path_factory.mktemp("tree")
    with contextlib.ExitStack() as stack:
        daemon = stack.enter_context(LibvirtdForTests("qemu:///system"))
        tiny = stack.enter_context(daemon.tiny_vm(domain_type="qemu"))
        conn = daemon.connect()
        try:
            conn.lookupByUUIDString(tiny.uuid).create()
        finally:
            conn.close()
        sim = stack.enter_context(Vcsim(hosts=1, vms=2))
        td = write_node_xml(d / "node.xml", 4, prefix="td", running_every=2, seed=61)
        backends = [
            {"id": "td", "type": "libvirt", "uri": node_uri(d / "node.xml")},
            {"id": "kvm", "type": "libvirt", "uri": "qemu:///system", "timeout": 30},
            sim.backend_config(d, "vc"),
        ]
        srv = stack.enter_context(VrmServer(d / "srv", backends))
        cim = srv.conn()
        svc = cim.EnumerateInstanceNames("VRM_GroupManagementService")[0]
        vms: dict = {}
        deadline = time.monotonic() + 30
        while tiny.name not in vms and time.monotonic() < deadline:
            vms = {str(v["ElementName"]): v for v in cim.EnumerateInstances("VRM_ComputerSystem")}
        assert tiny.name in vms, sorted(vms)
        hosts = {str(h["BackendID"]): h for h in cim.EnumerateInstances("VRM_HostSystem")}
        _rv, out = cim.InvokeMethod("CreateGroup", svc, GroupName="lab")
        lab = out["Group"]
        _rv, out = cim.InvokeMethod("CreateGroup", svc, GroupName="vsphere")
        vsg = out["Group"]
        # the QEMU guest into lab, the vCenter's host (so its VMs) into vsphere
        cim.InvokeMethod("MoveMembers", svc, TargetGroup=lab, Members=[vms[tiny.name].path])
        cim.InvokeMethod("MoveMembers", svc, TargetGroup=vsg, Members=[hosts["vc"].path])
        browser = stack.enter_context(launch_chromium())
        yield SimpleNamespace(
            srv=srv,
            cim=cim,
            svc=svc,
            sim=sim,
            tiny=tiny,
            td=td,
            daemon=daemon,
            browser=browser,
            lab=lab,
            vsg=vsg,
        )


@pytest.fixture
def cb(env):
    with ConsoleBrowser(env.browser, env.srv) as b:
        b.open()
        b.login()
        yield b


def _group_of(cim, vm) -> str:
    (g,) = cim.AssociatorNames(vm.path, AssocClass="VRM_MemberOfGroup", ResultClass="VRM_Group")
    return str(g["InstanceID"])


def _libvirt_state(env) -> int:
    conn = env.daemon.connect()
    try:
        return conn.lookupByUUIDString(env.tiny.uuid).state()[0]
    finally:
        conn.close()


def _wait(pred, timeout=15.0, what="condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def test_tree_shows_every_backend_in_its_groups(env, cb):
    page = cb.page
    vms = env.cim.EnumerateInstances(
        "VRM_ComputerSystem", PropertyList=["Name", "ElementName", "EnabledState", "BackendID"]
    )
    assert {str(v["BackendID"]) for v in vms} == {"td", "kvm", "vc"}
    by_backend = {b: [v for v in vms if v["BackendID"] == b] for b in ("td", "kvm", "vc")}
    assert len(by_backend["td"]) == 4 and len(by_backend["vc"]) == env.sim.expected_vms
    # the shared system libvirtd may hold other tests' guests too: all of them are shown
    assert env.tiny.uuid in {str(v["Name"]) for v in by_backend["kvm"]}
    assert page.locator("li.vm").count() == len(vms)
    for vm in vms:
        row = page.locator(f"li.vm[data-vm='{vm['Name']}']")
        assert row.count() == 1, vm["ElementName"]
        # in the group the server puts it in, under its own backend's host
        group = row.locator("xpath=ancestor::li[contains(@class,'group')][1]")
        assert group.get_attribute("data-group") == _group_of(env.cim, vm)
        host = row.locator("xpath=ancestor::li[contains(@class,'host')][1]")
        assert host.get_attribute("data-backend") == vm["BackendID"]
        assert host.locator(".host-head .backend").inner_text().startswith(str(vm["BackendID"]))
        assert row.locator(".badge").inner_text() == BADGE[int(vm["EnabledState"])]
    assert page.locator(f"li.group[data-name='lab'] li.vm[data-name='{env.tiny.name}']").count()
    vs = page.locator("li.group[data-name='vsphere']")
    assert vs.locator("li.vm").count() == env.sim.expected_vms
    assert "1 host" in vs.locator(".group-head .count").first.inner_text()
    hosts = env.cim.EnumerateInstances("VRM_HostSystem", PropertyList=["Name"])
    for h in hosts:
        assert page.locator(f"li.host[data-host='{h['Name']}']").count() >= 1
    running = sum(1 for v in vms if int(v["EnabledState"]) == 2)
    groups = len(env.cim.EnumerateInstanceNames("VRM_Group"))
    assert groups == 3  # All, lab, vsphere
    assert page.locator(".toolbar .summary").inner_text() == (
        f"3 groups · {len(hosts)} hosts · {len(vms)} VMs ({running} running)"
    )
    cb.screenshot("tree-1280x800")
    # every control has an accessible name, and ids are unique
    unnamed = page.evaluate(
        """() => [...document.querySelectorAll('button, a, input')]
            .filter(n => !(n.getAttribute('aria-label') || n.textContent.trim()
                           || (n.labels && n.labels.length) || n.getAttribute('placeholder')))
            .map(n => n.outerHTML)"""
    )
    assert unnamed == []
    ids = page.evaluate("() => [...document.querySelectorAll('[id]')].map(n => n.id)")
    assert len(ids) == len(set(ids))
    assert not cb.js_errors


def test_pausing_the_qemu_guest_from_its_menu(env, cb):
    page = cb.page
    row = cb.vm_row(env.tiny.name)
    assert row.locator(".badge").inner_text() == "Running"
    # by keyboard: focus the menu button, open it with Enter, pick Pause
    actions = row.get_by_role("button", name=f"Power actions for {env.tiny.name}")
    actions.focus()
    page.keyboard.press("Enter")
    pause = page.get_by_role("menuitem", name="Pause")
    pause.focus()
    page.keyboard.press("Enter")
    _wait(lambda: row.locator(".badge").inner_text() == "Paused", what="the Paused badge")
    assert _libvirt_state(env) == libvirt.VIR_DOMAIN_PAUSED
    row.get_by_role("button", name=f"Power actions for {env.tiny.name}").click()
    page.get_by_role("menuitem", name="Start / resume").click()
    _wait(lambda: row.locator(".badge").inner_text() == "Running", what="the Running badge")
    assert _libvirt_state(env) == libvirt.VIR_DOMAIN_RUNNING
    assert not cb.js_errors


def test_vsphere_vm_menu_offers_its_available_states_only(env, cb):
    vm = next(
        v
        for v in env.cim.EnumerateInstances("VRM_ComputerSystem")
        if v["BackendID"] == "vc" and v["EnabledState"] == 2
    )
    row = cb.vm_row(str(vm["ElementName"]))
    row.get_by_role("button", name=f"Power actions for {vm['ElementName']}").click()
    items = cb.page.get_by_role("menuitem").all_inner_texts()
    want = [label for s, label in MENU.items() if s in list(vm["AvailableRequestedStates"])]
    assert sorted(items) == sorted(want)
    assert "Pause" not in items  # vSphere has no pause
    cb.page.keyboard.press("Escape")
    assert cb.page.get_by_role("menuitem").count() == 0


def test_vsphere_power_off_asks_first_and_follows_its_job(env, cb):
    page = cb.page
    vm = next(
        v
        for v in env.cim.EnumerateInstances("VRM_ComputerSystem")
        if v["BackendID"] == "vc" and v["EnabledState"] == 2
    )
    name = str(vm["ElementName"])
    row = cb.vm_row(name)
    row.get_by_role("button", name=f"Power actions for {name}").click()
    page.get_by_role("menuitem", name="Power off").click()
    dialog = page.get_by_role("dialog")
    assert name in dialog.inner_text()
    dialog.get_by_role("button", name="Cancel").click()
    assert row.locator(".badge").inner_text() == "Running"  # nothing done
    row.get_by_role("button", name=f"Power actions for {name}").click()
    page.get_by_role("menuitem", name="Power off").click()
    page.get_by_role("dialog").get_by_role("button", name="Power off").click()
    # vSphere answers with a job (4096): the console follows it to the end
    page.get_by_text(f"Power off: {name} done").wait_for()
    assert any(m == "GetInstance" and "VRM_ConcreteJob" in b for m, b in cb.cim_calls)
    assert row.locator(".badge").inner_text() == "Off"
    assert env.cim.GetInstance(vm.path)["EnabledState"] == 3
    row.get_by_role("button", name=f"Power actions for {name}").click()
    page.get_by_role("menuitem", name="Start / resume").click()
    page.get_by_text(f"Start / resume: {name} done").wait_for()
    _wait(lambda: row.locator(".badge").inner_text() == "Running", what="Running again")


def test_move_to_another_group_survives_a_reload(env, cb):
    page = cb.page
    name = env.td[1][0]
    row = cb.vm_row(name)
    row.get_by_role("button", name=f"Move {name} to group").click()
    page.get_by_role("menuitem", name="lab").click()
    lab_row = page.locator(f"li.group[data-name='lab'] li.vm[data-name='{name}']")
    lab_row.wait_for()
    page.reload()
    page.locator(".tree[data-ready='true']").wait_for()
    assert page.locator(f"li.group[data-name='lab'] li.vm[data-name='{name}']").count() == 1
    vm = next(
        v for v in env.cim.EnumerateInstances("VRM_ComputerSystem") if v["ElementName"] == name
    )
    assert _group_of(env.cim, vm) == env.lab["InstanceID"]


def test_drag_and_drop_moves_a_vm(env, cb):
    page = cb.page
    name = env.td[2][0]
    cb.vm_row(name).drag_to(page.locator("li.group[data-name='vsphere'] > .group-head"))
    page.locator(f"li.group[data-name='vsphere'] li.vm[data-name='{name}']").wait_for()
    vm = next(
        v for v in env.cim.EnumerateInstances("VRM_ComputerSystem") if v["ElementName"] == name
    )
    assert _group_of(env.cim, vm) == env.vsg["InstanceID"]


def test_a_change_by_another_client_shows_without_reload(env, cb):
    name = env.td[0][0]
    vm = next(
        v for v in env.cim.EnumerateInstances("VRM_ComputerSystem") if v["ElementName"] == name
    )
    assert cb.vm_row(name).locator(".badge").inner_text() == "Running"
    rv, _ = env.cim.InvokeMethod("RequestStateChange", vm.path, RequestedState=Uint16(9))
    assert rv == 0
    try:
        # the tree polls every 5 s
        _wait(
            lambda: cb.vm_row(name).locator(".badge").inner_text() == "Paused",
            timeout=12,
            what="the poll to show the pause",
        )
    finally:
        env.cim.InvokeMethod("RequestStateChange", vm.path, RequestedState=Uint16(2))


def test_phone_layout(env):
    with ConsoleBrowser(env.browser, env.srv, viewport=PHONE) as b:
        b.open()
        b.login()
        width = b.page.evaluate("document.documentElement.scrollWidth")
        assert width <= PHONE["width"], f"the page scrolls sideways: {width} px"
        b.vm_row(env.tiny.name).get_by_role("button", name="Power actions", exact=False).click()
        assert b.page.get_by_role("menuitem").count() > 0
        b.page.keyboard.press("Escape")
        b.screenshot("tree-phone")


def test_filter_narrows_the_vms_by_name(env, cb):
    page = cb.page
    total = page.locator("li.vm").count()
    page.get_by_label("Filter VMs by name").fill("td0000")
    visible = page.locator("li.vm:visible")
    names = sorted(visible.evaluate_all("rows => rows.map(r => r.dataset.name)"))
    assert names == sorted(n for n, _u in env.td if "td0000" in n)
    page.get_by_label("Filter VMs by name").fill("")
    assert page.locator("li.vm:visible").count() == total


def test_groups_fold_by_keyboard(env, cb):
    page = cb.page
    lab = page.locator("li.group[data-name='lab']")
    n = lab.locator("li.vm").count()
    assert n >= 1
    toggle = page.get_by_role("button", name="Collapse group lab")
    assert toggle.get_attribute("aria-expanded") == "true"
    toggle.focus()
    page.keyboard.press("Enter")
    assert lab.locator("li.vm").count() == 0
    expand = page.get_by_role("button", name="Expand group lab")
    assert expand.get_attribute("aria-expanded") == "false"
    assert page.evaluate("document.activeElement.getAttribute('aria-label')") == "Expand group lab"
    page.keyboard.press("Enter")
    assert lab.locator("li.vm").count() == n
    # the counts stay while folded and unfolded
    assert f"{n} VM" in lab.locator(".group-head .count").first.inner_text()
