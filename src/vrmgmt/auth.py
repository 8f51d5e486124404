"""Authentication of WBEM clients: HTTP Basic (DSP0200 §7.6 allows Basic over TLS or
loopback) against a users file of salted PBKDF2-SHA256 hashes.

Users file: one `name:pbkdf2_sha256$iterations$salt_hex$hash_hex` per line, mode 0600.
`vrmgmt passwd NAME` adds or changes a user. On first start with no users file the
server creates user `admin` with a random password stored in `<state>/admin-password`
(mode 0600) and says where.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import os
import secrets
import tempfile
import threading
import time
from pathlib import Path

log = logging.getLogger(__name__)
ITERATIONS = 200_000
CACHE_SECONDS = 300


def hash_password(password: str, iterations: int = ITERATIONS) -> str:
    salt = secrets.token_bytes(16)
    digest = hashlib.pbkdf2_hmac("sha256", password.encode(), salt, iterations)
    return f"pbkdf2_sha256${iterations}${salt.hex()}${digest.hex()}"


def verify_hash(password: str, stored: str) -> bool:
    try:
        algo, iters, salt_hex, hash_hex = stored.split("$")
        if algo != "pbkdf2_sha256":
            return False
        digest = hashlib.pbkdf2_hmac(
            "sha256", password.encode(), bytes.fromhex(salt_hex), int(iters)
        )
    except ValueError:
        return False
    return hmac.compare_digest(digest.hex(), hash_hex)


def read_users(path: Path) -> dict[str, str]:
    users = {}
    for line in path.read_text().splitlines():
        line = line.strip()
        if not line or line.startswith("#") or ":" not in line:
            continue
        name, _, stored = line.partition(":")
        users[name] = stored
    return users


def write_users(path: Path, users: dict[str, str]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".users-")
    with os.fdopen(fd, "w") as f:
        f.write("# vrmgmt users: name:pbkdf2_sha256$iterations$salt$hash\n")
        for name, stored in sorted(users.items()):
            f.write(f"{name}:{stored}\n")
    os.chmod(tmp, 0o600)
    os.replace(tmp, path)


def set_password(path: Path, name: str, password: str) -> None:
    if not name or ":" in name or any(c.isspace() for c in name):
        raise ValueError(f"invalid user name {name!r}")
    users = read_users(path) if path.exists() else {}
    users[name] = hash_password(password)
    write_users(path, users)


def ensure_initial_user(users_path: Path, state_dir: Path) -> Path | None:
    """Create user admin with a random password if there is no users file yet.
    Returns the file holding the password when it created one."""
    if users_path.exists():
        return None
    password = secrets.token_urlsafe(18)
    set_password(users_path, "admin", password)
    pw_file = state_dir / "admin-password"
    state_dir.mkdir(parents=True, exist_ok=True)
    fd = os.open(pw_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(password + "\n")
    return pw_file


class Authenticator:
    """Checks Basic credentials; remembers recent successes briefly so keep-alive
    clients do not pay a PBKDF2 derivation per request. Re-reads the users file when
    it changes."""

    def __init__(self, users_path: Path):
        self.users_path = users_path
        self._lock = threading.Lock()
        self._users: dict[str, str] = {}
        self._mtime: float | None = None
        self._ok: dict[tuple[str, bytes], float] = {}

    def _load(self) -> dict[str, str]:
        try:
            mtime = self.users_path.stat().st_mtime
        except OSError:
            return {}
        with self._lock:
            if mtime != self._mtime:
                self._users = read_users(self.users_path)
                self._mtime = mtime
                self._ok.clear()
            return self._users

    def check(self, user: str, password: str) -> bool:
        users = self._load()
        stored = users.get(user)
        key = (user, hashlib.sha256(password.encode()).digest())
        now = time.monotonic()
        with self._lock:
            t = self._ok.get(key)
            if t is not None and now - t < CACHE_SECONDS and stored is not None:
                return True
        if stored is None:
            verify_hash(password, hash_password("x", 1000))  # similar timing for unknown users
            return False
        if verify_hash(password, stored):
            with self._lock:
                self._ok[key] = now
            return True
        return False
