"""VRM_VMProcess on a real QEMU guest (qemu:///system on support.libvirtd's daemon, a tiny
TCG guest), through both hosts: Associators from the VM reach its QEMU process, the PID
libvirt wrote to /run/libvirt/qemu/<name>.pid, and back."""

import pytest
import pywbem

from support.classhosts import KINDS, open_host
from support.libvirtd import running_tiny_vm

pytestmark = [pytest.mark.qemu, pytest.mark.timeout(180)]
NS = "root/virt"


@pytest.fixture(scope="module")
def running_vm():
    with running_tiny_vm() as vm_and_pid:
        yield vm_and_pid


@pytest.mark.parametrize("kind", KINDS)
def test_vm_reaches_its_qemu_process(kind, tmp_path, running_vm):
    vm, pid = running_vm
    backends = [{"id": "kvm", "type": "libvirt", "uri": "qemu:///system"}]
    with open_host(kind, tmp_path, backends=backends) as h:
        vm_path = pywbem.CIMInstanceName(
            "VRM_ComputerSystem",
            {"CreationClassName": "VRM_ComputerSystem", "Name": vm.uuid.lower()},
            namespace=NS,
        )
        [proc] = h.assocs(vm_path, assoc="VRM_VMProcess")
        assert proc.path.keybindings["Handle"] == str(pid)
        assert proc["Name"].startswith("qemu-system")
        assert any(vm.name in a for a in proc["Parameters"])
        [back] = h.assoc_names(proc.path, assoc="VRM_VMProcess")
        assert back.keybindings["Name"] == vm.uuid.lower()
        # the host is local: its OS is this machine's, with this QEMU among its processes
        os_path = pywbem.CIMInstanceName(
            "VRM_OperatingSystem",
            {
                "CSCreationClassName": "VRM_HostSystem",
                "CSName": "kvm",
                "CreationClassName": "VRM_OperatingSystem",
                "Name": "kvm",
            },
            namespace=NS,
        )
        handles = {p.keybindings["Handle"] for p in h.assoc_names(os_path, assoc="VRM_OSProcess")}
        assert str(pid) in handles
