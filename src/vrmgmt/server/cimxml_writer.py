"""Streaming CIM-XML response encoder (DSP0201 2.4 SIMPLERSP) on lxml's etree.xmlfile.

Writes instances, instance names, classes and method results without building a DOM,
and always with explicit end tags (`<PROPERTY ...></PROPERTY>`): sblim wbemcli's parser
rejects self-closing PROPERTY, VALUE.ARRAY, INSTANCE and IRETURNVALUE. Output is
produced in chunks so a large enumeration streams to the socket.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import pywbem
from lxml import etree
from pywbem import CIMClassName, CIMDateTime, CIMInstance, CIMInstanceName

CHUNK = 64 * 1024


class _Sink:
    """File-like object collecting lxml's output so a generator can yield it."""

    __slots__ = ("parts", "size")

    def __init__(self) -> None:
        self.parts: list[bytes] = []
        self.size = 0

    def write(self, data: bytes) -> None:
        self.parts.append(data)
        self.size += len(data)

    def take(self) -> bytes:
        data = b"".join(self.parts)
        self.parts.clear()
        self.size = 0
        return data


def value_text(value: Any, cim_type: str | None = None) -> str:
    """Text form of a scalar CIM value (DSP0201 §5.2.2 / DSP0004 value syntax)."""
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
    if isinstance(value, CIMDateTime):
        return str(value)
    return str(value)


def _keyvalue_type(value: Any) -> tuple[str, str | None]:
    if isinstance(value, bool):
        return "boolean", "boolean"
    if isinstance(value, pywbem.CIMInt | int):
        return "numeric", getattr(value, "cimtype", None)
    if isinstance(value, pywbem.CIMFloat | float):
        return "numeric", getattr(value, "cimtype", None)
    if isinstance(value, CIMDateTime):
        return "string", "datetime"
    return "string", "string"


