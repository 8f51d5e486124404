"""Fast construction of pywbem CIMInstance / CIMProperty objects for providers that
emit thousands of instances.

pywbem's constructors validate and convert every argument (~7 µs per property); the
builders here set the same slots directly for values the caller guarantees to be of
the right CIM type already (pywbem.Uint16 etc., str, bool, lists of those, or None).
This relies on pywbem's slot layout and its NocaseDict's `_data` (casefolded key ->
(key, value)), pinned by `pywbem~=1.9.1`;
tests/test_units_cim.py compares the result with pywbem's own constructors so an
upgrade that changes the layout fails loudly.
"""

from __future__ import annotations

from typing import Any

from pywbem import CIMInstance, CIMInstanceName, CIMProperty
from pywbem._nocasedict import NocaseDict

_new = object.__new__


def prop(
    name: str, value: Any, cim_type: str, is_array: bool = False, reference_class: str | None = None
) -> CIMProperty:
    p = _new(CIMProperty)
    p._name = name
    p._value = value
    p._type = cim_type
    p._class_origin = None
    p._array_size = None
    p._propagated = None
    p._is_array = is_array
    p._reference_class = reference_class
    p._qualifiers = None
    p._embedded_object = None
    return p


def instance(classname: str, props: list[CIMProperty], path: CIMInstanceName) -> CIMInstance:
    inst = _new(CIMInstance)
    inst._classname = classname
    inst._qualifiers = None
    inst._path = path
    d = NocaseDict()
    d._data = {p._name.casefold(): (p._name, p) for p in props}
    inst._properties = d
    return inst


def path(classname: str, keys: dict[str, Any], namespace: str | None) -> CIMInstanceName:
    p = _new(CIMInstanceName)
    p._classname = classname
    kb = NocaseDict()
    kb._data = {k.casefold(): (k, v) for k, v in keys.items()}
    p._keybindings = kb
    p._namespace = namespace
    p._host = None
    return p


def with_path(inst: CIMInstance, path: CIMInstanceName) -> CIMInstance:
    """The same instance under another path, sharing the properties (no copy)."""
    new = _new(CIMInstance)
    new._classname = inst._classname
    new._qualifiers = inst._qualifiers
    new._path = path
    new._properties = inst.properties
    return new
