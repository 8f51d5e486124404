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

PAM (``[auth] mode = "pam"``, PamAuthenticator): the password is checked by the
system's PAM stack for ``[auth] pam_service`` (pam_authenticate + pam_acct_mgmt through
python-pam, module ``pam``) and the role comes from the user's Unix groups
(``[auth.pam_groups]``: group -> role; several mapped groups: the highest role; none:
refused). The same lockout applies. PAM calls run in a small pool of their own with a
deadline, and only so many requests may wait for PAM at once, so a slow PAM stack
(pam_faildelay, a remote directory) cannot take the event loop or every worker.
"""

from __future__ import annotations

import grp
import hashlib
import hmac
import logging
import os
import pwd
import re
import secrets
import tempfile
import threading
import time
from collections import OrderedDict
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass
from pathlib import Path

from vrmgmt.errors import ConfigError
from vrmgmt.roles import ADMIN, ROLES, allows

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


class _Throttled:
    """The lockout bookkeeping every authenticator shares (docs/security.md "Lockout
    policy"): failures per (user, address) and per address, exponentially growing locks."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._pairs: OrderedDict[tuple[str, str], _Counter] = OrderedDict()
        self._addresses: OrderedDict[str, _Counter] = OrderedDict()

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

    def _failed(self, user: str, client: str, now: float) -> None:
        """Count one failed login of user from client."""
        with self._lock:
            self._fail(self._get(self._pairs, (user, client), now), PAIR_FREE_FAILURES, now)
            self._fail(self._get(self._addresses, client, now), ADDRESS_FREE_FAILURES, now)

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

    def check(self, user: str, password: str, client: str = "") -> bool:
        return self.authenticate(user, password, client).ok

    def authenticate(self, user: str, password: str, client: str = "") -> Login:
        raise NotImplementedError


class Authenticator(_Throttled):
    """Checks Basic credentials; remembers recent successes briefly so keep-alive
    clients do not pay a PBKDF2 derivation per request. Re-reads the users file when
    it changes (keeping the last good one if the new one is malformed)."""

    def __init__(self, users_path: Path, default_role: str = ADMIN):
        super().__init__()
        self.users_path = users_path
        self.default_role = default_role
        self._users: dict[str, User] = {}
        self._mtime: float | None = None
        self._ok: dict[tuple[str, bytes], float] = {}
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
        self._failed(user, client, now)
        return Login(False, user, reason="unknown user" if entry is None else "wrong password")

    def role_of(self, user: str) -> str | None:
        entry = self._load().get(user)
        return None if entry is None else entry.role or self.default_role


# -- PAM ------------------------------------------------------------------------------
#: threads that run PAM conversations (a PAM call may sleep: pam_faildelay, a directory)
PAM_THREADS = 4
#: how long a request waits for PAM before its login is refused
PAM_TIMEOUT = 10.0
#: a successful PAM login is remembered this long (keep-alive clients do not run the
#: PAM stack per request; a changed password or group takes effect within it)
PAM_CACHE_SECONDS = 60.0
#: where libpam looks for service files (Linux-PAM: /etc first, then the vendor dir)
PAM_DIRS = (Path("/etc/pam.d"), Path("/usr/lib/pam.d"))


def pam_service_file(service: str) -> Path | None:
    """The file that configures a PAM service, or None if there is none."""
    for d in PAM_DIRS:
        f = d / service
        if f.is_file():
            return f
    return None


def unix_groups(user: str) -> list[str]:
    """The names of the user's Unix groups (primary and supplementary, through NSS);
    KeyError if the system knows no such user."""
    pw = pwd.getpwnam(user)
    names = []
    for gid in os.getgrouplist(user, pw.pw_gid):
        try:
            names.append(grp.getgrgid(gid).gr_name)
        except KeyError:
            continue  # a gid without a name maps to no role
    return names


def missing_groups(mapping: dict[str, str]) -> list[str]:
    """The mapped group names the system does not know (worth a warning at start)."""
    out = []
    for g in mapping:
        try:
            grp.getgrnam(g)
        except KeyError:
            out.append(g)
    return out


def role_for_groups(groups: list[str], mapping: dict[str, str]) -> str | None:
    """The highest role any of the groups maps to (None: no group is mapped)."""
    best: str | None = None
    for g in groups:
        role = mapping.get(g)
        if role is not None and (best is None or not allows(best, role)):
            best = role
    return best


class PamAuthenticator(_Throttled):
    """Checks Basic credentials with PAM; the role from the user's Unix groups.

    A right password of a user in no mapped group is refused ("in no group mapped to a
    role") and counted as a failure like a wrong one (the client sees the same 401, so
    that reveals nothing). PAM runs in PAM_THREADS threads of its own; at most
    ``max_waiting`` requests wait for it at once (beyond: refused at once, "PAM busy",
    not counted as a failure), each for PAM_TIMEOUT at most."""

    def __init__(
        self,
        service: str,
        groups: dict[str, str],
        max_waiting: int = 8,
        timeout: float = PAM_TIMEOUT,
    ):
        super().__init__()
        import pam  # python-pam; config.validate() said so clearly if it is missing

        self._pam = pam
        self.service = service
        self.groups = dict(groups)
        self.max_waiting = max(1, max_waiting)
        self.timeout = timeout
        self._pool = ThreadPoolExecutor(PAM_THREADS, thread_name_prefix="pam")
        self._waiting = 0
        self._ok: dict[tuple[str, bytes], tuple[float, str]] = {}

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)

    def _check(self, user: str, password: str) -> tuple[bool, str | None, str]:
        """(password right, role, why not) — runs in a PAM thread."""
        p = self._pam.pam()
        try:
            ok = p.authenticate(user, password, service=self.service, resetcreds=False)
        except ValueError as exc:  # NUL in the name or password
            return False, None, f"PAM: {exc}"
        if not ok:
            return False, None, f"PAM {self.service}: {p.reason} (code {p.code})"
        try:
            groups = unix_groups(user)
        except KeyError:
            return True, None, f"PAM accepted {user!r}, but the system has no such Unix user"
        role = role_for_groups(groups, self.groups)
        if role is None:
            return (
                True,
                None,
                (
                    f"user {user!r} is in no group mapped to a role "
                    f"(groups: {', '.join(sorted(groups)) or 'none'}; "
                    f"mapped: {', '.join(sorted(self.groups))})"
                ),
            )
        return True, role, ""

    def authenticate(self, user: str, password: str, client: str = "") -> Login:
        now = time.monotonic()
        wait = self.locked(user, client)
        if wait > 0:
            return Login(False, user, reason=f"locked for {wait:.0f} s after repeated failures")
        key = (user, hashlib.sha256(password.encode("utf-8", "surrogatepass")).digest())
        with self._lock:
            hit = self._ok.get(key)
            if hit is not None and now - hit[0] < PAM_CACHE_SECONDS:
                return Login(True, user, hit[1])
            if self._waiting >= self.max_waiting:
                busy = self._waiting
            else:
                busy = 0
                self._waiting += 1
        if busy:
            return Login(False, user, reason=f"PAM busy: {busy} logins are being checked")
        try:
            fut = self._pool.submit(self._check, user, password)
            ok, role, why = fut.result(timeout=self.timeout)
        except FutureTimeout:
            return Login(False, user, reason=f"PAM did not answer within {self.timeout:g} s")
        except RuntimeError:  # the pool is shut down: the server is stopping
            return Login(False, user, reason="shutting down")
        finally:
            with self._lock:
                self._waiting -= 1
        if ok and role is not None:
            with self._lock:
                self._ok[key] = (time.monotonic(), role)
                if len(self._ok) > MAX_TRACKED:
                    self._ok.clear()
                self._pairs.pop((user, client), None)
            return Login(True, user, role)
        self._failed(user, client, time.monotonic())
        return Login(False, user, reason=why)
