"""Check the project's MOF against the real DMTF CIM Schema 2.49.

mof/dmtf/ holds the project's own copy of the CIM_ base classes it needs; it must stay
faithful to DMTF CIM Schema 2.49 (superclasses, keys, property and method signatures,
value maps, ...).  mof/vrmgmt.mof holds the VRM_ classes, compiled on top of either
mof/dmtf/dmtf.mof or the full DMTF schema.

The real schema is expected at <project root>/../shared/cim-schema-2.49.  Only the
classes that mof/dmtf/ defines are compiled from it (one file each, with pywbem's MOF
compiler pulling in superclasses and referenced classes from the schema directory),
which takes about a second instead of compiling the whole schema.
"""

import re
from pathlib import Path

import pytest
from pywbem import CIMError, MOFCompileError
from pywbem_mock import FakedWBEMConnection

ROOT = Path(__file__).resolve().parent.parent
MOF_DIR = ROOT / "mof"
DMTF_DIR = MOF_DIR / "dmtf"
DMTF_ENTRY = DMTF_DIR / "dmtf.mof"
VRM_ENTRY = MOF_DIR / "vrmgmt.mof"
SCHEMA_DIR = ROOT.parent / "shared" / "cim-schema-2.49"
SCHEMA_ENTRY = SCHEMA_DIR / "cim_schema_2.49.0.mof"
NAMESPACE = "root/virt"

needs_schema = pytest.mark.skipif(
    not SCHEMA_ENTRY.is_file(), reason=f"DMTF CIM Schema 2.49 not found at {SCHEMA_DIR}"
)

CLASS_RE = re.compile(r"^\s*class\s+(\w+)", re.MULTILINE)

# Class-level qualifiers whose value must be the same as in DMTF (absent = false).
CLASS_FLAGS = ("Abstract", "Association", "Aggregation", "Composition", "Indication", "Exception")
# Qualifiers on properties, methods and parameters that carry meaning for clients or
# for the model.  If DMTF has one of them, ours must have it with the same value; if
# ours has one, DMTF must have it too.  Booleans compare with their declared defaults.
ELEMENT_QUALIFIERS = (
    "Key",
    "Required",
    "Override",
    "Propagated",
    "Aggregate",
    "Weak",
    "Min",
    "Max",
    "Static",
    "In",
    "Out",
    "ValueMap",
    "Values",
    "ArrayType",
    "EmbeddedInstance",
    "EmbeddedObject",
    "OctetString",
    "Deprecated",
    "Write",
    "Read",
    "MaxLen",
    "MinValue",
    "MaxValue",
    "Units",
    "PUnit",
    "IsPUnit",
    "Counter",
    "Gauge",
)
BOOLEAN_DEFAULTS = {
    "key": False,
    "required": False,
    "aggregate": False,
    "weak": False,
    "static": False,
    "in": True,
    "out": False,
    "embeddedobject": False,
    "octetstring": False,
    "write": False,
    "read": True,
    "ispunit": False,
    "counter": False,
    "gauge": False,
    "abstract": False,
    "association": False,
    "aggregation": False,
    "composition": False,
    "indication": False,
    "exception": False,
}
# Override, Deprecated and Abstract are restricted qualifiers: a resolved class shows
# them only on the elements that class itself declares, so comparing them also checks
# that ours overrides exactly the properties and methods that DMTF overrides.


def _classes_in(paths):
    names = []
    for path in paths:
        names += CLASS_RE.findall(path.read_text(encoding="utf-8"))
    return names


def _dmtf_class_files():
    text = DMTF_ENTRY.read_text(encoding="utf-8")
    return [DMTF_DIR / f for f in re.findall(r'#pragma\s+include\s*\("([^"]+)"\)', text)]


def _vrm_class_files():
    text = VRM_ENTRY.read_text(encoding="utf-8")
    return [MOF_DIR / f for f in re.findall(r'#pragma\s+include\s*\("([^"]+)"\)', text)]