class Writer:
    """Writes CIM-XML elements into an lxml xmlfile context."""

    def __init__(self, xf) -> None:
        self.xf = xf

    # -- paths -------------------------------------------------------------------
    def namespace_path_elems(self, namespace: str) -> None:
        xf = self.xf
        with xf.element("LOCALNAMESPACEPATH"):
            for part in namespace.strip("/").split("/"):
                with xf.element("NAMESPACE", NAME=part):
                    pass

    def instancename(self, path: CIMInstanceName) -> None:
        xf = self.xf
        with xf.element("INSTANCENAME", CLASSNAME=path.classname):
            for name, value in path.keybindings.items():
                with xf.element("KEYBINDING", NAME=name):
                    if isinstance(value, CIMInstanceName):
                        self.value_reference(value)
                    else:
                        vtype, ctype = _keyvalue_type(value)
                        attrs = {"VALUETYPE": vtype}
                        if ctype:
                            attrs["TYPE"] = ctype
                        with xf.element("KEYVALUE", attrs):
                            xf.write(value_text(value))

    def instancepath_any(self, path: CIMInstanceName) -> None:
        """INSTANCEPATH / LOCALINSTANCEPATH / INSTANCENAME depending on what the path has."""
        xf = self.xf
        if path.namespace and path.host:
            with xf.element("INSTANCEPATH"):
                with xf.element("NAMESPACEPATH"):
                    with xf.element("HOST"):
                        xf.write(path.host)
                    self.namespace_path_elems(path.namespace)
                self.instancename(path)
        elif path.namespace:
            with xf.element("LOCALINSTANCEPATH"):
                self.namespace_path_elems(path.namespace)
                self.instancename(path)
        else:
            self.instancename(path)

    def value_reference(self, path: CIMInstanceName | CIMClassName) -> None:
        with self.xf.element("VALUE.REFERENCE"):
            if isinstance(path, CIMClassName):
                self.classname_path(path)
            else:
                self.instancepath_any(path)

    def classname_path(self, path: CIMClassName) -> None:
        xf = self.xf
        if path.namespace:
            with xf.element("LOCALCLASSPATH"):
                self.namespace_path_elems(path.namespace)
                with xf.element("CLASSNAME", NAME=path.classname):
                    pass
        else:
            with xf.element("CLASSNAME", NAME=path.classname):
                pass

    # -- values ------------------------------------------------------------------
    def value(self, value: Any, cim_type: str) -> None:
        xf = self.xf
        if cim_type == "reference":
            self.value_reference(value)
            return
        if isinstance(value, CIMInstance | pywbem.CIMClass):
            text = _embedded_text(value)
        else:
            text = value_text(value, cim_type)
        with xf.element("VALUE"):
            xf.write(text)

    def property(
        self, prop: pywbem.CIMProperty, include_qualifiers: bool, include_class_origin: bool
    ) -> None:
        xf = self.xf
        attrs = {"NAME": prop.name}
        if prop.type == "reference":
            if prop.reference_class:
                attrs["REFERENCECLASS"] = prop.reference_class
        else:
            attrs["TYPE"] = prop.type
        if include_class_origin and prop.class_origin:
            attrs["CLASSORIGIN"] = prop.class_origin
        if prop.propagated is not None and include_class_origin:
            attrs["PROPAGATED"] = "true" if prop.propagated else "false"
        if prop.embedded_object:
            attrs["EmbeddedObject"] = prop.embedded_object
        if prop.is_array:
            if prop.array_size:
                attrs["ARRAYSIZE"] = str(prop.array_size)
            with xf.element("PROPERTY.ARRAY", attrs):
                if include_qualifiers:
                    self.qualifiers(prop.qualifiers)
                if prop.value is not None:
                    with xf.element("VALUE.ARRAY"):
                        for item in prop.value:
                            if item is None:
                                with xf.element("VALUE.NULL"):
                                    pass
                            elif isinstance(item, CIMInstance):
                                with xf.element("VALUE"):
                                    xf.write(_embedded_text(item))
                            else:
                                with xf.element("VALUE"):
                                    xf.write(value_text(item))
            return
        tag = "PROPERTY.REFERENCE" if prop.type == "reference" else "PROPERTY"
        with xf.element(tag, attrs):
            if include_qualifiers:
                self.qualifiers(prop.qualifiers)
            if prop.value is not None:
                self.value(prop.value, prop.type)

    def qualifiers(self, quals) -> None:
        xf = self.xf
        for q in quals.values():
            attrs = {"NAME": q.name, "TYPE": q.type}
            if q.propagated is not None:
                attrs["PROPAGATED"] = "true" if q.propagated else "false"
            for flag, attr in (
                ("overridable", "OVERRIDABLE"),
                ("tosubclass", "TOSUBCLASS"),
                ("translatable", "TRANSLATABLE"),
            ):
                v = getattr(q, flag)
                if v is not None:
                    attrs[attr] = "true" if v else "false"
            with xf.element("QUALIFIER", attrs):
                if q.value is None:
                    continue
                if isinstance(q.value, list):
                    with xf.element("VALUE.ARRAY"):
                        for item in q.value:
                            with xf.element("VALUE"):
                                xf.write(value_text(item))
                else:
                    with xf.element("VALUE"):
                        xf.write(value_text(q.value))

    def instance(
        self,
        inst: CIMInstance,
        include_qualifiers: bool = False,
        include_class_origin: bool = False,
    ) -> None:
        with self.xf.element("INSTANCE", CLASSNAME=inst.classname):
            if include_qualifiers:
                self.qualifiers(inst.qualifiers)
            for prop in inst.properties.values():
                self.property(prop, include_qualifiers, include_class_origin)

    def named_instance(self, inst: CIMInstance, **flags) -> None:
        with self.xf.element("VALUE.NAMEDINSTANCE"):
            self.instancename(inst.path)
            self.instance(inst, **flags)

    def object_with_path(self, inst: CIMInstance, **flags) -> None:
        """VALUE.OBJECTWITHPATH (associators): INSTANCEPATH + INSTANCE."""
        xf = self.xf
        path = inst.path
        with xf.element("VALUE.OBJECTWITHPATH"):
            with xf.element("INSTANCEPATH"):
                with xf.element("NAMESPACEPATH"):
                    with xf.element("HOST"):
                        xf.write(path.host or "localhost")
                    self.namespace_path_elems(path.namespace or "")
                self.instancename(path)
            self.instance(inst, **flags)

    def instance_path(self, path: CIMInstanceName) -> None:
        """INSTANCEPATH (NAMESPACEPATH + INSTANCENAME), as pull operations return."""
        xf = self.xf
        with xf.element("INSTANCEPATH"):
            with xf.element("NAMESPACEPATH"):
                with xf.element("HOST"):
                    xf.write(path.host or "localhost")
                self.namespace_path_elems(path.namespace or "")
            self.instancename(path)

    def instance_with_path(self, inst: CIMInstance, **flags) -> None:
        """VALUE.INSTANCEWITHPATH (pull operations)."""
        with self.xf.element("VALUE.INSTANCEWITHPATH"):
            self.instance_path(inst.path)
            self.instance(inst, **flags)

    def paramvalue(self, name: str, ptype: str, value: Any) -> None:
        """An output PARAMVALUE of an intrinsic method (pull operations)."""
        with self.xf.element("PARAMVALUE", NAME=name, PARAMTYPE=ptype):
            if value is not None:
                with self.xf.element("VALUE"):
                    self.xf.write(value_text(value))

    def object_path(self, path: CIMInstanceName | CIMClassName) -> None:
        """OBJECTPATH (associator names / reference names)."""
        xf = self.xf
        with xf.element("OBJECTPATH"), xf.element("INSTANCEPATH"):
            with xf.element("NAMESPACEPATH"):
                with xf.element("HOST"):
                    xf.write(path.host or "localhost")
                self.namespace_path_elems(path.namespace or "")
            self.instancename(path)

    def raw(self, element: etree._Element) -> None:
        """Write a prepared lxml element (classes, qualifier declarations)."""
        self.xf.write(element)


