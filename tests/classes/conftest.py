"""Per-class cases run through every host (DESIGN.md "Conventions" 4: a class's test is
one of the five places it touches). `host` is parametrised over support.classhosts.KINDS:
the embedded server (in-process, over CIM-XML), the CMPI adapter through the
cmpi-bindings double, and the adapter inside real SFCB and OpenPegasus, all over the same
kind of libvirt test-driver node (cmpi_testkit.VMS: alpha and beta running, gamma off);
`fresh_host` gives a new node per test for cases that change state. The real CIMOMs are
shared by the whole run (tests/support/cimoms.py) and stopped after the last case here;
their logs must show no provider crash."""

from __future__ import annotations

import pytest

from support import cimoms
from support.classhosts import KINDS, open_host


@pytest.fixture(scope="module", params=KINDS)
def host(request, tmp_path_factory):
    """A host over the shared node; cases using it must not change VM states."""
    with open_host(request.param, tmp_path_factory.mktemp(f"cls-{request.param}")) as h:
        yield h


@pytest.fixture(params=KINDS)
def fresh_host(request, tmp_path):
    """A host over a node of this test only (cases that change states)."""
    with open_host(request.param, tmp_path) as h:
        yield h


def pytest_runtest_teardown(item, nextitem):
    """After the last case of tests/classes/, stop the shared CIMOMs (other modules
    deploy their own, and each build allows one daemon at a time) and fail on crashes."""
    here = item.path.parent
    if nextitem is not None and nextitem.path.is_relative_to(here):
        return
    found = cimoms.crashes()
    cimoms.release()
    found += [c for c in cimoms.crashes() if c not in found]
    assert not found, "provider crashes in the CIMOMs' logs:\n" + "\n".join(found)
