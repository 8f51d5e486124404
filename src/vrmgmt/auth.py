"""Authentication of WBEM clients: HTTP Basic (DSP0200 §7.6 allows Basic over TLS or
loopback) against a users file of salted PBKDF2-SHA256 hashes, with roles and
brute-force protection.

Users file: one `name:pbkdf2_sha256$iterations$salt_hex$hash_hex[:role]` per line,
mode 0600; role is reader, operator or admin (a line without one gets the configured
default role, `[auth] default_role`, "admin" as before roles existed). `vrmgmt passwd
NAME [--role R]` adds or changes a user. On first start with no users file the server
creates user `admin` with a random password stored in `<state>/admin-password` (mode
0600, written before the users file so that a crash never loses it) and says where.

A corrupt users file (invalid UTF-8, a malformed line, an unknown role) is refused at
start with its line number; if it is corrupted while the server runs, the last good
version stays in use and the error is logged.

Login protection (docs/security.md "Lockout policy"): unknown users cost the same
PBKDF2 derivation as wrong passwords; failures are counted per (user, client address)
and per client address, and past a threshold the pair or the address is locked for an
exponentially growing time (capped). A locked pair does not lock the user out from
other addresses.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import os
import re
import secrets
import tempfile
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path

from vrmgmt.errors import ConfigError
from vrmgmt.roles import ADMIN, ROLES

log = logging.getLogger(__name__)
ITERATIONS = 200_000
CACHE_SECONDS = 300

#: failures of one user name from one address before that pair is locked
PAIR_FREE_FAILURES = 5
#: failures from one address (any user names) before the address is locked
ADDRESS_FREE_FAILURES = 20
#: a failure counter is forgotten after this long without failures
FAILURE_WINDOW = 900.0
#: longest lock (seconds); locks double from 1 s per failure past the threshold
MAX_LOCK_SECONDS = 900.0
#: tracked (user, address) pairs and addresses at most (oldest dropped first)
MAX_TRACKED = 100_000

_HASH_RE = re.compile(r"pbkdf2_sha256\$[1-9][0-9]{0,8}\$[0-9a-f]{2,128}\$[0-9a-f]{64}")


class UsersFileError(ConfigError):
    """The users file is unreadable or malformed; the message names file and line."""


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


@dataclass(frozen=True)
class User:
    name: str
    hash: str
    role: str | None  # None: the line has no role column (default role applies)


def read_user_entries(path: Path) -> dict[str, User]:
    """All users of the file; UsersFileError naming the file and line if malformed."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise UsersFileError(f"users file {path}: {exc.strerror}") from None
    users: dict[str, User] = {}
    for lineno, bline in enumerate(raw.split(b"\n"), 1):
        try:
            line = bline.decode("utf-8").strip()
        except UnicodeDecodeError:
            raise UsersFileError(f"users file {path}, line {lineno}: not valid UTF-8") from None
        if not line or line.startswith("#"):
            continue
        parts = line.split(":")
        if len(parts) not in (2, 3) or not parts[0]:
            raise UsersFileError(
                f"users file {path}, line {lineno}: expected name:hash or name:hash:role"
            )
        name, stored = parts[0], parts[1]
        role = parts[2] if len(parts) == 3 else None
        if not _HASH_RE.fullmatch(stored):
            raise UsersFileError(
                f"users file {path}, line {lineno}: user {name!r} has no valid "
                "pbkdf2_sha256 hash (set it with: vrmgmt passwd NAME)"
            )
        if role is not None and role not in ROLES:
            raise UsersFileError(
                f"users file {path}, line {lineno}: user {name!r} has unknown role {role!r} "
                f"(use {', '.join(ROLES)})"
            )
        if name in users:
            raise UsersFileError(f"users file {path}, line {lineno}: user {name!r} appears twice")
        users[name] = User(name, stored, role)
    return users


def read_users(path: Path) -> dict[str, str]:
    """name -> stored hash (UsersFileError if malformed)."""
    return {n: u.hash for n, u in read_user_entries(path).items()}


def write_users(path: Path, users: dict[str, User]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".users-")
    with os.fdopen(fd, "w") as f:
        f.write("# vrmgmt users: name:pbkdf2_sha256$iterations$salt$hash[:role]\n")
        for name, u in sorted(users.items()):
            f.write(f"{name}:{u.hash}" + (f":{u.role}" if u.role else "") + "\n")
        f.flush()
        os.fsync(f.fileno())
    os.chmod(tmp, 0o600)
    os.replace(tmp, path)


def set_password(path: Path, name: str, password: str, role: str | None = None) -> None:
    """Add a user or change its password; role None keeps the user's role (a new user
    then gets the file's default role)."""
    if not name or ":" in name or any(c.isspace() for c in name):
        raise ValueError(f"invalid user name {name!r}")
    if role is not None and role not in ROLES:
        raise ValueError(f"unknown role {role!r} (use {', '.join(ROLES)})")
    users = read_user_entries(path) if path.exists() else {}
    old = users.get(name)
    users[name] = User(name, hash_password(password), role or (old.role if old else None))
    write_users(path, users)


