"""ExecQuery and OpenQueryInstances with WQL through a real server."""

from __future__ import annotations

import pytest
import pywbem

from support.server import VrmServer
from support.testdriver import node_uri, write_node_xml


@pytest.fixture(scope="module")
def srv(tmp_path_factory):
    d = tmp_path_factory.mktemp("q")
    doms = write_node_xml(d / "n.xml", 40, seed=4, running_every=4)
    s = VrmServer(d, [{"id": "q", "type": "libvirt", "uri": node_uri(d / "n.xml")}])
    s.domains = doms
    with s:
        yield s


def test_exec_query_where_and_projection(srv):
    conn = srv.conn()
    res = conn.ExecQuery(
        "WQL", "SELECT Name, EnabledState FROM VRM_ComputerSystem WHERE EnabledState = 2"
    )
    assert len(res) == 10  # every 4th of 40 runs
    assert all(set(i.keys()) == {"Name", "EnabledState"} for i in res)
    assert all(i.path.classname == "VRM_ComputerSystem" for i in res)
    res = conn.ExecQuery(
        "WQL",
        "select * from CIM_ComputerSystem where not "
        "(EnabledState = 2 or ElementName = 'vm00001') "
        "and __CLASS ISA VRM_ComputerSystem",
    )
    assert len(res) == 29
    res = conn.ExecQuery("WQL", "SELECT * FROM VRM_HostSystem WHERE NumberOfProcessors >= 1")
    assert [h["Name"] for h in res] == ["q"]


def test_open_query_instances_pulls(srv):
    conn = srv.conn(use_pull_operations=True)
    got = list(
        conn.IterQueryInstances(
            "WQL", "SELECT Name FROM VRM_ComputerSystem", MaxObjectCount=7
        ).generator
    )
    assert len(got) == 40
    assert {i["Name"] for i in got} == {u for _, u in srv.domains}


@pytest.mark.parametrize(
    "lang,query,code",
    [
        (
            "DMTF:CQL",
            "SELECT * FROM VRM_ComputerSystem",
            pywbem.CIM_ERR_QUERY_LANGUAGE_NOT_SUPPORTED,
        ),
        ("WQL", "SELECT * FROM", pywbem.CIM_ERR_INVALID_QUERY),
        ("WQL", "SELECT * FROM VRM_Nothing", pywbem.CIM_ERR_INVALID_QUERY),
        ("WQL", "SELECT Bogus FROM VRM_ComputerSystem", pywbem.CIM_ERR_INVALID_QUERY),
        (
            "WQL",
            "SELECT * FROM VRM_ComputerSystem WHERE EnabledState = 'two'",
            pywbem.CIM_ERR_INVALID_QUERY,
        ),
        (
            "WQL",
            "SELECT * FROM VRM_ComputerSystem WHERE " + "(" * 5000 + "EnabledState=2" + ")" * 5000,
            pywbem.CIM_ERR_INVALID_QUERY,
        ),
    ],
)
def test_bad_queries(srv, lang, query, code):
    with pytest.raises(pywbem.CIMError) as exc:
        srv.conn().ExecQuery(lang, query)
    assert exc.value.status_code == code
    assert exc.value.status_description


# No pywbemcli `instance query` test: pywbemtools 1.4.1 calls list() on pywbem 1.9's
# IterQueryInstancesReturn and fails with a TypeError before it sends anything.
