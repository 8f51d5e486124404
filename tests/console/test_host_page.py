"""The console's host page in Debian's chromium against a real `vrmgmt serve` over a
libvirt test-driver node file ([host_control] allow_process_control = true; host power
off, and the test driver cannot power its host anyway):

- facts, the OS and the host's VMs (names and badges as the server has them); a
  screenshot at 1280x800 is written as an artifact;
- the process list shows a test process as `ps` does (PID, name, UID, parent, command);
- Terminate (an admin, process control allowed) ends it with SIGTERM;
- a reader sees the list without Terminate buttons and no host power actions; host
  power is not offered where the host cannot do it.
"""

from __future__ import annotations

import os
import signal
import subprocess

import pytest

from support.browser import PHONE, ConsoleBrowser, launch_chromium
from support.console_pages import PW, ROLE_USERS, open_page, pages_server, wait_for

pytestmark = [pytest.mark.browser, pytest.mark.timeout(300)]


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    e = pages_server(tmp_path_factory.mktemp("hostpage"), 6)
    with e.srv, launch_chromium() as browser:
        e.browser, e.cim = browser, e.srv.conn()
        [e.host] = e.cim.EnumerateInstanceNames("VRM_HostSystem")
        yield e


@pytest.fixture
def sleeper():
    p = subprocess.Popen(["sleep", "3217"])
    yield p
    if p.poll() is None:
        p.kill()
    p.wait()


def ps(pid: int) -> dict:
    out = subprocess.run(
        ["ps", "-o", "uid=,ppid=,comm=,args=", "-p", str(pid)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split(None, 3)
    return {"uid": out[0], "ppid": out[1], "comm": out[2], "args": out[3].strip()}


def proc_row(page, pid: int):
    page.get_by_label("Filter processes").fill(str(pid))
    row = page.locator(f"table.proc-table tr[data-pid='{pid}']")
    row.wait_for()
    return row


def test_host_page_facts_os_vms_and_screenshot(env):
    with ConsoleBrowser(env.browser, env.srv) as cb:
        cb.open()
        cb.login()
        cb.page.locator(".host-head a.name").first.click()
        page = cb.page
        page.locator(".page-host[data-ready='true']").wait_for()
        host = env.cim.GetInstance(env.host)
        assert page.locator("#host-title").inner_text() == host["ElementName"]
        facts = page.locator("#host-facts").inner_text()
        assert f"{host['NumberOfProcessors']} CPUs" in facts and "td (libvirt)" in facts
        page.locator("#host-vm-count").wait_for()
        assert page.locator("#host-vm-count").inner_text() == "6 VMs"
        vms = {str(v["ElementName"]): v for v in env.cim.EnumerateInstances("VRM_ComputerSystem")}
        rows = page.locator("table.vm-table tbody tr")
        for i in range(rows.count()):
            name = rows.nth(i).get_attribute("data-name")
            badge = rows.nth(i).locator(".badge").get_attribute("data-state")
            assert int(badge) == vms[name]["EnabledState"]
        [os_] = env.cim.Associators(env.host, AssocClass="VRM_RunningOS")
        assert str(os_["Version"]) in page.locator("#host-os").inner_text()
        # the test driver cannot power its host: no buttons, the reason instead
        assert page.locator("#host-power button").count() == 0
        assert "not supported" in page.locator("#no-host-power").inner_text()
        page.locator(".proc-list[data-ready='true']").wait_for()
        page.locator("#host-graphs .graph-panel[data-ready='true']").wait_for()
        cb.screenshot("host-page")
        assert not cb.js_errors


def test_process_list_matches_ps_and_terminate_ends_it(env, sleeper):
    with ConsoleBrowser(env.browser, env.srv) as cb:
        cb.open()
        cb.login()
        open_page(cb, "host", env.host)
        page = cb.page
        page.locator(".proc-list[data-ready='true']").wait_for()
        row = proc_row(page, sleeper.pid)
        cells = [row.locator("td").nth(i).inner_text().strip() for i in range(5)]
        want = ps(sleeper.pid)
        assert cells == [str(sleeper.pid), want["comm"], want["uid"], want["ppid"], want["args"]]
        assert want["args"] == "sleep 3217"
        # the list is the host's: this test's own process is in it too
        proc_row(page, os.getpid())
        # terminate (confirmed): SIGTERM, and the row goes
        row = proc_row(page, sleeper.pid)
        row.get_by_role("button", name=f"Terminate process {sleeper.pid} sleep").click()
        page.locator("dialog.confirm").get_by_role("button", name="Terminate").click()
        assert sleeper.wait(15) == -signal.SIGTERM
        wait_for(
            lambda: page.locator(f"table.proc-table tr[data-pid='{sleeper.pid}']").count() == 0,
            what="the terminated process to leave the list",
        )
        assert not cb.js_errors


def test_reader_sees_processes_without_terminate_or_power(env, sleeper):
    with ConsoleBrowser(env.browser, env.srv) as cb:
        cb.open()
        cb.login(ROLE_USERS["reader"], PW)
        open_page(cb, "host", env.host)
        page = cb.page
        page.locator(".proc-list[data-ready='true']").wait_for()
        row = proc_row(page, sleeper.pid)
        assert row.get_by_role("button").count() == 0
        assert page.get_by_role("button", name="Terminate", exact=False).count() == 0
        assert "Only admins" in page.locator("#no-host-power").inner_text()
        assert sleeper.poll() is None
        assert not cb.js_errors


def test_host_and_group_pages_fit_a_phone(env):
    svc = env.cim.EnumerateInstanceNames("VRM_GroupManagementService")[0]
    _rv, out = env.cim.InvokeMethod("CreateGroup", svc, GroupName="phone")
    with ConsoleBrowser(env.browser, env.srv, viewport=PHONE) as cb:
        cb.open()
        cb.login()
        for page_name, path in (
            ("host", env.host),
            ("group", out["Group"]),
            ("audit", None),
            ("new-vm", None),
        ):
            open_page(cb, page_name, path)
            if page_name == "host":
                cb.page.locator(".proc-list[data-ready='true']").wait_for()
            width = cb.page.evaluate("document.documentElement.scrollWidth")
            assert width <= PHONE["width"], (page_name, width)
            cb.screenshot(f"{page_name}-page-phone")
        assert not cb.js_errors
