"""Delivering indications through the CMPI broker from any thread.

CMPI's rule (CMPIBrokerFT prepareAttachThread / attachThread / detachThread): a thread
the MB did not create may use broker services only between ``attachThread(ctx2)`` and
``detachThread(ctx2)``, where ``ctx2 = prepareAttachThread(ctx)`` was obtained *in a
thread the MB is using for an MI call*, from that call's context; and detachThread
*frees* ctx2 (cmpift.h; SFCB's brokerUpc.c releases it), so a prepared context serves
one attachment of one thread. Creating CMPI objects (new_instance, new_string, ...)
counts as using broker services, so the instance is converted after attaching.

Usage by an indication provider (the adapter creates the sender in ``enable_indications``
and ``activate_filter`` and publishes it as ``env.indications``)::

    sender = env.indications
    sender.deliver("root/virt", indication)   # any thread; never blocks

``deliver`` in an MI call delivers at once; from any other thread it queues, and the
sender's own delivery thread - attached once, with the context prepared when the sender
was made, for as long as the sender lives - converts and delivers in order.
``start_thread(target)`` (called in an MI call) runs target(deliver) in a new thread
attached with a context prepared for it.
"""

from __future__ import annotations

import contextlib
import logging
import queue
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

from pywbem import CIMInstance

from vrmgmt.cmpi.convert import Converter, broker_fn

log = logging.getLogger("vrmgmt.cmpi")

_TLS = threading.local()


def in_mi_call() -> bool:
    """True while the current thread runs an MI call of the adapter (an MB thread)."""
    return getattr(_TLS, "depth", 0) > 0


@contextlib.contextmanager
def mi_call() -> Iterator[None]:
    _TLS.depth = getattr(_TLS, "depth", 0) + 1
    try:
        yield
    finally:
        _TLS.depth -= 1


Deliver = Callable[[str, CIMInstance], None]


#: indications waiting for the delivery thread; a full queue drops the new one (the gap
#: shows in SequenceNumber, as with the embedded server's per-destination queues)
QUEUE_LIMIT = 10_000

_STOP = object()


class IndicationSender:
    """Sends indications for one provider module. Create it inside an MI call (it calls
    prepareAttachThread with that call's context); use it from any thread."""

    def __init__(self, broker: Any, ctx: Any, converter: Callable[[Any], Converter] = Converter):
        self.broker = broker
        self._converter = converter
        self.context = broker_fn(broker, "prepareAttachThread", "prepare_attach_thread")(ctx)
        self.enabled = True
        self.delivered = 0
        self.dropped = 0
        self._queue: queue.Queue = queue.Queue(QUEUE_LIMIT)
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        # The indication's path keeps its namespace under every CIMOM. cmpi-bindings'
        # own Python layer drops it under SFCB (for sblim bug 2185410), but SFCB 1.3.16's
        # deliverIndication (brokerUpc.c) starts with CMGetObjectPath(ind), which for a
        # keyless instance looks its class up with getConstClass(namespace, class): with
        # no namespace that is NULL, and CMClassPathIsA(NULL) killed the provider process
        # with SIGSEGV (brokerEnc.c:136).

    def deliver(self, namespace: str, indication: CIMInstance) -> bool:
        """Deliver one indication: at once in an MI call (an MB thread), else through
        the delivery thread. False (and a log line) when indications are disabled or
        the queue is full."""
        if not self.enabled:
            log.info("indication %s dropped: indications are disabled", indication.classname)
            return False
        if in_mi_call():
            self._deliver(namespace, indication)
            return True
        self._ensure_thread()
        try:
            self._queue.put_nowait((namespace, indication))
        except queue.Full:
            self.dropped += 1
            log.warning("indication %s dropped: %d waiting", indication.classname, QUEUE_LIMIT)
            return False
        return True

    def flush(self, timeout: float = 10.0) -> bool:
        """Wait until the queued indications are delivered (tests, shutdown)."""
        deadline = time.monotonic() + timeout
        while self._queue.unfinished_tasks and time.monotonic() < deadline:
            time.sleep(0.01)
        return not self._queue.unfinished_tasks

    def close(self, timeout: float = 2.0) -> None:
        """Stop the delivery thread; it detaches (which frees the prepared context)."""
        self.enabled = False
        thread = self._thread
        if thread is not None and thread.is_alive():
            self._queue.put(_STOP)
            thread.join(timeout)

    def _ensure_thread(self) -> None:
        with self._lock:
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name="vrmgmt-cmpi-indications", daemon=True
                )
                self._thread.start()

    def _run(self) -> None:
        attach = broker_fn(self.broker, "attachThread", "attach_thread")
        detach = broker_fn(self.broker, "detachThread", "detach_thread")
        try:
            attach(self.context)
        except Exception:  # noqa: BLE001 - nothing can be delivered then
            log.exception("attachThread failed: indications of this provider are lost")
            return
        try:
            while True:
                item = self._queue.get()
                try:
                    if item is _STOP:
                        return
                    self._deliver(*item)
                except Exception:  # noqa: BLE001 - one bad indication must not stop the rest
                    log.exception("delivering an indication through the broker")
                finally:
                    self._queue.task_done()
        finally:
            detach(self.context)

    def start_thread(
        self, target: Callable[..., None], *args: Any, name: str = "vrmgmt-indications"
    ) -> threading.Thread:
        """Run target(deliver, *args) in a new daemon thread attached to the MB, with a
        context prepared for it here: call it in an MI call."""
        ctx = broker_fn(self.broker, "prepareAttachThread", "prepare_attach_thread")(self.context)

        def run() -> None:
            attach = broker_fn(self.broker, "attachThread", "attach_thread")
            detach = broker_fn(self.broker, "detachThread", "detach_thread")
            try:
                attach(ctx)
                try:
                    target(lambda ns, ind: self._deliver(ns, ind, ctx), *args)
                finally:
                    detach(ctx)
            except Exception:  # noqa: BLE001 - a worker must not die silently
                log.exception("indication thread %s failed", name)

        thread = threading.Thread(target=run, name=name, daemon=True)
        thread.start()
        return thread

    def _deliver(self, namespace: str, indication: CIMInstance, ctx: Any = None) -> None:
        if not self.enabled:
            return
        conv = self._converter(self.broker)
        ci = conv.instance_to_cmpi(indication, namespace, allow_null_ns=True)
        broker_fn(self.broker, "deliverIndication", "deliver_indication")(
            ctx if ctx is not None else self.context, namespace, ci
        )
        self.delivered += 1
