"""The class repository of the embedded CIMOM: MOF compiled with pywbem's MOF compiler
(into pywbem_mock's public InMemoryRepository), cached on disk keyed by a hash of the MOF
sources so later starts skip compilation. The cache is plain JSON (classes and
qualifier declarations as dicts of names, types and values), read without any code
execution: a crafted cache file can at worst fail to load, and is then recompiled.

Namespaces: root/virt (implementation) and root/interop (DSP1033 interop). Both hold
the same class set: the DMTF base classes (mof/dmtf/, or a configured full DMTF schema
directory) and the VRM_ classes (mof/vrmgmt.mof). There is deliberately no "interop"
alias: pywbem's WBEMServer probes "interop" first and keeps the first name that
answers, so an alias would make clients report "interop" as the interop namespace and
list it as a namespace of its own; "interop" answers CIM_ERR_INVALID_NAMESPACE.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import pywbem
from pywbem import CIMClass, CIMError

log = logging.getLogger(__name__)

IMPLEMENTATION_NS = "root/virt"
INTEROP_NS = "root/interop"
NAMESPACE_ALIASES: dict[str, str] = {}
CACHE_FORMAT = 2  # 1 was a pickle (never read again: it could run code)


def default_mof_dir() -> Path:
    """mof/ of a source checkout, or the copy installed next to the package."""
    here = Path(__file__).resolve()
    for cand in (here.parents[3] / "mof", here.parents[1] / "data" / "mof"):
        if (cand / "vrmgmt.mof").exists():
            return cand
    return here.parents[3] / "mof"


@dataclass
class ClassSet:
    """All classes of one compiled schema, with the hierarchy precomputed."""

    classes: dict[str, CIMClass]  # lower-case name -> class (inherited members resolved)
    qualifiers: dict[str, pywbem.CIMQualifierDeclaration]
    children: dict[str, list[str]] = field(default_factory=dict)  # lower -> direct subclasses

    def __post_init__(self) -> None:
        self.children = {name: [] for name in self.classes}
        for cls in self.classes.values():
            if cls.superclass:
                self.children.setdefault(cls.superclass.lower(), []).append(cls.classname)
        for kids in self.children.values():
            kids.sort(key=str.lower)


class ClassRepository:
    def __init__(self, classset: ClassSet, namespaces=(IMPLEMENTATION_NS, INTEROP_NS)):
        self._set = classset
        self.namespaces = list(namespaces)
        self._ns_lower = {ns.lower(): ns for ns in self.namespaces}
        for alias, target in NAMESPACE_ALIASES.items():
            if target.lower() in self._ns_lower:
                self._ns_lower[alias] = target

    # -- namespaces -------------------------------------------------------------------
    def canonical_namespace(self, namespace: str) -> str:
        ns = (namespace or "").strip("/")
        try:
            return self._ns_lower[ns.lower()]
        except KeyError:
            raise CIMError(
                pywbem.CIM_ERR_INVALID_NAMESPACE, f"namespace {namespace!r} does not exist"
            ) from None

    # -- classes ----------------------------------------------------------------------
    def get_class(self, name: str) -> CIMClass:
        try:
            return self._set.classes[name.lower()]
        except KeyError:
            raise CIMError(pywbem.CIM_ERR_INVALID_CLASS, f"class {name!r} does not exist") from None

    def has_class(self, name: str) -> bool:
        return name.lower() in self._set.classes

    def class_names(self, parent: str | None, deep: bool) -> list[str]:
        """Subclass names of parent (None: the root classes)."""
        if parent is None:
            roots = sorted(
                (c.classname for c in self._set.classes.values() if not c.superclass),
                key=str.lower,
            )
            if not deep:
                return roots
            out = []
            for r in roots:
                out.append(r)
                out.extend(self.class_names(r, True))
            return out
        self.get_class(parent)
        kids = self._set.children.get(parent.lower(), [])
        if not deep:
            return list(kids)
        out = []
        for k in kids:
            out.append(k)
            out.extend(self.class_names(k, True))
        return out

    def is_subclass(self, sub: str, sup: str) -> bool:
        sup_l = sup.lower()
        cls = self._set.classes.get(sub.lower())
        while cls is not None:
            if cls.classname.lower() == sup_l:
                return True
            cls = self._set.classes.get(cls.superclass.lower()) if cls.superclass else None
        return False

    def superclasses(self, name: str) -> list[str]:
        out = []
        cls = self.get_class(name)
        while cls.superclass:
            out.append(cls.superclass)
            cls = self.get_class(cls.superclass)
        return out

    def qualifier_declarations(self) -> list[pywbem.CIMQualifierDeclaration]:
        return list(self._set.qualifiers.values())

    def get_qualifier(self, name: str) -> pywbem.CIMQualifierDeclaration:
        try:
            return self._set.qualifiers[name.lower()]
        except KeyError:
            raise CIMError(pywbem.CIM_ERR_NOT_FOUND, f"qualifier {name!r} does not exist") from None

    @property
    def class_count(self) -> int:
        return len(self._set.classes)


# -- compiling and caching ------------------------------------------------------------
def _sources(mof_dir: Path, schema_dir: Path | None) -> tuple[list[Path], list[Path]]:
    """(entry files to compile in order, search path)."""
    if schema_dir is not None:
        entry = next(iter(sorted(schema_dir.glob("cim_schema_*.mof"))), None)
        if entry is None:
            raise FileNotFoundError(f"{schema_dir}: no cim_schema_*.mof entry file")
        return [entry, mof_dir / "vrmgmt.mof"], [schema_dir, mof_dir]
    return [mof_dir / "dmtf" / "dmtf.mof", mof_dir / "vrmgmt.mof"], [mof_dir / "dmtf", mof_dir]


def _fingerprint(mof_dir: Path, schema_dir: Path | None) -> str:
    h = hashlib.sha256(f"{CACHE_FORMAT}:{pywbem.__version__}".encode())
    for p in sorted(mof_dir.rglob("*.mof")):
        h.update(str(p.relative_to(mof_dir)).encode())
        h.update(p.read_bytes())
    if schema_dir is not None:
        h.update(str(schema_dir.resolve()).encode())
        for p in sorted(schema_dir.rglob("*.mof")):
            st = p.stat()
            h.update(f"{p.relative_to(schema_dir)}:{st.st_size}:{st.st_mtime_ns}".encode())
    return h.hexdigest()[:24]


def compile_classes(mof_dir: Path, schema_dir: Path | None = None) -> ClassSet:
    from pywbem_mock import FakedWBEMConnection

    entries, search = _sources(mof_dir, schema_dir)
    conn = FakedWBEMConnection(default_namespace=IMPLEMENTATION_NS)
    for entry in entries:
        conn.compile_mof_file(
            str(entry),
            namespace=IMPLEMENTATION_NS,
            search_paths=[str(s) for s in search],
            verbose=False,
        )
    repo = conn.cimrepository
    cstore = repo.get_class_store(IMPLEMENTATION_NS)
    qstore = repo.get_qualifier_store(IMPLEMENTATION_NS)
    classes = {c.classname.lower(): c for c in cstore.iter_values()}
    quals = {q.name.lower(): q for q in qstore.iter_values()}
    return ClassSet(classes=classes, qualifiers=quals)


# -- the JSON cache: no code runs when it is read ---------------------------------
def _val(v):
    if isinstance(v, list):
        return [_val(x) for x in v]
    if v is None or isinstance(v, bool | str):
        return v
    if isinstance(v, int | float):
        return v.real if not isinstance(v, bool) else v
    return str(v)  # CIMDateTime and the like: their CIM-XML text form


def _typed(v, cim_type):
    if v is None:
        return None
    return pywbem.cimvalue(v, cim_type)


def _quals_out(quals) -> list:
    return [
        [q.name, q.type, _val(q.value), q.propagated, q.overridable, q.tosubclass,
         q.toinstance, q.translatable]
        for q in quals.values()
    ]  # fmt: skip


def _quals_in(data) -> dict:
    out = {}
    for name, typ, value, prop, ovr, tosub, toinst, transl in data:
        out[name] = pywbem.CIMQualifier(
            name, _typed(value, typ), type=typ, propagated=prop, overridable=ovr,
            tosubclass=tosub, toinstance=toinst, translatable=transl,
        )  # fmt: skip
    return out


def _class_out(c: CIMClass) -> dict:
    props = [
        [p.name, p.type, _val(p.value), p.is_array, p.array_size, p.reference_class,
         p.embedded_object, p.class_origin, p.propagated, _quals_out(p.qualifiers)]
        for p in c.properties.values()
    ]  # fmt: skip
    methods = []
    for m in c.methods.values():
        params = [
            [a.name, a.type, a.reference_class, a.is_array, a.array_size,
             a.embedded_object, _quals_out(a.qualifiers)]
            for a in m.parameters.values()
        ]  # fmt: skip
        methods.append(
            [m.name, m.return_type, m.class_origin, m.propagated, _quals_out(m.qualifiers), params]
        )
    return {
        "name": c.classname,
        "super": c.superclass,
        "quals": _quals_out(c.qualifiers),
        "props": props,
        "methods": methods,
    }


def _class_in(d: dict) -> CIMClass:
    c = CIMClass(d["name"], superclass=d["super"], qualifiers=_quals_in(d["quals"]))
    for name, typ, value, arr, size, ref, emb, origin, prop, quals in d["props"]:
        c.properties[name] = pywbem.CIMProperty(
            name, _typed(value, typ), type=typ, is_array=arr, array_size=size,
            reference_class=ref, embedded_object=emb, class_origin=origin,
            propagated=prop, qualifiers=_quals_in(quals),
        )  # fmt: skip
    for name, rtype, origin, prop, quals, params in d["methods"]:
        m = pywbem.CIMMethod(
            name, return_type=rtype, class_origin=origin, propagated=prop,
            qualifiers=_quals_in(quals),
        )  # fmt: skip
        for pname, ptype, ref, arr, size, emb, pquals in params:
            m.parameters[pname] = pywbem.CIMParameter(
                pname, ptype, reference_class=ref, is_array=arr, array_size=size,
                embedded_object=emb, qualifiers=_quals_in(pquals),
            )  # fmt: skip
        c.methods[name] = m
    return c


def _qdecl_out(q: pywbem.CIMQualifierDeclaration) -> list:
    return [
        q.name, q.type, _val(q.value), q.is_array, q.array_size, dict(q.scopes),
        q.overridable, q.tosubclass, q.toinstance, q.translatable,
    ]  # fmt: skip


def _qdecl_in(d: list) -> pywbem.CIMQualifierDeclaration:
    name, typ, value, arr, size, scopes, ovr, tosub, toinst, transl = d
    return pywbem.CIMQualifierDeclaration(
        name, typ, value=_typed(value, typ), is_array=arr, array_size=size, scopes=scopes,
        overridable=ovr, tosubclass=tosub, toinstance=toinst, translatable=transl,
    )  # fmt: skip


def dump_classset(data: ClassSet) -> bytes:
    """The class set as JSON (the schema cache's format)."""
    doc = {
        "format": CACHE_FORMAT,
        "classes": [_class_out(c) for c in data.classes.values()],
        "qualifiers": [_qdecl_out(q) for q in data.qualifiers.values()],
    }
    return json.dumps(doc, separators=(",", ":")).encode()


def load_classset(raw: bytes) -> ClassSet:
    """A class set from dump_classset's JSON; ValueError/TypeError/KeyError if malformed."""
    doc = json.loads(raw)
    if not isinstance(doc, dict) or doc.get("format") != CACHE_FORMAT:
        raise ValueError("not a schema cache of this version")
    classes = {}
    for d in doc["classes"]:
        c = _class_in(d)
        classes[c.classname.lower()] = c
    quals = {}
    for d in doc["qualifiers"]:
        q = _qdecl_in(d)
        quals[q.name.lower()] = q
    return ClassSet(classes=classes, qualifiers=quals)


def load_classes(
    mof_dir: Path | None = None, schema_dir: Path | None = None, cache_dir: Path | None = None
) -> ClassSet:
    """Compiled classes, from the cache when the MOF sources are unchanged."""
    mof_dir = mof_dir or default_mof_dir()
    key = _fingerprint(mof_dir, schema_dir)
    cache_file = cache_dir / f"classes-{key}.json" if cache_dir else None
    if cache_file is not None and cache_file.exists():
        try:
            data = load_classset(cache_file.read_bytes())
            log.info("schema: %d classes from cache %s", len(data.classes), cache_file)
            return data
        except Exception as exc:  # noqa: BLE001 - a bad cache is rebuilt, not fatal
            log.warning("schema cache %s unreadable (%s); recompiling", cache_file, exc)
    t0 = time.monotonic()
    data = compile_classes(mof_dir, schema_dir)
    log.info("schema: compiled %d classes in %.1f s", len(data.classes), time.monotonic() - t0)
    if cache_file is not None:
        try:
            cache_file.parent.mkdir(parents=True, exist_ok=True)
            for pattern in ("classes-*.pickle", "classes-*.json"):  # pickles: never read
                for old in cache_file.parent.glob(pattern):
                    old.unlink(missing_ok=True)
            fd, tmp = tempfile.mkstemp(dir=cache_file.parent, prefix=".classes-")
            with os.fdopen(fd, "wb") as f:
                f.write(dump_classset(data))
            os.replace(tmp, cache_file)
        except OSError as exc:
            log.warning("cannot write schema cache %s: %s", cache_file, exc)
    return data
