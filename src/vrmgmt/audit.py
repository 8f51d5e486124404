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
