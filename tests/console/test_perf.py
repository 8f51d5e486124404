"""The console with 1,000 test-driver VMs in 20 groups (issue 16): the tree is usable —
every VM row shown with its badge, a VM's menu opens — soon after the login, measured in
the page (performance marks from the login form's submission to the tree being ready).
The issue's target is 2 s (bench/console.py checks it and docs/PERFORMANCE.md records
the numbers); this test asserts a generous bound only (the machine is shared with other
test runs), `VRMGMT_CONSOLE_TREE_BOUND` seconds, 5 by default."""

from __future__ import annotations

import json
import os
import statistics

import pytest

from support.browser import ConsoleBrowser, artifacts_dir, measure_tree, populate_groups
from support.server import VrmServer
from support.testdriver import node_uri, write_node_xml

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.timeout(300)]

VMS, GROUPS = 1000, 20
BOUND_S = float(os.environ.get("VRMGMT_CONSOLE_TREE_BOUND", "5"))


@pytest.fixture(scope="module")
def big(tmp_path_factory):
    d = tmp_path_factory.mktemp("perf")
    write_node_xml(d / "node.xml", VMS, running_every=3, seed=1000, prefix="perf")
    srv = VrmServer(d / "srv", [{"id": "td", "type": "libvirt", "uri": node_uri(d / "node.xml")}])
    with srv:
        populate_groups(srv.conn(), GROUPS)
        yield srv


def test_tree_of_1000_vms_is_usable_soon_after_login(chromium, big):
    runs = measure_tree(chromium, big, runs=3)
    assert all(r["rows"] == VMS for r in runs)
    with ConsoleBrowser(chromium, big) as cb:
        cb.open()
        cb.login()
        page = cb.page
        assert page.locator("li.group").count() == GROUPS + 1  # and the root
        assert page.locator("li.vm .badge").count() == VMS
        row = page.locator("li.vm").nth(VMS // 2)
        row.get_by_role("button", name="Power actions", exact=False).click()
        assert page.get_by_role("menuitem").count() >= 1
    median = statistics.median(r["total_ms"] for r in runs)
    (artifacts_dir() / "perf-tree.json").write_text(
        json.dumps({"vms": VMS, "groups": GROUPS, "runs": runs}) + "\n"
    )
    print(f"login -> tree ready, {VMS} VMs in {GROUPS} groups: median {median:.0f} ms {runs}")
    assert median / 1000 < BOUND_S, f"median {median:.0f} ms (runs: {runs})"
