"""CMPI objects (cmpi-bindings' SWIG module ``cmpi``) <-> pywbem 1.x objects.

CMPI side, as swig/cmpi_types.i and swig/cmpi_defs.i expose it: a value is a CMPIData
(``type``, ``state``, ``value``) whose ``value`` is a CMPIValue union with one attribute
per C member (``uint16``, ``string``, ``ref``, ``inst``, ``dateTime``, ``array``, ...).
Values are written the same way: a fresh ``cmpi.CMPIValue()``, the member for the type
set, then ``set_property(name, value, type)`` / ``add_key`` / ``set`` / ``return_data``.

Three lifetime rules of the real module shape this code (breaking them crashes the
CIMOM, not the test):

* ``data.value`` points into the CMPIData: keep the CMPIData in a variable while reading
  (``data, name = path.get_key_at(i)`` then ``data.value.string``), never
  ``path.get_key(name).value.string``.
* ``broker.new_string/new_datetime_from_string/new_array`` return objects owned by their
  Python proxy (destructor CMRelease) while ``value.string = s`` stores only a pointer:
  every such object is kept in a ``keep`` list until the broker has copied the value.
* The broker copies a value when it is handed over, so nothing needs to outlive that call.

CIM type <-> CMPIType: boolean, char16, real32/64, uint8..sint64, string (CMPI_string;
CMPI_chars is read as string), datetime (CMPI_dateTime, exchanged in CIM string form so
that pre-1970 timestamps, UTC offsets and intervals survive), reference (CMPI_ref),
embedded instance (CMPI_instance <-> a ``string`` property with
``embedded_object='instance'``). Arrays add CMPI_ARRAY; NULL elements stay NULL.
"""

from __future__ import annotations

import datetime as _dt
import importlib
from typing import Any

import pywbem
from pywbem import CIMClassName, CIMDateTime, CIMInstance, CIMInstanceName, CIMProperty

_INTS = ("uint8", "uint16", "uint32", "uint64", "sint8", "sint16", "sint32", "sint64")
_REALS = ("real32", "real64")
_CONST = {
    "boolean": "CMPI_boolean",
    "char16": "CMPI_char16",
    "real32": "CMPI_real32",
    "real64": "CMPI_real64",
    "uint8": "CMPI_uint8",
    "uint16": "CMPI_uint16",
    "uint32": "CMPI_uint32",
    "uint64": "CMPI_uint64",
    "sint8": "CMPI_sint8",
    "sint16": "CMPI_sint16",
    "sint32": "CMPI_sint32",
    "sint64": "CMPI_sint64",
    "string": "CMPI_string",
    "datetime": "CMPI_dateTime",
    "reference": "CMPI_ref",
    "instance": "CMPI_instance",
}

_cmpi_module = None


def cmpi_module():
    """The SWIG module ``cmpi``; importable only inside the CIMOM (or with the test
    double on sys.path), hence imported on first use."""
    global _cmpi_module
    if _cmpi_module is None:
        _cmpi_module = importlib.import_module("cmpi")
    return _cmpi_module


def text(value: Any) -> str | None:
    """A string handed over by the C side or SWIG: str, or bytes in a Python 3 build
    that maps PyString_* to PyBytes_*."""
    if value is None:
        return None
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return value if isinstance(value, str) else str(value)


def charpp(names: Any) -> list[bytes] | None:
    """A property list for a ``char **`` parameter (set_property_filter, the broker's
    getInstance/enumInstances/associators/references): swig/cmpi_defs.i's typemap takes
    None or a *list* whose items pass ``PyString_Check``, which SWIG maps to
    ``PyBytes_Check`` on Python 3 - so a list of bytes, str is refused with
    "TypeError: list contains non-string"."""
    if names is None:
        return None
    return [p if isinstance(p, bytes) else str(p).encode("utf-8") for p in names]


def obj_text(obj: Any) -> str | None:
    """String form of a CMPIString / CMPIDateTime / CMPISelectExp: ``__str__`` in the
    current bindings, ``to_s()`` in older ones."""
    if obj is None:
        return None
    to_s = getattr(type(obj), "to_s", None)
    if callable(to_s):
        return text(obj.to_s())
    return text(str(obj))


