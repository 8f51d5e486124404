"""The snapshot classes (the DMTF Virtual System Snapshot Service profile, see
docs/snapshots.md): the snapshot service and its capabilities per host, snapshot
capabilities per VM, snapshots as virtual system settings, and their associations."""
