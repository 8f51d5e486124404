"""Long operations on the console's VM and group pages show progress from their job
(VRM_ConcreteJob), in Debian's chromium against `vrmgmt serve` over govmomi's vCenter
simulator whose power tasks take 1.5 s (vSphere answers RequestStateChange with 4096 and
a job): the VM page's progress bar is there while the job runs and ends "completed" with
the new state; a group's power-off shows the job's progress, then every member's result.
"""

from __future__ import annotations

import pytest

from support.browser import ConsoleBrowser, launch_chromium
from support.console_pages import open_page
from support.server import VrmServer
from support.vcsim import Vcsim, missing_prerequisites

pytestmark = [pytest.mark.browser, pytest.mark.vcsim, pytest.mark.timeout(300)]
DELAY_MS = 1500

WATCH = """(sel) => { window.__seen = []; const obs = new MutationObserver(() => {
  for (const p of document.querySelectorAll(sel)) {
    const t = p.parentElement.querySelector('.progress-text');
    window.__seen.push([p.hasAttribute('value') ? Number(p.value) : null, t ? t.textContent : '']);
  } });
  obs.observe(document.body,
    { subtree: true, childList: true, attributes: true, characterData: true });
  window.__obs = obs; }"""


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    why = missing_prerequisites()
    if why:
        pytest.fail(why)
    d = tmp_path_factory.mktemp("vmjobs")
    with Vcsim(
        hosts=1, vms=3, method_delay={"PowerOnVM_Task": DELAY_MS, "PowerOffVM_Task": DELAY_MS}
    ) as sim:
        srv = VrmServer(d / "srv", [sim.backend_config(d, "vc")])
        with srv, launch_chromium() as browser:
            yield type("Env", (), {"srv": srv, "browser": browser, "cim": srv.conn()})


def running(env):
    return sorted(
        (v for v in env.cim.EnumerateInstances("VRM_ComputerSystem") if v["EnabledState"] == 2),
        key=lambda v: str(v["ElementName"]),
    )


def test_power_off_shows_the_jobs_progress(env):
    vm = running(env)[0]
    with ConsoleBrowser(env.browser, env.srv) as cb:
        cb.open()
        cb.login()
        open_page(cb, "vm", vm.path)
        page = cb.page
        page.evaluate(WATCH, "#vm-power .job-progress progress")
        page.locator("#power-3").click()
        page.locator("dialog.confirm").get_by_role("button", name="Power off").click()
        bar = page.locator("#vm-power .job-progress")
        bar.wait_for()
        page.locator("#vm-state .badge[data-state='3']").wait_for()
        seen = page.evaluate("window.__seen")
        assert seen[0][1] == "job started"  # shown while the job ran
        assert bar.locator("progress").get_attribute("value") == "100"
        assert "fail" not in bar.inner_text()
        assert env.cim.GetInstance(vm.path)["EnabledState"] == 3
        jobs = env.cim.EnumerateInstances("VRM_ConcreteJob")
        assert any(j["JobState"] == 7 for j in jobs)
        assert not cb.js_errors


def test_group_power_off_shows_progress_then_each_result(env):
    cim = env.cim
    svc = cim.EnumerateInstanceNames("VRM_GroupManagementService")[0]
    vms = running(env)
    assert len(vms) >= 2
    _rv, out = cim.InvokeMethod("CreateGroup", svc, GroupName="slow", Members=[v.path for v in vms])
    with ConsoleBrowser(env.browser, env.srv) as cb:
        cb.open()
        cb.login()
        open_page(cb, "group", out["Group"])
        page = cb.page
        page.evaluate(WATCH, "#group-job progress")
        page.locator("#group-rs-3").click()
        page.locator("dialog.confirm").get_by_role("button", name="Power off all").click()
        page.locator("#group-summary").wait_for(timeout=60_000)
        seen = page.evaluate("window.__seen")
        values = [v for v, _t in seen if v is not None]
        assert values[0] < 100 and values[-1] == 100, seen  # it moved while the job ran
        assert (
            page.locator("#group-summary").inner_text()
            == f"Power off all: {len(vms)} of {len(vms)} VMs done"
        )
        assert page.locator("table.member-results tbody tr").count() == len(vms)
        assert all(cim.GetInstance(v.path)["EnabledState"] == 3 for v in vms)
