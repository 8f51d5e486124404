"""Fuzz a running `vrmgmt serve` with malformed and hostile CIM-XML requests.

    python -m bench.fuzz --examples 20000 [--seed N] [--timeout 10] [--check-every 250]

Starts a fresh server (authentication on, a libvirt test-driver backend with a few
domains), sends the cases of tests/support/fuzzgen.py over raw sockets and checks every
reply against the contract:

- a status line arrives within the per-request timeout (slower = a hang);
- the status is 200 with a well-formed CIM-XML body (a response carrying an ERROR
  element, or a normal response when the mutation happened to leave the request
  valid), or a 4xx; a 5xx only where the case says why it is right (501 for a transfer
  coding the server does not implement, 505 for HTTP/2+);
- no Python traceback and no file content (/etc/passwd) in the reply;
- the connection is never dropped without a status line, except for requests whose
  body was cut short (Content-Length larger than what was sent), where the server may
  close the connection;
- every `check_every` cases and at the end, a valid pywbem EnumerateInstances succeeds
  and the server process is alive.

tests/test_fuzz.py runs the same checks, driven by hypothesis, on fewer cases.
"""

from __future__ import annotations

import argparse
import base64
import random
import re
import socket
import sys
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

PROJECT = Path(__file__).resolve().parents[1]
if str(PROJECT / "tests") not in sys.path:
    sys.path.insert(0, str(PROJECT / "tests"))

from lxml import etree  # noqa: E402

from support.fuzzgen import Case, Fuzzer, default_seeds  # noqa: E402

_SAFE_PARSER = etree.XMLParser(
    resolve_entities=False, no_network=True, load_dtd=False, huge_tree=True
)
_TRACEBACK = re.compile(rb"Traceback \(most recent call last\)|File \"/[^\"]+\.py\", line \d+")
#: lines of /etc/passwd (not "/bin/bash" alone: VRM_UnixProcess lists shells' paths)
_LEAKS = (b"root:x:0:0", b"daemon:x:")
#: DSP0200 §7.5 CIMError values that come with 501 Not Implemented
DSP0200_501 = {
    "multiple-requests-unsupported",
    "unsupported-cim-version",
    "unsupported-dtd-version",
    "unsupported-protocol-version",
}
#: Python exception text: an unexpected exception turned into CIM_ERR_FAILED
_INTERNAL = re.compile(
    r"object has no attribute|'NoneType'|not subscriptable|unhashable type|"
    r"positional argument|object is not (callable|iterable)|Traceback|KeyError|IndexError"
)
MAX_REPLY = 64 * 1024 * 1024


# --------------------------------------------------------------------------------------
# One exchange over a raw socket


@dataclass
class Reply:
    status: int | None = None
    reason: str = ""
    headers: dict[str, str] = field(default_factory=dict)
    trailers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""
    error: str | None = None  # "timeout", "closed", "reset", "incomplete", "not-read"
    elapsed: float = 0.0
    interim: list[int] = field(default_factory=list)  # 1xx statuses seen first


class _Reader:
    def __init__(self, sock: socket.socket, deadline: float):
        self.sock = sock
        self.deadline = deadline
        self.buf = b""

    def _fill(self) -> bool:
        left = self.deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError
        self.sock.settimeout(left)
        chunk = self.sock.recv(262144)
        if not chunk:
            return False
        self.buf += chunk
        return True

    def line(self) -> bytes | None:
        while b"\n" not in self.buf:
            if len(self.buf) > 1 << 20 or not self._fill():
                return None
        line, _, self.buf = self.buf.partition(b"\n")
        return line.rstrip(b"\r")

    def exactly(self, n: int) -> bytes | None:
        while len(self.buf) < n:
            if not self._fill():
                return None
        data, self.buf = self.buf[:n], self.buf[n:]
        return data

    def rest(self, cap: int) -> bytes:
        while len(self.buf) < cap and self._fill():
            pass
        return self.buf


def _headers(reader: _Reader) -> dict[str, str] | None:
    headers: dict[str, str] = {}
    while True:
        line = reader.line()
        if line is None:
            return None
        if not line:
            return headers
        name, _, value = line.decode("latin-1").partition(":")
        key = name.strip().lower()
        headers[key] = f"{headers[key]}, {value.strip()}" if key in headers else value.strip()


