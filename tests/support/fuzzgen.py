"""Malformed and hostile CIM-XML requests for fuzzing `vrmgmt serve`.

Requests start from real ones ("seeds"): what pywbem sends, captured live by pointing a
WBEMConnection at a tiny capture server (`capture_pywbem_seeds`), and what sblim
wbemcli sends, recorded from wbemcli 1.6 (`WBEMCLI_SEEDS`). Mutators then break them at
every level a server decodes:

- bytes: flips, insertions, deletions, duplicated spans, truncation, non-UTF-8 bytes,
  other encodings (UTF-16, Latin-1, a lying encoding declaration), BOMs, NULs;
- XML: element deletion / duplication / renaming / moving, attribute deletion /
  duplication / renaming / hostile values, CDATA, comments, PIs, namespaces, two roots,
  deep nesting (to 10,000 levels) and very wide elements;
- CIM: wrongly typed values (a string where uint16 is declared, huge and negative
  integers, reals, 5000-digit numbers, Unicode digits), PARAMTYPE / KEYVALUE TYPE lies,
  arrays for scalars, references for values, invalid namespaces, unknown classes,
  methods, parameters and operations, hostile WQL;
- size: huge attribute values, bodies near, at and above the 4 MiB limit;
- entities: billion laughs, external entities (file:///etc/passwd), parameter entities,
  external DTDs, XInclude, also UTF-16 encoded (where a byte search for "<!DOCTYPE"
  does not see them);
- HTTP: missing / duplicated / garbled CIMOperation, CIMMethod, CIMObject,
  Content-Type, Authorization; Content-Length missing, too small, too large, negative,
  huge, duplicated; chunked bodies (valid and broken); other transfer codings; M-POST
  with good and bad `Man:` headers; methods, paths, HTTP versions, header syntax;
  garbage instead of a request; bodies cut short (Content-Length larger than what is
  sent, then the client shuts down writing or closes).

Each request is a `Case` (the exact bytes to send and how to end the connection).
`Fuzzer.make(mutator, seed_index, rng_seed, value)` builds one deterministically: the
plain generator `Fuzzer.generate(rng, n)` and the hypothesis strategy
`Fuzzer.strategy()` both go through it, so a failure is reproduced from those four
values alone.

Deliberately not generated here: external parameter entities naming files that never
end (/dev/zero, FIFOs); they freeze the current server and have their own test
(tests/test_fuzz.py::test_external_parameter_entity_cannot_freeze_the_server).
"""

from __future__ import annotations

import base64
import contextlib
import random
import re
import socket
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from xml.sax.saxutils import escape, quoteattr

from lxml import etree

MAX_BODY = 4 * 1024 * 1024  # the server's default max_request_bytes
PLACEHOLDER_UUID = "00000000-0000-4000-8000-00000000f022"
_MARK = "FUZZMARK7f3a"

# --------------------------------------------------------------------------------------
# Cases and seeds


@dataclass(frozen=True)
class Case:
    """One request exactly as sent: `head` (request line, header lines, blank line) and
    `body`. `mode`: "normal" (send, read the reply), "half-close" (send, shut down
    writing, read the reply: the server sees EOF where it may wait for more),
    "close" (send and close without reading)."""

    kind: str
    head: bytes
    body: bytes = b""
    mode: str = "normal"
    #: statuses >= 500 that are right for this request, with the reason (`why`)
    allow: tuple[int, ...] = ()
    why: str = ""
    origin: tuple = ()  # (mutator, seed index, rng seed, value) for Fuzzer.make

    @property
    def data(self) -> bytes:
        return self.head + self.body

    def describe(self, limit: int = 700) -> str:
        def cut(b: bytes) -> str:
            s = repr(b[:limit])
            return s + (f" ... ({len(b)} bytes)" if len(b) > limit else "")

        return (
            f"kind={self.kind} mode={self.mode} origin={self.origin!r}\n"
            f"  head: {cut(self.head)}\n  body: {cut(self.body)}"
        )


@dataclass(frozen=True)
class Seed:
    """A real request: method, CIM headers (no Host/Content-Length/Authorization)."""

    name: str
    body: bytes
    headers: tuple[tuple[str, str], ...]
    method: str = "POST"

    @property
    def operation(self) -> str:
        return dict((k.lower(), v) for k, v in self.headers).get("cimmethod", "")

    @property
    def extrinsic(self) -> bool:
        return b"<METHODCALL" in self.body


# sblim-wbemcli 1.6 requests, recorded on Debian 12 against this server (ei, gi, ai, cm
# RequestStateChange.RequestedState=9); "UUID" is replaced by a VM's UUID.
_WBEMCLI_HEAD = (
    ("Content-Type", 'application/xml; charset="utf-8"'),
    ("Connection", "Keep-Alive, TE"),
    ("CIMProtocolVersion", "1.0"),
    ("CIMOperation", "MethodCall"),
)
_WBEMCLI_NS = (
    '<LOCALNAMESPACEPATH><NAMESPACE NAME="root"></NAMESPACE><NAMESPACE NAME="virt">'
    "</NAMESPACE></LOCALNAMESPACEPATH>\n"
)
_WBEMCLI_VM = (
    '<INSTANCENAME CLASSNAME="VRM_ComputerSystem"><KEYBINDING NAME="CreationClassName">'
    '<KEYVALUE VALUETYPE="string">VRM_ComputerSystem</KEYVALUE></KEYBINDING>'
    '<KEYBINDING NAME="Name"><KEYVALUE VALUETYPE="string">UUID</KEYVALUE></KEYBINDING>'
    "</INSTANCENAME>"
)


def _wbemcli_body(call: str) -> str:
    return (
        '<?xml version="1.0" encoding="utf-8" ?>\n<CIM CIMVERSION="2.0" DTDVERSION="2.0">\n'
        '<MESSAGE ID="4711" PROTOCOLVERSION="1.0"><SIMPLEREQ>' + call + "</SIMPLEREQ>\n"
        "</MESSAGE></CIM>"
    )


WBEMCLI_SEEDS: tuple[tuple[str, str, str], ...] = (
    (
        "EnumerateInstances",
        "root%2Fvirt",
        _wbemcli_body(
            '<IMETHODCALL NAME="EnumerateInstances">' + _WBEMCLI_NS + '<IPARAMVALUE NAME="'
            'ClassName"><CLASSNAME NAME="VRM_ComputerSystem"/></IPARAMVALUE>\n'
            '<IPARAMVALUE NAME="DeepInheritance"><VALUE>TRUE</VALUE></IPARAMVALUE>\n'
            '<IPARAMVALUE NAME="LocalOnly"><VALUE>FALSE</VALUE></IPARAMVALUE>\n'
            '<IPARAMVALUE NAME="IncludeQualifiers"><VALUE>FALSE</VALUE></IPARAMVALUE>\n'
            '<IPARAMVALUE NAME="IncludeClassOrigin"><VALUE>TRUE</VALUE></IPARAMVALUE>\n'
            "</IMETHODCALL>"
        ),
    ),
    (
        "GetInstance",
        "root%2Fvirt",
        _wbemcli_body(
            '<IMETHODCALL NAME="GetInstance">' + _WBEMCLI_NS + '<IPARAMVALUE NAME="LocalOnly">'
            "<VALUE>FALSE</VALUE></IPARAMVALUE>\n"
            '<IPARAMVALUE NAME="IncludeQualifiers"><VALUE>FALSE</VALUE></IPARAMVALUE>\n'
            '<IPARAMVALUE NAME="IncludeClassOrigin"><VALUE>TRUE</VALUE></IPARAMVALUE>\n'
            '<IPARAMVALUE NAME="InstanceName">' + _WBEMCLI_VM + "</IPARAMVALUE>\n"
            "</IMETHODCALL>"
        ),
    ),
    (
        "Associators",
        "root%2Fvirt",
        _wbemcli_body(
            '<IMETHODCALL NAME="Associators">'
            + _WBEMCLI_NS
            + '<IPARAMVALUE NAME="ObjectName">'
            + _WBEMCLI_VM
            + "</IPARAMVALUE>\n"
            '<IPARAMVALUE NAME="IncludeQualifiers"><VALUE>FALSE</VALUE></IPARAMVALUE>\n'
            '<IPARAMVALUE NAME="IncludeClassOrigin"><VALUE>TRUE</VALUE></IPARAMVALUE>\n'
            "</IMETHODCALL>"
        ),
    ),
    (
        "RequestStateChange",
        'root%2Fvirt%3AVRM_ComputerSystem.CreationClassName="VRM_ComputerSystem",Name="UUID"',
        _wbemcli_body(
            '<METHODCALL NAME="RequestStateChange"><LOCALINSTANCEPATH><LOCALNAMESPACEPATH>'
            '<NAMESPACE NAME="root"/><NAMESPACE NAME="virt"/></LOCALNAMESPACEPATH>'
            + _WBEMCLI_VM
            + '</LOCALINSTANCEPATH><PARAMVALUE NAME="RequestedState"><VALUE>9</VALUE>'
            "</PARAMVALUE></METHODCALL>"
        ),
    ),
)


def wbemcli_seeds(uuid: str) -> list[Seed]:
    out = []
    for op, obj, body in WBEMCLI_SEEDS:
        headers = (*_WBEMCLI_HEAD, ("CIMMethod", op), ("CIMObject", obj.replace("UUID", uuid)))
        out.append(Seed(f"wbemcli:{op}", body.replace("UUID", uuid).encode(), headers))
    return out


