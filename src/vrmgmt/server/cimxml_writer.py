"""Streaming CIM-XML response encoder (DSP0201 2.4 SIMPLERSP).

Writes instances, instance names, classes and method results as text without building a
DOM, always with explicit end tags (`<PROPERTY ...></PROPERTY>`): sblim wbemcli's parser
rejects self-closing PROPERTY, VALUE.ARRAY, INSTANCE and IRETURNVALUE. Instances are
encoded from per-property tag templates (cached), which is several times faster than
element-by-element serialisation, and the elements of unchanged instances are reused
from the previous response of the same enumeration (EncodingCache); classes and
qualifier declarations, which are few, go through pywbem's tocimxmlstr() and lxml.
Output is produced in chunks so a large enumeration streams to the socket.
"""

from __future__ import annotations

import math
import re
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import Any

import pywbem
from lxml import etree
from pywbem import CIMClassName, CIMDateTime, CIMInstance, CIMInstanceName

CHUNK = 512 * 1024

_NEEDS_ESCAPE = re.compile(r'[&<>"\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]')
_ILLEGAL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def esc(s: str) -> str:
    """Escape text or an attribute value (XML 1.0 cannot carry most control characters:
    they become U+FFFD)."""
    if _NEEDS_ESCAPE.search(s) is None:
        return s
    s = s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;")
    return _ILLEGAL.sub("\ufffd", s)


def value_text(value: Any, cim_type: str | None = None) -> str:
    """Text form of a scalar CIM value (DSP0201 §5.2.2 / DSP0004 value syntax), unescaped."""
    if value is True:
        return "TRUE"
    if value is False:
        return "FALSE"
    if isinstance(value, str):
        return value
    if isinstance(value, float):
        if math.isnan(value):
            return "NaN"
        if math.isinf(value):
            return "INF" if value > 0 else "-INF"
        return repr(float(value))
    if isinstance(value, int):
        return str(int(value))
    return str(value)


# PROPERTY start/end tags by what shapes them: built once per process, not per response
# (a handful of entries per class; dict reads and writes are atomic).
_TAGS: dict[tuple, tuple[str, str]] = {}


class EncodingCache:
    """The encodings of the last plain EnumerateInstances response, per request
    signature (namespace, class, DeepInheritance). Providers that hand out the same
    instance objects while a VM is unchanged (vrmgmt.classes.system.computer_system) get their
    VALUE.NAMEDINSTANCE text back on the next enumeration; each response replaces the
    previous generation, so memory stays that of one response and stale entries go."""

    MAX_SIGNATURES = 8
    MAX_ENTRIES = 12_000  # larger responses are not remembered

    def __init__(self) -> None:
        self._gens: OrderedDict[tuple, dict[int, tuple[Any, str]]] = OrderedDict()
        self._lock = threading.Lock()

    def previous(self, key: tuple) -> dict[int, tuple[Any, str]]:
        with self._lock:
            return self._gens.get(key) or {}

    def store(self, key: tuple, gen: dict[int, tuple[Any, str]]) -> None:
        with self._lock:
            self._gens[key] = gen
            self._gens.move_to_end(key)
            while len(self._gens) > self.MAX_SIGNATURES:
                self._gens.popitem(last=False)


ENCODINGS = EncodingCache()


def _attrs(attrs: dict[str, str] | None) -> str:
    if not attrs:
        return ""
    return "".join(f' {k}="{esc(str(v))}"' for k, v in attrs.items())


def _keyvalue_attrs(value: Any) -> str:
    if isinstance(value, bool):
        return ' VALUETYPE="boolean" TYPE="boolean"'
    if isinstance(value, int | float):
        ctype = getattr(value, "cimtype", None)
        return f' VALUETYPE="numeric" TYPE="{ctype}"' if ctype else ' VALUETYPE="numeric"'
    if isinstance(value, CIMDateTime):
        return ' VALUETYPE="string" TYPE="datetime"'
    return ' VALUETYPE="string" TYPE="string"'


def _ns_path(namespace: str) -> str:
    return (
        "<LOCALNAMESPACEPATH>"
        + "".join(
            f'<NAMESPACE NAME="{esc(p)}"></NAMESPACE>' for p in namespace.strip("/").split("/")
        )
        + "</LOCALNAMESPACEPATH>"
    )


