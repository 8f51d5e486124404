"""WQL parser and evaluator (src/vrmgmt/cim/wql.py) on real pywbem objects."""

from __future__ import annotations

import re
import sys
import threading
import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pywbem import (
    CIMClass,
    CIMDateTime,
    CIMInstance,
    CIMInstanceName,
    CIMProperty,
    Real64,
    Sint32,
    Uint16,
    Uint64,
)

from vrmgmt.cim import wql
from vrmgmt.cim.wql import WQLError, parse

# -- fixtures: a small class hierarchy and instances -----------------------------------

SUPERCLASS = {
    "vrm_computersystem": "cim_computersystem",
    "cim_computersystem": "cim_system",
    "vrm_hostsystem": "cim_computersystem",
    "cim_system": "cim_managedelement",
    "vrm_disk": "cim_managedelement",
}


def is_subclass(classname: str, superclass: str) -> bool:
    cur = classname.lower()
    while cur is not None:
        if cur == superclass.lower():
            return True
        cur = SUPERCLASS.get(cur)
    return False


def make_class() -> CIMClass:
    props = [
        CIMProperty("Name", None, type="string", qualifiers={"Key": True}),
        CIMProperty("Id", None, type="uint16"),
        CIMProperty("Size", None, type="uint64"),
        CIMProperty("Temp", None, type="sint32"),
        CIMProperty("Ratio", None, type="real64"),
        CIMProperty("Enabled", None, type="boolean"),
        CIMProperty("Description", None, type="string"),
        CIMProperty("Initial", None, type="char16"),
        CIMProperty("Tags", None, type="string", is_array=True),
        CIMProperty("Codes", None, type="uint16", is_array=True),
        CIMProperty("Created", None, type="datetime"),
        CIMProperty("Uptime", None, type="datetime"),
        CIMProperty("Owner", None, type="reference", reference_class="CIM_System"),
        CIMProperty(
            "Settings",
            None,
            type="string",
            embedded_object="instance",
            qualifiers={"EmbeddedInstance": "CIM_ManagedElement"},
        ),
        CIMProperty("Peer", None, type="string"),
    ]
    return CIMClass("CIM_ComputerSystem", superclass="CIM_System", properties=props)


CLS = make_class()
HOST_PATH = CIMInstanceName("VRM_HostSystem", {"Name": "h1"}, namespace="root/virt")


def make_vm(**overrides) -> CIMInstance:
    props = {
        "Name": CIMProperty("Name", "vm-1"),
        "Id": CIMProperty("Id", Uint16(42)),
        "Size": CIMProperty("Size", Uint64(2**64 - 1)),
        "Temp": CIMProperty("Temp", Sint32(-20)),
        "Ratio": CIMProperty("Ratio", Real64(0.75)),
        "Enabled": CIMProperty("Enabled", True),
        "Description": CIMProperty("Description", None, type="string"),
        "Initial": CIMProperty("Initial", "V", type="char16"),
        "Tags": CIMProperty("Tags", ["web", "prod"], type="string"),
        "Codes": CIMProperty("Codes", None, type="uint16", is_array=True),
        "Created": CIMProperty("Created", CIMDateTime("20240315120000.000000+000")),
        "Uptime": CIMProperty("Uptime", CIMDateTime("00000002030000.000000:000")),
        "Owner": CIMProperty("Owner", HOST_PATH),
        "Settings": CIMProperty(
            "Settings",
            CIMInstance("VRM_Disk", {"Size": Uint64(10)}),
            type="string",
            embedded_object="instance",
        ),
        "Peer": CIMProperty("Peer", "vm-1"),
    }
    for name, value in overrides.items():
        if value is _DROP:
            del props[name]
        else:
            props[name] = value
    path = CIMInstanceName(
        "VRM_ComputerSystem",
        {"Name": props["Name"].value, "CreationClassName": "VRM_ComputerSystem"},
        namespace="root/virt",
    )
    return CIMInstance("VRM_ComputerSystem", properties=list(props.values()), path=path)


_DROP = object()
VM = make_vm()


def where(cond: str, inst: CIMInstance | None = None) -> bool:
    return parse(f"SELECT * FROM CIM_ComputerSystem WHERE {cond}").matches(
        inst if inst is not None else VM, is_subclass
    )


# -- parsing ---------------------------------------------------------------------------


def test_select_star():
    q = parse("SELECT * FROM VRM_ComputerSystem")
    assert q.class_name == "VRM_ComputerSystem"
    assert q.select_all is True
    assert q.properties is None
    assert q.where is None


def test_select_list_keeps_order_and_drops_case_insensitive_duplicates():
    q = parse("select Name, EnabledState,name , ElementName from CIM_System")
    assert q.select_all is False
    assert q.properties == ["Name", "EnabledState", "ElementName"]
    assert q.class_name == "CIM_System"


def test_keywords_case_insensitive_and_whitespace():
    q = parse("sElEcT\t*\nFrOm  X\r\nwHeRe a = 1 AnD NoT b iS nOt NuLl oR c LiKe 'x'")
    assert q.class_name == "X"
    assert isinstance(q.where, wql.Or)


