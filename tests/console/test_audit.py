"""The console's audit and event view in Debian's chromium against a real `vrmgmt serve`
(test driver): the audit records come over CIM (VRM_LogEntry, DSP1010; admins only),
newest first and paged from a bounded pull enumeration; the recent jobs
(VRM_ConcreteJob) too.

- a change just made from the console (pausing a VM) is the newest record, with the
  user, the operation, the target and the outcome, after a reload;
- with more than a page of records, Older and Newer page through them in order, and
  the page asks for them with OpenEnumerateInstances/PullInstancesWithPath of 50, never
  a whole enumeration;
- a job started from the console is listed with its state;
- a reader gets the explanation instead of records (the server refuses them too).
"""

from __future__ import annotations

import re

import pytest
import pywbem

from support.browser import ConsoleBrowser, launch_chromium
from support.console_pages import PW, ROLE_USERS, open_page, pages_server
from vrmgmt.audit import AuditLog

pytestmark = [pytest.mark.browser, pytest.mark.timeout(300)]


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    e = pages_server(tmp_path_factory.mktemp("audit"), 4, history=False)
    with e.srv, launch_chromium() as browser:
        e.browser, e.cim = browser, e.srv.conn()
        yield e


def first_row(page) -> list[str]:
    row = page.locator("table.audit-table tbody tr").first
    row.wait_for()
    return [row.locator("td").nth(i).inner_text() for i in range(6)]


def test_a_change_just_made_is_the_newest_record(env):
    uuid = env.domains[0][1]
    [vm] = [v for v in env.cim.EnumerateInstanceNames("VRM_ComputerSystem") if v["Name"] == uuid]
    with ConsoleBrowser(env.browser, env.srv) as cb:
        cb.open()
        cb.login(ROLE_USERS["admin"], PW)
        open_page(cb, "vm", vm)
        cb.page.locator("#power-9").click()
        cb.page.locator("#vm-state .badge[data-state='9']").wait_for()
        cb.page.get_by_role("link", name="Audit").click()
        cb.page.locator(".page-audit[data-ready='true']").wait_for()
        _time, user, client, action, target, outcome = first_row(cb.page)
        assert (user, client, action) == ("ada", "127.0.0.1", "RequestStateChange")
        assert uuid in target and outcome.startswith("completed")
        # what the server has as its newest record, over CIM
        newest = env.cim.OpenEnumerateInstances("VRM_LogEntry", MaxObjectCount=1)
        rec = newest.instances[0]
        env.cim.CloseEnumeration(newest.context)
        assert rec["MessageArguments"][:3] == ["ada", "127.0.0.1", "RequestStateChange"]
        row = cb.page.locator("table.audit-table tbody tr").first
        assert row.get_attribute("data-record-id") == rec["RecordID"]
        assert not cb.js_errors


def test_paging_through_more_than_a_page_with_bounded_pulls(env):
    w = AuditLog(env.srv.state_dir / "audit.log")
    for i in range(120):
        w(user="ada", client="198.51.100.9", action=f"Act{i:03d}", target="t", outcome="completed")
    with ConsoleBrowser(env.browser, env.srv) as cb:
        bodies: list[str] = []
        cb.page.on(
            "request",
            lambda r: bodies.append(r.post_data or "") if r.url.endswith("/cimom") else None,
        )
        cb.open()
        cb.login()
        open_page(cb, "audit")
        page = cb.page

        def acts() -> list[int]:
            """The page's rows' numbers (the records written here; the login adds some)."""
            got = page.eval_on_selector_all(
                "table.audit-table tbody tr", "rows => rows.map(r => r.dataset.action)"
            )
            assert len(got) == 50
            return [int(a[3:]) for a in got if a.startswith("Act")]

        first = acts()
        assert first[0] == 119 and first == list(range(119, 119 - len(first), -1))
        assert len(first) >= 45
        assert page.locator("#audit-newer").is_disabled()
        page.locator("#audit-older").click()
        page.wait_for_function(
            "() => document.querySelector('#audit-page').textContent.startsWith('records 51')"
        )
        second = acts()
        assert second == list(range(first[-1] - 1, first[-1] - 51, -1))  # the next 50
        page.locator("#audit-newer").click()
        page.wait_for_function(
            "() => document.querySelector('#audit-page').textContent.startsWith('records 1–')"
        )
        assert acts() == first
        total = env.cim.GetInstance(
            pywbem.CIMInstanceName("VRM_RecordLog", {"InstanceID": "vrmgmt:audit"}, "root/virt")
        )["CurrentNumberOfRecords"]
        assert f"of {total}" in page.locator("#audit-page").inner_text()
        entry_reqs = [b for b in bodies if "VRM_LogEntry" in b or "PullInstancesWithPath" in b]
        assert any("OpenEnumerateInstances" in b for b in entry_reqs)
        for b in bodies:
            if 'NAME="VRM_LogEntry"' in b:
                assert re.search(r'MaxObjectCount"><VALUE>50<', b), b
            assert '<IMETHODCALL NAME="EnumerateInstances"' not in b
        assert not cb.js_errors


def test_jobs_started_from_the_console_are_listed(env):
    svc = env.cim.EnumerateInstanceNames("VRM_GroupManagementService")[0]
    _rv, out = env.cim.InvokeMethod("CreateGroup", svc, GroupName="auditlab")
    with ConsoleBrowser(env.browser, env.srv) as cb:
        cb.open()
        cb.login(ROLE_USERS["operator"], PW)
        open_page(cb, "group", out["Group"])
        cb.page.locator("#group-rs-2").click()
        cb.page.locator("#group-summary").wait_for()
        cb.page.get_by_role("link", name="Audit").click()
        cb.page.locator(".page-audit[data-ready='true']").wait_for()
        row = cb.page.locator("table.jobs-table tbody tr").first
        row.wait_for()
        cells = [row.locator("td").nth(i).inner_text() for i in range(4)]
        assert cells[1:] == ["RequestStateChangeOfMembers", "otto", "completed"]
        # an operator reads no audit records: the page says so
        assert "needs the admin role" in cb.page.locator("#audit-denied").inner_text()
        assert cb.page.locator("table.audit-table").count() == 0


def test_reader_is_refused_the_records_by_the_server_too(env):
    with ConsoleBrowser(env.browser, env.srv) as cb:
        cb.open()
        cb.login(ROLE_USERS["reader"], PW)
        open_page(cb, "audit")
        cb.page.locator("#audit-denied").wait_for()
        # a crafted GetInstance of a record from the reader's session is refused
        newest = env.cim.OpenEnumerateInstances("VRM_LogEntry", MaxObjectCount=1)
        iid = newest.instances[0]["InstanceID"]
        env.cim.CloseEnumeration(newest.context)
        status = cb.page.evaluate(
            """async (iid) => {
              const { CimClient, CimPath } = await import('./js/cim.js');
              const c = new CimClient();
              const p = new CimPath('VRM_LogEntry', { InstanceID: iid }, 'root/virt');
              try { await c.getInstance(p); return 0; }
              catch (e) { return e.status; }
            }""",
            iid,
        )
        assert status == pywbem.CIM_ERR_ACCESS_DENIED
