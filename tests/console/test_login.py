"""The console's login (docs/console-web.md "Login and sessions"), in Debian's chromium
against a real `vrmgmt serve`: a wrong password says so and sets no cookie; the right
one shows the tree, with the user and role in the header, and a session cookie that is
HttpOnly and SameSite=Strict; a reload keeps the session; logout ends it on the server
(the old cookie is refused); an expired session returns to the login with a message."""

from __future__ import annotations

import re
import time

import pytest

from support.browser import ConsoleBrowser, console_user
from support.server import PASSWORD, USER, VrmServer
from support.testdriver import node_uri, write_node_xml

pytestmark = [pytest.mark.browser, pytest.mark.timeout(180)]


def test_wrong_password_is_refused_with_a_message(console):
    console.open()
    console.login(USER, "not-the-password", expect_ok=False)
    assert console.login_message() == "Wrong user name or password."
    assert not [c for c in console.context.cookies() if c["name"] == "vrmgmt_session"]
    # an unknown user gets the same message (nothing tells which part was wrong)
    console.login("nobody-here", "whatever", expect_ok=False)
    assert console.login_message() == "Wrong user name or password."
    audit = (console.server.state_dir / "audit.log").read_text()
    assert '"outcome": "refused: wrong password"' in audit
    assert '"outcome": "refused: unknown user"' in audit
    assert not console.js_errors


def test_login_shows_the_tree_and_sets_a_strict_session_cookie(console):
    console.open()
    console.login()
    page = console.page
    assert page.locator("#session-user").inner_text().startswith(USER)
    assert page.locator("#session-role").inner_text() == "admin"
    (cookie,) = [c for c in console.context.cookies() if c["name"] == "vrmgmt_session"]
    assert cookie["httpOnly"] is True
    assert cookie["sameSite"] == "Strict"
    assert len(cookie["value"]) >= 40  # 256 random bits, base64url
    # page scripts cannot read it
    assert "vrmgmt_session" not in page.evaluate("document.cookie")
    # a reload keeps the session: straight to the tree, no login form
    page.reload()
    page.locator(".tree[data-ready='true']").wait_for()
    assert page.get_by_label("Password").count() == 0
    assert not console.js_errors


def test_logout_ends_the_session_on_the_server(console):
    console.open()
    console.login()
    (cookie,) = [c for c in console.context.cookies() if c["name"] == "vrmgmt_session"]
    console.logout()
    assert console.login_message() == "You have logged out."
    # the old cookie, replayed, is refused by the server
    console.context.add_cookies([cookie])
    status = console.page.evaluate(
        """async () => (await fetch('/cimom', {method: 'POST', headers: {
            'Content-Type': 'application/xml', CIMOperation: 'MethodCall',
            CIMMethod: 'EnumerateInstanceNames', CIMObject: 'root/virt', 'VRM-Console': '1'},
            body: '<?xml version="1.0"?><CIM CIMVERSION="2.0" DTDVERSION="2.0"><MESSAGE ID="1"'
              + ' PROTOCOLVERSION="1.0"><SIMPLEREQ><IMETHODCALL NAME="EnumerateInstanceNames">'
              + '<LOCALNAMESPACEPATH><NAMESPACE NAME="root"/><NAMESPACE NAME="virt"/>'
              + '</LOCALNAMESPACEPATH><IPARAMVALUE NAME="ClassName"><CLASSNAME'
              + ' NAME="VRM_ComputerSystem"/></IPARAMVALUE></IMETHODCALL></SIMPLEREQ>'
              + '</MESSAGE></CIM>'})).status"""
    )
    assert status == 401
    audit = (console.server.state_dir / "audit.log").read_text()
    assert re.search(r'"user": "tester"[^\n]*"action": "console logout"', audit)
    assert re.search(r'"user": "tester"[^\n]*"action": "console login"', audit)
    # opening the login page (the console asks for its session) is no failed login
    assert '"refused: no credentials"' not in audit


def test_expired_session_returns_to_the_login_with_a_message(chromium, tmp_path):
    write_node_xml(tmp_path / "node.xml", 2, seed=3)
    srv = VrmServer(
        tmp_path / "srv",
        [{"id": "td", "type": "libvirt", "uri": node_uri(tmp_path / "node.xml")}],
        extra_config="\n[console]\nsession_idle_timeout = 2\n",
    )
    with srv, ConsoleBrowser(chromium, srv) as cb:
        cb.open()
        cb.login()
        time.sleep(2.5)
        # the next request (the tree's poll, or a click) finds the session expired
        cb.page.get_by_role("button", name="Refresh").click()
        assert cb.login_message() == "Your session has expired. Please log in again."
        cb.login()  # and logging in again works
        assert cb.page.locator("#session-role").inner_text() == "admin"


def test_role_is_shown_for_a_reader(console):
    console_user(console.server, "rita", "reader-pass-1", "reader")
    console.open()
    console.login("rita", "reader-pass-1")
    assert console.page.locator("#session-role").inner_text() == "reader"
    assert PASSWORD not in console.page.content()


def test_login_and_logout_by_keyboard_only(console):
    console.open()
    page = console.page
    page.get_by_label("User name").wait_for()
    # the user name field has the focus; Tab to the password, Enter submits
    page.keyboard.type(USER)
    page.keyboard.press("Tab")
    page.keyboard.type(PASSWORD)
    page.keyboard.press("Enter")
    page.locator(".tree[data-ready='true']").wait_for()
    # the first Tab reaches the skip link, which moves the focus to the content
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.textContent") == "Skip to content"
    page.keyboard.press("Enter")
    assert page.evaluate("document.activeElement.id") == "main"
    # Tab through the header to the Log out button and press it
    page.get_by_role("button", name="Log out").focus()
    page.keyboard.press("Enter")
    assert console.login_message() == "You have logged out."