def _embedded_text(obj) -> str:
    return obj.tocimxmlstr()


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
) -> Iterator[bytes]:
    """Generate a whole CIM-XML response in chunks.

    body(writer) writes the IRETURNVALUE/RETURNVALUE content; if it is a generator, each
    yield is a chance to flush a chunk. Either body or error is given."""
    sink = _Sink()
    with etree.xmlfile(sink, encoding="utf-8") as xf:
        xf.write_declaration()
        with xf.element("CIM", CIMVERSION="2.0", DTDVERSION="2.0"):
            with xf.element("MESSAGE", ID=message_id, PROTOCOLVERSION=protocol_version):
                with xf.element("SIMPLERSP"):
                    tag = "IMETHODRESPONSE" if intrinsic else "METHODRESPONSE"
                    with xf.element(tag, NAME=method):
                        if error is not None:
                            with xf.element(
                                "ERROR",
                                CODE=str(error.status_code),
                                DESCRIPTION=error.status_description or "",
                            ):
                                pass
                        elif body is not None:
                            w = Writer(xf)
                            produced = body(w)
                            if produced is not None:
                                for _ in produced:
                                    if sink.size >= CHUNK:
                                        xf.flush()
                                        yield sink.take()
        xf.flush()
    yield sink.take()


def ireturn(items: Iterable, write_item: Callable[[Writer, Any], None]):
    """Body builder: <IRETURNVALUE> with one element per item, flushing as it goes."""

    def body(w: Writer) -> Iterator[None]:
        with w.xf.element("IRETURNVALUE"):
            for item in items:
                write_item(w, item)
                yield None

    return body
