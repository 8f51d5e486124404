"""The embedded server's indication service (DSP1054 Indications 1.2 §7.6-7.8): routes
indications that providers deliver (``env.indications.deliver(namespace, indication)``)
through the subscriptions of the SubscriptionStore to one DestinationWorker per listener
destination, and runs the event sources (pushed VM events, host reachability).

Job, in order, for each indication: for every enabled subscription whose filter's
SourceNamespaces hold the namespace and whose WQL query (vrmgmt.cim.wql, ISA on
SourceInstance included) matches, a copy gets IndicationFilterName, SequenceContext
(this service start and the destination) and the destination's next SequenceNumber, and
goes to the destination's bounded queue. ``deliver`` never blocks on a listener.

A destination whose deliveries keep failing for SubscriptionRemovalTimeInterval seconds
gets SubscriptionRemovalAction applied to its subscriptions: 2 removes them, 3 disables
them (SubscriptionState 4), 4 ignores the failures.
"""

from __future__ import annotations

import logging
import ssl
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from pywbem import CIMInstance, CIMProperty, Sint64

from vrmgmt.cim import indications as cim_ind
from vrmgmt.cim.wql import Query, parse
from vrmgmt.server.indications.export import DestinationWorker, Policy
from vrmgmt.server.indications.subscriptions import (
    SubscriptionStore,
    destination_key,
    filter_key,
)

log = logging.getLogger(__name__)

REMOVE, DISABLE, IGNORE = 2, 3, 4
STATE_ENABLED, STATE_DISABLED = 2, 4
#: Most destinations and subscriptions (SFCB's defaults, DESIGN.md "Indications")
MAX_DESTINATIONS = 100
MAX_SUBSCRIPTIONS = 100


@dataclass
class Route:
    subscription: tuple
    query: Query
    namespaces: frozenset[str]
    filter_name: str
    worker: DestinationWorker


