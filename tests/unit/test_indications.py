"""vrmgmt.cim.indications: the life-cycle indication builders (DSP1054 §7) give
instances of the MOF's CIM_InstCreation / CIM_InstModification / CIM_InstDeletion with
only declared properties, an embedded SourceInstance without a path (pywbem's listener
refuses embedded instances with paths), a model path, and gap-free sequence numbers."""

from __future__ import annotations

from pathlib import Path

import pytest
from pywbem import CIMInstance, CIMInstanceName, Uint16

from support.cache import cache_dir
from vrmgmt.cim import indications
from vrmgmt.server.repository import ClassRepository, load_classes

PROJECT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def repo():
    return ClassRepository(load_classes(PROJECT / "mof", None, cache_dir() / "schema"))


def vm(state: int) -> CIMInstance:
    path = CIMInstanceName(
        "VRM_ComputerSystem",
        {"CreationClassName": "VRM_ComputerSystem", "Name": "u1"},
        namespace="root/virt",
        host="h1",
    )
    return CIMInstance(
        "VRM_ComputerSystem",
        properties={"Name": "u1", "EnabledState": Uint16(state), "ElementName": "a"},
        path=path,
    )


def test_builders_give_declared_properties(repo):
    for ind in (
        indications.inst_creation(vm(2)),
        indications.inst_deletion(vm(3)),
        indications.inst_modification(vm(9), vm(2)),
    ):
        declared = repo.get_class(ind.classname).properties
        assert set(ind.properties) <= set(declared), ind.classname
        assert ind["SourceInstance"].path is None
        assert ind["SourceInstanceModelPath"].startswith("/root/virt:VRM_ComputerSystem.")
        assert ind["SourceInstanceHost"] == "h1"
        assert ind["SequenceContext"] == indications.SEQUENCE_CONTEXT


def test_modification_names_what_changed_and_keeps_the_old_state():
    ind = indications.inst_modification(vm(9), vm(2))
    assert ind["ChangedPropertyNames"] == ["EnabledState"]
    assert ind["PreviousInstance"]["EnabledState"] == 2
    assert ind["SourceInstance"]["EnabledState"] == 9
    assert vm(2).path is not None  # the caller's instances are not changed


def test_sequence_numbers_have_no_gaps():
    nums = [int(indications.inst_creation(vm(2))["SequenceNumber"]) for _ in range(5)]
    assert nums == list(range(nums[0], nums[0] + 5))
    ids = {indications.inst_creation(vm(2))["IndicationIdentifier"] for _ in range(5)}
    assert len(ids) == 5
