"""Delivering indications to one CIM-XML listener destination: DSP0200 1.4 §7
(export messages) and DSP0201 EXPMETHODCALL ExportIndication over HTTP(S) POST, with
the retry rules of CIM_IndicationService (DSP1054 §7.8: DeliveryRetryAttempts,
DeliveryRetryInterval).

Job: one ``DestinationWorker`` thread per destination owns a bounded queue and a
persistent HTTP connection to its listener. ``offer()`` never blocks (a full queue drops
the indication and counts it: the listener sees the gap in SequenceNumber), so a slow or
dead listener costs its own thread and nothing else. Facts (DESIGN.md "Indications"):
pywbem's WBEMListener answers M-POST with 501, so this is a plain POST with
``CIMExport: MethodRequest`` and ``CIMExportMethod: ExportIndication``; embedded
instances carry no path (the listener answers 400 to VALUE.OBJECTWITHLOCALPATH).

HTTPS: the listener's certificate is verified (chain and host name, TLS 1.2+) against
the system's CA store or, with ``[indications] ca_file``, against the CAs in that file
(``listener_context``); a certificate that is not trusted or is not for the host fails
the attempt like any other (retried, then given up), with a message that says so.
"""

from __future__ import annotations

import collections
import http.client
import itertools
import logging
import re
import ssl
import threading
import time
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass, field

from pywbem import CIMInstance

log = logging.getLogger(__name__)

#: Indications waiting per destination; more are dropped (and counted) until it drains
QUEUE_BOUND = 10_000
#: Seconds to connect to a listener and to wait for its answer to one request
DELIVERY_TIMEOUT = 10.0

_ERROR_RE = re.compile(rb'<ERROR\s[^>]*CODE="(\d+)"(?:[^>]*DESCRIPTION="([^"]*)")?')
_msg_ids = itertools.count(1)


def export_body(indication: CIMInstance) -> bytes:
    """The CIM-XML ExportIndication request carrying indication (without path)."""
    ind = indication
    if ind.path is not None:
        ind = ind.copy()
        ind.path = None
    inst_xml = ind.tocimxmlstr()
    return (
        '<?xml version="1.0" encoding="utf-8" ?>\n'
        '<CIM CIMVERSION="2.0" DTDVERSION="2.0">'
        f'<MESSAGE ID="{next(_msg_ids)}" PROTOCOLVERSION="1.0"><SIMPLEEXPREQ>'
        '<EXPMETHODCALL NAME="ExportIndication"><EXPPARAMVALUE NAME="NewIndication">'
        f"{inst_xml}"
        "</EXPPARAMVALUE></EXPMETHODCALL></SIMPLEEXPREQ></MESSAGE></CIM>"
    ).encode()


def listener_context(ca_file: str | None = None) -> ssl.SSLContext:
    """The client TLS context for HTTPS listeners: certificate and host name verified
    against ca_file's CAs (PEM), else the system's CA store; TLS 1.2 or newer."""
    ctx = ssl.create_default_context(cafile=ca_file or None)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.vrmgmt_ca_file = ca_file or ""  # type: ignore[attr-defined]  # for messages
    return ctx


class DeliveryError(Exception):
    """One attempt failed (connection, HTTP status, or an ERROR in the response)."""


class Listener:
    """A keep-alive HTTP(S) connection to one listener URL."""

    def __init__(self, url: str, ssl_context: ssl.SSLContext | None = None):
        parts = urllib.parse.urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"listener URL {url!r} is not http(s)://host[:port][/path]")
        self.url = url
        self.scheme = parts.scheme
        self.host = parts.hostname
        self.port = parts.port or (5990 if parts.scheme == "https" else 5988)
        self.target = parts.path or "/"
        self.ssl_context = ssl_context  # None: listener_context() at the first HTTPS use
        self._conn: http.client.HTTPConnection | None = None

    def _connection(self) -> http.client.HTTPConnection:
        if self._conn is None:
            if self.scheme == "https":
                if self.ssl_context is None:
                    self.ssl_context = listener_context()
                self._conn = http.client.HTTPSConnection(
                    self.host, self.port, timeout=DELIVERY_TIMEOUT, context=self.ssl_context
                )
            else:
                self._conn = http.client.HTTPConnection(
                    self.host, self.port, timeout=DELIVERY_TIMEOUT
                )
        return self._conn

    def trusted(self) -> str:
        """Which CAs this listener's certificate is checked against (for messages)."""
        ca = getattr(self.ssl_context, "vrmgmt_ca_file", "")
        return f"the CAs in [indications] ca_file {ca}" if ca else "the system's CA store"

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def send(self, body: bytes) -> None:
        """POST one export request; DeliveryError unless the listener accepted it."""
        headers = {
            "Content-Type": 'application/xml; charset="utf-8"',
            "Accept": "application/xml",
            "CIMExport": "MethodRequest",
            "CIMExportMethod": "ExportIndication",
            "CIMProtocolVersion": "1.0",
        }
        try:
            conn = self._connection()
            conn.request("POST", self.target, body, headers)
            resp = conn.getresponse()
            answer = resp.read()
        except ssl.SSLCertVerificationError as exc:
            self.close()
            why = exc.verify_message or exc.reason or str(exc)
            raise DeliveryError(
                f"{self.url}: refused the listener's TLS certificate: {why} (trusted: "
                f"{self.trusted()})"
            ) from None
        except (OSError, http.client.HTTPException) as exc:
            self.close()
            raise DeliveryError(f"{self.url}: {exc or type(exc).__name__}") from None
        if resp.status != 200:
            self.close()
            raise DeliveryError(f"{self.url}: HTTP {resp.status} {resp.reason}")
        m = _ERROR_RE.search(answer)
        if m is not None:
            desc = (m.group(2) or b"").decode("utf-8", "replace")
            raise DeliveryError(f"{self.url}: CIM error {m.group(1).decode()} {desc}".strip())
        if resp.getheader("Connection", "").lower() == "close":
            self.close()