class IndicationService:
    """One per `vrmgmt serve` process; also the providers' IndicationSink."""

    def __init__(
        self,
        store: SubscriptionStore,
        is_subclass: Callable[[str, str], bool],
        default_namespace: str = "root/virt",
        ssl_context: ssl.SSLContext | None = None,
    ):
        self.store = store
        #: verifies HTTPS listeners (export.listener_context: [indications] ca_file)
        self.ssl_context = ssl_context
        self.is_subclass = is_subclass
        self.default_namespace = default_namespace
        self._lock = threading.RLock()
        self._workers: dict[tuple, DestinationWorker] = {}
        self._routes: list[Route] = []
        self._generation = -1
        self._closed = threading.Event()
        self.rebuild()
        self._reloader = threading.Thread(
            target=self._reload_loop, name="indications-reload", daemon=True
        )
        self._reloader.start()

    # -- routes ---------------------------------------------------------------------
    def rebuild(self) -> None:
        """Routes and workers from the store's current records."""
        with self._lock:
            self.store.refresh()
            if self.store.generation == self._generation:
                return
            self._generation = self.store.generation
            filters = {filter_key(f): f for f in self.store.records("filters")}
            dests = {destination_key(d): d for d in self.store.records("destinations")}
            wanted: dict[tuple, dict] = {}
            routes: list[Route] = []
            for sub in self.store.records("subscriptions"):
                f = filters.get(tuple(sub["Filter"]))
                d = dests.get(tuple(sub["Handler"]))
                if f is None or d is None:
                    continue
                if int(sub.get("SubscriptionState", STATE_ENABLED)) not in (2, 3):
                    continue
                try:
                    q = parse(f["Query"])
                except ValueError as exc:  # checked at CreateInstance; a hand-edited file
                    log.error("indications: filter %s: %s", f["Name"], exc)
                    continue
                dk = destination_key(d)
                wanted[dk] = d
                worker = self._workers.get(dk)
                if worker is None or worker.url != d["Destination"]:
                    if worker is not None:
                        worker.stop(0)
                    worker = self._workers[dk] = DestinationWorker(
                        d["Name"],
                        d["Destination"],
                        self.policy,
                        self._failed,
                        ssl_context=self.ssl_context,
                    )
                routes.append(
                    Route(
                        subscription=(tuple(sub["Filter"]), tuple(sub["Handler"])),
                        query=q,
                        namespaces=frozenset(n.lower() for n in (self.source_namespaces(f) or [])),
                        filter_name=f["Name"],
                        worker=worker,
                    )
                )
            for dk in [k for k in self._workers if k not in wanted]:
                self._workers.pop(dk).stop(0)
            self._routes = routes

    def source_namespaces(self, f: dict) -> list[str]:
        ns = list(f.get("SourceNamespaces") or [])
        if f.get("SourceNamespace"):
            ns.append(f["SourceNamespace"])
        return ns or [self.default_namespace]

    def _reload_loop(self) -> None:
        """Pick up changes another process wrote (a second server on the same state dir)."""
        while not self._closed.wait(2.0):
            try:
                self.rebuild()
            except Exception:  # noqa: BLE001 - keep the service alive
                log.exception("indications: reloading subscriptions")

    def policy(self) -> Policy:
        s = self.store.settings()
        return Policy(int(s["DeliveryRetryAttempts"]), float(s["DeliveryRetryInterval"]))

    def active(self) -> bool:
        return bool(self._routes)

    def workers(self) -> dict[tuple, DestinationWorker]:
        with self._lock:
            return dict(self._workers)

    # -- the sink --------------------------------------------------------------------
    def has_subscribers(self) -> bool:
        """Whether any subscription is active (a source may skip costly work if not)."""
        return bool(self._routes)

    def deliver(self, namespace: str, indication: CIMInstance) -> bool:
        """Route one indication; True when at least one destination queued it."""
        routes = self._routes
        if not routes:
            return False
        ns = namespace.lower()
        sent = False
        for r in routes:
            if ns not in r.namespaces:
                continue
            try:
                if not r.query.matches(indication, self.is_subclass):
                    continue
            except Exception:  # noqa: BLE001 - one odd indication must not stop routing
                log.exception("indications: evaluating filter %s", r.filter_name)
                continue
            out = r.query.project(indication)
            out.path = None
            w = r.worker
            out.properties["IndicationFilterName"] = CIMProperty(
                "IndicationFilterName", r.filter_name, type="string"
            )
            out.properties["SequenceContext"] = CIMProperty(
                "SequenceContext", f"{cim_ind.SEQUENCE_CONTEXT}:{w.name}", type="string"
            )
            out.properties["SequenceNumber"] = CIMProperty(
                "SequenceNumber", Sint64(w.next_sequence()), type="sint64"
            )
            sent = w.offer(out) or sent
        return sent

    # -- failures -----------------------------------------------------------------------
    def _failed(self, worker: DestinationWorker) -> None:
        since = worker.stats.failing_since
        if since is None:
            return
        s = self.store.settings()
        action = int(s["SubscriptionRemovalAction"])
        limit = float(s["SubscriptionRemovalTimeInterval"])
        if action == IGNORE or time.monotonic() - since < limit:
            return
        handler = next((k for k, w in self.workers().items() if w is worker), None)
        if handler is None:
            return
        subs = [
            sub for sub in self.store.records("subscriptions") if tuple(sub["Handler"]) == handler
        ]
        for sub in subs:
            key = (tuple(sub["Filter"]), tuple(sub["Handler"]))
            try:
                if action == REMOVE:
                    self.store.remove("subscriptions", key)
                    log.warning("indications: removed subscription to %s (failing)", worker.name)
                else:
                    self.store.update(
                        "subscriptions", key, lambda r: r.update(SubscriptionState=STATE_DISABLED)
                    )
                    log.warning("indications: disabled subscription to %s (failing)", worker.name)
            except Exception:  # noqa: BLE001 - removed meanwhile
                pass
        self.rebuild()

    def close(self) -> None:
        self._closed.set()
        with self._lock:
            workers, self._workers = list(self._workers.values()), {}
            self._routes = []
        for w in workers:
            w.stop(0.5)
