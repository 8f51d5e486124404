"""Extrinsic methods as a declared table per class (DSP0200 §5.4 InvokeMethod).

A class module declares::

    METHODS = MethodTable()

    @METHODS.method("RequestStateChange", role="operator")
    def request_state_change(call: MethodCall, requested_state=None, timeout_period=None):
        ...
        return valuemaps.RC_COMPLETED, {"Job": None}

The host has already typed the parameters from the class's MOF signature (and refused
unknown ones); the table maps them onto the function's keyword arguments by name
ignoring case and underscores (``RequestedState`` -> ``requested_state``), so a function
names what it reads and gets None for what the client left out. ``role`` is the least
role allowed to call the method (vrmgmt.roles); return codes come from
``vrmgmt.cim.valuemaps``.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pywbem
from pywbem import CIMClassName, CIMError, CIMInstanceName

from vrmgmt.cim.provider import MethodResult, ProviderContext, ProviderEnv


@dataclass
class MethodCall:
    """What a method function receives besides its parameters."""

    env: ProviderEnv
    ctx: ProviderContext
    path: CIMInstanceName | CIMClassName
    method: str

    @property
    def instance_path(self) -> CIMInstanceName:
        """The target as an instance path (CIM_ERR_INVALID_PARAMETER for a class path)."""
        if not isinstance(self.path, CIMInstanceName):
            raise CIMError(
                pywbem.CIM_ERR_INVALID_PARAMETER,
                f"{self.method} must be invoked on an instance path, not on a class",
            )
        return self.path


def _norm(name: str) -> str:
    return name.replace("_", "").lower()


@dataclass(frozen=True)
class Method:
    name: str
    fn: Callable[..., MethodResult]
    role: str
    static: bool
    params: dict[str, str]  # normalised CIM name -> the function's keyword


class MethodTable:
    """The methods of one class, by name (case-insensitive)."""

    def __init__(self) -> None:
        self._methods: dict[str, Method] = {}

    def method(
        self, name: str, *, role: str = "admin", static: bool = False
    ) -> Callable[[Callable[..., MethodResult]], Callable[..., MethodResult]]:
        def register(fn: Callable[..., MethodResult]) -> Callable[..., MethodResult]:
            sig = inspect.signature(fn)
            params = {_norm(p): p for p in list(sig.parameters)[1:]}
            self._methods[name.lower()] = Method(name, fn, role, static, params)
            return fn

        return register

    def __contains__(self, name: str) -> bool:
        return name.lower() in self._methods

    def __iter__(self):
        return iter(self._methods.values())

    def get(self, name: str) -> Method | None:
        return self._methods.get(name.lower())

    def invoke(
        self,
        env: ProviderEnv,
        ctx: ProviderContext,
        path: CIMInstanceName | CIMClassName,
        name: str,
        params: dict[str, Any],
    ) -> MethodResult:
        m = self._methods.get(name.lower())
        if m is None:
            raise CIMError(
                pywbem.CIM_ERR_METHOD_NOT_AVAILABLE,
                f"method {name} of {path.classname} is not implemented",
            )
        if not m.static and not isinstance(path, CIMInstanceName):
            raise CIMError(
                pywbem.CIM_ERR_INVALID_PARAMETER,
                f"{m.name} must be invoked on an instance path, not on a class",
            )
        kwargs: dict[str, Any] = {}
        for pname, value in params.items():
            kw = m.params.get(_norm(pname))
            if kw is None:
                raise CIMError(
                    pywbem.CIM_ERR_INVALID_PARAMETER,
                    f"method {m.name} of {path.classname} has no parameter {pname}",
                )
            kwargs[kw] = value
        rv, outs = m.fn(MethodCall(env, ctx, path, m.name), **kwargs)
        return rv, dict(outs or {})
