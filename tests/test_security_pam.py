"""Issue 14: optional PAM authentication ([auth] mode = "pam") with a Unix group -> role
mapping, against the real PAM stack: real Unix users and groups (useradd, groupadd,
chpasswd) and the PAM service file the package ships (pam_unix), installed in
/etc/pam.d for the test and removed afterwards. Needs root (CI runs as root)."""

from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from types import SimpleNamespace

import pytest
import pywbem

from support.server import VrmServer
from support.testdriver import node_uri, write_node_xml
from vrmgmt.config import parse_config
from vrmgmt.errors import ConfigError

pytestmark = [
    pytest.mark.skipif(os.geteuid() != 0, reason="creates Unix users and a PAM service: root"),
    pytest.mark.timeout(180),
]

SAMPLE = Path(__file__).resolve().parents[1] / "src/vrmgmt/data/pam/vrmgmt"
SFX = f"{os.getpid() % 100000}"
G = {r: f"vrmt{SFX}{r[:3]}" for r in ("admin", "operator", "reader", "other")}
USERS = {  # name -> (password, groups)
    f"vta{SFX}": ("adm-Pw-1", [G["admin"]]),
    f"vto{SFX}": ("op-Pw-2", [G["operator"]]),
    f"vtr{SFX}": ("rd-Pw-3", [G["reader"]]),
    f"vtb{SFX}": ("both-Pw-4", [G["reader"], G["operator"]]),  # highest: operator
    f"vtn{SFX}": ("none-Pw-5", [G["other"]]),  # in no mapped group
}
ADMIN, OPER, READER, BOTH, NOGROUP = USERS
SERVICE = f"vrmgmt-test-{SFX}"
SLOW_SERVICE = f"{SERVICE}-slow"


def _run(*cmd: str, stdin: str | None = None) -> None:
    subprocess.run(cmd, input=stdin, text=True, check=True, capture_output=True)


@pytest.fixture(scope="module")
def unix_accounts():
    """The groups, users and PAM service files; all removed afterwards."""
    made_groups: list[str] = []
    made_users: list[str] = []
    files = [Path("/etc/pam.d") / SERVICE, Path("/etc/pam.d") / SLOW_SERVICE]
    try:
        for g in G.values():
            _run("groupadd", g)
            made_groups.append(g)
        for name, (pw, groups) in USERS.items():
            _run("useradd", "-M", "-N", "-s", "/usr/sbin/nologin", "-G", ",".join(groups), name)
            made_users.append(name)
            _run("chpasswd", stdin=f"{name}:{pw}\n")
        shutil.copyfile(SAMPLE, files[0])  # the shipped file, as it is
        # without nodelay: pam_unix makes libpam sleep about 2 s after a failure
        files[1].write_text(SAMPLE.read_text().replace(" nodelay", ""))
        yield
    finally:
        for f in files:
            f.unlink(missing_ok=True)
        for u in made_users:
            subprocess.run(["userdel", u], capture_output=True)
        for g in made_groups:
            subprocess.run(["groupdel", g], capture_output=True)


def _pam_config(srv: VrmServer, service: str) -> None:
    groups = ", ".join(f'"{G[r]}" = "{r}"' for r in ("admin", "operator", "reader"))
    text = srv.config.read_text().replace(
        'mode = "basic"', f'mode = "pam"\npam_service = "{service}"\npam_groups = {{ {groups} }}'
    )
    srv.config.write_text(text)


def _server(d: Path, service: str) -> VrmServer:
    write_node_xml(d / "n.xml", 3, seed=4, running_every=1)
    srv = VrmServer(d, [{"id": "p", "type": "libvirt", "uri": node_uri(d / "n.xml")}])
    _pam_config(srv, service)
    return srv


@pytest.fixture(scope="module")
def env(unix_accounts, tmp_path_factory):
    with _server(tmp_path_factory.mktemp("pam"), SERVICE) as srv:
        yield SimpleNamespace(srv=srv)


def _conn(srv: VrmServer, user: str, password: str | None = None) -> pywbem.WBEMConnection:
    pw = USERS[user][0] if password is None else password
    return pywbem.WBEMConnection(srv.url, (user, pw), default_namespace="root/virt", timeout=30)


def _audit(srv: VrmServer) -> list[dict]:
    lines = (srv.state_dir / "audit.log").read_text().splitlines()
    return [json.loads(line) for line in lines]


