"""The class repository of the embedded CIMOM: MOF compiled with pywbem's MOF compiler
(into pywbem_mock's public InMemoryRepository), cached on disk keyed by a hash of the MOF
sources so later starts skip compilation.

Namespaces: root/virt (implementation) and root/interop (DSP1033 interop). Both hold
the same class set: the DMTF base classes (mof/dmtf/, or a configured full DMTF schema
directory) and the VRM_ classes (mof/vrmgmt.mof). There is deliberately no "interop"
alias: pywbem's WBEMServer probes "interop" first and keeps the first name that
answers, so an alias would make clients report "interop" as the interop namespace and
list it as a namespace of its own; "interop" answers CIM_ERR_INVALID_NAMESPACE.
"""

from __future__ import annotations

import hashlib
import logging
import os
import pickle
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
CACHE_FORMAT = 1


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


def load_classes(
    mof_dir: Path | None = None, schema_dir: Path | None = None, cache_dir: Path | None = None
) -> ClassSet:
    """Compiled classes, from the cache when the MOF sources are unchanged."""
    mof_dir = mof_dir or default_mof_dir()
    key = _fingerprint(mof_dir, schema_dir)
    cache_file = cache_dir / f"classes-{key}.pickle" if cache_dir else None
    if cache_file is not None and cache_file.exists():
        try:
            with cache_file.open("rb") as f:
                data = pickle.load(f)
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
            for old in cache_file.parent.glob("classes-*.pickle"):
                old.unlink(missing_ok=True)
            fd, tmp = tempfile.mkstemp(dir=cache_file.parent, prefix=".classes-")
            with os.fdopen(fd, "wb") as f:
                pickle.dump(data, f, protocol=pickle.HIGHEST_PROTOCOL)
            os.replace(tmp, cache_file)
        except OSError as exc:
            log.warning("cannot write schema cache %s: %s", cache_file, exc)
    return data
