"""Browser tests of the web console: Debian's chromium driven by Playwright (its Python
package only: never `playwright install`; the browser is /usr/bin/chromium from the
Debian package, headless, --no-sandbox since tests may run as root, no background
networking, a fresh profile per browser: Playwright's launch() makes a new temporary
user-data-dir and removes it at close).

- `launch_chromium()`: a context manager yielding a Playwright Browser.
- `ConsoleBrowser(browser, server)`: one browser context (its own cookies) on a
  `vrmgmt serve` (support.server.VrmServer): `.page`, `.open()`, `.login(user, pw)`,
  the network log (`.requests`: every URL the page asked for), JavaScript errors
  (`.js_errors`), and `.screenshot(name)` into the artifacts directory.
- `artifacts_dir()`: `$VRMGMT_ARTIFACTS`, default `.cache/artifacts/console/` in the
  project (git-ignored): screenshots for people to look at, not committed.
- `console_user(server, name, password, role)`: add a user with a role to the server's
  users file (the server re-reads it on the next login).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import time
from collections.abc import Iterator
from pathlib import Path

from support.server import PASSWORD, PROJECT, USER, VrmServer
from vrmgmt.auth import set_password

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-default-apps",
    "--disable-extensions",
    "--disable-dev-shm-usage",
]
VIEWPORT = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}
#: how long a test waits for something to appear in the page (ms)
WAIT_MS = 20_000

#: the console's label of each power action, by RequestedState (static/js/ui.js)
POWER_MENU = {
    2: "Start / resume",
    9: "Pause",
    6: "Suspend (save)",
    4: "Shut down",
    10: "Reboot",
    11: "Reset",
    3: "Power off",
}


def chromium_path() -> str:
    """Debian's chromium; a clear failure (not a skip) when it is missing."""
    for exe in (CHROMIUM, "/usr/lib/chromium/chromium"):
        if os.access(exe, os.X_OK):
            return exe
    found = shutil.which("chromium")
    if found:
        return found
    raise RuntimeError(
        "Debian's chromium is not installed (packages chromium, chromium-driver); "
        "run scripts/dev setup test, which installs them"
    )


def artifacts_dir() -> Path:
    d = Path(os.environ.get("VRMGMT_ARTIFACTS") or PROJECT / ".cache" / "artifacts" / "console")
    d.mkdir(parents=True, exist_ok=True)
    return d


@contextlib.contextmanager
def launch_chromium() -> Iterator[object]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(
            executable_path=chromium_path(), headless=True, args=CHROMIUM_ARGS
        )
        try:
            yield browser
        finally:
            browser.close()


def console_user(server: VrmServer, name: str, password: str, role: str) -> None:
    set_password(server.state_dir / "users", name, password, role)


