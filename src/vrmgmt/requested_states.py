"""The last RequestedState asked of each VM (DSP1052 §7.4 / CIM_EnabledLogicalElement:
RequestedState is "the last requested or desired state", not a copy of EnabledState).

Kept in `<state_dir>/requested-states.json`, keyed by backend id and VM UUID, so it
survives server restarts and is shared by every process that serves the VMs (SFCB forks
providers). Writes follow vrmgmt.durable: an exclusive flock on
`requested-states.json.lock`, re-read under the lock, atomic replace. Readers reload when
the file's (inode, mtime_ns, size) changes and read it without the lock (a replace is
atomic). A VM with no entry has RequestedState 0 (Unknown). A file that does not parse is
logged and read as empty; the next recorded request replaces it.
"""

from __future__ import annotations

import json
import logging
import os
import threading
from pathlib import Path

from vrmgmt import durable

FILE = "requested-states.json"
log = logging.getLogger("vrmgmt.requested_states")

#: RequestedState of a VM nothing was requested of (CIM_EnabledLogicalElement: 0 Unknown)
UNKNOWN = 0


def _key(backend_id: str, uuid: str) -> str:
    return f"{backend_id} {uuid.lower()}"


class RequestedStates:
    """The requested states of one state directory (None: this process only)."""

    def __init__(self, state_dir: Path | str | None):
        self.dir = None if state_dir is None else Path(state_dir)
        self._mutex = threading.Lock()
        self._stat: tuple | None = None
        self._loaded = False
        self._states: dict[str, int] = {}

    @property
    def path(self) -> Path | None:
        return None if self.dir is None else self.dir / FILE

    def _stat_key(self) -> tuple | None:
        try:
            st = os.stat(self.path)
        except FileNotFoundError:
            return None
        return (st.st_ino, st.st_mtime_ns, st.st_size)

    def _read(self) -> dict[str, int]:
        try:
            data = json.loads(self.path.read_bytes())
            states = data["vms"]
            return {str(k): int(v) for k, v in states.items()}
        except FileNotFoundError:
            return {}
        except (OSError, ValueError, TypeError, KeyError, AttributeError) as exc:
            log.error("requested states: cannot read %s (%s); reading it as empty", self.path, exc)
            return {}

    def _refresh(self) -> dict[str, int]:
        if self.dir is None:
            return self._states
        key = self._stat_key()
        with self._mutex:
            if not self._loaded or key != self._stat:
                self._states, self._stat, self._loaded = self._read(), key, True
            return self._states

    def all(self) -> dict[str, int]:
        """{"<backend id> <uuid>": RequestedState} as stored now (do not modify it)."""
        return self._refresh()

    def get(self, backend_id: str, uuid: str) -> int:
        return self._refresh().get(_key(backend_id, uuid), UNKNOWN)

    @staticmethod
    def lookup(states: dict[str, int], backend_id: str, uuid: str) -> int:
        """The entry of one VM in a mapping from all()."""
        return states.get(_key(backend_id, uuid), UNKNOWN)

    def _edit(self, change) -> None:
        if self.dir is None:
            with self._mutex:
                new = dict(self._states)
                if change(new) is not False:
                    self._states = new
            return
        self.dir.mkdir(parents=True, exist_ok=True)
        with durable.locked(self.dir / (FILE + ".lock")):
            new = dict(self._read())
            if change(new) is False:
                return
            data = json.dumps({"version": 1, "vms": new}, sort_keys=True).encode()
            durable.replace(self.path, data, prefix=f".{FILE}.tmp-")
            with self._mutex:
                self._states, self._stat, self._loaded = new, self._stat_key(), True

    def record(self, backend_id: str, uuid: str, state: int) -> None:
        """Remember `state` as the VM's RequestedState (durable when this returns)."""
        k, v = _key(backend_id, uuid), int(state)

        def put(d: dict[str, int]) -> bool:
            if d.get(k) == v:
                return False  # already recorded: nothing to write
            d[k] = v
            return True

        self._edit(put)

    def forget(self, backend_id: str, uuid: str) -> None:
        """Drop the VM's entry (it was destroyed)."""
        k = _key(backend_id, uuid)
        self._edit(lambda d: d.pop(k, None) is not None)


_stores: dict[Path | None, RequestedStates] = {}
_stores_lock = threading.Lock()


def store_for(state_dir: Path | str | None) -> RequestedStates:
    """One store per state directory and process."""
    p = None if state_dir is None else Path(state_dir).resolve()
    with _stores_lock:
        s = _stores.get(p)
        if s is None:
            s = _stores[p] = RequestedStates(p)
        return s
