"""Entry module for cmpi-bindings' Python provider library (libpy3CmpiProvider.so).

The C library always imports a top-level module of this name and calls
``get_cmpi_proxy_provider(miname, broker, ctx)`` for every provider instance (MI) the
CIMOM creates; the returned object receives the CMPI calls. The logic lives in
vrmgmt.cmpi (see docs/cmpi.md).

This module must import even when vrmgmt does not: a failing import makes the C side
call abort() and takes the whole CIMOM (or provider agent) down. In that case every CMPI
call answers CMPI_RC_ERR_FAILED with the import error, which the client gets to see.
"""

from __future__ import annotations

try:
    from vrmgmt.cmpi.proxy import get_cmpi_proxy_provider as _get_proxy
except Exception as _exc:  # noqa: BLE001 - report through CMPI instead of crashing
    _IMPORT_ERROR: str | None = f"{type(_exc).__name__}: {_exc}"
    _get_proxy = None
else:
    _IMPORT_ERROR = None

__all__ = ["get_cmpi_proxy_provider"]


class _UnavailableProxy:
    """Answers every CMPI entry point with CMPI_RC_ERR_FAILED and the import error."""

    def __init__(self, miname):
        self.miname = miname

    def cleanup(self, ctx, terminating):
        return (0, None)

    def __getattr__(self, name):
        if name.startswith("_"):
            raise AttributeError(name)
        msg = (
            f"vrmgmt cannot be imported by the CIMOM's embedded Python ({_IMPORT_ERROR}); "
            "install the site hook described in vrmgmt's docs/cmpi.md"
        ).encode("utf-8", "replace")

        def entry_point(*args):
            return (1, msg)

        return entry_point


def get_cmpi_proxy_provider(miname, broker, ctx=None):
    """Called by cmpi-bindings' TargetInitialize (older bindings omit ctx)."""
    if _get_proxy is None:
        return _UnavailableProxy(miname)
    return _get_proxy(miname, broker, ctx)
