"""SnapshotProvider: each host's virtual system snapshot service and its capabilities,
each VM's snapshot capabilities, the snapshots (VRM_SnapshotSettingData) with
VRM_SnapshotOfVirtualSystem, VRM_LastAppliedSnapshot and the snapshot tree
(VRM_ParentChildSettingData): the DMTF Virtual System Snapshot Service profile
(docs/snapshots.md). Thin: the classes are in vrmgmt.classes.snapshots."""

from vrmgmt.cim.classprovider import serve
from vrmgmt.classes.snapshots import (
    last_applied_snapshot,
    parent_child_setting_data,
    snapshot_of_virtual_system,
    snapshot_setting_data,
    virtual_system_snapshot_capabilities,
    virtual_system_snapshot_service,
    virtual_system_snapshot_service_capabilities,
)


def get_providers(env):
    return serve(
        env,
        virtual_system_snapshot_service,
        virtual_system_snapshot_service_capabilities,
        virtual_system_snapshot_capabilities,
        snapshot_setting_data,
        snapshot_of_virtual_system,
        last_applied_snapshot,
        parent_child_setting_data,
    )
