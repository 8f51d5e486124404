"""Durable indication filters, listener destinations, subscriptions and the service's
delivery settings (DSP1054 Indications 1.2 §7.1-7.4, §8 "CreateInstance" of filters,
destinations and subscriptions), kept in ``<state_dir>/subscriptions.json``.

Job: the one copy of what clients subscribed, shared by every process that reads the
state dir. Writes take an exclusive flock on ``subscriptions.json.lock`` and replace the
file atomically (vrmgmt.durable), so a kill -9 leaves the old or the new file; readers
reload when (inode, mtime_ns, size) changed. Every change bumps ``generation`` so the
delivery side (vrmgmt.server.indications.service) knows when to rebuild its routes.

Records are plain dicts of CIM values as JSON can hold them (datetimes as CIM datetime
strings); the CIM side (vrmgmt.classes.interop.*) turns them into instances.
"""

from __future__ import annotations

import contextlib
import copy
import json
import logging
import os
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from vrmgmt import durable
from vrmgmt.errors import AlreadyExists, NotFound

log = logging.getLogger(__name__)

FILE = "subscriptions.json"
VERSION = 1

#: CIM_IndicationService defaults (CIM Schema 2.49) and what vrmgmt picks where DMTF
#: leaves it open: remove a subscription whose destination failed for 30 days (SFCB's
#: default, DESIGN.md "Indications").
DEFAULT_SETTINGS: dict[str, int] = {
    "DeliveryRetryAttempts": 3,
    "DeliveryRetryInterval": 30,
    "SubscriptionRemovalAction": 2,  # Remove
    "SubscriptionRemovalTimeInterval": 30 * 24 * 3600,
}

#: The kinds of records and the key of each (lower-cased for identity, DSP0004 names
#: are case-insensitive; key values compare as typed, i.e. exactly).
KINDS = ("filters", "destinations", "subscriptions")


def filter_key(rec: dict) -> tuple[str, str]:
    return (rec["CreationClassName"].lower(), rec["Name"])


def destination_key(rec: dict) -> tuple[str, str]:
    return (rec["CreationClassName"].lower(), rec["Name"])


def subscription_key(rec: dict) -> tuple:
    return (tuple(rec["Filter"]), tuple(rec["Handler"]))


_KEYS: dict[str, Callable[[dict], tuple]] = {
    "filters": filter_key,
    "destinations": destination_key,
    "subscriptions": subscription_key,
}


class SubscriptionStore:
    """The records, reloaded when another process changed the file."""

    def __init__(self, state_dir: Path):
        self.path = Path(state_dir) / FILE
        self.lock_path = Path(state_dir) / (FILE + ".lock")
        self._mutex = threading.RLock()
        self._stamp: tuple[int, int, int] | None = None
        self._data: dict[str, Any] = _empty()
        #: bumped on every change seen (ours or another process's)
        self.generation = 0
        self._load()

    # -- reading ------------------------------------------------------------------
    def _stat(self) -> tuple[int, int, int] | None:
        try:
            st = os.stat(self.path)
        except FileNotFoundError:
            return None
        return (st.st_ino, st.st_mtime_ns, st.st_size)

    def _load(self) -> None:
        stamp = self._stat()
        if stamp == self._stamp and self._stamp is not None:
            return
        if stamp is None:
            data = _empty()
        else:
            try:
                data = json.loads(self.path.read_text(encoding="utf-8"))
                if not isinstance(data, dict) or data.get("version") != VERSION:
                    raise ValueError(f"not a version {VERSION} subscription file")
                for kind in KINDS:
                    data.setdefault(kind, [])
                data.setdefault("settings", {})
            except (OSError, ValueError) as exc:
                log.error("indications: cannot read %s (%s); no subscriptions", self.path, exc)
                data = _empty()
        self._data = data
        self._stamp = stamp
        self.generation += 1

    def refresh(self) -> bool:
        """Reload if the file changed; True when it did."""
        with self._mutex:
            before = self.generation
            self._load()
            return self.generation != before

    def records(self, kind: str) -> list[dict]:
        with self._mutex:
            self._load()
            return copy.deepcopy(self._data[kind])

    def find(self, kind: str, key: tuple) -> dict | None:
        for rec in self.records(kind):
            if _KEYS[kind](rec) == key:
                return rec
        return None

    def settings(self) -> dict[str, int]:
        with self._mutex:
            self._load()
            return {**DEFAULT_SETTINGS, **self._data["settings"]}

    # -- changing -------------------------------------------------------------------
    @contextlib.contextmanager
    def change(self) -> Iterator[dict[str, Any]]:
        """Under the file lock: yields the current data to change in place; written back
        atomically when the block ends without an exception."""
        with self._mutex, durable.locked(self.lock_path):
            self._stamp = None  # re-read under the lock: another process may have written
            self._load()
            data = copy.deepcopy(self._data)
            yield data
            raw = json.dumps(data, indent=1, sort_keys=True).encode()
            durable.replace(self.path, raw, prefix=".subscriptions-")
            os.chmod(self.path, 0o600)
            self._data = data
            self._stamp = self._stat()
            self.generation += 1

    def add(self, kind: str, rec: dict) -> None:
        """Add rec; AlreadyExists (nothing written) when a record with its key exists."""
        key = _KEYS[kind](rec)
        with self.change() as data:
            if any(_KEYS[kind](r) == key for r in data[kind]):
                raise AlreadyExists(f"{kind[:-1]} {key!r} exists")
            data[kind].append(rec)

    def update(self, kind: str, key: tuple, fn: Callable[[dict], None]) -> dict:
        """Apply fn to the record with key; the changed record (NotFound when absent)."""
        with self.change() as data:
            for rec in data[kind]:
                if _KEYS[kind](rec) == key:
                    fn(rec)
                    return copy.deepcopy(rec)
            raise NotFound(f"no {kind[:-1]} {key!r}")

    def remove(self, kind: str, key: tuple) -> dict:
        with self.change() as data:
            for i, rec in enumerate(data[kind]):
                if _KEYS[kind](rec) == key:
                    del data[kind][i]
                    return rec
            raise NotFound(f"no {kind[:-1]} {key!r}")


def _empty() -> dict[str, Any]:
    return {"version": VERSION, "settings": {}, **{k: [] for k in KINDS}}
