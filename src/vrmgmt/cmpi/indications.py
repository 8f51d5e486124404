"""Delivering indications through the CMPI broker from any thread.

CMPI's rule (CMPIBrokerFT prepareAttachThread / attachThread / detachThread): a thread
the MB did not create may use broker services only between ``attachThread(ctx2)`` and
``detachThread(ctx2)``, where ``ctx2 = prepareAttachThread(ctx)`` was obtained *in a
thread the MB is using for an MI call*, from that call's context. Creating CMPI objects
(new_instance, new_string, ...) counts as using broker services, so the instance is
converted after attaching.

Usage by an indication provider (the adapter creates the sender in ``enable_indications``
and ``activate_filter`` and publishes it as ``env.indications``)::

    sender = env.indications
    sender.deliver("root/virt", indication)            # any thread; attaches per call

    def watch(deliver):                                  # one attach for a whole loop
        for event in events():
            deliver("root/virt", make_indication(event))
    sender.start_thread(watch)
"""

from __future__ import annotations

import contextlib
import logging
import threading
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


class IndicationSender:
    """Sends indications for one provider module. Create it inside an MI call (it calls
    prepareAttachThread with that call's context); use it from any thread."""

    def __init__(self, broker: Any, ctx: Any, converter: Callable[[Any], Converter] = Converter):
        self.broker = broker
        self._converter = converter
        self.context = broker_fn(broker, "prepareAttachThread", "prepare_attach_thread")(ctx)
        self.enabled = True
        self.delivered = 0
        try:
            # SFCB (broker name "RequestHandler") rejects indications whose path carries a
            # namespace (sblim bug 2185410, worked around the same way by cmpi-bindings).
            self._drop_namespace = broker.name() == "RequestHandler"
        except Exception:  # noqa: BLE001 - name() is informational only
            self._drop_namespace = False

    def deliver(self, namespace: str, indication: CIMInstance) -> bool:
        """Deliver one indication; attaches the calling thread for the duration unless it
        is already an MB thread. False (and a log line) when indications are disabled."""
        if not self.enabled:
            log.info("indication %s dropped: indications are disabled", indication.classname)
            return False
        if in_mi_call():
            self._deliver(namespace, indication)
        else:
            with self.attached() as deliver:
                deliver(namespace, indication)
        return True

    @contextlib.contextmanager
    def attached(self) -> Iterator[Deliver]:
        """Attach the current (non-MB) thread once; yields a deliver(namespace, inst)."""
        attach = broker_fn(self.broker, "attachThread", "attach_thread")
        detach = broker_fn(self.broker, "detachThread", "detach_thread")
        attach(self.context)
        try:
            yield self._deliver
        finally:
            detach(self.context)

    def start_thread(
        self, target: Callable[..., None], *args: Any, name: str = "vrmgmt-indications"
    ) -> threading.Thread:
        """Run target(deliver, *args) in a new daemon thread attached to the MB."""

        def run() -> None:
            try:
                with self.attached() as deliver:
                    target(deliver, *args)
            except Exception:  # noqa: BLE001 - a worker must not die silently
                log.exception("indication thread %s failed", name)

        thread = threading.Thread(target=run, name=name, daemon=True)
        thread.start()
        return thread

    def _deliver(self, namespace: str, indication: CIMInstance) -> None:
        if not self.enabled:
            return
        ind = indication
        if self._drop_namespace and ind.path is not None and ind.path.namespace:
            ind = ind.copy()
            ind.path.namespace = None
        conv = self._converter(self.broker)
        ci = conv.instance_to_cmpi(
            ind, None if self._drop_namespace else namespace, allow_null_ns=True
        )
        broker_fn(self.broker, "deliverIndication", "deliver_indication")(
            self.context, namespace, ci
        )
        self.delivered += 1
