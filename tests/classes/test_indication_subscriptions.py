"""The indication service's classes in root/interop (DSP1054 Indications 1.2), through
the embedded server (under SFCB/OpenPegasus the CIMOM's own indication service has
them: registration group vrmgmt-cimom): VRM_IndicationService and
VRM_IndicationServiceCapabilities; CIM_IndicationFilter, CIM_ListenerDestinationCIMXML
and CIM_IndicationSubscription created, read, enumerated, modified and deleted as
pywbem's WBEMSubscriptionManager does it; bad filters refused with the right code."""

from __future__ import annotations

import json

import pytest
from pywbem import (
    CIM_ERR_ALREADY_EXISTS,
    CIM_ERR_FAILED,
    CIM_ERR_INVALID_PARAMETER,
    CIM_ERR_INVALID_QUERY,
    CIM_ERR_NOT_FOUND,
    CIM_ERR_QUERY_LANGUAGE_NOT_SUPPORTED,
    CIMError,
    CIMInstance,
    CIMInstanceName,
    Uint16,
    Uint32,
    WBEMServer,
    WBEMSubscriptionManager,
)

from support.inproc import inproc_server

INTEROP = "root/interop"
SVC = "VRM_IndicationService"
CAPS = "VRM_IndicationServiceCapabilities"
FILTER = "CIM_IndicationFilter"
DEST = "CIM_ListenerDestinationCIMXML"
SUB = "CIM_IndicationSubscription"


@pytest.fixture
def served(tmp_path):
    backends = [{"id": "test", "type": "libvirt", "uri": "test:///default"}]
    with inproc_server(tmp_path / "state", backends) as conn:
        yield conn, tmp_path / "state"


def code(fn) -> int:
    with pytest.raises(CIMError) as e:
        fn()
    assert e.value.status_description, "a refusal says why"
    return e.value.status_code


def new_filter(conn, name: str, query: str, lang: str = "WQL", ns=("root/virt",)) -> CIMInstance:
    inst = CIMInstance(FILTER)
    inst["CreationClassName"] = FILTER
    inst["SystemCreationClassName"] = "CIM_ComputerSystem"
    inst["SystemName"] = conn_sysname(conn)
    inst["Name"] = name
    inst["Query"] = query
    inst["QueryLanguage"] = lang
    if ns is not None:
        inst["SourceNamespaces"] = list(ns)
    return inst


def conn_sysname(conn) -> str:
    return conn.EnumerateInstances("CIM_ObjectManager", namespace=INTEROP)[0]["SystemName"]


def test_service_and_capabilities(served):
    conn, _ = served
    (svc,) = conn.EnumerateInstances(SVC, namespace=INTEROP)
    assert (svc["DeliveryRetryAttempts"], svc["DeliveryRetryInterval"]) == (3, 30)
    assert svc["SubscriptionRemovalAction"] == 2  # Remove
    assert svc["SubscriptionRemovalTimeInterval"] == 30 * 24 * 3600
    assert conn.GetInstance(svc.path)["Name"] == svc["Name"]
    (caps,) = conn.EnumerateInstances(CAPS, namespace=INTEROP)
    assert caps["SubscriptionsPersisted"] is True
    assert caps["DeliveryRetryAttemptsIsSettable"] is True
    assert (caps["MaxListenerDestinations"], caps["MaxActiveSubscriptions"]) == (100, 100)
    # the settings change with ModifyInstance, checked, and persist
    svc["DeliveryRetryAttempts"] = Uint16(1)
    svc["DeliveryRetryInterval"] = Uint32(2)
    conn.ModifyInstance(svc, PropertyList=["DeliveryRetryAttempts", "DeliveryRetryInterval"])
    got = conn.GetInstance(svc.path)
    assert (got["DeliveryRetryAttempts"], got["DeliveryRetryInterval"]) == (1, 2)
    got["SubscriptionRemovalAction"] = Uint16(7)
    assert code(lambda: conn.ModifyInstance(got)) == CIM_ERR_INVALID_PARAMETER
    # registered: DSP1054 Indications with the service as its central instance
    profiles = {
        p["RegisteredName"]: p for p in conn.EnumerateInstances("VRM_RegisteredProfile", INTEROP)
    }
    assert profiles["Indications"]["RegisteredVersion"] == "1.2.0"
    central = conn.AssociatorNames(
        profiles["Indications"].path, AssocClass="VRM_ElementConformsToProfile"
    )
    assert [c.classname for c in central] == [SVC]