def _read_reply(reader: _Reader, reply: Reply) -> None:
    while True:
        line = reader.line()
        if line is None:
            reply.error = "closed" if not reader.buf else "incomplete"
            return
        m = re.match(rb"HTTP/\d\.\d (\d{3})(?: (.*))?$", line)
        if not m:
            reply.error = "incomplete"
            reply.body = line[:200]
            return
        status = int(m.group(1))
        headers = _headers(reader)
        if headers is None:
            reply.status = status
            reply.error = "incomplete"
            return
        if 100 <= status < 200:
            reply.interim.append(status)
            continue
        reply.status, reply.reason = status, (m.group(2) or b"").decode("latin-1")
        reply.headers = headers
        break
    te = reply.headers.get("transfer-encoding", "").lower()
    if "chunked" in te:
        body = []
        while True:
            size_line = reader.line()
            if size_line is None:
                reply.error = "incomplete"
                break
            size = int(size_line.split(b";")[0].strip() or b"0", 16)
            if size == 0:
                trailers = _headers(reader)
                reply.trailers = trailers or {}
                if trailers is None:
                    reply.error = "incomplete"
                break
            chunk = reader.exactly(size + 2)
            if chunk is None:
                reply.error = "incomplete"
                break
            body.append(chunk[:-2])
        reply.body = b"".join(body)
    elif "content-length" in reply.headers:
        n = int(reply.headers["content-length"].split(",")[0])
        data = reader.exactly(n)
        if data is None:
            reply.error = "incomplete"
            data = reader.buf
        reply.body = data
    else:
        reply.body = reader.rest(MAX_REPLY)


#: Cases that send credentials other than the fuzz user's connect from this address:
#: the server locks a (user, client address) pair after repeated wrong passwords
#: (docs/security.md "Lockout policy"), which would otherwise lock the run's own valid
#: requests (and every later case with the right password) out.
WRONG_CREDENTIALS_SOURCE = "127.0.0.2"
_AUTHORIZATION = re.compile(rb"\r\nauthorization:[ \t]*([^\r\n]*)", re.I)


def _source(head: bytes, host: str) -> str | None:
    if host not in ("127.0.0.1", "localhost"):
        return None
    m = _AUTHORIZATION.search(head)
    if m is None:
        return None
    from support.server import PASSWORD, USER

    good = b"Basic " + base64.b64encode(f"{USER}:{PASSWORD}".encode())
    return None if m.group(1).strip() == good else WRONG_CREDENTIALS_SOURCE


def exchange(port: int, case: Case, timeout: float = 10.0, host: str = "127.0.0.1") -> Reply:
    """Send one case on a new connection; read the reply (see Case.mode)."""
    reply = Reply()
    t0 = time.monotonic()
    deadline = t0 + timeout
    source = _source(case.head, host)
    try:
        sock = socket.create_connection(
            (host, port), timeout=timeout, source_address=(source, 0) if source else None
        )
    except OSError as exc:
        reply.error = f"connect: {exc}"
        return reply
    sender = None
    try:
        data = case.data
        if len(data) > 256 * 1024:
            # send big bodies from a thread: the server may answer (413) and close
            # before reading them, and the reply must still be read
            def send() -> None:
                try:
                    sock.sendall(data)
                    if case.mode == "half-close":
                        sock.shutdown(socket.SHUT_WR)
                except OSError:
                    pass

            sender = threading.Thread(target=send, daemon=True)
            sender.start()
        else:
            try:
                sock.sendall(data)
                if case.mode == "half-close":
                    sock.shutdown(socket.SHUT_WR)
            except OSError:
                pass
        if case.mode == "close":
            if sender:
                sender.join(timeout)
            reply.error = "not-read"
            return reply
        try:
            _read_reply(_Reader(sock, deadline), reply)
        except TimeoutError:
            reply.error = "timeout"
        except ConnectionResetError:
            reply.error = "reset"
        except (OSError, ValueError) as exc:
            reply.error = f"read: {exc!r}"
    finally:
        sock.close()
        if sender:
            sender.join(5)
        reply.elapsed = time.monotonic() - t0
    return reply


# --------------------------------------------------------------------------------------
# The contract


def judge(case: Case, reply: Reply) -> tuple[str, str | None]:
    """(outcome label for the tally, violation or None)."""
    if reply.error == "not-read":
        return "sent-and-closed", None
    if reply.error == "timeout" and reply.status is None:
        return "HANG", f"no reply within the timeout ({reply.elapsed:.1f} s)"
    if reply.status is None:
        label = f"no-status ({reply.error})"
        if case.mode == "half-close":
            # the server saw EOF where it expected more (a cut body, an unfinished
            # request head): closing without a reply is fine
            return label, None
        return label, f"connection dropped without a status line ({reply.error})"
    status = reply.status
    cim_error = reply.headers.get("cimerror")
    label = f"{status}" + (f" {cim_error}" if cim_error else "")
    if _TRACEBACK.search(reply.body):
        return label, "a Python traceback in the reply"
    for leak in _LEAKS:
        if leak in reply.body:
            return label, f"file content in the reply ({leak!r})"
    if reply.error == "timeout":
        return label, f"reply started but did not finish within {reply.elapsed:.1f} s"
    if status == 200:
        return _judge_200(case, reply)
    if 400 <= status < 500:
        return label, None
    if status in case.allow:
        return label, None
    if status == 501 and cim_error in DSP0200_501:
        return label, None
    return label, f"status {status} {reply.reason}"


