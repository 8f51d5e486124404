"""Datastores and networks (standard and distributed port groups, NSX opaque networks)
of a vCenter or ESXi host as vrmgmt.model.PoolInfo: a mixin of VSphereManager.

One RetrieveContents over two container views: each datastore's summary (name,
capacity, freeSpace, url, type, accessible), each network's name. An inaccessible
datastore reports no sizes (None). A name seen twice (two datacenters of one vCenter)
is shown once, the first accessible one.
"""

from __future__ import annotations

from pyVmomi import vim

from vrmgmt.backends.vsphere.session import _props, _Session, _view_spec
from vrmgmt.model import PoolInfo


class PoolsMixin:
    """list_pools of VSphereManager (which provides _call and _retrieve)."""

    def list_pools(self) -> list[PoolInfo]:
        def read(session: _Session) -> list[PoolInfo]:
            specs = [
                _view_spec(session.view(vim.Datastore), vim.Datastore, ["summary"]),
                _view_spec(session.view(vim.Network), vim.Network, ["name"]),
            ]
            stores: dict[str, PoolInfo] = {}
            nets: dict[str, PoolInfo] = {}
            for oc in self._retrieve(session, specs):  # type: ignore[attr-defined]
                p = _props(oc)
                if isinstance(oc.obj, vim.Datastore):
                    s = p.get("summary")
                    if s is None or not s.name:
                        continue
                    ok = s.accessible is not False
                    info = PoolInfo(
                        kind="disk",
                        name=s.name,
                        capacity_bytes=int(s.capacity) if ok and s.capacity is not None else None,
                        available_bytes=(
                            int(s.freeSpace) if ok and s.freeSpace is not None else None
                        ),
                        path=s.url or None,
                        active=ok,
                        detail=s.type or "",
                    )
                    if s.name not in stores or (ok and not stores[s.name].active):
                        stores[s.name] = info
                elif isinstance(oc.obj, vim.Network):
                    name = p.get("name")
                    if name and name not in nets:
                        kind = type(oc.obj).__name__.rpartition(".")[2]
                        nets[name] = PoolInfo(kind="net", name=name, detail=kind)
            return sorted(stores.values(), key=lambda i: i.name) + sorted(
                nets.values(), key=lambda i: i.name
            )

        return self._call(read)  # type: ignore[attr-defined]
