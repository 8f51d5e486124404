"""Where a new vSphere VM goes: datacenter, VM folder, resource pool (or a cluster or
host standing for its root pool) and datastore, chosen by name or by default, and the
networks (standard / distributed port groups, NSX opaque networks) its NICs join. An
unknown or ambiguous name raises BackendError listing the available ones."""

from __future__ import annotations

import contextlib
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from pyVmomi import vim

from vrmgmt.backends.vsphere.session import PC, _props, _Session, _view_filter, _view_spec
from vrmgmt.backends.vsphere.specs import _Network
from vrmgmt.errors import BackendError
from vrmgmt.model import VMSpec


def _name_list(names: Iterable[str]) -> str:
    listed = sorted(set(names))
    return ", ".join(repr(n) for n in listed) if listed else "none"


def _pick(
    kind: str, name: str, candidates: dict[str, list[Any]], where: str, hint: str = ""
) -> Any:
    """The one candidate called ``name``; BackendError naming the choices otherwise.
    ``where`` continues the sentence, e.g. "in datacenter 'DC0'"."""
    found = candidates.get(name) or []
    available = f"(available: {_name_list(candidates)})"
    if not found:
        raise BackendError(f"{kind} {name!r} does not exist {where} {available}")
    if len(found) > 1:
        raise BackendError(
            f"{kind} name {name!r} is ambiguous {where}: {len(found)} objects have it"
            f"{hint} {available}"
        )
    return found[0]


def _owner_kind(obj: Any) -> str:
    if isinstance(obj, vim.ClusterComputeResource):
        return "cluster"
    return "host"


@dataclass(slots=True)
class _Placement:
    """Where define_vm puts a new VM (managed object ids and names)."""

    datacenter: str  # name
    folder: str  # moid
    folder_name: str
    pool: str  # moid
    owner: Any  # the pool's ComputeResource (reference)
    owner_name: str
    datastore: str  # name