def _judge_200(case: Case, reply: Reply) -> tuple[str, str | None]:
    trailer = reply.trailers.get("cimstatuscode")
    if reply.error:
        if trailer and trailer != "0":
            return f"200 trailer-error {trailer}", None
        return "200 (cut short)", f"200 reply cut short ({reply.error})"
    if reply.headers.get("cimoperation", "").lower() != "methodresponse":
        return "200 (no CIMOperation)", "200 without CIMOperation: MethodResponse"
    try:
        root = etree.fromstring(reply.body, parser=_SAFE_PARSER)
    except etree.XMLSyntaxError as exc:
        if trailer and trailer != "0":
            return f"200 trailer-error {trailer}", None
        return "200 (bad XML)", f"200 with a body that is not XML: {exc}"
    if root.tag != "CIM" or root.find("MESSAGE/SIMPLERSP") is None:
        return "200 (not CIM)", "200 with a body that is not a CIM-XML SIMPLERSP"
    rsp = root.find("MESSAGE/SIMPLERSP")[0]
    if rsp.tag not in ("IMETHODRESPONSE", "METHODRESPONSE"):
        return "200 (not CIM)", f"200 with {rsp.tag} in SIMPLERSP"
    err = rsp.find("ERROR")
    if err is not None:
        label = f"200 CIM error {err.get('CODE')}"
        if _INTERNAL.search(err.get("DESCRIPTION", "")):
            return label, f"internal Python error text in a CIM error: {err.get('DESCRIPTION')!r}"
        return label, None
    if trailer and trailer != "0":
        return f"200 trailer-error {trailer}", None
    return "200 ok", None


# --------------------------------------------------------------------------------------
# Known server bugs: violations that match one are tallied, not failed. Each has a
# strict-xfail reproducer in tests/test_fuzz.py; when the fix lands that test XPASSes
# (and fails as strict): then delete the xfail mark and the entry here.


@dataclass(frozen=True)
class KnownBug:
    id: str
    test: str
    matches: Callable[[Case, Reply, str], bool]


def _early_rejected(case: Case) -> bool:
    head = case.head.lower()
    return b"\nauthorization:" not in head or not head.startswith((b"post ", b"m-post "))


_BAD_CHUNKED = {
    "chunked-bad-size",
    "chunked-bad-crlf",
    "chunked-huge-size",
    "chunked-no-terminator",
}
KNOWN_BUGS: tuple[KnownBug, ...] = ()


def known_bug(case: Case, reply: Reply, violation: str) -> str | None:
    for bug in KNOWN_BUGS:
        if bug.matches(case, reply, violation):
            return bug.id
    return None


# --------------------------------------------------------------------------------------
# A run


@dataclass
class FuzzRun:
    """Sends cases to a VrmServer, judges replies, checks the server now and then."""

    srv: object  # tests.support.server.VrmServer
    timeout: float = 10.0
    check_every: int = 250
    class_name: str = "VRM_ComputerSystem"
    outcomes: Counter = field(default_factory=Counter)
    by_kind: dict = field(default_factory=lambda: defaultdict(Counter))
    violations: list = field(default_factory=list)
    known: Counter = field(default_factory=Counter)
    slowest: list = field(default_factory=list)
    sent: int = 0
    checks: int = 0
    started: float = field(default_factory=time.monotonic)
    recent: list = field(default_factory=list)

    def send(self, case: Case) -> tuple[str, str | None, Reply]:
        reply = exchange(self.srv.port, case, self.timeout)
        label, violation = judge(case, reply)
        self.sent += 1
        self.outcomes[label] += 1
        self.by_kind[case.kind.split("-")[0]][label] += 1
        self.recent = [*self.recent[-19:], case]
        self.slowest = sorted([*self.slowest, (reply.elapsed, case.kind)], reverse=True)[:5]
        if violation:
            bug = known_bug(case, reply, violation)
            if bug:
                self.known[bug] += 1
                self.outcomes[label] -= 1
                self.outcomes[f"known bug: {bug}"] += 1
                violation = None
            else:
                self.violations.append((case, reply, violation))
        if self.check_every and self.sent % self.check_every == 0:
            self.check_server()
        return label, violation, reply

    def check_server(self) -> None:
        """A valid pywbem request must still succeed and the process be alive."""
        self.checks += 1
        if not self.srv.alive():
            raise AssertionError(
                f"server died after {self.sent} cases; last cases:\n" + self.last_cases()
            )
        conn = self.srv.conn(timeout=self.timeout)
        try:
            insts = conn.EnumerateInstances(self.class_name)
        except Exception as exc:
            raise AssertionError(
                f"valid EnumerateInstances failed after {self.sent} cases: {exc!r}; "
                "last cases:\n" + self.last_cases()
            ) from exc
        if not insts:
            raise AssertionError(f"valid EnumerateInstances returned nothing after {self.sent}")

    def last_cases(self, n: int = 5) -> str:
        return "\n".join(c.describe(300) for c in self.recent[-n:])

    def summary(self, title: str = "fuzz") -> str:
        secs = time.monotonic() - self.started
        lines = [
            f"== {title}: {self.sent} cases in {secs:.1f} s "
            f"({self.sent / secs if secs else 0:.0f}/s), {self.checks} server checks, "
            f"{len(self.violations)} violations"
        ]
        lines.append("-- outcomes")
        for label, n in self.outcomes.most_common():
            if n:
                lines.append(f"{n:7d}  {label}")
        lines.append("-- by mutator family (top outcomes)")
        for kind in sorted(self.by_kind):
            c = self.by_kind[kind]
            top = ", ".join(f"{lab}: {n}" for lab, n in c.most_common(4))
            lines.append(f"  {kind:16s} {sum(c.values()):6d}  {top}")
        lines.append(
            "-- slowest: " + ", ".join(f"{kind} {secs:.2f} s" for secs, kind in self.slowest)
        )
        for case, reply, why in self.violations[:10]:
            lines.append(f"!! {why}\n{case.describe(400)}\n  reply: {reply.status} {reply.error}")
        return "\n".join(lines)