DMTF_CLASSES = _classes_in(_dmtf_class_files())
# Experimental DMTF classes absent from the Final MOFs of CIM Schema 2.49 (the DSP1081
# migration classes): written faithful to their DSP and marked [Experimental, ...]; only
# they are left out of the comparison with the schema.
EXPERIMENTAL_RE = re.compile(r"\[\s*Experimental\b.*?^\s*class\s+(\w+)", re.MULTILINE | re.DOTALL)
EXPERIMENTAL = set(EXPERIMENTAL_RE.findall("".join(p.read_text() for p in _dmtf_class_files())))
FINAL_CLASSES = [c for c in DMTF_CLASSES if c not in EXPERIMENTAL]
EXPERIMENTAL_FILES = [p for p in _dmtf_class_files() if set(_classes_in([p])) & EXPERIMENTAL]
VRM_CLASSES = _classes_in(_vrm_class_files())


def _new_conn():
    return FakedWBEMConnection(default_namespace=NAMESPACE)


def _all_classes(conn):
    return {
        c.classname.lower(): c
        for c in conn.EnumerateClasses(
            DeepInheritance=True, LocalOnly=False, IncludeQualifiers=True, IncludeClassOrigin=True
        )
    }


def _compile(conn, path, search_paths):
    error = None
    try:
        conn.compile_mof_file(str(path), search_paths=[str(p) for p in search_paths])
    except MOFCompileError as exc:
        error = exc.get_err_msg()
    if error is not None:  # fail outside the except block: no chained tracebacks
        pytest.fail(f"compiling {path} failed:\n{error}", pytrace=False)


def _names_in(conn):
    return {c.lower() for c in conn.EnumerateClassNames(DeepInheritance=True)}


@pytest.fixture(scope="module")
def dmtf_only():
    """mof/dmtf/dmtf.mof compiled alone (a VRM_ mistake cannot hide DMTF results)."""
    conn = _new_conn()
    _compile(conn, DMTF_ENTRY, [DMTF_DIR])
    return conn


@pytest.fixture(scope="module")
def ours():
    """Our MOF compiled: dmtf.mof, then vrmgmt.mof on top.  Returns (conn, dmtf, vrm)."""
    conn = _new_conn()
    _compile(conn, DMTF_ENTRY, [DMTF_DIR])
    dmtf_names = _names_in(conn)
    _compile(conn, VRM_ENTRY, [MOF_DIR])
    return conn, dmtf_names, _names_in(conn) - dmtf_names


def _schema_files():
    text = SCHEMA_ENTRY.read_text(encoding="utf-8", errors="replace")
    return {
        Path(p).stem.lower(): p for p in re.findall(r'#pragma\s+include\s*\("([^"]+\.mof)"\)', text)
    }


def _compile_real(conn, class_names):
    """Compile the given classes from the real schema into conn (deps auto-included)."""
    files = _schema_files()
    for fname in ("qualifiers.mof", "qualifiers_optional.mof"):
        conn.compile_mof_file(str(SCHEMA_DIR / fname), search_paths=[str(SCHEMA_DIR)])
    missing = []
    for name in class_names:
        try:
            conn.GetClass(name, LocalOnly=True, IncludeQualifiers=False)
            continue  # already pulled in as a dependency of an earlier class
        except CIMError:
            pass
        if name.lower() not in files:
            missing.append(name)
            continue
        conn.compile_mof_file(str(SCHEMA_DIR / files[name.lower()]), search_paths=[str(SCHEMA_DIR)])
    return missing


@pytest.fixture(scope="module")
def real():
    """The real DMTF definitions of the classes in mof/dmtf/.  Returns (conn, missing)."""
    if not SCHEMA_ENTRY.is_file():
        pytest.skip(f"DMTF CIM Schema 2.49 not found at {SCHEMA_DIR}")
    conn = _new_conn()
    missing = _compile_real(conn, FINAL_CLASSES)
    return conn, missing


