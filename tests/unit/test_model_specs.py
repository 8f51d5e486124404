"""vrmgmt.model.specs: every invalid field of VMSpec, DiskSpec, NicSpec, FilesystemSpec
and VMChange raises InvalidSpec naming it; from_mapping refuses unknown keys by name;
valid values are normalised once (MAC, UUID, lists to tuples)."""

from __future__ import annotations

import dataclasses

import pytest

from vrmgmt.errors import InvalidSpec, VrmError
from vrmgmt.model import DiskSpec, FilesystemSpec, NicSpec, VMChange, VMSpec

BASE = {"name": "vm1", "memory_mib": 64}

# (mapping given to VMSpec.from_mapping, the field named, words of the reason)
BAD_VM_SPECS = [
    ({"name": ""}, "VMSpec.name", "non-empty string, got ''"),
    ({"name": "   "}, "VMSpec.name", "non-empty string"),
    ({"name": 7}, "VMSpec.name", "non-empty string, got 7"),
    ({"memory_mib": 0}, "VMSpec.memory_mib", "must be an integer >= 1, got 0"),
    ({"memory_mib": "64"}, "VMSpec.memory_mib", "must be an integer >= 1, got '64'"),
    ({"memory_mib": 64.0}, "VMSpec.memory_mib", "integer >= 1, got 64.0"),
    ({"memory_mib": True}, "VMSpec.memory_mib", "integer >= 1, got True"),
    ({"vcpus": 0}, "VMSpec.vcpus", "must be an integer >= 1, got 0"),
    ({"vcpus": None}, "VMSpec.vcpus", "must be an integer >= 1, got None"),
    ({"max_memory_mib": 0}, "VMSpec.max_memory_mib", "integer >= 1"),
    ({"max_memory_mib": 32}, "VMSpec.max_memory_mib", "at least memory_mib (64), got 32"),
    ({"uuid": "not-a-uuid"}, "VMSpec.uuid", "must be a UUID, got 'not-a-uuid'"),
    ({"uuid": 12}, "VMSpec.uuid", "must be a UUID, got 12"),
    ({"description": 5}, "VMSpec.description", "must be a string"),
    ({"autostart": "yes"}, "VMSpec.autostart", "true or false, got 'yes'"),
    ({"disks": {"source": "/x"}}, "VMSpec.disks", "must be a list"),
    ({"disks": ["/x.img"]}, "VMSpec.disks[0]", "must be a mapping"),
    ({"nics": "default"}, "VMSpec.nics", "must be a list"),
    ({"filesystems": [{}]}, "VMSpec.filesystems[0].source", "is required"),
    ({"os_type": "h v m"}, "VMSpec.os_type", "must be a name like 'virtio'"),
    ({"arch": ""}, "VMSpec.arch", "must be a name"),
    ({"machine": 3}, "VMSpec.machine", "must be a name"),
    ({"domain_type": "k/vm"}, "VMSpec.domain_type", "must be a name"),
    ({"init": ""}, "VMSpec.init", "non-empty string"),
    ({"serial": "tcp"}, "VMSpec.serial", "must be one of pty, null, stdio, vc, none"),
    ({"on_poweroff": "explode"}, "VMSpec.on_poweroff", "one of destroy, restart"),
    ({"on_reboot": "x"}, "VMSpec.on_reboot", "one of destroy"),
    ({"on_crash": "x"}, "VMSpec.on_crash", "one of destroy"),
    ({"guest_id": ""}, "VMSpec.guest_id", "non-empty string"),
    ({"datacenter": 1}, "VMSpec.datacenter", "non-empty string"),
    ({"folder": ""}, "VMSpec.folder", "non-empty string"),
    ({"resource_pool": ""}, "VMSpec.resource_pool", "non-empty string"),
    ({"datastore": ""}, "VMSpec.datastore", "non-empty string"),
    ({"scsi_controller": "virtio-scsi"}, "VMSpec.scsi_controller", "paravirtual, lsilogic"),
    # devices, named by their place in the VM spec
    ({"disks": [{}]}, "VMSpec.disks[0].source", "needs a source"),
    ({"disks": [{"source": "/a"}, {"kind": "tape"}]}, "VMSpec.disks[1].kind", "disk, cdrom"),
    ({"disks": [{"source": ""}]}, "VMSpec.disks[0].source", "non-empty string"),
    ({"disks": [{"capacity_bytes": 0}]}, "VMSpec.disks[0].capacity_bytes", "integer >= 1"),
    ({"disks": [{"source": "/a", "bus": "vir tio"}]}, "VMSpec.disks[0].bus", "a name"),
    ({"disks": [{"source": "/a", "device": "vd/a"}]}, "VMSpec.disks[0].device", "a name"),
    ({"disks": [{"source": "/a", "format": ""}]}, "VMSpec.disks[0].format", "a name"),
    ({"disks": [{"source": "/a", "readonly": 1}]}, "VMSpec.disks[0].readonly", "true or false"),
    (
        {"disks": [{"capacity_bytes": 1024, "provisioning": "lazy"}]},
        "VMSpec.disks[0].provisioning",
        "thin, thick, eagerzeroedthick",
    ),
    ({"disks": [{"source": "/a", "size": 1}]}, "VMSpec.disks[0].size", "unknown key"),
    ({"nics": [{"network": ""}]}, "VMSpec.nics[0].network", "non-empty string"),
    ({"nics": [{"bridge": 0}]}, "VMSpec.nics[0].bridge", "non-empty string"),
    ({"nics": [{"network": "n", "bridge": "b"}]}, "VMSpec.nics[0].bridge", "not both"),
    ({"nics": [{"mac": "00:50:56"}]}, "VMSpec.nics[0].mac", "six hex octets"),
    ({"nics": [{"mac": "zz:50:56:00:00:01"}]}, "VMSpec.nics[0].mac", "six hex octets"),
    ({"nics": [{"model": "e 1000"}]}, "VMSpec.nics[0].model", "a name"),
    ({"filesystems": [{"source": "/", "target": ""}]}, "VMSpec.filesystems[0].target", "non"),
    (
        {"filesystems": [{"source": "/", "readonly": "no"}]},
        "VMSpec.filesystems[0].readonly",
        "true or false",
    ),
]