def _write_private(path: Path, text: str) -> None:
    """Write a 0600 file atomically and durably."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}-")
    with os.fdopen(fd, "w") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    os.chmod(tmp, 0o600)
    os.replace(tmp, path)


def ensure_initial_user(users_path: Path, state_dir: Path) -> Path | None:
    """Create user admin with a random password if there is no users file yet.
    Returns the file holding the password when it created one. The password file is
    written (and synced) first: a crash before the users file exists just repeats this
    on the next start, never leaves an admin whose password nobody knows."""
    if users_path.exists():
        return None
    password = secrets.token_urlsafe(18)
    pw_file = state_dir / "admin-password"
    _write_private(pw_file, password + "\n")
    set_password(users_path, "admin", password, ADMIN)
    return pw_file


@dataclass(frozen=True)
class Login:
    """The outcome of one authentication attempt."""

    ok: bool
    user: str | None
    role: str | None = None
    reason: str = ""  # why it failed (for the log and the audit record, not the client)


class _Counter:
    __slots__ = ("failures", "last", "locked_until")

    def __init__(self) -> None:
        self.failures = 0
        self.last = 0.0
        self.locked_until = 0.0


class Authenticator:
    """Checks Basic credentials; remembers recent successes briefly so keep-alive
    clients do not pay a PBKDF2 derivation per request. Re-reads the users file when
    it changes (keeping the last good one if the new one is malformed)."""

    def __init__(self, users_path: Path, default_role: str = ADMIN):
        self.users_path = users_path
        self.default_role = default_role
        self._lock = threading.Lock()
        self._users: dict[str, User] = {}
        self._mtime: float | None = None
        self._ok: dict[tuple[str, bytes], float] = {}
        self._pairs: OrderedDict[tuple[str, str], _Counter] = OrderedDict()
        self._addresses: OrderedDict[str, _Counter] = OrderedDict()
        # an unknown user costs one derivation with the default iteration count
        self._dummy = hash_password(secrets.token_hex(8))
        self._load(strict=True)

    def _load(self, strict: bool = False) -> dict[str, User]:
        try:
            mtime = self.users_path.stat().st_mtime_ns
        except OSError as exc:
            if strict:
                raise UsersFileError(f"users file {self.users_path}: {exc.strerror}") from None
            return self._users
        with self._lock:
            if mtime != self._mtime:
                try:
                    self._users = read_user_entries(self.users_path)
                except UsersFileError as exc:
                    if strict:
                        raise
                    log.error("%s; still using the previous version", exc)
                self._mtime = mtime
                self._ok.clear()
            return self._users

    # -- throttling ----------------------------------------------------------------
    @staticmethod
    def _get(table: OrderedDict, key, now: float) -> _Counter:
        c = table.get(key)
        if c is None or (now - c.last > FAILURE_WINDOW and c.locked_until < now):
            c = _Counter()
            table[key] = c
            if len(table) > MAX_TRACKED:
                table.popitem(last=False)
        else:
            table.move_to_end(key)
        return c

    @staticmethod
    def _fail(c: _Counter, free: int, now: float) -> None:
        c.failures += 1
        c.last = now
        if c.failures > free:
            c.locked_until = now + min(MAX_LOCK_SECONDS, 2.0 ** (c.failures - free - 1))

    def locked(self, user: str, client: str) -> float:
        """Seconds the (user, client) pair or the client address is still locked."""
        now = time.monotonic()
        with self._lock:
            waits = [
                c.locked_until - now
                for c in (self._pairs.get((user, client)), self._addresses.get(client))
                if c is not None
            ]
        return max([0.0, *waits])

    # -- checking ------------------------------------------------------------------
    def authenticate(self, user: str, password: str, client: str = "") -> Login:
        users = self._load()
        now = time.monotonic()
        wait = self.locked(user, client)
        if wait > 0:
            return Login(False, user, reason=f"locked for {wait:.0f} s after repeated failures")
        entry = users.get(user)
        key = (user, hashlib.sha256(password.encode()).digest())
        if entry is not None:
            with self._lock:
                t = self._ok.get(key)
            if t is not None and now - t < CACHE_SECONDS:
                return Login(True, user, entry.role or self.default_role)
        ok = verify_hash(password, entry.hash if entry is not None else self._dummy)
        if ok and entry is not None:
            with self._lock:
                self._ok[key] = now
                self._pairs.pop((user, client), None)
            return Login(True, user, entry.role or self.default_role)
        with self._lock:
            self._fail(self._get(self._pairs, (user, client), now), PAIR_FREE_FAILURES, now)
            self._fail(self._get(self._addresses, client, now), ADDRESS_FREE_FAILURES, now)
        return Login(False, user, reason="unknown user" if entry is None else "wrong password")

    def check(self, user: str, password: str, client: str = "") -> bool:
        return self.authenticate(user, password, client).ok

    def role_of(self, user: str) -> str | None:
        entry = self._load().get(user)
        return None if entry is None else entry.role or self.default_role
