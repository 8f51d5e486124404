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
from collections.abc import Callable, Iterable
from typing import Protocol

from pywbem import CIMDateTime, CIMInstance, CIMProperty, Sint64

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
