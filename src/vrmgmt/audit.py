"""The audit log: every state change requested through CIM and every failed login (who,
from which client address, what, on which object, with which parameters, with what
outcome), appended as JSON lines to `<state>/audit.log` and logged.

The embedded server writes a change attempt's record *before* making the change and
does not make it when the record cannot be written (fail closed, `AuditError`); a
second record gives the outcome (completed, return code, CIM error, refused).
Refusals (role, bad parameters, unknown objects) and failed logins are recorded too.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

log = logging.getLogger("vrmgmt.audit")
MAX_VALUE_CHARS = 200
_SECRET_WORDS = ("password", "secret", "credential", "token")


class AuditError(Exception):
    """The audit record could not be written (the detail is for the server log only)."""


def summarize(params: dict[str, Any] | None) -> dict[str, str]:
    """Parameters for an audit record: values as short text, secrets redacted."""
    out: dict[str, str] = {}
    for name, value in (params or {}).items():
        if any(w in name.lower() for w in _SECRET_WORDS):
            out[name] = "(redacted)"
            continue
        if isinstance(value, tuple) and len(value) == 2:  # (PARAMTYPE, raw value)
            value = value[1]
        text = str(value)
        out[name] = text if len(text) <= MAX_VALUE_CHARS else text[: MAX_VALUE_CHARS - 3] + "..."
    return out


class AuditLog:
    def __init__(self, path: Path | None):
        self.path = path
        self._lock = threading.Lock()
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)

    def __call__(
        self,
        user: str | None = None,
        action: str = "",
        target: str = "",
        outcome: str = "",
        client: str | None = None,
        params: dict[str, Any] | None = None,
    ) -> None:
        """Append one record; AuditError if it cannot be written."""
        record: dict[str, Any] = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "user": user,
            "client": client,
            "action": action,
            "target": target,
            "outcome": outcome,
        }
        if params:
            record["params"] = summarize(params)
        log.info("%s by %s from %s on %s: %s", action, user or "-", client or "-", target, outcome)
        if self.path is None:
            return
        line = json.dumps(record, ensure_ascii=False) + "\n"
        with self._lock:
            try:
                fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
                try:
                    data = line.encode()
                    if os.write(fd, data) != len(data):
                        raise OSError("short write")
                finally:
                    os.close(fd)
            except OSError as exc:
                log.error("cannot write the audit log %s: %s", self.path, exc)
                raise AuditError("the audit log cannot be written") from None

    def best_effort(self, *args, **kwargs) -> None:
        """Record without raising (for records that must not fail the request: provider
        detail records after the change, failed logins); failures are logged."""
        with contextlib.suppress(AuditError):
            self(*args, **kwargs)


# -- reading the log back (VRM_LogEntry, docs/audit.md) ----------------------------------
#: bytes read per step when walking the log backwards
_BLOCK = 64 * 1024


def read_at(path: Path, offset: int) -> dict[str, Any] | None:
    """The record whose line starts at byte `offset`, None if no record starts there."""
    try:
        with open(path, "rb") as f:
            if offset > 0:
                f.seek(offset - 1)
                if f.read(1) != b"\n":
                    return None
            else:
                f.seek(0)
            line = f.readline()
    except OSError:
        return None
    return _parse(line)


def newest_first(path: Path, before: int | None = None) -> Iterator[tuple[int, dict[str, Any]]]:
    """(offset, record) from the newest record back (only those starting before byte
    `before` when given), reading the file from its end in blocks: the first records
    cost a block, not the whole log. Lines that are not JSON records are left out."""
    try:
        f = open(path, "rb")  # noqa: SIM115 (closed in finally, across yields)
    except OSError:
        return
    try:
        size = f.seek(0, os.SEEK_END)
        pos = size if before is None else max(0, min(before, size))
        carry = b""  # bytes from pos on that belong to a line starting before pos
        while pos > 0:
            step = min(_BLOCK, pos)
            pos -= step
            f.seek(pos)
            data = f.read(step) + carry
            start = 0
            if pos > 0:
                nl = data.find(b"\n")
                if nl < 0:  # one line longer than the block: read further back
                    carry = data
                    continue
                start = nl + 1
                carry = data[:start]
            lines, offset = [], pos + start
            for line in data[start:].split(b"\n"):
                lines.append((offset, line))
                offset += len(line) + 1
            for offset, line in reversed(lines):
                rec = _parse(line)
                if rec is not None:
                    yield offset, rec
    finally:
        f.close()


def count(path: Path) -> int:
    """How many records the log has (its lines), counted without parsing them."""
    n = 0
    try:
        with open(path, "rb") as f:
            while block := f.read(1 << 20):
                n += block.count(b"\n")
    except OSError:
        return 0
    return n


def _parse(line: bytes) -> dict[str, Any] | None:
    line = line.strip()
    if not line:
        return None
    try:
        rec = json.loads(line)
    except ValueError:
        return None
    return rec if isinstance(rec, dict) else None