def test_where_properties():
    q = parse("SELECT * FROM X WHERE a = 1 AND (B > 2 OR A < 3) AND c IS NULL")
    assert q.where_properties == ["a", "B", "c"]


@pytest.mark.parametrize(
    ("literal", "kind", "value"),
    [
        ("'plain'", "string", "plain"),
        ("'it''s'", "string", "it's"),
        ("'it\\'s'", "string", "it's"),
        ('"say ""hi"""', "string", 'say "hi"'),
        ('"a\\"b"', "string", 'a"b'),
        ("'back\\\\slash'", "string", "back\\slash"),
        ("''", "string", ""),
        ("'ünï ✓'", "string", "ünï ✓"),
        ("42", "int", 42),
        ("-42", "int", -42),
        ("+7", "int", 7),
        ("0x2A", "int", 42),
        ("-0x10", "int", -16),
        ("18446744073709551615", "int", 2**64 - 1),
        ("1.5", "real", 1.5),
        (".5", "real", 0.5),
        ("1e3", "real", 1000.0),
        ("-2.5E-3", "real", -0.0025),
        ("TRUE", "bool", True),
        ("false", "bool", False),
    ],
)
def test_literals(literal, kind, value):
    q = parse(f"SELECT * FROM X WHERE p = {literal}")
    assert isinstance(q.where, wql.Compare)
    assert q.where.right.kind == kind
    assert q.where.right.value == value
    assert type(q.where.right.value) is type(value)


def test_literal_on_left_is_flipped():
    q = parse("SELECT * FROM X WHERE 5 < p")
    assert (q.where.op, q.where.left.name, q.where.right.value) == (">", "p", 5)


def test_not_equal_spellings():
    assert parse("SELECT * FROM X WHERE p != 1").where.op == "<>"
    assert parse("SELECT * FROM X WHERE p <> 1").where.op == "<>"


def test_null_literal_forms():
    assert parse("SELECT * FROM X WHERE p = NULL").where == wql.IsNull(
        wql.Prop("p", 22), negated=False
    )
    assert parse("SELECT * FROM X WHERE NULL <> p").where.negated is True


def test_double_not_folds():
    q = parse("SELECT * FROM X WHERE NOT NOT NOT p = 1")
    assert isinstance(q.where, wql.Not)
    assert isinstance(q.where.child, wql.Compare)
    assert isinstance(parse("SELECT * FROM X WHERE NOT NOT p = 1").where, wql.Compare)


def test_precedence_structure():
    q = parse("SELECT * FROM X WHERE a = 1 OR b = 2 AND NOT c = 3")
    assert isinstance(q.where, wql.Or)
    left, right = q.where.children
    assert isinstance(left, wql.Compare)
    assert isinstance(right, wql.And)
    assert isinstance(right.children[1], wql.Not)
    # AND/OR chains are flat n-ary nodes
    assert len(parse("SELECT * FROM X WHERE a=1 OR a=2 OR a=3 OR a=4").where.children) == 4


# -- evaluation: every operator ----------------------------------------------------------


@pytest.mark.parametrize(
    ("cond", "expected"),
    [
        ("Id = 42", True),
        ("Id = 41", False),
        ("Id <> 42", False),
        ("Id <> 41", True),
        ("Id != 41", True),
        ("Id < 43", True),
        ("Id < 42", False),
        ("Id <= 42", True),
        ("Id <= 41", False),
        ("Id > 41", True),
        ("Id > 42", False),
        ("Id >= 42", True),
        ("Id >= 43", False),
        ("43 > Id", True),
        ("42 <= Id", True),
        ("42 < Id", False),
        ("Id = 0x2a", True),
        ("Id = 42.0", True),
        ("Id > 41.5", True),
        ("Size = 18446744073709551615", True),
        ("Size > 0xFFFFFFFF", True),
        ("Temp < -10", True),
        ("Temp = -20", True),
        ("Temp > -20", False),
        ("Ratio > 0.5", True),
        ("Ratio = 0.75", True),
        ("Ratio < 1", True),
        ("Ratio >= 7.5e-1", True),
    ],
)
def test_numeric_comparisons(cond, expected):
    assert where(cond) is expected


@pytest.mark.parametrize(
    ("cond", "expected"),
    [
        ("Name = 'vm-1'", True),
        ('Name = "vm-1"', True),
        ("Name = 'VM-1'", False),  # string equality is case-sensitive
        ("Name <> 'VM-1'", True),
        ("Name < 'vm-2'", True),
        ("Name > 'vm-0'", True),
        ("Name >= 'vm-1'", True),
        ("Name <= 'vm-0'", False),
        ("'vm-1' = Name", True),
        ("name = 'vm-1'", True),  # property names are case-insensitive
        ("NAME = 'vm-1'", True),
        ("Initial = 'V'", True),
        ("Initial = 'v'", False),
    ],
)
def test_string_comparisons(cond, expected):
    assert where(cond) is expected


