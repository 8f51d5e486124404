"""DSP0200 operations beyond the basics: pull enumerations (pywbem's Iter* helpers and
raw Open/Pull/Close), trailers, class operations, instance writes, concurrency."""

from __future__ import annotations

import socket
import threading
import time

import pytest
import pywbem

from support.server import VrmServer
from support.testdriver import node_uri, write_node_xml


@pytest.fixture(scope="module")
def srv(tmp_path_factory):
    d = tmp_path_factory.mktemp("ops")
    doms = write_node_xml(d / "n.xml", 1200, seed=7, running_every=2)
    s = VrmServer(d, [{"id": "ops", "type": "libvirt", "uri": node_uri(d / "n.xml")}])
    s.domains = doms
    with s:
        yield s


def test_iter_helpers_use_pull_and_return_everything(srv):
    conn = srv.conn(use_pull_operations=True)  # pull only: no silent fallback
    uuids = {u for _, u in srv.domains}
    insts = list(conn.IterEnumerateInstances("VRM_ComputerSystem", MaxObjectCount=250))
    assert {i["Name"] for i in insts} == uuids
    paths = list(conn.IterEnumerateInstancePaths("CIM_ComputerSystem", MaxObjectCount=500))
    assert len(paths) == len(uuids) + 1
    host = conn.EnumerateInstanceNames("VRM_HostSystem")[0]
    hd = "VRM_HostedDependency"
    assert len(list(conn.IterAssociatorInstances(host, AssocClass=hd, MaxObjectCount=300))) == len(
        uuids
    )
    assert len(
        list(
            conn.IterAssociatorInstancePaths(
                host, ResultClass="VRM_ComputerSystem", MaxObjectCount=300
            )
        )
    ) == len(uuids)
    refs = list(conn.IterReferenceInstances(host, ResultClass=hd, MaxObjectCount=700))
    assert {r["Dependent"]["Name"] for r in refs} == uuids
    assert len(
        list(conn.IterReferenceInstancePaths(host, ResultClass=hd, MaxObjectCount=700))
    ) == len(uuids)


def test_open_pull_close_semantics(srv):
    conn = srv.conn()
    r = conn.OpenEnumerateInstances(
        "VRM_ComputerSystem", MaxObjectCount=0, PropertyList=["Name", "EnabledState"]
    )
    assert r.instances == [] and not r.eos
    got = []
    ctx = r.context
    while True:
        r = conn.PullInstancesWithPath(ctx, MaxObjectCount=500)
        assert len(r.instances) <= 500
        got.extend(r.instances)
        if r.eos:
            break
        ctx = r.context
    assert len(got) == len(srv.domains)
    assert set(got[0].keys()) == {"Name", "EnabledState"}
    assert got[0].path.namespace == "root/virt"
    # EndOfSequence exact at a batch boundary
    r = conn.OpenEnumerateInstancePaths("VRM_ComputerSystem", MaxObjectCount=1200)
    assert len(r.paths) == 1200 and r.eos and r.context is None
    # closed and wrong-kind contexts
    r = conn.OpenEnumerateInstancePaths("VRM_ComputerSystem", MaxObjectCount=1)
    with pytest.raises(pywbem.CIMError) as exc:
        conn.PullInstancesWithPath(r.context, MaxObjectCount=1)
    assert exc.value.status_code == pywbem.CIM_ERR_INVALID_ENUMERATION_CONTEXT
    conn.CloseEnumeration(r.context)
    with pytest.raises(pywbem.CIMError) as exc:
        conn.PullInstancePaths(r.context, MaxObjectCount=1)
    assert exc.value.status_code == pywbem.CIM_ERR_INVALID_ENUMERATION_CONTEXT


@pytest.mark.parametrize(
    "kwargs,code",
    [
        ({"ContinueOnError": True}, pywbem.CIM_ERR_CONTINUATION_ON_ERROR_NOT_SUPPORTED),
        (
            {"FilterQueryLanguage": "DMTF:FQL", "FilterQuery": "Name='x'"},
            pywbem.CIM_ERR_FILTERED_ENUMERATION_NOT_SUPPORTED,
        ),
        ({"OperationTimeout": 100000}, pywbem.CIM_ERR_INVALID_OPERATION_TIMEOUT),
    ],
)
def test_open_refusals(srv, kwargs, code):
    with pytest.raises(pywbem.CIMError) as exc:
        srv.conn().OpenEnumerateInstances("VRM_ComputerSystem", **kwargs)
    assert exc.value.status_code == code