class ConsoleBrowser:
    """One browser context on a server: cookies of its own, a network log and the
    page's JavaScript errors."""

    def __init__(self, browser, server: VrmServer, viewport: dict | None = None, host: str = ""):
        self.server = server
        self.base = f"http://{host or '127.0.0.1'}:{server.port}"
        self.context = browser.new_context(viewport=viewport or VIEWPORT)
        self.context.set_default_timeout(WAIT_MS)
        self.page = self.context.new_page()
        self.requests: list[tuple[str, str]] = []  # (method, URL)
        #: the CIM-XML operations the page sent: (CIMMethod header, request body)
        self.cim_calls: list[tuple[str, str]] = []
        self.js_errors: list[str] = []
        self.page.on("request", self._request)
        self.page.on("pageerror", lambda e: self.js_errors.append(str(e)))
        self.page.on("console", self._console_message)

    def _request(self, r) -> None:
        self.requests.append((r.method, r.url))
        if r.method == "POST":
            self.cim_calls.append((r.headers.get("cimmethod", ""), r.post_data or ""))

    def _console_message(self, msg) -> None:
        # chromium logs every HTTP error status of a fetch ("Failed to load resource"):
        # a 401 for a wrong password is expected, not a script error
        if msg.type == "error" and not msg.text.startswith("Failed to load resource"):
            self.js_errors.append(msg.text)

    def close(self) -> None:
        self.context.close()

    def __enter__(self) -> ConsoleBrowser:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # -- navigation ------------------------------------------------------------------
    def open(self, hash_: str = "") -> None:
        self.page.goto(f"{self.base}/console/{hash_}")

    def login(self, user: str = USER, password: str = PASSWORD, expect_ok: bool = True) -> float:
        """Log in through the form; returns the ms from the form's submission to the
        tree being ready, measured in the page (performance marks of app.js and
        pages/tree.js)."""
        page = self.page
        if "/console/" not in page.url:
            self.open()
        page.get_by_label("User name").fill(user)
        page.get_by_label("Password").fill(password)
        page.evaluate("performance.clearMarks()")
        page.get_by_role("button", name="Log in").click()
        if not expect_ok:
            return 0.0
        page.locator(".tree[data-ready='true']").wait_for()
        return page.evaluate(
            """() => performance.getEntriesByName('vrm-tree-ready')[0].startTime
                   - performance.getEntriesByName('vrm-login-submit')[0].startTime"""
        )

    def logout(self) -> None:
        self.page.get_by_role("button", name="Log out").click()
        self.page.get_by_label("User name").wait_for()

    def login_message(self) -> str:
        loc = self.page.locator("#login-message")
        loc.wait_for()
        deadline = time.monotonic() + WAIT_MS / 1000
        while time.monotonic() < deadline:
            text = loc.inner_text().strip()
            if text and text != "Logging in…":
                return text
            time.sleep(0.05)
        return loc.inner_text().strip()

    # -- the tree ----------------------------------------------------------------------
    def vm_row(self, name: str):
        return self.page.locator(f"li.vm[data-name='{name}']")

    def group_node(self, name: str):
        return self.page.locator(f"li.group[data-name='{name}']")

    def screenshot(self, name: str, full_page: bool = False) -> Path:
        path = artifacts_dir() / f"{name}.png"
        self.page.screenshot(path=str(path), full_page=full_page)
        return path

    # -- the network log -------------------------------------------------------------
    def paths_requested(self) -> set[str]:
        """The URL paths the page asked for (method and path), from every request."""
        from urllib.parse import urlsplit

        return {f"{m} {urlsplit(u).path}" for m, u in self.requests}


def populate_groups(conn, groups: int, prefix: str = "group-") -> list:
    """Create `groups` groups holding the server's VMs in equal shares (one MoveMembers
    per group); their paths."""
    svc = conn.EnumerateInstanceNames("VRM_GroupManagementService")[0]
    vms = sorted(conn.EnumerateInstanceNames("VRM_ComputerSystem"), key=lambda p: p["Name"])
    share = -(-len(vms) // groups)
    out = []
    for i in range(groups):
        _rv, made = conn.InvokeMethod("CreateGroup", svc, GroupName=f"{prefix}{i:02d}")
        members = vms[i * share : (i + 1) * share]
        if members:
            conn.InvokeMethod("MoveMembers", svc, TargetGroup=made["Group"], Members=members)
        out.append(made["Group"])
    return out


def measure_tree(browser, server: VrmServer, runs: int = 3) -> list[dict]:
    """Log in `runs` times in fresh contexts; each run's ms from the login form's
    submission to the tree being ready, and its parts (the tree's CIM requests,
    building the page), as the page measured them."""
    out = []
    for _ in range(runs):
        with ConsoleBrowser(browser, server) as cb:
            cb.open()
            total = cb.login()
            tree = cb.page.locator(".tree")
            out.append(
                {
                    "total_ms": round(total, 1),
                    "cim_ms": int(tree.get_attribute("data-load-ms")),
                    "draw_ms": int(tree.get_attribute("data-draw-ms")),
                    "rows": cb.page.locator("li.vm").count(),
                }
            )
    return out
