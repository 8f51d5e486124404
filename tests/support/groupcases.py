"""Helpers for the group cases in tests/classes/ (issue 12): the group service's path
and its methods, through whichever host a case runs on."""

from __future__ import annotations

import time

import cmpi_testkit as kit
import pywbem

SVC = "VRM_GroupManagementService"
GROUP = "VRM_Group"
MOG = "VRM_MemberOfGroup"
ROOT_ID = "vrmgmt:group:root"


def svc(host) -> pywbem.CIMInstanceName:
    (p,) = host.enum_names(SVC)
    return p


def call(host, method, **params):
    """A service method with the parameters that are not None; (rc, out)."""
    return host.call(svc(host), method, **{k: v for k, v in params.items() if v is not None})


def create(host, name, parent=None, members=None, description=None) -> pywbem.CIMInstanceName:
    rc, out = call(
        host,
        "CreateGroup",
        GroupName=name,
        ParentGroup=parent,
        Members=members,
        Description=description,
    )
    assert rc == 0
    return out["Group"]


def group_path(iid: str) -> pywbem.CIMInstanceName:
    return pywbem.CIMInstanceName(GROUP, {"InstanceID": iid}, namespace=kit.NS)


def root() -> pywbem.CIMInstanceName:
    return group_path(ROOT_ID)


def iid(p) -> str:
    """The InstanceID of a group path or instance."""
    if isinstance(p, pywbem.CIMInstance):
        return str(p["InstanceID"])
    return str(p.keybindings["InstanceID"])


def member_keys(paths) -> list[str]:
    """Members as 'Class:key' (Name for hosts/VMs, InstanceID for groups), sorted."""
    out = []
    for p in paths:
        kb = p.keybindings
        out.append(f"{p.classname}:{kb.get('Name') or kb.get('InstanceID')}")
    return sorted(out)


def members(host, group) -> list[str]:
    return member_keys(host.assoc_names(group, MOG, role="Collection"))


def group_of(host, member) -> list[str]:
    return [iid(p) for p in host.assoc_names(member, MOG, role="Member", result_class=GROUP)]


def wait_job(host, job, timeout=120.0):
    deadline = time.monotonic() + timeout
    while True:
        inst = host.get(job)
        if int(inst["JobState"]) >= 7:  # Completed, Terminated, Killed, Exception
            return inst
        assert time.monotonic() < deadline, f"job still {inst['JobState']}"
        time.sleep(0.1)


def results(host, job) -> dict[str, tuple[int, str]]:
    rc, out = call(host, "GetMemberResults", Job=job)
    assert rc == 0
    rows = zip(out["Members"], out["ReturnCodes"], out["Descriptions"], strict=True)
    return {
        str(pywbem.CIMInstanceName.from_wbem_uri(m).keybindings["Name"]): (int(c), d)
        for m, c, d in rows
    }