def test_enumeration_context_expires(srv):
    conn = srv.conn()
    r = conn.OpenEnumerateInstancePaths("VRM_ComputerSystem", MaxObjectCount=1, OperationTimeout=1)
    time.sleep(2.2)
    with pytest.raises(pywbem.CIMError) as exc:
        conn.PullInstancePaths(r.context, MaxObjectCount=1)
    assert exc.value.status_code == pywbem.CIM_ERR_INVALID_ENUMERATION_CONTEXT


def test_enumeration_count_not_supported(srv):
    conn = srv.conn()
    r = conn.OpenEnumerateInstancePaths("VRM_ComputerSystem", MaxObjectCount=1)
    with pytest.raises(pywbem.CIMError) as exc:
        conn._imethodcall("EnumerationCount", "root/virt", EnumerationContext=r.context[0])
    assert exc.value.status_code == pywbem.CIM_ERR_NOT_SUPPORTED
    conn.CloseEnumeration(r.context)


def _raw(srv, body: bytes, method: str, extra: bytes = b"") -> bytes:
    import base64

    from support.server import PASSWORD, USER

    auth = base64.b64encode(f"{USER}:{PASSWORD}".encode())
    with socket.create_connection(("127.0.0.1", srv.port), timeout=60) as s:
        s.sendall(
            b"POST /cimom HTTP/1.1\r\nHost: x\r\nContent-Type: application/xml\r\n"
            b"CIMOperation: MethodCall\r\nCIMMethod: " + method.encode() + b"\r\n"
            b"CIMObject: root/virt\r\nAuthorization: Basic "
            + auth
            + b"\r\n"
            + extra
            + b"Connection: close\r\nContent-Length: "
            + str(len(body)).encode()
            + b"\r\n\r\n"
            + body
        )
        data = b""
        while chunk := s.recv(65536):
            data += chunk
    return data


def test_chunked_response_with_status_trailer(srv):
    body = (
        b'<?xml version="1.0" encoding="utf-8" ?><CIM CIMVERSION="2.0" DTDVERSION="2.0">'
        b'<MESSAGE ID="9" PROTOCOLVERSION="1.0"><SIMPLEREQ>'
        b'<IMETHODCALL NAME="EnumerateInstances"><LOCALNAMESPACEPATH><NAMESPACE NAME="root"/>'
        b'<NAMESPACE NAME="virt"/></LOCALNAMESPACEPATH><IPARAMVALUE NAME="ClassName">'
        b'<CLASSNAME NAME="VRM_ComputerSystem"/></IPARAMVALUE></IMETHODCALL></SIMPLEREQ>'
        b"</MESSAGE></CIM>"
    )
    data = _raw(srv, body, "EnumerateInstances", b"TE: trailers\r\n")
    head, _, rest = data.partition(b"\r\n\r\n")
    assert b"Transfer-Encoding: chunked" in head
    assert b"Trailer: CIMStatusCode" in head
    assert rest.endswith(b"0\r\nCIMStatusCode: 0\r\n\r\n")
    assert rest.count(b"<VALUE.NAMEDINSTANCE>") == len(srv.domains)
    plain = _raw(srv, body, "EnumerateInstances")
    assert b"CIMStatusCode" not in plain


def test_class_operations(srv):
    conn = srv.conn()
    cls = conn.GetClass("VRM_ComputerSystem", LocalOnly=False, IncludeQualifiers=True)
    assert cls.superclass == "CIM_ComputerSystem"
    assert "RequestStateChange" in cls.methods
    assert "EnabledState" in cls.properties  # inherited, LocalOnly=False
    local = conn.GetClass("VRM_ComputerSystem", LocalOnly=True)
    assert "EnabledState" not in local.properties and "VirtualSystemType" in local.properties
    names = conn.EnumerateClassNames(ClassName="CIM_ComputerSystem", DeepInheritance=True)
    assert {"VRM_ComputerSystem", "VRM_HostSystem"} <= set(names)
    classes = conn.EnumerateClasses(ClassName="CIM_ComputerSystem")
    assert {c.classname for c in classes} >= {"VRM_ComputerSystem", "VRM_HostSystem"}
    q = conn.GetQualifier("Key")
    assert q.type == "boolean"
    assert len(conn.EnumerateQualifiers()) > 20
    with pytest.raises(pywbem.CIMError) as exc:
        conn.GetClass("VRM_Nothing")
    assert exc.value.status_code == pywbem.CIM_ERR_INVALID_CLASS


