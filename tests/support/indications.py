"""Test helpers for indications: a pywbem WBEMListener that collects what it receives,
a listener that accepts connections and never answers, and subscribing through pywbem's
WBEMSubscriptionManager (as a client script would)."""

from __future__ import annotations

import contextlib
import queue
import socket
import threading
import time
from collections.abc import Iterator

import pywbem

from support.server import free_port

VM_FILTER = "SELECT * FROM CIM_InstIndication WHERE SourceInstance ISA VRM_ComputerSystem"


class Collector:
    """A started pywbem WBEMListener on a free loopback port; .got is a Queue."""

    def __init__(self, port: int | None = None):
        self.port = port or free_port()
        self.got: queue.Queue = queue.Queue()
        self.listener = pywbem.WBEMListener("127.0.0.1", http_port=self.port)
        self.listener.add_callback(lambda ind, host: self.got.put((time.monotonic(), ind)))

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> Collector:
        self.listener.start()
        return self

    def stop(self) -> None:
        self.listener.stop()

    def next(self, timeout: float = 2.0) -> pywbem.CIMInstance:
        return self.got.get(timeout=timeout)[1]

    def wait_for(self, pred, timeout: float = 2.0) -> pywbem.CIMInstance:
        """The first indication (skipping others) for which pred(ind) is true."""
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError("no matching indication in time")
            try:
                ind = self.next(left)
            except queue.Empty:
                raise AssertionError("no matching indication in time") from None
            if pred(ind):
                return ind

    def drain(self, quiet: float = 0.3) -> list[pywbem.CIMInstance]:
        out = []
        with contextlib.suppress(queue.Empty):
            while True:
                out.append(self.next(quiet))
        return out


@contextlib.contextmanager
def collector(port: int | None = None) -> Iterator[Collector]:
    c = Collector(port).start()
    try:
        yield c
    finally:
        c.stop()


@contextlib.contextmanager
def silent_listener() -> Iterator[str]:
    """A URL whose server accepts connections, reads nothing and never answers."""
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(64)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept():
        srv.settimeout(0.2)
        while not stop.is_set():
            with contextlib.suppress(OSError):
                held.append(srv.accept()[0])

    t = threading.Thread(target=accept, daemon=True)
    t.start()
    try:
        yield f"http://127.0.0.1:{srv.getsockname()[1]}"
    finally:
        stop.set()
        t.join()
        for s in held:
            s.close()
        srv.close()


def subscribe(
    conn: pywbem.WBEMConnection,
    url: str,
    name: str,
    query: str = VM_FILTER,
    manager: str = "vrmgmt-test",
):
    """Permanent destination, filter and subscription through WBEMSubscriptionManager;
    returns (manager, server id, subscription instance)."""
    sm = pywbem.WBEMSubscriptionManager(manager)
    sid = sm.add_server(pywbem.WBEMServer(conn))
    dest = sm.add_destination(sid, url, owned=False, name=f"{name}-dest")
    flt = sm.add_filter(sid, "root/virt", query, owned=False, name=f"{name}-filter")
    subs = sm.add_subscriptions(sid, flt.path, [dest.path], owned=False)
    return sm, sid, subs[0]


def arrival(c: Collector, pred, timeout: float = 2.0) -> tuple[float, pywbem.CIMInstance]:
    """(monotonic arrival time, indication) of the first indication (skipping others)
    for which pred(ind) is true: for measuring from a moment before a call that itself
    blocks for a while (a daemon that takes its time to exit)."""
    deadline = time.monotonic() + timeout
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            raise AssertionError("no matching indication in time")
        try:
            when, ind = c.got.get(timeout=left)
        except queue.Empty:
            raise AssertionError("no matching indication in time") from None
        if pred(ind):
            return when, ind


def arrivals(c: Collector, wanted: dict, timeout: float) -> dict:
    """{key: (arrival, indication)} for each of wanted {key: pred}, in whatever order
    they come (others are skipped)."""
    found: dict = {}
    deadline = time.monotonic() + timeout
    while len(found) < len(wanted):
        left = deadline - time.monotonic()
        try:
            if left <= 0:
                raise queue.Empty
            when, ind = c.got.get(timeout=left)
        except queue.Empty:
            raise AssertionError(f"missing {sorted(set(wanted) - set(found))}") from None
        for key, pred in wanted.items():
            if key not in found and pred(ind):
                found[key] = (when, ind)
                break
    return found