ENUM = (
    b'<?xml version="1.0" encoding="utf-8" ?><CIM CIMVERSION="2.0" DTDVERSION="2.0">'
    b'<MESSAGE ID="7" PROTOCOLVERSION="1.0"><SIMPLEREQ><IMETHODCALL NAME="EnumerateInstanceNames">'
    b'<LOCALNAMESPACEPATH><NAMESPACE NAME="root"/><NAMESPACE NAME="virt"/></LOCALNAMESPACEPATH>'
    b'<IPARAMVALUE NAME="ClassName"><CLASSNAME NAME="VRM_ComputerSystem"/></IPARAMVALUE>'
    b"</IMETHODCALL></SIMPLEREQ></MESSAGE></CIM>"
)


def _raw_status(port: int, user: str, password: str, source: str) -> int:
    """One EnumerateInstanceNames from a given client address; its HTTP status."""
    import socket

    auth = base64.b64encode(f"{user}:{password}".encode())
    req = (
        b"POST /cimom HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/xml\r\n"
        b"CIMOperation: MethodCall\r\nCIMMethod: EnumerateInstanceNames\r\n"
        b"CIMObject: root/virt\r\nConnection: close\r\nAuthorization: Basic " + auth + b"\r\n"
        b"Content-Length: %d\r\n\r\n" % len(ENUM) + ENUM
    )
    with socket.create_connection(("127.0.0.1", port), timeout=30, source_address=(source, 0)) as s:
        s.sendall(req)
        reply = s.recv(64)
    return int(reply.split(b" ", 2)[1])


# -- roles from groups ---------------------------------------------------------------
def _rsc(conn, path) -> int:
    rv, _ = conn.InvokeMethod("RequestStateChange", path, RequestedState=pywbem.Uint16(2))
    return int(rv)


def test_right_password_gives_the_role_of_the_users_groups(env):
    srv = env.srv
    paths = _conn(srv, ADMIN).EnumerateInstanceNames("VRM_ComputerSystem")
    assert len(paths) == 3
    vm = paths[0]
    bogus = vm.copy()
    bogus.keybindings["Name"] = "00000000-0000-0000-0000-000000000000"

    # reader: reads, but cannot change a VM's state
    reader = _conn(srv, READER)
    assert reader.GetInstance(vm)["Name"] == vm["Name"]
    with pytest.raises(pywbem.CIMError) as err:
        _rsc(reader, vm)
    assert err.value.status_code == pywbem.CIM_ERR_ACCESS_DENIED
    assert f"user {READER} has role reader" in err.value.status_description

    # operator, and a user in the reader and operator groups (the higher role wins)
    for user in (OPER, BOTH):
        conn = _conn(srv, user)
        assert _rsc(conn, vm) == 0
        with pytest.raises(pywbem.CIMError) as err:  # admin work: refused
            conn.DeleteInstance(bogus)
        assert err.value.status_code == pywbem.CIM_ERR_ACCESS_DENIED, user
        assert "has role operator" in err.value.status_description

    # admin: past the role check (the VM does not exist)
    admin = _conn(srv, ADMIN)
    assert _rsc(admin, vm) == 0
    with pytest.raises(pywbem.CIMError) as err:
        admin.DeleteInstance(bogus)
    assert err.value.status_code != pywbem.CIM_ERR_ACCESS_DENIED


def test_wrong_password_is_401_and_audited_with_the_client_address(env):
    srv = env.srv
    with pytest.raises(pywbem.AuthError):
        _conn(srv, OPER, "not-the-password").EnumerateInstanceNames("VRM_ComputerSystem")
    refused = [r for r in _audit(srv) if r["action"] == "login" and r["user"] == OPER]
    assert refused, _audit(srv)[-3:]
    assert refused[-1]["client"] == "127.0.0.1"
    assert refused[-1]["outcome"].startswith(f"refused: PAM {SERVICE}: Authentication failure")
    assert "not-the-password" not in (srv.state_dir / "audit.log").read_text()
    assert "not-the-password" not in srv.log_path.read_text()


def test_unknown_user_is_401(env):
    with pytest.raises(pywbem.AuthError):
        pywbem.WBEMConnection(
            env.srv.url, (f"nobody{SFX}", "x"), default_namespace="root/virt"
        ).EnumerateInstanceNames("VRM_ComputerSystem")


def test_user_in_no_mapped_group_is_refused(env):
    srv = env.srv
    with pytest.raises(pywbem.AuthError):
        _conn(srv, NOGROUP).EnumerateInstanceNames("VRM_ComputerSystem")
    log = srv.log_path.read_text()
    assert f"401 for user {NOGROUP} from 127.0.0.1: user {NOGROUP!r} is in no group" in log
    assert G["other"] in log  # the groups the user is in are named


