"""The HTTP/1.1 front end of the embedded CIMOM (RFC 9112 framing, DSP0200 §6 transport):
an asyncio event loop owns every socket, TLS handshake, request-head and body read;
only complete requests reach the worker threads, which run the WSGI application.

So a slow, idle or half-open client (plain or TLS) costs a socket and a coroutine, never
a worker thread. Limits (all from [server]): header_timeout (the request head, and a
TLS handshake, must arrive within it), body_timeout (the body, and writing the reply),
idle_timeout (a keep-alive connection between requests), max_connections and
max_connections_per_client (503 beyond them; counted from accept, so unfinished TLS
handshakes count too), max_request_bytes, and a total budget of
request-body bytes held at once.

Framing is strict (request smuggling): conflicting Content-Length headers, a
Content-Length together with Transfer-Encoding, a non-decimal Content-Length, obsolete
line folding or bare-LF line ends are a 400 and the connection is closed; a transfer
coding other than chunked is a 501. Responses: Content-Length when the application
gives one, else chunked (HTTP/1.1) with the trailers the application appended to
environ["vrmgmt.trailers"] (DSP0200 §7.4.x CIMStatusCode trailer), else close-delimited
(HTTP/1.0). M-POST is passed through like POST (the application checks it).

Why not cheroot: its acceptor thread performs TLS handshakes synchronously and its
workers read request heads, so one stalled handshake froze the HTTPS listener and 16
slow clients took every worker (issue 14).
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import logging
import re
import socket
import ssl
import sys
import threading
import time
import urllib.parse
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

log = logging.getLogger(__name__)

MAX_HEADER_BYTES = 64 * 1024
MAX_HEADER_LINES = 100
WRITE_BATCH = 64 * 1024
_TOKEN = re.compile(rb"[!#$%&'*+.^_`|~0-9A-Za-z-]+")
_VERSION = re.compile(rb"HTTP/([0-9])\.([0-9])")
_REASONS = {
    400: "Bad Request",
    408: "Request Timeout",
    413: "Payload Too Large",
    431: "Request Header Fields Too Large",
    500: "Internal Server Error",
    501: "Not Implemented",
    503: "Service Unavailable",
    505: "HTTP Version Not Supported",
}


@dataclass
class Limits:
    header_timeout: float = 10.0
    body_timeout: float = 30.0
    idle_timeout: float = 30.0
    max_connections: int = 4096
    max_connections_per_client: int = 64
    max_request_bytes: int = 4 * 1024 * 1024
    threads: int = 16

    @property
    def body_budget(self) -> int:
        """Request-body bytes held in memory at once, over all connections."""
        return max(64 * 1024 * 1024, 8 * self.max_request_bytes)


class _Refuse(Exception):
    """Answer status with message and close the connection."""

    def __init__(self, status: int, message: str, extra: tuple = ()):
        super().__init__(message)
        self.status = status
        self.message = message
        self.extra = extra


class _Gone(Exception):
    """The client went away or stalled: close without an answer."""


@dataclass
class _Head:
    method: str
    target: str
    version: tuple[int, int]
    headers: list[tuple[str, str]]  # (lower-case name, value) in order

    def get(self, name: str) -> list[str]:
        return [v for k, v in self.headers if k == name]


def parse_head(lines: list[bytes]) -> _Head:
    """The request line and header fields (each line without its CRLF)."""
    parts = lines[0].split(b" ")
    if len(parts) != 3 or not parts[1]:
        raise _Refuse(400, "malformed request line")
    method, target, version = parts
    if not _TOKEN.fullmatch(method):
        raise _Refuse(400, "malformed request method")
    m = _VERSION.fullmatch(version)
    if m is None:
        if version.startswith(b"HTTP/"):
            raise _Refuse(505, f"HTTP version {version.decode('latin-1')!r} is not supported")
        raise _Refuse(400, "malformed HTTP version")
    ver = (int(m.group(1)), int(m.group(2)))
    if ver not in ((1, 0), (1, 1)):
        raise _Refuse(505, f"HTTP/{ver[0]}.{ver[1]} is not supported; use HTTP/1.1")
    headers = []
    for line in lines[1:]:
        if line[:1] in (b" ", b"\t"):
            raise _Refuse(400, "obsolete line folding in the header is refused")
        name, sep, value = line.partition(b":")
        if not sep or not _TOKEN.fullmatch(name):
            raise _Refuse(400, "malformed header field")
        if b"\0" in value:
            raise _Refuse(400, "NUL in a header field")
        headers.append((name.decode("ascii").lower(), value.strip(b" \t").decode("latin-1")))
    return _Head(method.decode("ascii"), target.decode("latin-1"), ver, headers)


def body_framing(head: _Head) -> tuple[str, int]:
    """("length", n) or ("chunked", 0) or ("none", 0); _Refuse for ambiguous framing
    (RFC 9112 §6.3: what a proxy and this server could read differently)."""
    te = [t.strip().lower() for v in head.get("transfer-encoding") for t in v.split(",")]
    cls = [c.strip() for v in head.get("content-length") for c in v.split(",")]
    if te and cls:
        raise _Refuse(400, "Content-Length together with Transfer-Encoding is refused")
    if te:
        if te != ["chunked"]:
            raise _Refuse(501, f"transfer coding {', '.join(te)!r} is not implemented")
        return "chunked", 0
    if cls:
        if not all(c.isascii() and c.isdigit() for c in cls):
            raise _Refuse(400, "invalid Content-Length")
        if len({int(c) for c in cls}) > 1:
            raise _Refuse(400, "conflicting Content-Length headers")
        return "length", int(cls[0])
    return "none", 0


class FrontEnd:
    """HTTP(S) listeners served by one event-loop thread and a pool of workers."""

    def __init__(self, app: Callable, limits: Limits):
        self.app = app
        self.limits = limits
        self.workers = ThreadPoolExecutor(limits.threads, thread_name_prefix="worker")
        self.loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._listeners: list[tuple[str, socket.socket, ssl.SSLContext | None]] = []
        self._servers: list[asyncio.base_events.Server] = []
        self._total = 0
        self._per_client: Counter[str] = Counter()
        self._body_bytes = 0

    # -- listeners -----------------------------------------------------------------
    def listen(self, name: str, host: str, port: int, ssl_ctx: ssl.SSLContext | None) -> None:
        """Bind now (so a port in use fails at start, with the address)."""
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        try:
            sock = socket.create_server((host, port), family=family, backlog=1024)
        except OSError as exc:
            raise OSError(exc.errno, f"cannot listen on {host}:{port}: {exc.strerror}") from None
        sock.setblocking(False)
        self._listeners.append((name, sock, ssl_ctx))

    def addresses(self) -> list[tuple[str, str, int]]:
        return [(n, *s.getsockname()[:2]) for n, s, _ in self._listeners]

    def start(self) -> None:
        ready = threading.Event()
        failure: list[BaseException] = []

        def run() -> None:
            loop = self.loop = asyncio.new_event_loop()
            asyncio.set_event_loop(loop)
            try:
                for _name, sock, ctx in self._listeners:
                    srv = loop.run_until_complete(
                        asyncio.start_server(  # TLS is started in _client, after the caps
                            lambda r, w, c=ctx: self._client(r, w, c),
                            sock=sock,
                            limit=MAX_HEADER_BYTES,
                        )
                    )
                    self._servers.append(srv)
            except BaseException as exc:  # noqa: BLE001 - reported to start()
                failure.append(exc)
                ready.set()
                return
            ready.set()
            loop.run_forever()

        self._thread = threading.Thread(target=run, name="http-loop", daemon=True)
        self._thread.start()
        ready.wait()
        if failure:
            raise failure[0]

    def stop(self) -> None:
        loop = self.loop
        if loop is not None and loop.is_running():

            async def close() -> None:
                for s in self._servers:
                    s.close()
                # end the open connections while the loop still runs (their finally
                # blocks close the transports; a destroyed pending task cannot)
                me = asyncio.current_task()
                tasks = [t for t in asyncio.all_tasks() if t is not me]
                for t in tasks:
                    t.cancel()
                if tasks:
                    await asyncio.wait(tasks, timeout=2)
                loop.stop()

            asyncio.run_coroutine_threadsafe(close(), loop)
        if self._thread is not None:
            self._thread.join(5)
        self.workers.shutdown(wait=False, cancel_futures=True)

    # -- one connection --------------------------------------------------------------
    async def _client(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        ssl_ctx: ssl.SSLContext | None,
    ) -> None:
        """One connection, counted against the caps from accept: a TLS connection that
        has not finished its handshake counts like any other (and one beyond a cap is
        closed before its handshake is even started)."""
        peer = writer.get_extra_info("peername") or ("", 0)
        client = str(peer[0])
        lim = self.limits
        tls = ssl_ctx is not None
        if self._total >= lim.max_connections or self._per_client[client] >= (
            lim.max_connections_per_client
        ):
            which = "this client" if self._total < lim.max_connections else "the server"
            log.warning("refusing a connection from %s: too many connections (%s)", client, which)
            if not tls:  # a TLS client could not read a plain 503: it is just closed
                await self._refuse(writer, _Refuse(503, f"too many connections from {which}"))
                await self._linger(reader, writer)
            else:
                with contextlib.suppress(Exception):
                    writer.transport.abort()
            writer.close()
            return
        self._total += 1
        self._per_client[client] += 1
        try:
            if ssl_ctx is not None:
                await writer.start_tls(ssl_ctx, ssl_handshake_timeout=lim.header_timeout)
            start = time.monotonic()
            first = True
            while True:
                try:
                    head = await self._read_head(reader, first, start)
                    if head is None:
                        break
                    keep = await self._serve(reader, writer, head, peer, tls)
                except _Refuse as exc:
                    await self._refuse(writer, exc)
                    await self._linger(reader, writer)
                    break
                except _Gone:
                    break
                if not keep:
                    break
                first = False
        except (ConnectionError, OSError, asyncio.IncompleteReadError, ssl.SSLError):
            pass  # (TimeoutError, a handshake past its deadline, is an OSError)
        except Exception:  # noqa: BLE001 - one connection's bug must not stop the loop
            log.exception("HTTP connection from %s failed", client)
        finally:
            self._total -= 1
            self._per_client[client] -= 1
            if self._per_client[client] <= 0:
                del self._per_client[client]
            writer.close()

    async def _refuse(self, writer: asyncio.StreamWriter, exc: _Refuse) -> None:
        body = (exc.message + "\n").encode()
        head = (
            f"HTTP/1.1 {exc.status} {_REASONS.get(exc.status, 'Error')}\r\n"
            "Content-Type: text/plain; charset=utf-8\r\n"
            f"Content-Length: {len(body)}\r\nConnection: close\r\n"
            + "".join(f"{k}: {v}\r\n" for k, v in exc.extra)
            + "\r\n"
        )
        log.info("HTTP %d: %s", exc.status, exc.message)
        with contextlib.suppress(Exception):
            writer.write(head.encode("latin-1") + body)
            async with asyncio.timeout(5):
                await writer.drain()

    @staticmethod
    async def _linger(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """After a refusal: stop sending, and read (and drop) what the client still
        sends for a moment, so that closing does not reset the connection before the
        client has read the answer."""
        with contextlib.suppress(Exception):
            if writer.can_write_eof():
                writer.write_eof()
            async with asyncio.timeout(1.0):
                for _ in range(16):
                    if not await reader.read(65536):
                        break

    async def _read_head(
        self, reader: asyncio.StreamReader, first: bool, conn_start: float
    ) -> _Head | None:
        lim = self.limits
        loop_time = time.monotonic
        # The first request's head must arrive within header_timeout of the connection;
        # a kept-alive connection may idle for idle_timeout, then has header_timeout.
        wait_first = lim.header_timeout - (loop_time() - conn_start) if first else lim.idle_timeout
        lines: list[bytes] = []
        size = 0
        try:
            async with asyncio.timeout(max(0.0, wait_first)):
                line = await reader.readline()
                while line in (b"\r\n",):  # RFC 9112 §2.2: ignore empty lines first
                    line = await reader.readline()
        except TimeoutError:
            raise _Gone from None  # idle: close quietly
        except ValueError:
            raise _Refuse(431, "request line too long") from None
        if not line:
            return None  # the client closed
        deadline = (conn_start if first else loop_time()) + lim.header_timeout
        try:
            async with asyncio.timeout(max(0.0, deadline - loop_time())):
                while True:
                    if not line.endswith(b"\r\n"):
                        if line.endswith(b"\n"):
                            raise _Refuse(400, "header lines must end with CRLF")
                        raise _Gone  # EOF inside the head
                    size += len(line)
                    if size > MAX_HEADER_BYTES or len(lines) > MAX_HEADER_LINES:
                        raise _Refuse(431, "request header too large")
                    if line == b"\r\n":
                        break
                    lines.append(line[:-2])
                    line = await reader.readline()
        except TimeoutError:
            raise _Refuse(408, "the request header did not arrive in time") from None
        except ValueError:
            raise _Refuse(431, "request header line too long") from None
        return parse_head(lines)

    async def _read_body(
        self, reader: asyncio.StreamReader, writer, head: _Head
    ) -> tuple[bytes, bool]:
        """(body, chunked)."""
        lim = self.limits
        kind, length = body_framing(head)
        if kind == "length" and length > lim.max_request_bytes:
            raise _Refuse(
                413, f"request body of {length} bytes exceeds the limit of {lim.max_request_bytes}"
            )
        if kind == "none" or (kind == "length" and length == 0):
            return b"", False
        expect = ",".join(head.get("expect")).lower()
        if "100-continue" in expect:
            writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")
        reserve = length if kind == "length" else lim.max_request_bytes
        if self._body_bytes + reserve > lim.body_budget:
            raise _Refuse(503, "the server is busy receiving other requests; retry later")
        self._body_bytes += reserve
        try:
            async with asyncio.timeout(lim.body_timeout):
                if kind == "length":
                    return await reader.readexactly(length), False
                return await self._read_chunked(reader), True
        except TimeoutError:
            raise _Refuse(408, "the request body did not arrive in time") from None
        except asyncio.IncompleteReadError:
            raise _Gone from None
        finally:
            self._body_bytes -= reserve

    async def _read_chunked(self, reader: asyncio.StreamReader) -> bytes:
        out = bytearray()
        limit = self.limits.max_request_bytes
        while True:
            try:
                line = await reader.readline()
            except ValueError:
                raise _Refuse(400, "chunk size line too long") from None
            if not line:
                raise _Gone
            if not line.endswith(b"\r\n"):
                raise _Refuse(400, "chunk size line must end with CRLF")
            size_text = line[:-2].split(b";", 1)[0].strip(b" \t")
            if not size_text or not all(c in b"0123456789abcdefABCDEF" for c in size_text):
                raise _Refuse(400, "invalid chunk size")
            if len(size_text) > 16 or len(out) + int(size_text, 16) > limit:
                raise _Refuse(413, f"request body exceeds the limit of {limit}")
            size = int(size_text, 16)
            if size == 0:
                for _ in range(MAX_HEADER_LINES):  # trailer fields: read and ignored
                    t = await reader.readline()
                    if not t:
                        raise _Gone
                    if t == b"\r\n":
                        return bytes(out)
                    if not t.endswith(b"\r\n"):
                        raise _Refuse(400, "trailer lines must end with CRLF")
                raise _Refuse(431, "too many trailer fields")
            out += await reader.readexactly(size)
            if await reader.readexactly(2) != b"\r\n":
                raise _Refuse(400, "chunk data must be followed by CRLF")

    async def _serve(self, reader, writer, head: _Head, peer, tls: bool) -> bool:
        """Read the body, run the application in a worker; whether to keep the
        connection open."""
        body, chunked = await self._read_body(reader, writer, head)
        conn_hdr = ",".join(head.get("connection")).lower()
        keep = ("close" not in conn_hdr) if head.version == (1, 1) else ("keep-alive" in conn_hdr)
        env = self._environ(head, body, chunked, peer, tls, writer)
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self.workers, self._run_app, env, head, keep, writer)

    def _environ(self, head: _Head, body: bytes, chunked: bool, peer, tls: bool, writer) -> dict:
        target = head.target
        if "://" in target:  # absolute-form
            target = "/" + target.split("://", 1)[1].partition("/")[2]
        path, _, query = target.partition("?")
        sock = writer.get_extra_info("sockname") or ("", 0)
        env = {
            "REQUEST_METHOD": head.method,
            "SCRIPT_NAME": "",
            "PATH_INFO": urllib.parse.unquote(path, encoding="latin-1"),
            "QUERY_STRING": query,
            "SERVER_PROTOCOL": f"HTTP/{head.version[0]}.{head.version[1]}",
            "SERVER_NAME": str(sock[0]),
            "SERVER_PORT": str(sock[1]),
            "REMOTE_ADDR": str(peer[0]),
            "REMOTE_PORT": str(peer[1]),
            "CONTENT_LENGTH": str(len(body)),
            "wsgi.version": (1, 0),
            "wsgi.url_scheme": "https" if tls else "http",
            "wsgi.input": io.BytesIO(body),
            "wsgi.errors": sys.stderr,
            "wsgi.multithread": True,
            "wsgi.multiprocess": False,
            "wsgi.run_once": False,
            "vrmgmt.trailers": [],
        }
        for name, value in head.headers:
            if name == "content-length":
                continue
            if name == "content-type":
                env["CONTENT_TYPE"] = value
                continue
            key = "HTTP_" + name.upper().replace("-", "_")
            env[key] = f"{env[key]}, {value}" if key in env else value
        if not chunked:
            env.pop("HTTP_TRANSFER_ENCODING", None)
        return env

    # -- in a worker thread ----------------------------------------------------------
    def _send(self, writer: asyncio.StreamWriter, data: bytes) -> None:
        """Write from a worker, waiting for the client to take it (body_timeout)."""

        async def write() -> None:
            writer.write(data)
            async with asyncio.timeout(self.limits.body_timeout):
                await writer.drain()

        asyncio.run_coroutine_threadsafe(write(), self.loop).result()

    def _run_app(self, env: dict, head: _Head, keep: bool, writer) -> bool:
        close_flag = []
        env["vrmgmt.close_connection"] = lambda: close_flag.append(True)
        started: list = []

        def start_response(status, headers, exc_info=None):
            started[:] = [status, list(headers)]
            return lambda data: None

        try:
            result = self.app(env, start_response)
        except Exception:  # noqa: BLE001 - the application answers its own errors
            log.exception("the application failed")
            result = None
            started[:] = []
        if not started:
            self._send_plain(writer, 500, "internal error")
            return False
        status, headers = started
        names = {k.lower() for k, _ in headers}
        has_length = "content-length" in names
        chunked = not has_length and head.version == (1, 1)
        keep = keep and not close_flag and (has_length or chunked)
        out = [f"HTTP/1.1 {status}\r\n"]
        out.extend(f"{k}: {v}\r\n" for k, v in headers)
        if chunked:
            out.append("Transfer-Encoding: chunked\r\n")
        if not keep:
            out.append("Connection: close\r\n")
        elif head.version == (1, 0):
            out.append("Connection: keep-alive\r\n")
        out.append("\r\n")
        buf = bytearray("".join(out).encode("latin-1"))
        try:
            try:
                for chunk in result:
                    if not chunk:
                        continue
                    if chunked:
                        buf += b"%x\r\n" % len(chunk)
                        buf += chunk
                        buf += b"\r\n"
                    else:
                        buf += chunk
                    if len(buf) >= WRITE_BATCH:
                        self._send(writer, bytes(buf))
                        buf = bytearray()
            finally:
                close = getattr(result, "close", None)
                if close is not None:
                    close()
            if chunked:
                buf += b"0\r\n"
                for k, v in env["vrmgmt.trailers"]:
                    buf += f"{k}: {v}\r\n".encode("latin-1")
                buf += b"\r\n"
            self._send(writer, bytes(buf))
        except (TimeoutError, ConnectionError, OSError, RuntimeError):
            # the client stopped reading (or went away): drop the connection
            self._abort(writer)
            return False
        return keep

    def _send_plain(self, writer, status: int, message: str) -> None:
        body = (message + "\n").encode()
        data = (
            f"HTTP/1.1 {status} {_REASONS.get(status, 'Error')}\r\nContent-Type: text/plain\r\n"
            f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
        ).encode() + body
        with contextlib.suppress(Exception):
            self._send(writer, data)

    def _abort(self, writer) -> None:
        with contextlib.suppress(RuntimeError):  # the loop is already closed
            self.loop.call_soon_threadsafe(writer.transport.abort)
