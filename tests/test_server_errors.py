"""CIM and HTTP errors (DSP0200 §7.5) for bad input; the server keeps serving."""

from __future__ import annotations

import base64
import http.client
import socket

import pytest
import pywbem

from support.server import PASSWORD, USER

ENUM = (
    '<?xml version="1.0" encoding="utf-8" ?>'
    '<CIM CIMVERSION="2.0" DTDVERSION="2.0"><MESSAGE ID="7" PROTOCOLVERSION="1.0">'
    '<SIMPLEREQ><IMETHODCALL NAME="EnumerateInstanceNames"><LOCALNAMESPACEPATH>'
    '<NAMESPACE NAME="root"/><NAMESPACE NAME="virt"/></LOCALNAMESPACEPATH>'
    '<IPARAMVALUE NAME="ClassName"><CLASSNAME NAME="VRM_ComputerSystem"/></IPARAMVALUE>'
    "</IMETHODCALL></SIMPLEREQ></MESSAGE></CIM>"
)
AUTH = "Basic " + base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()


def post(
    srv, body: str | bytes, headers: dict | None = None, method: str = "POST", auth: bool = True
):
    h = {
        "Content-Type": 'application/xml; charset="utf-8"',
        "CIMOperation": "MethodCall",
        "CIMMethod": "EnumerateInstanceNames",
        "CIMObject": "root%2Fvirt",
    }
    if auth:
        h["Authorization"] = AUTH
    h.update(headers or {})
    h = {k: v for k, v in h.items() if v is not None}
    c = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=30)
    c.request(method, "/cimom", body=body.encode() if isinstance(body, str) else body, headers=h)
    r = c.getresponse()
    data = r.read()
    c.close()
    return r, data


def still_serving(srv) -> None:
    names = srv.conn().EnumerateInstanceNames("VRM_ComputerSystem")
    assert len(names) == len(srv.domains)


def test_valid_raw_request_with_escaped_cimobject(testdriver_server):
    r, data = post(testdriver_server, ENUM)
    assert r.status == 200
    assert r.getheader("CIMOperation") == "MethodResponse"
    assert data.count(b"<INSTANCENAME") == len(testdriver_server.domains)
    assert b"/>" not in data  # explicit end tags only (wbemcli needs them)


def test_mpost_with_man_header(testdriver_server):
    r, data = post(
        testdriver_server,
        ENUM,
        method="M-POST",
        headers={
            "CIMOperation": None,
            "CIMMethod": None,
            "CIMObject": None,
            "Man": "http://www.dmtf.org/cim/mapping.http#;ns=73",
            "73-CIMOperation": "MethodCall",
            "73-CIMMethod": "EnumerateInstanceNames",
            "73-CIMObject": "root/virt",
        },
    )
    assert r.status == 200, data
    assert data.count(b"<INSTANCENAME") == len(testdriver_server.domains)


@pytest.mark.parametrize(
    "body,cim_error",
    [
        ("<CIM><unclosed>", "request-not-well-formed"),
        ("not xml at all", "request-not-well-formed"),
        (
            '<?xml version="1.0"?><!DOCTYPE CIM [<!ENTITY a "aaaa"><!ENTITY b "&a;&a;&a;">]>'
            '<CIM CIMVERSION="2.0" DTDVERSION="2.0">&b;</CIM>',
            "request-not-well-formed",
        ),
        (
            '<CIM CIMVERSION="2.0" DTDVERSION="2.0"><MESSAGE ID="1" PROTOCOLVERSION="1.0">'
            "<SIMPLEREQ></SIMPLEREQ></MESSAGE></CIM>",
            "request-not-valid",
        ),
        ('<CIM CIMVERSION="3.0" DTDVERSION="2.0"></CIM>', "unsupported-cim-version"),
    ],
)
def test_malformed_xml_is_a_400_with_cimerror_header(testdriver_server, body, cim_error):
    r, data = post(testdriver_server, body)
    assert r.status == 400
    assert r.getheader("CIMError") == cim_error
    assert b"Traceback" not in data
    still_serving(testdriver_server)


def test_missing_cimoperation_header(testdriver_server):
    r, _ = post(testdriver_server, ENUM, headers={"CIMOperation": None})
    assert r.status == 400
    assert r.getheader("CIMError") == "unsupported-operation"
    still_serving(testdriver_server)


def test_missing_or_mismatched_cimmethod_header(testdriver_server):
    r, _ = post(testdriver_server, ENUM, headers={"CIMMethod": None})
    assert (r.status, r.getheader("CIMError")) == (400, "header-mismatch")
    r, _ = post(testdriver_server, ENUM, headers={"CIMMethod": "GetClass"})
    assert (r.status, r.getheader("CIMError")) == (400, "header-mismatch")
    r, _ = post(testdriver_server, ENUM, headers={"CIMObject": "root/other"})
    assert (r.status, r.getheader("CIMError")) == (400, "header-mismatch")
    still_serving(testdriver_server)


