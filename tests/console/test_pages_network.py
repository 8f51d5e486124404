"""What the VM, host, group, audit and new-VM pages ask of the server (issue 16: "the
console fetches with pull operations and property lists, not whole enumerations per
click"; "its network log contains only /cimom and static files"): a session through
every page, with a power action, graphs in two ranges and a group action, in Debian's
chromium against `vrmgmt serve` (test driver)."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

import pytest

from support.browser import ConsoleBrowser, launch_chromium
from support.console_pages import open_page, pages_server

pytestmark = [pytest.mark.browser, pytest.mark.timeout(300)]
READS_WITHOUT_PULL = {
    "EnumerateInstances",
    "EnumerateInstanceNames",
    "Associators",
    "AssociatorNames",
    "References",
    "ReferenceNames",
    "ExecQuery",
}


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    e = pages_server(tmp_path_factory.mktemp("netlog"), 4)
    with e.srv, launch_chromium() as browser:
        e.browser, e.cim = browser, e.srv.conn()
        yield e


def test_pages_use_cimom_pulls_and_property_lists_only(env):
    cim = env.cim
    [vm] = [
        v
        for v in cim.EnumerateInstanceNames("VRM_ComputerSystem")
        if v["Name"] == env.domains[0][1]
    ]
    [host] = cim.EnumerateInstanceNames("VRM_HostSystem")
    svc = cim.EnumerateInstanceNames("VRM_GroupManagementService")[0]
    _rv, out = cim.InvokeMethod("CreateGroup", svc, GroupName="net", Members=[vm])
    with ConsoleBrowser(env.browser, env.srv) as cb:
        cb.open()
        cb.login()
        page = cb.page
        open_page(cb, "vm", vm)
        page.locator("#vm-graphs .graph-panel[data-ready='true']").wait_for()
        page.locator("#vm-graphs label.switch-option", has_text="Week").click()
        page.wait_for_function(
            "() => document.querySelector('#vm-graphs img.graph')?.dataset.range === 'week'"
        )
        page.locator("#power-9").click()
        page.locator("#vm-state .badge[data-state='9']").wait_for()
        page.locator("#power-2").click()
        page.locator("#vm-state .badge[data-state='2']").wait_for()
        open_page(cb, "host", host)
        page.locator(".proc-list[data-ready='true']").wait_for()
        open_page(cb, "group", out["Group"])
        page.locator("#group-rs-2").click()
        page.locator("#group-summary").wait_for()
        open_page(cb, "audit")
        page.locator("table.audit-table").wait_for()
        open_page(cb, "new-vm")
        page.wait_for_timeout(5500)  # a poll of the last page
        urls = [(m, u) for m, u in cb.requests if not u.startswith(("blob:", "data:"))]
        paths = {f"{m} {urlsplit(u).path}" for m, u in urls}
        others = {p for p in paths if p != "POST /cimom"}
        assert all(re.fullmatch(r"GET /console/[\w./-]*", p) for p in others), paths
        assert "GET /console/pages.css" in others
        for _m, u in cb.requests:  # images are local blob: URLs, never another address
            assert urlsplit(u).netloc in ("", f"127.0.0.1:{env.srv.port}") or u.startswith(
                "blob:http://127.0.0.1"
            ), u
        # (the shell's login and session check is one EnumerateInstanceNames of
        # CIM_Namespace in root/interop, ccore's; the pages send none)
        methods = [m for m, b in cb.cim_calls if 'CLASSNAME NAME="CIM_Namespace"' not in b]
        assert not READS_WITHOUT_PULL & set(methods), sorted(set(methods))
        for m, body in cb.cim_calls:
            if m in ("GetInstance", "OpenEnumerateInstances", "OpenAssociatorInstances"):
                assert 'IPARAMVALUE NAME="PropertyList"' in body, body[:600]
        assert {
            "GetMetricGraph",
            "RequestStateChange",
            "RequestStateChangeOfMembers",
            "GetMemberResults",
        } <= set(methods)
        assert not cb.js_errors
