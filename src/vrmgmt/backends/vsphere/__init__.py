"""VMware vSphere backend: one Manager per vCenter Server or standalone ESXi host (pyVmomi).

Its job: log in to the vSphere Web Services API (SOAP over HTTPS on /sdk), keep that
session alive (re-login when vCenter forgets it or restarts), and answer the Manager
interface with vrmgmt.model objects: host facts summed over the HostSystems, VMs read in
bulk with the PropertyCollector, power actions and snapshots as vSphere tasks waited for
with a bound, and performance counters for many VMs in one QueryPerf call. Library
objects and faults never leave this package; errors are vrmgmt.errors exceptions.

Modules: session (login, re-login, retries, fault translation, PropertyCollector
helpers), tasks (bounded task waits), specs (VMSpec/VMChange -> ConfigSpec device
changes), placement (datacenter/folder/pool/datastore/network by name), perf
(QueryPerf), events (VM changes pushed by a PropertyCollector of its own:
WaitForUpdatesEx), manager (VSphereManager). features() / is_slow() say what works and what
waits (every power task is slow).

Choices (also visible to the CIM layer):

- VM identity is ``config.instanceUuid`` (lower case). vCenter keeps it unique across
  its inventory, unlike the BIOS ``config.uuid``, which copied or cloned-by-hand VMs
  share. get_vm() looks VMs up with SearchIndex.FindByUuid(instanceUuid=True).
- Templates are not VMs here: list_vms() skips them and get_vm() answers NotFound.
- vSphere has no pause: PAUSE is not in supported_actions() and perform() raises
  NotSupported for it. RESUME is accepted like START (vSphere resumes a suspended VM by
  powering it on). SHUTDOWN and REBOOT need running VMware Tools (ShutdownGuest /
  RebootGuest); without them they are InvalidStateTransition and possible_actions()
  leaves them out.
- Every network operation is bounded by ``timeout`` (socket timeout of each HTTPS
  connection, including the API version probe, which pyVim's SmartConnect would do
  without any timeout: that is why this module builds its SoapStubAdapter itself).
  A call against a hung server fails with BackendUnavailable after about ``timeout``
  seconds and is not retried; a dropped connection is retried once, and an expired or
  unknown session (vim.fault.NotAuthenticated) triggers one re-login and one retry.
- Credentials are kept out of repr(), logs and exception messages (even the user name).
- define_vm (VMSpec) / modify_vm (VMChange) / undefine_vm read the typed specs of
  vrmgmt.model.specs (see their docstrings for the vSphere-only fields) and run
  CreateVM_Task / ReconfigVM_Task / Destroy_Task with the same bounded task wait as
  power operations. vSphere differs from libvirt in visible ways: NICs join a network
  (port group) by name, never a bridge; disks are sized in KiB (capacity_bytes a
  multiple of 1024); and undefine_vm refuses a powered-on VM (power it off first) and
  deletes the VM's files, disks included.
"""

from __future__ import annotations

from vrmgmt.backends.vsphere.manager import OPTIONS, VSphereManager
from vrmgmt.backends.vsphere.perf import REALTIME_INTERVAL, STAT_COUNTERS
from vrmgmt.model import Snapshot

__all__ = ["OPTIONS", "REALTIME_INTERVAL", "STAT_COUNTERS", "Snapshot", "VSphereManager"]