@pytest.mark.parametrize("change, field, reason", BAD_VM_SPECS, ids=[f for _, f, _ in BAD_VM_SPECS])
def test_invalid_vm_spec_names_the_field(change, field, reason):
    with pytest.raises(InvalidSpec) as info:
        VMSpec.from_mapping({**BASE, **change})
    assert info.value.field == field
    assert reason in info.value.reason
    assert str(info.value) == f"{field}: {info.value.reason}"
    assert isinstance(info.value, VrmError)


def test_the_example_message_of_the_contract():
    with pytest.raises(InvalidSpec) as info:
        VMSpec("vm1", 64, vcpus=0)
    assert str(info.value) == "VMSpec.vcpus: must be an integer >= 1, got 0"


@pytest.mark.parametrize(
    "data, field, reason",
    [
        ({"name": "x"}, "VMSpec.memory_mib", "is required"),
        ({"memory_mib": 64}, "VMSpec.name", "is required"),
        ({**BASE, "memory_kib": 65536}, "VMSpec.memory_kib", "use 'memory_mib'"),
        ({**BASE, "colour": "red", "bogus": 1}, "VMSpec.bogus", "also unknown: 'colour'"),
        (["name", "vm1"], "VMSpec", "must be a mapping"),
    ],
)
def test_from_mapping_refuses_unknown_and_missing_keys(data, field, reason):
    with pytest.raises(InvalidSpec) as info:
        VMSpec.from_mapping(data)
    assert info.value.field == field and reason in info.value.reason
    if "unknown" in info.value.reason:
        assert "known keys: name, memory_mib, vcpus" in info.value.reason