def test_authentication_required(testdriver_server):
    r, _ = post(testdriver_server, ENUM, auth=False)
    assert r.status == 401
    assert "Basic" in r.getheader("WWW-Authenticate")
    r, _ = post(
        testdriver_server,
        ENUM,
        auth=False,
        headers={"Authorization": "Basic " + base64.b64encode(f"{USER}:wrong".encode()).decode()},
    )
    assert r.status == 401
    bad = pywbem.WBEMConnection(testdriver_server.url, (USER, "wrong"), timeout=30)
    with pytest.raises(pywbem.AuthError):
        bad.EnumerateInstanceNames("VRM_ComputerSystem", namespace="root/virt")


def test_get_is_not_allowed_and_body_limit(testdriver_server):
    c = http.client.HTTPConnection("127.0.0.1", testdriver_server.port, timeout=30)
    c.request("GET", "/cimom")
    r = c.getresponse()
    r.read()
    assert r.status == 405
    assert "POST" in r.getheader("Allow")
    # A declared body over the limit (default 4 MiB) is refused before it is read.
    with socket.create_connection(("127.0.0.1", testdriver_server.port), timeout=30) as s:
        s.sendall(
            b"POST /cimom HTTP/1.1\r\nHost: x\r\nContent-Type: application/xml\r\n"
            b"CIMOperation: MethodCall\r\nCIMMethod: EnumerateInstanceNames\r\n"
            b"CIMObject: root/virt\r\nAuthorization: " + AUTH.encode() + b"\r\n"
            b"Content-Length: 5242880\r\n\r\n<CIM>"
        )
        reply = s.recv(4096)
    assert reply.startswith(b"HTTP/1.1 413")
    still_serving(testdriver_server)


def test_wrong_namespace(testdriver_server):
    conn = testdriver_server.conn(namespace="root/nowhere")
    with pytest.raises(pywbem.CIMError) as exc:
        conn.EnumerateInstances("VRM_ComputerSystem")
    assert exc.value.status_code == pywbem.CIM_ERR_INVALID_NAMESPACE
    assert "root/nowhere" in exc.value.status_description


def test_unknown_class_and_instance(testdriver_server):
    conn = testdriver_server.conn()
    with pytest.raises(pywbem.CIMError) as exc:
        conn.EnumerateInstances("VRM_DoesNotExist")
    assert exc.value.status_code == pywbem.CIM_ERR_INVALID_CLASS
    with pytest.raises(pywbem.CIMError) as exc:
        conn.GetInstance(
            pywbem.CIMInstanceName(
                "VRM_ComputerSystem",
                {
                    "CreationClassName": "VRM_ComputerSystem",
                    "Name": "00000000-0000-0000-0000-000000000000",
                },
            )
        )
    assert exc.value.status_code == pywbem.CIM_ERR_NOT_FOUND
    assert "00000000-0000-0000-0000-000000000000" in exc.value.status_description


def _path(uuid):
    return pywbem.CIMInstanceName(
        "VRM_ComputerSystem", {"CreationClassName": "VRM_ComputerSystem", "Name": uuid}
    )


def test_bad_requested_state_values(testdriver_server):
    conn = testdriver_server.conn()
    _, uuid = testdriver_server.domains[0]
    rv, _ = conn.InvokeMethod("RequestStateChange", _path(uuid), RequestedState=pywbem.Uint16(99))
    assert rv == 5  # Invalid Parameter (DSP1052)
    before = conn.GetInstance(_path(uuid))["EnabledState"]
    rv, _ = conn.InvokeMethod("RequestStateChange", _path(uuid), RequestedState=pywbem.Uint16(7))
    assert rv == 5
    assert conn.GetInstance(_path(uuid))["EnabledState"] == before


def test_wrongly_typed_parameter_is_invalid_parameter(testdriver_server):
    conn = testdriver_server.conn()
    _, uuid = testdriver_server.domains[0]
    with pytest.raises(pywbem.CIMError) as exc:
        conn.InvokeMethod("RequestStateChange", _path(uuid), RequestedState="fast")
    assert exc.value.status_code == pywbem.CIM_ERR_INVALID_PARAMETER
    assert "RequestedState" in exc.value.status_description
    with pytest.raises(pywbem.CIMError) as exc:
        conn.InvokeMethod("NoSuchMethod", _path(uuid))
    assert exc.value.status_code == pywbem.CIM_ERR_METHOD_NOT_FOUND


def test_timeout_period_not_supported(testdriver_server):
    conn = testdriver_server.conn()
    _, uuid = testdriver_server.domains[0]
    rv, _ = conn.InvokeMethod(
        "RequestStateChange",
        _path(uuid),
        RequestedState=pywbem.Uint16(9),
        TimeoutPeriod=pywbem.CIMDateTime("00000000000030.000000:000"),
    )
    assert rv == 4098
    assert conn.GetInstance(_path(uuid))["EnabledState"] == 2