def _read_http_request(conn: socket.socket) -> tuple[bytes, bytes] | None:
    buf = b""
    while b"\r\n\r\n" not in buf:
        chunk = conn.recv(65536)
        if not chunk:
            return None
        buf += chunk
    head, _, body = buf.partition(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    while len(body) < length:
        chunk = conn.recv(65536)
        if not chunk:
            break
        body += chunk
    return head, body


_CAPTURE_REPLY = (
    b'<?xml version="1.0" encoding="utf-8" ?><CIM CIMVERSION="2.0" DTDVERSION="2.0">'
    b'<MESSAGE ID="1" PROTOCOLVERSION="1.0"><SIMPLERSP><IMETHODRESPONSE NAME="x">'
    b'<ERROR CODE="1" DESCRIPTION="captured"></ERROR></IMETHODRESPONSE></SIMPLERSP>'
    b"</MESSAGE></CIM>"
)


def capture_pywbem_seeds(uuid: str, namespace: str = "root/virt") -> list[Seed]:
    """Point pywbem at a capture server and record what it sends for the operations the
    fuzzer starts from (the capture server answers each with a CIM error)."""
    import pywbem

    captured: list[tuple[bytes, bytes]] = []
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    port = listener.getsockname()[1]

    listener.settimeout(0.05)
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            with conn:
                conn.settimeout(10)
                try:
                    req = _read_http_request(conn)
                    if req:
                        captured.append(req)
                    conn.sendall(
                        b"HTTP/1.1 200 OK\r\nContent-Type: application/xml\r\n"
                        b"CIMOperation: MethodResponse\r\nConnection: close\r\n"
                        b"Content-Length: %d\r\n\r\n" % len(_CAPTURE_REPLY) + _CAPTURE_REPLY
                    )
                except OSError:
                    pass

    thread = threading.Thread(target=serve, name="pywbem-capture", daemon=True)
    thread.start()
    conn = pywbem.WBEMConnection(
        f"http://127.0.0.1:{port}", ("user", "password"), default_namespace=namespace, timeout=10
    )
    vm = pywbem.CIMInstanceName(
        "VRM_ComputerSystem",
        {"CreationClassName": "VRM_ComputerSystem", "Name": uuid},
        namespace=namespace,
    )
    calls: list[Callable[[], object]] = [
        lambda: conn.EnumerateInstances("VRM_ComputerSystem"),
        lambda: conn.EnumerateInstanceNames("VRM_ComputerSystem"),
        lambda: conn.GetInstance(vm),
        lambda: conn.InvokeMethod("RequestStateChange", vm, RequestedState=pywbem.Uint16(9)),
        lambda: conn.Associators(vm),
        lambda: conn.AssociatorNames(vm, AssocClass="VRM_HostedDependency"),
        lambda: conn.References(vm),
        lambda: conn.GetClass("VRM_ComputerSystem"),
        lambda: conn.ExecQuery(
            "WQL", "SELECT Name, EnabledState FROM VRM_ComputerSystem WHERE EnabledState = 2"
        ),
        lambda: conn.OpenEnumerateInstances("VRM_ComputerSystem", MaxObjectCount=2),
        lambda: conn.PullInstancesWithPath(("ctx-0001", namespace), MaxObjectCount=2),
    ]
    try:
        for call in calls:
            with contextlib.suppress(Exception):  # the capture server answers with errors
                call()
    finally:
        stop.set()
        thread.join(5)
        listener.close()
    seeds = []
    for head, body in captured:
        lines = head.split(b"\r\n")
        headers = []
        for line in lines[1:]:
            name, _, value = line.decode("latin-1").partition(":")
            if name.strip().lower() in ("host", "content-length", "authorization"):
                continue
            headers.append((name.strip(), value.strip()))
        op = dict((k.lower(), v) for k, v in headers).get("cimmethod", "?")
        seeds.append(Seed(f"pywbem:{op}", body, tuple(headers)))
    return seeds


# --------------------------------------------------------------------------------------
# Hostile values

SPECIAL_VALUES: tuple[str, ...] = (
    "",
    " ",
    "fast",
    "9 ",
    " 9",
    "+9",
    "09",
    "0x9",
    "0X09",
    "0b1001",
    "0o11",
    "9.0",
    "9e0",
    "1e400",
    "-1e400",
    "nan",
    "inf",
    "-1",
    "-0",
    "-32768",
    "65535",
    "65536",
    "4294967296",
    str(2**63),
    str(2**64),
    str(-(2**63) - 1),
    str(10**100),
    "9" * 5000,  # over Python's int-from-string digit limit
    "\u0669",  # ARABIC-INDIC DIGIT NINE (int() accepts it)
    "\uff19",  # FULLWIDTH DIGIT NINE
    "\U0001d7d7",  # MATHEMATICAL BOLD DIGIT NINE
    "1_0",
    "TRUE",
    "true",
    "FALSE",
    "NULL",
    "None",
    "\u202e9",
    "\u00a09",
    "9\u2028",
    "\ufeff9",
    "[9]",
    "%s%n%x",
    "../../../../etc/passwd",
    "file:///etc/passwd",
    "\U0001f600",
    "A" * 70000,
    "20260101000000.000000+000",
    "00000000000030.000000:000",
    "99999999999999.999999:999",
    "2026010100000",
    "VRM_ComputerSystem",
    'root/virt:VRM_ComputerSystem.Name="x"',
)


def hostile_value(rng: random.Random) -> str:
    """A hostile scalar as text (plain-generator twin of `hostile_values()`)."""
    r = rng.random()
    if r < 0.5:
        return rng.choice(SPECIAL_VALUES)
    if r < 0.7:
        return str(rng.randint(-(2**80), 2**80))
    if r < 0.8:
        return repr(rng.uniform(-1e308, 1e308))
    n = rng.randint(0, 40)
    return "".join(
        chr(rng.choice((rng.randint(32, 126), rng.randint(0, 0x2FFFF)))) for _ in range(n)
    )


def hostile_values():
    """Hypothesis strategy of hostile scalars as text."""
    from hypothesis import strategies as st

    return st.one_of(
        st.sampled_from(SPECIAL_VALUES),
        st.integers(-(2**80), 2**80).map(str),
        st.floats(allow_nan=True, allow_infinity=True).map(repr),
        st.text(max_size=40),
    )


def _xml_text(value: str) -> bytes:
    """Value as element text: escaped, but characters XML forbids stay raw (the server
    must refuse those documents as not well-formed)."""
    return escape(value).encode("utf-8", "surrogatepass")


def _xml_attr(value: str) -> bytes:
    return quoteattr(value)[1:-1].encode("utf-8", "surrogatepass")


# --------------------------------------------------------------------------------------
# XML helpers

_TREE_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False)
DSP0201_ELEMENTS = (
    "CIM",
    "MESSAGE",
    "SIMPLEREQ",
    "MULTIREQ",
    "IMETHODCALL",
    "METHODCALL",
    "LOCALNAMESPACEPATH",
    "NAMESPACE",
    "LOCALINSTANCEPATH",
    "LOCALCLASSPATH",
    "NAMESPACEPATH",
    "HOST",
    "IPARAMVALUE",
    "PARAMVALUE",
    "CLASSNAME",
    "INSTANCENAME",
    "INSTANCEPATH",
    "KEYBINDING",
    "KEYVALUE",
    "VALUE",
    "VALUE.ARRAY",
    "VALUE.REFERENCE",
    "VALUE.NULL",
    "VALUE.NAMEDINSTANCE",
    "VALUE.OBJECTWITHPATH",
    "INSTANCE",
    "PROPERTY",
    "PROPERTY.ARRAY",
    "PROPERTY.REFERENCE",
    "QUALIFIER",
    "CLASS",
    "EXPMETHODCALL",
    "SIMPLERSP",
    "IMETHODRESPONSE",
    "ERROR",
    "CORRELATOR",
)
ATTRIBUTE_NAMES = (
    "NAME",
    "CLASSNAME",
    "TYPE",
    "VALUETYPE",
    "PARAMTYPE",
    "ID",
    "PROTOCOLVERSION",
    "CIMVERSION",
    "DTDVERSION",
    "REFERENCECLASS",
    "EmbeddedObject",
    "ARRAYSIZE",
    "xml:lang",
)
BAD_NAMESPACES = (
    "",
    "root",
    "root/virt/extra",
    "root//virt",
    "/root/virt",
    "ROOT/VIRT",
    "root/interop",
    "interop",
    "root/PG_InterOp",
    "root/cimv2",
    "..",
    "../../etc",
    "root/\u00fc\u00f1\u00ee",
    "root/" + "n" * 70000,
    "/".join(["a"] * 5000),
    "root/vi rt",
    "root\\virt",
    "root/virt\u0000",
)
UNKNOWN_OPERATIONS = (
    "Foo",
    "",
    "CreateClass",
    "DeleteQualifier",
    "SetProperty",
    "GetProperty",
    "enumerateinstances",
    "ENUMERATEINSTANCENAMES",
    "EnumerateInstances\u0130",
    "OpenQueryInstances",
    "PullInstances",
    "CloseEnumeration",
    "EnumerationCount",
    "X" * 10000,
)
UNKNOWN_CLASSES = (
    "VRM_DoesNotExist",
    "CIM_ManagedElement",
    "CIM_ComputerSystem",
    "VRM_HostSystem",
    "VRM_HostedDependency",
    "vrm_computersystem",
    "",
    "1abc",
    "VRM_" + "X" * 5000,
    "VRM_\u00c4\u00d6\u00dc",
    "__Namespace",
)
UNKNOWN_METHODS = (
    "NoSuchMethod",
    "requeststatechange",
    "DefineSystem",
    "",
    "M" * 5000,
    "RequestStateChange\u0000",
)
PARAMTYPES = (
    None,
    "uint16",
    "sint16",
    "uint8",
    "uint64",
    "sint64",
    "string",
    "char16",
    "boolean",
    "real32",
    "real64",
    "datetime",
    "reference",
    "bogus",
    "",
    "UINT16",
)
WQL_QUERIES = (
    "SELECT * FROM VRM_ComputerSystem",
    "SELECT * FROM VRM_DoesNotExist",
    "SELECT",
    "",
    "SELECT * FROM VRM_ComputerSystem WHERE " + "(" * 5000 + "EnabledState = 2" + ")" * 5000,
    "SELECT * FROM VRM_ComputerSystem WHERE " + " AND ".join(["EnabledState = 2"] * 3000),
    "SELECT * FROM VRM_ComputerSystem WHERE " + "NOT " * 20000 + "EnabledState = 2",
    "SELECT * FROM VRM_ComputerSystem WHERE Name LIKE '" + "%_" * 3000 + "x'",
    "SELECT * FROM VRM_ComputerSystem WHERE Name LIKE '" + "%a" * 2000 + "b'",
    "SELECT * FROM VRM_ComputerSystem WHERE Name LIKE '[z-a]'",
    "SELECT * FROM VRM_ComputerSystem WHERE Name LIKE '[",
    "SELECT * FROM VRM_ComputerSystem WHERE Name = 'unterminated",
    "SELECT * FROM VRM_ComputerSystem WHERE EnabledState = " + "9" * 5000,
    "SELECT * FROM VRM_ComputerSystem WHERE EnabledState = 1e99999",
    "SELECT * FROM VRM_ComputerSystem WHERE EnabledState = 0x" + "f" * 4000,
    "SELECT * FROM VRM_ComputerSystem WHERE Name ISA VRM_HostSystem",
    "SELECT * FROM VRM_ComputerSystem WHERE __CLASS ISA 'CIM_ManagedElement'",
    "SELECT * FROM VRM_ComputerSystem, VRM_HostSystem",
    "SELECT * FROM VRM_ComputerSystem ORDER BY Name",
    "SELECT COUNT(*) FROM VRM_ComputerSystem",
    "SELECT * FROM VRM_ComputerSystem WHERE Name = 'a' OR 1 = 1",
    "SELECT * FROM VRM_ComputerSystem WHERE Dedicated IS NOT NULL",
    "SELECT * FROM VRM_ComputerSystem WHERE TimeOfLastStateChange < '20260101000000.000000+000'",
    "SELECT * FROM VRM_ComputerSystem WHERE TimeOfLastStateChange < 'garbage'",
    "SELECT Name FROM VRM_ComputerSystem WHERE Name = '\u0000'",
    "SELECT " + ", ".join(f"P{i}" for i in range(5000)) + " FROM VRM_ComputerSystem",
    "SELECT * FROM VRM_ComputerSystem WHERE Name = '" + "x" * 70000 + "'",
)