@pytest.mark.parametrize(
    ("cond", "expected"),
    [
        ("Enabled = TRUE", True),
        ("Enabled = false", False),
        ("Enabled <> FALSE", True),
        ("TRUE = Enabled", True),
        ("Enabled IS TRUE", True),
        ("Enabled IS FALSE", False),
        ("Enabled IS NOT TRUE", False),
        ("Enabled IS NOT FALSE", True),
    ],
)
def test_boolean(cond, expected):
    assert where(cond) is expected


def test_boolean_null_truth_tests():
    vm = make_vm(Enabled=CIMProperty("Enabled", None, type="boolean"))
    assert where("Enabled = TRUE", vm) is False
    assert where("Enabled IS TRUE", vm) is False
    assert where("Enabled IS NOT TRUE", vm) is True  # SQL: NULL IS NOT TRUE
    assert where("Enabled IS NOT FALSE", vm) is True


@pytest.mark.parametrize(
    ("cond", "expected"),
    [
        ("Description IS NULL", True),
        ("Description IS NOT NULL", False),
        ("Description = NULL", True),
        ("Description <> NULL", False),
        ("NULL = Description", True),
        ("Name IS NULL", False),
        ("Name IS NOT NULL", True),
        ("Name != NULL", True),
        ("Codes IS NULL", True),  # NULL array
        ("Tags IS NOT NULL", True),
    ],
)
def test_null_tests(cond, expected):
    assert where(cond) is expected


@pytest.mark.parametrize(
    "cond",
    [
        "Description = 'x'",
        "Description <> 'x'",
        "Description < 'x'",
        "Description > ''",
        "NOT Description = 'x'",  # NOT UNKNOWN is UNKNOWN
        "NOT (Description <> 'x')",
        "Description LIKE '%'",
        "Description NOT LIKE 'x'",
        "Description = Name",
        "Name = Description",
    ],
)
def test_null_property_comparisons_are_not_true(cond):
    assert where(cond) is False


def test_three_valued_logic():
    assert where("Description = 'x' OR Id = 42") is True  # UNKNOWN OR TRUE
    assert where("Description = 'x' OR Id = 1") is False  # UNKNOWN OR FALSE
    assert where("NOT (Description = 'x' OR Id = 1)") is False  # NOT UNKNOWN
    assert where("Description = 'x' AND Id = 1") is False
    assert where("NOT (Description = 'x' AND Id = 1)") is True  # NOT (UNKNOWN AND FALSE)


def test_property_absent_from_instance():
    vm = make_vm(Id=_DROP)
    assert where("Id = 42", vm) is False
    assert where("Id <> 42", vm) is False
    assert where("NOT Id = 42", vm) is False
    assert where("Id IS NULL", vm) is True
    assert where("Id IS NOT NULL", vm) is False
    # undeclared everywhere: also just not TRUE at match time (check_properties rejects it)
    assert where("NoSuchProperty = 1") is False


def test_type_mismatch_at_match_time_is_not_true():
    assert where("Id = 'x'") is False
    assert where("Name = 42") is False
    assert where("Enabled = 1") is False
    assert where("Enabled < TRUE") is False
    assert where("Tags = 'web'") is False
    assert where("Codes = 1") is False
    assert where("Settings = 'x'") is False
    assert where("Id IS TRUE") is False
    assert where("Id LIKE '4%'") is False
    assert where("Id ISA CIM_System") is False


def test_property_to_property():
    assert where("Name = Peer") is True
    assert where("Name <> Peer") is False
    assert where("Id > Temp") is True
    assert where("Size > Id") is True
    assert where("Ratio < Id") is True
    assert where("Name = Id") is False  # mismatched types never TRUE


def test_precedence_semantics():
    # a OR b AND c == a OR (b AND c): a true, b and c false -> TRUE ((a OR b) AND c: FALSE)
    assert where("Id = 42 OR Id = 1 AND Id = 2") is True
    assert where("(Id = 42 OR Id = 1) AND Id = 2") is False
    # NOT a AND b == (NOT a) AND b
    assert where("NOT Id = 1 AND Id = 42") is True
    assert where("NOT (Id = 1 AND Id = 42)") is True
    assert where("NOT Id = 42 AND Id = 1") is False
    assert where("NOT (Id = 42 AND Id = 1)") is True
    # NOT a OR b == (NOT a) OR b
    assert where("NOT Id = 42 OR Id = 42") is True
    assert where("NOT (Id = 42 OR Id = 42)") is False
    assert where("((((Id = 42))))") is True


@pytest.mark.parametrize(
    ("cond", "expected"),
    [
        ("Name LIKE 'vm-%'", True),
        ("Name LIKE 'vm-_'", True),
        ("Name LIKE 'vm_'", False),
        ("Name LIKE '%'", True),
        ("Name LIKE 'VM-%'", False),  # case-sensitive, like =
        ("Name LIKE 'vm-[0-9]'", True),
        ("Name LIKE 'vm-[^0-9]'", False),
        ("Name LIKE 'vm-[123]'", True),
        ("Name LIKE '%[-]%'", True),
        ("Name NOT LIKE 'vm-%'", False),
        ("Name NOT LIKE 'x%'", True),
        ("Name LIKE 'vm.1'", False),  # regex metacharacters are literal
        ("Name LIKE 'vm-1%'", True),
        ("Peer LIKE '%1'", True),
        ("NOT Name LIKE 'x%'", True),
    ],
)
def test_like(cond, expected):
    assert where(cond) is expected


