"""Test double of cmpi-bindings' SWIG module ``cmpi`` (imported as ``cmpi`` when
tests/cmpi_double is on sys.path).

Written from the interface files of kkaempf/cmpi-bindings, which are the specification:

=====================  ================================================================
Part of this file      Mirrors
=====================  ================================================================
constants              cmpidt.h (CMPI 2.1, cmpi-standard/headers): CMPIType values
                       (CMPI_uint16 = (8+1)<<4 ...), CMPIValueState, CMPIrc, severities,
                       trace levels, invocation flags, context entry names.
CMPIException          swig/cmpi.i: struct _CMPIException {error_code, description},
                       raised by RAISE_IF(status) whenever a CMPI call returns rc != 0
                       (%exceptionclass, so it derives from Exception);
                       get_error_code() / get_description().
CMPIValue              cmpidt.h union _CMPIValue as SWIG wraps it: one attribute per union
                       member (uint16, string, ref, inst, dateTime, array, chars, ...;
                       deprecated Byte/Short/Int/Long/Float/Double aliases).
CMPIData               swig/cmpi_defs.i: .type, .state, .value; is_null(), is_key(),
                       is_array(), _value() (= data_value() in swig/cmpi.i, including
                       its quirks: real32/real64 read as None, datetime raises).
get_*_at tuples        swig/cmpi_types.i + data_data() in swig/cmpi.i: get_key_at /
                       get_property_at / get_arg_at return (CMPIData, name); CMPIContext
                       get_entry_at returns (name, CMPIData); a notFound datum raises
                       IndexError, a badValue datum ValueError.
CMPIResult ...         swig/cmpi_types.i: CMPIResult (return_instance, return_objectpath,
CMPIDateTime           return_data, done), CMPIObjectPath (constructor (broker, ns, cn),
                       add_key, get_key, get_key_at, key_count, keys, replace_from,
                       namespace/set_namespace, hostname/set_hostname,
                       classname/set_classname, __str__), CMPIInstance (set_property,
                       get_property, get_property_at, property_count, objectpath,
                       set_objectpath, set_property_filter, set_property_with_origin),
                       CMPIArgs (set, get, get_arg_at, arg_count), CMPISelectExp,
                       CMPIEnumeration (hasNext, next, toArray), CMPIArray (size,
                       cmpi_type, at, set), CMPIString (__str__), CMPIContext
                       (add_entry, get_entry, get_entry_at, get_entry_count),
                       CMPIDateTime (__str__, to_i, is_interval).
char ** arguments      swig/cmpi_defs.i typemap: None or a *list* (not a tuple) whose items
                       pass PyString_Check - PyBytes_Check on Python 3 (SWIG's pyhead.swg) -,
                       so a list of bytes; str items raise TypeError("list contains
                       non-string"), a non-list TypeError("expected list argument").
                       There is no Python out-typemap: CMPISelectExp.filter() returns an
                       opaque SWIG pointer of type 'char **'.
CMPIBroker             swig/cmpi_callbacks.i (newest version): LogMessage, TraceMessage,
                       version, name, classPathIsA, deliverIndication,
                       prepareAttachThread, attachThread, detachThread,
                       enumInstanceNames, enumInstances, getInstance, createInstance,
                       modifyInstance, deleteInstance, execQuery, associators,
                       associatorNames, references, referenceNames, invokeMethod,
                       setProperty, getProperty and the factories new_object_path,
                       new_instance(path, allow_null_ns), new_args, new_datetime,
                       new_datetime_from_uint64, new_datetime_from_string, new_string,
                       new_array, new_select_exp, new_error, bummer. The callback names
                       really are camelCase there (deliverIndication, not
                       deliver_indication); only the factories are snake_case.
=====================  ================================================================

Behaviour of a real broker that the double reproduces on purpose, because adapters have
crashed on it:

* Lifetimes. ``data.value`` is a borrowed pointer into the CMPIData: once the CMPIData
  is garbage (e.g. ``path.get_key(name).value.string`` in one expression) reading it
  raises UseAfterFree - the real module reads freed memory and the CIMOM crashes.
  Objects made by ``broker.new_string/new_datetime*/new_array/new_args`` are owned by
  their Python proxy (%newobject, destructor CMRelease): a CMPIValue only keeps a C
  pointer to them, so if the proxy is collected before the value is handed to the broker,
  using the value raises UseAfterFree as well.
* The broker copies values when they are handed over (set_property, add_key, set,
  return_*), as SFCB and OpenPegasus do; CMPI_chars is stored as CMPI_string.
* Union members: only the member last written is readable (reading another one is what
  C would silently reinterpret); SWIG's range checks on integer members (OverflowError /
  TypeError); real32 is rounded to a C float.
* Threads (CMPI spec, prepareAttachThread/attachThread): every broker function must be
  called either from a thread that the MB is currently using for an MI call, or from a
  thread attached with attachThread(ctx) where ctx came from prepareAttachThread.
  Anything else is recorded in ``broker.violations`` and raises CMPIException.
  detachThread(ctx) frees ctx (cmpift.h; SFCB's brokerUpc.c releases it): a context is
  attached once, and using it after its detach raises UseAfterFree (SFCB's provider
  process died with SIGSEGV on a second deliverIndication with it).

Deliberate simplifications (documented, not hidden):

* Up-calls (getInstance, enumInstances, associators, invokeMethod, ...) are routed by a
  router object the test MB (cmpi_mb.py) installs as ``broker._router``; without one they
  raise CMPI_RC_ERR_NOT_SUPPORTED.
* classPathIsA answers from ``broker._classes`` ({class: superclass}), filled by the test.
* No class definitions: CMPIInstance.objectpath() returns the path the instance was
  created with (a real broker rebuilds it from the class's key properties), key types are
  kept exactly (SFCB does this; OpenPegasus reports integer keys as uint64/sint64).
* CMPIObjectPath.namespace() returns "" for a path without namespace (the real one
  strdup()s the C string, which may be NULL - so the adapter does not ask the paths of
  embedded instances).
* CMPISelectExp keeps the query text; match() raises CMPI_RC_ERR_NOT_SUPPORTED.
* Qualifier access (qualifier, property_qualifier, ...) raises CMPI_RC_ERR_NOT_SUPPORTED.
* Strings built by the C code with PyString_FromString (names in get_*_at tuples) are
  str; set ``TARGET_STRING_BYTES = True`` to model a Python 3 port that maps
  PyString_* to PyBytes_*.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import struct
import threading
import weakref

import pywbem

# When True, the names the C code builds with PyString_FromString are bytes.
TARGET_STRING_BYTES = False


def _target_string(s: str | None):
    if s is None:
        return None
    return s.encode() if TARGET_STRING_BYTES else s


# --------------------------------------------------------------------------------------
# cmpidt.h constants (CMPI 2.1)
# --------------------------------------------------------------------------------------
CMPI_null = 0
CMPI_SIMPLE = 2
CMPI_boolean = 2 + 0
CMPI_char16 = 2 + 1
CMPI_REAL = 2 << 2
CMPI_real32 = (2 + 0) << 2
CMPI_real64 = (2 + 1) << 2
CMPI_UINT = 8 << 4
CMPI_uint8 = (8 + 0) << 4
CMPI_uint16 = (8 + 1) << 4
CMPI_uint32 = (8 + 2) << 4
CMPI_uint64 = (8 + 3) << 4
CMPI_SINT = (8 + 4) << 4
CMPI_sint8 = (8 + 4) << 4
CMPI_sint16 = (8 + 5) << 4
CMPI_sint32 = (8 + 6) << 4
CMPI_sint64 = (8 + 7) << 4
CMPI_INTEGER = CMPI_UINT | CMPI_SINT
CMPI_ENC = 16 << 8
CMPI_instance = (16 + 0) << 8
CMPI_ref = (16 + 1) << 8
CMPI_args = (16 + 2) << 8
CMPI_class = (16 + 3) << 8
CMPI_filter = (16 + 4) << 8
CMPI_enumeration = (16 + 5) << 8
CMPI_string = (16 + 6) << 8
CMPI_chars = (16 + 7) << 8
CMPI_dateTime = (16 + 8) << 8
CMPI_ptr = (16 + 9) << 8
CMPI_charsptr = (16 + 10) << 8
CMPI_ARRAY = 1 << 13
CMPI_SIMPLEA = CMPI_ARRAY | CMPI_SIMPLE
CMPI_booleanA = CMPI_ARRAY | CMPI_boolean
CMPI_char16A = CMPI_ARRAY | CMPI_char16
CMPI_REALA = CMPI_ARRAY | CMPI_REAL
CMPI_real32A = CMPI_ARRAY | CMPI_real32
CMPI_real64A = CMPI_ARRAY | CMPI_real64
CMPI_UINTA = CMPI_ARRAY | CMPI_UINT
CMPI_uint8A = CMPI_ARRAY | CMPI_uint8
CMPI_uint16A = CMPI_ARRAY | CMPI_uint16
CMPI_uint32A = CMPI_ARRAY | CMPI_uint32
CMPI_uint64A = CMPI_ARRAY | CMPI_uint64
CMPI_SINTA = CMPI_ARRAY | CMPI_SINT
CMPI_sint8A = CMPI_ARRAY | CMPI_sint8
CMPI_sint16A = CMPI_ARRAY | CMPI_sint16
CMPI_sint32A = CMPI_ARRAY | CMPI_sint32
CMPI_sint64A = CMPI_ARRAY | CMPI_sint64
CMPI_INTEGERA = CMPI_ARRAY | CMPI_INTEGER
CMPI_ENCA = CMPI_ARRAY | CMPI_ENC
CMPI_instanceA = CMPI_ARRAY | CMPI_instance
CMPI_refA = CMPI_ARRAY | CMPI_ref
CMPI_stringA = CMPI_ARRAY | CMPI_string
CMPI_charsA = CMPI_ARRAY | CMPI_chars
CMPI_dateTimeA = CMPI_ARRAY | CMPI_dateTime
CMPI_charsptrA = CMPI_ARRAY | CMPI_charsptr
CMPI_keyInteger = CMPI_sint64
CMPI_keyString = CMPI_string
CMPI_keyBoolean = CMPI_boolean
CMPI_keyRef = CMPI_ref

CMPI_goodValue = 0
CMPI_nullValue = 1 << 8
CMPI_keyValue = 2 << 8
CMPI_notFound = 4 << 8
CMPI_badValue = 0x80 << 8

CMPI_RC_OK = 0
CMPI_RC_ERR_FAILED = 1
CMPI_RC_ERR_ACCESS_DENIED = 2
CMPI_RC_ERR_INVALID_NAMESPACE = 3
CMPI_RC_ERR_INVALID_PARAMETER = 4
CMPI_RC_ERR_INVALID_CLASS = 5
CMPI_RC_ERR_NOT_FOUND = 6
CMPI_RC_ERR_NOT_SUPPORTED = 7
CMPI_RC_ERR_CLASS_HAS_CHILDREN = 8
CMPI_RC_ERR_CLASS_HAS_INSTANCES = 9
CMPI_RC_ERR_INVALID_SUPERCLASS = 10
CMPI_RC_ERR_ALREADY_EXISTS = 11
CMPI_RC_ERR_NO_SUCH_PROPERTY = 12
CMPI_RC_ERR_TYPE_MISMATCH = 13
CMPI_RC_ERR_QUERY_LANGUAGE_NOT_SUPPORTED = 14
CMPI_RC_ERR_INVALID_QUERY = 15
CMPI_RC_ERR_METHOD_NOT_AVAILABLE = 16
CMPI_RC_ERR_METHOD_NOT_FOUND = 17
CMPI_RC_NO_MORE_ELEMENTS = 18
CMPI_RC_ERR_SERVER_LIMITS_EXCEEDED = 27
CMPI_RC_ERR_QUERY_FEATURE_NOT_SUPPORTED = 29
CMPI_RC_DO_NOT_UNLOAD = 50
CMPI_RC_NEVER_UNLOAD = 51
CMPI_RC_ERR_INVALID_HANDLE = 60
CMPI_RC_ERR_INVALID_DATA_TYPE = 61
CMPI_RC_ERR_NOT_IN_CODEPAGE = 62
CMPI_RC_ERROR_SYSTEM = 100
CMPI_RC_ERROR = 200

CMPI_SEV_ERROR = 1
CMPI_SEV_INFO = 2
CMPI_SEV_WARNING = 3
CMPI_DEV_DEBUG = 4
CMPI_LEV_INFO = 1
CMPI_LEV_WARNING = 2
CMPI_LEV_VERBOSE = 3

CMPI_FLAG_LocalOnly = 1
CMPI_FLAG_DeepInheritance = 2
CMPI_FLAG_IncludeQualifiers = 4
CMPI_FLAG_IncludeClassOrigin = 8

CMPIInitNameSpace = "CMPIInitNameSpace"
CMPIInvocationFlags = "CMPIInvocationFlags"
CMPIPrincipal = "CMPIPrincipal"
CMPIRole = "CMPIRole"
CMPIAcceptLanguage = "CMPIAcceptLanguage"
CMPIContentLanguage = "CMPIContentLanguage"

_ALIASES = {
    "Byte": "sint8",
    "Short": "sint16",
    "Int": "sint32",
    "Long": "sint64",
    "Float": "real32",
    "Double": "real64",
}
_INT_RANGE = {
    "boolean": (0, 0xFF),  # CMPIBoolean is unsigned char
    "char16": (0, 0xFFFF),
    "uint8": (0, 0xFF),
    "uint16": (0, 0xFFFF),
    "uint32": (0, 0xFFFFFFFF),
    "uint64": (0, 0xFFFFFFFFFFFFFFFF),
    "sint8": (-0x80, 0x7F),
    "sint16": (-0x8000, 0x7FFF),
    "sint32": (-0x80000000, 0x7FFFFFFF),
    "sint64": (-0x8000000000000000, 0x7FFFFFFFFFFFFFFF),
}
_REAL = ("real32", "real64")
# member name -> proxy class name it must hold (checked by name: classes defined below)
_POINTERS = {
    "inst": "CMPIInstance",
    "ref": "CMPIObjectPath",
    "args": "CMPIArgs",
    "filter": "CMPISelectExp",
    "Enum": "CMPIEnumeration",
    "array": "CMPIArray",
    "string": "CMPIString",
    "dateTime": "CMPIDateTime",
}
_MEMBERS = set(_INT_RANGE) | set(_REAL) | set(_POINTERS) | {"chars", "dataPtr"} | set(_ALIASES)

# CMPIType (scalar) -> union member holding it
MEMBER_FOR_TYPE = {
    CMPI_boolean: "boolean",
    CMPI_char16: "char16",
    CMPI_real32: "real32",
    CMPI_real64: "real64",
    CMPI_uint8: "uint8",
    CMPI_uint16: "uint16",
    CMPI_uint32: "uint32",
    CMPI_uint64: "uint64",
    CMPI_sint8: "sint8",
    CMPI_sint16: "sint16",
    CMPI_sint32: "sint32",
    CMPI_sint64: "sint64",
    CMPI_instance: "inst",
    CMPI_ref: "ref",
    CMPI_args: "args",
    CMPI_filter: "filter",
    CMPI_enumeration: "Enum",
    CMPI_string: "string",
    CMPI_chars: "chars",
    CMPI_dateTime: "dateTime",
}


class UseAfterFree(RuntimeError):
    """Where the real module would read freed memory (and the CIMOM would crash)."""


class DoubleMisuse(AssertionError):
    """A use of the API that is undefined behaviour in C (wrong union member, ...)."""


# --------------------------------------------------------------------------------------
# CMPIException (swig/cmpi.i)
# --------------------------------------------------------------------------------------
class CMPIException(Exception):  # noqa: N818 - the real class name
    def __init__(self, error_code: int = 0, description: str | None = None):
        super().__init__(error_code, description)
        self.error_code = error_code
        self.description = description

    def get_error_code(self) -> int:
        return self.error_code

    def get_description(self) -> str | None:
        return self.description

    def __str__(self) -> str:
        return f"CMPI rc {self.error_code}: {self.description}"


def _raise(rc: int, msg: str) -> None:
    raise CMPIException(rc, msg)


# --------------------------------------------------------------------------------------
# helpers for SWIG argument conversion
# --------------------------------------------------------------------------------------
def _charpp(value, what: str) -> list[str] | None:
    """swig/cmpi_defs.i `char **` typemap (Python): None -> NULL; otherwise
    ``PyList_Check`` (a tuple is refused) and ``PyString_Check`` on every item, which
    SWIG's pyhead.swg defines as ``PyBytes_Check`` on Python 3: bytes only, str refused.
    The messages are the typemap's own (it names no method). Returns the C strings the
    broker sees (decoded; `what` is kept for the callers' readability)."""
    if value is None:
        return None
    if not isinstance(value, list):
        raise TypeError("expected list argument")
    for v in value:
        if not isinstance(v, bytes):
            raise TypeError("list contains non-string")
    # PyBytes_AsString: the C string ends at the first NUL
    return [v.split(b"\0", 1)[0].decode("utf-8", "replace") for v in value]


class SwigPyObject:
    """A bare SWIG pointer (what a function returning an unwrapped C type gives)."""

    def __init__(self, ctype: str, target=None):
        self._ctype = ctype
        self._target = target

    def __repr__(self) -> str:
        return f"<Swig Object of type '{self._ctype}'>"


def _charp(value, what: str, allow_none: bool = True) -> str | None:
    """SWIG's `char *` typemap on Python 3 (pystrings.swg, SWIG_AsCharPtrAndSize without
    SWIG_PYTHON_STRICT_BYTE_CHAR): str only (bytes raise TypeError), None is NULL. Where
    the C code dereferences the pointer (allow_none=False) NULL is undefined behaviour
    in the real module - a crashed CIMOM -, which the double reports as DoubleMisuse."""
    if value is None:
        if allow_none:
            return None
        raise DoubleMisuse(f"{what}: None is passed as NULL, which the C code dereferences")
    if not isinstance(value, str):
        raise TypeError(f"in method '{what}', argument of type 'char const *' expected")
    return value


def _check_type(obj, cls, what: str, allow_none: bool = True):
    if obj is None and allow_none:
        return None
    if not isinstance(obj, cls):
        raise TypeError(f"in method '{what}', expected {cls.__name__}, got {type(obj).__name__}")
    return obj


def _ctype(t, what: str) -> int:
    if not isinstance(t, int) or isinstance(t, bool) or not 0 <= t <= 0xFFFF:
        raise TypeError(f"in method '{what}', argument of type 'CMPIType' expected")
    return t


# --------------------------------------------------------------------------------------
# Released-object bookkeeping
# --------------------------------------------------------------------------------------
class _Handle:
    """Base of the proxies for encapsulated CMPI objects. `_py_owned` is True for
    objects created through a %newobject factory whose destructor releases them
    (CMPIString, CMPIDateTime, CMPIArray, CMPIArgs, CMPIEnumeration)."""

    def __init__(self):
        self._py_owned = False
        self._disowned = False


# --------------------------------------------------------------------------------------
# CMPIValue (cmpidt.h union, as wrapped by SWIG)
# --------------------------------------------------------------------------------------
class CMPIValue:
    __slots__ = ("_member", "_raw", "_weak", "__weakref__")

    def __init__(self):
        object.__setattr__(self, "_member", None)
        object.__setattr__(self, "_raw", None)
        object.__setattr__(self, "_weak", False)

    # The real union has no notion of a "live" member; the double does, to catch
    # adapters that read a member other than the one the type says.
    def __setattr__(self, name, value):
        if name not in _MEMBERS:
            raise AttributeError(f"You cannot add instance attributes to {self!r}")
        name = _ALIASES.get(name, name)
        weak = False
        if name in _INT_RANGE:
            if not isinstance(value, int):
                raise TypeError(f"in method 'CMPIValue_{name}_set', expected an integer")
            lo, hi = _INT_RANGE[name]
            if not lo <= int(value) <= hi:
                raise OverflowError(f"in method 'CMPIValue_{name}_set', value out of range")
            value = int(value)
        elif name in _REAL:
            if not isinstance(value, (int, float)) or isinstance(value, bool):
                raise TypeError(f"in method 'CMPIValue_{name}_set', expected a float")
            value = float(value)
            if name == "real32":
                value = struct.unpack("f", struct.pack("f", value))[0]
        elif name == "chars":
            _charp(value, "CMPIValue_chars_set")
        elif name == "dataPtr":
            raise DoubleMisuse("CMPIValue.dataPtr is not supported by the double")
        else:
            cls = globals()[_POINTERS[name]]
            _check_type(value, cls, f"CMPIValue_{name}_set")
            if value is not None and value._py_owned:
                # C keeps a bare pointer; the Python proxy still owns (and frees) it.
                weak = True
                value = weakref.ref(value)
        object.__setattr__(self, "_member", name)
        object.__setattr__(self, "_raw", value)
        object.__setattr__(self, "_weak", weak)

    def __getattr__(self, name):
        if name not in _MEMBERS:
            raise AttributeError(name)
        name = _ALIASES.get(name, name)
        member = object.__getattribute__(self, "_member")
        if member is None:
            raise DoubleMisuse(f"reading CMPIValue.{name} before any member was written")
        if member != name:
            raise DoubleMisuse(f"reading CMPIValue.{name} but the live union member is {member}")
        raw = object.__getattribute__(self, "_raw")
        if object.__getattribute__(self, "_weak"):
            obj = raw()
            if obj is None:
                raise UseAfterFree(
                    f"CMPIValue.{name} points to a {_POINTERS[name]} whose Python proxy was "
                    "garbage-collected (released by its destructor)"
                )
            return obj
        return raw

    def _get(self, name):
        return self.__getattr__(name)

    def __repr__(self) -> str:
        return f"<cmpi.CMPIValue member={object.__getattribute__(self, '_member')}>"


def _clone_val(val: CMPIValue) -> CMPIValue:
    new = CMPIValue()
    for slot in ("_member", "_raw", "_weak"):
        object.__setattr__(new, slot, object.__getattribute__(val, slot))
    return new


class _BorrowedValue:
    """CMPIData.value: a pointer into the CMPIData, valid while the CMPIData lives."""

    __slots__ = ("_data",)

    def __init__(self, data: CMPIData):
        object.__setattr__(self, "_data", weakref.ref(data))

    def _target(self) -> CMPIValue:
        data = object.__getattribute__(self, "_data")()
        if data is None:
            raise UseAfterFree(
                "CMPIData.value used after its CMPIData was garbage-collected "
                "(keep the CMPIData in a variable while reading its value)"
            )
        return data._val

    def __getattr__(self, name):
        return getattr(self._target(), name)

    def __setattr__(self, name, value):
        setattr(self._target(), name, value)


def _unwrap_value(value, what: str) -> CMPIValue | None:
    if value is None:
        return None
    if isinstance(value, _BorrowedValue):
        return value._target()
    if not isinstance(value, CMPIValue):
        raise TypeError(f"in method '{what}', argument of type 'CMPIValue const *' expected")
    return value


# --------------------------------------------------------------------------------------
# CMPIData (swig/cmpi_defs.i)
# --------------------------------------------------------------------------------------
class CMPIData:
    def __init__(self, data: CMPIData):
        """_CMPIData(CMPIData *data): a copy."""
        _check_type(data, CMPIData, "new_CMPIData", allow_none=False)
        self.type = data.type
        self.state = data.state
        self._val = _clone_val(data._val)

    @classmethod
    def _make(cls, ctype: int, state: int, val: CMPIValue | None = None) -> CMPIData:
        """A CMPIData struct holding a copy of the union `val` (pointers copied as
        pointers, like C's struct assignment)."""
        d = cls.__new__(cls)
        d.type = ctype
        d.state = state
        d._val = _clone_val(val) if val is not None else CMPIValue()
        return d

    @property
    def value(self):
        return _BorrowedValue(self)

    def is_null(self) -> int:
        return int(bool(self.state & CMPI_nullValue))

    def is_key(self) -> int:
        return int(bool(self.state & CMPI_keyValue))

    def is_array(self) -> int:
        return int(bool(self.type & CMPI_ARRAY))

    def _value(self):
        """data_value() in swig/cmpi.i, quirks included."""
        if self.state & CMPI_notFound or self.state & CMPI_nullValue or self.type == CMPI_null:
            return None
        if self.state & CMPI_badValue:
            raise ValueError("bad value")
        if self.type & CMPI_ARRAY:
            arr = self._val._get("array")
            return [arr.at(i)._value() for i in range(arr.size())]
        return _value_value(self._val, self.type)

    def __repr__(self) -> str:
        return f"<cmpi.CMPIData type=0x{self.type:04x} state=0x{self.state:04x}>"


def _value_value(val: CMPIValue, ctype: int):
    """value_value() in swig/cmpi.i for Python."""
    if ctype == CMPI_boolean:
        return bool(val._get("boolean"))
    if ctype in (CMPI_real32, CMPI_real64):
        return None  # Target_Real(x) is Py_None for Python in cmpi.i
    if ctype == CMPI_string:
        s = val._get("string")
        return "" if s is None else str(s)
    if ctype == CMPI_chars:
        return val._get("chars") or ""
    if ctype == CMPI_dateTime:
        raise RuntimeError("CMPIDate conversion not implemented")
    member = MEMBER_FOR_TYPE.get(ctype)
    if member is None:
        return None
    return val._get(member)


def _data_data(d: CMPIData) -> CMPIData:
    """data_data(): a CMPIData proxy owning a copy; notFound/badValue raise."""
    if d.state & CMPI_notFound:
        raise IndexError("value not found")
    if d.state & CMPI_badValue:
        raise ValueError("bad value")
    return CMPIData._make(d.type, d.state, d._val)


# --------------------------------------------------------------------------------------
# Broker-side copies of values (what CMSetProperty/CMAddKey/... store)
# --------------------------------------------------------------------------------------
def _materialize(value: CMPIValue | None, ctype: int, state_extra: int = 0) -> CMPIData:
    if value is None:
        return CMPIData._make(ctype, CMPI_nullValue | state_extra)
    if ctype == CMPI_null:
        return CMPIData._make(CMPI_null, CMPI_nullValue | state_extra)
    if ctype & CMPI_ARRAY:
        arr = value._get("array")
        if arr is None:
            return CMPIData._make(ctype, CMPI_nullValue | state_extra)
        elem = ctype & ~CMPI_ARRAY
        if elem == CMPI_chars:
            elem = CMPI_string
        atype = arr._type if arr._type != CMPI_chars else CMPI_string
        if atype != elem:
            _raise(
                CMPI_RC_ERR_TYPE_MISMATCH,
                f"array of type 0x{arr._type:04x} set as 0x{ctype:04x}",
            )
        v = CMPIValue()
        v.array = arr._copy()
        return CMPIData._make(elem | CMPI_ARRAY, CMPI_goodValue | state_extra, v)
    member = MEMBER_FOR_TYPE.get(ctype)
    if member is None:
        _raise(CMPI_RC_ERR_INVALID_DATA_TYPE, f"unsupported CMPIType 0x{ctype:04x}")
    raw = value._get(member)
    v = CMPIValue()
    stored = ctype
    if member == "chars":
        if raw is None:
            return CMPIData._make(CMPI_string, CMPI_nullValue | state_extra)
        v.string = CMPIString._make(raw)
        stored = CMPI_string
    elif member in _POINTERS:
        if raw is None:
            return CMPIData._make(ctype, CMPI_nullValue | state_extra)
        setattr(v, member, raw._copy())
    else:
        setattr(v, member, raw)
    return CMPIData._make(stored, CMPI_goodValue | state_extra, v)


def _copy_data(d: CMPIData) -> CMPIData:
    if d.state & CMPI_nullValue or d.type == CMPI_null:
        return CMPIData._make(d.type, d.state)
    v = CMPIValue()
    member = "array" if d.type & CMPI_ARRAY else MEMBER_FOR_TYPE[d.type]
    raw = d._val._get(member)
    if member in _POINTERS:
        raw = raw._copy() if raw is not None else None
    setattr(v, member, raw)
    return CMPIData._make(d.type, d.state, v)


# --------------------------------------------------------------------------------------
# CMPIString / CMPIDateTime / CMPIArray
# --------------------------------------------------------------------------------------
class CMPIString(_Handle):
    def __init__(self, *a, **k):
        raise AttributeError("No constructor defined")  # %nodefault

    @classmethod
    def _make(cls, text: str, py_owned: bool = False) -> CMPIString:
        s = cls.__new__(cls)
        _Handle.__init__(s)
        s._text = text
        s._py_owned = py_owned
        return s

    def _copy(self) -> CMPIString:
        return CMPIString._make(self._text)

    def __str__(self) -> str:
        return self._text

    def __repr__(self) -> str:
        return f"<cmpi.CMPIString {self._text!r}>"


class CMPIDateTime(_Handle):
    def __init__(self, *a, **k):
        raise AttributeError("No constructor defined")

    @classmethod
    def _make(cls, cim: pywbem.CIMDateTime, py_owned: bool = False) -> CMPIDateTime:
        d = cls.__new__(cls)
        _Handle.__init__(d)
        d._dt = cim
        d._py_owned = py_owned
        return d

    def _copy(self) -> CMPIDateTime:
        return CMPIDateTime._make(self._dt)

    def __str__(self) -> str:
        return str(self._dt)

    def to_i(self) -> int:
        """CMGetBinaryFormat: microseconds (since the epoch, UTC, for timestamps)."""
        if self._dt.is_interval:
            td = self._dt.timedelta
            return (td.days * 86400 + td.seconds) * 1_000_000 + td.microseconds
        dt = self._dt.datetime
        epoch = _dt.datetime(1970, 1, 1, tzinfo=_dt.UTC)
        delta = dt - epoch
        return (delta.days * 86400 + delta.seconds) * 1_000_000 + delta.microseconds

    def is_interval(self) -> int:
        return int(self._dt.is_interval)

    def __repr__(self) -> str:
        return f"<cmpi.CMPIDateTime {self._dt}>"


class CMPIArray(_Handle):
    def __init__(self, *a, **k):
        raise AttributeError("No constructor defined")

    @classmethod
    def _make(cls, count: int, elem_type: int, py_owned: bool = False) -> CMPIArray:
        a = cls.__new__(cls)
        _Handle.__init__(a)
        a._type = elem_type & ~CMPI_ARRAY
        a._elems = [CMPIData._make(a._type, CMPI_nullValue) for _ in range(count)]
        a._py_owned = py_owned
        return a

    def _copy(self) -> CMPIArray:
        a = CMPIArray._make(0, self._type)
        a._type = self._type if self._type != CMPI_chars else CMPI_string
        a._elems = [_copy_data(e) for e in self._elems]
        return a

    def size(self) -> int:
        return len(self._elems)

    def cmpi_type(self) -> int:
        return self._type

    def at(self, index: int) -> CMPIData:
        if not isinstance(index, int) or not 0 <= index < len(self._elems):
            _raise(CMPI_RC_ERR_NO_SUCH_PROPERTY, f"array index {index} out of bounds")
        return CMPIData._make(
            self._elems[index].type, self._elems[index].state, self._elems[index]._val
        )

    def set(self, index: int, value, type) -> None:  # noqa: A002 - SWIG parameter name
        val = _unwrap_value(value, "CMPIArray_set")
        type = _ctype(type, "CMPIArray_set")  # noqa: A001
        if not isinstance(index, int) or not 0 <= index < len(self._elems):
            _raise(CMPI_RC_ERR_NO_SUCH_PROPERTY, f"array index {index} out of bounds")
        if type != self._type and not (type == CMPI_chars and self._type == CMPI_string):
            _raise(
                CMPI_RC_ERR_TYPE_MISMATCH,
                f"element type 0x{type:04x} in array of 0x{self._type:04x}",
            )
        self._elems[index] = _materialize(val, type)

    def __repr__(self) -> str:
        return f"<cmpi.CMPIArray type=0x{self._type:04x} size={len(self._elems)}>"


# --------------------------------------------------------------------------------------
# CMPIObjectPath
# --------------------------------------------------------------------------------------
def _quote(d: CMPIData) -> str:
    if d.state & CMPI_nullValue:
        return "NULL"
    if d.type == CMPI_string:
        s = str(d._val._get("string")).replace("\\", "\\\\").replace('"', '\\"')
        return f'"{s}"'
    if d.type == CMPI_ref:
        s = str(d._val._get("ref")).replace("\\", "\\\\").replace('"', '\\"')
        return f'"{s}"'
    if d.type == CMPI_boolean:
        return "TRUE" if d._val._get("boolean") else "FALSE"
    if d.type == CMPI_dateTime:
        return f'"{d._val._get("dateTime")}"'
    member = MEMBER_FOR_TYPE.get(d.type & ~CMPI_ARRAY)
    return str(d._val._get(member)) if member else "?"


class CMPIObjectPath(_Handle):
    def __init__(self, broker, ns, cn=None):
        """_CMPIObjectPath(const CMPIBroker*, const char *ns, const char *cn = NULL);
        with cn NULL, ns is parsed as "<namespace>:<classname>[.k=v,...]"."""
        _Handle.__init__(self)
        _check_type(broker, CMPIBroker, "new_CMPIObjectPath", allow_none=False)
        broker._check_thread("CMNewObjectPath")
        self._init(_charp(ns, "new_CMPIObjectPath"), _charp(cn, "new_CMPIObjectPath"))
        if cn is None:
            if ns is None or ":" not in ns:
                raise ValueError("Missing ':' between namespace and classname")
            ns_part, rest = ns.split(":", 1)
            cls_part, _, keys = rest.partition(".")
            self._ns, self._cn = ns_part, cls_part
            for item in filter(None, keys.split(",")):
                if "=" not in item:
                    raise ValueError("Missing '=' between property name and value")
                k, v = item.split("=", 1)
                val = CMPIValue()
                val.string = CMPIString._make(v.strip('"'))
                self._keys[k] = _materialize(val, CMPI_string, CMPI_keyValue)

    def _init(self, ns, cn) -> None:
        self._ns = ns
        self._cn = cn
        self._host = None
        self._keys: dict[str, CMPIData] = {}

    @classmethod
    def _make(cls, ns, cn) -> CMPIObjectPath:
        p = cls.__new__(cls)
        _Handle.__init__(p)
        p._init(ns, cn)
        return p

    def _copy(self) -> CMPIObjectPath:
        p = CMPIObjectPath._make(self._ns, self._cn)
        p._host = self._host
        p._keys = {k: _copy_data(v) for k, v in self._keys.items()}
        return p

    def _find(self, name: str) -> str | None:
        for k in self._keys:
            if k.lower() == name.lower():
                return k
        return None

    def __str__(self) -> str:
        keys = ",".join(f"{k}={_quote(v)}" for k, v in self._keys.items())
        s = f"{self._ns or ''}:{self._cn or ''}"
        return f"{s}.{keys}" if keys else s

    def add_key(self, name, value, type) -> None:  # noqa: A002
        name = _charp(name, "CMPIObjectPath_add_key", allow_none=False)
        val = _unwrap_value(value, "CMPIObjectPath_add_key")
        type = _ctype(type, "CMPIObjectPath_add_key")  # noqa: A001
        data = _materialize(val, type, CMPI_keyValue)
        old = self._find(name)
        if old is not None:
            self._keys[old] = data
        else:
            self._keys[name] = data

    def get_key(self, name) -> CMPIData:
        name = _charp(name, "CMPIObjectPath_get_key", allow_none=False)
        k = self._find(name)
        if k is None:  # "key not found is ok, will return NULL"
            return CMPIData._make(CMPI_null, CMPI_notFound | CMPI_nullValue)
        d = self._keys[k]
        return CMPIData._make(d.type, d.state, d._val)

    def get_key_at(self, index):
        if not isinstance(index, int) or not 0 <= index < len(self._keys):
            _raise(CMPI_RC_ERR_NO_SUCH_PROPERTY, f"key index {index} out of bounds")
        name = list(self._keys)[index]
        return (_data_data(self._keys[name]), _target_string(name))

    def key_count(self) -> int:
        return len(self._keys)

    def keys(self):
        for i in range(self.key_count()):
            yield self.get_key_at(i)

    def replace_from(self, src) -> None:
        _check_type(src, CMPIObjectPath, "CMPIObjectPath_replace_from", allow_none=False)
        self._ns, self._cn = src._ns, src._cn

    def replace_all_from(self, src) -> None:
        _check_type(src, CMPIObjectPath, "CMPIObjectPath_replace_all_from", allow_none=False)
        self._ns, self._cn, self._host = src._ns, src._cn, src._host

    def qualifier(self, qname):
        _raise(CMPI_RC_ERR_NOT_SUPPORTED, "qualifiers are not supported by the double")

    property_qualifier = method_qualifier = parameter_qualifier = qualifier

    def namespace(self) -> str:
        return self._ns or ""

    def set_namespace(self, nm) -> None:
        self._ns = _charp(nm, "CMPIObjectPath_set_namespace")

    def set_hostname(self, hostname) -> None:
        self._host = _charp(hostname, "CMPIObjectPath_set_hostname")

    def hostname(self) -> str:
        return self._host or ""

    def set_classname(self, classname) -> None:
        self._cn = _charp(classname, "CMPIObjectPath_set_classname")

    def classname(self) -> str:
        return self._cn or ""

    # double-only
    def _keys_dict(self) -> dict:
        return {k: _plain(v) for k, v in self._keys.items()}

    def __repr__(self) -> str:
        return f"<cmpi.CMPIObjectPath {self}>"


# --------------------------------------------------------------------------------------
# CMPIInstance
# --------------------------------------------------------------------------------------
class CMPIInstance(_Handle):
    def __init__(self, broker, path):
        _Handle.__init__(self)
        _check_type(broker, CMPIBroker, "new_CMPIInstance", allow_none=False)
        _check_type(path, CMPIObjectPath, "new_CMPIInstance", allow_none=False)
        broker._check_thread("CMNewInstance")
        self._init(path)

    def _init(self, path: CMPIObjectPath) -> None:
        self._path = path._copy()
        self._props: dict[str, CMPIData] = {}
        self._filter: list[str] | None = None

    @classmethod
    def _make(cls, path: CMPIObjectPath) -> CMPIInstance:
        i = cls.__new__(cls)
        _Handle.__init__(i)
        i._init(path)
        return i

    def _copy(self) -> CMPIInstance:
        i = CMPIInstance._make(self._path)
        i._props = {k: _copy_data(v) for k, v in self._props.items()}
        return i

    def _find(self, name: str) -> str | None:
        for k in self._props:
            if k.lower() == name.lower():
                return k
        return None

    def set_property(self, name, value, type) -> None:  # noqa: A002
        name = _charp(name, "CMPIInstance_set_property", allow_none=False)
        val = _unwrap_value(value, "CMPIInstance_set_property")
        type = _ctype(type, "CMPIInstance_set_property")  # noqa: A001
        if self._filter is not None and name.lower() not in self._filter:
            return  # CMSetPropertyFilter: setProperty for other names is ignored
        data = _materialize(val, type)
        old = self._find(name)
        self._props[old if old is not None else name] = data

    def get_property(self, name) -> CMPIData:
        name = _charp(name, "CMPIInstance_get_property", allow_none=False)
        k = self._find(name)
        if k is None:
            _raise(CMPI_RC_ERR_NO_SUCH_PROPERTY, f"no property {name}")
        d = self._props[k]
        return CMPIData._make(d.type, d.state, d._val)

    def get_property_at(self, index):
        if not isinstance(index, int) or not 0 <= index < len(self._props):
            _raise(CMPI_RC_ERR_NO_SUCH_PROPERTY, f"property index {index} out of bounds")
        name = list(self._props)[index]
        return (_data_data(self._props[name]), _target_string(name))

    def property_count(self) -> int:
        return len(self._props)

    def objectpath(self) -> CMPIObjectPath:
        return self._path._copy()

    def set_objectpath(self, path) -> None:
        _check_type(path, CMPIObjectPath, "CMPIInstance_set_objectpath", allow_none=False)
        self._path = path._copy()

    def set_property_filter(self, properties) -> None:
        props = _charpp(properties, "CMPIInstance_set_property_filter")
        # swig/cmpi_types.i clones the list (NULL clones to an empty one) and adds the
        # key names (OpenPegasus insists on them): None filters down to the keys.
        names = [p.lower() for p in props or ()] + [k.lower() for k in self._path._keys]
        self._filter = names

    def set_property_with_origin(self, name, value, type, origin) -> None:  # noqa: A002
        _charp(origin, "CMPIInstance_set_property_with_origin")
        self.set_property(name, value, type)

    # double-only
    def _as_dict(self) -> dict:
        return {k: _plain(v) for k, v in self._props.items()}

    def __repr__(self) -> str:
        return f"<cmpi.CMPIInstance {self._path}>"


def _plain(d: CMPIData):
    """Double-only plain-Python rendering of a stored datum (test oracle)."""
    if d.state & CMPI_nullValue or d.type == CMPI_null:
        return None
    if d.type & CMPI_ARRAY:
        arr = d._val._get("array")
        return [_plain(e) for e in arr._elems]
    if d.type == CMPI_string:
        return str(d._val._get("string"))
    if d.type == CMPI_ref:
        return d._val._get("ref")._copy()
    if d.type == CMPI_instance:
        return d._val._get("inst")._copy()
    if d.type == CMPI_dateTime:
        return str(d._val._get("dateTime"))
    if d.type == CMPI_boolean:
        return bool(d._val._get("boolean"))
    return d._val._get(MEMBER_FOR_TYPE[d.type])


# --------------------------------------------------------------------------------------
# CMPIArgs / CMPIContext / CMPIResult / CMPIEnumeration / CMPISelectExp / CMPIStatus
# --------------------------------------------------------------------------------------
class _NamedData(_Handle):
    def _init_named(self) -> None:
        self._items: dict[str, CMPIData] = {}

    def _set(self, name: str, val, ctype: int) -> None:
        data = _materialize(val, ctype)
        for k in self._items:
            if k.lower() == name.lower():
                self._items[k] = data
                return
        self._items[name] = data

    def _get_named(self, name: str) -> CMPIData | None:
        for k, v in self._items.items():
            if k.lower() == name.lower():
                return CMPIData._make(v.type, v.state, v._val)
        return None


class CMPIArgs(_NamedData):
    def __init__(self, *a, **k):
        raise AttributeError("No constructor defined")

    @classmethod
    def _make(cls, py_owned: bool = False) -> CMPIArgs:
        a = cls.__new__(cls)
        _Handle.__init__(a)
        a._init_named()
        a._py_owned = py_owned
        return a

    def _copy(self) -> CMPIArgs:
        a = CMPIArgs._make()
        a._items = {k: _copy_data(v) for k, v in self._items.items()}
        return a

    def set(self, name, value, type) -> None:  # noqa: A002
        name = _charp(name, "CMPIArgs_set", allow_none=False)
        self._set(name, _unwrap_value(value, "CMPIArgs_set"), _ctype(type, "CMPIArgs_set"))

    def get(self, name) -> CMPIData:
        name = _charp(name, "CMPIArgs_get", allow_none=False)
        d = self._get_named(name)
        if d is None:
            _raise(CMPI_RC_ERR_NOT_FOUND, f"no argument {name}")
        return d

    def get_arg_at(self, index):
        if not isinstance(index, int) or not 0 <= index < len(self._items):
            _raise(CMPI_RC_ERR_NO_SUCH_PROPERTY, f"argument index {index} out of bounds")
        name = list(self._items)[index]
        return (_data_data(self._items[name]), _target_string(name))

    def arg_count(self) -> int:
        return len(self._items)

    def _as_dict(self) -> dict:
        return {k: _plain(v) for k, v in self._items.items()}


class CMPIContext(_NamedData):
    def __init__(self, *a, **k):
        raise AttributeError("No constructor defined")

    @classmethod
    def _make(cls) -> CMPIContext:
        c = cls.__new__(cls)
        _Handle.__init__(c)
        c._init_named()
        c._prepared_by: CMPIBroker | None = None
        return c

    def _copy(self) -> CMPIContext:
        c = CMPIContext._make()
        c._items = {k: _copy_data(v) for k, v in self._items.items()}
        return c

    def add_entry(self, name, data, type) -> None:  # noqa: A002
        name = _charp(name, "CMPIContext_add_entry", allow_none=False)
        self._set(
            name,
            _unwrap_value(data, "CMPIContext_add_entry"),
            _ctype(type, "CMPIContext_add_entry"),
        )

    def get_entry(self, name) -> CMPIData:
        name = _charp(name, "CMPIContext_get_entry", allow_none=False)
        d = self._get_named(name)
        if d is None:
            _raise(CMPI_RC_ERR_NO_SUCH_PROPERTY, f"no context entry {name}")
        return d

    def get_entry_at(self, index):
        if not isinstance(index, int) or not 0 <= index < len(self._items):
            _raise(CMPI_RC_ERR_NO_SUCH_PROPERTY, f"context index {index} out of bounds")
        name = list(self._items)[index]
        return (_target_string(name), _data_data(self._items[name]))

    def get_entry_count(self) -> int:
        return len(self._items)


class CMPIResult(_Handle):
    def __init__(self, *a, **k):
        raise AttributeError("No constructor defined")

    @classmethod
    def _make(cls, broker: CMPIBroker | None = None) -> CMPIResult:
        r = cls.__new__(cls)
        _Handle.__init__(r)
        r._broker = broker
        r._instances: list[CMPIInstance] = []
        r._paths: list[CMPIObjectPath] = []
        r._data: list[CMPIData] = []
        r._done = 0
        return r

    def _check(self, what: str) -> None:
        if self._broker is not None:
            self._broker._check_thread(what)

    def return_instance(self, instance_disown) -> None:
        _check_type(instance_disown, CMPIInstance, "CMPIResult_return_instance", allow_none=False)
        self._check("CMReturnInstance")
        instance_disown._disowned = True
        self._instances.append(instance_disown._copy())

    def return_objectpath(self, path_disown) -> None:
        _check_type(path_disown, CMPIObjectPath, "CMPIResult_return_objectpath", allow_none=False)
        self._check("CMReturnObjectPath")
        path_disown._disowned = True
        self._paths.append(path_disown._copy())

    def return_data(self, value, type) -> None:  # noqa: A002
        val = _unwrap_value(value, "CMPIResult_return_data")
        self._check("CMReturnData")
        self._data.append(_materialize(val, _ctype(type, "CMPIResult_return_data")))

    def done(self) -> None:
        self._check("CMReturnDone")
        self._done += 1


class CMPIEnumeration(_Handle):
    def __init__(self, *a, **k):
        raise AttributeError("No constructor defined")

    @classmethod
    def _make(cls, items: list[CMPIData]) -> CMPIEnumeration:
        e = cls.__new__(cls)
        _Handle.__init__(e)
        e._items = list(items)
        e._pos = 0
        e._py_owned = True
        return e

    def next(self) -> CMPIData:
        if self._pos >= len(self._items):
            _raise(CMPI_RC_NO_MORE_ELEMENTS, "no more elements")
        d = self._items[self._pos]
        self._pos += 1
        return CMPIData._make(d.type, d.state, d._val)

    def hasNext(self) -> int:  # noqa: N802
        return int(self._pos < len(self._items))

    def toArray(self) -> CMPIArray:  # noqa: N802
        t = self._items[0].type if self._items else CMPI_null
        a = CMPIArray._make(len(self._items), t)
        a._elems = [_copy_data(d) for d in self._items]
        return a


class CMPISelectExp(_Handle):
    def __init__(self, broker, query, language, keys=None):
        _Handle.__init__(self)
        _check_type(broker, CMPIBroker, "new_CMPISelectExp", allow_none=False)
        self._query = _charp(query, "new_CMPISelectExp", allow_none=False)
        self._lang = _charp(language, "new_CMPISelectExp", allow_none=False)
        self._keys = _charpp(keys, "new_CMPISelectExp")

    def match(self, instance) -> int:
        _raise(CMPI_RC_ERR_NOT_SUPPORTED, "the double does not evaluate queries")

    def filter(self):
        """``char **filter()``: no Python out-typemap for char **, so an opaque pointer."""
        return SwigPyObject("char **", self._keys)

    def __str__(self) -> str:
        return self._query


class CMPIStatus:
    def __init__(self, rc: int = CMPI_RC_OK, msg: str | None = None):
        self._rc = rc
        self._msg = msg

    def rc(self) -> int:
        return self._rc

    def msg(self) -> str | None:
        return self._msg

    def is_ok(self) -> int:
        return int(self._rc == CMPI_RC_OK)

    def __repr__(self) -> str:
        return f"<cmpi.CMPIStatus rc={self._rc} msg={self._msg!r}>"


class CMPIError:
    def __init__(self, *a, **k):
        raise AttributeError("No constructor defined")


# --------------------------------------------------------------------------------------
# CMPIBroker (swig/cmpi_callbacks.i)
# --------------------------------------------------------------------------------------
class CMPIBroker:
    def __init__(self, name: str = "vrmgmt-test-MB", version: int = 200):
        """Double-only constructor (the real broker comes from the CIMOM)."""
        self._name = name
        self._version = version
        self._classes: dict[str, str | None] = {}
        self._router = None
        self._mb_threads: dict[int, int] = {}
        self._attached: dict[int, CMPIContext] = {}
        self._lock = threading.RLock()
        self.indications: list[tuple[str, CMPIInstance, CMPIContext]] = []
        self.log: list[tuple[int, str, str]] = []
        self.violations: list[str] = []

    def __eq__(self, other) -> bool:
        return self is other

    def __ne__(self, other) -> bool:
        return self is not other

    __hash__ = object.__hash__

    # -- double-only MB controls --------------------------------------------------------
    @contextlib.contextmanager
    def _as_mb(self):
        """Mark the current thread as one the MB is using (an MI call in progress)."""
        tid = threading.get_ident()
        with self._lock:
            self._mb_threads[tid] = self._mb_threads.get(tid, 0) + 1
        try:
            yield
        finally:
            with self._lock:
                self._mb_threads[tid] -= 1
                if not self._mb_threads[tid]:
                    del self._mb_threads[tid]

    def _check_thread(self, what: str) -> None:
        tid = threading.get_ident()
        with self._lock:
            ok = tid in self._mb_threads or tid in self._attached
        if not ok:
            msg = (
                f"{what} called from thread {threading.current_thread().name}, which is "
                "neither running an MI call nor attached with attachThread()"
            )
            self.violations.append(msg)
            _raise(CMPI_RC_ERR_FAILED, msg)

    def _route(self, op: str, *args):
        if self._router is None:
            _raise(CMPI_RC_ERR_NOT_SUPPORTED, f"no MB router for {op}")
        return self._router.upcall(op, *args)

    # -- logging / info -----------------------------------------------------------------
    def LogMessage(self, severity, id, text) -> None:  # noqa: N802, A002
        self._check_thread("CMLogMessage")
        self.log.append((int(severity), _charp(id, "LogMessage"), _charp(text, "LogMessage")))

    def TraceMessage(self, level, component, text) -> None:  # noqa: N802
        self._check_thread("CMTraceMessage")
        self.log.append(
            (int(level), _charp(component, "TraceMessage"), _charp(text, "TraceMessage"))
        )

    def version(self) -> int:
        return self._version

    def name(self) -> str:
        return self._name

    def classPathIsA(self, op, parent_class) -> bool:  # noqa: N802
        _check_type(op, CMPIObjectPath, "CMPIBroker_classPathIsA", allow_none=False)
        parent = _charp(parent_class, "CMPIBroker_classPathIsA", allow_none=False)
        self._check_thread("CMClassPathIsA")
        cls: str | None = op.classname()
        seen = 0
        while cls is not None and seen < 64:
            if cls.lower() == parent.lower():
                return True
            cls = next((v for k, v in self._classes.items() if k.lower() == cls.lower()), None)
            seen += 1
        return False

    # -- indications and threads --------------------------------------------------------
    def _check_not_freed(self, ctx, what: str) -> None:
        """detachThread frees its context (cmpift.h: "The Context object will be freed
        during this operation"; SFCB's brokerUpc.c releases it): using it again reads
        freed memory - in SFCB's provider process a SIGSEGV."""
        if getattr(ctx, "_freed", False):
            msg = f"{what} with a context freed by detachThread"
            self.violations.append(msg)
            raise UseAfterFree(msg)

    def deliverIndication(self, ctx, ns, ind) -> None:  # noqa: N802
        _check_type(ctx, CMPIContext, "CMPIBroker_deliverIndication", allow_none=False)
        self._check_not_freed(ctx, "CBDeliverIndication")
        ns = _charp(ns, "CMPIBroker_deliverIndication")
        _check_type(ind, CMPIInstance, "CMPIBroker_deliverIndication", allow_none=False)
        self._check_thread("CBDeliverIndication")
        if self.name() == "RequestHandler" and not ind.objectpath().namespace():
            # SFCB 1.3.16 (brokerUpc.c): CMGetObjectPath(ind) of a keyless instance looks
            # its class up in the path's namespace; without one it is NULL, and
            # CMClassPathIsA(NULL) crashes the provider process
            msg = "SFCB deliverIndication of an instance without a namespace (SIGSEGV)"
            self.violations.append(msg)
            _raise(CMPI_RC_ERR_FAILED, msg)
        tid = threading.get_ident()
        if tid in self._attached and self._attached[tid] is not ctx:
            self.violations.append("deliverIndication with a context other than the attached one")
        self.indications.append((ns, ind._copy(), ctx))

    def prepareAttachThread(self, ctx) -> CMPIContext:  # noqa: N802
        _check_type(ctx, CMPIContext, "CMPIBroker_prepareAttachThread", allow_none=False)
        self._check_not_freed(ctx, "CBPrepareAttachThread")
        self._check_thread("CBPrepareAttachThread")
        new = ctx._copy()
        new._prepared_by = self
        return new

    def attachThread(self, ctx) -> None:  # noqa: N802
        _check_type(ctx, CMPIContext, "CMPIBroker_attachThread", allow_none=False)
        self._check_not_freed(ctx, "CBAttachThread")
        if getattr(ctx, "_prepared_by", None) is not self:
            self.violations.append("attachThread with a context not from prepareAttachThread")
            _raise(CMPI_RC_ERR_INVALID_HANDLE, "context was not prepared for attaching")
        tid = threading.get_ident()
        with self._lock:
            if tid in self._attached:
                self.violations.append("attachThread on an already attached thread")
            self._attached[tid] = ctx

    def detachThread(self, ctx) -> None:  # noqa: N802
        _check_type(ctx, CMPIContext, "CMPIBroker_detachThread", allow_none=False)
        self._check_not_freed(ctx, "CBDetachThread")
        tid = threading.get_ident()
        with self._lock:
            if self._attached.get(tid) is not ctx:
                self.violations.append("detachThread on a thread not attached with this context")
                _raise(CMPI_RC_ERR_INVALID_HANDLE, "thread is not attached with this context")
            del self._attached[tid]
        ctx._freed = True

    # -- up-calls (CBxxx) ------------------------------------------------------------------
    def _upcall_checks(self, what, ctx, op) -> None:
        _check_type(ctx, CMPIContext, what, allow_none=False)
        _check_type(op, CMPIObjectPath, what, allow_none=False)
        self._check_thread(what)

    def enumInstanceNames(self, ctx, op) -> CMPIEnumeration:  # noqa: N802
        self._upcall_checks("CBEnumInstanceNames", ctx, op)
        return self._enum(self._route("enum_instance_names", ctx, op), CMPI_ref)

    def enumInstances(self, ctx, op, properties) -> CMPIEnumeration:  # noqa: N802
        self._upcall_checks("CBEnumInstances", ctx, op)
        props = _charpp(properties, "CMPIBroker_enumInstances")
        return self._enum(self._route("enum_instances", ctx, op, props), CMPI_instance)

    def getInstance(self, ctx, op, properties) -> CMPIInstance:  # noqa: N802
        self._upcall_checks("CBGetInstance", ctx, op)
        props = _charpp(properties, "CMPIBroker_getInstance")
        found = self._route("get_instance", ctx, op, props)
        if not found:
            _raise(CMPI_RC_ERR_NOT_FOUND, f"no instance {op}")
        return found[0]

    def createInstance(self, ctx, op, inst) -> CMPIObjectPath:  # noqa: N802
        self._upcall_checks("CBCreateInstance", ctx, op)
        _check_type(inst, CMPIInstance, "CBCreateInstance", allow_none=False)
        return self._route("create_instance", ctx, op, inst)[0]

    def modifyInstance(self, ctx, op, inst, properties) -> None:  # noqa: N802
        self._upcall_checks("CBModifyInstance", ctx, op)
        _check_type(inst, CMPIInstance, "CBModifyInstance", allow_none=False)
        self._route("set_instance", ctx, op, inst, _charpp(properties, "CBModifyInstance"))

    def deleteInstance(self, ctx, op) -> None:  # noqa: N802
        self._upcall_checks("CBDeleteInstance", ctx, op)
        self._route("delete_instance", ctx, op)

    def execQuery(self, ctx, op, query, lang) -> CMPIEnumeration:  # noqa: N802
        self._upcall_checks("CBExecQuery", ctx, op)
        return self._enum(
            self._route(
                "exec_query", ctx, op, _charp(query, "CBExecQuery"), _charp(lang, "CBExecQuery")
            ),
            CMPI_instance,
        )

    def associators(
        self,
        ctx,
        op,
        assocClass,
        resultClass,
        role,
        resultRole,  # noqa: N803
        properties,
    ) -> CMPIEnumeration:
        self._upcall_checks("CBAssociators", ctx, op)
        args = [_charp(x, "CBAssociators") for x in (assocClass, resultClass, role, resultRole)]
        props = _charpp(properties, "CBAssociators")
        return self._enum(self._route("associators", ctx, op, *args, props), CMPI_instance)

    def associatorNames(
        self,
        ctx,
        op,
        assocClass,
        resultClass,
        role,  # noqa: N802, N803
        resultRole,
    ) -> CMPIEnumeration:
        self._upcall_checks("CBAssociatorNames", ctx, op)
        args = [_charp(x, "CBAssociatorNames") for x in (assocClass, resultClass, role, resultRole)]
        return self._enum(self._route("associator_names", ctx, op, *args), CMPI_ref)

    def references(self, ctx, op, resultClass, role, properties) -> CMPIEnumeration:  # noqa: N803
        self._upcall_checks("CBReferences", ctx, op)
        args = [_charp(x, "CBReferences") for x in (resultClass, role)]
        props = _charpp(properties, "CBReferences")
        return self._enum(self._route("references", ctx, op, *args, props), CMPI_instance)

    def referenceNames(self, ctx, op, resultClass, role) -> CMPIEnumeration:  # noqa: N802, N803
        self._upcall_checks("CBReferenceNames", ctx, op)
        args = [_charp(x, "CBReferenceNames") for x in (resultClass, role)]
        return self._enum(self._route("reference_names", ctx, op, *args), CMPI_ref)

    def invokeMethod(self, ctx, op, method, _in, out) -> CMPIData:  # noqa: N802
        self._upcall_checks("CBInvokeMethod", ctx, op)
        method = _charp(method, "CBInvokeMethod", allow_none=False)
        _check_type(_in, CMPIArgs, "CBInvokeMethod")
        _check_type(out, CMPIArgs, "CBInvokeMethod")
        data = self._route("invoke_method", ctx, op, method, _in, out)
        return data[0] if data else CMPIData._make(CMPI_null, CMPI_nullValue)

    def setProperty(self, ctx, op, name, value, type) -> None:  # noqa: N802, A002
        self._upcall_checks("CBSetProperty", ctx, op)
        _raise(CMPI_RC_ERR_NOT_SUPPORTED, "CBSetProperty is not supported by the double")

    def getProperty(self, ctx, op, name) -> CMPIData:  # noqa: N802
        self._upcall_checks("CBGetProperty", ctx, op)
        _raise(CMPI_RC_ERR_NOT_SUPPORTED, "CBGetProperty is not supported by the double")

    @staticmethod
    def _enum(items, kind: int) -> CMPIEnumeration:
        datas = []
        for obj in items:
            v = CMPIValue()
            if kind == CMPI_ref:
                v.ref = obj
            else:
                v.inst = obj
            datas.append(CMPIData._make(kind, CMPI_goodValue, v))
        return CMPIEnumeration._make(datas)

    # -- factories ----------------------------------------------------------------------
    def new_object_path(self, ns, cname) -> CMPIObjectPath:
        ns = _charp(ns, "CMPIBroker_new_object_path")
        cname = _charp(cname, "CMPIBroker_new_object_path")
        self._check_thread("CMNewObjectPath")
        return CMPIObjectPath._make(ns, cname)

    def new_instance(self, path, allow_null_ns) -> CMPIInstance:
        _check_type(path, CMPIObjectPath, "CMPIBroker_new_instance", allow_none=False)
        if not isinstance(allow_null_ns, int):
            raise TypeError("in method 'CMPIBroker_new_instance', argument 3 of type 'int'")
        self._check_thread("CMNewInstance")
        if not allow_null_ns and not path.namespace():
            _raise(CMPI_RC_ERR_FAILED, "object path has no namespace")
        return CMPIInstance._make(path)

    def new_args(self) -> CMPIArgs:
        self._check_thread("CMNewArgs")
        return CMPIArgs._make(py_owned=True)

    def new_datetime(self) -> CMPIDateTime:
        self._check_thread("CMNewDateTime")
        return CMPIDateTime._make(pywbem.CIMDateTime.now(), py_owned=True)

    def new_datetime_from_uint64(self, bintime, interval=0) -> CMPIDateTime:
        if not isinstance(bintime, int) or not 0 <= bintime <= 0xFFFFFFFFFFFFFFFF:
            raise OverflowError("in method 'CMPIBroker_new_datetime_from_uint64', uint64_t")
        self._check_thread("CMNewDateTimeFromBinary")
        if interval:
            cim = pywbem.CIMDateTime(_dt.timedelta(microseconds=bintime))
        else:
            epoch = _dt.datetime(1970, 1, 1, tzinfo=_dt.UTC)
            cim = pywbem.CIMDateTime(epoch + _dt.timedelta(microseconds=bintime))
        return CMPIDateTime._make(cim, py_owned=True)

    def new_datetime_from_string(self, utc) -> CMPIDateTime:
        utc = _charp(utc, "CMPIBroker_new_datetime_from_string", allow_none=False)
        self._check_thread("CMNewDateTimeFromChars")
        try:
            cim = pywbem.CIMDateTime(utc)
        except ValueError as exc:
            _raise(CMPI_RC_ERR_INVALID_PARAMETER, f"bad datetime {utc!r}: {exc}")
        return CMPIDateTime._make(cim, py_owned=True)

    def new_string(self, s) -> CMPIString:
        s = _charp(s, "CMPIBroker_new_string")
        self._check_thread("CMNewString")
        return CMPIString._make(s, py_owned=True)

    def new_array(self, count, type) -> CMPIArray:  # noqa: A002
        if not isinstance(count, int) or count < 0:
            raise TypeError("in method 'CMPIBroker_new_array', argument 2 of type 'int'")
        type = _ctype(type, "CMPIBroker_new_array")  # noqa: A001
        self._check_thread("CMNewArray")
        if type & CMPI_ARRAY:
            # CMNewArray takes the element type; SFCB strips the flag, so does the double
            type &= ~CMPI_ARRAY  # noqa: A001
        return CMPIArray._make(count, type, py_owned=True)

    def new_select_exp(self, query, lang, projection=None) -> CMPISelectExp:
        self._check_thread("CMNewSelectExp")
        return CMPISelectExp(self, query, lang)

    def new_error(self, *args):
        _raise(CMPI_RC_ERR_NOT_SUPPORTED, "CMPIError is not supported by the double")

    def bummer(self) -> None:
        _raise(CMPI_RC_ERR_FAILED, "Bummer! I didn't see that coming")

    def __repr__(self) -> str:
        return f"<cmpi.CMPIBroker {self._name}>"
