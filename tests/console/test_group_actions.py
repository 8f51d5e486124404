"""Group-wide power actions on the console's group page in Debian's chromium against a
real `vrmgmt serve` over a libvirt test-driver node file: "Start all" and "Shut down
all"/"Power off all" call RequestStateChangeOfMembers, a progress bar follows the job,
and the per-member results (GetMemberResults) are listed; the server agrees on every
VM's state; an operator may, a reader is not offered the actions."""

from __future__ import annotations

import pytest

from support.browser import ConsoleBrowser, launch_chromium
from support.console_pages import PW, ROLE_USERS, open_page, pages_server

pytestmark = [pytest.mark.browser, pytest.mark.timeout(300)]
N = 12


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    e = pages_server(tmp_path_factory.mktemp("groups"), N, history=False, running_every=3)
    with e.srv, launch_chromium() as browser:
        e.browser, e.cim = browser, e.srv.conn()
        svc = e.cim.EnumerateInstanceNames("VRM_GroupManagementService")[0]
        vms = {str(v["Name"]): v for v in e.cim.EnumerateInstanceNames("VRM_ComputerSystem")}
        _rv, out = e.cim.InvokeMethod("CreateGroup", svc, GroupName="web")
        e.group = out["Group"]
        _rv, out = e.cim.InvokeMethod("CreateGroup", svc, GroupName="db", ParentGroup=e.group)
        e.sub = out["Group"]
        uuids = [u for _n, u in e.domains]
        e.cim.InvokeMethod(
            "MoveMembers", svc, TargetGroup=e.group, Members=[vms[u] for u in uuids[:8]]
        )
        e.cim.InvokeMethod(
            "MoveMembers", svc, TargetGroup=e.sub, Members=[vms[u] for u in uuids[8:10]]
        )
        e.members = uuids[:10]
        yield e


def states(env) -> dict[str, int]:
    return {
        str(v["Name"]): int(v["EnabledState"])
        for v in env.cim.EnumerateInstances(
            "VRM_ComputerSystem", PropertyList=["Name", "EnabledState"]
        )
    }


def run(page, button_id: str, confirm: str | None = None):
    page.locator(f"#{button_id}").click()
    if confirm:
        page.locator("dialog.confirm").get_by_role("button", name=confirm).click()
    page.locator("#group-job progress").wait_for()
    page.locator("#group-summary").wait_for(timeout=60_000)


def results(page) -> list[tuple[str, str]]:
    rows = page.locator("table.member-results tbody tr")
    return [
        (rows.nth(i).locator("td").first.inner_text(), rows.nth(i).get_attribute("data-rc"))
        for i in range(rows.count())
    ]


def test_start_all_and_stop_all_with_progress_and_member_results(env):
    names = {u: n for n, u in env.domains}
    with ConsoleBrowser(env.browser, env.srv) as cb:
        cb.open()
        cb.login(ROLE_USERS["operator"], PW)
        cb.group_node("web").locator("a.name").first.click()
        page = cb.page
        page.locator(".page-group[data-ready='true']").wait_for()
        assert page.locator("#group-counts").inner_text() == "1 subgroups, 0 hosts, 8 VMs"
        # start all, with the subgroup
        before = states(env)
        assert [before[u] for u in env.members].count(3) >= 5  # most are off
        assert page.get_by_label("with subgroups").is_checked()
        run(page, "group-rs-2")
        assert page.locator("#group-summary").inner_text() == "Start all: 10 of 10 VMs done"
        assert page.locator("#group-job progress").get_attribute("value") == "100"
        got = results(page)
        assert sorted(n for n, _rc in got) == sorted(names[u] for u in env.members)
        assert {rc for _n, rc in got} == {"0"}
        now = states(env)
        assert all(now[u] == 2 for u in env.members)
        outside = [u for _n, u in env.domains][10:]
        assert {u: now[u] for u in outside} == {u: before[u] for u in outside}  # untouched
        # power off all, without the subgroup (confirmed in the dialog)
        page.get_by_label("with subgroups").uncheck()
        run(page, "group-rs-3", confirm="Power off all")
        assert page.locator("#group-summary").inner_text() == "Power off all: 8 of 8 VMs done"
        now = states(env)
        assert all(now[u] == 3 for u in env.members[:8])
        assert all(now[u] == 2 for u in env.members[8:10])  # the subgroup's still run
        # the badges on the page follow (members are re-read after the job)
        page.locator(f"li[data-name='{names[env.members[0]]}'] .badge[data-state='3']").wait_for()
        assert not cb.js_errors


def test_a_start_that_needs_no_change_reports_each_member(env):
    with ConsoleBrowser(env.browser, env.srv) as cb:
        cb.open()
        cb.login(ROLE_USERS["operator"], PW)
        open_page(cb, "group", env.sub)
        run(cb.page, "group-rs-2")
        got = results(cb.page)
        assert len(got) == 2 and {rc for _n, rc in got} == {"0"}


def test_reader_is_not_offered_group_actions(env):
    with ConsoleBrowser(env.browser, env.srv) as cb:
        cb.open()
        cb.login(ROLE_USERS["reader"], PW)
        open_page(cb, "group", env.group)
        cb.page.locator("#no-group-actions").wait_for()
        assert cb.page.locator("#group-actions button").count() == 0
        assert cb.page.locator("#group-members li[data-name]").count() == 9  # 8 VMs, 1 subgroup
