"""What an entry point returns to cmpi-bindings' TargetCall: ``(rc, msg)``.

TargetCall (src/target_python.c) takes element 0 as the CMPIrc and element 1 as the
message; in the Python 3 bindings the message must be ``bytes`` or None - a ``str``
turns the whole answer into CMPI_RC_ERR_FAILED "didn't return a {<int>, <str>)
two-tuple". An exception escaping the entry point also becomes CMPI_RC_ERR_FAILED, with
the traceback lost, so entry points never let one escape: every exception is mapped here.

CMPIrc values 1..17 and 27 are the CIM status codes of DSP0200 with the same numbers
(cmpidt.h); the newer DSP0200 codes 20..28 are passed through unchanged as well, so a
pywbem.CIMError reaches the broker with its own status code. Anything else becomes
CMPI_RC_ERR_FAILED with the original code in the message.
"""

from __future__ import annotations

import logging

from pywbem import CIMError

from vrmgmt.cim.errors import to_cim_error
from vrmgmt.errors import VrmError

# cmpidt.h (CMPI 2.1) return codes used by the adapter
CMPI_RC_OK = 0
CMPI_RC_ERR_FAILED = 1
CMPI_RC_ERR_ACCESS_DENIED = 2
CMPI_RC_ERR_INVALID_CLASS = 5
CMPI_RC_ERR_NOT_FOUND = 6
CMPI_RC_ERR_NOT_SUPPORTED = 7
CMPI_RC_DO_NOT_UNLOAD = 50  # Cleanup: keep the provider loaded (not while terminating)

_PASS_THROUGH = frozenset(range(1, 18)) | frozenset(range(20, 29))

Status = tuple[int, "bytes | None"]


def message(msg: str | None) -> bytes | None:
    """A message the C side can copy into a CMPIString (bytes, no NUL)."""
    if msg is None:
        return None
    return msg.encode("utf-8", "replace").replace(b"\0", b" ")


def rc_for_cim_status(code: int) -> int:
    return code if code in _PASS_THROUGH else CMPI_RC_ERR_FAILED


def ok() -> Status:
    return (CMPI_RC_OK, None)


def error(code: int, msg: str) -> Status:
    rc = rc_for_cim_status(code)
    if rc != code:
        msg = f"(status {code}) {msg}"
    return (rc, message(msg))


def status_for_exception(exc: BaseException, where: str, log: logging.Logger) -> Status:
    """Map any exception to (rc, bytes message); unexpected ones are logged with their
    traceback, since the CIMOM never shows it."""
    if isinstance(exc, CIMError):
        desc = exc.status_description or exc.status_code_name
        return error(exc.status_code, desc)
    get_code = getattr(exc, "get_error_code", None)
    if callable(get_code):  # cmpi.CMPIException raised by a broker call (RAISE_IF)
        try:
            code = int(get_code())
            desc = exc.get_description()  # type: ignore[attr-defined]
        except Exception:  # noqa: BLE001 - a broken exception object must not escape
            code, desc = CMPI_RC_ERR_FAILED, None
        if isinstance(desc, bytes):
            desc = desc.decode("utf-8", "replace")
        log.warning("%s: a CMPI broker call failed with rc %s", where, code, exc_info=exc)
        return error(code, f"{where}: CMPI broker call failed: {desc or f'rc {code}'}")
    if isinstance(exc, VrmError):
        cim = to_cim_error(exc)
        return error(cim.status_code, cim.status_description or str(exc))
    log.error("%s: unexpected %s", where, type(exc).__name__, exc_info=exc)
    return error(CMPI_RC_ERR_FAILED, f"{where}: internal error: {type(exc).__name__}: {exc}")
