"""Enumeration contexts of the pull operations (DSP0200 1.4 §5.3.2.x
OpenEnumerateInstances … PullInstancesWithPath, CloseEnumeration).

A context holds a lazy iterator over the provider output and one item looked ahead,
so a pull enumeration of 100,000 instances streams: only the current batch is ever
encoded, and a context's memory is bounded by its provider's iterator, not by the
result. Contexts expire after their OperationTimeout of inactivity; the number of open
contexts is bounded in total and per user. A context belongs to the user who opened it:
for anybody else its id does not exist (CIM_ERR_INVALID_ENUMERATION_CONTEXT).
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
MAX_CONTEXTS_PER_USER = 32
MAX_OBJECT_COUNT = 10_000  # per open/pull response

_END = object()


@dataclass
class EnumContext:
    id: str
    namespace: str
    kind: str  # "instances" (with path) | "paths" | "query" (instances without path)
    iterator: Iterator[Any]
    timeout: float
    owner: str | None = None
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
    def __init__(self, max_contexts: int = MAX_CONTEXTS, per_user: int = MAX_CONTEXTS_PER_USER):
        self.max_contexts = max_contexts
        self.per_user = per_user
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
        self,
        namespace: str,
        kind: str,
        iterator: Iterator[Any],
        timeout: float,
        owner: str | None = None,
    ) -> EnumContext:
        now = time.monotonic()
        with self._lock:
            self._sweep(now)
            mine = sum(1 for c in self._contexts.values() if c.owner == owner)
            if mine >= self.per_user:
                raise CIMError(
                    pywbem.CIM_ERR_SERVER_LIMITS_EXCEEDED,
                    f"user {owner or '-'} has {mine} open enumeration contexts, the most "
                    "allowed per user; close or finish some first",
                )
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
                owner=owner,
                expires=now + timeout,
            )
            self._contexts[ctx.id] = ctx
        return ctx

    def acquire(self, ctx_id: str, namespace: str, owner: str | None = None) -> EnumContext:
        """The context for a pull, locked; raise CIM_ERR_INVALID_ENUMERATION_CONTEXT
        (also when another user opened it: its id is not revealed to exist)."""
        now = time.monotonic()
        with self._lock:
            self._sweep(now)
            ctx = self._contexts.get(ctx_id)
            if ctx is None or ctx.namespace.lower() != namespace.lower() or ctx.owner != owner:
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

    def remove(self, ctx_id: str, namespace: str, owner: str | None = None) -> None:
        ctx = self.acquire(ctx_id, namespace, owner)
        self.release(ctx, finished=True)
