"""The cmpi test double itself: its constants and behaviours are those of cmpidt.h and
cmpi-bindings' interface files, so that adapter tests against it mean something."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent / "cmpi_double"))

import cmpi  # noqa: E402
import cmpi_mb  # noqa: E402
import pytest  # noqa: E402


def test_constants_are_those_of_cmpidt_h():
    assert (cmpi.CMPI_boolean, cmpi.CMPI_char16) == (2, 3)
    assert (cmpi.CMPI_real32, cmpi.CMPI_real64) == (8, 12)
    assert [cmpi.CMPI_uint8, cmpi.CMPI_uint16, cmpi.CMPI_uint32, cmpi.CMPI_uint64] == [
        128,
        144,
        160,
        176,
    ]
    assert [cmpi.CMPI_sint8, cmpi.CMPI_sint16, cmpi.CMPI_sint32, cmpi.CMPI_sint64] == [
        192,
        208,
        224,
        240,
    ]
    assert (
        cmpi.CMPI_instance,
        cmpi.CMPI_ref,
        cmpi.CMPI_string,
        cmpi.CMPI_chars,
        cmpi.CMPI_dateTime,
    ) == (4096, 4352, 5632, 5888, 6144)
    assert cmpi.CMPI_ARRAY == 8192 and cmpi.CMPI_uint16A == 8192 + 144
    assert (cmpi.CMPI_nullValue, cmpi.CMPI_keyValue, cmpi.CMPI_notFound, cmpi.CMPI_badValue) == (
        256,
        512,
        1024,
        32768,
    )
    assert (
        cmpi.CMPI_RC_ERR_FAILED,
        cmpi.CMPI_RC_ERR_NOT_FOUND,
        cmpi.CMPI_RC_ERR_NOT_SUPPORTED,
        cmpi.CMPI_RC_ERR_METHOD_NOT_FOUND,
        cmpi.CMPI_RC_DO_NOT_UNLOAD,
    ) == (1, 6, 7, 17, 50)


def test_target_call_interprets_returns_like_target_python_c():
    class P:
        def a(self):
            return (0, None)

        def b(self):
            return (6, b"gone")

        def c(self):
            return (6, "gone")  # str: refused by the Python 3 bindings

        def d(self):
            return [0, None]

        def e(self):
            raise ValueError("x")

        def f(self):
            return (0,)

        g = 5

    esc: list = []
    call = cmpi_mb.target_call
    assert call(P(), "a", (), esc) == cmpi_mb.Status(0, "")
    assert call(P(), "b", (), esc) == cmpi_mb.Status(6, "gone")
    assert call(P(), "c", (), esc).msg.endswith("didn't return a {<int>, <str>) two-tuple")
    assert call(P(), "d", (), esc).msg.endswith("didn't return a two-tuple")
    assert call(P(), "e", (), esc) == cmpi_mb.Status(1, "can't import StringIO")
    assert call(P(), "f", (), esc) == cmpi_mb.Status(0, "")
    assert "does not contain" in call(P(), "zz", (), esc).msg
    assert "is not callable" in call(P(), "g", (), esc).msg
    assert [type(e.exc) for e in esc] == [ValueError]


def test_charpp_typemap_takes_bytes_only():
    """swig/cmpi_defs.i: PyString_Check is PyBytes_Check on Python 3."""
    b = cmpi.CMPIBroker()
    with b._as_mb():
        path = b.new_object_path("root/x", "C")
        v = cmpi.CMPIValue()
        v.uint8 = 1
        path.add_key("K", v, cmpi.CMPI_uint8)
        inst = b.new_instance(path, 0)
        with pytest.raises(TypeError, match="^list contains non-string$"):
            inst.set_property_filter(["A"])
        with pytest.raises(TypeError, match="^list contains non-string$"):
            b.getInstance(cmpi.CMPIContext._make(), path, ["A"])
        inst.set_property_filter([b"A"])
        for name in ("A", "B", "K"):
            inst.set_property(name, v, cmpi.CMPI_uint8)
        assert sorted(inst._as_dict()) == ["A", "K"]  # keys are added to the filter
        inst2 = b.new_instance(path, 0)
        inst2.set_property_filter(None)  # NULL is cloned to an empty list + the keys
        inst2.set_property("A", v, cmpi.CMPI_uint8)
        inst2.set_property("K", v, cmpi.CMPI_uint8)
        assert sorted(inst2._as_dict()) == ["K"]


def test_swig_argument_checks():
    b = cmpi.CMPIBroker()
    with b._as_mb():
        inst = b.new_instance(b.new_object_path("root/x", "C"), 0)
        with pytest.raises(TypeError, match="expected list argument"):
            inst.set_property_filter((b"A",))  # char** typemap wants a list
        v = cmpi.CMPIValue()
        with pytest.raises(OverflowError):
            v.uint8 = 256
        with pytest.raises(TypeError):
            v.string = "not a CMPIString"
        with pytest.raises(AttributeError):
            v.nosuchmember = 1
        with pytest.raises(cmpi.CMPIException) as err:
            b.new_instance(b.new_object_path(None, "C"), 0)
        assert err.value.get_error_code() == cmpi.CMPI_RC_ERR_FAILED
        arr = b.new_array(2, cmpi.CMPI_uint16)
        v.uint32 = 1
        with pytest.raises(cmpi.CMPIException) as err:
            arr.set(0, v, cmpi.CMPI_uint32)
        assert err.value.get_error_code() == cmpi.CMPI_RC_ERR_TYPE_MISMATCH


def test_tuple_orders_and_data_value_quirks():
    b = cmpi.CMPIBroker()
    with b._as_mb():
        ctx = cmpi.CMPIContext._make()
        v = cmpi.CMPIValue()
        v.real64 = 1.5
        ctx.add_entry("r", v, cmpi.CMPI_real64)
        name, data = ctx.get_entry_at(0)  # context: (name, data)
        assert name == "r" and data._value() is None  # Target_Real is Py_None
        args = b.new_args()
        args.set("r", v, cmpi.CMPI_real64)
        data, name = args.get_arg_at(0)  # args, keys, properties: (data, name)
        assert name == "r" and data.value.real64 == 1.5
        dt = b.new_datetime()
        v.dateTime = dt
        args.set("d", v, cmpi.CMPI_dateTime)
        with pytest.raises(RuntimeError):
            args.get("d")._value()
        with pytest.raises(cmpi.CMPIException):
            ctx.get_entry("missing")
