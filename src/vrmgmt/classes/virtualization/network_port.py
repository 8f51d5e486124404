"""VRM_NetworkPort: the network interfaces of each VM (DSP1050 Ethernet Port Resource
Virtualization §7: a VM's virtual NIC is a CIM_EthernetPort of the VM, defined by its
Ethernet port RASD; DSP1057 §7.3; CIM_EthernetPort).

One per NIC, DeviceID = the Ethernet port RASD's InstanceID ``<backend id>:<VM UUID>/
nic/<MAC>``. PermanentAddress and NetworkAddresses = the MAC as CIM_EthernetPort and
DSP1014 format it: twelve upper-case hexadecimal digits without separators
("525400AA0001"); LinkTechnology 2 Ethernet; Name = the host-side device where the
backend reports one (libvirt's target dev, vSphere's label). Speed stays NULL: neither
libvirt nor vSphere reports a link speed for a virtual NIC.
"""

from __future__ import annotations

from collections.abc import Iterator

from pywbem import CIMInstance, CIMInstanceName, Uint16

from vrmgmt.cim import fastinst
from vrmgmt.cim.provider import ProviderEnv
from vrmgmt.classes.virtualization import devices
from vrmgmt.classes.virtualization import ethernet_port_allocation_setting_data as rasd
from vrmgmt.classes.virtualization.settings import SettingId
from vrmgmt.model import VirtualMachine

CLASS = "VRM_NetworkPort"
KIND = rasd.KIND
RASD = rasd
#: CIM_NetworkPort.LinkTechnology 2 = Ethernet
LINK_ETHERNET = 2


def path(sid: SettingId, namespace: str | None) -> CIMInstanceName:
    return devices.path(CLASS, sid, namespace)


def parse(p: CIMInstanceName) -> SettingId:
    return devices.parse(p, CLASS, KIND)


def mac_address(mac: str) -> str:
    """A MAC as CIM_EthernetPort formats it: "52:54:00:aa:00:01" -> "525400AA0001"."""
    return mac.replace(":", "").replace("-", "").upper()


def _nics(vm: VirtualMachine) -> list:
    return [n for n in vm.nics if n.mac]  # as the RASDs: a NIC without a MAC has no id


def sids(vm: VirtualMachine) -> list[SettingId]:
    return [SettingId(vm.backend_id, vm.uuid, KIND, n.mac.lower()) for n in _nics(vm)]


def rasd_of(sid: SettingId) -> SettingId:
    return sid


def build(vm: VirtualMachine, namespace: str) -> list[CIMInstance]:
    P = fastinst.prop
    out = []
    for nic, sid in zip(_nics(vm), sids(vm), strict=True):
        mac = mac_address(nic.mac)
        props = devices.common(CLASS, vm, sid, nic.device or nic.mac.lower())
        props += [
            P("Name", nic.device, "string"),
            P("PermanentAddress", mac, "string"),
            P("NetworkAddresses", [mac], "string", True),
            P("LinkTechnology", Uint16(LINK_ETHERNET), "uint16"),
            P("Speed", None, "uint64"),  # not reported by libvirt or vSphere
        ]
        out.append(devices.instance(CLASS, sid, namespace, props))
    return out


def instances(
    env: ProviderEnv,
    namespace: str,
    paths: list[CIMInstanceName] | None = None,
    *,
    bulk: bool = False,
) -> Iterator[CIMInstance]:
    return devices.device_instances(
        env, namespace, paths, parse, build, sids, devices=True, bulk=bulk
    )
