"""Console access (DSP1076, docs/console.md) over vSphere (govmomi's vcsim): vrmgmt asks
AcquireTicket("webmks") for a running VM's console; vcsim 0.24 does not implement it
(MethodNotFound), so the backend says NotSupported naming the method and the VM has no
VRM_KVMRedirectionSAP (nothing a console could open is shown)."""

from __future__ import annotations

import pytest

from support.vcsim import served_vcsim
from vrmgmt.errors import NotSupported

pytestmark = [pytest.mark.vcsim, pytest.mark.timeout(180)]


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    with served_vcsim(tmp_path_factory.mktemp("console-vc"), vms=1) as served:
        yield served[:2]


def test_vcsim_has_no_webmks_tickets(env):
    cim, mgr = env
    (vm,) = cim.EnumerateInstanceNames("VRM_ComputerSystem")
    assert cim.GetInstance(vm)["EnabledState"] == 2  # running
    with pytest.raises(NotSupported, match="AcquireTicket"):
        mgr.consoles(vm["Name"])
    assert cim.Associators(vm, AssocClass="VRM_HostedAccessPoint") == []
    assert cim.EnumerateInstanceNames("VRM_KVMRedirectionSAP") == []
