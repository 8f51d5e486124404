"""vrmgmt.webconsole without a browser: the same-origin guard, the session store, the
static files and the [console] configuration (docs/console-web.md)."""

from __future__ import annotations

import pytest

from vrmgmt.config import parse_config
from vrmgmt.errors import ConfigError
from vrmgmt.webconsole import sessions as sessions_mod
from vrmgmt.webconsole.guard import cross_site_refusal
from vrmgmt.webconsole.sessions import COOKIE, SessionStore
from vrmgmt.webconsole.static import StaticFiles


def env(**headers) -> dict:
    e = {"wsgi.url_scheme": "http", "HTTP_HOST": "127.0.0.1:5988"}
    e.update({f"HTTP_{k.upper()}": v for k, v in headers.items()})
    return e


# -- guard ------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "headers",
    [
        {},  # pywbem, wbemcli: neither header
        {"sec_fetch_site": "same-origin", "origin": "http://127.0.0.1:5988"},
        {"sec_fetch_site": "none"},
        {"origin": "HTTP://127.0.0.1:5988"},
    ],
)
def test_guard_lets_same_origin_and_non_browsers_through(headers):
    assert cross_site_refusal(env(**headers)) is None


@pytest.mark.parametrize(
    ("headers", "says"),
    [
        ({"sec_fetch_site": "cross-site"}, "Sec-Fetch-Site: cross-site"),
        ({"sec_fetch_site": "same-site"}, "Sec-Fetch-Site: same-site"),
        ({"origin": "http://127.0.0.1:8080"}, "Origin http://127.0.0.1:8080"),
        ({"origin": "http://localhost:5988"}, "is not http://127.0.0.1:5988"),
        ({"origin": "https://127.0.0.1:5988"}, "Origin https://127.0.0.1:5988"),
        ({"origin": "null"}, "Origin null"),
    ],
)
def test_guard_refuses_other_origins(headers, says):
    why = cross_site_refusal(env(**headers))
    assert why is not None and says in why and "/console/" in why


def test_guard_default_ports():
    e = {"wsgi.url_scheme": "https", "HTTP_HOST": "mgmt.example.org", "HTTP_ORIGIN": ""}
    e["HTTP_ORIGIN"] = "https://mgmt.example.org:443"
    assert cross_site_refusal(e) is None
    e["HTTP_HOST"] = "mgmt.example.org:443"
    e["HTTP_ORIGIN"] = "https://mgmt.example.org"
    assert cross_site_refusal(e) is None


# -- sessions ---------------------------------------------------------------------------
class Clock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


@pytest.fixture
def clock(monkeypatch):
    c = Clock()
    monkeypatch.setattr(sessions_mod.time, "monotonic", c)
    return c


def cookie_env(sid: str) -> dict:
    return {"HTTP_COOKIE": f"other=1; {COOKIE}={sid}"}


def test_session_lifecycle(clock):
    store = SessionStore(idle_timeout=60, max_age=300)
    sid = store.create("ann", "operator")
    assert len(sid) >= 43 and store.count() == 1
    found = store.lookup(cookie_env(sid))
    assert found.session.user == "ann" and found.session.role == "operator"
    # idle: each request restarts the idle time, until the absolute limit
    for _ in range(5):
        clock.t += 50
        assert store.lookup(cookie_env(sid)).session is not None
    clock.t += 51  # 301 s after the login
    gone = store.lookup(cookie_env(sid))
    assert gone.present and gone.session is None and gone.reason == "expired"
    assert store.lookup(cookie_env(sid)).reason == "expired"  # still says why
    assert store.count() == 0


def test_session_idle_expiry_unknown_and_logout(clock):
    store = SessionStore(idle_timeout=60, max_age=3600)
    sid = store.create("ann", "reader")
    clock.t += 61
    assert store.lookup(cookie_env(sid)).reason == "expired"
    assert store.lookup(cookie_env("made-up")).reason == "unknown"
    assert store.lookup({}).present is False
    assert store.lookup({"HTTP_COOKIE": "\x00garbage;;="}).session is None
    sid2 = store.create("bob", "admin")
    assert store.end(cookie_env(sid2)).user == "bob"
    assert store.end(cookie_env(sid2)) is None
    assert store.lookup(cookie_env(sid2)).reason == "unknown"


def test_session_role_follows_the_users_file(clock):
    roles = {"ann": "operator"}
    store = SessionStore(role_of=roles.get)
    sid = store.create("ann", "operator")
    roles["ann"] = "reader"
    assert store.lookup(cookie_env(sid)).session.role == "reader"
    del roles["ann"]  # removed from the users file: the session ends
    assert store.lookup(cookie_env(sid)).reason == "expired"


def test_session_store_is_bounded(clock, monkeypatch):
    monkeypatch.setattr(sessions_mod, "MAX_SESSIONS", 3)
    store = SessionStore()
    sids = [store.create(f"u{i}", "reader") for i in range(5)]
    assert store.count() == 3
    assert store.lookup(cookie_env(sids[0])).session is None
    assert store.lookup(cookie_env(sids[4])).session is not None