def test_subscription_manager_round_trip(served, tmp_path):
    conn, state = served
    sm = WBEMSubscriptionManager("crud")
    sid = sm.add_server(WBEMServer(conn))
    dest = sm.add_destination(sid, "http://127.0.0.1:9", owned=False, name="d1")
    flt = sm.add_filter(sid, "root/virt", "SELECT * FROM CIM_InstCreation", owned=False, name="f1")
    (sub,) = sm.add_subscriptions(sid, flt.path, [dest.path], owned=False)
    assert dest["Destination"] == "http://127.0.0.1:9" and dest["PersistenceType"] == 2
    assert flt["Query"] == "SELECT * FROM CIM_InstCreation"
    assert flt["SourceNamespaces"] == ["root/virt"]
    assert sub["SubscriptionState"] == 2
    assert [s.path for s in sm.get_all_subscriptions(sid)] == [sub.path]
    assert [f["Name"] for f in sm.get_all_filters(sid)] == ["f1"]
    assert [d["Name"] for d in sm.get_all_destinations(sid)] == ["d1"]
    # owned ones too (pywbem finds them again by their Name pattern)
    odest = sm.add_destination(sid, "http://127.0.0.1:10", destination_id="o")
    ofl = sm.add_filter(sid, "root/virt", "SELECT * FROM CIM_InstDeletion", filter_id="o")
    osubs = sm.add_subscriptions(sid, ofl.path, [odest.path])
    assert len(conn.EnumerateInstanceNames(SUB, namespace=INTEROP)) == 2
    # stored in the state dir
    data = json.loads((state / "subscriptions.json").read_text())
    assert {f["Name"] for f in data["filters"]} == {"f1", ofl["Name"]}
    # duplicate names, and deleting what a subscription uses, are refused
    dup = new_filter(conn, "f1", "SELECT * FROM CIM_InstCreation")
    assert code(lambda: conn.CreateInstance(dup, namespace=INTEROP)) == CIM_ERR_ALREADY_EXISTS
    assert code(lambda: conn.DeleteInstance(flt.path)) == CIM_ERR_FAILED
    assert code(lambda: conn.DeleteInstance(dest.path)) == CIM_ERR_FAILED
    # ModifyInstance: disable the subscription, change the filter's query and the URL
    s = conn.GetInstance(sub.path)
    s["SubscriptionState"] = Uint16(4)
    conn.ModifyInstance(s, PropertyList=["SubscriptionState"])
    assert conn.GetInstance(sub.path)["SubscriptionState"] == 4
    f = conn.GetInstance(flt.path)
    f["Query"] = "SELECT * FROM CIM_InstModification"
    conn.ModifyInstance(f, PropertyList=["Query"])
    assert conn.GetInstance(flt.path)["Query"] == "SELECT * FROM CIM_InstModification"
    f["Query"] = "SELECT nope FROM CIM_InstModification"
    assert code(lambda: conn.ModifyInstance(f, PropertyList=["Query"])) == CIM_ERR_INVALID_QUERY
    d = conn.GetInstance(dest.path)
    d["Destination"] = "ftp://x"
    assert code(lambda: conn.ModifyInstance(d)) == CIM_ERR_INVALID_PARAMETER
    d["Destination"] = "http://127.0.0.1:11/listener"
    conn.ModifyInstance(d)
    assert conn.GetInstance(dest.path)["Destination"] == "http://127.0.0.1:11/listener"
    # removal in pywbem's order: subscriptions, then filters and destinations
    sm.remove_subscriptions(sid, [sub.path] + [o.path for o in osubs])
    sm.remove_filter(sid, flt.path)
    sm.remove_destinations(sid, [dest.path])
    sm.remove_server(sid)  # removes the owned filter and destination
    for cls in (SUB, FILTER, DEST):
        assert conn.EnumerateInstanceNames(cls, namespace=INTEROP) == [], cls
    assert code(lambda: conn.GetInstance(flt.path)) == CIM_ERR_NOT_FOUND
    assert code(lambda: conn.DeleteInstance(sub.path)) == CIM_ERR_NOT_FOUND