@dataclass
class Policy:
    """CIM_IndicationService's delivery settings, read at each attempt."""

    retry_attempts: int = 3
    retry_interval: float = 30.0


@dataclass
class Stats:
    delivered: int = 0
    dropped_full: int = 0
    failed: int = 0
    last_error: str = ""
    #: monotonic time of the first failure since the last success (None: healthy)
    failing_since: float | None = None
    failing_since_wall: float | None = None
    retries: int = 0
    history: collections.deque = field(default_factory=lambda: collections.deque(maxlen=20))


class DestinationWorker:
    """Delivers to one destination, in order, from its own thread."""

    def __init__(
        self,
        name: str,
        url: str,
        policy: Callable[[], Policy],
        on_failure: Callable[[DestinationWorker], None] | None = None,
        ssl_context: ssl.SSLContext | None = None,
        bound: int = QUEUE_BOUND,
    ):
        self.name = name
        self.url = url
        self.listener = Listener(url, ssl_context)
        self._policy = policy
        self._on_failure = on_failure
        self.bound = bound
        self._queue: collections.deque[CIMInstance] = collections.deque()
        self._cond = threading.Condition()
        self._stop = False
        self.stats = Stats()
        self._seq = itertools.count()
        self._thread = threading.Thread(target=self._run, name=f"indications-{name}", daemon=True)
        self._thread.start()

    def next_sequence(self) -> int:
        return next(self._seq)

    def offer(self, indication: CIMInstance) -> bool:
        """Queue indication; False (and counted) when the queue is full. Never blocks."""
        with self._cond:
            if len(self._queue) >= self.bound:
                self.stats.dropped_full += 1
                return False
            self._queue.append(indication)
            self._cond.notify()
            return True

    def pending(self) -> int:
        with self._cond:
            return len(self._queue)

    def stop(self, timeout: float = 1.0) -> None:
        with self._cond:
            self._stop = True
            self._cond.notify_all()
        if threading.current_thread() is not self._thread:  # a worker may stop itself
            self._thread.join(timeout)
            self.listener.close()

    def _wait(self, seconds: float) -> bool:
        """Sleep seconds unless stopped; True when stopped."""
        with self._cond:
            if not self._stop:
                self._cond.wait_for(lambda: self._stop, seconds)
            return self._stop

    def _run(self) -> None:
        while True:
            with self._cond:
                self._cond.wait_for(lambda: self._stop or self._queue)
                if self._stop:
                    return
                ind = self._queue[0]
            self._deliver(ind)
            with self._cond:
                if self._queue and self._queue[0] is ind:
                    self._queue.popleft()

    def _deliver(self, ind: CIMInstance) -> None:
        body = export_body(ind)
        attempt = 0
        while True:
            try:
                self.listener.send(body)
            except DeliveryError as exc:
                st = self.stats
                st.last_error = str(exc)
                if st.failing_since is None:
                    st.failing_since = time.monotonic()
                    st.failing_since_wall = time.time()
                    log.warning("indications: destination %s failing: %s", self.name, exc)
                pol = self._policy()
                if attempt >= pol.retry_attempts:
                    st.failed += 1
                    log.info(
                        "indications: %s: gave up on an indication after %d attempts",
                        self.name,
                        attempt + 1,
                    )
                    if self._on_failure is not None:
                        self._on_failure(self)
                    return
                attempt += 1
                st.retries += 1
                if self._wait(pol.retry_interval):
                    return
                continue
            st = self.stats
            st.delivered += 1
            if st.failing_since is not None:
                log.info("indications: destination %s delivers again", self.name)
            st.failing_since = None
            st.failing_since_wall = None
            return
