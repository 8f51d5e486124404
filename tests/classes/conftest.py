"""Per-class cases run through both hosts (DESIGN.md "Conventions" 4: a class's test is
one of the five places it touches). `host` is parametrised over the embedded server
(in-process, over CIM-XML) and the CMPI adapter (through the cmpi-bindings double), both
over the same libvirt test-driver node (cmpi_testkit.VMS: alpha and beta running, gamma
off); `fresh_host` gives a new node per test for cases that change state."""

from __future__ import annotations

import pytest

from support.classhosts import open_host


@pytest.fixture(scope="module", params=["server", "cmpi"])
def host(request, tmp_path_factory):
    """A host over the shared node; cases using it must not change VM states."""
    with open_host(request.param, tmp_path_factory.mktemp(f"cls-{request.param}")) as h:
        yield h


@pytest.fixture(params=["server", "cmpi"])
def fresh_host(request, tmp_path):
    """A host over a node of this test only (cases that change states)."""
    with open_host(request.param, tmp_path) as h:
        yield h