def test_direct_construction_checks_item_types():
    with pytest.raises(InvalidSpec, match=r"^VMSpec.disks\[0\]: must be a DiskSpec, got"):
        VMSpec("vm1", 64, disks=[{"source": "/x"}])
    with pytest.raises(InvalidSpec, match=r"^VMSpec.nics\[1\]: must be a NicSpec"):
        VMSpec("vm1", 64, nics=[NicSpec(), "default"])
    with pytest.raises(InvalidSpec, match=r"^DiskSpec.kind: must be one of disk, cdrom"):
        DiskSpec(kind="floppy")


def test_valid_spec_is_normalised_and_frozen():
    spec = VMSpec.from_mapping(
        {
            **BASE,
            "uuid": " 6A1E0B6E-5D2C-4E8F-9A01-00000000BEEF ",
            "disks": [{"source": "/x.img"}, DiskSpec(kind="cdrom")],
            "nics": [{"mac": "52-54-00-AA-00-01"}],
            "filesystems": [{"source": "/srv"}],
        }
    )
    assert spec.uuid == "6a1e0b6e-5d2c-4e8f-9a01-00000000beef"
    assert spec.disks == (DiskSpec(source="/x.img"), DiskSpec(kind="cdrom"))  # empty drive
    assert spec.nics[0].mac == "52:54:00:aa:00:01"
    assert spec.filesystems == (FilesystemSpec("/srv"),)
    assert (spec.vcpus, spec.memory_kib, spec.max_memory_kib) == (1, 65536, 65536)
    assert dataclasses.replace(spec, max_memory_mib=128).max_memory_kib == 128 * 1024
    with pytest.raises(dataclasses.FrozenInstanceError):
        spec.vcpus = 4  # type: ignore[misc]
    with pytest.raises(InvalidSpec, match="VMSpec.vcpus"):  # replace() validates again
        dataclasses.replace(spec, vcpus=-1)


BAD_CHANGES = [
    ({"vcpus": 0}, "VMChange.vcpus", "integer >= 1, got 0"),
    ({"memory_mib": "1G"}, "VMChange.memory_mib", "integer >= 1, got '1G'"),
    ({"add_disks": [{}]}, "VMChange.add_disks[0].source", "needs a source"),
    ({"add_nics": [{"mac": "x"}]}, "VMChange.add_nics[0].mac", "six hex octets"),
    ({"remove_disks": "vda"}, "VMChange.remove_disks", "list of strings, got 'vda'"),
    ({"remove_disks": ["vda", ""]}, "VMChange.remove_disks[1]", "non-empty string"),
    ({"remove_nics": [None]}, "VMChange.remove_nics[0]", "non-empty string"),
    ({"destroy_removed_disks": "yes"}, "VMChange.destroy_removed_disks", "true or false"),
    ({"scsi_controller": "ahci"}, "VMChange.scsi_controller", "one of paravirtual"),
    ({"add_disk": {"source": "/x"}}, "VMChange.add_disk", "use 'add_disks' (a list)"),
    ({"remove_nic": "52:54:00:00:00:01"}, "VMChange.remove_nic", "use 'remove_nics'"),
]


@pytest.mark.parametrize("data, field, reason", BAD_CHANGES, ids=[f for _, f, _ in BAD_CHANGES])
def test_invalid_change_names_the_field(data, field, reason):
    with pytest.raises(InvalidSpec) as info:
        VMChange.from_mapping(data)
    assert info.value.field == field and reason in info.value.reason


def test_change_none_means_unchanged():
    assert VMChange().empty
    assert VMChange.from_mapping({}).empty
    assert VMChange(destroy_removed_disks=True, scsi_controller="lsilogic").empty  # no device
    change = VMChange.from_mapping({"memory_mib": 512, "remove_nics": ["52:54:00:00:00:01"]})
    assert not change.empty
    assert (change.vcpus, change.memory_mib) == (None, 512)
    assert change.remove_nics == ("52:54:00:00:00:01",)