# --------------------------------------------------------------------------- helpers


def _qual(obj, name):
    """Qualifier value, or the declared boolean default when absent."""
    q = obj.qualifiers.get(name)
    if q is not None and q.value is not None:
        value = q.value
        return list(value) if isinstance(value, list) else value
    return BOOLEAN_DEFAULTS.get(name.lower())


def _norm(value):
    if isinstance(value, str):
        return value
    if isinstance(value, list):
        return [_norm(v) for v in value]
    if isinstance(value, bool) or value is None:
        return value
    try:
        return int(value)
    except (TypeError, ValueError):
        return str(value)


def _refclass(obj):
    return obj.reference_class.lower() if obj.reference_class else None


def _compare_qualifiers(where, mine, theirs, problems):
    for name in ELEMENT_QUALIFIERS:
        a, b = _norm(_qual(mine, name)), _norm(_qual(theirs, name))
        if name.lower() == "override" and isinstance(a, str) and isinstance(b, str):
            a, b = a.lower(), b.lower()
        if a != b:
            problems.append(f"{where}: qualifier {name} ours={a!r} dmtf={b!r}")


def _compare_typed(where, mine, theirs, problems):
    if mine.type != theirs.type:
        problems.append(f"{where}: type ours={mine.type} dmtf={theirs.type}")
    if mine.is_array != theirs.is_array:
        problems.append(f"{where}: is_array ours={mine.is_array} dmtf={theirs.is_array}")
    if _refclass(mine) != _refclass(theirs):
        problems.append(
            f"{where}: reference class ours={mine.reference_class} dmtf={theirs.reference_class}"
        )


def _names(mapping):
    return {k.lower(): k for k in mapping}


def _compare_class(mine, theirs):
    cname = theirs.classname
    problems = []
    if (mine.superclass or "").lower() != (theirs.superclass or "").lower():
        problems.append(f"{cname}: superclass ours={mine.superclass} dmtf={theirs.superclass}")
    for flag in CLASS_FLAGS:
        a, b = bool(_qual(mine, flag)), bool(_qual(theirs, flag))
        if a != b:
            problems.append(f"{cname}: class qualifier {flag} ours={a} dmtf={b}")

    # Properties (resolved: local and inherited).
    mp, tp = _names(mine.properties), _names(theirs.properties)
    for key in sorted(tp.keys() - mp.keys()):
        problems.append(f"{cname}.{tp[key]}: property missing in ours")
    for key in sorted(mp.keys() - tp.keys()):
        problems.append(f"{cname}.{mp[key]}: property not in DMTF")
    for key in sorted(mp.keys() & tp.keys()):
        m, t = mine.properties[mp[key]], theirs.properties[tp[key]]
        where = f"{cname}.{t.name}"
        _compare_typed(where, m, t, problems)
        if (m.class_origin or "").lower() != (t.class_origin or "").lower():
            problems.append(
                f"{where}: first declared in {m.class_origin} in ours, in {t.class_origin} in DMTF"
            )
        _compare_qualifiers(where, m, t, problems)
        if _norm(m.value) != _norm(t.value):
            problems.append(
                f"{where}: default value ours={_norm(m.value)!r} dmtf={_norm(t.value)!r}"
            )

    # Methods and their parameters.
    mm, tm = _names(mine.methods), _names(theirs.methods)
    for key in sorted(tm.keys() - mm.keys()):
        problems.append(f"{cname}.{tm[key]}(): method missing in ours")
    for key in sorted(mm.keys() - tm.keys()):
        problems.append(f"{cname}.{mm[key]}(): method not in DMTF")
    for key in sorted(mm.keys() & tm.keys()):
        m, t = mine.methods[mm[key]], theirs.methods[tm[key]]
        where = f"{cname}.{t.name}()"
        if m.return_type != t.return_type:
            problems.append(f"{where}: return type ours={m.return_type} dmtf={t.return_type}")
        if (m.class_origin or "").lower() != (t.class_origin or "").lower():
            problems.append(
                f"{where}: first declared in {m.class_origin} in ours, in {t.class_origin} in DMTF"
            )
        _compare_qualifiers(where, m, t, problems)
        m_params = [p.lower() for p in m.parameters]
        t_params = [p.lower() for p in t.parameters]
        if m_params != t_params:
            problems.append(
                f"{where}: parameters ours={list(m.parameters)} dmtf={list(t.parameters)}"
            )
        for pkey in [p for p in t_params if p in m_params]:
            mpar = next(v for k, v in m.parameters.items() if k.lower() == pkey)
            tpar = next(v for k, v in t.parameters.items() if k.lower() == pkey)
            pwhere = f"{where} parameter {tpar.name}"
            _compare_typed(pwhere, mpar, tpar, problems)
            _compare_qualifiers(pwhere, mpar, tpar, problems)
    return problems


