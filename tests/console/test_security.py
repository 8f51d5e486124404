"""Security of the web console (docs/console-web.md "Security"), in Debian's chromium and
with raw HTTP against a real `vrmgmt serve`:

- a reader sees no power or move actions, and a RequestStateChange (and a MoveMembers)
  crafted in the page with its session cookie is refused by the server
  (CIM_ERR_ACCESS_DENIED) and changes nothing;
- a page of another origin cannot use the server: its requests are refused with 403
  (Origin / Sec-Fetch-Site) and it cannot read answers (no CORS headers); non-browser
  clients, which send neither header, keep working;
- the session cookie alone, without the console's header, authenticates nothing;
- console responses carry CSP without inline script, X-Frame-Options DENY, nosniff,
  no-referrer, and the CSP really blocks an inline script;
- the console's network log holds only POST /cimom and GETs of /console/ files, and
  every enumeration it sends is a pull operation with a property list;
- over HTTPS the session cookie is Secure.
"""

from __future__ import annotations

import base64
import contextlib
import http.client
import http.server
import re
import threading

import pytest

from support.browser import ConsoleBrowser, console_user
from support.server import PASSWORD, USER, VrmServer
from support.testdriver import node_uri, write_node_xml

pytestmark = [pytest.mark.browser, pytest.mark.timeout(180)]

ENUM_BODY = (
    '<?xml version="1.0" encoding="utf-8" ?><CIM CIMVERSION="2.0" DTDVERSION="2.0">'
    '<MESSAGE ID="1" PROTOCOLVERSION="1.0"><SIMPLEREQ><IMETHODCALL NAME="EnumerateInstanceNames">'
    '<LOCALNAMESPACEPATH><NAMESPACE NAME="root"/><NAMESPACE NAME="virt"/></LOCALNAMESPACEPATH>'
    '<IPARAMVALUE NAME="ClassName"><CLASSNAME NAME="VRM_ComputerSystem"/></IPARAMVALUE>'
    "</IMETHODCALL></SIMPLEREQ></MESSAGE></CIM>"
)
ENUM_HEADERS = {
    "Content-Type": "application/xml",
    "CIMOperation": "MethodCall",
    "CIMMethod": "EnumerateInstanceNames",
    "CIMObject": "root/virt",
}
AUTH = "Basic " + base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()


def _post(srv, headers: dict, body: str = ENUM_BODY) -> tuple[int, dict, str]:
    c = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=30)
    try:
        c.request("POST", "/cimom", body.encode(), {**ENUM_HEADERS, **headers})
        r = c.getresponse()
        return r.status, {k.lower(): v for k, v in r.getheaders()}, r.read().decode()
    finally:
        c.close()


def _property_list(body: str) -> list[str]:
    m = re.search(r'<IPARAMVALUE NAME="PropertyList"><VALUE.ARRAY>(.*?)</VALUE.ARRAY>', body)
    return re.findall(r"<VALUE>(.*?)</VALUE>", m.group(1)) if m else []


def _running_vm(srv):
    conn = srv.conn()
    return next(v for v in conn.EnumerateInstances("VRM_ComputerSystem") if v["EnabledState"] == 2)