def server_tracebacks(log_text: str) -> Counter:
    """Exceptions the server logged with a traceback: (type, last frame) -> count.
    Tracebacks the client never sees still mark unexpected code paths."""
    found: Counter = Counter()
    blocks = log_text.split("Traceback (most recent call last):")[1:]
    for block in blocks:
        lines = [ln for ln in block.splitlines() if ln.strip()]
        frames = [ln.strip() for ln in lines if ln.strip().startswith('File "')]
        exc = next((ln for ln in lines if re.match(r"^[A-Za-z_.]+(Error|Exception)\b", ln)), "?")
        found[(exc[:120], frames[-1][:160] if frames else "?")] += 1
    return found


# --------------------------------------------------------------------------------------
# A fresh server for the bench (the test has its own fixture)


def start_server(workdir: Path, n_domains: int = 5):
    from support.server import VrmServer
    from support.testdriver import node_uri, write_node_xml

    workdir.mkdir(parents=True, exist_ok=True)
    domains = write_node_xml(workdir / "node.xml", n_domains, running_every=2, seed=1)
    srv = VrmServer(
        workdir, [{"id": "tdhost", "type": "libvirt", "uri": node_uri(workdir / "node.xml")}]
    )
    srv.domains = domains
    return srv.start()


def main(argv: list[str] | None = None) -> int:
    import tempfile

    ap = argparse.ArgumentParser(prog="python -m bench.fuzz", description=__doc__.split("\n")[0])
    ap.add_argument("--examples", type=int, default=20000)
    ap.add_argument("--seed", type=int, default=0, help="random seed (the run is repeatable)")
    ap.add_argument("--timeout", type=float, default=10.0, help="per-request timeout, s")
    ap.add_argument("--check-every", type=int, default=250)
    ap.add_argument("--keep", action="store_true", help="keep the work dir (server log)")
    args = ap.parse_args(argv)

    workdir = Path(tempfile.mkdtemp(prefix="vrmgmt-fuzz-"))
    srv = start_server(workdir / "srv")
    try:
        uuid = srv.domains[0][1]
        fuzzer = Fuzzer(default_seeds(uuid), srv.creds, uuids=[u for _, u in srv.domains])
        run = FuzzRun(srv, timeout=args.timeout, check_every=args.check_every)
        rng = random.Random(args.seed)
        failed = None
        try:
            for case in fuzzer.generate(rng, args.examples):
                _, violation, _ = run.send(case)
                if violation and ("HANG" in violation or not srv.alive()):
                    failed = "stopping: the server hangs or died"
                    break
            run.check_server()
        except AssertionError as exc:
            failed = str(exc)
        print(run.summary(f"bench.fuzz seed={args.seed}"))
        tbs = server_tracebacks(srv.log_path.read_text(errors="replace"))
        print(f"-- server-side tracebacks: {sum(tbs.values())}")
        for (exc, frame), n in tbs.most_common(10):
            print(f"{n:7d}  {exc}  @ {frame}")
        if failed:
            print("FAILED:", failed)
        ok = not failed and not run.violations
        print("RESULT:", "PASS" if ok else "FAIL")
        return 0 if ok else 1
    finally:
        srv.stop()
        if args.keep:
            print("work dir:", workdir)
        else:
            import shutil

            shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
