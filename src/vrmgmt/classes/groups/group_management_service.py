"""VRM_GroupManagementService: edits groups and controls every VM of a group at once
(issue 12, docs/groups.md). One instance (CIM Schema 2.49 CIM_Service keys).

Method names follow SMI-S' group services (CreateGroup, DeleteGroup, AddMembers,
RemoveMembers) plus MoveMembers; each edit is atomic (one store edit: all or nothing)
and audited. RequestStateChangeOfMembers asks every VM of a group (and of its subgroups
when Recursive) for a state as CIM_ComputerSystem.RequestStateChange does (DSP1052
§8.1 return codes, the VM logic of vrmgmt.classes.system.computer_system), at most
MaxParallel at once, as a job (DSP1103); GetMemberResults gives each member's outcome.
Roles: CreateGroup/DeleteGroup admin, membership changes and state changes operator.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pywbem
from pywbem import CIMDateTime, CIMError, CIMInstance, CIMInstanceName, Uint32

from vrmgmt.cim import fastinst
from vrmgmt.cim import paths as cim_paths
from vrmgmt.cim import valuemaps as vm_map
from vrmgmt.cim.errors import not_found
from vrmgmt.cim.methods import MethodCall, MethodTable
from vrmgmt.cim.provider import ProviderEnv
from vrmgmt.classes.groups import group
from vrmgmt.classes.interop import object_manager
from vrmgmt.classes.jobs import concrete_job
from vrmgmt.classes.system import computer_system as vm_cls
from vrmgmt.errors import VrmError
from vrmgmt.groups import ROOT, Conflict, Tree

CLASS = "VRM_GroupManagementService"
NAME = "vrmgmt:groups"
SYSTEM_CREATION_CLASS = object_manager.SYSTEM_CREATION_CLASS
#: RequestStateChangeOfMembers defaults and bounds
DEFAULT_PARALLEL, MAX_PARALLEL = 8, 64
RESULT_KIND = "group-state-change"


def path(env: ProviderEnv, namespace: str | None) -> CIMInstanceName:
    return fastinst.path(
        CLASS,
        {
            "SystemCreationClassName": SYSTEM_CREATION_CLASS,
            "SystemName": object_manager.hostname(env),
            "CreationClassName": CLASS,
            "Name": NAME,
        },
        namespace,
    )


def parse(p: CIMInstanceName) -> str:
    name = cim_paths.string_key(p, CLASS)
    if name != NAME:
        raise not_found(f"no {CLASS} {name!r} (there is one: {NAME!r})")
    return name


def instances(env, namespace, paths=None, *, bulk=False) -> Iterator[CIMInstance]:
    if paths is not None:
        for p in paths:
            try:
                parse(p)
            except CIMError:
                if len(paths) == 1:
                    raise
                continue
            yield _instance(env, namespace)
        return
    yield _instance(env, namespace)


def _instance(env: ProviderEnv, namespace: str) -> CIMInstance:
    health = group.store(env).health()
    P = fastinst.prop
    p = path(env, namespace)
    props = [P(k, v, "string") for k, v in p.keybindings.items()] + [
        P("ElementName", "Group management", "string"),
        P("Description", "Edits groups of hosts and VMs; controls a group's VMs", "string"),
        P(
            "HealthState",
            pywbem.Uint16(vm_map.HS_OK if health.ok else vm_map.HS_DEGRADED),
            "uint16",
        ),
        P("StatusDescriptions", None if health.ok else [health.reason], "string", True),
    ]
    return fastinst.instance(CLASS, props, p)


# -- helpers -----------------------------------------------------------------------------
def _required(value, name: str):
    if value is None:
        raise CIMError(pywbem.CIM_ERR_INVALID_PARAMETER, f"parameter {name} is required")
    return value


def _refs(call: MethodCall, members) -> list[group.Ref]:
    if members is None:
        return []
    if not isinstance(members, list):
        members = [members]
    refs = [group.member_of_path(call.ctx, m) for m in members]
    tree = group.store(call.env).snapshot()
    found = group.locate(call.env, [k for kind, k in refs if kind == "vm"])
    for kind, key in refs:
        if kind == "group":
            if key == ROOT:
                raise CIMError(pywbem.CIM_ERR_INVALID_PARAMETER, "the root group is no member")
            if key not in tree.groups:
                raise not_found(f"no group {key!r}")
        elif (kind == "host" and not call.env.inventory.has_backend(key)) or (
            kind == "vm" and found.get(key) is None
        ):
            raise not_found(f"no {kind} {key!r} (members must exist when they are added)")
    return refs


def _gid(p, name: str) -> str:
    return group.parse(_required(p, name))


def _land(t: Tree, target: str, members, vm_host: dict[str, str]) -> None:
    """A host or VM that was moved must end in target (a VM moved to the root would
    otherwise land in its host's group)."""
    for kind, key in members:
        got = t.group_of(kind, key, host_of=vm_host.get(key))
        if got != target:
            raise Conflict(
                f"{kind} {key!r} would be in group {t.name_of(got)!r}, not "
                f"{t.name_of(target)!r}: a VM outside every group is in its host's group"
            )


def _done(out: dict | None = None):
    return Uint32(vm_map.RC_COMPLETED), out or {}


# -- methods -----------------------------------------------------------------------------
METHODS = MethodTable()


@METHODS.method("CreateGroup", role="admin")
def create_group(
    call: MethodCall, group_name=None, parent_group=None, description=None, members=None
):
    parse(call.instance_path)
    name = _required(group_name, "GroupName")
    parent = group.parse(parent_group) if parent_group is not None else ROOT
    refs = _refs(call, members)
    hosts_vms, groups = group.split(refs)

    def make(t: Tree) -> str:
        gid = t.create(name, parent, description or "")
        t.move(gid, hosts_vms, groups)
        return gid

    gid = group.edit(call.env, call.ctx, "CreateGroup", f"{group.CLASS} {name!r}", make)
    return _done({"Group": group.path(gid, call.ctx.namespace)})


@METHODS.method("DeleteGroup", role="admin")
def delete_group(call: MethodCall, group_=None, force=None):
    parse(call.instance_path)
    gid = _gid(group_, "Group")
    if gid == ROOT:
        raise CIMError(pywbem.CIM_ERR_FAILED, "the root group cannot be deleted")
    group.edit(
        call.env,
        call.ctx,
        f"DeleteGroup(Force={bool(force)})",
        f"{group.CLASS} {gid}",
        lambda t: t.delete(gid, move_to_parent=bool(force)),
    )
    return _done()


@METHODS.method("AddMembers", role="operator")
def add_members(call: MethodCall, group_=None, members=None):
    parse(call.instance_path)
    gid = _gid(group_, "Group")
    if gid == ROOT:
        raise CIMError(
            pywbem.CIM_ERR_FAILED,
            "the root group holds whatever no other group holds: use RemoveMembers",
        )
    refs = _refs(call, _required(members, "Members"))
    hosts_vms, groups = group.split(refs)

    def add(t: Tree) -> None:
        for g in groups:
            if t.get(g).parent not in (ROOT, gid):
                raise Conflict(
                    f"group {t.get(g).name!r} is in group {t.name_of(t.get(g).parent)!r} "
                    f"already (use MoveMembers)"
                )
        t.add(gid, hosts_vms)
        t.move(gid, [], groups)

    group.edit(call.env, call.ctx, f"AddMembers({len(refs)})", f"{group.CLASS} {gid}", add)
    return _done()


@METHODS.method("RemoveMembers", role="operator")
def remove_members(call: MethodCall, group_=None, members=None):
    parse(call.instance_path)
    gid = _gid(group_, "Group")
    refs = [group.member_of_path(call.ctx, m) for m in _required(members, "Members")]
    hosts_vms, groups = group.split(refs)

    def remove(t: Tree) -> None:
        for g in groups:
            if t.get(g).parent != gid:
                raise CIMError(
                    pywbem.CIM_ERR_NOT_FOUND, f"group {g!r} is not a subgroup of {gid!r}"
                )
        t.remove(gid, hosts_vms)
        t.move(ROOT, [], groups)

    group.edit(call.env, call.ctx, f"RemoveMembers({len(refs)})", f"{group.CLASS} {gid}", remove)
    return _done()


@METHODS.method("MoveMembers", role="operator")
def move_members(call: MethodCall, target_group=None, members=None):
    parse(call.instance_path)
    gid = _gid(target_group, "TargetGroup")
    refs = _refs(call, _required(members, "Members"))
    hosts_vms, groups = group.split(refs)
    vm_host = group.locate(call.env, [k for kind, k in hosts_vms if kind == "vm"])

    def move(t: Tree) -> None:
        t.move(gid, hosts_vms, groups)
        _land(t, gid, hosts_vms, vm_host)

    group.edit(call.env, call.ctx, f"MoveMembers({len(refs)})", f"{group.CLASS} {gid}", move)
    return _done()


# -- group-wide state changes ------------------------------------------------------------
def _vms_of(v: group.View, gid: str, recursive: bool) -> tuple[list[str], list[str]]:
    """(VMs found right now, listed VMs not found right now) of a group."""
    gids = [gid] + (v.tree.descendants(gid) if recursive and gid != ROOT else [])
    if recursive and gid == ROOT:
        gids = [ROOT, *v.tree.groups]
    found, stale = [], []
    for g in gids:
        found += [key for kind, key in v.members.get(g, []) if kind == "vm"]
        stale += [key for kind, key in v.stale.get(g, []) if kind == "vm"]
    return found, stale


def _seconds(timeout) -> float:
    if timeout is None:
        return vm_cls.JOB_ACTION_TIMEOUT
    if not isinstance(timeout, CIMDateTime) or not timeout.is_interval:
        raise CIMError(pywbem.CIM_ERR_INVALID_PARAMETER, "TimeoutPeriod must be an interval")
    s = timeout.timedelta.total_seconds()
    return s if s > 0 else vm_cls.JOB_ACTION_TIMEOUT


@METHODS.method("RequestStateChangeOfMembers", role="operator")
def request_state_change_of_members(
    call: MethodCall,
    group_=None,
    requested_state=None,
    recursive=None,
    max_parallel=None,
    timeout_period=None,
):
    parse(call.instance_path)
    gid = _gid(group_, "Group")
    rs = int(_required(requested_state, "RequestedState"))
    parallel = DEFAULT_PARALLEL if max_parallel is None else int(max_parallel)
    if not 1 <= parallel <= MAX_PARALLEL:
        raise CIMError(pywbem.CIM_ERR_INVALID_PARAMETER, f"MaxParallel must be 1 to {MAX_PARALLEL}")
    timeout = _seconds(timeout_period)
    v = group.view(call.env)
    group.require_group(v, gid)
    uuids, stale = _vms_of(v, gid, bool(recursive))
    env, ctx, ns = call.env, call.ctx, call.ctx.namespace
    inv = env.inventory
    gname = v.tree.name_of(gid)
    action = (
        f"RequestStateChangeOfMembers({rs}, Recursive={bool(recursive)}, MaxParallel={parallel})"
    )
    target = f"{group.CLASS} {gid} ({gname!r}: {len(uuids)} VMs)"

    def one(uuid: str) -> tuple[int, str]:
        try:
            vm = inv.get_vm(uuid, v.vm_host[uuid])
        except VrmError as exc:
            return vm_map.RC_FAILED, f"not found: {exc}"
        rc, desc = vm_cls.change_state(
            inv, vm, rs, timeout=timeout, requested=vm_cls.requested_states(env)
        )
        env.audit(
            user=ctx.user,
            action=f"RequestStateChange({rs}) of group {gname!r}",
            target=f"{vm_cls.CLASS}.Name={uuid} ({vm.name} on {vm.backend_id})",
            outcome=f"{rc}: {desc}",
        )
        return rc, desc

    def run(progress):
        results: dict[str, tuple[int, str]] = {}
        lock = threading.Lock()
        total = max(1, len(uuids))

        def work(uuid: str) -> None:
            if progress.cancelled:
                res = (vm_map.RC_FAILED, "cancelled before it started")
            else:
                res = one(uuid)
            with lock:
                results[uuid] = res
                progress.update(
                    min(99, len(results) * 100 // total), f"{len(results)} of {len(uuids)} VMs"
                )

        if uuids:
            with ThreadPoolExecutor(max_workers=parallel, thread_name_prefix="group-rsc") as ex:
                list(ex.map(work, uuids))
        rows = [
            {
                "member": vm_cls.path(u, ns).to_wbem_uri(),
                "rc": results[u][0],
                "description": results[u][1],
            }
            for u in uuids
        ] + [
            {
                "member": vm_cls.path(u, ns).to_wbem_uri(),
                "rc": vm_map.RC_FAILED,
                "description": "not found right now (it keeps its place in the group)",
            }
            for u in stale
        ]
        ok = sum(1 for r in rows if r["rc"] == vm_map.RC_COMPLETED)
        summary = f"{ok} of {len(rows)} VMs completed"
        env.audit(user=ctx.user, action=action, target=target, outcome=f"job done: {summary}")
        progress.update(100, summary)
        return {"kind": RESULT_KIND, "members": rows}

    result = concrete_job.start(
        call,
        run,
        name="RequestStateChangeOfMembers",
        description=f"RequestedState {rs} for the {len(uuids)} VMs of group {gname!r}",
        affected=[group.path(gid, ns)],
    )
    env.audit(user=ctx.user, action=action, target=target, outcome="job started")
    return result


@METHODS.method("GetMemberResults", role="reader")
def get_member_results(call: MethodCall, job=None):
    parse(call.instance_path)
    job_id = concrete_job.parse(_required(job, "Job"))
    try:
        j = concrete_job.store(call.env).get(job_id)
    except VrmError as exc:
        raise not_found(str(exc)) from None
    if not j.finished:
        raise CIMError(
            pywbem.CIM_ERR_FAILED, f"job {job_id} has not finished yet ({j.percent_complete}%)"
        )
    res = j.result
    if not isinstance(res, dict) or res.get("kind") != RESULT_KIND:
        raise CIMError(
            pywbem.CIM_ERR_INVALID_PARAMETER,
            f"job {job_id} is not a RequestStateChangeOfMembers job",
        )
    rows = res["members"]
    return _done(
        {
            "Members": [r["member"] for r in rows],
            "ReturnCodes": [Uint32(r["rc"]) for r in rows],
            "Descriptions": [r["description"] for r in rows],
        }
    )
