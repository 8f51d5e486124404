"""A `vrmgmt serve` for the console's page tests (tests/console/test_vm_page.py,
test_host_page.py, test_graphs.py, test_group_actions.py, test_audit.py): a libvirt
test-driver node file, a year of synthetic RRD history (support.rrdsynth: collectd's
layout, `rrdtool restore`) for the host and the first VM, process control allowed
([host_control] allow_process_control; host power stays off), and a user of each role
(ROLE_USERS, password PW) besides support.server's admin."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

from support import rrdsynth
from support.browser import console_user
from support.server import VrmServer
from support.testdriver import node_uri, write_node_xml

ROLE_USERS = {"reader": "rita", "operator": "otto", "admin": "ada"}
PW = "pw-of-console-role-user"
BACKEND = "td"


def pages_server(d: Path, n_domains: int = 6, *, history: bool = True, **node) -> SimpleNamespace:
    """Not started: use it as a context manager (`with env.srv:`)."""
    node.setdefault("running_every", 2)
    node.setdefault("seed", 16)
    node.setdefault("prefix", "pg")
    domains = write_node_xml(d / "node.xml", n_domains, **node)
    extra = "\n[host_control]\nallow_process_control = true\n"
    srv = VrmServer(
        d / "srv",
        [{"id": BACKEND, "type": "libvirt", "uri": node_uri(d / "node.xml")}],
        extra_config=extra,
    )
    for role, name in ROLE_USERS.items():
        console_user(srv, name, PW, role)
    if history:
        root = srv.state_dir / "rrd"
        rrdsynth.vm_tree(root, BACKEND, domains[0][1])
        rrdsynth.host_tree(root, BACKEND)
    return SimpleNamespace(srv=srv, domains=domains, dir=d)


def page_url(cb, page: str, path=None) -> str:
    """The console URL of a page (#/vm/<WBEM URI>, as the console's links are)."""
    from urllib.parse import quote

    if path is None:
        return f"{cb.base}/console/#/{page}"
    p = path.copy()
    p.host = None
    return f"{cb.base}/console/#/{page}/" + quote(p.to_wbem_uri(), safe="")


def open_page(cb, page: str, path=None):
    """Go to a page and wait until it is drawn (its root has data-ready="true")."""
    cb.page.goto(page_url(cb, page, path))
    loc = cb.page.locator(f".page-{page}[data-ready='true']")
    loc.wait_for()
    return loc


def wait_for(pred, timeout: float = 20.0, what: str = "condition"):
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        v = pred()
        if v:
            return v
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")