def _ancestors(classes, name):
    chain = []
    cls = classes.get(name.lower())
    while cls is not None and cls.superclass:
        chain.append(cls.superclass)
        cls = classes.get(cls.superclass.lower())
    return chain


# --------------------------------------------------------------------------- tests


def test_dmtf_mof_compiles(dmtf_only):
    dmtf_names = _names_in(dmtf_only)
    assert {c.lower() for c in DMTF_CLASSES} == dmtf_names, (
        "classes compiled from dmtf.mof differ from the class files it includes"
    )
    bad = sorted(n for n in dmtf_names if not n.startswith("cim_"))
    assert not bad, f"non-CIM_ classes in mof/dmtf/: {bad}"


def test_our_mof_compiles(ours):
    _, dmtf_names, vrm_names = ours
    assert dmtf_names, "mof/dmtf/dmtf.mof defined no classes"
    assert vrm_names, "mof/vrmgmt.mof defined no classes"
    assert {c.lower() for c in VRM_CLASSES} == vrm_names, (
        "classes compiled from vrmgmt.mof differ from the class files it includes"
    )
    bad = sorted(n for n in vrm_names if not n.startswith("vrm_"))
    assert not bad, f"non-VRM_ classes in mof/vrmgmt.mof: {bad}"


def test_vrmgmt_does_not_include_dmtf():
    text = VRM_ENTRY.read_text(encoding="utf-8")
    assert "dmtf" not in " ".join(re.findall(r'#pragma\s+include\s*\("([^"]+)"\)', text))


def test_every_mof_file_has_header_comment():
    for path in sorted(MOF_DIR.rglob("*.mof")):
        head = path.read_text(encoding="utf-8").splitlines()[:8]
        assert head and head[0].startswith("//"), f"{path}: no header comment"
        assert any(re.search(r"DSP\d{4}", line) for line in head), (
            f"{path}: header does not name the DMTF document(s) it follows"
        )


def test_experimental_classes_are_only_dsp1081s(dmtf_only):
    """Only the DSP1081 migration service and capabilities are skipped, each marked
    Experimental and in a file of experimental classes only."""
    want = {"CIM_VirtualSystemMigrationService", "CIM_VirtualSystemMigrationCapabilities"}
    assert want == EXPERIMENTAL
    for name in EXPERIMENTAL:
        cls = dmtf_only.GetClass(name, LocalOnly=True, IncludeQualifiers=True)
        assert cls.qualifiers["Experimental"].value is True, name
    for path in EXPERIMENTAL_FILES:
        assert set(_classes_in([path])) <= EXPERIMENTAL, f"{path} mixes in Final classes"


@needs_schema
def test_experimental_classes_are_absent_from_schema():
    files = _schema_files()
    present = sorted(c for c in EXPERIMENTAL if c.lower() in files)
    assert not present, f"in DMTF CIM Schema 2.49's Final MOFs, compare them instead: {present}"


