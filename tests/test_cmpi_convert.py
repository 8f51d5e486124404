"""vrmgmt.cmpi.convert against the cmpi test double: every CIM type, arrays, NULLs,
references, embedded instances and datetimes round-trip pywbem -> CMPI -> pywbem, and
the CMPI side holds the right CMPIType; the lifetime rules of the real bindings hold."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent / "cmpi_double"))

import cmpi  # noqa: E402
import pytest  # noqa: E402
from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402
from pywbem import (  # noqa: E402
    Char16,
    CIMDateTime,
    CIMInstance,
    CIMInstanceName,
    CIMParameter,
    CIMProperty,
    Real32,
    Real64,
    Sint8,
    Sint16,
    Sint32,
    Sint64,
    Uint8,
    Uint16,
    Uint32,
    Uint64,
)

from vrmgmt.cmpi.convert import Converter, broker_fn, infer_cim_type  # noqa: E402

NS = "root/virt"
INT_TYPES = {
    "uint8": (Uint8, 0, 2**8 - 1, cmpi.CMPI_uint8),
    "uint16": (Uint16, 0, 2**16 - 1, cmpi.CMPI_uint16),
    "uint32": (Uint32, 0, 2**32 - 1, cmpi.CMPI_uint32),
    "uint64": (Uint64, 0, 2**64 - 1, cmpi.CMPI_uint64),
    "sint8": (Sint8, -(2**7), 2**7 - 1, cmpi.CMPI_sint8),
    "sint16": (Sint16, -(2**15), 2**15 - 1, cmpi.CMPI_sint16),
    "sint32": (Sint32, -(2**31), 2**31 - 1, cmpi.CMPI_sint32),
    "sint64": (Sint64, -(2**63), 2**63 - 1, cmpi.CMPI_sint64),
}
DATETIMES = [
    "20080623144759.823564-360",  # timestamp with UTC offset
    "19000101000000.000000+000",  # before the epoch (CMPI's binary form cannot hold it)
    "20991231235959.999999+720",
    "00000001020304.000005:000",  # interval
    "99999999235959.999999:000",  # largest interval
]


@pytest.fixture
def broker():
    b = cmpi.CMPIBroker()
    with b._as_mb():  # converters run inside MI calls
        yield b
    assert not b.violations


@pytest.fixture
def conv(broker):
    return Converter(broker, cmpi)


def roundtrip(conv: Converter, inst: CIMInstance) -> tuple[CIMInstance, cmpi.CMPIInstance]:
    ci = conv.instance_to_cmpi(inst, NS)
    return conv.instance_from_cmpi(ci, NS), ci


def vm_name(uuid="u-1", ns=NS):
    return CIMInstanceName(
        "VRM_ComputerSystem",
        keybindings={"CreationClassName": "VRM_ComputerSystem", "Name": uuid},
        namespace=ns,
    )


# -- integers ---------------------------------------------------------------------------
@pytest.mark.parametrize("tname", sorted(INT_TYPES))
def test_integer_types_roundtrip_with_cmpi_type(conv, tname):
    cls, lo, hi, ctype = INT_TYPES[tname]
    inst = CIMInstance(
        "T",
        properties=[
            CIMProperty("lo", cls(lo)),
            CIMProperty("hi", cls(hi)),
            CIMProperty("arr", [cls(lo), None, cls(hi)], type=tname, is_array=True),
            CIMProperty("null", None, type=tname),
            CIMProperty("nullarr", None, type=tname, is_array=True),
            CIMProperty("empty", [], type=tname, is_array=True),
        ],
        path=vm_name(),
    )
    back, ci = roundtrip(conv, inst)
    assert ci._props["lo"].type == ctype
    assert ci._props["arr"].type == ctype | cmpi.CMPI_ARRAY
    assert ci._props["null"].state & cmpi.CMPI_nullValue
    for name in ("lo", "hi"):
        assert type(back[name]) is cls and back[name] == inst[name]
    assert back["arr"] == [lo, None, hi] and type(back["arr"][0]) is cls
    assert back.properties["arr"].is_array and back.properties["arr"].type == tname
    assert back["null"] is None and back.properties["null"].type == tname
    assert back["nullarr"] is None and back.properties["nullarr"].is_array
    assert back["empty"] == []


@settings(max_examples=60, deadline=None)
@given(data=st.data(), tname=st.sampled_from(sorted(INT_TYPES)))
def test_integer_values_roundtrip(data, tname):
    cls, lo, hi, _ = INT_TYPES[tname]
    value = data.draw(st.integers(lo, hi))
    b = cmpi.CMPIBroker()
    with b._as_mb():
        conv = Converter(b, cmpi)
        cv, ctype, keep = conv.value_to_cmpi(cls(value))
        back = conv.data_to_pywbem(cmpi.CMPIData._make(ctype, 0, cv))[0]
    assert back == value and type(back) is cls


def test_plain_int_takes_the_requested_default_type(conv):
    assert conv.value_to_cmpi(7)[1] == cmpi.CMPI_sint64  # CMPI_keyInteger
    assert conv.value_to_cmpi(7, int_type="uint32")[1] == cmpi.CMPI_uint32


def test_out_of_range_is_refused_like_swig(conv):
    with pytest.raises(OverflowError):
        conv.value_to_cmpi(2**16, "uint16")


# -- other scalars --------------------------------------------------------------------
def test_reals_booleans_char16_strings(conv):
    inst = CIMInstance(
        "T",
        properties=[
            CIMProperty("r32", Real32(1.5)),
            CIMProperty("r32x", Real32(0.1)),
            CIMProperty("r64", Real64(3.141592653589793)),
            CIMProperty("t", True),
            CIMProperty("f", False),
            CIMProperty("c", Char16("\u20ac")),
            CIMProperty("s", 'grüße €uro 😀 "quoted"'),
            CIMProperty("e", ""),
            CIMProperty("sa", ["a", None, ""], type="string", is_array=True),
            CIMProperty("ba", [True, False], type="boolean", is_array=True),
            CIMProperty("ra", [Real64(-0.5), Real64(2.25)], type="real64", is_array=True),
        ],
        path=vm_name(),
    )
    back, ci = roundtrip(conv, inst)
    assert ci._props["r32"].type == cmpi.CMPI_real32
    assert ci._props["r64"].type == cmpi.CMPI_real64
    assert ci._props["c"].type == cmpi.CMPI_char16
    assert ci._props["s"].type == cmpi.CMPI_string
    assert type(back["r32"]) is Real32 and back["r32"] == 1.5
    assert back["r32x"] == pytest.approx(0.1, rel=1e-7)  # real32 is a C float
    assert type(back["r64"]) is Real64 and back["r64"] == 3.141592653589793
    assert back["t"] is True and back["f"] is False
    assert back["c"] == "\u20ac" and type(back["c"]) is Char16
    assert back["s"] == inst["s"] and back["e"] == ""
    assert back["sa"] == ["a", None, ""]
    assert back["ba"] == [True, False]
    assert back["ra"] == [-0.5, 2.25]


@pytest.mark.parametrize("text", DATETIMES)
def test_datetimes_roundtrip_exactly(conv, text):
    dt = CIMDateTime(text)
    inst = CIMInstance(
        "T",
        properties=[
            CIMProperty("d", dt),
            CIMProperty("da", [dt, None], type="datetime", is_array=True),
        ],
        path=vm_name(),
    )
    back, ci = roundtrip(conv, inst)
    assert ci._props["d"].type == cmpi.CMPI_dateTime
    assert str(ci._props["d"]._val._get("dateTime")) == text
    assert back["d"] == dt and str(back["d"]) == text
    assert back["da"] == [dt, None]


def test_datetime_from_cmpi_binary_form(conv, broker):
    """A datetime the MB built from its binary form (µs since the epoch, UTC)."""
    d = broker.new_datetime_from_uint64(1_214_232_479_823_564)
    v = cmpi.CMPIValue()
    v.dateTime = d
    data = cmpi.CMPIData._make(cmpi.CMPI_dateTime, 0, v)
    back = conv.data_to_pywbem(data)[0]
    assert back == CIMDateTime("20080623144759.823564+000")
    assert d.to_i() == 1_214_232_479_823_564
    interval = broker.new_datetime_from_uint64(93_784_000_005, 1)
    v.dateTime = interval
    data = cmpi.CMPIData._make(cmpi.CMPI_dateTime, 0, v)
    assert str(conv.data_to_pywbem(data)[0]) == "00000001020304.000005:000"


# -- references, keys, embedded instances ---------------------------------------------------
def test_references_and_key_types_roundtrip(conv):
    host = CIMInstanceName(
        "VRM_HostSystem",
        keybindings={"CreationClassName": "VRM_HostSystem", "Name": "h1"},
        namespace=NS,
    )
    assoc = CIMInstanceName(
        "VRM_HostedDependency",
        keybindings={"Antecedent": host, "Dependent": vm_name()},
        namespace=NS,
    )
    odd = CIMInstanceName(
        "T",
        keybindings={"s": "x", "u": Uint16(7), "n": Sint64(-3), "b": True, "r": host},
        namespace=NS,
    )
    for path in (host, assoc, odd):
        cop = conv.path_to_cmpi(path, NS)
        back = conv.path_from_cmpi(cop)
        assert back == path
    cop = conv.path_to_cmpi(odd, NS)
    types = {k: d.type for k, d in cop._keys.items()}
    assert types == {
        "s": cmpi.CMPI_string,
        "u": cmpi.CMPI_uint16,
        "n": cmpi.CMPI_sint64,
        "b": cmpi.CMPI_boolean,
        "r": cmpi.CMPI_ref,
    }
    assert all(d.state & cmpi.CMPI_keyValue for d in cop._keys.values())


def test_reference_properties_and_cross_namespace_refs(conv):
    profile = CIMInstanceName(
        "VRM_RegisteredProfile", {"InstanceID": "p"}, namespace="root/interop"
    )
    inst = CIMInstance(
        "VRM_ElementConformsToProfile",
        properties=[
            CIMProperty("ConformantStandard", profile, type="reference"),
            CIMProperty("ManagedElement", vm_name(ns=None), type="reference"),
        ],
        path=CIMInstanceName(
            "VRM_ElementConformsToProfile",
            {"ConformantStandard": profile, "ManagedElement": vm_name(ns=None)},
            namespace=NS,
        ),
    )
    back, ci = roundtrip(conv, inst)
    assert ci._props["ConformantStandard"].type == cmpi.CMPI_ref
    assert back["ConformantStandard"].namespace == "root/interop"
    assert back["ManagedElement"] == vm_name()  # NULL namespace filled with the default
    assert back.properties["ManagedElement"].reference_class == "VRM_ComputerSystem"


def test_embedded_instances(conv):
    inner = CIMInstance("CIM_Inner", properties={"X": Uint8(1)})
    outer = CIMInstance(
        "CIM_Outer",
        properties=[
            CIMProperty("Inner", inner, type="string", embedded_object="instance"),
            CIMProperty(
                "Deep",
                CIMInstance(
                    "CIM_Deep", properties=[CIMProperty("In", inner, embedded_object="instance")]
                ),
                embedded_object="instance",
            ),
            CIMProperty(
                "Many", [inner, None], type="string", embedded_object="instance", is_array=True
            ),
        ],
    )
    inst = CIMInstance(
        "T", properties=[CIMProperty("E", outer, embedded_object="instance")], path=vm_name()
    )
    back, ci = roundtrip(conv, inst)
    assert ci._props["E"].type == cmpi.CMPI_instance
    e = back.properties["E"]
    assert e.type == "string" and e.embedded_object == "instance"
    assert e.value.classname == "CIM_Outer"
    assert e.value["Inner"]["X"] == 1 and type(e.value["Inner"]["X"]) is Uint8
    assert e.value["Deep"]["In"]["X"] == 1
    assert [i["X"] if i else None for i in e.value["Many"]] == [1, None]


def test_instance_path_and_property_filter(conv):
    inst = CIMInstance(
        "VRM_ComputerSystem",
        properties={
            "CreationClassName": "VRM_ComputerSystem",
            "Name": "u-1",
            "ElementName": "vm",
            "EnabledState": Uint16(2),
        },
        path=vm_name(ns=None),
    )
    ci = conv.instance_to_cmpi(inst, NS, property_list=["elementname"])
    # swig's set_property_filter adds the keys; the rest is ignored by the broker
    assert set(ci._as_dict()) == {"CreationClassName", "Name", "ElementName"}
    assert ci.objectpath().namespace() == NS


# -- method parameters ------------------------------------------------------------------------
def test_args_roundtrip(conv, broker):
    cargs = broker.new_args()
    conv.args_to_cmpi(
        {
            "RequestedState": Uint16(9),
            "TimeoutPeriod": CIMDateTime("00000000000010.000000:000"),
            "Job": None,  # untyped NULL: left out
            "Typed": CIMParameter("Typed", "uint32", value=None),  # typed NULL: kept
            "Ref": vm_name(),
            "Names": ["a", "b"],
        },
        cargs,
        NS,
    )
    assert cargs.arg_count() == 5
    back = conv.args_from_cmpi(cargs)
    assert back["RequestedState"] == 9 and type(back["RequestedState"]) is Uint16
    assert back["TimeoutPeriod"] == CIMDateTime("00000000000010.000000:000")
    assert back["Typed"] is None and "Job" not in back
    assert back["Ref"] == vm_name() and back["Names"] == ["a", "b"]


# -- lifetime rules of the real bindings ------------------------------------------------------
def test_double_catches_reading_value_of_a_dead_cmpidata(broker):
    op = broker.new_object_path(NS, "C")
    v = cmpi.CMPIValue()
    s = broker.new_string("abc")
    v.string = s
    op.add_key("Name", v, cmpi.CMPI_string)
    with pytest.raises(cmpi.UseAfterFree):
        op.get_key("Name").value.string  # noqa: B018 - the pattern that crashed SFCB
    data = op.get_key("Name")
    assert str(data.value.string) == "abc"


def test_double_catches_a_released_string(broker):
    op = broker.new_object_path(NS, "C")
    v = cmpi.CMPIValue()
    v.string = broker.new_string("gone")  # proxy freed at once, C keeps the pointer
    with pytest.raises(cmpi.UseAfterFree):
        op.add_key("Name", v, cmpi.CMPI_string)


def test_converter_keeps_helper_objects_alive_until_handed_over(conv, broker):
    ci = broker.new_instance(broker.new_object_path(NS, "C"), 0)
    for value in ("text", CIMDateTime("20080623144759.823564-360"), ["a", "b"], vm_name()):
        cv, ctype, keep = conv.value_to_cmpi(value)
        ci.set_property("p", cv, ctype)  # fine while `keep` lives
        cv, ctype, keep = conv.value_to_cmpi(value)
        del keep
        if not isinstance(value, CIMInstanceName):  # object paths are never released
            with pytest.raises(cmpi.UseAfterFree):
                ci.set_property("p", cv, ctype)


def test_union_member_must_match_type(conv):
    cv, ctype, keep = conv.value_to_cmpi(Uint16(3))
    data = cmpi.CMPIData._make(cmpi.CMPI_uint32, 0, cv)  # lie about the type
    with pytest.raises(cmpi.DoubleMisuse):
        conv.data_to_pywbem(data)


# -- binding variants ---------------------------------------------------------------------------
def test_names_may_arrive_as_bytes(conv, monkeypatch):
    monkeypatch.setattr(cmpi, "TARGET_STRING_BYTES", True)
    inst = CIMInstance("T", properties={"P": "v"}, path=vm_name())
    back, ci = roundtrip(conv, inst)
    assert ci.get_property_at(0)[1] == b"P"
    assert back["P"] == "v" and back.path == vm_name()


def test_older_data_shapes(conv):
    assert conv.data_to_pywbem(None) == (None, None, False, None)
    cv, ctype, keep = conv.value_to_cmpi(Uint8(5))
    elems = [cmpi.CMPIData._make(ctype, 0, cv), None]
    assert conv.data_to_pywbem(elems)[:3] == ([5, None], "uint8", True)


def test_broker_fn_prefers_real_names_and_falls_back():
    class Snake:
        def deliver_indication(self):
            return "snake"

    assert broker_fn(Snake(), "deliverIndication", "deliver_indication")() == "snake"
    assert broker_fn(cmpi.CMPIBroker(), "deliverIndication", "deliver_indication").__name__ == (
        "deliverIndication"
    )
    with pytest.raises(AttributeError):
        broker_fn(object(), "getInstance")


def test_infer_cim_type():
    assert infer_cim_type(Char16("x"), False) == "char16"
    assert infer_cim_type([None, Uint8(1)], True) == "uint8"
    assert infer_cim_type([], True) is None
    assert infer_cim_type(1.5, False) == "real64"
    with pytest.raises(TypeError):
        infer_cim_type(object(), False)
