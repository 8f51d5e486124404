"""VRM_ServiceAffectsElement through both hosts (DSP1042): the host's virtual system
management service manages (ElementEffects {5}) each VM of that host."""

import pywbem

from support.classcases import ALL_UUIDS, names, vm_path

SAE = "VRM_ServiceAffectsElement"


def _vsms(system: str = "tdhost") -> pywbem.CIMInstanceName:
    return pywbem.CIMInstanceName(
        "VRM_VirtualSystemManagementService",
        {
            "SystemCreationClassName": "VRM_HostSystem",
            "SystemName": system,
            "CreationClassName": "VRM_VirtualSystemManagementService",
            "Name": "VirtualSystemManagementService",
        },
        namespace="root/virt",
    )


def test_service_manages_every_vm_of_its_host(host):
    assert names(host.assoc_names(_vsms(), assoc=SAE, result_role="AffectedElement")) == ALL_UUIDS
    refs = host.refs(vm_path("beta"), result_class=SAE)
    assert len(refs) == 1
    assert list(refs[0]["ElementEffects"]) == [5]
    assert refs[0]["AffectingElement"]["SystemName"] == "tdhost"
    (svc,) = host.assocs(vm_path("beta"), assoc=SAE)
    assert svc.classname == "VRM_VirtualSystemManagementService"
    assert len(host.enum(SAE)) == len(ALL_UUIDS)


def test_unknown_ends_have_no_links(host):
    assert host.assoc_names(_vsms("elsewhere"), assoc=SAE) == []
    ghost = vm_path("00000000-0000-0000-0000-000000000000")
    assert host.assoc_names(ghost, assoc=SAE) == []
