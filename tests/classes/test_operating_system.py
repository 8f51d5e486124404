"""VRM_OperatingSystem and VRM_RunningOS through both hosts (CIM_OperatingSystem,
CIM_RunningOS; DSP1052 §7.9). The test driver's host is this machine (the driver runs
inside vrmgmt's process), so the values must agree with /proc and os-release."""

import os
from pathlib import Path

import cmpi_testkit as kit
import pytest
import pywbem

from support.classcases import error_code, host_path

CLS = "VRM_OperatingSystem"


def os_path(backend=kit.BACKEND, **over):
    keys = {
        "CSCreationClassName": "VRM_HostSystem",
        "CSName": backend,
        "CreationClassName": CLS,
        "Name": backend,
    }
    keys.update(over)
    return pywbem.CIMInstanceName(CLS, keys, namespace=kit.NS)


def _os_release():
    out = {}
    for line in Path("/etc/os-release").read_text().splitlines():
        k, sep, v = line.partition("=")
        if sep:
            out[k] = v.strip().strip('"')
    return out


def _meminfo(key):
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1])
    raise KeyError(key)


def test_one_per_host(host):
    assert [p.keybindings["Name"] for p in host.enum_names(CLS)] == [kit.BACKEND]


def test_values_agree_with_proc_and_os_release(host):
    inst = host.get(os_path())
    assert inst["ElementName"] == _os_release()["PRETTY_NAME"]
    assert inst["OSType"] == 36  # LINUX
    assert inst["Version"] == os.uname().release
    stat = Path("/proc/stat").read_text().splitlines()
    btime = next(int(line.split()[1]) for line in stat if line.startswith("btime"))
    assert int(inst["LastBootUpTime"].datetime.timestamp()) == btime
    assert inst["TotalVisibleMemorySize"] == _meminfo("MemTotal")
    assert abs(inst["FreePhysicalMemory"] - _meminfo("MemFree")) < 512 * 1024
    procs = sum(1 for n in os.listdir("/proc") if n.isdigit())
    assert abs(inst["NumberOfProcesses"] - procs) < 50
    assert inst["NumberOfUsers"] is not None
    # the test driver cannot power its host: nothing advertised
    assert list(inst["AvailableRequestedStates"]) == []


def test_running_os_links_host_and_os(host):
    [os_] = host.assoc_names(host_path(), assoc="VRM_RunningOS")
    assert os_.keybindings["Name"] == kit.BACKEND and os_.classname == CLS
    [h] = host.assoc_names(os_path(), assoc="VRM_RunningOS", result_class="VRM_HostSystem")
    assert h.keybindings["Name"] == kit.BACKEND
    [ref] = host.ref_names(host_path(), result_class="VRM_RunningOS")
    assert ref.keybindings["Antecedent"].keybindings["Name"] == kit.BACKEND


def test_reboot_and_shutdown_are_not_supported_on_the_test_driver(host):
    for method in ("Reboot", "Shutdown"):
        rv, _ = host.invoke_typed(os_path(), method)
        assert rv == 1


@pytest.mark.parametrize(
    "over, code",
    [
        ({"Name": "nohost", "CSName": "nohost"}, pywbem.CIM_ERR_NOT_FOUND),
        ({"CSName": "other"}, pywbem.CIM_ERR_NOT_FOUND),
        ({"CreationClassName": "VRM_HostSystem"}, pywbem.CIM_ERR_NOT_FOUND),
        ({"Name": ""}, pywbem.CIM_ERR_INVALID_PARAMETER),
    ],
)
def test_bad_paths(host, over, code):
    assert error_code(lambda: host.get(os_path(**over))) == code