def broker_fn(broker: Any, *names: str):
    """The first of `names` the broker proxy has (cmpi_callbacks.i spells the callbacks
    camelCase - deliverIndication, getInstance -; some builds may not)."""
    for name in names:
        fn = getattr(broker, name, None)
        if callable(fn):
            return fn
    raise AttributeError(f"the CMPI broker offers none of {', '.join(names)}")


_NO_SUCH_PROPERTY = 12  # CMPI_RC_ERR_NO_SUCH_PROPERTY


def _pair(item) -> tuple[Any, str]:
    """(CMPIData, name) from get_key_at / get_property_at / get_arg_at (and
    (name, CMPIData) from CMPIContext.get_entry_at)."""
    a, b = item
    if isinstance(a, (str, bytes)) and not isinstance(b, (str, bytes)):
        return b, text(a)
    return a, text(b)


class Converter:
    """Converts in both directions for one broker. Create one per call; cheap."""

    def __init__(self, broker: Any, cmpi: Any = None):
        self.broker = broker
        self.c = c = cmpi or cmpi_module()
        self.type_of = {name: getattr(c, const) for name, const in _CONST.items()}
        self.name_of = {v: k for k, v in self.type_of.items()}
        self.name_of[c.CMPI_chars] = "string"
        self.ARRAY = c.CMPI_ARRAY
        self.NULL_STATES = c.CMPI_nullValue | c.CMPI_notFound | c.CMPI_badValue

    # ==================================================================================
    # CMPI -> pywbem
    # ==================================================================================
    def path_from_cmpi(
        self, cop: Any, default_ns: str | None = None, with_namespace: bool = True
    ) -> CIMInstanceName:
        """with_namespace=False skips namespace(): the bindings strdup() the namespace's
        chars, which may be NULL for the path of an embedded instance."""
        classname = text(cop.classname())
        ns = (text(cop.namespace()) if with_namespace else None) or default_ns
        keys: dict[str, Any] = {}
        for i in range(int(cop.key_count())):
            try:
                data, name = _pair(cop.get_key_at(i))  # `data` stays alive while read
            except Exception as exc:  # noqa: BLE001 - CMPIException of the bindings
                get_code = getattr(exc, "get_error_code", None)
                if callable(get_code) and int(get_code()) == _NO_SUCH_PROPERTY:
                    continue  # OpenPegasus: a key without a value cannot be read
                raise
            value = self.data_to_pywbem(data)[0]
            if value is not None:  # SFCB gives CreateInstance the class's keys, unset
                keys[name] = value
        return CIMInstanceName(classname, keybindings=keys, namespace=ns or None)

    def instance_from_cmpi(
        self, ci: Any, default_ns: str | None = None, embedded: bool = False
    ) -> CIMInstance:
        path = self.path_from_cmpi(ci.objectpath(), default_ns, with_namespace=not embedded)
        props = []
        for i in range(int(ci.property_count())):
            data, name = _pair(ci.get_property_at(i))
            props.append(self._property(name, data))
        inst = CIMInstance(path.classname, properties=props)
        inst.path = path  # set afterwards: no key propagation between the two
        return inst

    def args_from_cmpi(self, cargs: Any) -> dict[str, Any]:
        """Method parameters: name -> typed pywbem value (Uint16, CIMDateTime, ...)."""
        out: dict[str, Any] = {}
        if cargs is None:
            return out
        for i in range(int(cargs.arg_count())):
            data, name = _pair(cargs.get_arg_at(i))
            out[name] = self.data_to_pywbem(data)[0]
        return out

    def _property(self, name: str, data: Any) -> CIMProperty:
        value, cimtype, is_array, embedded = self.data_to_pywbem(data)
        if cimtype == "reference":
            refcls = None
            if isinstance(value, CIMInstanceName):
                refcls = value.classname
            return CIMProperty(
                name, value, type="reference", is_array=is_array, reference_class=refcls
            )
        return CIMProperty(
            name,
            value,
            type=cimtype or "string",
            is_array=is_array,
            embedded_object=embedded,
        )

    def data_to_pywbem(self, data: Any) -> tuple[Any, str | None, bool, str | None]:
        """(value, CIM type name, is_array, embedded_object) of a CMPIData."""
        if data is None:  # some binding versions hand NULL data over as None
            return None, None, False, None
        if isinstance(data, list):  # ... and arrays as a list of CMPIData
            items = [self.data_to_pywbem(d) for d in data]
            cimtype = next((t for _, t, _, _ in items if t), None)
            embedded = next((e for _, _, _, e in items if e), None)
            return [v for v, _, _, _ in items], cimtype, True, embedded
        ctype = int(data.type)
        is_array = bool(ctype & self.ARRAY)
        base = ctype & ~self.ARRAY
        cimtype, embedded = self._cim_type(base)
        if int(data.state) & self.NULL_STATES or ctype == self.c.CMPI_null:
            return None, cimtype, is_array, embedded
        val = data.value
        if not is_array:
            return self._scalar(val, base), cimtype, False, embedded
        arr = val.array
        if arr is None:
            return None, cimtype, True, embedded
        out = []
        for i in range(int(arr.size())):
            el = arr.at(i)
            if el is None or int(el.state) & self.NULL_STATES:
                out.append(None)
            else:
                out.append(self._scalar(el.value, base))
        return out, cimtype, True, embedded

    def _cim_type(self, base: int) -> tuple[str | None, str | None]:
        if base == self.c.CMPI_instance:
            return "string", "instance"
        return self.name_of.get(base), None

    def _scalar(self, val: Any, base: int) -> Any:
        c = self.c
        name = self.name_of.get(base)
        if base == c.CMPI_boolean:
            return bool(val.boolean)
        if base == c.CMPI_char16:
            return pywbem.Char16(chr(val.char16))
        if name in _INTS:
            return pywbem.type_from_name(name)(getattr(val, name))
        if name in _REALS:
            return pywbem.type_from_name(name)(getattr(val, name))
        if base == c.CMPI_string:
            s = val.string
            return "" if s is None else obj_text(s)
        if base == c.CMPI_chars:
            return text(val.chars) or ""
        if base == c.CMPI_dateTime:
            dt = val.dateTime
            return None if dt is None else CIMDateTime(obj_text(dt))
        if base == c.CMPI_ref:
            ref = val.ref
            return None if ref is None else self.path_from_cmpi(ref)
        if base == c.CMPI_instance:
            inst = val.inst
            return None if inst is None else self.instance_from_cmpi(inst, embedded=True)
        raise TypeError(f"CMPI type 0x{base:04x} has no CIM equivalent")

    # ==================================================================================
    # pywbem -> CMPI
    # ==================================================================================
    def path_to_cmpi(self, path: CIMInstanceName | CIMClassName, default_ns: str | None):
        ns = path.namespace or default_ns
        cop = self.broker.new_object_path(ns, str(path.classname))
        if isinstance(path, CIMInstanceName):
            for name, value in path.keybindings.items():
                if value is None:
                    raise ValueError(f"NULL value for key {path.classname}.{name}")
                cv, ctype, _keep = self.value_to_cmpi(value, default_ns=ns)
                cop.add_key(str(name), cv, ctype)
        return cop

    def instance_to_cmpi(
        self,
        inst: CIMInstance,
        default_ns: str | None,
        property_list: list[str] | None = None,
        allow_null_ns: bool = False,
    ):
        path = inst.path
        if path is None:
            path = CIMInstanceName(inst.classname, namespace=default_ns)
        elif path.namespace is None and default_ns:
            path = path.copy()
            path.namespace = default_ns
        ns = path.namespace or default_ns
        cop = self.path_to_cmpi(path, ns)
        ci = self._new_instance(cop, allow_null_ns)
        if property_list is not None:
            ci.set_property_filter(charpp(property_list))
        for prop in inst.properties.values():
            cv, ctype, _keep = self.value_to_cmpi(
                prop.value, prop.type, prop.is_array, prop.embedded_object, default_ns=ns
            )
            ci.set_property(str(prop.name), cv, ctype)
        return ci

    def _new_instance(self, cop: Any, allow_null_ns: bool):
        try:
            return self.broker.new_instance(cop, 1 if allow_null_ns else 0)
        except TypeError:  # bindings before new_instance(path, allow_null_ns)
            return self.broker.new_instance(cop)

    def args_to_cmpi(self, params: dict[str, Any] | None, cargs: Any, default_ns: str | None):
        """Out parameters into the CMPIArgs the MB passed. An untyped NULL value (e.g.
        ``Job: None``) is left out: a missing parameter is NULL to the client too."""
        for name, value in (params or {}).items():
            cimtype = is_array = embedded = None
            if isinstance(value, pywbem.CIMParameter):
                cimtype, is_array = value.type, value.is_array
                embedded, value = value.embedded_object, value.value
            if value is None and cimtype is None:
                continue
            cv, ctype, _keep = self.value_to_cmpi(value, cimtype, is_array, embedded, default_ns)
            cargs.set(str(name), cv, ctype)

    def value_to_cmpi(
        self,
        value: Any,
        cimtype: str | None = None,
        is_array: bool | None = None,
        embedded: str | None = None,
        default_ns: str | None = None,
        int_type: str = "sint64",
    ) -> tuple[Any, int, list]:
        """(CMPIValue or None for NULL, CMPIType, keep). Hold `keep` until the broker
        has copied the value (see the module docstring). Plain Python ints, which carry
        no CIM type, become `int_type`."""
        keep: list = []
        if is_array is None:
            is_array = isinstance(value, (list, tuple))
        if cimtype is None:
            cimtype = infer_cim_type(value, is_array, int_type)
        if embedded in ("instance", "object") or cimtype == "instance":
            cimtype = "instance"
        if cimtype is None:
            raise TypeError("cannot tell the CIM type of a NULL value")
        try:
            base = self.type_of[cimtype]
        except KeyError:
            raise TypeError(f"CIM type {cimtype!r} cannot be passed through CMPI") from None
        ctype = base | self.ARRAY if is_array else base
        if value is None:
            return None, ctype, keep
        cv = self.c.CMPIValue()
        if is_array:
            arr = self.broker.new_array(len(value), base)
            keep.append(arr)
            for i, item in enumerate(value):
                if item is None:
                    continue  # the element stays NULL
                ev = self.c.CMPIValue()
                self._set_scalar(ev, item, cimtype, keep, default_ns)
                arr.set(i, ev, base)
            cv.array = arr
        else:
            self._set_scalar(cv, value, cimtype, keep, default_ns)
        return cv, ctype, keep

    def _set_scalar(self, cv: Any, v: Any, cimtype: str, keep: list, ns: str | None) -> None:
        if cimtype == "boolean":
            cv.boolean = 1 if v else 0
        elif cimtype == "char16":
            cv.char16 = ord(v) if isinstance(v, str) else int(v)
        elif cimtype in _INTS:
            setattr(cv, cimtype, int(v))
        elif cimtype in _REALS:
            setattr(cv, cimtype, float(v))
        elif cimtype == "string":
            s = self.broker.new_string(str(v))
            keep.append(s)
            cv.string = s
        elif cimtype == "datetime":
            cim = v if isinstance(v, CIMDateTime) else CIMDateTime(v)
            d = self.broker.new_datetime_from_string(str(cim))
            keep.append(d)
            cv.dateTime = d
        elif cimtype == "reference":
            if not isinstance(v, (CIMInstanceName, CIMClassName)):
                raise TypeError(f"reference value must be a CIMInstanceName, got {v!r}")
            ref = self.path_to_cmpi(v, ns)
            keep.append(ref)
            cv.ref = ref
        elif cimtype == "instance":
            if not isinstance(v, CIMInstance):
                raise TypeError(f"embedded object must be a CIMInstance, got {type(v).__name__}")
            inst = self.instance_to_cmpi(v, ns, allow_null_ns=True)
            keep.append(inst)
            cv.inst = inst
        else:  # pragma: no cover - type_of guards this
            raise TypeError(f"unsupported CIM type {cimtype}")


def infer_cim_type(value: Any, is_array: bool, int_type: str = "sint64") -> str | None:
    """The CIM type of a pywbem value (None for NULL or an empty untyped array)."""
    sample = value
    if is_array:
        sample = next((x for x in value or () if x is not None), None)
    if sample is None:
        return None
    if isinstance(sample, bool):
        return "boolean"
    if isinstance(sample, (CIMInstanceName, CIMClassName)):
        return "reference"
    if isinstance(sample, CIMInstance):
        return "instance"
    if isinstance(sample, (pywbem.CIMType, CIMDateTime)):
        return pywbem.cimtype(sample)
    if isinstance(sample, str):
        return "string"
    if isinstance(sample, int):
        return int_type
    if isinstance(sample, float):
        return "real64"
    if isinstance(sample, (_dt.datetime, _dt.timedelta)):
        return "datetime"
    raise TypeError(f"no CIM type for a {type(sample).__name__} value")
