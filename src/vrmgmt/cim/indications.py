"""Indications a provider raises: the sink protocol every host implements and builders
for the life-cycle indications of DSP1054 (Indications profile) §7: CIM_InstCreation,
CIM_InstModification and CIM_InstDeletion (CIM Schema 2.49 Event model).

A class that sees a change (a VM defined, a state changed, a job finished) builds the
indication here and hands it to ``env.indications.deliver(namespace, indication)``; the
host routes it — through the CMPI broker's deliverIndication under SFCB/OpenPegasus
(vrmgmt.cmpi.indications.IndicationSender), or to the embedded server's subscriptions.
IndicationIdentifier, SequenceContext and SequenceNumber let a listener see losses.
"""

from __future__ import annotations

import datetime as _dt
import itertools
import logging
import queue
import threading
import uuid
from collections.abc import Callable, Iterable, Iterator
from types import ModuleType
from typing import Protocol

from pywbem import CIMDateTime, CIMInstance, CIMInstanceName, CIMProperty, Sint64

from vrmgmt.cim.provider import Provider

#: one context per process start: a listener seeing a new context knows numbering restarted
SEQUENCE_CONTEXT = f"vrmgmt:{uuid.uuid4()}"
_sequence = itertools.count()
_sequence_lock = threading.Lock()


class IndicationSink(Protocol):
    """Where providers deliver indications; returns whether it was accepted."""

    def deliver(self, namespace: str, indication: CIMInstance) -> bool: ...


def _common(class_name: str, source: CIMInstance, when: _dt.datetime | None) -> CIMInstance:
    with _sequence_lock:
        seq = next(_sequence)
    src = source.copy()
    path = src.path
    src.path = None  # embedded instances carry no path (DESIGN.md "Indications")
    model_path = None
    if path is not None:
        local = path.copy()
        local.host = None
        model_path = local.to_wbem_uri()
    props = [
        CIMProperty("IndicationIdentifier", f"{SEQUENCE_CONTEXT}:{seq}"),
        CIMProperty("IndicationTime", CIMDateTime(when or _dt.datetime.now(_dt.UTC))),
        CIMProperty("SequenceContext", SEQUENCE_CONTEXT),
        CIMProperty("SequenceNumber", Sint64(seq)),
        CIMProperty("SourceInstance", src, type="string", embedded_object="instance"),
        CIMProperty(
            "SourceInstanceModelPath",
            model_path,
            type="string",
        ),
        CIMProperty("SourceInstanceHost", path.host if path is not None else None, type="string"),
    ]
    return CIMInstance(class_name, properties=props)


def inst_creation(source: CIMInstance, when: _dt.datetime | None = None) -> CIMInstance:
    """CIM_InstCreation: source (with its path) was created."""
    return _common("CIM_InstCreation", source, when)


def inst_deletion(source: CIMInstance, when: _dt.datetime | None = None) -> CIMInstance:
    """CIM_InstDeletion: source (as it was last seen, with its path) is gone."""
    return _common("CIM_InstDeletion", source, when)


def inst_modification(
    source: CIMInstance,
    previous: CIMInstance,
    changed: Iterable[str] | None = None,
    when: _dt.datetime | None = None,
) -> CIMInstance:
    """CIM_InstModification: source is the new state, previous the old one;
    ChangedPropertyNames lists what differs (computed when not given)."""
    ind = _common("CIM_InstModification", source, when)
    prev = previous.copy()
    prev.path = None
    if changed is None:
        names = {n.lower(): n for n in (*source.keys(), *previous.keys())}
        changed = [n for low, n in names.items() if source.get(n) != previous.get(n) and low]
    ind.properties["PreviousInstance"] = CIMProperty(
        "PreviousInstance", prev, type="string", embedded_object="instance"
    )
    ind.properties["ChangedPropertyNames"] = CIMProperty(
        "ChangedPropertyNames", sorted(changed), type="string", is_array=True
    )
    return ind


Produce = Callable[[], Iterable[tuple[str, CIMInstance]]]


