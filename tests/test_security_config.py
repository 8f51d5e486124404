"""Issue 14 findings 6 and 12: unsafe or corrupt configuration is refused at start with a
message naming the problem (and the file); the schema cache cannot run code."""

from __future__ import annotations

import os
import pickle
import subprocess
import sys
from pathlib import Path

import pytest

from support.server import free_port, write_config
from vrmgmt import auth
from vrmgmt.config import parse_config
from vrmgmt.errors import ConfigError
from vrmgmt.server import repository


def _serve(tmp_path: Path, *args: str, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "vrmgmt", "serve", "--config", str(tmp_path / "c.toml"), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def test_port_override_cannot_turn_on_plain_http_off_loopback(tmp_path):
    """Finding 6: http_port = 0 with http_bind 0.0.0.0 passed, then --port enabled it."""
    (tmp_path / "c.toml").write_text(
        '[server]\nhttp_port = 0\nhttp_bind = "0.0.0.0"\nhttps_port = '
        f'{free_port()}\nhttps_bind = "127.0.0.1"\n[paths]\nstate_dir = "{tmp_path}/s"\n'
    )
    r = _serve(tmp_path, "--port", str(free_port()))
    assert r.returncode == 2, r.stderr
    assert "plain HTTP may only listen on loopback" in r.stderr
    assert "0.0.0.0" in r.stderr and "Traceback" not in r.stderr


def test_auth_none_off_loopback_refused():
    with pytest.raises(ConfigError, match='mode = "none" is only allowed on loopback'):
        parse_config(
            {"server": {"https_port": 5989, "https_bind": "0.0.0.0"}, "auth": {"mode": "none"}},
            "x.toml",
        )
    # on loopback it is allowed
    parse_config({"server": {"https_port": 5989, "https_bind": "::1"}, "auth": {"mode": "none"}})


@pytest.mark.parametrize(
    "server,fragment",
    [
        ({"threads": -1}, "threads must be between 1 and 1024, got -1"),
        ({"threads": "16"}, "threads must be of type int, got '16'"),
        ({"threads": True}, "threads must be of type int"),
        ({"max_request_bytes": 0}, "max_request_bytes must be between 1024"),
        ({"http_bind": 127}, "http_bind must be of type str"),
        ({"http_bind": "10.0.0.1"}, "plain HTTP may only listen on loopback"),
        ({"header_timeout": 0}, "header_timeout must be between"),
        ({"idle_timeout": "long"}, "idle_timeout must be of type int or number"),
        ({"max_connections_per_client": 0}, "max_connections_per_client must be between"),
        ({"certificate": "/x.pem"}, "certificate and private_key must be given together"),
        ({"http_port": 0, "https_port": 0}, "nothing to serve"),
    ],
)
def test_every_server_value_is_checked(server, fragment):
    with pytest.raises(ConfigError) as exc:
        parse_config({"server": server}, "my.toml")
    assert fragment in str(exc.value) and "my.toml" in str(exc.value)


def test_unknown_default_role_refused():
    with pytest.raises(ConfigError, match="default_role must be one of reader, operator, admin"):
        parse_config({"auth": {"default_role": "root"}})


@pytest.mark.parametrize("broken", ["certificate", "private key"])
def test_garbage_certificate_or_key_names_the_file(tmp_path, broken):
    """Finding 12: a garbage certificate or key died with a raw ssl.SSLError."""
    from vrmgmt.server.main import _self_signed

    cert, key = tmp_path / "server.pem", tmp_path / "server.key"
    _self_signed(cert, key)
    bad = cert if broken == "certificate" else key
    bad.write_text("-----BEGIN GARBAGE-----\nnot pem\n")
    port = free_port()
    write_config(
        tmp_path / "c.toml",
        tmp_path / "state",
        0,
        [{"id": "t", "type": "libvirt", "uri": "test:///default"}],
        https_port=port,
        extra="",
    )
    text = (tmp_path / "c.toml").read_text()
    text = text.replace("[auth]", f'certificate = "{cert}"\nprivate_key = "{key}"\n\n[auth]', 1)
    (tmp_path / "c.toml").write_text(text)
    r = _serve(tmp_path)
    assert r.returncode == 2, r.stderr
    assert f"{broken} {bad} is not a usable PEM" in r.stderr
    assert "Traceback" not in r.stderr


def test_mismatched_certificate_and_key(tmp_path):
    from vrmgmt.server.main import _self_signed, check_certificate

    _self_signed(tmp_path / "a.pem", tmp_path / "a.key")
    _self_signed(tmp_path / "b.pem", tmp_path / "b.key")
    with pytest.raises(ConfigError, match="a.pem and private key .*b.key do not match"):
        check_certificate(tmp_path / "a.pem", tmp_path / "b.key")
    with pytest.raises(ConfigError, match="missing.pem: No such file"):
        check_certificate(tmp_path / "missing.pem", tmp_path / "b.key")


@pytest.mark.parametrize(
    "content,fragment",
    [
        (b"# users\nalice:pbkdf2_sha256$1000$00ff$" + b"0" * 64 + b"\n\xff\xfe:x\n", "line 3"),
        (b"alice\n", "line 1: expected name:hash"),
        (b"\n\nbob:plaintext\n", "line 3: user 'bob' has no valid pbkdf2_sha256 hash"),
        (
            b"carol:pbkdf2_sha256$1000$00ff$" + b"0" * 64 + b":root\n",
            "line 1: user 'carol' has unknown role 'root'",
        ),
    ],
)
def test_corrupt_users_file_refused_with_line_number(tmp_path, content, fragment):
    """Finding 12: invalid UTF-8 in the users file made every request a 500."""
    users = tmp_path / "users"
    users.write_bytes(content)
    with pytest.raises(ConfigError) as exc:
        auth.Authenticator(users)
    assert str(users) in str(exc.value) and fragment in str(exc.value)


def test_corrupt_users_file_refused_by_serve(tmp_path):
    write_config(
        tmp_path / "c.toml",
        tmp_path / "state",
        free_port(),
        [{"id": "t", "type": "libvirt", "uri": "test:///default"}],
    )
    (tmp_path / "state").mkdir()
    (tmp_path / "state" / "users").write_bytes(b"tester:\xc3\x28\n")
    r = _serve(tmp_path)
    assert r.returncode == 2, r.stderr
    assert "users file" in r.stderr and "line 1: not valid UTF-8" in r.stderr


def test_users_file_corrupted_at_run_time_keeps_the_last_good_one(tmp_path):
    users = tmp_path / "users"
    auth.set_password(users, "alice", "password-1", "operator")
    a = auth.Authenticator(users)
    assert a.authenticate("alice", "password-1").role == "operator"
    users.write_bytes(b"\xff\xff\n")
    os.utime(users, ns=(1, 1))
    assert a.authenticate("alice", "password-1").ok


def test_roles_column_is_backwards_compatible(tmp_path):
    users = tmp_path / "users"
    old_format = "alice:" + auth.hash_password("pw-alice-1", 1000) + "\n"
    users.write_text(old_format + "bob:" + auth.hash_password("pw-bob-12", 1000) + ":reader\n")
    assert auth.Authenticator(users).authenticate("alice", "pw-alice-1").role == "admin"
    assert auth.Authenticator(users, "reader").authenticate("alice", "pw-alice-1").role == "reader"
    assert auth.Authenticator(users).authenticate("bob", "pw-bob-12").role == "reader"
    auth.set_password(users, "bob", "pw-bob-new")  # keeps the role
    assert auth.Authenticator(users).authenticate("bob", "pw-bob-new").role == "reader"


def test_initial_admin_password_written_before_the_users_file(tmp_path, monkeypatch):
    """Finding 12: a crash between the two writes lost the admin password."""
    state = tmp_path / "state"
    users = state / "users"

    def crash(*a, **k):
        raise KeyboardInterrupt("crash")

    monkeypatch.setattr(auth, "write_users", crash)
    with pytest.raises(KeyboardInterrupt):
        auth.ensure_initial_user(users, state)
    assert (state / "admin-password").exists() and not users.exists()
    monkeypatch.undo()
    pw_file = auth.ensure_initial_user(users, state)  # the next start completes it
    password = pw_file.read_text().strip()
    login = auth.Authenticator(users).authenticate("admin", password)
    assert login.ok and login.role == "admin"
    assert os.stat(pw_file).st_mode & 0o777 == 0o600


class _Boom:
    def __reduce__(self):
        return (Path.touch, (Path(os.environ["VRMGMT_PWNED"]),))


def test_schema_cache_cannot_run_code(tmp_path, monkeypatch):
    """Finding 12: the schema cache was a pickle; a crafted file ran code at start-up."""
    import shutil

    mof = tmp_path / "mof"
    shutil.copytree(repository.default_mof_dir(), mof)
    cache = tmp_path / "cache"
    cache.mkdir()
    pwned = tmp_path / "pwned"
    monkeypatch.setenv("VRMGMT_PWNED", str(pwned))
    key = repository._fingerprint(mof, None)
    payload = pickle.dumps(_Boom())
    for name in (f"classes-{key}.pickle", f"classes-{key}.json"):
        (cache / name).write_bytes(payload)
    classes = repository.load_classes(mof, None, cache)
    assert not pwned.exists()
    assert "vrm_computersystem" in classes.classes
    cached = cache / f"classes-{key}.json"
    again = repository.load_classset(cached.read_bytes())  # plain JSON now
    assert cached.read_bytes().startswith(b"{")
    assert again.classes == classes.classes and again.qualifiers == classes.qualifiers
    assert not list(cache.glob("*.pickle"))
