"""Usage graphs in the console (graphs.js) in Debian's chromium: PNGs drawn by
VRM_MetricService.GetMetricGraph over a year of synthetic collectd history
(support.rrdsynth, `rrdtool restore`), shown as blob: images.

- the VM page's day graphs and, after the range switch, its year graphs load as images
  of exactly the requested size (naturalWidth x naturalHeight = the Width and Height
  the page sent in its GetMetricGraph requests, read from the network log);
- Maximum switches the consolidation (requests say MAX);
- the host page has the users family too; a VM without history says it has no data;
- on a phone the graphs fit the screen.
"""

from __future__ import annotations

import re

import pytest

from support.browser import PHONE, ConsoleBrowser, launch_chromium
from support.console_pages import open_page, pages_server

pytestmark = [pytest.mark.browser, pytest.mark.timeout(300)]
PARAM = re.compile(r'<PARAMVALUE NAME="(\w+)" PARAMTYPE="\w+"><VALUE>([^<]*)</VALUE>')


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    e = pages_server(tmp_path_factory.mktemp("graphs"), 3)
    with e.srv, launch_chromium() as browser:
        e.browser, e.cim = browser, e.srv.conn()
        yield e


def vm_path(env, i: int):
    [p] = [
        v
        for v in env.cim.EnumerateInstanceNames("VRM_ComputerSystem")
        if v["Name"] == env.domains[i][1]
    ]
    return p


class GraphRequests:
    """The GetMetricGraph requests the page sends (their parameters)."""

    def __init__(self, page):
        self.seen: list[dict] = []
        page.on("request", self._on)

    def _on(self, req):
        body = req.post_data or ""
        if req.url.endswith("/cimom") and 'METHODCALL NAME="GetMetricGraph"' in body:
            self.seen.append(dict(PARAM.findall(body)))


def images(page, panel: str) -> list[dict]:
    return page.eval_on_selector_all(
        f"{panel} img.graph",
        """imgs => imgs.filter(i => !i.hidden).map(i => ({family: i.dataset.family,
            range: i.dataset.range, cf: i.dataset.cf, src: i.src.slice(0, 5),
            complete: i.complete, w: i.naturalWidth, h: i.naturalHeight}))""",
    )


def wait_panel(page, panel: str, range_: str, cf: str = "AVERAGE"):
    page.locator(f"{panel} .graph-panel[data-ready='true']").wait_for()
    page.wait_for_function(
        """([sel, r, cf]) => [...document.querySelectorAll(sel + ' figure.graph-figure')]
             .every(f => f.dataset.loaded !== 'false')
           && [...document.querySelectorAll(sel + ' img.graph')].filter(i => !i.hidden)
             .every(i => i.dataset.range === r && i.dataset.cf === cf && i.complete)""",
        arg=[panel, range_, cf],
    )


def check_sizes(got: list[dict], requests: list[dict], range_: str, cf: str, families: set):
    assert {g["family"] for g in got} == families, got
    mine = [r for r in requests if r["Range"] == range_ and r["Consolidation"] == cf]
    for g in got:
        [req] = [r for r in mine if r["Family"] == g["family"]][-1:]
        assert g["src"] == "blob:" and g["complete"]
        assert (g["w"], g["h"]) == (int(req["Width"]), int(req["Height"])), (g, req)
        assert g["w"] >= 320 and g["h"] > 100


def test_day_and_year_graphs_load_at_the_requested_size(env):
    with ConsoleBrowser(env.browser, env.srv) as cb:
        reqs = GraphRequests(cb.page)
        cb.open()
        cb.login()
        open_page(cb, "vm", vm_path(env, 0))
        page = cb.page
        fams = {"cpu", "memory", "network", "disk"}
        wait_panel(page, "#vm-graphs", "day")
        check_sizes(images(page, "#vm-graphs"), reqs.seen, "day", "AVERAGE", fams)
        page.locator("#vm-graphs label.switch-option", has_text="Year").click()
        wait_panel(page, "#vm-graphs", "year")
        check_sizes(images(page, "#vm-graphs"), reqs.seen, "year", "AVERAGE", fams)
        assert "Last year, average values" in page.locator("#vm-graphs .graph-status").inner_text()
        # maximum values, by keyboard: arrow keys move within the radio group
        page.locator("#vm-graphs input[value='AVERAGE']").focus()
        page.keyboard.press("ArrowRight")
        wait_panel(page, "#vm-graphs", "year", "MAX")
        check_sizes(images(page, "#vm-graphs"), reqs.seen, "year", "MAX", fams)
        assert {r["Consolidation"] for r in reqs.seen} == {"AVERAGE", "MAX"}
        assert not cb.js_errors


def test_host_graphs_have_users_and_a_vm_without_history_says_so(env):
    with ConsoleBrowser(env.browser, env.srv) as cb:
        reqs = GraphRequests(cb.page)
        cb.open()
        cb.login()
        [host] = env.cim.EnumerateInstanceNames("VRM_HostSystem")
        open_page(cb, "host", host)
        wait_panel(cb.page, "#host-graphs", "day")
        check_sizes(
            images(cb.page, "#host-graphs"),
            reqs.seen,
            "day",
            "AVERAGE",
            {"cpu", "memory", "network", "disk", "users"},
        )
        open_page(cb, "vm", vm_path(env, 1))  # no RRD files for this VM
        cb.page.locator("#vm-graphs .graph-panel[data-ready='true']").wait_for()
        notes = cb.page.locator("#vm-graphs figure[data-loaded='empty'] .graph-note")
        assert notes.count() == 4
        assert all(notes.nth(i).inner_text() for i in range(4))
        assert images(cb.page, "#vm-graphs") == []
        assert not cb.js_errors


def test_graphs_fit_a_phone(env):
    with ConsoleBrowser(env.browser, env.srv, viewport=PHONE) as cb:
        reqs = GraphRequests(cb.page)
        cb.open()
        cb.login()
        open_page(cb, "vm", vm_path(env, 0))
        wait_panel(cb.page, "#vm-graphs", "day")
        got = images(cb.page, "#vm-graphs")
        check_sizes(got, reqs.seen, "day", "AVERAGE", {"cpu", "memory", "network", "disk"})
        widths = cb.page.eval_on_selector_all(
            "#vm-graphs img.graph", "imgs => imgs.map(i => i.getBoundingClientRect().right)"
        )
        assert max(widths) <= PHONE["width"]
        assert cb.page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
        cb.screenshot("vm-page-phone", full_page=True)