@pytest.mark.parametrize(
    ("query", "lang", "ns", "expect", "says"),
    [
        (
            "SELECT * FROM CIM_InstCreation WHERE",
            "WQL",
            ["root/virt"],
            CIM_ERR_INVALID_QUERY,
            "unexpected end",
        ),
        ("SELEKT * FROM CIM_InstCreation", "WQL", ["root/virt"], CIM_ERR_INVALID_QUERY, "WQL"),
        (
            "SELECT * FROM VRM_NoSuchClass",
            "WQL",
            ["root/virt"],
            CIM_ERR_INVALID_QUERY,
            "VRM_NoSuchClass",
        ),
        (
            "SELECT * FROM VRM_ComputerSystem",
            "WQL",
            ["root/virt"],
            CIM_ERR_INVALID_QUERY,
            "not an indication class",
        ),
        (
            "SELECT * FROM CIM_InstCreation WHERE Bogus = 1",
            "WQL",
            ["root/virt"],
            CIM_ERR_INVALID_QUERY,
            "Bogus",
        ),
        (
            "SELECT * FROM CIM_InstCreation",
            "DMTF:CQL",
            ["root/virt"],
            CIM_ERR_QUERY_LANGUAGE_NOT_SUPPORTED,
            "CQL",
        ),
        (
            "SELECT * FROM CIM_InstCreation",
            "WQL",
            ["root/cimv2"],
            CIM_ERR_INVALID_PARAMETER,
            "root/cimv2",
        ),
        (
            "SELECT * FROM CIM_InstCreation",
            "WQL",
            ["root/virt", "root/elsewhere"],
            CIM_ERR_INVALID_PARAMETER,
            "root/elsewhere",
        ),
    ],
)
def test_bad_filters_are_refused(served, query, lang, ns, expect, says):
    conn, state = served
    inst = new_filter(conn, "bad", query, lang, ns)
    with pytest.raises(CIMError) as e:
        conn.CreateInstance(inst, namespace=INTEROP)
    assert e.value.status_code == expect, e.value
    assert says in e.value.status_description
    assert conn.EnumerateInstanceNames(FILTER, namespace=INTEROP) == []


def test_bad_destinations_and_subscriptions_are_refused(served):
    conn, _ = served
    d = CIMInstance(DEST)
    d["Name"] = "x"
    assert code(lambda: conn.CreateInstance(d, namespace=INTEROP)) == CIM_ERR_INVALID_PARAMETER
    for url in ("", "ftp://host/", "http://", "http://h:99999/"):
        d["Destination"] = url
        assert code(lambda: conn.CreateInstance(d, namespace=INTEROP)) == CIM_ERR_INVALID_PARAMETER
    s = CIMInstance(SUB)
    s["Filter"] = CIMInstanceName(
        FILTER,
        {
            "CreationClassName": FILTER,
            "Name": "none",
            "SystemCreationClassName": "CIM_ComputerSystem",
            "SystemName": "x",
        },
        namespace=INTEROP,
    )
    s["Handler"] = CIMInstanceName(
        DEST,
        {
            "CreationClassName": DEST,
            "Name": "none",
            "SystemCreationClassName": "CIM_ComputerSystem",
            "SystemName": "x",
        },
        namespace=INTEROP,
    )
    assert code(lambda: conn.CreateInstance(s, namespace=INTEROP)) == CIM_ERR_INVALID_PARAMETER