def test_like_special_characters_are_literal():
    vm = make_vm(Name=CIMProperty("Name", "a.b*c(d)[e]$"))
    assert where("Name LIKE 'a.b*c(d)[[]e]$'", vm) is True
    assert where("Name LIKE 'a_b%'", vm) is True
    assert where("Name LIKE 'axb%'", vm) is False
    vm = make_vm(Name=CIMProperty("Name", "50%\nline2"))
    assert where("Name LIKE '50[%]%'", vm) is True
    assert where("Name LIKE '5_[%]_line2'", vm) is True


@pytest.mark.parametrize(
    ("cond", "expected"),
    [
        ("__CLASS = 'VRM_ComputerSystem'", True),
        ("__CLASS = 'vrm_computersystem'", True),  # class names are case-insensitive
        ("__class <> 'VRM_HostSystem'", True),
        ("__CLASS ISA CIM_System", True),
        ("__CLASS ISA 'CIM_ManagedElement'", True),
        ("__CLASS ISA VRM_ComputerSystem", True),
        ("__CLASS ISA VRM_HostSystem", False),
        ("NOT __CLASS ISA VRM_HostSystem", True),
        ("__CLASS LIKE 'VRM[_]%'", True),
        ("__CLASS LIKE 'vrm[_]%'", True),
        ("Owner ISA CIM_System", True),
        ("Owner ISA VRM_HostSystem", True),
        ("Owner ISA VRM_ComputerSystem", False),
        ("Settings ISA CIM_ManagedElement", True),
        ("Settings ISA 'VRM_Disk'", True),
        ("Settings ISA CIM_System", False),
        ("Description ISA CIM_System", False),  # NULL
    ],
)
def test_class_tests(cond, expected):
    assert where(cond) is expected


@pytest.mark.parametrize(
    ("cond", "expected"),
    [
        ("Owner = 'VRM_HostSystem.Name=\"h1\"'", True),
        ("Owner = 'vrm_hostsystem.name=\"h1\"'", True),
        ("Owner = '/root/virt:VRM_HostSystem.Name=\"h1\"'", True),
        ("Owner = '/root/other:VRM_HostSystem.Name=\"h1\"'", False),
        ("Owner = 'VRM_HostSystem.Name=\"H1\"'", False),
        ("Owner <> 'VRM_HostSystem.Name=\"h2\"'", True),
        ("Owner = 'not a path'", False),
    ],
)
def test_reference_equality(cond, expected):
    assert where(cond) is expected


@pytest.mark.parametrize(
    ("cond", "expected"),
    [
        ("Created = '20240315120000.000000+000'", True),
        ("Created = '20240315130000.000000+060'", True),  # same instant, other offset
        ("Created > '20240101000000.000000+000'", True),
        ("Created < '20240101000000.000000+000'", False),
        ("Created <= '20240315120000.000000+000'", True),
        ("Uptime > '00000001000000.000000:000'", True),
        ("Uptime = '00000002030000.000000:000'", True),
        ("Uptime < '00000002000000.000000:000'", False),
        ("Created > '00000001000000.000000:000'", False),  # timestamp vs interval
        ("Created = 'yesterday'", False),
    ],
)
def test_datetime(cond, expected):
    assert where(cond) is expected


def test_from_class_and_subclasses():
    q = parse("SELECT * FROM CIM_System")
    assert q.matches(VM, is_subclass) is True
    assert parse("SELECT * FROM cim_computersystem").matches(VM, is_subclass) is True
    assert parse("SELECT * FROM VRM_HostSystem").matches(VM, is_subclass) is False
    disk = CIMInstance("VRM_Disk", {"Size": Uint64(1)})
    assert parse("SELECT * FROM CIM_System WHERE Size = 1").matches(disk, is_subclass) is False
    calls = []

    def spy(sub, sup):
        calls.append((sub, sup))
        return is_subclass(sub, sup)

    parse("SELECT * FROM CIM_System").matches(VM, spy)
    assert calls == [("VRM_ComputerSystem", "CIM_System")]


# -- projection ------------------------------------------------------------------------


def test_project_selected_properties_keep_path():
    q = parse("SELECT id, Enabled, Tags, NoSuchProp FROM CIM_ComputerSystem")
    out = q.project(VM)
    assert out is not VM
    assert list(out.properties) == ["Id", "Enabled", "Tags"]
    assert out["Id"] == 42 and out.properties["Id"].type == "uint16"
    assert out["Tags"] == ["web", "prod"]
    assert out.classname == "VRM_ComputerSystem"
    assert out.path == VM.path  # keys untouched although Name is not selected
    assert out.path is not VM.path
    assert out.path.keybindings["Name"] == "vm-1"
    assert "Name" in VM.properties and len(VM.properties) == 15  # original untouched


