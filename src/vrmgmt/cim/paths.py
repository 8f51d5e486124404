"""Instance path identity and key access: the one rule every host and class uses.

DSP0004 §7.7 / §8.2: class names and property (key) names are case-insensitive; key
values compare as typed — strings case-sensitively, numbers by value, booleans as
booleans, references recursively by their own identity. One exception follows the
schema's meaning: a key whose value *is* a class name (CreationClassName,
SystemCreationClassName, …: every key named ``*ClassName``) compares case-insensitively,
because class names do. Namespace and host of a path, or of a reference key, are not
part of its identity here (a client may send a reference with or without them).
"""

from __future__ import annotations

from collections.abc import Hashable
from typing import Any

from pywbem import CIMDateTime, CIMInstanceName

from vrmgmt.cim.errors import invalid_parameter, not_found


def keys_of(path: CIMInstanceName) -> dict[str, Any]:
    """A path's keybindings by lower-case name (an unnamed key is "")."""
    return {str(k or "").lower(): v for k, v in path.keybindings.items()}


def _value_identity(name: str, value: Any) -> Hashable:
    if isinstance(value, CIMInstanceName):
        return ("ref", identity(value))
    if isinstance(value, bool):
        return ("bool", value)
    if isinstance(value, int):
        return ("int", int(value))
    if isinstance(value, float):
        return ("real", float(value))
    if isinstance(value, CIMDateTime):
        return ("datetime", str(value))
    if isinstance(value, str):
        return ("str", value.lower() if name.endswith("classname") else value)
    if value is None:
        return ("null",)
    return ("other", str(value))


def identity(path: CIMInstanceName) -> tuple:
    """A hashable identity of an instance path: equal for paths that name the same
    instance under the rules above."""
    return (
        path.classname.lower(),
        tuple(sorted((k, _value_identity(k, v)) for k, v in keys_of(path).items())),
    )


def same(a: CIMInstanceName, b: CIMInstanceName) -> bool:
    """Whether two paths name the same instance."""
    return identity(a) == identity(b)


def string_key(path: CIMInstanceName, class_name: str, key: str = "Name") -> str:
    """The string key ``key`` of a path of ``class_name`` (or a subclass), after checking
    its CreationClassName when the path has one (CIM_ERR_NOT_FOUND if it names another
    class: no instance of this class can have it)."""
    kb = keys_of(path)
    ccn = kb.get("creationclassname")
    if ccn is not None and str(ccn).lower() != class_name.lower():
        raise not_found(f"CreationClassName {ccn!r} is not {class_name}")
    value = kb.get(key.lower())
    if not isinstance(value, str) or not value:
        raise invalid_parameter(f"the {class_name} path needs a string key {key}")
    return value


def reference_key(path: CIMInstanceName, key: str) -> CIMInstanceName:
    """The reference key ``key`` of an association path (CIM_ERR_INVALID_PARAMETER if
    it is missing or not a reference)."""
    value = keys_of(path).get(key.lower())
    if not isinstance(value, CIMInstanceName):
        raise invalid_parameter(f"the {path.classname} path needs a reference key {key}")
    return value