@needs_schema
def test_dmtf_subset_classes_exist_in_schema(real):
    _, missing = real
    assert not missing, f"classes in mof/dmtf/ that are not in DMTF CIM 2.49: {missing}"


@needs_schema
@pytest.mark.parametrize("classname", FINAL_CLASSES)
def test_dmtf_class_matches_schema(dmtf_only, real, classname):
    conn = dmtf_only
    real_conn, missing = real
    if classname in missing:
        pytest.fail(f"{classname} is not in DMTF CIM Schema 2.49")
    mine = conn.GetClass(
        classname, LocalOnly=False, IncludeQualifiers=True, IncludeClassOrigin=True
    )
    theirs = real_conn.GetClass(
        classname, LocalOnly=False, IncludeQualifiers=True, IncludeClassOrigin=True
    )
    problems = _compare_class(mine, theirs)
    assert not problems, "\n".join(problems)


@needs_schema
def test_dmtf_subset_is_closed(dmtf_only, real):
    """Every superclass, REF target and EmbeddedInstance class is in mof/dmtf/ too."""
    real_conn, _ = real
    extra = sorted(_names_in(real_conn) - _names_in(dmtf_only))
    assert not extra, f"DMTF classes our subset depends on but does not define: {extra}"


def test_vrm_classes_derive_from_dmtf_subset(ours):
    conn, dmtf_names, vrm_names = ours
    classes = _all_classes(conn)
    problems = []
    for name in sorted(vrm_names):
        chain = _ancestors(classes, name)
        base = next((c for c in chain if not c.lower().startswith("vrm_")), None)
        if base is None:
            problems.append(f"{classes[name].classname}: no CIM_ superclass")
        elif base.lower() not in dmtf_names:
            problems.append(f"{classes[name].classname}: base {base} not in mof/dmtf/")
    assert not problems, "\n".join(problems)


def test_vrm_references_point_at_existing_classes(ours):
    conn, _, vrm_names = ours
    classes = _all_classes(conn)
    problems = []
    for name in sorted(vrm_names):
        cls = classes[name]
        elements = [(f"{cls.classname}.{p.name}", p) for p in cls.properties.values()]
        for m in cls.methods.values():
            elements += [
                (f"{cls.classname}.{m.name}() parameter {p.name}", p) for p in m.parameters.values()
            ]
        for where, obj in elements:
            if obj.type == "reference" and obj.reference_class.lower() not in classes:
                problems.append(f"{where}: REF {obj.reference_class} does not exist")
            ei = obj.qualifiers.get("EmbeddedInstance")
            if ei is not None and ei.value and ei.value.lower() not in classes:
                problems.append(f"{where}: EmbeddedInstance {ei.value} does not exist")
        # An overriding REF must narrow the inherited one to a subclass.
        parent = classes.get((cls.superclass or "").lower())
        for prop in cls.properties.values():
            if prop.type != "reference" or parent is None:
                continue
            inherited = parent.properties.get(prop.name)
            if inherited is None:
                continue
            target = prop.reference_class.lower()
            allowed = inherited.reference_class.lower()
            lineage = [target] + [c.lower() for c in _ancestors(classes, target)]
            if allowed not in lineage:
                problems.append(
                    f"{cls.classname}.{prop.name}: REF {prop.reference_class} "
                    f"is not a subclass of {inherited.reference_class}"
                )
    assert not problems, "\n".join(problems)