def test_project_star_is_a_copy():
    out = parse("SELECT * FROM CIM_ComputerSystem").project(VM)
    assert out == VM
    assert out is not VM


def test_project_instance_without_path():
    inst = CIMInstance("VRM_Disk", {"Size": Uint64(3), "Name": "d"})
    out = parse("SELECT Size FROM VRM_Disk").project(inst)
    assert out.path is None
    assert dict(out.items()) == {"Size": 3}


# -- check_properties against the FROM class -------------------------------------------


@pytest.mark.parametrize(
    "query",
    [
        "SELECT * FROM CIM_ComputerSystem",
        "SELECT name, ID, Tags, Settings FROM CIM_ComputerSystem",
        "SELECT * FROM CIM_ComputerSystem WHERE Id = 1 AND Size > 2.5 AND Ratio < 1",
        "SELECT * FROM CIM_ComputerSystem WHERE Name = 'x' OR Initial = 'y' OR Name LIKE 'a%'",
        "SELECT * FROM CIM_ComputerSystem WHERE Enabled = TRUE AND Enabled IS NOT FALSE",
        "SELECT * FROM CIM_ComputerSystem WHERE Tags IS NULL AND Codes IS NOT NULL",
        "SELECT * FROM CIM_ComputerSystem WHERE Created > '20240101000000.000000+000'",
        "SELECT * FROM CIM_ComputerSystem WHERE Uptime < '00000001000000.000000:000'",
        "SELECT * FROM CIM_ComputerSystem WHERE Owner = 'VRM_HostSystem.Name=\"h\"'",
        "SELECT * FROM CIM_ComputerSystem WHERE Owner ISA CIM_System AND Settings ISA X",
        "SELECT __CLASS FROM CIM_ComputerSystem WHERE __CLASS ISA X AND __CLASS = 'Y'",
        "SELECT * FROM CIM_ComputerSystem WHERE Id > Temp AND Name = Peer AND Name = __CLASS",
        "SELECT * FROM CIM_ComputerSystem WHERE Description = NULL",
    ],
)
def test_check_properties_accepts(query):
    parse(query).check_properties(CLS)


@pytest.mark.parametrize(
    ("query", "fragments"),
    [
        ("SELECT Name, Bogus FROM CIM_ComputerSystem", ["'Bogus'", "CIM_ComputerSystem"]),
        ("SELECT * FROM CIM_ComputerSystem WHERE Bogus = 1", ["'Bogus'", "column 40"]),
        ("SELECT * FROM CIM_ComputerSystem WHERE Id = 1 OR NOT Bogus IS NULL", ["'Bogus'"]),
        ("SELECT * FROM CIM_ComputerSystem WHERE Id = 'x'", ["'Id'", "uint16", "string"]),
        ("SELECT * FROM CIM_ComputerSystem WHERE 'x' < Size", ["'Size'", "uint64", "string"]),
        ("SELECT * FROM CIM_ComputerSystem WHERE Name = 5", ["'Name'", "string", "int"]),
        ("SELECT * FROM CIM_ComputerSystem WHERE Enabled = 1", ["'Enabled'", "boolean"]),
        ("SELECT * FROM CIM_ComputerSystem WHERE Id = TRUE", ["'Id'", "bool"]),
        ("SELECT * FROM CIM_ComputerSystem WHERE Enabled < TRUE", ["<", "'Enabled'"]),
        ("SELECT * FROM CIM_ComputerSystem WHERE Owner > 'A.b=1'", [">", "'Owner'"]),
        ("SELECT * FROM CIM_ComputerSystem WHERE Tags = 'x'", ["'Tags'", "string[]"]),
        ("SELECT * FROM CIM_ComputerSystem WHERE Codes > 1", ["'Codes'", "uint16[]"]),
        ("SELECT * FROM CIM_ComputerSystem WHERE Settings = 'x'", ["'Settings'", "embedded"]),
        ("SELECT * FROM CIM_ComputerSystem WHERE Id LIKE '1%'", ["LIKE", "'Id'", "uint16"]),
        ("SELECT * FROM CIM_ComputerSystem WHERE Tags LIKE 'a'", ["LIKE", "'Tags'"]),
        ("SELECT * FROM CIM_ComputerSystem WHERE Name IS TRUE", ["IS TRUE", "'Name'"]),
        ("SELECT * FROM CIM_ComputerSystem WHERE Id ISA X", ["ISA", "'Id'", "uint16"]),
        ("SELECT * FROM CIM_ComputerSystem WHERE Created = 'soon'", ["'soon'", "datetime"]),
        ("SELECT * FROM CIM_ComputerSystem WHERE Owner = 'no path'", ["'no path'", "path"]),
        ("SELECT * FROM CIM_ComputerSystem WHERE Id = Name", ["'Id'", "'Name'", "mismatch"]),
        ("SELECT * FROM CIM_ComputerSystem WHERE Created = Id", ["'Created'", "'Id'"]),
    ],
)
def test_check_properties_rejects(query, fragments):
    q = parse(query)
    with pytest.raises(WQLError) as exc:
        q.check_properties(CLS)
    for frag in fragments:
        assert frag in str(exc.value), (frag, str(exc.value))


