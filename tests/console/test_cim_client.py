"""cim.js, the console's CIM-XML client, in chromium against a real server: each call
of its API (docs/console-web.md "cim.js") gives what pywbem gets from the same server —
pull enumerations with property lists, GetInstance, associators, references, WQL,
methods with reference and array parameters, Create/Modify/DeleteInstance, CIM errors
as CimError with the status code, WBEM URIs that round-trip."""

from __future__ import annotations

import pytest

pytestmark = [pytest.mark.browser, pytest.mark.timeout(180)]


@pytest.fixture
def page(console):
    console.open()
    console.login()
    console.page.evaluate("async () => { window.cimjs = await import('/console/js/cim.js'); }")
    return console.page


def js(page, body: str):
    """Run body in the page with `cim` (a CimClient) and `C` (the module)."""
    return page.evaluate(
        "async () => { const C = window.cimjs; const cim = new C.CimClient();" + body + "}"
    )


def test_enumerate_with_property_list_matches_pywbem(page, td_server):
    got = js(
        page,
        """const vms = await cim.enumerate('VRM_ComputerSystem',
               {propertyList: ['Name', 'EnabledState'], maxObjectCount: 2});
           return vms.map(v => [v.path.key('Name'), v.props.EnabledState,
                                Object.keys(v.props).sort(), v.path.namespace]);""",
    )
    conn = td_server.conn()
    want = {
        (str(i["Name"]), int(i["EnabledState"]))
        for i in conn.EnumerateInstances(
            "VRM_ComputerSystem", PropertyList=["Name", "EnabledState"]
        )
    }
    assert {(n, s) for n, s, _k, _ns in got} == want
    assert len(got) == len(want) == 6  # three pulls of 2
    assert all(k == ["EnabledState", "Name"] and ns == "root/virt" for _n, _s, k, ns in got)


def test_get_instance_associators_references_query(page, td_server):
    name = td_server.domains[0][0]
    got = js(
        page,
        f"""const vms = await cim.query("SELECT Name, ElementName FROM VRM_ComputerSystem "
                 + "WHERE ElementName = '{name}'");
           const uuid = vms[0].props.Name;
           const p = new C.CimPath('VRM_ComputerSystem',
               {{CreationClassName: 'VRM_ComputerSystem', Name: uuid}}, 'root/virt');
           const one = await cim.getInstance(p, {{propertyList: ['ElementName', 'MemoryKiB']}});
           const hosts = await cim.associators(p, {{assocClass: 'VRM_HostedDependency',
               resultClass: 'VRM_HostSystem', propertyList: ['Name']}});
           const refs = await cim.references(p, {{resultClass: 'VRM_MemberOfGroup'}});
           return {{n: vms.length, uuid, name: one.props.ElementName, mem: one.props.MemoryKiB,
                   keys: Object.keys(one.props).sort(), host: hosts.map(h => h.props.Name),
                   coll: refs.map(r => r.props.Collection.key('InstanceID')),
                   uri: p.toWbemUri(), again: C.CimPath.parse(p.toWbemUri()).equals(p)}};""",
    )
    conn = td_server.conn()
    (vm,) = [i for i in conn.EnumerateInstances("VRM_ComputerSystem") if i["ElementName"] == name]
    assert got["n"] == 1 and got["uuid"] == vm["Name"] and got["name"] == name
    assert got["mem"] == int(vm["MemoryKiB"])
    assert got["keys"] == ["ElementName", "MemoryKiB"]
    hosts = conn.Associators(
        vm.path, AssocClass="VRM_HostedDependency", ResultClass="VRM_HostSystem"
    )
    assert got["host"] == [h["Name"] for h in hosts]
    assert got["coll"] == ["vrmgmt:group:root"]
    assert got["uri"] == vm.path.to_wbem_uri()
    assert got["again"] is True


def test_methods_instances_and_errors(page, td_server):
    got = js(
        page,
        """const svc = (await cim.enumerate('VRM_GroupManagementService',
               {propertyList: ['Name']}))[0].path;
           const made = await cim.invokeMethod(svc, 'CreateGroup',
               {GroupName: {type: 'string', value: 'cimjs-group'}});
           const g = made.out.Group;
           const vms = await cim.enumerate('VRM_ComputerSystem', {propertyList: ['Name']});
           const moved = await cim.invokeMethod(svc, 'MoveMembers', {
               TargetGroup: {type: 'reference', value: g},
               Members: {type: 'reference', value: vms.slice(0, 2).map(v => v.path)}});
           const members = await cim.associators(g, {assocClass: 'VRM_MemberOfGroup',
               role: 'Collection', propertyList: ['Name']});
           await cim.modifyInstance({path: g, classname: 'VRM_Group',
               props: {Description: {type: 'string', value: 'from cim.js'}}}, ['Description']);
           const after = await cim.getInstance(g, {propertyList: ['Description']});
           let err = null;
           try { await cim.invokeMethod(svc, 'MoveMembers', {
                   TargetGroup: {type: 'reference', value: g}}); }
           catch (e) { err = [e.name, e.status, e.statusName, e.description]; }
           let missing = null;
           const nope = new C.CimPath('VRM_Group', {InstanceID: 'vrmgmt:group:nope'});
           try { await cim.getInstance(nope); }
           catch (e) { missing = [e.status, e.statusName]; }
           await cim.invokeMethod(svc, 'DeleteGroup', {Group: {type: 'reference', value: g},
               Force: {type: 'boolean', value: true}});
           const left = await cim.enumerate('VRM_Group', {propertyList: ['ElementName']});
           return {made: made.returnValue, moved: moved.returnValue,
                   members: members.map(m => m.props.Name).sort(),
                   picked: vms.slice(0, 2).map(v => v.props.Name).sort(),
                   desc: after.props.Description, err, missing,
                   left: left.map(x => x.props.ElementName)};""",
    )
    assert got["made"] == 0 and got["moved"] == 0
    assert got["members"] == got["picked"]
    assert got["desc"] == "from cim.js"
    assert got["err"][:3] == ["CimError", 4, "CIM_ERR_INVALID_PARAMETER"]
    assert "Members" in got["err"][3]
    assert got["missing"] == [6, "CIM_ERR_NOT_FOUND"]
    assert "cimjs-group" not in got["left"]


def test_create_and_delete_instance(page, td_server):
    got = js(
        page,
        """const p = await cim.createInstance({classname: 'VRM_Group',
               props: {ElementName: {type: 'string', value: 'made-by-create'}}});
           const g = await cim.getInstance(p, {propertyList: ['ElementName']});
           await cim.deleteInstance(p);
           let gone = null;
           try { await cim.getInstance(p); } catch (e) { gone = e.status; }
           return [p.classname, g.props.ElementName, gone];""",
    )
    assert got == ["VRM_Group", "made-by-create", 6]
