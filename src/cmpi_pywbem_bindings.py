"""Entry module for cmpi-bindings' Python provider library (libpy3CmpiProvider.so).

The C library always imports a top-level module of this name and calls
``get_cmpi_proxy_provider(miname, broker, ctx)`` for every provider instance (MI) the
CIMOM creates; the returned object receives the CMPI calls. The logic lives in
vrmgmt.cmpi (see docs/cmpi.md).

The SWIG module ``cmpi`` (cmpi-bindings' cmpi.py over libpy3CmpiProvider.so) is
imported here, at import time: the C side wraps the broker and context it hands to
``get_cmpi_proxy_provider`` as proxy objects only when cmpi.py has registered its proxy
classes, else they arrive as bare SwigPyObjects without methods. SFCB creates all MIs of
a provider when it loads it, OpenPegasus one per operation type when first needed, so a
lazy import left the first instance MI under OpenPegasus with a bare broker ("'SwigPyObject'
object has no attribute 'new_object_path'").

This module must import even when vrmgmt (or cmpi) does not: a failing import makes the
C side call abort() and takes the whole CIMOM (or provider agent) down. In that case
every CMPI call answers CMPI_RC_ERR_FAILED with the import error, which the client gets
to see.
"""

from __future__ import annotations

try:
    import cmpi as _cmpi  # noqa: F401 - registers the SWIG proxy classes (see above)
except Exception as _exc:  # noqa: BLE001 - outside a CIMOM cmpi may well be absent
    _CMPI_IMPORT_ERROR: str | None = f"{type(_exc).__name__}: {_exc}"
else:
    _CMPI_IMPORT_ERROR = None

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

    def __init__(self, miname, message: str):
        self.miname = miname
        self.message = message.encode("utf-8", "replace")

    def cleanup(self, ctx, terminating):
        return (0, None)

    def __getattr__(self, name):
        if name.startswith("_"):
            raise AttributeError(name)
        msg = self.message

        def entry_point(*args):
            return (1, msg)

        return entry_point


def get_cmpi_proxy_provider(miname, broker, ctx=None):
    """Called by cmpi-bindings' TargetInitialize (older bindings omit ctx)."""
    if _get_proxy is None:
        return _UnavailableProxy(
            miname,
            f"vrmgmt cannot be imported by the CIMOM's embedded Python ({_IMPORT_ERROR}); "
            "install the site hook described in vrmgmt's docs/cmpi.md",
        )
    if _CMPI_IMPORT_ERROR is not None:
        return _UnavailableProxy(
            miname,
            f"cmpi-bindings' SWIG module cmpi cannot be imported ({_CMPI_IMPORT_ERROR}); "
            "cmpi.py and a _cmpi.so link to libpy3CmpiProvider.so must be on the embedded "
            "Python's path (vrmgmt's docs/cmpi.md)",
        )
    return _get_proxy(miname, broker, ctx)