def test_check_properties_against_real_class_with_inherited_properties():
    base = CIMClass(
        "CIM_ManagedElement", properties=[CIMProperty("ElementName", None, type="string")]
    )
    sub = CIMClass(
        "VRM_X",
        superclass="CIM_ManagedElement",
        properties=[
            CIMProperty("ElementName", None, type="string", class_origin="CIM_ManagedElement"),
            CIMProperty("EnabledState", None, type="uint16", class_origin="VRM_X"),
        ],
    )
    q = parse("SELECT ElementName FROM CIM_ManagedElement WHERE EnabledState = 2")
    with pytest.raises(WQLError, match="EnabledState.*CIM_ManagedElement"):
        q.check_properties(base)
    q.check_properties(sub)


# -- syntax errors ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("query", "fragments"),
    [
        ("", ["empty"]),
        ("   ", ["empty"]),
        ("SELECT", ["end of query", "column 7"]),
        ("SELECT FROM X", ["'FROM'", "column 8", "'*'"]),
        ("SELECT * FROM", ["end of query", "column 14", "class name"]),
        ("SELECT * X", ["'X'", "column 10", "FROM"]),
        ("SELECT *, a FROM X", ["','", "column 9"]),
        ("SELECT a b FROM X", ["'b'", "column 10"]),
        ("SELECT * FROM A, B", ["','", "column 16", "joins"]),
        ("SELECT * FROM A JOIN B ON a = b", ["'JOIN'", "JOIN is not supported"]),
        ("SELECT * FROM A WHERE", ["end of query", "column 22"]),
        ("SELECT * FROM A WHERE a", ["end of query", "comparison operator"]),
        ("SELECT * FROM A WHERE a =", ["end of query", "property or a literal"]),
        ("SELECT * FROM A WHERE a == 1", ["'='", "column 26"]),
        ("SELECT * FROM A WHERE a = 1 b = 2", ["'b'", "column 29"]),
        ("SELECT * FROM A WHERE (a = 1", ["end of query", "')'"]),
        ("SELECT * FROM A WHERE a = 1)", ["')'", "column 28"]),
        ("SELECT * FROM A WHERE a = 1 AND", ["end of query"]),
        ("SELECT * FROM A WHERE a = 1 GROUP BY a", ["'GROUP'", "GROUP is not supported"]),
        ("SELECT * FROM A ORDER BY a", ["'ORDER'", "ORDER is not supported"]),
        ("SELECT DISTINCT a FROM A", ["'a'", "column 17"]),
        ("SELECT COUNT(a) FROM A", ["'('", "functions are not supported"]),
        ("SELECT * FROM A WHERE UPPER(a) = 'X'", ["'('", "column 28", "functions"]),
        ("SELECT * FROM A WHERE a + 1 = 2", ["'+'", "column 25"]),
        ("SELECT * FROM A WHERE a.b = 1", ["scoped", "column 24"]),
        ("SELECT * FROM A WHERE a IN (1, 2)", ["'IN'", "IN is not supported"]),
        ("SELECT * FROM A WHERE a BETWEEN 1 AND 2", ["BETWEEN is not supported"]),
        ("SELECT * FROM A WHERE a = 'open", ["unterminated string", "column 27"]),
        ('SELECT * FROM A WHERE a = "open', ["unterminated string", "column 27"]),
        ("SELECT * FROM A WHERE a = 'bad \\n escape'", ["invalid escape", "column 32"]),
        ("SELECT * FROM A WHERE a = @", ["'@'", "column 27"]),
        ("SELECT * FROM A WHERE a < NULL", ["NULL", "IS NULL", "column 25"]),
        ("SELECT * FROM A WHERE 1 = 1", ["property", "column 25"]),
        ("SELECT * FROM A WHERE 'a' = 'b'", ["property"]),
        ("SELECT * FROM A WHERE a LIKE 5", ["'5'", "string"]),
        ("SELECT * FROM A WHERE a LIKE '[ab'", ["unterminated '['"]),
        ("SELECT * FROM A WHERE a LIKE '[z-a]'", ["invalid range"]),
        ("SELECT * FROM A WHERE ISA B", ["'ISA'", "__CLASS ISA"]),
        ("SELECT * FROM A WHERE a ISA", ["end of query"]),
        ("SELECT * FROM A WHERE a ISA ''", ["empty class name"]),
        ("SELECT * FROM A WHERE a IS 5", ["'5'", "NULL"]),
        ("SELECT * FROM A WHERE NOT", ["end of query"]),
        ("SELECT * FROM A\nWHERE a == 1", ["line 2 column 10"]),
        ("SELECT * FROM A WHERE a = 1; DROP TABLE A", ["';'", "column 28"]),
        ("SELECT * FROM A WHERE Select = 1", ["'Select'", "column 23"]),
        ("INSERT INTO A VALUES (1)", ["'INSERT'", "column 1", "SELECT"]),
    ],
)
def test_syntax_errors(query, fragments):
    with pytest.raises(WQLError) as exc:
        parse(query)
    msg = str(exc.value)
    for frag in fragments:
        assert frag in msg, (frag, msg)