def test_instance_writes_not_supported_for_vms(srv):
    conn = srv.conn()
    _, uuid = srv.domains[0]
    path = pywbem.CIMInstanceName(
        "VRM_ComputerSystem", {"CreationClassName": "VRM_ComputerSystem", "Name": uuid}
    )
    inst = conn.GetInstance(path)
    inst["ElementName"] = "renamed"
    for op in (
        lambda: conn.ModifyInstance(inst),
        lambda: conn.DeleteInstance(path),
        lambda: conn.CreateInstance(
            pywbem.CIMInstance(
                "VRM_ComputerSystem", {"Name": "n", "CreationClassName": "VRM_ComputerSystem"}
            ),
            namespace="root/virt",
        ),
    ):
        with pytest.raises(pywbem.CIMError) as exc:
            op()
        assert exc.value.status_code == pywbem.CIM_ERR_NOT_SUPPORTED
    assert conn.GetInstance(path)["ElementName"] != "renamed"


def test_slow_backend_does_not_stall_other_clients(tmp_path):
    """A backend that never answers (a TCP port that accepts and stays silent) holds its
    enumeration for its timeout; another client is answered meanwhile."""
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(8)
    port = silent.getsockname()[1]
    write_node_xml(tmp_path / "ok.xml", 3, seed=2)
    backends = [
        {"id": "ok", "type": "libvirt", "uri": node_uri(tmp_path / "ok.xml")},
        {
            "id": "silent",
            "type": "libvirt",
            "uri": f"qemu+tcp://127.0.0.1:{port}/system",
            "timeout": 4,
        },
    ]
    try:
        with VrmServer(tmp_path, backends) as s:
            slow_result = {}

            def slow():
                t = time.monotonic()
                slow_result["vms"] = s.conn().EnumerateInstances("VRM_ComputerSystem")
                slow_result["t"] = time.monotonic() - t

            th = threading.Thread(target=slow)
            th.start()
            time.sleep(0.5)
            t = time.monotonic()
            names = s.conn().EnumerateClassNames()
            fast = time.monotonic() - t
            th.join(60)
            assert names and fast < 2.0, fast
            assert len(slow_result["vms"]) == 3  # the reachable backend's VMs
            assert 3.5 < slow_result["t"] < 20
            hosts = {h["Name"]: h for h in s.conn().EnumerateInstances("VRM_HostSystem")}
            assert hosts["silent"]["OperationalStatus"] == [13]  # Lost Communication
            # the host says which backend is missing and why
            assert "'silent' unreachable" in hosts["silent"]["StatusDescriptions"][0]
            assert hosts["ok"]["OperationalStatus"] == [2]
    finally:
        silent.close()


def test_keep_alive_serves_several_requests_on_one_connection(srv):
    import base64

    from support.server import PASSWORD, USER

    body = (
        b'<?xml version="1.0" encoding="utf-8" ?><CIM CIMVERSION="2.0" DTDVERSION="2.0">'
        b'<MESSAGE ID="3" PROTOCOLVERSION="1.0"><SIMPLEREQ>'
        b'<IMETHODCALL NAME="EnumerateInstanceNames"><LOCALNAMESPACEPATH>'
        b'<NAMESPACE NAME="root"/><NAMESPACE NAME="virt"/></LOCALNAMESPACEPATH>'
        b'<IPARAMVALUE NAME="ClassName"><CLASSNAME NAME="VRM_HostSystem"/></IPARAMVALUE>'
        b"</IMETHODCALL></SIMPLEREQ></MESSAGE></CIM>"
    )
    auth = base64.b64encode(f"{USER}:{PASSWORD}".encode())
    import http.client

    conn = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=30)
    conn.connect()
    sock = conn.sock
    for _ in range(3):
        conn.request(
            "POST",
            "/cimom",
            body=body,
            headers={
                "Content-Type": "application/xml",
                "CIMOperation": "MethodCall",
                "CIMMethod": "EnumerateInstanceNames",
                "CIMObject": "root/virt",
                "Authorization": "Basic " + auth.decode(),
            },
        )
        r = conn.getresponse()
        assert r.status == 200 and b"VRM_HostSystem" in r.read()
        assert conn.sock is sock  # the same TCP connection
    conn.close()


@pytest.mark.parametrize(
    "body",
    [
        b"<CIM>" + b"<a>" * 10000 + b"</a>" * 10000 + b"</CIM>",
        b'<?xml version="1.0"?><!DOCTYPE CIM [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
        b'<CIM CIMVERSION="2.0" DTDVERSION="2.0">&x;</CIM>',
        b'<?xml version="1.0"?><!DOCTYPE CIM [<!ENTITY % p SYSTEM "http://127.0.0.1:1/x">%p;]>'
        b"<CIM/>",
        b"\xff\xfe<\x00C\x00I\x00M\x00>\x00",
    ],
)
def test_hostile_xml_is_refused(srv, body):
    data = _raw(srv, body, "EnumerateInstanceNames")
    assert data.startswith(b"HTTP/1.1 400"), data[:200]
    assert b"CIMError: request-not-well-formed" in data
    assert b"root:x:0:0" not in data and b"Traceback" not in data
