"""VRM_EthernetPortAllocationSettingData: the network interfaces of each VM (DSP1050
Ethernet Port Resource Virtualization §7, DSP1041 §7.2;
CIM_EthernetPortAllocationSettingData with ResourceType 10 "Ethernet Adapter").

One per NIC, InstanceID ``<backend id>:<VM UUID>/nic/<MAC>``. Address = the MAC
(lower case, ':'), Connection = the network it joins (libvirt network or bridge,
vSphere port group), ResourceSubType = the NIC model (virtio, vmxnet3, ...).
"""

from __future__ import annotations

from collections.abc import Iterator

from pywbem import CIMInstance, CIMInstanceName, Uint16

from vrmgmt.cim import fastinst
from vrmgmt.cim.provider import ProviderContext, ProviderEnv
from vrmgmt.classes.virtualization import settings
from vrmgmt.model import VirtualMachine

CLASS = "VRM_EthernetPortAllocationSettingData"
KIND = "nic"
RT_ETHERNET_ADAPTER = 10
RT_ETHERNET_CONNECTION = 33


def path(backend_id: str, uuid: str, mac: str, namespace: str | None) -> CIMInstanceName:
    sid = settings.SettingId(backend_id, uuid, KIND, mac.lower())
    return fastinst.path(CLASS, {"InstanceID": sid.text()}, namespace)


def parse(p: CIMInstanceName) -> settings.SettingId:
    return settings.parse_path(p, CLASS, (KIND,))


def build(vm: VirtualMachine, namespace: str) -> list[CIMInstance]:
    P = fastinst.prop
    out = []
    for nic in vm.nics:
        if not nic.mac:
            continue
        p = path(vm.backend_id, vm.uuid, nic.mac, namespace)
        props = [
            P("InstanceID", p.keybindings["InstanceID"], "string"),
            P("ElementName", nic.device or nic.mac, "string"),
            P("ResourceType", Uint16(RT_ETHERNET_ADAPTER), "uint16"),
            P("ResourceSubType", nic.model, "string"),
            P("Address", nic.mac.lower(), "string"),
            P("Connection", [nic.network] if nic.network else None, "string", True),
        ]
        out.append(fastinst.instance(CLASS, props, p))
    return out


def instances(
    env: ProviderEnv,
    namespace: str,
    paths: list[CIMInstanceName] | None = None,
    *,
    bulk: bool = False,
    ctx: ProviderContext | None = None,
) -> Iterator[CIMInstance]:
    return settings.rasd_instances(env, namespace, paths, parse, build, devices=True, ctx=ctx)
