"""Decoding CIM-XML operation requests (DSP0201 SIMPLEREQ: IMETHODCALL, METHODCALL).

The only module that touches pywbem's private CIM-XML parser (pywbem._tupleparse,
pinned by pywbem~=1.9.1): the body is parsed safely with lxml (no DTD, no entity
expansion, no network, libxml2's depth limit), turned into pywbem's tupletree shape and
handed to TupleParser. Anything wrong comes out as RequestError with the DSP0200 §7.5
CIMError header value and an HTTP status.
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass, field
from typing import Any

import pywbem
from lxml import etree
from pywbem import _tupleparse

MAX_REFERENCE_DEPTH = 4  # VALUE.REFERENCE inside key bindings inside VALUE.REFERENCE …
#: CIM-XML elements have at most 7 attributes (DSP0201 PROPERTY); pywbem checks the
#: attributes of an element in time quadratic in their number, so more are refused.
MAX_ATTRIBUTES = 32
_XML_DECL_ENCODING = re.compile(rb"""^\s*<\?xml[^>]*\bencoding\s*=\s*["']([^"']+)["']""")


class _RefuseExternal(etree.Resolver):
    """libxml2 may still try to load external (parameter) entities; refuse them all."""

    def resolve(self, url, pubid, context):
        raise RequestError(400, "request-not-well-formed", "external entities are refused")


def _make_parser() -> etree.XMLParser:
    parser = etree.XMLParser(
        encoding="utf-8",  # DSP0200: CIM-XML requests are UTF-8, whatever they declare
        resolve_entities=False,
        no_network=True,
        load_dtd=False,
        dtd_validation=False,
        huge_tree=False,  # keeps libxml2's depth and text-size limits
        remove_comments=True,
        remove_pis=True,
        collect_ids=False,
    )
    parser.resolvers.add(_RefuseExternal())
    return parser


_LOCAL = threading.local()


def _parser() -> etree.XMLParser:
    p = getattr(_LOCAL, "parser", None)
    if p is None:
        p = _LOCAL.parser = _make_parser()
    return p


class RequestError(Exception):
    """A request that cannot be processed at the HTTP/XML level (DSP0200 §7.5)."""

    def __init__(self, http_status: int, cim_error: str, message: str):
        super().__init__(message)
        self.http_status = http_status
        self.cim_error = cim_error  # value of the CIMError response header
        self.message = message


@dataclass
class Request:
    kind: str  # "imethod" (intrinsic) or "method" (extrinsic)
    name: str  # IMETHODCALL / METHODCALL NAME
    namespace: str
    message_id: str
    protocol_version: str = "1.0"
    #: intrinsic: IPARAMVALUE name -> parsed value (CIMClassName, CIMInstanceName,
    #: CIMInstance, str, bool, list[str] ...)
    params: dict[str, Any] = field(default_factory=dict)
    #: extrinsic: target path (CIMInstanceName or CIMClassName, namespace filled in)
    target: Any = None
    #: extrinsic: PARAMVALUE name -> (PARAMTYPE or None, raw value)
    method_params: dict[str, tuple[str | None, Any]] = field(default_factory=dict)
    #: parameter names given more than once (the dispatcher refuses the request)
    duplicates: list[str] = field(default_factory=list)


def _to_tupletree(elem: etree._Element, ref_depth: int = 0) -> tuple:
    """lxml element -> pywbem's tupletree (name, attrs, children); bounds the nesting of
    references in key bindings, which pywbem would otherwise follow to any depth."""
    if elem.tag == "VALUE.REFERENCE":
        ref_depth += 1
        if ref_depth > MAX_REFERENCE_DEPTH:
            raise RequestError(
                400, "request-not-valid", f"references nested deeper than {MAX_REFERENCE_DEPTH}"
            )
    if len(elem.attrib) > MAX_ATTRIBUTES:
        raise RequestError(
            400,
            "request-not-valid",
            f"element {elem.tag} has {len(elem.attrib)} attributes (at most {MAX_ATTRIBUTES})",
        )
    if elem.tag == "VALUE" and len(elem) == 1 and elem[0].tag == "INSTANCE":
        # sblim wbemcli puts an EmbeddedInstance parameter's instance into VALUE as
        # markup, not as escaped text (DSP0201 §5.2.10): take it as that text
        inner = etree.tostring(elem[0], encoding="unicode", with_tail=False)
        return ("VALUE", dict(elem.attrib), [inner])
    children: list = []
    text: list[str] = [elem.text] if elem.text else []  # joined once: linear, not quadratic
    for child in elem:
        if not isinstance(child.tag, str):  # entity reference or other non-element
            raise RequestError(400, "request-not-well-formed", "entity references are refused")
        if text:
            children.append("".join(text))
            text = []
        children.append(_to_tupletree(child, ref_depth))
        if child.tail:
            text.append(child.tail)
    if text:
        children.append("".join(text))
    return (elem.tag, dict(elem.attrib), children)


def parse_request(body: bytes) -> Request:
    """Parse a CIM-XML request body into a Request, or raise RequestError."""
    # CIM-XML is UTF-8 (DSP0200 §4.8): anything else, including UTF-16 that would hide
    # a DTD from the byte check below, is refused before it reaches the XML parser.
    try:
        body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise RequestError(
            400, "request-not-well-formed", f"the body is not UTF-8 ({exc.reason})"
        ) from None
    m = _XML_DECL_ENCODING.match(body)
    if m and m.group(1).decode("ascii", "replace").lower() not in ("utf-8", "utf8", "us-ascii"):
        raise RequestError(400, "request-not-well-formed", "only UTF-8 requests are accepted")
    if b"<!DOCTYPE" in body or b"<!ENTITY" in body:
        # CIM-XML requests need no DTD; refusing it removes every entity attack.
        raise RequestError(
            400, "request-not-well-formed", "DTDs and entity declarations are refused"
        )
    try:
        root = etree.fromstring(body, parser=_parser())
    except etree.XMLSyntaxError as exc:
        raise RequestError(
            400, "request-not-well-formed", f"XML is not well-formed: {exc}"
        ) from None
    if root.getroottree().docinfo.internalDTD is not None:
        raise RequestError(400, "request-not-well-formed", "DTDs are refused")
    tt = _to_tupletree(root)
    parser = _tupleparse.TupleParser()
    try:
        _, _, message = parser.parse_cim(tt)
    except (pywbem.CIMXMLParseError, pywbem.XMLParseError) as exc:
        raise RequestError(
            400, "request-not-valid", f"invalid CIM-XML: {_first_line(exc)}"
        ) from None
    except (pywbem.CIMVersionError, pywbem.DTDVersionError) as exc:
        raise RequestError(400, "unsupported-cim-version", str(exc)) from None
    except pywbem.ProtocolVersionError as exc:
        raise RequestError(400, "unsupported-protocol-version", str(exc)) from None
    except (ValueError, TypeError, KeyError, IndexError, AttributeError) as exc:
        raise RequestError(400, "request-not-valid", f"invalid CIM-XML: {exc}") from None
    mname, mattrs, req = message
    if mname != "MESSAGE":
        raise RequestError(400, "request-not-valid", "expected a MESSAGE element")
    if not isinstance(req, tuple) or req[0] != "SIMPLEREQ":
        kind = req[0] if isinstance(req, tuple) else type(req).__name__
        if kind == "MULTIREQ":
            raise RequestError(501, "multiple-requests-unsupported", "MULTIREQ is not supported")
        raise RequestError(400, "request-not-valid", f"expected SIMPLEREQ, got {kind}")
    call = req[2]
    msg_id = mattrs.get("ID", "")
    proto = mattrs.get("PROTOCOLVERSION", "1.0")
    if call[0] == "IMETHODCALL":
        _, attrs, namespace, params = call
        return Request(
            kind="imethod",
            name=attrs["NAME"],
            namespace=namespace,
            message_id=msg_id,
            protocol_version=proto,
            params={k: v for k, v in params},
            duplicates=_duplicates(k for k, _ in params),
        )
    _, attrs, target, params = call
    mparams = {}
    for p in params:
        pname, ptype, value = p
        mparams[pname] = (ptype, value)
    return Request(
        duplicates=_duplicates(p[0] for p in params),
        kind="method",
        name=attrs["NAME"],
        namespace=target.namespace or "",
        message_id=msg_id,
        protocol_version=proto,
        target=target,
        method_params=mparams,
    )


def _duplicates(names) -> list[str]:
    """Names that occur more than once (case-insensitive, DSP0004 §6)."""
    seen: set[str] = set()
    dups = []
    for n in names:
        low = n.lower()
        if low in seen and n not in dups:
            dups.append(n)
        seen.add(low)
    return dups


def _first_line(exc: Exception) -> str:
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__


def parse_instance_xml(text: str) -> pywbem.CIMInstance:
    """An embedded instance sent as CIM-XML text (an <INSTANCE> element; DSP0201 §5.2.10:
    what a client sends for an EmbeddedInstance string parameter when it does not mark
    it EmbeddedObject, e.g. sblim wbemcli). Parsed with the same safe parser as
    requests; ValueError naming the problem when it is not one instance."""
    data = text.strip().encode("utf-8")
    if b"<!DOCTYPE" in data or b"<!ENTITY" in data:
        raise ValueError("DTDs and entity declarations are refused")
    try:
        root = etree.fromstring(data, parser=_parser())
        tt = _to_tupletree(root)
    except etree.XMLSyntaxError as exc:
        raise ValueError(f"not well-formed XML: {exc}") from None
    except RequestError as exc:
        raise ValueError(exc.message) from None
    if root.tag != "INSTANCE":
        raise ValueError(f"expected an INSTANCE element, got {root.tag}")
    try:
        inst = _tupleparse.TupleParser().parse_instance(tt)
    except (pywbem.CIMXMLParseError, pywbem.XMLParseError) as exc:
        raise ValueError(f"invalid CIM-XML instance: {_first_line(exc)}") from None
    except (ValueError, TypeError, KeyError, IndexError, AttributeError) as exc:
        raise ValueError(f"invalid CIM-XML instance: {exc}") from None
    return inst