def test_reader_sees_no_actions_and_crafted_requests_are_refused(console, td_server):
    console_user(td_server, "rita", "reader-pass-1", "reader")
    console.open()
    console.login("rita", "reader-pass-1")
    page = console.page
    assert page.locator("li.vm").count() == len(td_server.domains)
    assert page.get_by_role("button", name="Power actions", exact=False).count() == 0
    assert page.get_by_role("button", name="Move to").count() == 0
    assert page.locator("li.vm[draggable='true']").count() == 0
    vm = _running_vm(td_server)
    got = page.evaluate(
        """async (uuid) => {
            const C = await import('/console/js/cim.js');
            const cim = new C.CimClient();
            const p = new C.CimPath('VRM_ComputerSystem',
                {CreationClassName: 'VRM_ComputerSystem', Name: uuid}, 'root/virt');
            const out = {};
            try { await cim.invokeMethod(p, 'RequestStateChange',
                    {RequestedState: {type: 'uint16', value: 9}}); out.rsc = 'accepted'; }
            catch (e) { out.rsc = [e.status, e.statusName, e.description]; }
            const svc = (await cim.enumerate('VRM_GroupManagementService',
                {propertyList: ['Name']}))[0].path;
            const root = new C.CimPath('VRM_Group', {InstanceID: 'vrmgmt:group:root'});
            try { await cim.invokeMethod(svc, 'CreateGroup',
                    {GroupName: {type: 'string', value: 'sneaky'}}); out.create = 'accepted'; }
            catch (e) { out.create = [e.status, e.statusName]; }
            try { await cim.invokeMethod(svc, 'MoveMembers', {
                    TargetGroup: {type: 'reference', value: root},
                    Members: {type: 'reference', value: [p]}}); out.move = 'accepted'; }
            catch (e) { out.move = [e.status, e.statusName]; }
            return out;
        }""",
        str(vm["Name"]),
    )
    assert got["rsc"][:2] == [2, "CIM_ERR_ACCESS_DENIED"], got
    assert "operator" in got["rsc"][2]
    assert got["create"] == [2, "CIM_ERR_ACCESS_DENIED"]
    assert got["move"] == [2, "CIM_ERR_ACCESS_DENIED"]
    assert td_server.conn().GetInstance(vm.path)["EnabledState"] == 2  # unchanged
    audit = (td_server.state_dir / "audit.log").read_text()
    assert re.search(r'"user": "rita".*"action": "RequestStateChange".*refused', audit)


@contextlib.contextmanager
def _other_site():
    """A plain web server on another port: the page of another site (no CSP of ours)."""

    class Page(http.server.BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 - http.server's name
            body = b"<!doctype html><title>another site</title><p>hello"
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Page)
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    try:
        yield srv.server_address[1]
    finally:
        srv.shutdown()
        srv.server_close()


def test_cross_origin_pages_are_refused(chromium, td_server):
    # log in to the console, then open another site's page in the same browser
    with ConsoleBrowser(chromium, td_server) as cb, _other_site() as port:
        cb.open()
        cb.login()
        cb.page.goto(f"http://localhost:{port}/")
        target = f"http://127.0.0.1:{td_server.port}/cimom"
        got = cb.page.evaluate(
            """async ([url, body]) => {
                const out = {};
                // a CORS request (custom headers need a preflight, which gets no CORS answer)
                try {
                    const r = await fetch(url, {method: 'POST', credentials: 'include', body,
                        headers: {CIMOperation: 'MethodCall', CIMMethod: 'EnumerateInstanceNames',
                                  CIMObject: 'root/virt', 'VRM-Console': '1'}});
                    out.cors = r.status;
                } catch (e) { out.cors = 'blocked: ' + e.name; }
                // a "simple" request, as a forged form would send: no answer to read
                const r2 = await fetch(url, {method: 'POST', mode: 'no-cors',
                    credentials: 'include', body});
                out.simple = r2.type;
                return out;
            }""",
            [target, ENUM_BODY],
        )
        assert got["cors"] == "blocked: TypeError"
        assert got["simple"] == "opaque"
    log = td_server.log()
    assert "cross-site request refused (Sec-Fetch-Site: cross-site)" in log
    audit = (td_server.state_dir / "audit.log").read_text()
    assert "refused: cross-" in audit


def test_origin_and_fetch_metadata_checks_over_raw_http(td_server):
    # another site's page, with valid credentials: 403 and a clear message
    status, headers, body = _post(
        td_server,
        {"Authorization": AUTH, "Origin": "http://evil.example", "Sec-Fetch-Site": "cross-site"},
    )
    assert status == 403
    assert "cross-site request refused" in body and "/console/" in body
    status, _h, body = _post(td_server, {"Authorization": AUTH, "Origin": "http://evil.example"})
    assert status == 403 and "Origin http://evil.example" in body
    status, _h, body = _post(td_server, {"Authorization": AUTH, "Sec-Fetch-Site": "same-site"})
    assert status == 403
    # the console itself (same origin) and a non-browser client (neither header) work
    own = f"http://127.0.0.1:{td_server.port}"
    status, headers, _b = _post(
        td_server,
        {"Authorization": AUTH, "Origin": own, "Sec-Fetch-Site": "same-origin"},
    )
    assert status == 200
    status, headers, _b = _post(td_server, {"Authorization": AUTH})
    assert status == 200
    assert not [k for k in headers if k.startswith("access-control-")]
    # a CORS preflight gets no CORS headers
    c = http.client.HTTPConnection("127.0.0.1", td_server.port, timeout=30)
    c.request(
        "OPTIONS",
        "/cimom",
        headers={"Origin": "http://evil.example", "Access-Control-Request-Method": "POST"},
    )
    r = c.getresponse()
    r.read()
    assert r.status == 405
    assert not [k for k, _v in r.getheaders() if k.lower().startswith("access-control-")]