class EventPump:
    """One thread that turns pushed events into indications away from the thread that
    pushed them (libvirt's event loop must not wait for a backend call it would have to
    dispatch itself). ``submit(produce)`` never blocks; produce() runs in the pump's
    thread and yields (namespace, indication) pairs that go to ``env.indications``,
    looked up at delivery (a CMPI host publishes its sender after the watch started)."""

    def __init__(self, env, name: str = "indication-pump"):
        self.env = env
        self._queue: queue.SimpleQueue[Produce] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def submit(self, produce: Produce) -> None:
        self._queue.put(produce)

    def _run(self) -> None:
        while True:
            produce = self._queue.get()
            try:
                for namespace, indication in produce():
                    sink = self.env.indications
                    if sink is not None:
                        sink.deliver(namespace, indication)
            except Exception:  # noqa: BLE001 - one bad event must not stop the pump
                logging.getLogger(__name__).exception("producing an indication")


# -- starting sources; the indication provider a CIMOM activates ----------------------
_watch_lock = threading.Lock()


def start_watch(env, module: ModuleType) -> bool:
    """Start a class module's indication source, its ``watch(env)``, once per
    environment (the embedded server's start, a CIMOM's EnableIndications and every
    ActivateFilter may all ask). False when it has none or it already runs."""
    watch = getattr(module, "watch", None)
    if watch is None:
        return False
    with _watch_lock:
        if module.__name__ in env.watches:
            return False
        env.watches.add(module.__name__)
    try:
        watch(env)
    except BaseException:
        with _watch_lock:
            env.watches.discard(module.__name__)
        raise
    return True


#: DSP1054 §7 life-cycle indication classes (CIM Schema 2.49 Event model)
LIFECYCLE_CLASSES = ("CIM_InstCreation", "CIM_InstModification", "CIM_InstDeletion")


class LifecycleIndicationProvider(Provider):
    """The indication provider of the life-cycle indication classes under a CIMOM
    (DSP1054 §7; CMPI's Indication MI): the CIMOM owns filters and subscriptions and
    calls authorize/activate/deactivate_filter and enable/disable_indications; the first
    ActivateFilter or EnableIndications starts the sources (the ``watch(env)`` of the
    class modules given), which deliver to ``env.indications`` (under CMPI the adapter's
    IndicationSender, i.e. the broker's deliverIndication). The CIMOM matches every
    indication against its filters, so the sources need not know the queries; they push
    and cost nothing while nothing changes, and keep running until the process ends."""

    def __init__(self, env, *sources: ModuleType):
        super().__init__(env)
        self.sources = sources

    def __repr__(self) -> str:
        return f"<LifecycleIndicationProvider {', '.join(m.CLASS for m in self.sources)}>"

    def enum_instance_names(self, ctx, class_name: str) -> Iterator[CIMInstanceName]:
        """Indications are events, not instances: enumerating their classes (as a
        client enumerating CIM_Indication does under `vrmgmt serve`) answers nothing."""
        return iter(())

    def enum_instances(self, ctx, class_name: str, property_list) -> Iterator[CIMInstance]:
        return iter(())

    def _start(self) -> None:
        for module in self.sources:
            start_watch(self.env, module)

    def authorize_filter(self, ctx, query: str, class_name: str, owner: str | None) -> bool:
        return True  # the CIMOM authenticated the subscriber; sources are read-only

    def activate_filter(self, ctx, query: str, class_name: str, first: bool) -> None:
        self._start()

    def deactivate_filter(self, ctx, query: str, class_name: str, last: bool) -> None:
        """Nothing to stop: the sources push, and the CIMOM delivers to no one when no
        filter is active."""

    def enable_indications(self, ctx) -> None:
        self._start()

    def disable_indications(self, ctx) -> None:
        """The adapter's sender stops delivering (vrmgmt.cmpi.proxy)."""


def lifecycle_indications(env, *sources: ModuleType) -> dict[str, Provider]:
    """``{class: provider}`` of an indication provider module: one
    LifecycleIndicationProvider for the three life-cycle classes, over the class modules
    whose changes it reports."""
    prov = LifecycleIndicationProvider(env, *sources)
    return {cn: prov for cn in LIFECYCLE_CLASSES}