class PlacementMixin:
    """Placement methods of VSphereManager (which provides _retrieve and backend_id)."""

    backend_id: str

    def _placement(self, session: _Session, spec: VMSpec) -> _Placement:
        """Datacenter, VM folder, resource pool and datastore for a new VM (3 round trips:
        datacenters, then one ContainerView over the chosen datacenter, read and dropped)."""
        dcs = self._retrieve(
            session,
            [_view_spec(session.view(vim.Datacenter), vim.Datacenter, ["name", "vmFolder"])],
        )
        if not dcs:
            raise BackendError(f"backend {self.backend_id!r}: the inventory has no datacenter")
        dc = dcs[0]
        if spec.datacenter:
            by_name: dict[str, list[Any]] = {}
            for oc in dcs:
                by_name.setdefault(_props(oc).get("name", ""), []).append(oc)
            dc = _pick("datacenter", spec.datacenter, by_name, "in the inventory")
        dc_props = _props(dc)
        dc_name = dc_props.get("name", "")
        where = f"in datacenter {dc_name!r}"
        view = session.content.viewManager.CreateContainerView(
            dc.obj, [vim.Folder, vim.ComputeResource, vim.ResourcePool, vim.Datastore], True
        )
        try:
            ocs = self._retrieve(
                session,
                [
                    _view_filter(
                        view,
                        {
                            vim.Folder: ["name", "childType"],
                            vim.ComputeResource: ["name", "resourcePool", "datastore"],
                            vim.ResourcePool: ["name", "owner"],
                            vim.Datastore: ["name", "summary.accessible"],
                        },
                    )
                ],
            )
        finally:
            with contextlib.suppress(Exception):  # session-scoped anyway
                view.DestroyView()
        folders: dict[str, list[str]] = {}
        folder_names: dict[str, str] = {}
        computes: list[tuple[Any, dict[str, Any]]] = []
        pools: dict[str, list[str]] = {}
        pool_owner: dict[str, Any] = {}
        datastores: dict[str, tuple[str, bool]] = {}
        for oc in ocs:
            obj, p = oc.obj, _props(oc)
            if isinstance(obj, vim.Folder):
                if "VirtualMachine" in (p.get("childType") or []):
                    folders.setdefault(p.get("name", ""), []).append(obj._moId)
                    folder_names[obj._moId] = p.get("name", "")
            elif isinstance(obj, vim.ComputeResource):
                computes.append((obj, p))
            elif isinstance(obj, vim.VirtualApp):
                continue  # VMs enter a vApp with CreateChildVM_Task, not CreateVM_Task
            elif isinstance(obj, vim.ResourcePool):
                pools.setdefault(p.get("name", ""), []).append(obj._moId)
                pool_owner[obj._moId] = p.get("owner")
            elif isinstance(obj, vim.Datastore):
                accessible = p.get("summary.accessible")
                datastores[obj._moId] = (p.get("name", ""), accessible is not False)

        folder = dc_props["vmFolder"]._moId
        if spec.folder:
            folder = _pick("VM folder", spec.folder, folders, where)
        if not computes:
            raise BackendError(f"datacenter {dc_name!r} has no host or cluster to run a VM on")
        by_moid = {obj._moId: (obj, p) for obj, p in computes}
        if spec.resource_pool:
            candidates = {k: list(v) for k, v in pools.items()}
            for obj, p in computes:  # a cluster or host stands for its root pool
                root = p.get("resourcePool")
                if root is not None and root._moId not in candidates.get(p.get("name", ""), []):
                    candidates.setdefault(p.get("name", ""), []).append(root._moId)
                    pool_owner.setdefault(root._moId, obj)
            pool = _pick(
                "resource pool",
                spec.resource_pool,
                candidates,
                where,
                "; name its cluster or host instead",
            )
            owner_ref = pool_owner.get(pool)
            if owner_ref is None or owner_ref._moId not in by_moid:
                raise BackendError(f"resource pool {spec.resource_pool!r} has no owner {where}")
            owner, owner_props = by_moid[owner_ref._moId]
        else:
            owner, owner_props = computes[0]
            root = owner_props.get("resourcePool")
            if root is None:
                raise BackendError(f"{owner_props.get('name')!r} {where} has no resource pool")
            pool = root._moId
        owner_name = owner_props.get("name", "")
        usable: dict[str, list[str]] = {}
        for ref in owner_props.get("datastore") or []:
            ds_name, accessible = datastores.get(ref._moId, ("", False))
            if ds_name and accessible:
                usable.setdefault(ds_name, []).append(ds_name)
        on_owner = f"on {_owner_kind(owner)} {owner_name!r}"
        if spec.datastore:
            datastore = _pick("datastore", spec.datastore, usable, on_owner)
        elif usable:
            datastore = next(iter(usable))
        else:
            raise BackendError(f"no accessible datastore {on_owner}")
        return _Placement(
            datacenter=dc_name,
            folder=folder,
            folder_name=folder_names.get(folder, "vm"),
            pool=pool,
            owner=owner,
            owner_name=owner_name,
            datastore=datastore,
        )

    def _networks(
        self, session: _Session, owner: Any, names: list[str], where: str
    ) -> dict[str, _Network]:
        """The networks ``names`` as seen by ``owner`` (a compute resource or host: its
        ``network`` property); BackendError naming the available ones for an unknown one."""
        if not names:
            return {}
        spec = PC.FilterSpec(
            objectSet=[
                PC.ObjectSpec(
                    obj=owner,
                    skip=True,
                    selectSet=[
                        PC.TraversalSpec(name="net", path="network", skip=False, type=type(owner))
                    ],
                )
            ],
            propSet=[
                PC.PropertySpec(type=vim.Network, pathSet=["name"]),
                PC.PropertySpec(
                    type=vim.dvs.DistributedVirtualPortgroup,
                    pathSet=["key", "config.distributedVirtualSwitch"],
                ),
                PC.PropertySpec(type=vim.OpaqueNetwork, pathSet=["summary"]),
            ],
        )
        available: dict[str, list[_Network]] = {}
        for oc in self._retrieve(session, [spec]):
            p = _props(oc)
            net = _Network(name=p.get("name", ""), ref=oc.obj)
            if isinstance(oc.obj, vim.dvs.DistributedVirtualPortgroup):
                net.portgroup_key = p.get("key") or oc.obj._moId
                net.switch = p.get("config.distributedVirtualSwitch")
            elif isinstance(oc.obj, vim.OpaqueNetwork):
                summary = p.get("summary")
                net.opaque_id = getattr(summary, "opaqueNetworkId", None)
                net.opaque_type = getattr(summary, "opaqueNetworkType", None)
            if net.name:
                available.setdefault(net.name, []).append(net)
        chosen = {n: _pick("network", n, available, where) for n in names}
        switches = {net.switch._moId: net.switch for net in chosen.values() if net.switch}
        if switches:
            wanted = PC.FilterSpec(
                objectSet=[PC.ObjectSpec(obj=sw, skip=False) for sw in switches.values()],
                propSet=[PC.PropertySpec(type=vim.DistributedVirtualSwitch, pathSet=["uuid"])],
            )
            ocs = self._retrieve(session, [wanted])
            uuids = {oc.obj._moId: _props(oc).get("uuid") for oc in ocs}
            for net in chosen.values():
                if net.switch is not None:
                    net.switch_uuid = uuids.get(net.switch._moId)
                    if not net.switch_uuid:
                        raise BackendError(f"network {net.name!r}: its distributed switch is gone")
        return chosen