def test_cookie_attributes():
    store = SessionStore(max_age=600)
    name, value = store.set_cookie("abc", {"wsgi.url_scheme": "http"})
    assert name == "Set-Cookie"
    assert value == f"{COOKIE}=abc; Path=/; Max-Age=600; HttpOnly; SameSite=Strict"
    _n, value = store.set_cookie("abc", {"wsgi.url_scheme": "https"})
    assert value.endswith("; Secure")
    _n, value = store.clear_cookie({"wsgi.url_scheme": "https"})
    assert "Max-Age=0" in value and "Secure" in value


# -- static files ---------------------------------------------------------------------------
def call(app, path, method="GET", **headers):
    out = {}

    def start_response(status, hdrs):
        out["status"] = status
        out["headers"] = dict(hdrs)

    e = {"REQUEST_METHOD": method, "PATH_INFO": path}
    e.update({f"HTTP_{k.upper()}": v for k, v in headers.items()})
    body = b"".join(app(e, start_response))
    return int(out["status"].split()[0]), out["headers"], body


@pytest.fixture
def static(tmp_path):
    root = tmp_path / "static"
    (root / "js").mkdir(parents=True)
    (root / "index.html").write_text("<!doctype html><title>x</title>")
    (root / "js" / "a.js").write_text("export const a = 1;\n")
    (root / ".secret").write_text("no")
    (tmp_path / "outside.txt").write_text("no")
    return StaticFiles(root)


def test_static_files_and_headers(static):
    status, h, body = call(static, "/console/")
    assert status == 200 and body.startswith(b"<!doctype html>")
    assert h["Content-Type"] == "text/html; charset=utf-8"
    assert "frame-ancestors 'none'" in h["Content-Security-Policy"]
    assert h["X-Frame-Options"] == "DENY" and h["X-Content-Type-Options"] == "nosniff"
    status, h, body = call(static, "/console/js/a.js")
    assert status == 200 and h["Content-Type"].startswith("text/javascript")
    assert h["Cache-Control"] == "no-cache"
    status, h2, body = call(static, "/console/js/a.js", if_none_match=h["ETag"])
    assert status == 304 and body == b""
    status, _h, body = call(static, "/console/js/a.js", method="HEAD")
    assert status == 200 and body == b""
    status, h, _b = call(static, "/console")
    assert status == 308 and h["Location"] == "/console/"
    status, h, _b = call(static, "/console/", method="POST")
    assert status == 405 and h["Allow"] == "GET, HEAD"


@pytest.mark.parametrize(
    "path",
    [
        "/console/../outside.txt",
        "/console/js/../../outside.txt",
        "/console/.secret",
        "/console/js",
        "/console/js/",
        "/console/nope.js",
        "/console/js/a.js\0.html",
    ],
)
def test_static_refuses_anything_else(static, path):
    status, _h, body = call(static, path)
    assert status == 404 and body.startswith(b"no console file")


# -- configuration ----------------------------------------------------------------------------
def test_console_config():
    cfg = parse_config({"console": {"session_idle_timeout": 60, "enabled": False}}, "t")
    assert cfg.console.session_idle_timeout == 60.0 and cfg.console.enabled is False
    assert parse_config({}, "t").console.session_max_age == 43200.0


@pytest.mark.parametrize(
    ("section", "says"),
    [
        ({"nope": 1}, "[console]: unknown key(s): nope"),
        ({"enabled": "yes"}, "enabled must be true or false"),
        ({"session_idle_timeout": "10"}, "session_idle_timeout must be a number of seconds"),
        ({"session_idle_timeout": 0}, "session_idle_timeout must be between 1 and"),
        ({"session_max_age": True}, "session_max_age must be a number of seconds"),
    ],
)
def test_console_config_errors(section, says):
    with pytest.raises(ConfigError) as exc:
        parse_config({"console": section}, "t.toml")
    assert says in str(exc.value) and str(exc.value).startswith("t.toml: [console]")


def test_every_console_file_is_package_data():
    """The wheel ships static/ through [tool.setuptools.package-data] globs: a file no
    glob matches would be missing from an installed console."""
    import fnmatch
    import tomllib
    from pathlib import Path

    import vrmgmt.webconsole.static as static_mod

    project = Path(__file__).resolve().parents[2]
    globs = tomllib.loads((project / "pyproject.toml").read_text())["tool"]["setuptools"][
        "package-data"
    ]["vrmgmt"]
    pkg = Path(static_mod.__file__).resolve().parents[1]  # src/vrmgmt
    files = [
        p.relative_to(pkg).as_posix()
        for p in static_mod.STATIC_DIR.rglob("*")
        if p.is_file() and "__pycache__" not in p.parts
    ]
    assert "webconsole/static/js/cim.js" in files
    # fnmatch's * also crosses "/", so compare directory depth as setuptools does
    unshipped = [
        f
        for f in files
        if not any(fnmatch.fnmatch(f, g) and f.count("/") == g.count("/") for g in globs)
    ]
    assert unshipped == []