def test_lockout_applies_to_pam_logins(env):
    """The users file's lockout policy: after 5 failures of a (user, address) pair, the
    pair is locked, even for the right password; another address still logs in."""
    srv, pw = env.srv, USERS[ADMIN][0]
    for _ in range(6):
        assert _raw_status(srv.port, ADMIN, "guess", "127.0.0.31") == 401
    assert _raw_status(srv.port, ADMIN, pw, "127.0.0.31") == 401  # locked
    assert "locked for" in srv.log_path.read_text()
    assert _raw_status(srv.port, ADMIN, pw, "127.0.0.32") == 200
    locked = [r for r in _audit(srv) if r["client"] == "127.0.0.31" and r["action"] == "login"]
    assert len(locked) == 7 and "locked" in locked[-1]["outcome"]


# -- PAM must not hold up other clients ------------------------------------------------
def test_slow_pam_does_not_block_other_clients(unix_accounts, tmp_path):
    """With a PAM stack that sleeps ~2 s per failure (pam_unix without nodelay), 12
    wrong passwords at once (from 12 addresses) cost PAM threads and at most half the
    workers: a logged-in client's requests answer meanwhile."""
    with _server(tmp_path, SLOW_SERVICE) as srv:
        conn = _conn(srv, ADMIN)
        path = conn.EnumerateInstanceNames("VRM_ComputerSystem")[0]  # logged in (cached)
        times: list[float] = []
        during: list[float] = []
        started = threading.Event()

        def bad(i: int) -> int:
            started.set()
            t0 = time.monotonic()
            status = _raw_status(srv.port, OPER, "wrong", f"127.0.0.{41 + i}")
            times.append(time.monotonic() - t0)
            return status

        with ThreadPoolExecutor(12) as ex:
            futs = [ex.submit(bad, i) for i in range(12)]
            started.wait()
            time.sleep(0.3)  # the PAM threads are asleep in libpam's fail delay now
            for _ in range(5):
                t0 = time.monotonic()
                assert conn.GetInstance(path)["Name"] == path["Name"]
                during.append(time.monotonic() - t0)
            statuses = [f.result() for f in futs]
        assert statuses == [401] * 12
        assert max(times) > 1.0, times  # PAM really slept (else this proves nothing)
        assert max(during) < 1.0, during
        print(
            f"\nPAM failures took {min(times):.2f}-{max(times):.2f} s; GetInstance meanwhile "
            f"{min(during) * 1000:.0f}-{max(during) * 1000:.0f} ms"
        )
        assert "PAM busy" in srv.log_path.read_text()  # beyond half the workers: refused


# -- configuration -------------------------------------------------------------------
def _cfg(auth: str) -> str:
    return f'[server]\nhttp_port = 5988\n[auth]\nmode = "pam"\n{auth}\n'


@pytest.mark.parametrize(
    "auth,message",
    [
        (f'pam_service = "{SERVICE}"', "needs [auth.pam_groups]"),
        (
            f'pam_service = "{SERVICE}"\npam_groups = {{ wheel = "root" }}',
            "[auth.pam_groups] wheel: unknown role 'root' (use reader, operator, admin)",
        ),
        (
            'pam_service = "no-such-service-x"\npam_groups = { wheel = "admin" }',
            "no PAM service file /etc/pam.d/no-such-service-x or /usr/lib/pam.d/no-such-service-x",
        ),
        ('pam_service = "../etc/passwd"\npam_groups = { wheel = "admin" }', "PAM service name"),
    ],
    ids=["no-groups", "unknown-role", "no-service-file", "bad-service-name"],
)
def test_pam_configuration_errors_are_clear(unix_accounts, auth, message):
    import tomllib

    with pytest.raises(ConfigError) as err:
        parse_config(tomllib.loads(_cfg(auth)), "t.toml")
    assert message in str(err.value)


def test_missing_python_pam_is_a_clear_error(unix_accounts, tmp_path):
    """Without the python-pam package (a directory named pam shadowing it, as an
    unrelated module would): the server refuses to start and says what to install."""
    (tmp_path / "pam").mkdir()
    (tmp_path / "pam" / "__init__.py").write_text("")  # a module pam that is not python-pam
    cfg = tmp_path / "c.toml"
    groups = f'pam_groups = {{ {G["admin"]} = "admin" }}'
    cfg.write_text(_cfg(f'pam_service = "{SERVICE}"\n{groups}'))
    envv = dict(os.environ, PYTHONPATH=str(tmp_path))
    out = subprocess.run(
        [sys.executable, "-m", "vrmgmt", "serve", "--config", str(cfg)],
        capture_output=True,
        text=True,
        timeout=60,
        env=envv,
        cwd=tmp_path,
    )
    assert out.returncode != 0
    assert "needs the Python package python-pam" in out.stdout + out.stderr
