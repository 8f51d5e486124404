"""The README's console tour, run line by line against a server with the default
authentication (the generated admin password), and what its text tells a user to do:
open http://127.0.0.1:5988/console/ in a browser and log in as admin with the password
from the admin-password file — done here in Debian's chromium."""

from __future__ import annotations

import pytest

from support.browser import ConsoleBrowser
from support.server import VrmServer
from test_readme_tour import _run_tour, tour_lines

pytestmark = [pytest.mark.browser, pytest.mark.timeout(180)]


def test_readme_console_tour_runs(tmp_path, chromium):
    srv = VrmServer(tmp_path, [{"id": "test", "type": "libvirt", "uri": "test:///default"}])
    (srv.state_dir / "users").unlink()  # the server's own first-start admin
    with srv:
        r = _run_tour(srv, "console", tmp_path)
        out = r.stdout
        assert "<title>vrmgmt console</title>" in out
        assert "frame-ancestors 'none'" in out
        assert "X-Frame-Options: DENY" in out
        assert "cross-origin request refused (Origin https://elsewhere.example" in out
        # the audit record log over CIM has the refusal just made
        assert "VRM_LogEntry" in out and "elsewhere.example" in out, out
        text = "\n".join(tour_lines("console"))
        assert "/var/lib/vrmgmt/admin-password" in text
        # the README's instruction: open the console, log in as admin
        pw = (srv.state_dir / "admin-password").read_text().strip()
        with ConsoleBrowser(chromium, srv) as cb:
            cb.open()
            cb.login("admin", pw)
            assert cb.page.locator("#session-role").inner_text() == "admin"
            assert cb.vm_row("test").locator(".badge").inner_text() == "Running"
