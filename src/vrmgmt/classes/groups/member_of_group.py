"""VRM_MemberOfGroup: a group and each host, VM or subgroup in it (CIM Schema 2.49
CIM_MemberOfCollection; issue 12). Answers from every end: VM or host -> its group,
group -> its members and subgroups, subgroup -> its parent.

Every host and VM is in exactly one group, so a member always has exactly one
VRM_MemberOfGroup (the root group's, when no other group holds it). CreateInstance puts
a member that no other group holds into Collection (AddMembers); DeleteInstance takes a
member a group lists out of it (RemoveMembers): back to its host's group or the root.
"""

from __future__ import annotations

from collections.abc import Iterable

import pywbem
from pywbem import CIMError, CIMInstance, CIMInstanceName

from vrmgmt.cim import fastinst
from vrmgmt.cim import paths as cim_paths
from vrmgmt.cim.association import Association, End
from vrmgmt.cim.errors import not_found
from vrmgmt.cim.provider import ProviderContext
from vrmgmt.classes.groups import group
from vrmgmt.groups import ROOT

CLASS = "VRM_MemberOfGroup"
#: the DMTF class at the Member end (a host, a VM or a group)
MEMBER_BASE = "CIM_ManagedElement"


class MemberOfGroup(Association):
    class_name = CLASS
    ends = (End("Collection", group), End("Member", MEMBER_BASE))

    def far(self, ctx, near, path) -> Iterable[CIMInstanceName]:
        ns = ctx.namespace
        try:
            if near.role == "Collection":
                gid = group.parse(path)
                v = group.view(self.env)
                if not v.exists(gid):
                    return []
                out = [group.member_path(r, ns) for r in v.members.get(gid, [])]
                out += [group.path(s, ns) for s in v.subgroups(gid)]
                return out
            ref = group.member_of_path(ctx, path)
            if ref[0] == "group" and ref[1] == ROOT:
                return []
            gid = group.group_of_member(self.env, ref)
        except CIMError:  # not a host, VM or group of ours: nothing at the far end
            return []
        return [] if gid is None else [group.path(gid, ns)]

    def pairs(self, ctx):
        ns = ctx.namespace
        v = group.view(self.env)
        for gid, members in v.members.items():
            gp = group.path(gid, ns)
            for r in members:
                yield gp, group.member_path(r, ns)
        for g in v.tree.groups.values():
            yield group.path(g.parent, ns), group.path(g.id, ns)

    # -- intrinsic changes ---------------------------------------------------------------
    def _ends(self, ctx: ProviderContext, p: CIMInstanceName) -> tuple[str, group.Ref]:
        coll = cim_paths.reference_key(p, "Collection")
        member = cim_paths.reference_key(p, "Member")
        return group.parse(coll), group.member_of_path(ctx, member)

    def create_instance(self, ctx, instance: CIMInstance) -> CIMInstanceName:
        p = instance.path if instance.path is not None and instance.path.keybindings else None
        if p is None:
            p = CIMInstanceName(
                CLASS,
                keybindings={
                    "Collection": instance.get("Collection"),
                    "Member": instance.get("Member"),
                },
                namespace=ctx.namespace,
            )
        gid, ref = self._ends(ctx, p)
        if gid == ROOT:
            raise CIMError(
                pywbem.CIM_ERR_FAILED,
                "the root group holds whatever no other group holds: take the member out "
                "of its group instead (DeleteInstance, RemoveMembers)",
            )
        members, groups = group.split([ref])
        target = f"{CLASS} {group.PREFIX}{gid} <- {ref[0]} {ref[1]}"

        def add(t):
            if groups:
                g = t.get(groups[0])
                if g.parent == gid:
                    raise _exists(ref, gid)
                if g.parent != ROOT:
                    raise CIMError(
                        pywbem.CIM_ERR_FAILED,
                        f"group {g.name!r} is in group {t.name_of(g.parent)!r} already "
                        f"(use MoveMembers)",
                    )
                t.move(gid, [], groups)
            else:
                if t.where().get(members[0]) == gid:
                    raise _exists(ref, gid)
                t.add(gid, members)

        if ref[0] != "group" and group.group_of_member(self.env, ref) is None:
            raise not_found(f"no {ref[0]} {ref[1]!r}")
        group.edit(self.env, ctx, "CreateInstance", target, add)
        return self.instance(
            ctx,
            self.ends[0],
            group.path(gid, ctx.namespace),
            group.member_path(ref, ctx.namespace),
        ).path

    def delete_instance(self, ctx, instance_name: CIMInstanceName) -> None:
        gid, ref = self._ends(ctx, instance_name)
        target = f"{CLASS} {group.PREFIX}{gid} -> {ref[0]} {ref[1]}"
        members, groups = group.split([ref])

        def remove(t):
            if groups:
                g = t.get(groups[0])
                if g.parent != gid or gid == ROOT:
                    raise not_found(f"group {g.name!r} is not a subgroup of {t.name_of(gid)!r}")
                t.move(ROOT, [], groups)
                return
            if gid == ROOT or t.where().get(members[0]) != gid:
                raise CIMError(
                    pywbem.CIM_ERR_FAILED,
                    f"{ref[0]} {ref[1]!r} is not listed by group {t.name_of(gid)!r} "
                    f"(every host and VM is in exactly one group: move it with MoveMembers)",
                )
            t.remove(gid, members)

        group.edit(self.env, ctx, "DeleteInstance", target, remove)


def instance_of(gid: str, ref: group.Ref, namespace: str) -> CIMInstance:
    """The VRM_MemberOfGroup instance of member ref in group gid, as GetInstance
    shows it (the group's indications, vrmgmt.classes.groups.group.changes)."""
    coll, member = group.path(gid, namespace), group.member_path(ref, namespace)
    props = [
        fastinst.prop("Collection", coll, "reference", reference_class=group.CLASS),
        fastinst.prop("Member", member, "reference", reference_class=MEMBER_BASE),
    ]
    p = fastinst.path(CLASS, {"Collection": coll, "Member": member}, namespace)
    return fastinst.instance(CLASS, props, p)


def _exists(ref, gid) -> CIMError:
    return CIMError(
        pywbem.CIM_ERR_ALREADY_EXISTS, f"{ref[0]} {ref[1]!r} is in group {gid!r} already"
    )


provider = MemberOfGroup
