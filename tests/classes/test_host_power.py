"""Host power through both hosts: VRM_HostSystem.RequestStateChange 4 / 10 and
VRM_OperatingSystem.Reboot() / Shutdown() (DSP1052 §8.1.2, CIM_OperatingSystem), guarded
by [host_control] allow_power_actions. A local libvirt host (qemu:///system on the real
libvirtd of support.libvirtd) runs the configured command; here a harmless one that
appends a line to a file, so the test sees it ran exactly once, or never. The test
driver answers 1 (not supported)."""

import sys

import pytest
import pywbem

from support.classcases import error_code
from support.classhosts import KINDS, open_host
from support.libvirtd import LibvirtdForTests, LibvirtdUnavailable

BACKEND = "kvm"
RECORD = "import sys; open(sys.argv[1], 'a').write(sys.argv[2] + '\\n')"


@pytest.fixture(scope="module")
def libvirtd():
    try:
        with LibvirtdForTests("qemu:///system") as daemon:
            yield daemon
    except LibvirtdUnavailable as exc:
        pytest.fail(f"host power tests need libvirtd: {exc}")


def _sections(record, allow):
    return {
        "host_control": {
            "allow_power_actions": allow,
            "reboot_command": [sys.executable, "-c", RECORD, str(record), "reboot"],
            "shutdown_command": [sys.executable, "-c", RECORD, str(record), "shutdown"],
        }
    }


def _host(kind, d, allow):
    backends = [{"id": BACKEND, "type": "libvirt", "uri": "qemu:///system"}]
    return open_host(kind, d, _sections(d / "record", allow), backends)


def host_path():
    return pywbem.CIMInstanceName(
        "VRM_HostSystem",
        {"CreationClassName": "VRM_HostSystem", "Name": BACKEND},
        namespace="root/virt",
    )


def os_path():
    return pywbem.CIMInstanceName(
        "VRM_OperatingSystem",
        {
            "CSCreationClassName": "VRM_HostSystem",
            "CSName": BACKEND,
            "CreationClassName": "VRM_OperatingSystem",
            "Name": BACKEND,
        },
        namespace="root/virt",
    )


def _record(d):
    p = d / "record"
    return p.read_text().splitlines() if p.exists() else []


@pytest.mark.parametrize("kind", KINDS)
def test_enabled_runs_the_command_exactly_once(kind, tmp_path, libvirtd):
    with _host(kind, tmp_path, True) as h:
        inst = h.get(host_path())
        assert list(inst["AvailableRequestedStates"]) == [4, 10]
        assert "allowed to admins" in inst["PowerControl"] and "reboot runs" in inst["PowerControl"]
        assert list(h.get(os_path())["AvailableRequestedStates"]) == [4, 10]
        rv, _ = h.invoke_typed(host_path(), "RequestStateChange", RequestedState=pywbem.Uint16(10))
        assert rv == 0
        assert _record(tmp_path) == ["reboot"]
        rv, _ = h.invoke_typed(host_path(), "RequestStateChange", RequestedState=pywbem.Uint16(4))
        assert rv == 0
        assert _record(tmp_path) == ["reboot", "shutdown"]
        assert h.invoke_typed(os_path(), "Reboot")[0] == 0
        assert h.invoke_typed(os_path(), "Shutdown")[0] == 0
        assert _record(tmp_path) == ["reboot", "shutdown", "reboot", "shutdown"]
        # other states are not host power
        rv, _ = h.invoke_typed(host_path(), "RequestStateChange", RequestedState=pywbem.Uint16(3))
        assert rv == 1
        assert len(_record(tmp_path)) == 4


@pytest.mark.parametrize("kind", KINDS)
def test_disabled_never_runs_it(kind, tmp_path, libvirtd):
    with _host(kind, tmp_path, False) as h:
        inst = h.get(host_path())
        assert list(inst["AvailableRequestedStates"]) == []
        assert "allow_power_actions = false" in inst["PowerControl"]
        for state in (4, 10):
            code = error_code(
                lambda s=state: h.invoke_typed(
                    host_path(), "RequestStateChange", RequestedState=pywbem.Uint16(s)
                )
            )
            assert code == pywbem.CIM_ERR_ACCESS_DENIED
        for method in ("Reboot", "Shutdown"):
            assert error_code(lambda m=method: h.invoke_typed(os_path(), m)) == (
                pywbem.CIM_ERR_ACCESS_DENIED
            )
        assert _record(tmp_path) == []


def test_failing_command_is_a_clear_error(tmp_path, libvirtd):
    sections = _sections(tmp_path / "record", True)
    sections["host_control"]["reboot_command"] = [sys.executable, "-c", "raise SystemExit(3)"]
    backends = [{"id": BACKEND, "type": "libvirt", "uri": "qemu:///system"}]
    with open_host("server", tmp_path, sections, backends) as h:
        with pytest.raises(pywbem.CIMError) as exc:
            h.invoke_typed(host_path(), "RequestStateChange", RequestedState=pywbem.Uint16(10))
        assert exc.value.status_code == pywbem.CIM_ERR_FAILED
        assert "exited with status 3" in exc.value.status_description


@pytest.mark.parametrize("kind", KINDS)
def test_test_driver_host_is_not_supported(kind, tmp_path):
    with open_host(kind, tmp_path, _sections(tmp_path / "record", True)) as h:
        [hp] = h.enum_names("VRM_HostSystem")
        inst = h.get(hp)
        assert list(inst["AvailableRequestedStates"]) == []
        assert inst["PowerControl"].startswith("not supported: the libvirt test driver")
        rv, _ = h.invoke_typed(hp, "RequestStateChange", RequestedState=pywbem.Uint16(10))
        assert rv == 1
        assert _record(tmp_path) == []


def caps_path(backend=BACKEND):
    return pywbem.CIMInstanceName(
        "VRM_EnabledLogicalElementCapabilities",
        {"InstanceID": f"vrmgmt:host-capabilities:{backend}"},
        namespace="root/virt",
    )


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("allow, states", [(True, [4, 10]), (False, [])])
def test_host_capabilities_advertise_exactly_what_is_possible(
    kind, allow, states, tmp_path, libvirtd
):
    """VRM_EnabledLogicalElementCapabilities of the host, reached from the host through
    VRM_ElementCapabilities: RequestedStatesSupported is empty while disabled."""
    with _host(kind, tmp_path, allow) as h:
        (caps,) = h.assocs(host_path(), "VRM_ElementCapabilities", result_class="CIM_Capabilities")
        assert caps.path["InstanceID"] == caps_path()["InstanceID"]
        assert list(caps["RequestedStatesSupported"]) == states
        assert list(caps["RequestedStatesSupported"]) == list(
            h.get(host_path())["AvailableRequestedStates"]
        )
        assert [p["Name"] for p in h.assoc_names(caps_path(), "VRM_ElementCapabilities")] == [
            BACKEND
        ]
        assert _record(tmp_path) == []  # looking runs nothing
