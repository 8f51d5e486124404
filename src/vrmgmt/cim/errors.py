"""CIM errors: building pywbem.CIMError with useful descriptions (DSP0200 §5.3.1,
DSP0004 status codes) and mapping vrmgmt's domain errors onto them."""

from __future__ import annotations

import pywbem
from pywbem import CIMError

from vrmgmt import errors


def describe(obj, limit: int = 300) -> str:
    """An object (usually a client-supplied path) for an error message, cut short: a
    path's text can be far larger than the request that carried it."""
    text = str(obj)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def not_supported(what: str) -> CIMError:
    return CIMError(pywbem.CIM_ERR_NOT_SUPPORTED, f"{what} is not supported")


def invalid_parameter(msg: str) -> CIMError:
    return CIMError(pywbem.CIM_ERR_INVALID_PARAMETER, msg)


def not_found(msg: str) -> CIMError:
    return CIMError(pywbem.CIM_ERR_NOT_FOUND, msg)


def to_cim_error(exc: BaseException) -> CIMError:
    """Map any exception to a CIMError a client can read (never a traceback)."""
    if isinstance(exc, CIMError):
        return exc
    if isinstance(exc, errors.AlreadyExists):
        return CIMError(pywbem.CIM_ERR_ALREADY_EXISTS, str(exc))
    if isinstance(exc, errors.NotFound):
        return CIMError(pywbem.CIM_ERR_NOT_FOUND, str(exc))
    if isinstance(exc, errors.InvalidSpec):
        return CIMError(pywbem.CIM_ERR_INVALID_PARAMETER, str(exc))
    if isinstance(exc, errors.NotSupported):
        return CIMError(pywbem.CIM_ERR_NOT_SUPPORTED, str(exc))
    if isinstance(exc, errors.InvalidStateTransition):
        return CIMError(pywbem.CIM_ERR_FAILED, f"invalid state transition: {exc}")
    if isinstance(exc, errors.BackendUnavailable):
        return CIMError(pywbem.CIM_ERR_FAILED, str(exc))
    if isinstance(exc, errors.VrmError):
        return CIMError(pywbem.CIM_ERR_FAILED, str(exc))
    return CIMError(pywbem.CIM_ERR_FAILED, f"internal error: {type(exc).__name__}: {exc}")
