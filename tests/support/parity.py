"""The behavioural case table every host of vrmgmt's providers must answer the same way:
the embedded server (`vrmgmt serve`), the CMPI adapter through the cmpi-bindings test
double (tests/test_hosts_parity.py) and real CIMOMs (tests/test_sfcb.py: SFCB through
pywbem). A host is any object with the methods of `ServerHost`; a case is a function of
a host and the answer it must give. Classes added later bring their own cases in
``tests/classes/*.py`` (a module-level ``CASES`` list); `all_cases()` collects them.

The cases use the three domains of cmpi_testkit's node file (tests/cmpi_double), one
libvirt test-driver backend ``tdhost``; they change VM states, so each host runs the
table in order on a fresh backend.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cmpi_testkit as kit
import pywbem

from support.hosts import ServerHost

TESTS = Path(__file__).resolve().parents[1]

ALPHA, _ = kit.VMS["alpha"]
GAMMA, _ = kit.VMS["gamma"]  # shut off
VM = "VRM_ComputerSystem"
HOST = "VRM_HostSystem"
HD = "VRM_HostedDependency"


def vm(uuid: str) -> pywbem.CIMInstanceName:
    return pywbem.CIMInstanceName(VM, {"CreationClassName": VM, "Name": uuid}, namespace=kit.NS)


def host() -> pywbem.CIMInstanceName:
    return pywbem.CIMInstanceName(
        HOST, {"CreationClassName": HOST, "Name": kit.BACKEND}, namespace=kit.NS
    )


class SfcbHost(ServerHost):
    """A real SFCB hosting the providers, through pywbem: the same calls as ServerHost."""

    name = "sfcb"


@dataclass
class Case:
    name: str
    run: Callable[[Any], Any]
    expect: Any


def names(paths) -> list[str]:
    return sorted(str(p.keybindings["Name"]) for p in paths)


def props(inst, *keys) -> tuple:
    return tuple(inst[k] for k in keys)


def error_code(fn: Callable[[], Any]) -> int:
    try:
        fn()
    except pywbem.CIMError as exc:
        return exc.status_code
    return 0


def state_change(h, uuid, *states) -> list:
    """RequestStateChange for each state; return codes and the EnabledState after each."""
    out = []
    for s in states:
        out.append(
            (
                h.invoke(vm(uuid), "RequestStateChange", RequestedState=s),
                h.get(vm(uuid), ["EnabledState"])["EnabledState"],
            )
        )
    return out


ALL_UUIDS = sorted(u for u, _ in kit.VMS.values())

CASES = [
    Case("enumerate VM names", lambda h: names(h.enum_names(VM)), ALL_UUIDS),
    # Key properties are left out of the comparison: cmpi-bindings' set_property_filter
    # always keeps them (OpenPegasus insists), while the embedded server returns exactly
    # the PropertyList (DSP0200); the instance paths carry the keys either way.
    Case(
        "enumerate VMs with a property list",
        lambda h: sorted(
            (
                i.path.keybindings["Name"],
                i["EnabledState"],
                sorted(set(i.keys()) - {"CreationClassName", "Name"}),
            )
            for i in h.enum(VM, ["EnabledState", "ElementName"])
        ),
        sorted(
            (u, 2 if running else 3, ["ElementName", "EnabledState"])
            for u, running in kit.VMS.values()
        ),
    ),
    Case(
        "get a VM",
        lambda h: props(
            h.get(vm(ALPHA)),
            "ElementName",
            "EnabledState",
            "NumberOfVirtualCPUs",
            "VirtualSystemType",
            "BackendID",
        ),
        ("alpha", 2, 2, "Test", kit.BACKEND),
    ),
    Case(
        "get a VM with a property list",
        lambda h: (
            h.get(vm(ALPHA), ["EnabledState", "ElementName"])["ElementName"],
            sorted(set(h.get(vm(ALPHA), ["EnabledState"]).keys()) - {"CreationClassName", "Name"}),
        ),
        ("alpha", ["EnabledState"]),
    ),
    Case(
        "get an unknown VM",
        lambda h: error_code(lambda: h.get(vm("00000000-0000-0000-0000-00000000abcd"))),
        pywbem.CIM_ERR_NOT_FOUND,
    ),
    Case("enumerate hosts", lambda h: names(h.enum_names(HOST)), [kit.BACKEND]),
    Case("get the host", lambda h: props(h.get(host()), "ElementName", "NumberOfProcessors")[1], 4),
    Case(
        "associator names VM -> host", lambda h: names(h.assoc_names(vm(ALPHA), HD)), [kit.BACKEND]
    ),
    Case(
        "associators host -> VMs",
        lambda h: sorted(i["ElementName"] for i in h.assocs(host(), HD, ["ElementName"])),
        sorted(kit.VMS),
    ),
    Case(
        "references of the host",
        lambda h: sorted(str(r["Dependent"].keybindings["Name"]) for r in h.refs(host(), HD)),
        ALL_UUIDS,
    ),
    # (which properties come back differs by host: SFCB fills in the class's defaults
    # for what the query did not select; the embedded server sends only the selected ones)
    Case(
        "query running VMs (WQL)",
        lambda h: sorted(
            i["ElementName"]
            for i in h.query(f"SELECT ElementName FROM {VM} WHERE EnabledState = 2")
        ),
        sorted(name for name, (_, on) in kit.VMS.items() if on),
    ),
    Case(
        "query with an unknown property",
        lambda h: error_code(lambda: h.query(f"SELECT * FROM {VM} WHERE Nope = 1")),
        pywbem.CIM_ERR_INVALID_QUERY,
    ),
    Case(
        "query in CQL",
        lambda h: error_code(lambda: h.query(f"SELECT * FROM {VM}", "DMTF:CQL")),
        pywbem.CIM_ERR_QUERY_LANGUAGE_NOT_SUPPORTED,
    ),
    Case("pause and resume", lambda h: state_change(h, ALPHA, 9, 2), [(0, 9), (0, 2)]),
    Case("already running", lambda h: state_change(h, ALPHA, 2), [(0, 2)]),
    Case("pause a VM that is off", lambda h: state_change(h, GAMMA, 9), [(4097, 3)]),
    Case("invalid RequestedState", lambda h: state_change(h, ALPHA, 99), [(5, 2)]),
    Case(
        "start, save, start, hard off",
        lambda h: state_change(h, GAMMA, 2, 6, 2, 3),
        [(0, 2), (0, 6), (0, 2), (0, 3)],
    ),
]


def all_cases() -> list[Case]:
    """CASES plus the CASES of every tests/classes/*.py module."""
    out = list(CASES)
    for f in sorted((TESTS / "classes").glob("test_*.py")):
        spec = importlib.util.spec_from_file_location(f"parity_classes_{f.stem}", f)
        if spec is None or spec.loader is None:
            continue
        mod = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(mod)
        out += list(getattr(mod, "CASES", ()))
    return out
