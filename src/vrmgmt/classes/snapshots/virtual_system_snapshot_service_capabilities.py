"""VRM_VirtualSystemSnapshotServiceCapabilities: what each host's snapshot service
supports (CIM_VirtualSystemSnapshotServiceCapabilities; docs/snapshots.md).

One per host with snapshots, InstanceID ``<backend id>:VirtualSystemSnapshotServiceCapabilities``.
SnapshotTypesSupported 2 (full) and 3 (disk): every backend with snapshots takes both of
some VM state (QEMU takes disk snapshots of VMs that are off only; the per-VM
VRM_VirtualSystemSnapshotCapabilities say what works now). The three methods are
synchronous where the backend answers at once (libvirt's test driver), asynchronous (a
job) where snapshots are slow (QEMU, vSphere).
"""

from __future__ import annotations

from pywbem import CIMInstance, Uint16

from vrmgmt.cim import fastinst
from vrmgmt.cim.provider import ProviderEnv
from vrmgmt.classes.host_service import HostPart
from vrmgmt.classes.snapshots import virtual_system_snapshot_service as vsss

CLASS = "VRM_VirtualSystemSnapshotServiceCapabilities"
SUFFIX = "VirtualSystemSnapshotServiceCapabilities"

#: SynchronousMethodsSupported / AynchronousMethodsSupported values
SNAPSHOT_METHODS = (2, 3, 4)  # CreateSnapshot, DestroySnapshot, ApplySnapshot


def capabilities_instance(env: ProviderEnv, backend_id: str, namespace: str) -> CIMInstance:
    slow = env.inventory.snapshots_are_slow(backend_id)
    methods = [Uint16(m) for m in SNAPSHOT_METHODS]
    P = fastinst.prop
    props = [
        P("InstanceID", PART.instance_id(backend_id), "string"),
        P("ElementName", f"Virtual system snapshot capabilities of {backend_id}", "string"),
        P("SynchronousMethodsSupported", [] if slow else methods, "uint16", True),
        P("AynchronousMethodsSupported", methods if slow else [], "uint16", True),
        P(
            "SnapshotTypesSupported",
            [Uint16(vsss.FULL), Uint16(vsss.DISK)],
            "uint16",
            True,
        ),
    ]
    return fastinst.instance(CLASS, props, path(backend_id, namespace))


PART = HostPart(CLASS, SUFFIX, capabilities_instance, gate=vsss.has_snapshots)
path = PART.path
parse = PART.parse
instances = PART.instances
paths = PART.paths