def test_vrm_associations_name_vrm_classes(ours):
    """Associations override their REFs; the project's own endpoints are VRM_ classes."""
    conn, _, vrm_names = ours
    classes = _all_classes(conn)
    expected = {
        "VRM_HostedDependency": {"Antecedent": "VRM_HostSystem", "Dependent": "VRM_ComputerSystem"},
        # (two VRM_ services with no common VRM_ base: the management service and the
        # snapshot service)
        "VRM_HostedService": {"Antecedent": "VRM_HostSystem", "Dependent": "CIM_Service"},
        "VRM_HostedResourcePool": {
            "GroupComponent": "VRM_HostSystem",
            "PartComponent": "VRM_ResourcePool",
        },
        # VM <-> VSSD and device <-> RASD: the common bases of both pairs
        "VRM_SettingsDefineState": {
            "ManagedElement": "CIM_LogicalElement",
            "SettingData": "CIM_SettingData",
        },
        "VRM_SystemDevice": {
            "GroupComponent": "VRM_ComputerSystem",
            "PartComponent": "CIM_LogicalDevice",
        },
        "VRM_ServiceAffectsElement": {
            "AffectedElement": "VRM_ComputerSystem",
            "AffectingElement": "VRM_VirtualSystemManagementService",
        },
        "VRM_VirtualSystemSettingDataComponent": {"GroupComponent": "VRM_VirtualSystemSettingData"},
        "VRM_ElementConformsToProfile": {"ConformantStandard": "VRM_RegisteredProfile"},
        "VRM_ReferencedProfile": {
            "Antecedent": "VRM_RegisteredProfile",
            "Dependent": "VRM_RegisteredProfile",
        },
        "VRM_MemberOfGroup": {"Collection": "VRM_Group"},
        "VRM_MetricDefForME": {"Dependent": "VRM_BaseMetricDefinition"},
        "VRM_MetricInstance": {
            "Antecedent": "VRM_BaseMetricDefinition",
            "Dependent": "VRM_BaseMetricValue",
        },
        "VRM_MetricForME": {"Dependent": "VRM_BaseMetricValue"},
    }
    problems = []
    for cname, refs in expected.items():
        cls = classes.get(cname.lower())
        if cls is None:
            problems.append(f"{cname}: class missing")
            continue
        for prop, target in refs.items():
            p = cls.properties.get(prop)
            if p is None or p.type != "reference":
                problems.append(f"{cname}.{prop}: no such reference")
            elif p.reference_class.lower() != target.lower():
                problems.append(f"{cname}.{prop}: REF {p.reference_class}, expected {target}")
    for name in sorted(vrm_names):
        cls = classes[name]
        if not _qual(cls, "Association"):
            continue
        for p in cls.properties.values():
            # Override is restricted: present only where this class redeclares the REF.
            if p.type == "reference" and "Override" not in p.qualifiers:
                problems.append(f"{cls.classname}.{p.name}: REF not overridden locally")
    assert not problems, "\n".join(problems)


@needs_schema
def test_vrmgmt_compiles_on_real_schema():
    """vrmgmt.mof also compiles on top of the real DMTF classes (full-schema mode)."""
    conn = _new_conn()
    _compile_real(conn, FINAL_CLASSES)
    for path in EXPERIMENTAL_FILES:  # what the schema lacks, as SFCB gets it too
        _compile(conn, path, [DMTF_DIR, SCHEMA_DIR])
    _compile(conn, VRM_ENTRY, [MOF_DIR, SCHEMA_DIR])
    names = _names_in(conn)
    missing = sorted(c for c in VRM_CLASSES if c.lower() not in names)
    assert not missing, f"VRM_ classes not compiled on the real schema: {missing}"


def test_vrm_virtual_system_types(ours):
    conn, _, _ = ours
    want = ["KVM", "QEMU", "Xen", "LXC", "VMware", "Test"]
    for cname in ("VRM_VirtualSystemSettingData", "VRM_ComputerSystem"):
        cls = conn.GetClass(cname, LocalOnly=False, IncludeQualifiers=True)
        prop = cls.properties["VirtualSystemType"]
        assert prop.type == "string", f"{cname}.VirtualSystemType is {prop.type}"
        assert list(prop.qualifiers["ValueMap"].value) == want, (
            f"{cname}.VirtualSystemType ValueMap is {prop.qualifiers['ValueMap'].value}"
        )
