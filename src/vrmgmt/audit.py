"""The audit log: every state change requested through CIM (who, what, on which
object, with what outcome), appended as JSON lines to `<state>/audit.log` and logged."""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from pathlib import Path

log = logging.getLogger("vrmgmt.audit")


class AuditLog:
    def __init__(self, path: Path | None):
        self.path = path
        self._lock = threading.Lock()
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)

    def __call__(
        self, user: str | None = None, action: str = "", target: str = "", outcome: str = ""
    ) -> None:
        record = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "user": user,
            "action": action,
            "target": target,
            "outcome": outcome,
        }
        log.info("%s by %s on %s: %s", action, user or "-", target, outcome)
        if self.path is None:
            return
        line = json.dumps(record, ensure_ascii=False) + "\n"
        with self._lock:
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
            try:
                os.write(fd, line.encode())
            finally:
                os.close(fd)
