"""Administrator-defined groups of hosts and VMs (issue 12): the XML category store."""

from vrmgmt.groups.store import (
    ROOT,
    ROOT_NAME,
    Conflict,
    Group,
    GroupStore,
    Health,
    StoreReadOnly,
    Tree,
    store_for,
)

__all__ = [
    "ROOT",
    "ROOT_NAME",
    "Conflict",
    "Group",
    "GroupStore",
    "Health",
    "StoreReadOnly",
    "Tree",
    "store_for",
]
