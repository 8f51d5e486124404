"""Enumeration contexts of the pull operations (DSP0200 1.4 §5.3.2.x
OpenEnumerateInstances … PullInstancesWithPath, CloseEnumeration).

A context holds a lazy iterator over the provider output, so a pull enumeration of
100,000 instances streams: only the current batch is ever encoded. Contexts expire
after their OperationTimeout of inactivity; the number of open contexts is bounded.
"""

from __future__ import annotations

import contextlib
import secrets
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pywbem
from pywbem import CIMError

DEFAULT_TIMEOUT = 60  # seconds, when the client names none
MAX_TIMEOUT = 600
MAX_CONTEXTS = 256
MAX_OBJECT_COUNT = 10_000  # per open/pull response

_END = object()


@dataclass
class EnumContext:
    id: str
    namespace: str
    kind: str  # "instances" (with path) | "paths" | "query" (instances without path)
    iterator: Iterator[Any]
    timeout: float
    expires: float = 0.0
    lock: threading.Lock = field(default_factory=threading.Lock)
    delivered: int = 0
    _peeked: Any = _END

    def take(self, n: int) -> tuple[list, bool]:
        """Up to n items, and whether the sequence is now exhausted."""
        out = []
        if self._peeked is not _END:
            if n == 0:
                return out, False
            out.append(self._peeked)
            self._peeked = _END
        while len(out) < n:
            item = next(self.iterator, _END)
            if item is _END:
                return out, True
            out.append(item)
        # Look one ahead so EndOfSequence is exact.
        self._peeked = next(self.iterator, _END)
        self.delivered += len(out)
        return out, self._peeked is _END

    def close(self) -> None:
        close = getattr(self.iterator, "close", None)
        if close is not None:
            with contextlib.suppress(Exception):  # a provider generator failing to close
                close()


class EnumContextStore:
    def __init__(self, max_contexts: int = MAX_CONTEXTS):
        self.max_contexts = max_contexts
        self._contexts: dict[str, EnumContext] = {}
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._contexts)

    def _sweep(self, now: float) -> None:
        expired = [c for c in self._contexts.values() if c.expires < now and not c.lock.locked()]
        for c in expired:
            del self._contexts[c.id]
            c.close()

    def open(
        self, namespace: str, kind: str, iterator: Iterator[Any], timeout: float
    ) -> EnumContext:
        now = time.monotonic()
        with self._lock:
            self._sweep(now)
            if len(self._contexts) >= self.max_contexts:
                raise CIMError(
                    pywbem.CIM_ERR_SERVER_LIMITS_EXCEEDED,
                    f"too many open enumeration contexts ({self.max_contexts}); "
                    "close or finish some first",
                )
            ctx = EnumContext(
                id=secrets.token_hex(12),
                namespace=namespace,
                kind=kind,
                iterator=iterator,
                timeout=timeout,
                expires=now + timeout,
            )
            self._contexts[ctx.id] = ctx
        return ctx

    def acquire(self, ctx_id: str, namespace: str) -> EnumContext:
        """The context for a pull, locked; raise CIM_ERR_INVALID_ENUMERATION_CONTEXT."""
        now = time.monotonic()
        with self._lock:
            self._sweep(now)
            ctx = self._contexts.get(ctx_id)
            if ctx is None or ctx.namespace.lower() != namespace.lower():
                raise CIMError(
                    pywbem.CIM_ERR_INVALID_ENUMERATION_CONTEXT,
                    f"enumeration context {ctx_id!r} is unknown, closed or expired",
                )
            if not ctx.lock.acquire(blocking=False):
                raise CIMError(
                    pywbem.CIM_ERR_PULL_CANNOT_BE_ABANDONED,
                    f"enumeration context {ctx_id!r} is busy with another request",
                )
        return ctx

    def release(self, ctx: EnumContext, finished: bool) -> None:
        with self._lock:
            if finished:
                self._contexts.pop(ctx.id, None)
            else:
                ctx.expires = time.monotonic() + ctx.timeout
        ctx.lock.release()
        if finished:
            ctx.close()

    def remove(self, ctx_id: str, namespace: str) -> None:
        ctx = self.acquire(ctx_id, namespace)
        self.release(ctx, finished=True)