def test_wqlerror_is_valueerror():
    assert issubclass(WQLError, ValueError)
    with pytest.raises(ValueError):
        parse("SELECT")


def test_non_string_query():
    with pytest.raises(WQLError, match="string"):
        parse(b"SELECT * FROM X")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("query", "fragments"),
    [
        ("SELECT * FROM A WHERE a = 18446744073709551616", ["out of range", "column 27"]),
        ("SELECT * FROM A WHERE a = -9223372036854775809", ["out of range", "column 27"]),
        ("SELECT * FROM A WHERE a = 0x10000000000000000", ["out of range"]),
        ("SELECT * FROM A WHERE a = " + "9" * 60_000, ["out of range", "64-bit"]),
        ("SELECT * FROM A WHERE a = 1e999", ["real literal out of range"]),
        # positions from parser callbacks are line/column too
        ("SELECT * FROM A\nWHERE\n  a = 'x\\q'", ["invalid escape", "line 3 column 9"]),
        ("SELECT * FROM A\nWHERE 1 = 2", ["line 2 column 9", "property"]),
    ],
)
def test_literal_range_and_located_errors(query, fragments):
    with pytest.raises(WQLError) as exc:
        parse(query)
    for frag in fragments:
        assert frag in str(exc.value), (frag, str(exc.value))


def test_check_properties_multiline_position():
    q = parse("SELECT *\nFROM CIM_ComputerSystem\nWHERE Id = 1\n  AND Bogus = 2")
    with pytest.raises(WQLError, match="'Bogus' \\(at line 4 column 7\\)"):
        q.check_properties(CLS)


def test_integer_bounds_accepted():
    assert parse("SELECT * FROM A WHERE a = -9223372036854775808").where.right.value == -(2**63)
    assert parse("SELECT * FROM A WHERE a = 0xFFFFFFFFFFFFFFFF").where.right.value == 2**64 - 1


@pytest.mark.parametrize(
    ("pattern", "value", "expected"),
    [
        ("", "", True),
        ("", "a", False),
        ("%", "", True),
        ("%%", "abc", True),
        ("a%", "a", True),
        ("%a", "a", True),
        ("a%a", "a", False),  # the two segments may not overlap
        ("a%a", "aa", True),
        ("a%b%c", "aXbYc", True),
        ("a%b%c", "acb", False),
        ("%b%b%", "abab", True),
        ("%b%b%", "ab", False),
        ("_%_", "ab", True),
        ("_%_", "a", False),
        ("%[0-9][0-9]", "disk12", True),
        ("%[0-9][0-9]", "disk1", False),
        ("[^a-c]%", "d", True),
        ("[^a-c]%", "b", False),
        ("[]]", "]", True),
        ("[[]", "[", True),
        ("[_]", "_", True),
        ("[_]", "x", False),
        ("a[%]", "a%", True),
        ("a[%]", "ab", False),
    ],
)
def test_like_patterns(pattern, value, expected):
    vm = make_vm(Name=CIMProperty("Name", value))
    escaped = pattern.replace("'", "''")
    assert where(f"Name LIKE '{escaped}'", vm) is expected


def _reference_like(pattern: str, value: str) -> bool:
    """LIKE as a (backtracking) regular expression, for patterns without [sets]."""
    rx = "".join(".*" if c == "%" else "." if c == "_" else re.escape(c) for c in pattern)
    return re.fullmatch(rx, value, re.DOTALL) is not None


@settings(max_examples=300, deadline=None)
@given(
    pattern=st.text(alphabet="ab%_", max_size=8),
    value=st.text(alphabet="ab", max_size=8),
)
def test_like_agrees_with_backtracking_regex(pattern, value):
    vm = make_vm(Name=CIMProperty("Name", value))
    assert where(f"Name LIKE '{pattern}'", vm) is _reference_like(pattern, value)


def test_like_has_no_catastrophic_backtracking():
    pattern = "%a" * 20_000 + "%b"
    vm = make_vm(Name=CIMProperty("Name", "a" * 20_000 + "c"))
    t0 = time.perf_counter()
    q = parse(f"SELECT * FROM CIM_ComputerSystem WHERE Name LIKE '{pattern}'")
    assert q.matches(vm, is_subclass) is False
    pattern = "%_a" * 10_000 + "%b"
    q = parse(f"SELECT * FROM CIM_ComputerSystem WHERE Name LIKE '{pattern}'")
    assert q.matches(vm, is_subclass) is False
    assert time.perf_counter() - t0 < 5.0


@pytest.mark.parametrize(
    "query",
    [
        "SELECT * FROM X WHERE a = '" + "''" * 30_000,
        "SELECT * FROM X WHERE a = '" + "a\\" * 15_000,
        "SELECT * FROM X WHERE a = " + '"' * 60_001,
        "SELECT * FROM X WHERE " + "a" * 60_000,
        "SELECT * FROM X WHERE a = 0x" + "f" * 60_000,
        "SELECT * FROM X WHERE a = 1." + "5" * 60_000 + "e",
        "SELECT " + "a," * 30_000 + " FROM X",
        "SELECT * FROM X WHERE " + "NOT " * 16_000,
        "SELECT * FROM X WHERE " + ")" * 60_000,
    ],
)
def test_adversarial_inputs_fail_fast(query):
    t0 = time.perf_counter()
    with pytest.raises(WQLError):
        parse(query)
    assert time.perf_counter() - t0 < 2.0