class Writer:
    """Collects encoded text; `xf` is itself, offering element()/write() for the odd
    hand-written element (as lxml's xmlfile did)."""

    def __init__(self, previous: dict[int, tuple[Any, str]] | None = None) -> None:
        #: encodings of the last response of the same request (EncodingCache), or None
        self.previous = previous
        self.remembered: dict[int, tuple[Any, str]] = {}
        self.parts: list[str] = []
        self.size = 0

    @property
    def xf(self) -> Writer:
        return self

    # -- generic ------------------------------------------------------------------------
    def out(self, s: str) -> None:
        self.parts.append(s)
        self.size += len(s)

    @contextmanager
    def element(self, tag: str, attrs: dict[str, str] | None = None, **kw: str):
        a = dict(attrs or {}, **kw)
        self.out(f"<{tag}{_attrs(a)}>")
        yield
        self.out(f"</{tag}>")

    def write(self, text: Any) -> None:
        if isinstance(text, etree._Element):
            self.raw(text)
        else:
            self.out(esc(str(text)))

    def raw(self, element: etree._Element) -> None:
        """A prepared lxml element (classes, qualifier declarations)."""
        self.out(etree.tostring(element, encoding="unicode"))

    def take(self) -> bytes:
        data = "".join(self.parts).encode("utf-8", "surrogateescape")
        self.parts.clear()
        self.size = 0
        return data

    # -- paths ------------------------------------------------------------------------
    def namespace_path_elems(self, namespace: str) -> None:
        self.out(_ns_path(namespace))

    def _instancename(self, path: CIMInstanceName) -> str:
        parts = [f'<INSTANCENAME CLASSNAME="{esc(path.classname)}">']
        for name, value in path.keybindings.items():
            if isinstance(value, CIMInstanceName):
                parts.append(
                    f'<KEYBINDING NAME="{esc(name)}"><VALUE.REFERENCE>'
                    f"{self._instancepath_any(value)}</VALUE.REFERENCE></KEYBINDING>"
                )
            else:
                parts.append(
                    f'<KEYBINDING NAME="{esc(name)}"><KEYVALUE{_keyvalue_attrs(value)}>'
                    f"{esc(value_text(value))}</KEYVALUE></KEYBINDING>"
                )
        parts.append("</INSTANCENAME>")
        return "".join(parts)

    def instancename(self, path: CIMInstanceName) -> None:
        self.out(self._instancename(path))

    def _instancepath(self, path: CIMInstanceName) -> str:
        return (
            f"<INSTANCEPATH><NAMESPACEPATH><HOST>{esc(path.host or 'localhost')}</HOST>"
            f"{_ns_path(path.namespace or '')}</NAMESPACEPATH>"
            f"{self._instancename(path)}</INSTANCEPATH>"
        )

    def _instancepath_any(self, path: CIMInstanceName) -> str:
        """INSTANCEPATH / LOCALINSTANCEPATH / INSTANCENAME depending on what the path has."""
        if path.namespace and path.host:
            return self._instancepath(path)
        if path.namespace:
            return (
                f"<LOCALINSTANCEPATH>{_ns_path(path.namespace)}"
                f"{self._instancename(path)}</LOCALINSTANCEPATH>"
            )
        return self._instancename(path)

    def _classpath_any(self, path: CIMClassName) -> str:
        cn = f'<CLASSNAME NAME="{esc(path.classname)}"></CLASSNAME>'
        if path.namespace:
            return f"<LOCALCLASSPATH>{_ns_path(path.namespace)}{cn}</LOCALCLASSPATH>"
        return cn

    def _value_reference(self, path) -> str:
        inner = (
            self._classpath_any(path)
            if isinstance(path, CIMClassName)
            else self._instancepath_any(path)
        )
        return f"<VALUE.REFERENCE>{inner}</VALUE.REFERENCE>"

    def value_reference(self, path: CIMInstanceName | CIMClassName) -> None:
        self.out(self._value_reference(path))

    def instance_path(self, path: CIMInstanceName) -> None:
        self.out(self._instancepath(path))

    def object_path(self, path: CIMInstanceName) -> None:
        self.out(f"<OBJECTPATH>{self._instancepath(path)}</OBJECTPATH>")

    # -- values and properties -----------------------------------------------------------
    def value(self, value: Any, cim_type: str) -> None:
        if cim_type == "reference":
            self.out(self._value_reference(value))
        elif isinstance(value, CIMInstance | pywbem.CIMClass):
            self.out(f"<VALUE>{esc(value.tocimxmlstr())}</VALUE>")
        else:
            self.out(f"<VALUE>{esc(value_text(value))}</VALUE>")

    def _prop_tags(self, prop: pywbem.CIMProperty, ico: bool) -> tuple[str, str]:
        key = (
            prop.name,
            prop.type,
            prop.is_array,
            prop.reference_class,
            prop.embedded_object,
            prop.array_size,
            prop.class_origin if ico else None,
            prop.propagated if ico else None,
        )
        tags = _TAGS.get(key)
        if tags is None:
            a = {"NAME": prop.name}
            if prop.type == "reference":
                if prop.reference_class:
                    a["REFERENCECLASS"] = prop.reference_class
            else:
                a["TYPE"] = prop.type
            if ico and prop.class_origin:
                a["CLASSORIGIN"] = prop.class_origin
            if ico and prop.propagated is not None:
                a["PROPAGATED"] = "true" if prop.propagated else "false"
            if prop.embedded_object:
                a["EmbeddedObject"] = prop.embedded_object
            if prop.is_array:
                if prop.array_size:
                    a["ARRAYSIZE"] = str(prop.array_size)
                tag = "PROPERTY.ARRAY"
            else:
                tag = "PROPERTY.REFERENCE" if prop.type == "reference" else "PROPERTY"
            tags = (f"<{tag}{_attrs(a)}>", f"</{tag}>")
            _TAGS[key] = tags
        return tags

    def _property(self, prop: pywbem.CIMProperty, iq: bool, ico: bool) -> str:
        start, end = self._prop_tags(prop, ico)
        quals = self._qualifiers(prop.qualifiers) if iq and prop.qualifiers else ""
        v = prop.value
        if v is None:
            return f"{start}{quals}{end}"
        if prop.is_array:
            items = []
            for item in v:
                if item is None:
                    items.append("<VALUE.NULL></VALUE.NULL>")
                elif isinstance(item, CIMInstance):
                    items.append(f"<VALUE>{esc(item.tocimxmlstr())}</VALUE>")
                else:
                    items.append(f"<VALUE>{esc(value_text(item))}</VALUE>")
            return f"{start}{quals}<VALUE.ARRAY>{''.join(items)}</VALUE.ARRAY>{end}"
        if prop.type == "reference":
            return f"{start}{quals}{self._value_reference(v)}{end}"
        if isinstance(v, str):
            text = esc(v)
        elif isinstance(v, CIMInstance | pywbem.CIMClass):
            text = esc(v.tocimxmlstr())
        else:
            text = esc(value_text(v))
        return f"{start}{quals}<VALUE>{text}</VALUE>{end}"

    def property(
        self,
        prop: pywbem.CIMProperty,
        include_qualifiers: bool = False,
        include_class_origin: bool = False,
    ) -> None:
        self.out(self._property(prop, include_qualifiers, include_class_origin))

    def _qualifiers(self, quals) -> str:
        out = []
        for q in quals.values():
            a = {"NAME": q.name, "TYPE": q.type}
            if q.propagated is not None:
                a["PROPAGATED"] = "true" if q.propagated else "false"
            for flag, attr in (
                ("overridable", "OVERRIDABLE"),
                ("tosubclass", "TOSUBCLASS"),
                ("translatable", "TRANSLATABLE"),
            ):
                v = getattr(q, flag)
                if v is not None:
                    a[attr] = "true" if v else "false"
            if q.value is None:
                body = ""
            elif isinstance(q.value, list):
                body = (
                    "<VALUE.ARRAY>"
                    + "".join(f"<VALUE>{esc(value_text(i))}</VALUE>" for i in q.value)
                    + "</VALUE.ARRAY>"
                )
            else:
                body = f"<VALUE>{esc(value_text(q.value))}</VALUE>"
            out.append(f"<QUALIFIER{_attrs(a)}>{body}</QUALIFIER>")
        return "".join(out)

    def qualifiers(self, quals) -> None:
        self.out(self._qualifiers(quals))

    def _instance(self, inst: CIMInstance, iq: bool, ico: bool) -> str:
        return self._encode_instance(inst, iq, ico)

    def _encode_instance(self, inst: CIMInstance, iq: bool, ico: bool) -> str:
        prop = self._property
        body = "".join([prop(p, iq, ico) for p in inst.properties.values()])
        quals = self._qualifiers(inst.qualifiers) if iq and inst.qualifiers else ""
        return f'<INSTANCE CLASSNAME="{esc(inst.classname)}">{quals}{body}</INSTANCE>'

    def instance(
        self,
        inst: CIMInstance,
        include_qualifiers: bool = False,
        include_class_origin: bool = False,
    ) -> None:
        self.out(self._instance(inst, include_qualifiers, include_class_origin))

    def named_instance(
        self,
        inst: CIMInstance,
        include_qualifiers: bool = False,
        include_class_origin: bool = False,
    ) -> None:
        prev = self.previous
        if prev is not None and not include_qualifiers and not include_class_origin:
            hit = prev.get(id(inst))
            if hit is not None and hit[0] is inst:  # the very same (unchanged) instance
                text = hit[1]
            else:
                text = (
                    f"<VALUE.NAMEDINSTANCE>{self._instancename(inst.path)}"
                    f"{self._encode_instance(inst, False, False)}</VALUE.NAMEDINSTANCE>"
                )
            if len(self.remembered) < EncodingCache.MAX_ENTRIES:
                self.remembered[id(inst)] = (inst, text)
            self.out(text)
            return
        self.out(
            f"<VALUE.NAMEDINSTANCE>{self._instancename(inst.path)}"
            f"{self._instance(inst, include_qualifiers, include_class_origin)}"
            "</VALUE.NAMEDINSTANCE>"
        )

    def _with_path(self, tag: str, inst: CIMInstance, iq: bool, ico: bool) -> None:
        self.out(f"<{tag}>{self._instancepath(inst.path)}{self._instance(inst, iq, ico)}</{tag}>")

    def instance_with_path(
        self,
        inst: CIMInstance,
        include_qualifiers: bool = False,
        include_class_origin: bool = False,
    ) -> None:
        """VALUE.INSTANCEWITHPATH (pull operations)."""
        self._with_path("VALUE.INSTANCEWITHPATH", inst, include_qualifiers, include_class_origin)

    def object_with_path(
        self,
        inst: CIMInstance,
        include_qualifiers: bool = False,
        include_class_origin: bool = False,
    ) -> None:
        """VALUE.OBJECTWITHPATH (associators, references, ExecQuery)."""
        self._with_path("VALUE.OBJECTWITHPATH", inst, include_qualifiers, include_class_origin)

    def paramvalue(self, name: str, ptype: str, value: Any) -> None:
        """An output PARAMVALUE of an intrinsic method (pull operations)."""
        body = "" if value is None else f"<VALUE>{esc(value_text(value))}</VALUE>"
        self.out(f'<PARAMVALUE NAME="{esc(name)}" PARAMTYPE="{ptype}">{body}</PARAMVALUE>')