def _parse(body: bytes) -> etree._Element:
    return etree.fromstring(body, parser=_TREE_PARSER)


def _serialize(root: etree._Element) -> bytes:
    return etree.tostring(root, encoding="utf-8", xml_declaration=True)


def _call(root: etree._Element) -> etree._Element | None:
    for tag in ("IMETHODCALL", "METHODCALL"):
        found = root.find(f".//{tag}")
        if found is not None:
            return found
    return None


def _namespace_of(root: etree._Element) -> str | None:
    path = root.find(".//LOCALNAMESPACEPATH")
    if path is None:
        return None
    return "/".join(n.get("NAME", "") for n in path.findall("NAMESPACE"))


def _set_namespace(root: etree._Element, ns: str) -> None:
    for path in root.iter("LOCALNAMESPACEPATH"):
        for child in list(path):
            path.remove(child)
        for part in ns.split("/") if ns else [""]:
            etree.SubElement(path, "NAMESPACE", NAME=part)


def _substitute(template: bytes, values: dict[str, bytes]) -> bytes:
    for key, value in values.items():
        template = template.replace(key.encode(), value)
    return template


# --------------------------------------------------------------------------------------
# The fuzzer


@dataclass
class Fuzzer:
    """Builds `Case`s from seeds. `auth` is (user, password) of the server under test;
    `uuids` are VM UUIDs the seeds may point at."""

    seeds: list[Seed]
    auth: tuple[str, str] | None
    uuids: list[str] = field(default_factory=list)
    max_body: int = MAX_BODY
    mutators: dict[str, tuple[int, Callable]] = field(init=False)

    def __post_init__(self) -> None:
        m = self
        self.mutators = {
            # name: (weight, fn(rng, seed, value) -> Case)
            "valid": (2, m.m_valid),
            "mpost": (3, m.m_mpost),
            "byte-flip": (6, m.m_byte_flip),
            "byte-insert": (5, m.m_byte_insert),
            "byte-delete": (4, m.m_byte_delete),
            "span-duplicate": (3, m.m_span_duplicate),
            "truncate": (4, m.m_truncate),
            "encoding": (5, m.m_encoding),
            "element-delete": (5, m.m_element_delete),
            "element-duplicate": (5, m.m_element_duplicate),
            "element-rename": (4, m.m_element_rename),
            "element-move": (3, m.m_element_move),
            "attr-delete": (4, m.m_attr_delete),
            "attr-duplicate": (3, m.m_attr_duplicate),
            "attr-rename": (3, m.m_attr_rename),
            "attr-value": (6, m.m_attr_value),
            "text-value": (6, m.m_text_value),
            "param-type": (9, m.m_param_type),
            "iparam": (8, m.m_iparam),
            "keybinding": (6, m.m_keybinding),
            "namespace": (5, m.m_namespace),
            "unknown-name": (6, m.m_unknown_name),
            "wql": (3, m.m_wql),
            "xml-oddity": (4, m.m_xml_oddity),
            "huge-attribute": (1, m.m_huge_attribute),
            "deep-nesting": (2, m.m_deep_nesting),
            "wide": (1, m.m_wide),
            "big-body": (1, m.m_big_body),
            "entity": (4, m.m_entity),
            "cim-headers": (8, m.m_cim_headers),
            "content-type": (3, m.m_content_type),
            "content-length": (6, m.m_content_length),
            "chunked": (3, m.m_chunked),
            "auth": (4, m.m_auth),
            "request-line": (4, m.m_request_line),
            "header-syntax": (3, m.m_header_syntax),
            "garbage": (2, m.m_garbage),
            "truncated-body": (4, m.m_truncated_body),
        }

    # -- building ----------------------------------------------------------------------
    def auth_header(self) -> bytes | None:
        if not self.auth:
            return None
        return b"Basic " + base64.b64encode(f"{self.auth[0]}:{self.auth[1]}".encode())

    def build(
        self,
        kind: str,
        seed: Seed,
        body: bytes | None = None,
        *,
        method: bytes | None = None,
        path: bytes = b"/cimom",
        version: bytes = b"HTTP/1.1",
        headers: list[tuple[bytes, bytes]] | None = None,
        auth: bytes | None | str = "default",
        content_length: bytes | None | str = "auto",
        extra: list[tuple[bytes, bytes]] | None = None,
        mode: str = "normal",
        allow: tuple[int, ...] = (),
        why: str = "",
        line_end: bytes = b"\r\n",
    ) -> Case:
        body = seed.body if body is None else body
        if headers is None:
            headers = [(k.encode("latin-1"), v.encode("latin-1")) for k, v in seed.headers]
        lines = [(method or seed.method.encode()) + b" " + path + b" " + version]
        lines.append(b"Host: 127.0.0.1")
        lines.extend(k + b": " + v for k, v in headers)
        a = self.auth_header() if auth == "default" else auth
        if a is not None:
            lines.append(b"Authorization: " + a)
        if content_length == "auto":
            lines.append(b"Content-Length: %d" % len(body))
        elif content_length is not None:
            lines.append(b"Content-Length: " + content_length)
        lines.extend(k + b": " + v for k, v in extra or [])
        head = line_end.join(lines) + line_end + line_end
        return Case(kind, head, body, mode, allow, why)

    def with_synced_headers(self, seed: Seed, body: bytes) -> list[tuple[bytes, bytes]]:
        """The seed's headers with CIMMethod/CIMObject made to match a mutated body (so
        the mutation reaches the parser and dispatcher instead of the header check)."""
        headers = [(k.encode("latin-1"), v.encode("latin-1")) for k, v in seed.headers]
        try:
            root = _parse(body)
        except etree.XMLSyntaxError:
            return headers
        call = _call(root)
        ns = _namespace_of(root)
        out = []
        for k, v in headers:
            lk = k.lower()
            if lk == b"cimmethod" and call is not None:
                v = call.get("NAME", "").encode("utf-8")
            elif (
                lk == b"cimobject"
                and ns is not None
                and call is not None
                and call.tag == "IMETHODCALL"
            ):
                v = ns.encode("utf-8")
            out.append((k, v.replace(b"\r", b"").replace(b"\n", b"")))
        return out

    def body_case(self, kind: str, seed: Seed, body: bytes, rng: random.Random) -> Case:
        headers = self.with_synced_headers(seed, body) if rng.random() < 0.8 else None
        return self.build(kind, seed, body, headers=headers)

    # -- entry points ------------------------------------------------------------------
    def make(self, mutator: str, seed_index: int, rng_seed: int, value: str = "9") -> Case:
        seed = self.seeds[seed_index % len(self.seeds)]
        rng = random.Random(rng_seed)
        case = self.mutators[mutator][1](rng, seed, value)
        return Case(
            case.kind,
            case.head,
            case.body,
            case.mode,
            case.allow,
            case.why,
            (mutator, seed_index % len(self.seeds), rng_seed, value),
        )

    def weighted_names(self) -> list[str]:
        return [n for n, (w, _) in self.mutators.items() for _ in range(w)]

    def generate(self, rng: random.Random, n: int) -> Iterator[Case]:
        names = self.weighted_names()
        for _ in range(n):
            yield self.make(
                rng.choice(names),
                rng.randrange(len(self.seeds)),
                rng.getrandbits(32),
                hostile_value(rng),
            )

    def strategy(self):
        """Hypothesis strategy of Cases."""
        from hypothesis import strategies as st

        return st.builds(
            self.make,
            st.sampled_from(self.weighted_names()),
            st.integers(0, len(self.seeds) - 1),
            st.integers(0, 2**32 - 1),
            hostile_values(),
        )

    # -- mutators: valid-ish -----------------------------------------------------------
    def m_valid(self, rng, seed, value) -> Case:
        return self.build("valid", seed)

    def m_mpost(self, rng, seed, value) -> Case:
        """M-POST (DSP0200 §6.1.2): a valid conversion, or a broken Man header /
        prefixes."""
        ns = str(rng.choice([73, 10, 99, 0, 1234567]))
        variant = rng.choice(
            ["valid", "valid", "no-man", "bad-man", "ns-mismatch", "unprefixed", "both", "dup"]
        )
        man = b"http://www.dmtf.org/cim/mapping.http#;ns=" + ns.encode()
        headers = []
        for k, v in seed.headers:
            kb, vb = k.encode("latin-1"), v.encode("latin-1")
            if k.lower() in ("cimoperation", "cimmethod", "cimobject"):
                if variant == "ns-mismatch":
                    kb = b"11-" + kb
                elif variant == "both":
                    headers.append((kb, b"Bogus"))
                    kb = ns.encode() + b"-" + kb
                elif variant != "unprefixed":
                    kb = ns.encode() + b"-" + kb
            headers.append((kb, vb))
        if variant == "bad-man":
            man = rng.choice(
                [
                    b"http://www.dmtf.org/cim/mapping.http",
                    b"http://www.dmtf.org/cim/mapping.http#;ns=",
                    b"http://www.dmtf.org/cim/mapping.http#;ns=-1",
                    b"http://example.com/other#;ns=" + ns.encode(),
                    b"\xff\xfe",
                    b"http://www.dmtf.org/cim/mapping.http#;ns=" + b"9" * 5000,
                ]
            )
        if variant != "no-man":
            headers.append((b"Man", man))
        if variant == "dup":
            headers.append((b"Man", b"http://www.dmtf.org/cim/mapping.http#;ns=42"))
        return self.build(f"mpost-{variant}", seed, method=b"M-POST", headers=headers)

    # -- mutators: bytes ---------------------------------------------------------------
    def m_byte_flip(self, rng, seed, value) -> Case:
        b = bytearray(seed.body)
        for _ in range(rng.randint(1, 8)):
            i = rng.randrange(len(b))
            b[i] = rng.choice([rng.randrange(256), b[i] ^ (1 << rng.randrange(8))])
        return self.body_case("byte-flip", seed, bytes(b), rng)

    def m_byte_insert(self, rng, seed, value) -> Case:
        b = seed.body
        for _ in range(rng.randint(1, 4)):
            i = rng.randrange(len(b) + 1)
            ins = rng.choice(
                [
                    b"<",
                    b">",
                    b"&",
                    b"&amp;",
                    b"&#0;",
                    b"&#x110000;",
                    b"&nosuch;",
                    b"\x00",
                    b"\xff",
                    b"\xc0\xaf",
                    b"\xed\xa0\x80",
                    b"]]>",
                    b"<!--",
                    b"-->",
                    b'"',
                    b"'",
                    b"<![CDATA[",
                    b"</CIM>",
                    b"<CIM>",
                    rng.randbytes(rng.randint(1, 16)),
                ]
            )
            b = b[:i] + ins + b[i:]
        return self.body_case("byte-insert", seed, b, rng)

    def m_byte_delete(self, rng, seed, value) -> Case:
        b = seed.body
        i = rng.randrange(len(b))
        j = min(len(b), i + rng.choice([1, 1, 2, 5, 20, 100]))
        return self.body_case("byte-delete", seed, b[:i] + b[j:], rng)

    def m_span_duplicate(self, rng, seed, value) -> Case:
        b = seed.body
        i = rng.randrange(len(b))
        j = min(len(b), i + rng.randint(1, 200))
        k = rng.randrange(len(b) + 1)
        return self.body_case(
            "span-duplicate", seed, b[:k] + b[i:j] * rng.randint(1, 3) + b[k:], rng
        )

    def m_truncate(self, rng, seed, value) -> Case:
        b = seed.body
        return self.build("truncate", seed, b[: rng.randrange(len(b))])

    def m_encoding(self, rng, seed, value) -> Case:
        text = seed.body.decode("utf-8")
        decl_re = re.compile(r"^<\?xml[^>]*\?>")
        variant = rng.choice(
            [
                "utf16",
                "utf16-nodecl",
                "utf16be",
                "utf32",
                "latin1-lie",
                "latin1-honest",
                "decl-bogus",
                "decl-ebcdic",
                "bom8",
                "bom16-on-utf8",
                "invalid-utf8",
                "overlong",
                "surrogate",
                "nul",
                "xml11",
            ]
        )
        nonascii = "VRM_\u00c4\u00e9\u00df"
        if variant.startswith("utf16") or variant == "utf32":
            enc = {"utf16": "utf-16", "utf16-nodecl": "utf-16", "utf16be": "utf-16-be"}.get(
                variant, "utf-32"
            )
            body = decl_re.sub(f'<?xml version="1.0" encoding="{enc}"?>', text)
            if variant == "utf16-nodecl":
                body = decl_re.sub("", text)
            return self.body_case(f"encoding-{variant}", seed, body.encode(enc), rng)
        if variant == "latin1-lie":  # declared UTF-8, sent Latin-1
            body = text.replace("VRM_ComputerSystem", nonascii, 1).encode("latin-1")
        elif variant == "latin1-honest":
            body = decl_re.sub('<?xml version="1.0" encoding="ISO-8859-1"?>', text)
            body = body.replace("VRM_ComputerSystem", nonascii, 1).encode("latin-1")
        elif variant == "decl-bogus":
            body = decl_re.sub('<?xml version="1.0" encoding="x-no-such-charset"?>', text)
            body = body.encode()
        elif variant == "decl-ebcdic":
            body = decl_re.sub('<?xml version="1.0" encoding="EBCDIC-US"?>', text).encode()
        elif variant == "bom8":
            body = b"\xef\xbb\xbf" + seed.body
        elif variant == "bom16-on-utf8":
            body = b"\xff\xfe" + seed.body
        elif variant == "xml11":
            body = decl_re.sub('<?xml version="1.1" encoding="utf-8"?>', text).encode()
        else:
            junk = {
                "invalid-utf8": b"\xff\xfe\xfa",
                "overlong": b"\xc0\xaf\xe0\x80\xaf",
                "surrogate": b"\xed\xa0\x80\xed\xbf\xbf",
                "nul": b"\x00",
            }[variant]
            b = seed.body
            pos = [m.start() + 1 for m in re.finditer(rb'"[A-Za-z]', b)] or [len(b) // 2]
            i = rng.choice(pos)
            body = b[:i] + junk + b[i:]
        return self.body_case(f"encoding-{variant}", seed, body, rng)

    # -- mutators: XML tree -----------------------------------------------------------
    def _tree_case(self, kind, seed, rng, mutate: Callable[[etree._Element], None]) -> Case:
        root = _parse(seed.body)
        mutate(root)
        return self.body_case(kind, seed, _serialize(root), rng)

    @staticmethod
    def _elements(root: etree._Element) -> list[etree._Element]:
        return [e for e in root.iter() if isinstance(e.tag, str)]

    def m_element_delete(self, rng, seed, value) -> Case:
        def mutate(root):
            elems = [e for e in self._elements(root) if e.getparent() is not None]
            e = rng.choice(elems)
            e.getparent().remove(e)

        return self._tree_case("element-delete", seed, rng, mutate)

    def m_element_duplicate(self, rng, seed, value) -> Case:
        def mutate(root):
            elems = [e for e in self._elements(root) if e.getparent() is not None]
            e = rng.choice(elems)
            for _ in range(rng.choice([1, 1, 2, 50])):
                e.addnext(etree.fromstring(etree.tostring(e)))

        return self._tree_case("element-duplicate", seed, rng, mutate)

    def m_element_rename(self, rng, seed, value) -> Case:
        def mutate(root):
            e = rng.choice(self._elements(root))
            e.tag = rng.choice(
                [*DSP0201_ELEMENTS, "value", "X", "VALUE.FOO", "A" * 3000, "\u00c4LEMENT"]
            )

        return self._tree_case("element-rename", seed, rng, mutate)

    def m_element_move(self, rng, seed, value) -> Case:
        def mutate(root):
            elems = [e for e in self._elements(root) if e.getparent() is not None]
            e = rng.choice(elems)
            targets = [t for t in self._elements(root) if t is not e and e not in t.iterancestors()]
            targets = [t for t in targets if not any(a is e for a in t.iterancestors())]
            if not targets:
                return
            t = rng.choice(targets)
            e.getparent().remove(e)
            t.insert(rng.randint(0, len(t)), e)

        return self._tree_case("element-move", seed, rng, mutate)

    def m_attr_delete(self, rng, seed, value) -> Case:
        def mutate(root):
            withattrs = [e for e in self._elements(root) if e.attrib]
            e = rng.choice(withattrs)
            del e.attrib[rng.choice(list(e.attrib))]

        return self._tree_case("attr-delete", seed, rng, mutate)

    def m_attr_duplicate(self, rng, seed, value) -> Case:
        """A duplicated attribute is not well-formed XML: textual edit."""
        b = seed.body
        attrs = list(re.finditer(rb' ([A-Za-z.]+)="([^"]*)"', b))
        m = rng.choice(attrs)
        other = rng.choice([m.group(2), b"other", b""])
        dup = b" " + m.group(1) + b'="' + other + b'"'
        return self.body_case("attr-duplicate", seed, b[: m.end()] + dup + b[m.end() :], rng)

    def m_attr_rename(self, rng, seed, value) -> Case:
        def mutate(root):
            withattrs = [e for e in self._elements(root) if e.attrib]
            e = rng.choice(withattrs)
            old = rng.choice(list(e.attrib))
            v = e.attrib.pop(old)
            new = rng.choice([*ATTRIBUTE_NAMES, old.lower(), "X" + old, "B" * 3000])
            if new == "xml:lang":
                new = "{http://www.w3.org/XML/1998/namespace}lang"
            e.set(new, v)

        return self._tree_case("attr-rename", seed, rng, mutate)

    def m_attr_value(self, rng, seed, value) -> Case:
        root = _parse(seed.body)
        withattrs = [e for e in self._elements(root) if e.attrib]
        e = rng.choice(withattrs)
        e.set(rng.choice(list(e.attrib)), _MARK)
        body = _serialize(root).replace(_MARK.encode(), _xml_attr(value))
        return self.body_case("attr-value", seed, body, rng)

    def m_text_value(self, rng, seed, value) -> Case:
        root = _parse(seed.body)
        leaves = [e for e in self._elements(root) if len(e) == 0]
        e = rng.choice(leaves)
        e.text = _MARK
        body = _serialize(root).replace(_MARK.encode(), _xml_text(value))
        return self.body_case("text-value", seed, body, rng)

    # -- mutators: CIM semantics ------------------------------------------------------
    def m_param_type(self, rng, seed, value) -> Case:
        """Method parameters: wrongly typed values, PARAMTYPE lies, arrays for scalars,
        references for values, NULLs, duplicated / unknown / extra parameters."""
        if not seed.extrinsic:
            return self.m_iparam(rng, seed, value)
        root = _parse(seed.body)
        call = _call(root)
        for p in call.findall("PARAMVALUE"):
            call.remove(p)
        shape = rng.choice(
            ["value", "value", "value", "array", "ref", "null", "empty", "nested-array"]
        )
        params: list[bytes] = []

        def param(name: str, inner: bytes, ptype: str | None) -> bytes:
            t = b' PARAMTYPE="' + ptype.encode() + b'"' if ptype is not None else b""
            return (
                b'<PARAMVALUE NAME="' + name.encode() + b'"' + t + b">" + inner + b"</PARAMVALUE>"
            )

        v = _xml_text(value)
        inner = {
            "value": b"<VALUE>" + v + b"</VALUE>",
            "array": b"<VALUE.ARRAY><VALUE>" + v + b"</VALUE><VALUE>9</VALUE></VALUE.ARRAY>",
            "ref": b'<VALUE.REFERENCE><INSTANCENAME CLASSNAME="VRM_ComputerSystem">'
            b'<KEYBINDING NAME="Name"><KEYVALUE>' + v + b"</KEYVALUE></KEYBINDING>"
            b"</INSTANCENAME></VALUE.REFERENCE>",
            "null": b"<VALUE.NULL/>",
            "empty": b"",
            "nested-array": b"<VALUE.ARRAY><VALUE.ARRAY><VALUE>9</VALUE></VALUE.ARRAY>"
            b"</VALUE.ARRAY>",
        }[shape]
        params.append(param("RequestedState", inner, rng.choice(PARAMTYPES)))
        extra = rng.random()
        if extra < 0.25:
            params.append(param("TimeoutPeriod", b"<VALUE>" + v + b"</VALUE>", "datetime"))
        elif extra < 0.4:
            params.append(param(rng.choice(["NoSuchParam", "", "requestedstate"]), inner, None))
        elif extra < 0.5:
            params.append(param("RequestedState", b"<VALUE>2</VALUE>", "uint16"))
        elif extra < 0.55:
            params.append(param("Job", b"<VALUE>" + v + b"</VALUE>", "reference"))
        call.append(etree.Element("PLACEHOLDER"))
        body = _serialize(root).replace(b"<PLACEHOLDER/>", b"".join(params))
        return self.body_case(f"param-type-{shape}", seed, body, rng)

    def m_iparam(self, rng, seed, value) -> Case:
        """Intrinsic parameters with hostile values / shapes, unknown or duplicated."""
        if seed.extrinsic:
            return self.m_param_type(rng, seed, value)
        root = _parse(seed.body)
        call = _call(root)
        name = rng.choice(
            [
                "ClassName",
                "InstanceName",
                "ObjectName",
                "DeepInheritance",
                "LocalOnly",
                "IncludeQualifiers",
                "IncludeClassOrigin",
                "PropertyList",
                "AssocClass",
                "ResultClass",
                "Role",
                "ResultRole",
                "MaxObjectCount",
                "OperationTimeout",
                "ContinueOnError",
                "FilterQuery",
                "FilterQueryLanguage",
                "EnumerationContext",
                "QueryLanguage",
                "Query",
                "NoSuchParameter",
                "",
            ]
        )
        v = _xml_text(value)
        shape = rng.choice(["value", "array", "classname", "instancename", "null", "empty"])
        count = rng.choice([0, 1, 3, 2000 if len(v) < 100 else 3])
        inner = {
            "value": b"<VALUE>" + v + b"</VALUE>",
            "array": b"<VALUE.ARRAY>"
            + b"".join(b"<VALUE>" + v + b"</VALUE>" for _ in range(count))
            + b"</VALUE.ARRAY>",
            "classname": b'<CLASSNAME NAME="' + _xml_attr(value) + b'"/>',
            "instancename": b'<INSTANCENAME CLASSNAME="' + _xml_attr(value) + b'">'
            b'<KEYBINDING NAME="Name"><KEYVALUE>' + v + b"</KEYVALUE></KEYBINDING></INSTANCENAME>",
            "null": b"",
            "empty": b"<VALUE></VALUE>",
        }[shape]
        existing = [p for p in call.findall("IPARAMVALUE") if p.get("NAME") == name]
        replace = existing and rng.random() < 0.7
        if replace:
            call.remove(existing[0])
        call.append(etree.Element("PLACEHOLDER"))
        param = b'<IPARAMVALUE NAME="' + _xml_attr(name) + b'">' + inner + b"</IPARAMVALUE>"
        body = _serialize(root).replace(b"<PLACEHOLDER/>", param)
        return self.body_case(f"iparam-{shape}", seed, body, rng)

    def m_keybinding(self, rng, seed, value) -> Case:
        """Instance names: wrong KEYVALUE types, missing / extra / duplicated keys,
        unknown classes, hostile key values, references as keys (nested)."""
        root = _parse(seed.body)
        inames = list(root.iter("INSTANCENAME"))
        if not inames:
            return self.m_iparam(rng, seed, value)
        iname = rng.choice(inames)
        keys = iname.findall("KEYBINDING")
        variant = rng.choice(
            ["type", "valuetype", "value", "missing", "extra", "dup", "class", "ref", "nokey"]
        )
        if variant == "type" and keys:
            kv = rng.choice(keys).find("KEYVALUE")
            if kv is not None:
                kv.set(
                    "TYPE", rng.choice(["uint16", "sint64", "boolean", "datetime", "real32", "x"])
                )
        elif variant == "valuetype" and keys:
            kv = rng.choice(keys).find("KEYVALUE")
            if kv is not None:
                kv.set("VALUETYPE", rng.choice(["numeric", "boolean", "string", "x", ""]))
        elif variant == "value" and keys:
            kv = rng.choice(keys).find("KEYVALUE")
            if kv is not None:
                for child in list(kv):
                    kv.remove(child)
                kv.text = _MARK
        elif variant == "missing" and keys:
            iname.remove(rng.choice(keys))
        elif variant == "extra":
            kb = etree.SubElement(iname, "KEYBINDING", NAME=rng.choice(["Extra", "name", ""]))
            etree.SubElement(kb, "KEYVALUE", VALUETYPE="string").text = _MARK
        elif variant == "dup" and keys:
            k = rng.choice(keys)
            k.addnext(etree.fromstring(etree.tostring(k)))
        elif variant == "class":
            iname.set("CLASSNAME", rng.choice(UNKNOWN_CLASSES))
        elif variant == "ref" and keys:
            k = rng.choice(keys)
            for child in list(k):
                k.remove(child)
            depth = rng.choice([1, 2, 5, 8, 12])  # deeper: see test_fuzz (exponential)
            k.append(etree.Element("PLACEHOLDER"))
            nested = b"<KEYVALUE>x</KEYVALUE>"
            for _ in range(depth):
                nested = (
                    b'<VALUE.REFERENCE><INSTANCENAME CLASSNAME="VRM_ComputerSystem">'
                    b'<KEYBINDING NAME="Name">' + nested + b"</KEYBINDING></INSTANCENAME>"
                    b"</VALUE.REFERENCE>"
                )
            body = _serialize(root).replace(b"<PLACEHOLDER/>", nested)
            return self.body_case(f"keybinding-{variant}", seed, body, rng)
        elif variant == "nokey":
            for k in keys:
                iname.remove(k)
            iname.append(etree.Element("KEYVALUE"))
            iname[-1].text = _MARK
        body = _serialize(root).replace(_MARK.encode(), _xml_text(value))
        return self.body_case(f"keybinding-{variant}", seed, body, rng)

    def m_namespace(self, rng, seed, value) -> Case:
        ns = rng.choice([*BAD_NAMESPACES, value])

        def mutate(root):
            _set_namespace(root, _MARK)

        root = _parse(seed.body)
        mutate(root)
        parts = ns.split("/") if ns else [""]
        nsxml = b"".join(b'<NAMESPACE NAME="' + _xml_attr(p) + b'"/>' for p in parts)
        body = _serialize(root).replace(b'<NAMESPACE NAME="' + _MARK.encode() + b'"/>', nsxml)
        headers = self.with_synced_headers(seed, seed.body)
        if rng.random() < 0.7:
            headers = [
                (k, ns.encode("utf-8", "surrogatepass").replace(b"\x00", b"")[:70000])
                if k.lower() == b"cimobject" and not seed.extrinsic
                else (k, v)
                for k, v in headers
            ]
        return self.build("namespace", seed, body, headers=headers)

    def m_unknown_name(self, rng, seed, value) -> Case:
        root = _parse(seed.body)
        call = _call(root)
        variant = rng.choice(["operation", "class", "class", "method"])
        if variant == "operation" or (variant == "method" and not seed.extrinsic):
            element, attr, name = call, "NAME", rng.choice([*UNKNOWN_OPERATIONS, value])
        elif variant == "method":
            element, attr, name = call, "NAME", rng.choice([*UNKNOWN_METHODS, value])
        else:
            targets = list(root.iter("CLASSNAME", "INSTANCENAME"))
            if not targets:
                element, attr, name = call, "NAME", rng.choice(UNKNOWN_OPERATIONS)
            else:
                element = rng.choice(targets)
                attr = "NAME" if element.tag == "CLASSNAME" else "CLASSNAME"
                name = rng.choice([*UNKNOWN_CLASSES, value])
        element.set(attr, _MARK)
        body = _serialize(root).replace(_MARK.encode(), _xml_attr(name))
        return self.body_case(f"unknown-{variant}", seed, body, rng)

    def m_wql(self, rng, seed, value) -> Case:
        """ExecQuery / OpenQueryInstances-style hostile WQL (uses the ExecQuery seed)."""
        query_seeds = [s for s in self.seeds if s.operation == "ExecQuery"]
        if not query_seeds:
            return self.m_iparam(rng, seed, value)
        seed = rng.choice(query_seeds)
        q = rng.choice([*WQL_QUERIES, f"SELECT * FROM VRM_ComputerSystem WHERE Name = {value}"])
        lang = rng.choice(["WQL", "WQL", "wql", "CQL", "DMTF:CQL", "", "SQL"])
        root = _parse(seed.body)
        for p in root.iter("IPARAMVALUE"):
            if p.get("NAME") == "Query":
                p.find("VALUE").text = _MARK
            elif p.get("NAME") == "QueryLanguage":
                p.find("VALUE").text = lang
        body = _serialize(root).replace(_MARK.encode(), _xml_text(q))
        return self.body_case("wql", seed, body, rng)

    def m_xml_oddity(self, rng, seed, value) -> Case:
        b = seed.body
        decl = re.match(rb"<\?xml[^>]*\?>\s*", b)
        prolog, rest = (b[: decl.end()], b[decl.end() :]) if decl else (b"", b)
        variant = rng.choice(
            [
                "cdata",
                "comment",
                "pi",
                "xmlns",
                "prefix",
                "two-roots",
                "trailing",
                "leading-space",
                "no-decl",
                "decl-late",
                "standalone",
                "xinclude",
                "charref",
                "bad-charref",
                "empty",
                "only-decl",
                "whitespace-values",
            ]
        )
        if variant == "cdata":
            body = re.sub(rb"<VALUE>([^<]*)</VALUE>", rb"<VALUE><![CDATA[\1]]></VALUE>", b, count=1)
        elif variant == "comment":
            body = b.replace(b"<SIMPLEREQ>", b"<SIMPLEREQ><!-- c -- d -->", 1)
            body = body.replace(b"</CIM>", b"<!--" + b"x" * rng.choice([1, 100000]) + b"--></CIM>")
        elif variant == "pi":
            body = b.replace(b"<SIMPLEREQ>", b"<SIMPLEREQ><?php system('id'); ?>", 1)
        elif variant == "xmlns":
            body = b.replace(b"<CIM ", b'<CIM xmlns="http://example.com/ns" ', 1)
        elif variant == "prefix":
            body = b.replace(b"<CIM ", b'<c:CIM xmlns:c="urn:x" ', 1).replace(
                b"</CIM>", b"</c:CIM>"
            )
        elif variant == "two-roots":
            body = b + rest
        elif variant == "trailing":
            body = b + rng.choice([b"junk", b"<X/>", b"\x00", b"\n\n"])
        elif variant == "leading-space":
            body = b"  \n" + b
        elif variant == "no-decl":
            body = rest
        elif variant == "decl-late":
            body = rest.replace(b"<SIMPLEREQ>", b'<SIMPLEREQ><?xml version="1.0"?>', 1)
        elif variant == "standalone":
            body = b'<?xml version="1.0" encoding="utf-8" standalone="yes"?>' + rest
        elif variant == "xinclude":
            body = b.replace(
                b"<SIMPLEREQ>",
                b'<SIMPLEREQ><xi:include xmlns:xi="http://www.w3.org/2001/XInclude" '
                b'href="file:///etc/passwd" parse="text"/>',
                1,
            )
        elif variant == "charref":
            body = b.replace(b"VRM_", b"&#86;&#x52;M_", 1)
        elif variant == "bad-charref":
            body = b.replace(
                b"VRM_", rng.choice([b"&#1;", b"&#xD800;", b"&#xFFFE;", b"&#99999999;"]), 1
            )
        elif variant == "empty":
            body = b""
        elif variant == "only-decl":
            body = prolog
        else:
            body = re.sub(rb"<VALUE>([^<]*)</VALUE>", rb"<VALUE>\n  \1\t\n</VALUE>", b)
        return self.body_case(f"xml-{variant}", seed, body, rng)

    # -- mutators: size -----------------------------------------------------------------
    def m_huge_attribute(self, rng, seed, value) -> Case:
        size = rng.choice([65536, 1 << 20, 3 << 20])
        huge = rng.choice([b"A", b"\xc3\xa4", b"&amp;", b" "]) * (size // 5)
        b = seed.body
        attrs = list(re.finditer(rb' ([A-Za-z.]+)="([^"]*)"', b))
        m = rng.choice(attrs)
        body = b[: m.start(2)] + huge + b[m.end(2) :]
        return self.body_case("huge-attribute", seed, body, rng)

    def m_deep_nesting(self, rng, seed, value) -> Case:
        depth = rng.choice([100, 250, 260, 1000, 10000])
        tag = rng.choice([b"VALUE.ARRAY", b"X", b"INSTANCENAME", b"a"])
        open_, close = b"<" + tag + b">", b"</" + tag + b">"
        b = seed.body
        anchor = rng.choice([b"<SIMPLEREQ>", b"<MESSAGE ", b"<CIM "])
        i = b.find(anchor)
        if anchor == b"<SIMPLEREQ>":
            nest = open_ * depth + b"9" + close * depth
            body = b.replace(b"<SIMPLEREQ>", b"<SIMPLEREQ>" + nest, 1)
        else:
            j = b.find(b">", i) + 1
            end = b.rfind(b"</" + anchor[1:].strip())
            body = b[:j] + open_ * depth + b[j:end] + close * depth + b[end:]
        if rng.random() < 0.3:  # unbalanced
            body = body.replace(close, b"", depth // 2)
        return self.body_case(f"deep-nesting-{depth}", seed, body, rng)

    def m_wide(self, rng, seed, value) -> Case:
        n = rng.choice([1000, 20000, 100000])
        variant = rng.choice(["propertylist", "keybindings", "iparams", "attrs"])
        b = seed.body
        if variant == "propertylist" and not seed.extrinsic:
            values = b"".join(b"<VALUE>P%d</VALUE>" % i for i in range(n))
            param = (
                b'<IPARAMVALUE NAME="PropertyList"><VALUE.ARRAY>'
                + values
                + b"</VALUE.ARRAY></IPARAMVALUE>"
            )
            body = re.sub(rb"(</IMETHODCALL>)", param.replace(b"\\", b"\\\\") + rb"\1", b, count=1)
        elif variant == "keybindings" and b"<INSTANCENAME" in b:
            kbs = b"".join(
                b'<KEYBINDING NAME="K%d"><KEYVALUE>v</KEYVALUE></KEYBINDING>' % i
                for i in range(n // 10)
            )
            body = b.replace(b"</INSTANCENAME>", kbs + b"</INSTANCENAME>", 1)
        elif variant == "attrs":
            attrs = b"".join(b' A%d="x"' % i for i in range(n // 10))
            body = b.replace(b"<SIMPLEREQ", b"<SIMPLEREQ" + attrs, 1)
        else:
            ip = b'<IPARAMVALUE NAME="LocalOnly"><VALUE>FALSE</VALUE></IPARAMVALUE>'
            call_end = b"</METHODCALL>" if seed.extrinsic else b"</IMETHODCALL>"
            if seed.extrinsic:
                ip = b'<PARAMVALUE NAME="RequestedState"><VALUE>9</VALUE></PARAMVALUE>'
            body = b.replace(call_end, ip * (n // 10) + call_end, 1)
        return self.body_case(f"wide-{variant}", seed, body, rng)

    def m_big_body(self, rng, seed, value) -> Case:
        """Bodies near, at and above the limit (max_body): padding in whitespace, a
        comment, a key value or a string parameter."""
        target = rng.choice(
            [
                self.max_body - 4096,
                self.max_body - 1,
                self.max_body,
                self.max_body + 1,
                self.max_body + rng.randint(2, 1 << 20),
                2 * self.max_body,
            ]
        )
        b = seed.body
        pad_kind = rng.choice(["space", "comment", "keyvalue", "text"])
        base = len(b)
        overhead = 7 if pad_kind == "comment" else 0
        n = max(0, target - base - overhead)
        if pad_kind == "space":
            body = b.replace(b"</CIM>", b" " * n + b"</CIM>")
        elif pad_kind == "comment":
            body = b.replace(b"</CIM>", b"<!--" + b"c" * n + b"--></CIM>")
        elif pad_kind == "keyvalue" and b"</KEYVALUE>" in b:
            i = b.rfind(b"</KEYVALUE>")
            body = b[:i] + b"k" * n + b[i:]
        else:
            i = b.rfind(b"</VALUE>")
            if i < 0:
                i = b.rfind(b'"/>')
            body = b[:i] + b"7" * n + b[i:]
        return self.body_case(
            f"big-body-{'over' if len(body) > self.max_body else 'under'}", seed, body, rng
        )

    # -- mutators: entities -------------------------------------------------------------
    def m_entity(self, rng, seed, value) -> Case:
        """Entity attacks; sometimes UTF-16 encoded. Only files that end (no /dev/zero)."""
        b = seed.body.decode("utf-8")
        body_start = re.sub(r"^<\?xml[^>]*\?>\s*", "", b)
        target = rng.choice(
            [
                "file:///etc/passwd",
                "file:///etc/hostname",
                "file:///nonexistent/file",
                "/etc/passwd",
                "http://127.0.0.1:9/x.dtd",
                "ftp://127.0.0.1:9/x",
            ]
        )
        variant = rng.choice(
            [
                "billion-laughs",
                "billion-laughs-attr",
                "quadratic",
                "external",
                "external-attr",
                "parameter",
                "parameter-nested",
                "external-dtd",
                "public-dtd",
                "doctype-only",
                "internal-entity",
            ]
        )
        lol = '<!ENTITY lol "lol">' + "".join(
            f'<!ENTITY lol{i} "{("&lol" + (str(i - 1) if i > 1 else "") + ";") * 10}">'
            for i in range(1, 10)
        )
        if variant == "billion-laughs":
            dtd, doc = lol, body_start.replace("VRM_ComputerSystem", "&lol9;", 1)
        elif variant == "billion-laughs-attr":
            dtd = lol
            doc = body_start.replace('CIMVERSION="2.0"', 'CIMVERSION="&lol9;"', 1)
        elif variant == "quadratic":
            dtd = '<!ENTITY a "' + "a" * 50000 + '">'
            doc = body_start.replace("VRM_ComputerSystem", "&a;" * 2000, 1)
        elif variant == "external":
            dtd = f'<!ENTITY x SYSTEM "{target}">'
            doc = body_start.replace("VRM_ComputerSystem", "&x;", 1)
        elif variant == "external-attr":
            dtd = f'<!ENTITY x SYSTEM "{target}">'
            doc = body_start.replace('ID="', 'ID="&x;', 1)
        elif variant == "parameter":
            dtd = f'<!ENTITY % p SYSTEM "{target}"> %p;'
            doc = body_start
        elif variant == "parameter-nested":
            dtd = (
                f'<!ENTITY % file SYSTEM "{target}">'
                "<!ENTITY % eval \"<!ENTITY &#x25; err SYSTEM 'file:///no/%file;'>\"> %eval; %err;"
            )
            doc = body_start
        elif variant == "internal-entity":
            dtd = '<!ENTITY cls "VRM_ComputerSystem">'
            doc = body_start.replace("VRM_ComputerSystem", "&cls;", 1)
        else:
            dtd = ""
            doc = body_start
        if variant == "external-dtd":
            doctype = f'<!DOCTYPE CIM SYSTEM "{target}">'
        elif variant == "public-dtd":
            doctype = f'<!DOCTYPE CIM PUBLIC "-//DMTF//CIM" "{target}">'
        else:
            doctype = f"<!DOCTYPE CIM [{dtd}]>"
        enc = rng.choice(["utf-8", "utf-8", "utf-16"])
        text = f'<?xml version="1.0" encoding="{enc}"?>' + doctype + doc
        return self.body_case(f"entity-{variant}-{enc}", seed, text.encode(enc), rng)

    # -- mutators: HTTP -----------------------------------------------------------------
    def m_cim_headers(self, rng, seed, value) -> Case:
        headers = [(k.encode("latin-1"), v.encode("latin-1")) for k, v in seed.headers]
        name = rng.choice([b"CIMOperation", b"CIMMethod", b"CIMObject", b"CIMProtocolVersion"])
        variant = rng.choice(["drop", "dup-same", "dup-other", "garble", "case", "empty", "value"])
        idx = [i for i, (k, _) in enumerate(headers) if k.lower() == name.lower()]
        garbage = rng.choice(
            [
                b"MethodResponse",
                b"methodcall",
                b" MethodCall ",
                b"\xff\xfe",
                b"root%2",
                b"root%25%32%46virt",
                b'root/virt:VRM_ComputerSystem.Name="x"',
                b"GetClass",
                b"X" * 70000,
                value.encode("utf-8", "surrogatepass").replace(b"\r", b"").replace(b"\n", b""),
            ]
        )
        if variant == "drop":
            headers = [(k, v) for k, v in headers if k.lower() != name.lower()]
        elif variant == "dup-same" and idx:
            headers.append(headers[idx[0]])
        elif variant == "dup-other":
            headers.append((name, garbage))
        elif variant == "garble" and idx:
            headers[idx[0]] = (name, garbage)
        elif variant == "case" and idx:
            headers[idx[0]] = (name.lower(), headers[idx[0]][1].upper())
        elif variant == "empty" and idx:
            headers[idx[0]] = (name, b"")
        else:
            headers.append((name, garbage))
        return self.build(f"cim-headers-{variant}", seed, headers=headers)

    def m_content_type(self, rng, seed, value) -> Case:
        ctype = rng.choice(
            [
                None,
                b"",
                b"text/xml",
                b"application/xml",
                b'application/xml; charset="iso-8859-1"',
                b"application/xml; charset=utf-16",
                b"application/json",
                b"application/xmlfoo",
                b"multipart/form-data; boundary=x",
                b"text/plain",
                b"\xff\xfe/xml",
                b"application/xml; " + b"a=b; " * 5000,
            ]
        )
        headers = [
            (k.encode("latin-1"), v.encode("latin-1"))
            for k, v in seed.headers
            if k.lower() != "content-type"
        ]
        if ctype is not None:
            headers.insert(0, (b"Content-Type", ctype))
            if rng.random() < 0.2:
                headers.insert(0, (b"Content-Type", b"application/json"))
        return self.build("content-type", seed, headers=headers)

    def m_content_length(self, rng, seed, value) -> Case:
        n = len(seed.body)
        variant = rng.choice(
            [
                "missing",
                "smaller",
                "zero",
                "negative",
                "nonnumeric",
                "hex",
                "plus",
                "spaces",
                "huge",
                "enormous",
                "dup-conflict",
                "dup-same",
                "over-limit-unsent",
            ]
        )
        mode = "normal"
        extra = None
        cl: bytes | None
        if variant == "missing":
            cl = None
            mode = "half-close"
        elif variant == "smaller":
            cl = b"%d" % rng.randint(1, n - 1)
        elif variant == "zero":
            cl = b"0"
        elif variant == "negative":
            cl = b"-%d" % rng.randint(1, 10**6)
        elif variant == "nonnumeric":
            cl = rng.choice([b"abc", b"12abc", b"", b"1.5", b"\xff"])
        elif variant == "hex":
            cl = b"0x%x" % n
        elif variant == "plus":
            cl = b"+%d" % n
        elif variant == "spaces":
            cl = b"  %d  " % n
        elif variant == "huge":
            cl = b"%d" % rng.choice([self.max_body + 1, 10**9, 2**31, 2**32 + n])
            mode = "half-close"
        elif variant == "enormous":
            # beyond any allocation: must be refused at once, not read (normal mode)
            cl = b"%d" % rng.choice([10**12, 2**63, 10**30])
        elif variant == "dup-conflict":
            cl = b"%d" % n
            extra = [(b"Content-Length", b"%d" % rng.randint(0, n * 2))]
            mode = "half-close"
        elif variant == "dup-same":
            cl = b"%d" % n
            extra = [(b"Content-Length", b"%d" % n)]
        else:
            cl = b"%d" % (self.max_body + rng.randint(1, 10**6))
            mode = "half-close"
        # early-rejected requests too: a wrong method / no credentials in half the cases
        method = None
        auth: bytes | None | str = "default"
        if variant in ("huge", "enormous", "over-limit-unsent", "negative") and rng.random() < 0.5:
            if rng.random() < 0.5:
                auth = None
            else:
                method = rng.choice([b"GET", b"PUT", b"DELETE", b"OPTIONS"])
        return self.build(
            f"content-length-{variant}",
            seed,
            content_length=cl,
            extra=extra,
            mode=mode,
            method=method,
            auth=auth,
        )

    def m_chunked(self, rng, seed, value) -> Case:
        b = seed.body
        variant = rng.choice(
            [
                "valid",
                "valid-small-chunks",
                "with-cl",
                "bad-size",
                "huge-size",
                "negative-size",
                "no-terminator",
                "bad-crlf",
                "extension",
                "trailer",
                "te-gzip",
                "te-identity",
                "te-chunked-gzip",
                "te-dup",
            ]
        )
        te = b"chunked"
        extra = []
        mode = "normal"
        allow: tuple[int, ...] = ()
        why = ""
        if variant == "valid":
            body = b"%x\r\n" % len(b) + b + b"\r\n0\r\n\r\n"
        elif variant == "valid-small-chunks":
            parts = [b[i : i + 7] for i in range(0, len(b), 7)]
            body = b"".join(b"%x\r\n" % len(p) + p + b"\r\n" for p in parts) + b"0\r\n\r\n"
        elif variant == "with-cl":
            body = b"%x\r\n" % len(b) + b + b"\r\n0\r\n\r\n"
            extra.append((b"Content-Length", b"%d" % len(b)))
        elif variant == "bad-size":
            body = rng.choice([b"zz", b"", b"1 2", b"\xff"]) + b"\r\n" + b + b"\r\n0\r\n\r\n"
        elif variant == "huge-size":
            size = rng.choice([self.max_body + 1, 2**31, 2**40, 2**64, 16**40])
            body = b"%x\r\n" % size + b + b"\r\n0\r\n\r\n"
            mode = "half-close"
        elif variant == "negative-size":
            body = b"-5\r\n" + b + b"\r\n0\r\n\r\n"
        elif variant == "no-terminator":
            body = b"%x\r\n" % len(b) + b + b"\r\n"
            mode = "half-close"
        elif variant == "bad-crlf":
            body = b"%x\r\n" % len(b) + b + b"XX0\r\n\r\n"
        elif variant == "extension":
            body = b"%x;name=value\r\n" % len(b) + b + b"\r\n0\r\n\r\n"
        elif variant == "trailer":
            body = b"%x\r\n" % len(b) + b + b"\r\n0\r\nX-Trailer: 1\r\n\r\n"
        else:
            te = {
                "te-gzip": b"gzip",
                "te-identity": b"identity",
                "te-chunked-gzip": b"chunked, gzip",
                "te-dup": b"chunked",
            }[variant]
            body = b
            if variant == "te-dup":
                extra.append((b"Transfer-Encoding", b"gzip"))
            allow = (501,)
            why = "RFC 9112 §6.1: a transfer coding the server does not implement is a 501"
            mode = "half-close"
        return self.build(
            f"chunked-{variant}",
            seed,
            body,
            content_length=None,
            extra=[(b"Transfer-Encoding", te), *extra],
            mode=mode,
            allow=allow,
            why=why,
        )

    def m_auth(self, rng, seed, value) -> Case:
        user, pw = self.auth or ("tester", "x")
        choice = rng.choice(
            [
                None,
                b"Basic " + base64.b64encode(f"{user}:wrong".encode()),
                b"Basic " + base64.b64encode(f"nobody:{pw}".encode()),
                b"Basic " + base64.b64encode(user.encode()),
                b"Basic " + base64.b64encode(b":"),
                b"Basic " + base64.b64encode(b"\xff\xfe:\xfd"),
                b"Basic !!!notbase64",
                b"Basic ",
                b"Basic",
                b"basic " + base64.b64encode(f"{user}:{pw}".encode()),
                b"Bearer abc.def.ghi",
                b'Digest username="x", realm="y", nonce="z"',
                b"Basic \xff\xfe\xc3\xa9",
                b"Basic " + base64.b64encode(f"{user}:".encode() + b"p" * 100000),
                b"Basic " + base64.b64encode(f"{user}:{pw}".encode()) + b"garbage",
            ]
        )
        extra = []
        if rng.random() < 0.2:
            extra.append((b"Authorization", self.auth_header() or b"Basic x"))
        return self.build("auth", seed, auth=choice, extra=extra)

    def m_request_line(self, rng, seed, value) -> Case:
        variant = rng.choice(["method", "path", "version", "version", "method", "path"])
        method = None
        path = b"/cimom"
        version = b"HTTP/1.1"
        allow: tuple[int, ...] = ()
        why = ""
        if variant == "method":
            method = rng.choice(
                [
                    b"GET",
                    b"HEAD",
                    b"PUT",
                    b"DELETE",
                    b"OPTIONS",
                    b"TRACE",
                    b"PATCH",
                    b"CONNECT",
                    b"post",
                    b"M-post",
                    b"POSTX",
                    b"P\xd6ST",
                    b"",
                    b"X" * 5000,
                ]
            )
        elif variant == "path":
            path = rng.choice(
                [
                    b"/",
                    b"/cimom/",
                    b"/CIMOM",
                    b"/cimom?x=1",
                    b"/cimom#frag",
                    b"/cimom%00",
                    b"/%2e%2e/%2e%2e/etc/passwd",
                    b"/../../etc/passwd",
                    b"//cimom",
                    b"/cimom%zz",
                    b"*",
                    b"http://127.0.0.1/cimom",
                    b"/" + b"a" * 70000,
                    b"/\xff\xfe",
                    b"",
                ]
            )
        else:
            version = rng.choice(
                [
                    b"HTTP/1.0",
                    b"HTTP/0.9",
                    b"HTTP/2.0",
                    b"HTTP/3",
                    b"HTTP/1.2",
                    b"HTTP/1.1x",
                    b"FOO",
                ]
            )
            if version not in (b"HTTP/1.0", b"HTTP/1.1"):
                # cheroot answers 505 before the app sees the request (RFC 9110 §15.6.6;
                # for HTTP/1.2 RFC 9110 §2.5 would rather have it served as 1.1)
                allow = (505,)
                why = "cheroot answers 505 to an HTTP version other than 1.0/1.1"
        mode = "half-close" if version in (b"HTTP/0.9", b"FOO") or path == b"" else "normal"
        return self.build(
            f"request-line-{variant}",
            seed,
            method=method,
            path=path,
            version=version,
            allow=allow,
            why=why,
            mode=mode,
        )

    def m_header_syntax(self, rng, seed, value) -> Case:
        variant = rng.choice(
            [
                "fold",
                "no-colon",
                "space-name",
                "nul",
                "non-latin1",
                "lf-only",
                "many",
                "huge",
                "empty-name",
            ]
        )
        extra = {
            "fold": [(b"X-Folded", b"a\r\n continued")],
            "no-colon": [(b"garbage line without colon", b"")],
            "space-name": [(b"X Foo", b"a")],
            "nul": [(b"X-Nul", b"a\x00b")],
            "non-latin1": [(b"X-Utf8", "\u00e4\u20ac\U0001f600".encode())],
            "many": [(b"X-H%d" % i, b"v") for i in range(rng.choice([100, 5000]))],
            "huge": [(b"X-Huge", b"h" * rng.choice([70000, 1 << 20]))],
            "empty-name": [(b"", b"value")],
            "lf-only": [],
        }[variant]
        if variant == "no-colon":
            extra = []
            case = self.build("header-syntax-no-colon", seed)
            head = case.head.replace(b"\r\n\r\n", b"\r\ngarbage line without colon\r\n\r\n")
            return Case(case.kind, head, case.body)
        line_end = b"\n" if variant == "lf-only" else b"\r\n"
        return self.build(f"header-syntax-{variant}", seed, extra=extra, line_end=line_end)

    def m_garbage(self, rng, seed, value) -> Case:
        variant = rng.choice(["random", "tls", "crlf", "partial-head", "nul-line", "binary-head"])
        if variant == "random":
            data = rng.randbytes(rng.randint(1, 4096))
        elif variant == "tls":
            data = bytes.fromhex("16030100a5010000a10303") + rng.randbytes(64)
        elif variant == "crlf":
            data = b"\r\n" * rng.randint(1, 100)
        elif variant == "partial-head":
            full = self.build("x", seed).head
            data = full[: rng.randint(1, len(full) - 2)]
        elif variant == "nul-line":
            data = b"\x00" * 100 + b"\r\n\r\n"
        else:
            data = rng.randbytes(200) + b"\r\n\r\n"
        return Case(f"garbage-{variant}", data, b"", "half-close")

    def m_truncated_body(self, rng, seed, value) -> Case:
        """Content-Length larger than what is sent; then shut down writing (read the
        reply) or close."""
        n = len(seed.body)
        sent = seed.body[: rng.randint(0, n - 1)]
        declared = rng.choice([n, n + 100, self.max_body])
        mode = rng.choice(["half-close", "half-close", "close"])
        auth: bytes | None | str = "default" if rng.random() < 0.8 else None
        case = self.build(
            f"truncated-body-{mode}",
            seed,
            sent,
            content_length=b"%d" % declared,
            mode=mode,
            auth=auth,
        )
        return case


def default_seeds(uuid: str) -> list[Seed]:
    """pywbem (captured live) + wbemcli (recorded) seeds for a VM with this UUID."""
    return capture_pywbem_seeds(uuid) + wbemcli_seeds(uuid)