# -- bounds ----------------------------------------------------------------------------


def test_query_length_limit():
    head = "SELECT * FROM X WHERE Name = '"
    ok = head + "a" * (wql.MAX_QUERY_BYTES - len(head) - 1) + "'"
    assert len(ok) == wql.MAX_QUERY_BYTES
    assert parse(ok).where.right.value == "a" * (wql.MAX_QUERY_BYTES - len(head) - 1)
    with pytest.raises(WQLError, match="longer than 65536"):
        parse(ok + " ")
    # the limit is in UTF-8 bytes: 40,000 two-byte characters exceed it
    with pytest.raises(WQLError, match="longer than"):
        parse(head + "é" * 40_000 + "'")


def test_paren_depth_limit():
    head = "SELECT * FROM CIM_ComputerSystem WHERE "
    n = wql.MAX_DEPTH
    assert parse(head + "(" * n + "Id = 42" + ")" * n).matches(VM, is_subclass) is True
    q = head + "(" * (n + 1) + "Id = 42" + ")" * (n + 1)
    with pytest.raises(WQLError, match="deeper than 100"):
        parse(q)


def test_paren_depth_counts_nesting_not_total():
    q = "SELECT * FROM CIM_ComputerSystem WHERE " + " OR ".join(["(Id = 1)"] * 500)
    assert parse(q).matches(VM, is_subclass) is False
    assert parse(q + " OR (((Id = 42)))").matches(VM, is_subclass) is True


def test_ten_thousand_nested_parentheses_fail_fast():
    q = "SELECT * FROM X WHERE " + "(" * 10_000 + "Id = 42" + ")" * 10_000
    t0 = time.perf_counter()
    with pytest.raises(WQLError, match="deeper than 100 at column 123"):
        parse(q)
    assert time.perf_counter() - t0 < 1.0
    # unbalanced deep input too
    with pytest.raises(WQLError):
        parse("SELECT * FROM X WHERE " + "(" * 10_000)


def test_60k_chain_of_ors():
    q = "SELECT * FROM CIM_ComputerSystem WHERE Id = 0"
    n = (60 * 1024 - len(q)) // len(" OR Id = 0")
    q += " OR Id = 0" * n
    q_hit = q + " OR Id = 42"
    assert 60 * 1024 - 20 < len(q_hit) <= 60 * 1024 + 20
    t0 = time.perf_counter()
    parsed = parse(q_hit)
    assert len(parsed.where.children) == n + 2
    assert parsed.matches(VM, is_subclass) is True
    assert parse(q).matches(VM, is_subclass) is False
    parsed.check_properties(CLS)
    assert time.perf_counter() - t0 < 5.0


def test_60k_chain_of_ands_and_nots():
    q = "SELECT * FROM CIM_ComputerSystem WHERE " + " AND ".join(["NOT Id = 1"] * 4000)
    assert len(q) > 59_000
    assert parse(q).matches(VM, is_subclass) is True
    q = "SELECT * FROM CIM_ComputerSystem WHERE " + "NOT " * 15_000 + "Id = 42"
    assert len(q) < wql.MAX_QUERY_BYTES
    assert parse(q).matches(VM, is_subclass) is True  # even number of NOTs
    assert parse(q.replace("WHERE ", "WHERE NOT ")).matches(VM, is_subclass) is False


def test_deepest_allowed_query_under_small_recursion_limit():
    # parentheses nested the full 100 deep, NOT/OR/AND at each level: evaluation
    # recursion stays far below a recursion limit of 500
    inner = "Id = 42"
    for _ in range(wql.MAX_DEPTH):
        inner = f"NOT (Id = 1 OR NOT ({inner}) AND Id = 42)"
        if inner.count("(") >= wql.MAX_DEPTH:
            break
    q = parse("SELECT * FROM CIM_ComputerSystem WHERE " + inner)
    q.check_properties(CLS)
    old = sys.getrecursionlimit()
    result: list[bool] = []

    def run():
        result.append(q.matches(VM, is_subclass))

    sys.setrecursionlimit(500)
    try:
        t = threading.Thread(target=run)
        t.start()
        t.join()
    finally:
        sys.setrecursionlimit(old)
    assert result == [True]  # each level is NOT (FALSE OR NOT x AND TRUE) == x


def test_parse_is_thread_safe():
    errors: list[BaseException] = []

    def worker(i: int):
        try:
            for j in range(50):
                q = parse(f"SELECT * FROM X WHERE Id = {i * 100 + j} OR Name LIKE 'v%'")
                assert q.where.children[0].right.value == i * 100 + j
        except BaseException as e:  # pragma: no cover - reported below
            errors.append(e)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
