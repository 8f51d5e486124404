"""Reading intrinsic-method parameters (DSP0200 §5.3 IPARAMVALUEs) as parsed by
pywbem's tuple parser, with CIM_ERR_INVALID_PARAMETER for values of the wrong type."""

from __future__ import annotations

import re

import pywbem
from pywbem import CIMClassName, CIMError


def _bool(params: dict, name: str, default: bool) -> bool:
    v = params.get(name, default)
    if isinstance(v, bool):
        return v
    if v is None:
        return default
    if isinstance(v, str) and v.strip().lower() in ("true", "false"):
        return v.strip().lower() == "true"
    raise CIMError(pywbem.CIM_ERR_INVALID_PARAMETER, f"{name} must be a boolean, got {v!r}")


def _classname(params: dict, name: str, required: bool) -> str | None:
    v = params.get(name)
    if v is None:
        if required:
            raise CIMError(pywbem.CIM_ERR_INVALID_PARAMETER, f"missing parameter {name}")
        return None
    if isinstance(v, CIMClassName):
        return v.classname
    if isinstance(v, str):
        return v
    raise CIMError(pywbem.CIM_ERR_INVALID_PARAMETER, f"{name} must be a class name")


def _string(params: dict, name: str) -> str | None:
    v = params.get(name)
    if v is None or isinstance(v, str):
        return v or None
    raise CIMError(pywbem.CIM_ERR_INVALID_PARAMETER, f"{name} must be a string")


def _property_list(params: dict) -> list[str] | None:
    v = params.get("PropertyList")
    if v is None:
        return None
    if isinstance(v, str):
        v = [v]
    if not isinstance(v, list) or not all(isinstance(x, str) for x in v):
        raise CIMError(pywbem.CIM_ERR_INVALID_PARAMETER, "PropertyList must be an array of names")
    return v


def _uint(params: dict, name: str, default: int | None, maximum: int | None = None) -> int | None:
    v = params.get(name)
    if v is None:
        return default
    try:
        if isinstance(v, bool) or (
            isinstance(v, str) and not re.fullmatch(r"\s*\+?[0-9]+\s*", v, re.ASCII)
        ):
            raise ValueError("integers are ASCII decimal digits (DSP0201)")
        n = int(v)
    except (TypeError, ValueError):
        raise CIMError(
            pywbem.CIM_ERR_INVALID_PARAMETER, f"{name} must be an unsigned integer, got {v!r}"
        ) from None
    if n < 0 or n > 0xFFFFFFFF:
        raise CIMError(pywbem.CIM_ERR_INVALID_PARAMETER, f"{name} is out of range: {n}")
    return n if maximum is None else min(n, maximum)
