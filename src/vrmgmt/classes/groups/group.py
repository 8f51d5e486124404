"""VRM_Group: an administrator-defined group (category) of hosts and VMs, over the
group store vrmgmt.groups (issue 12, docs/groups.md).

CIM Schema 2.49 Core model: CIM_ConcreteCollection (key InstanceID; ElementName the
group's name, Description free text); DSP0200 §5.3.2.6-8 intrinsic CreateInstance /
ModifyInstance / DeleteInstance. The implicit root group (``vrmgmt:group:root``) holds
every host and VM no other group holds; it cannot be renamed or deleted.

HealthState is 10 (Degraded) and StatusDescriptions say why when a member is not found
right now (it keeps its place in the file) or when the store is damaged.

Indications (DSP1054 §7; issue 15): ``watch(env)`` (the host's enable_indications)
turns every change of the group store — made by this process or written by another one
into the shared groups.xml — into CIM_InstCreation / CIM_InstModification /
CIM_InstDeletion of VRM_Group (created; renamed or described; deleted) and
CIM_InstCreation / CIM_InstDeletion of VRM_MemberOfGroup (a host, VM or subgroup that
joins or leaves a group; a move is both), with SourceInstance as GetInstance shows it.

This module also owns what the other group classes share: the membership view of the
groups and the inventory at one moment (`view`), turning member paths into store
members (`member_of_path`) and back (`member_path`), and audited edits (`edit`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import TypeVar

import pywbem
from pywbem import CIMError, CIMInstance, CIMInstanceName, Uint16

from vrmgmt.cim import fastinst
from vrmgmt.cim import indications as ind
from vrmgmt.cim import paths as cim_paths
from vrmgmt.cim import valuemaps as vm_map
from vrmgmt.cim.errors import not_found, to_cim_error
from vrmgmt.cim.provider import ProviderContext, ProviderEnv
from vrmgmt.classes.system import computer_system as vm_cls
from vrmgmt.classes.system import host_system as host_cls
from vrmgmt.errors import VrmError
from vrmgmt.groups import ROOT, ROOT_NAME, Conflict, GroupStore, StoreReadOnly, Tree, store_for

CLASS = "VRM_Group"
PREFIX = "vrmgmt:group:"
T = TypeVar("T")

#: A member as the CIM side names it: ("host", backend id), ("vm", uuid), ("group", id)
Ref = tuple[str, str]


def path(gid: str, namespace: str | None) -> CIMInstanceName:
    return fastinst.path(CLASS, {"InstanceID": PREFIX + gid}, namespace)


def parse(p: CIMInstanceName) -> str:
    """The group id a VRM_Group path names (CIM_ERR_NOT_FOUND for a foreign InstanceID)."""
    if p.classname.lower() != CLASS.lower():
        raise CIMError(pywbem.CIM_ERR_INVALID_PARAMETER, f"{p.classname} is not {CLASS}")
    iid = cim_paths.keys_of(p).get("instanceid")
    if not isinstance(iid, str) or not iid.startswith(PREFIX):
        raise not_found(f"no group {iid!r} (vrmgmt's group InstanceIDs start with {PREFIX!r})")
    return iid[len(PREFIX) :]


def store(env: ProviderEnv) -> GroupStore:
    if env.config is None:
        raise CIMError(pywbem.CIM_ERR_FAILED, "this host offers no group store (no state_dir)")
    return store_for(env.config.state_dir)


# -- members as CIM paths ----------------------------------------------------------------
def member_of_path(ctx: ProviderContext, p: CIMInstanceName) -> Ref:
    """The member a host, VM or group path names (CIM_ERR_INVALID_PARAMETER otherwise)."""
    if not isinstance(p, CIMInstanceName):
        raise CIMError(pywbem.CIM_ERR_INVALID_PARAMETER, f"member {p!r} is not an instance path")
    cn = p.classname
    if ctx.is_subclass(cn, CLASS):
        return ("group", parse(p))
    if ctx.is_subclass(cn, host_cls.CLASS):
        return ("host", host_cls.parse(p))
    if ctx.is_subclass(cn, vm_cls.CLASS):
        return ("vm", vm_cls.parse(p))
    raise CIMError(
        pywbem.CIM_ERR_INVALID_PARAMETER,
        f"a group member is a {host_cls.CLASS}, a {vm_cls.CLASS} or a {CLASS}, not {cn}",
    )


def member_path(ref: Ref, namespace: str) -> CIMInstanceName:
    kind, key = ref
    if kind == "group":
        return path(key, namespace)
    if kind == "host":
        return host_cls.path(key, namespace)
    return vm_cls.path(key, namespace)


def split(refs: list[Ref]) -> tuple[list[tuple[str, str]], list[str]]:
    """(host/VM members for the store, group ids)."""
    return [r for r in refs if r[0] != "group"], [r[1] for r in refs if r[0] == "group"]


# -- the membership view -----------------------------------------------------------------
@dataclass
class View:
    """Groups and inventory at one moment: who is in which group (explicitly, or a VM
    through its host, or the root) and which listed members are not found right now."""

    tree: Tree
    hosts: set[str]
    vm_host: dict[str, str]
    #: group id -> its hosts and VMs (explicit and implicit), found right now
    members: dict[str, list[Ref]] = field(default_factory=dict)
    #: group id -> listed members not found right now
    stale: dict[str, list[Ref]] = field(default_factory=dict)
    unreachable: dict[str, str] = field(default_factory=dict)

    def group_of(self, ref: Ref) -> str | None:
        kind, key = ref
        if kind == "group":
            g = self.tree.groups.get(key)
            return None if g is None else g.parent
        if kind == "host":
            return self.tree.group_of("host", key) if key in self.hosts else None
        host = self.vm_host.get(key)
        return None if host is None else self.tree.group_of("vm", key, host_of=host)

    def exists(self, gid: str) -> bool:
        return gid == ROOT or gid in self.tree.groups

    def subgroups(self, gid: str) -> list[str]:
        return [g.id for g in self.tree.children(gid)]


def view(env: ProviderEnv) -> View:
    tree = store(env).snapshot()
    inv = env.inventory
    vms, failures = inv.list_vms()
    v = View(tree, set(inv.backend_ids()), {vm.uuid: vm.backend_id for vm in vms})
    v.unreachable = dict(failures)
    where = tree.where()
    members: dict[str, list[Ref]] = {gid: [] for gid in tree.groups}
    members[ROOT] = []
    for (kind, key), gid in where.items():
        found = key in v.hosts if kind == "host" else key in v.vm_host
        if found:
            members[gid].append((kind, key))
        else:
            v.stale.setdefault(gid, []).append((kind, key))
    for bid in sorted(v.hosts):
        if ("host", bid) not in where:
            members[ROOT].append(("host", bid))
    for uuid, bid in v.vm_host.items():
        if ("vm", uuid) not in where:
            members[where.get(("host", bid), ROOT)].append(("vm", uuid))
    v.members = members
    return v


#: Up to this many VMs are looked up one by one; more: one listing of every backend
_LOOKUP_ONE_BY_ONE = 16


def locate(env: ProviderEnv, uuids: list[str]) -> dict[str, str | None]:
    """The backend of each VM (None: not found right now), without listing every VM
    of every backend when there are only a few."""
    if len(uuids) > _LOOKUP_ONE_BY_ONE:
        vms, _failures = env.inventory.list_vms()
        where = {vm.uuid: vm.backend_id for vm in vms}
        return {u: where.get(u) for u in uuids}
    out: dict[str, str | None] = {}
    for u in uuids:
        try:
            out[u] = env.inventory.backend_of(u)  # cached: no backend call when known
        except VrmError:
            out[u] = None
    return out


def group_of_member(env: ProviderEnv, ref: Ref) -> str | None:
    """The group a host, VM or group is in right now (None: it does not exist)."""
    tree = store(env).snapshot()
    kind, key = ref
    if kind == "group":
        g = tree.groups.get(key)
        return None if g is None else g.parent
    if kind == "host":
        return tree.group_of("host", key) if env.inventory.has_backend(key) else None
    bid = locate(env, [key])[key]
    return None if bid is None else tree.group_of("vm", key, host_of=bid)


def _view_of(env: ProviderEnv, gids: list[str], tree: Tree | None = None) -> View:
    """A view good for the instances of these groups only: their listed members looked
    up (a few VMs: one by one), no listing of every VM (an Associators call from a VM
    to its group asks for one group). tree: the groups at another moment than now."""
    tree = tree if tree is not None else store(env).snapshot()
    inv = env.inventory
    v = View(tree, set(inv.backend_ids()), {})
    listed = [m for gid in gids if gid in tree.groups for m in tree.groups[gid].members]
    found = locate(env, [key for kind, key in listed if kind == "vm"])
    v.vm_host = {u: b for u, b in found.items() if b is not None}
    for gid in gids:
        g = tree.groups.get(gid)
        for kind, key in g.members if g is not None else ():
            ok = key in v.hosts if kind == "host" else key in v.vm_host
            if not ok:
                v.stale.setdefault(gid, []).append((kind, key))
    return v


# -- instances ---------------------------------------------------------------------------
def _instance(v: View, gid: str, namespace: str, env: ProviderEnv) -> CIMInstance:
    health = store(env).health()
    notes: list[str] = []
    if not health.ok or health.read_only:
        notes.append(f"group store: {health.reason}")
    for kind, key in v.stale.get(gid, []):
        why = "host (backend) is not configured"
        if kind == "vm":
            why = "VM not found right now"
            if v.unreachable:
                why += f" (unreachable backends: {', '.join(sorted(v.unreachable))})"
        notes.append(f"member {kind} {key!r} not found right now: {why}; it keeps its place")
    if gid == ROOT:
        name, desc = ROOT_NAME, "Every host and VM that no other group holds"
    else:
        g = v.tree.groups[gid]
        name, desc = g.name, g.description
    P = fastinst.prop
    props = [
        P("InstanceID", PREFIX + gid, "string"),
        P("ElementName", name, "string"),
        P("Caption", f"Group {name}", "string"),
        P("Description", desc or None, "string"),
        P("HealthState", Uint16(vm_map.HS_DEGRADED if notes else vm_map.HS_OK), "uint16"),
        P("StatusDescriptions", notes or None, "string", True),
    ]
    return fastinst.instance(CLASS, props, path(gid, namespace))


def instances(
    env: ProviderEnv,
    namespace: str,
    paths: list[CIMInstanceName] | None = None,
    *,
    bulk: bool = False,
) -> Iterator[CIMInstance]:
    if paths is None:
        v = view(env)
        yield _instance(v, ROOT, namespace, env)
        for gid in v.tree.groups:
            yield _instance(v, gid, namespace, env)
        return
    gids: list[str] = []
    for p in paths:
        try:
            gids.append(parse(p))
        except CIMError:
            if len(paths) == 1:
                raise
    v = _view_of(env, gids)
    for gid in gids:
        if v.exists(gid):
            yield _instance(v, gid, namespace, env)
        elif len(paths) == 1:
            raise not_found(f"no group {gid!r}")


def paths(env: ProviderEnv, namespace: str) -> Iterator[CIMInstanceName]:
    yield path(ROOT, namespace)
    for gid in store(env).snapshot().groups:
        yield path(gid, namespace)


# -- audited edits -----------------------------------------------------------------------
def edit(
    env: ProviderEnv, ctx: ProviderContext, action: str, target: str, fn: Callable[[Tree], T]
) -> T:
    """Run fn on the store (all or nothing), audit the attempt, map errors to CIM."""
    try:
        result = store(env).edit(fn)
    except (VrmError, CIMError) as exc:
        env.audit(user=ctx.user, action=action, target=target, outcome=f"refused: {exc}")
        raise _cim(exc) from None
    env.audit(user=ctx.user, action=action, target=target, outcome="done")
    return result


def _cim(exc: BaseException) -> CIMError:
    if isinstance(exc, CIMError):
        return exc
    if isinstance(exc, Conflict | StoreReadOnly):
        return CIMError(pywbem.CIM_ERR_FAILED, str(exc))
    return to_cim_error(exc)


def _target(gid: str) -> str:
    return f"{CLASS}.InstanceID={PREFIX}{gid}"


def _writable_gid(p: CIMInstanceName, what: str) -> str:
    gid = parse(p)
    if gid == ROOT:
        raise CIMError(pywbem.CIM_ERR_FAILED, f"the root group cannot be {what}")
    return gid


def _text(inst: CIMInstance, name: str) -> str | None:
    v = inst.get(name)
    if v is not None and not isinstance(v, str):
        raise CIMError(pywbem.CIM_ERR_INVALID_PARAMETER, f"{name} must be a string")
    return v


def create(env: ProviderEnv, ctx: ProviderContext, inst: CIMInstance) -> CIMInstanceName:
    """CreateInstance: a new top-level group named ElementName (InstanceID is chosen by
    vrmgmt; a nested group: CreateGroup of VRM_GroupManagementService)."""
    name = _text(inst, "ElementName")
    if not name:
        raise CIMError(pywbem.CIM_ERR_INVALID_PARAMETER, "a new group needs an ElementName")
    desc = _text(inst, "Description") or ""
    gid = edit(
        env, ctx, "CreateInstance", f"{CLASS} {name!r}", lambda t: t.create(name, ROOT, desc)
    )
    return path(gid, ctx.namespace)


def modify(env: ProviderEnv, ctx: ProviderContext, inst: CIMInstance, property_list) -> None:
    """ModifyInstance: ElementName (rename) and Description; nothing else."""
    gid = _writable_gid(inst.path, "renamed")
    writable = {"elementname", "description"}
    given = (
        {p.lower() for p in inst} if property_list is None else {p.lower() for p in property_list}
    )
    other = sorted(p for p in given if p not in writable and p != "instanceid")
    if property_list is not None and other:
        raise CIMError(
            pywbem.CIM_ERR_NOT_SUPPORTED,
            f"only ElementName and Description of a group can be modified, not {', '.join(other)}",
        )
    name = _text(inst, "ElementName") if "elementname" in given else None
    desc = _text(inst, "Description") if "description" in given else None
    if "elementname" in given and not name:
        raise CIMError(pywbem.CIM_ERR_INVALID_PARAMETER, "ElementName cannot be empty")
    edit(env, ctx, "ModifyInstance", _target(gid), lambda t: t.modify(gid, name, desc))


def delete(env: ProviderEnv, ctx: ProviderContext, p: CIMInstanceName) -> None:
    """DeleteInstance: an empty group only (to move members to the parent:
    VRM_GroupManagementService.DeleteGroup with Force=true)."""
    gid = _writable_gid(p, "deleted")
    edit(env, ctx, "DeleteInstance", _target(gid), lambda t: t.delete(gid))


def require_group(v: View, gid: str) -> None:
    if not v.exists(gid):
        raise not_found(f"no group {gid!r}")


# -- indications -------------------------------------------------------------------------
#: id(env) -> (store, its watcher): what unwatch(env) takes back
_watching: dict[int, tuple[GroupStore, Callable[[Tree, Tree], None]]] = {}


def watch(env: ProviderEnv) -> None:
    """Group and membership indications from every change of the group store."""
    if env.config is None or id(env) in _watching:
        return
    ns = env.namespace
    pump = ind.EventPump(env, "group-indications")

    def changed(before: Tree, after: Tree) -> None:
        def produce():
            sink = env.indications
            wanted = getattr(sink, "has_subscribers", None)
            if sink is None or (wanted is not None and not wanted()):
                return []  # nobody subscribed: no backend lookups for nothing
            return [(ns, i) for i in changes(env, ns, before, after)]

        pump.submit(produce)

    st = store(env)
    st.watch(changed)
    _watching[id(env)] = (st, changed)


def unwatch(env: ProviderEnv) -> None:
    entry = _watching.pop(id(env), None)
    if entry is not None:
        entry[0].unwatch(entry[1])


def changes(env: ProviderEnv, ns: str, before: Tree, after: Tree) -> list[CIMInstance]:
    """The indications for the change from before to after, in this order: groups
    created, memberships ended, memberships begun, groups modified, groups deleted."""
    from vrmgmt.classes.groups import member_of_group  # imports this module

    old, new = before.groups, after.groups
    created = [gid for gid in new if gid not in old]
    deleted = [gid for gid in old if gid not in new]
    modified = [
        gid
        for gid in new
        if gid in old
        and (old[gid].name, old[gid].description) != (new[gid].name, new[gid].description)
    ]
    out: list[CIMInstance] = []
    if created or modified:
        v_new = _view_of(env, created + modified, after)
        out += [ind.inst_creation(_instance(v_new, gid, ns, env)) for gid in created]
    ended, begun = _membership_changes(env, before, after)
    assoc = member_of_group.instance_of
    out += [ind.inst_deletion(assoc(gid, ref, ns)) for gid, ref in ended]
    out += [ind.inst_creation(assoc(gid, ref, ns)) for gid, ref in begun]
    if modified:
        v_old = _view_of(env, modified, before)
        out += [
            ind.inst_modification(_instance(v_new, gid, ns, env), _instance(v_old, gid, ns, env))
            for gid in modified
        ]
    if deleted:
        v_old = _view_of(env, deleted, before)
        out += [ind.inst_deletion(_instance(v_old, gid, ns, env)) for gid in deleted]
    return out


def _membership_changes(
    env: ProviderEnv, before: Tree, after: Tree
) -> tuple[list[tuple[str, Ref]], list[tuple[str, Ref]]]:
    """(memberships that ended, memberships that began) as (group id, member): the
    subgroups whose parent changed, the hosts and VMs whose listing changed, and the
    unlisted VMs of a host that changed group (they follow their host). Only members
    found right now count (VRM_MemberOfGroup lists no others)."""
    ended: list[tuple[str, Ref]] = []
    begun: list[tuple[str, Ref]] = []

    def moved(ref: Ref, was: str | None, now: str | None) -> None:
        if was == now:
            return
        if was is not None:
            ended.append((was, ref))
        if now is not None:
            begun.append((now, ref))

    old, new = before.groups, after.groups
    for gid in [*old, *(g for g in new if g not in old)]:
        moved(
            ("group", gid),
            old[gid].parent if gid in old else None,
            new[gid].parent if gid in new else None,
        )
    w_old, w_new = before.where(), after.where()
    listed = [m for m in {**w_old, **w_new} if w_old.get(m) != w_new.get(m)]
    if not listed:
        return ended, begun
    inv = env.inventory
    hosts = set(inv.backend_ids())
    vm_host = locate(env, [key for kind, key in listed if kind == "vm"])
    for kind, key in listed:
        if kind == "host":
            if key not in hosts:
                continue
            was, now = before.group_of("host", key), after.group_of("host", key)
            moved(("host", key), was, now)
            if was == now:
                continue
            try:
                vms = inv.vms_of(key)
            except VrmError:  # unreachable now: its VMs are not listed either
                continue
            for vm in vms:
                if ("vm", vm.uuid) not in w_old and ("vm", vm.uuid) not in w_new:
                    moved(("vm", vm.uuid), was, now)
        else:
            host = vm_host.get(key)
            if host is None:
                continue
            moved(
                ("vm", key),
                before.group_of("vm", key, host_of=host),
                after.group_of("vm", key, host_of=host),
            )
    return ended, begun