def test_root_leads_browsers_to_the_console_and_cimom_stays_post_only(td_server):
    c = http.client.HTTPConnection("127.0.0.1", td_server.port, timeout=30)
    c.request("GET", "/")
    r = c.getresponse()
    r.read()
    assert r.status == 302 and r.getheader("Location") == "/console/"
    c.request("GET", "/cimom")
    r = c.getresponse()
    r.read()
    assert r.status == 405 and "POST" in r.getheader("Allow")
    c.close()


def test_session_cookie_needs_the_console_header(td_server):
    status, headers, _b = _post(td_server, {"Authorization": AUTH, "VRM-Console": "login"})
    assert status == 200
    cookie = headers["set-cookie"].split(";")[0]
    assert _post(td_server, {"Cookie": cookie, "VRM-Console": "1"})[0] == 200
    # logging in again replaces the session: the old id stops working
    _s, again, _b = _post(
        td_server, {"Authorization": AUTH, "VRM-Console": "login", "Cookie": cookie}
    )
    new = again["set-cookie"].split(";")[0]
    assert new != cookie
    assert _post(td_server, {"Cookie": cookie, "VRM-Console": "1"})[0] == 401
    cookie = new
    assert _post(td_server, {"Cookie": cookie, "VRM-Console": "1"})[0] == 200
    status, headers, body = _post(td_server, {"Cookie": cookie})
    assert status == 401 and headers["www-authenticate"].startswith("Basic")
    # a made-up session id: 401 "not logged in" for the console, no Basic prompt
    status, headers, body = _post(
        td_server, {"Cookie": "vrmgmt_session=" + "A" * 43, "VRM-Console": "1"}
    )
    assert status == 401 and body.strip() == "not logged in"
    assert headers["vrm-console-reason"] == "no-session"
    assert not headers["www-authenticate"].startswith("Basic")


def test_security_headers_and_csp_blocks_inline_script(console):
    resp = console.page.goto(f"{console.base}/console/")
    h = resp.headers
    csp = h["content-security-policy"]
    assert "default-src 'self'" in csp and "script-src 'self'" in csp
    assert "frame-ancestors 'none'" in csp and "unsafe-inline" not in csp
    assert h["x-frame-options"] == "DENY"
    assert h["x-content-type-options"] == "nosniff"
    assert h["referrer-policy"] == "no-referrer"
    assert not [k for k in h if k.startswith("access-control-")]
    for f in ("js/cim.js", "console.css"):
        r = console.page.request.get(f"{console.base}/console/{f}")
        assert r.status == 200 and r.headers["x-content-type-options"] == "nosniff"
        assert "content-security-policy" in r.headers
    ran = console.page.evaluate(
        """() => new Promise((resolve) => {
            window.inlineRan = false;
            document.addEventListener('securitypolicyviolation',
                (e) => resolve({ran: window.inlineRan, blocked: e.violatedDirective}));
            const s = document.createElement('script');
            s.textContent = 'window.inlineRan = true;';
            document.body.append(s);
            setTimeout(() => resolve({ran: window.inlineRan, blocked: null}), 2000);
        })"""
    )
    assert ran["ran"] is False and ran["blocked"].startswith("script-src")
    # nothing outside the console's files is served (raw paths: a browser would
    # normalise the dots away)
    for bad in (
        "%2e%2e/%2e%2e/etc/passwd",
        "../../../../etc/passwd",
        "..%2fapp.py",
        ".hidden",
        "js/",
    ):
        c = http.client.HTTPConnection("127.0.0.1", console.server.port, timeout=30)
        c.request("GET", f"/console/{bad}")
        r = c.getresponse()
        body = r.read()
        c.close()
        assert r.status == 404 and b"root:" not in body, bad