def explicit_end_tags(xml: str) -> etree._Element:
    """Parse pywbem's tocimxmlstr() output, making every empty element serialize with an
    explicit end tag (lxml writes <X></X> when .text is "")."""
    elem = etree.fromstring(xml)
    for e in elem.iter():
        if len(e) == 0 and e.text is None:
            e.text = ""
    return elem


def response(
    message_id: str,
    method: str,
    intrinsic: bool,
    body: Callable[[Writer], Iterator[None] | None] | None,
    error: pywbem.CIMError | None = None,
    protocol_version: str = "1.0",
    cache_key: tuple | None = None,
) -> Iterator[bytes]:
    """Generate a whole CIM-XML response in chunks.

    body(writer) writes the IRETURNVALUE/RETURNVALUE content; if it is a generator, each
    yield is a chance to flush a chunk. Either body or error is given."""
    w = Writer(ENCODINGS.previous(cache_key) if cache_key is not None else None)
    tag = "IMETHODRESPONSE" if intrinsic else "METHODRESPONSE"
    w.out(
        '<?xml version="1.0" encoding="utf-8" ?>\n<CIM CIMVERSION="2.0" DTDVERSION="2.0">'
        f'<MESSAGE ID="{esc(message_id)}" PROTOCOLVERSION="{esc(protocol_version)}">'
        f'<SIMPLERSP><{tag} NAME="{esc(method)}">'
    )
    if error is not None:
        w.out(
            f'<ERROR CODE="{int(error.status_code)}" '
            f'DESCRIPTION="{esc(error.status_description or "")}"></ERROR>'
        )
    elif body is not None:
        produced = body(w)
        if produced is not None:
            for _ in produced:
                if w.size >= CHUNK:
                    yield w.take()
    w.out(f"</{tag}></SIMPLERSP></MESSAGE></CIM>\n")
    if cache_key is not None and error is None and len(w.remembered) < EncodingCache.MAX_ENTRIES:
        ENCODINGS.store(cache_key, w.remembered)
    yield w.take()


def ireturn(items: Iterable, write_item: Callable[[Writer, Any], None]):
    """Body builder: <IRETURNVALUE> with one element per item, flushing as it goes."""

    def body(w: Writer) -> Iterator[None]:
        w.out("<IRETURNVALUE>")
        for item in items:
            write_item(w, item)
            yield None
        w.out("</IRETURNVALUE>")

    return body
