"""VRM_KVMRedirectionSAP: the displays of each running VM a console client connects to
(DSP1076 KVM Redirection 1.0.0; CIM_KVMRedirectionSAP). docs/console.md describes them.

Keys: SystemCreationClassName VRM_ComputerSystem, SystemName the VM's UUID,
CreationClassName, Name ``<protocol>/<n>`` (the n-th display of that protocol). KVMProtocol
4 (VNC-RFB) for VNC, 1 (Other) with OtherKVMProtocol "SPICE" or "WebMKS". Hostname, Port
and AccessInfo (vnc://host:port, spice://host:port, the WebMKS wss:// URL with its
one-time ticket) say where to connect. libvirt: from the running domain's <graphics>
(a display listening on every address is reached at the libvirt URI's host, 127.0.0.1
for a local URI); vSphere: a WebMKS ticket from AcquireTicket, where the server
implements it (vcsim does not: its VMs have none). VMs that are off have none.
EnabledState 2: a listed display is open.
"""

from __future__ import annotations

from collections.abc import Iterator

from pywbem import CIMError, CIMInstance, CIMInstanceName, Uint16, Uint32

from vrmgmt.cim import fastinst
from vrmgmt.cim import paths as cim_paths
from vrmgmt.cim import valuemaps as vm_map
from vrmgmt.cim.errors import not_found
from vrmgmt.cim.provider import ProviderEnv
from vrmgmt.classes.system import computer_system as vm_cls
from vrmgmt.errors import VrmError
from vrmgmt.model import Console, PowerState, VirtualMachine

CLASS = "VRM_KVMRedirectionSAP"

#: KVMProtocol values
VNC = 4
OTHER = 1
_OTHER_NAME = {"spice": "SPICE", "webmks": "WebMKS"}


def path(uuid: str, name: str, namespace: str | None) -> CIMInstanceName:
    keys = {
        "SystemCreationClassName": vm_cls.CLASS,
        "SystemName": uuid,
        "CreationClassName": CLASS,
        "Name": name,
    }
    return fastinst.path(CLASS, keys, namespace)


def parse(p: CIMInstanceName) -> tuple[str, str]:
    """(VM UUID, display name) of a SAP path (CIM_ERR_NOT_FOUND for other paths)."""
    name = cim_paths.string_key(p, CLASS, "Name")
    system = cim_paths.string_key(p, CLASS, "SystemName")
    scn = cim_paths.keys_of(p).get("systemcreationclassname")
    if scn is not None and str(scn).lower() != vm_cls.CLASS.lower():
        raise not_found(f"no {CLASS} {name!r} on {scn} {system!r}")
    return system.lower(), name


def named(consoles: list[Console]) -> list[tuple[str, Console]]:
    """Each console with its Name: <protocol>/<n>."""
    seen: dict[str, int] = {}
    out = []
    for c in consoles:
        n = seen.get(c.protocol, 0)
        seen[c.protocol] = n + 1
        out.append((f"{c.protocol}/{n}", c))
    return out


def consoles_of(env: ProviderEnv, vm: VirtualMachine) -> list[tuple[str, Console]]:
    """The running VM's named displays ([] when it is off or its backend cannot tell)."""
    if vm.state not in (PowerState.RUNNING, PowerState.PAUSED) or vm.stale_since is not None:
        return []
    try:
        return named(env.inventory.consoles(vm.uuid, vm.backend_id))
    except VrmError:  # NotSupported (no AcquireTicket, LXC...), unreachable: none known
        return []


def instance(vm: VirtualMachine, name: str, c: Console, namespace: str) -> CIMInstance:
    P = fastinst.prop
    other = _OTHER_NAME.get(c.protocol, c.protocol.upper())
    props = [
        P("SystemCreationClassName", vm_cls.CLASS, "string"),
        P("SystemName", vm.uuid, "string"),
        P("CreationClassName", CLASS, "string"),
        P("Name", name, "string"),
        P(
            "ElementName",
            f"{other if c.protocol != 'vnc' else 'VNC'} console of {vm.name}",
            "string",
        ),
        P("KVMProtocol", Uint16(VNC if c.protocol == "vnc" else OTHER), "uint16"),
        P("OtherKVMProtocol", None if c.protocol == "vnc" else other, "string"),
        P("Hostname", c.host, "string"),
        P("Port", Uint32(c.port), "uint32"),
        P("AccessInfo", c.url, "string"),
        P("EnabledState", Uint16(vm_map.ES_ENABLED), "uint16"),
        P("RequestedState", Uint16(vm_map.RS_NOT_APPLICABLE), "uint16"),
    ]
    return fastinst.instance(CLASS, props, path(vm.uuid, name, namespace))


def _running(env: ProviderEnv) -> Iterator[VirtualMachine]:
    inv = env.inventory
    for bid in inv.backend_ids():
        try:
            vms = inv.vms_of(bid)
        except VrmError:
            continue
        yield from (v for v in vms if v.state in (PowerState.RUNNING, PowerState.PAUSED))


def of_vm(env: ProviderEnv, uuid: str) -> tuple[VirtualMachine | None, list[tuple[str, Console]]]:
    """The VM (None when unknown) and its named displays."""
    try:
        vm = env.inventory.get_vm(uuid)
    except VrmError:
        return None, []
    return vm, consoles_of(env, vm)


def instances(
    env: ProviderEnv,
    namespace: str,
    paths: list[CIMInstanceName] | None = None,
    *,
    bulk: bool = False,
) -> Iterator[CIMInstance]:
    if paths is None:
        for vm in _running(env):
            for name, c in consoles_of(env, vm):
                yield instance(vm, name, c, namespace)
        return
    wanted = [parse(p) for p in paths]
    found = 0
    for uuid in dict.fromkeys(u for u, _ in wanted):
        vm, consoles = of_vm(env, uuid)
        for name, c in consoles:
            if (uuid, name) in wanted:
                found += 1
                yield instance(vm, name, c, namespace)  # type: ignore[arg-type]
    if len(wanted) == 1 and not found:
        raise not_found(f"VM {wanted[0][0]} has no display {wanted[0][1]!r}")


def paths(env: ProviderEnv, namespace: str) -> Iterator[CIMInstanceName]:
    for vm in _running(env):
        for name, _c in consoles_of(env, vm):
            yield path(vm.uuid, name, namespace)


def exists(env: ProviderEnv, p: CIMInstanceName) -> bool:
    """Whether the path names a display of a running VM (the DSP1076 central instances)."""
    try:
        uuid, name = parse(p)
    except CIMError:  # malformed keys: no such display
        return False
    _vm, consoles = of_vm(env, uuid)
    return any(n == name for n, _c in consoles)