def test_network_log_is_cimom_and_static_files_only(console, td_server):
    conn = td_server.conn()
    svc = conn.EnumerateInstanceNames("VRM_GroupManagementService")[0]
    if "lab" not in [g["ElementName"] for g in conn.EnumerateInstances("VRM_Group")]:
        conn.InvokeMethod("CreateGroup", svc, GroupName="lab")
    console.open()
    console.login()
    page = console.page
    name = td_server.domains[0][0]
    row = console.vm_row(name)
    row.get_by_role("button", name=f"Power actions for {name}").click()
    page.get_by_role("menuitem", name="Pause").click()
    row.locator(".badge", has_text="Paused").wait_for()
    row.get_by_role("button", name=f"Power actions for {name}").click()
    page.get_by_role("menuitem", name="Start / resume").click()
    row.locator(".badge", has_text="Running").wait_for()
    # a move asks the server for the moved VM's group, nothing more
    before = len(console.cim_calls)
    row.get_by_role("button", name=f"Move {name} to group").click()
    page.get_by_role("menuitem", name="lab").click()
    page.locator(f"li.group[data-name='lab'] li.vm[data-name='{name}']").wait_for()
    after = [m for m, _b in console.cim_calls[before:]]
    assert after[:1] == ["MoveMembers"] and "OpenEnumerateInstances" not in after, after
    assert after.count("OpenAssociatorInstances") == 1, after
    page.reload()
    page.locator(".tree[data-ready='true']").wait_for()
    page.wait_for_timeout(5500)  # one poll
    console.logout()
    paths = console.paths_requested()
    assert "POST /cimom" in paths
    others = {p for p in paths if p != "POST /cimom"}
    assert others and all(re.fullmatch(r"GET /console/[\w./-]*", p) for p in others), paths
    for p in others:  # every one is a file the console ships
        assert console.page.request.get(console.base + p.split(" ", 1)[1]).status == 200
    methods = [m for m, _b in console.cim_calls]
    assert "EnumerateInstances" not in methods and "Associators" not in methods
    opens = [b for m, b in console.cim_calls if m == "OpenEnumerateInstances"]
    assert opens and all('IPARAMVALUE NAME="PropertyList"' in b for b in opens)
    # polling asks for the VMs' states only
    lists = [_property_list(b) for b in opens if "VRM_ComputerSystem" in b]
    assert ["EnabledState", "AvailableRequestedStates", "OperationalStatus"] in lists, lists
    # after an action, the one VM is read again (GetInstance with a property list)
    gets = [b for m, b in console.cim_calls if m == "GetInstance"]
    assert gets and all(_property_list(b) for b in gets)


def test_https_session_cookie_is_secure(chromium, tmp_path):
    write_node_xml(tmp_path / "n.xml", 2, seed=8)
    srv = VrmServer(
        tmp_path / "srv",
        [{"id": "td", "type": "libvirt", "uri": node_uri(tmp_path / "n.xml")}],
        https=True,
    )
    with srv:
        ctx = chromium.new_context(ignore_https_errors=True)
        try:
            page = ctx.new_page()
            page.goto(f"https://127.0.0.1:{srv.https_port}/console/")
            page.get_by_label("User name").fill(USER)
            page.get_by_label("Password").fill(PASSWORD)
            page.get_by_role("button", name="Log in").click()
            page.locator(".tree[data-ready='true']").wait_for()
            (cookie,) = [c for c in ctx.cookies() if c["name"] == "vrmgmt_session"]
            assert cookie["secure"] is True and cookie["httpOnly"] is True
        finally:
            ctx.close()


def test_console_can_be_turned_off(tmp_path):
    write_node_xml(tmp_path / "n.xml", 1, seed=9)
    srv = VrmServer(
        tmp_path / "srv",
        [{"id": "td", "type": "libvirt", "uri": node_uri(tmp_path / "n.xml")}],
        extra_config="\n[console]\nenabled = false\n",
    )
    with srv:
        c = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=30)
        c.request("GET", "/console/")
        r = c.getresponse()
        r.read()
        c.close()
        assert r.status == 405  # no files: /console/ is not served at all
        status, headers, _b = _post(srv, {"Authorization": AUTH, "VRM-Console": "login"})
        assert status == 200 and "set-cookie" not in headers  # Basic still works, no session
        assert "web console" not in srv.log()
