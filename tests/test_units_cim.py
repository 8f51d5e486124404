"""CIM layer units: value maps, instance builders against the compiled MOF, auth."""

from __future__ import annotations

import subprocess
import sys

import pytest

from vrmgmt.auth import Authenticator, hash_password, set_password, verify_hash
from vrmgmt.cim import valuemaps
from vrmgmt.classes.system import computer_system, host_system
from vrmgmt.model import Host, HostStatus, PowerAction, PowerState, VirtualMachine
from vrmgmt.server.repository import ClassRepository, compile_classes, default_mof_dir


@pytest.fixture(scope="module")
def repo():
    return ClassRepository(compile_classes(default_mof_dir()))


@pytest.mark.parametrize(
    "state,requested,action",
    [
        (PowerState.OFF, 2, PowerAction.START),
        (PowerState.SUSPENDED, 2, PowerAction.START),
        (PowerState.PAUSED, 2, PowerAction.RESUME),
        (PowerState.RUNNING, 2, None),
        (PowerState.RUNNING, 3, PowerAction.POWER_OFF),
        (PowerState.RUNNING, 4, PowerAction.SHUTDOWN),
        (PowerState.RUNNING, 6, PowerAction.SAVE),
        (PowerState.RUNNING, 9, PowerAction.PAUSE),
        (PowerState.PAUSED, 9, None),
        (PowerState.RUNNING, 10, PowerAction.REBOOT),
        (PowerState.RUNNING, 11, PowerAction.RESET),
    ],
)
def test_requested_state_to_action(state, requested, action):
    assert valuemaps.action_for_request(requested, state) == action


@pytest.mark.parametrize("requested", [0, 5, 7, 8, 12, 99])
def test_unmapped_requested_states(requested):
    with pytest.raises(KeyError):
        valuemaps.action_for_request(requested, PowerState.RUNNING)


def test_enabled_state_mapping_follows_dsp1057():
    m = valuemaps.ENABLED_STATE
    assert (
        m[PowerState.RUNNING],
        m[PowerState.OFF],
        m[PowerState.PAUSED],
        m[PowerState.SUSPENDED],
    ) == (2, 3, 9, 6)


def _check_declared(repo, inst):
    cls = repo.get_class(inst.classname)
    for name, prop in inst.properties.items():
        decl = cls.properties.get(name)
        assert decl is not None, f"{inst.classname}.{name} is not declared in the MOF"
        assert decl.type == prop.type, f"{inst.classname}.{name}: {prop.type} vs {decl.type}"
        assert decl.is_array == prop.is_array, f"{inst.classname}.{name} array-ness"
    for key in inst.path.keybindings:
        assert cls.properties[key].qualifiers.get("Key"), f"{key} is not a key"


def test_builders_emit_only_declared_properties(repo):
    vm = VirtualMachine(
        uuid="u1",
        name="n",
        backend_id="b",
        state=PowerState.RUNNING,
        vcpus=2,
        memory_kib=1024,
        uptime_s=5,
    )
    _check_declared(repo, computer_system.vm_instance(vm, "root/virt", frozenset(PowerAction)))
    host = Host(
        backend_id="b",
        hostname="h",
        hypervisor_type="QEMU",
        hypervisor_version="7.2.0",
        virtual_system_type="KVM",
        cpu_model="x",
        cpu_count=4,
        cpu_mhz=2000,
        memory_total_kib=1,
        memory_free_kib=1,
        backend_type="libvirt",
    )
    _check_declared(repo, host_system.host_instance(host, "root/virt"))
    lost = Host(
        backend_id="b",
        hostname="h",
        hypervisor_type="",
        hypervisor_version="",
        virtual_system_type="",
        status=HostStatus.LOST_COMMUNICATION,
    )
    inst = host_system.host_instance(lost, "root/virt")
    _check_declared(repo, inst)
    assert inst["OperationalStatus"] == [13]
    assert inst["StatusDescriptions"] == ["backend 'b' unreachable: "]


def test_password_hashing_and_authenticator(tmp_path):
    stored = hash_password("correct horse", iterations=1000)
    assert verify_hash("correct horse", stored)
    assert not verify_hash("wrong", stored)
    assert not verify_hash("x", "garbage")
    users = tmp_path / "users"
    set_password(users, "alice", "password-1")
    assert oct(users.stat().st_mode & 0o777) == "0o600"
    auth = Authenticator(users)
    assert auth.check("alice", "password-1")
    assert auth.check("alice", "password-1")  # cached
    assert not auth.check("alice", "password-2")
    assert not auth.check("bob", "password-1")
    set_password(users, "alice", "password-2")  # file change is picked up
    assert auth.check("alice", "password-2")
    with pytest.raises(ValueError):
        set_password(users, "a:b", "pw")


def test_cli_help():
    r = subprocess.run(
        [sys.executable, "-m", "vrmgmt", "serve", "--help"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert r.returncode == 0
    for opt in ("--config", "--port", "--https-port", "--state-dir", "--log-level"):
        assert opt in r.stdout
    assert "test:///default" in r.stdout
    r = subprocess.run(
        [sys.executable, "-m", "vrmgmt", "serve", "--config", "/nonexistent.toml"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert r.returncode == 2
    assert "no such configuration file" in r.stderr
    assert "Traceback" not in r.stderr


def test_passwd_command(tmp_path):
    r = subprocess.run(
        [
            sys.executable,
            "-m",
            "vrmgmt",
            "passwd",
            "carol",
            "--password-stdin",
            "--state-dir",
            str(tmp_path),
        ],
        input="long-enough-pw\n",
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert r.returncode == 0, r.stderr
    assert Authenticator(tmp_path / "users").check("carol", "long-enough-pw")


def test_fast_instances_equal_pywbem_built_ones():
    """fastinst relies on pywbem internals (pinned ~=1.9.1): the result must equal what
    pywbem's own constructors build, or a pywbem upgrade broke the layout."""
    import pywbem

    from vrmgmt.cim import fastinst

    vm = VirtualMachine(
        uuid="u1",
        name="n<&>",
        backend_id="b",
        state=PowerState.PAUSED,
        vcpus=3,
        memory_kib=2048,
        uptime_s=None,
    )
    fast = computer_system.vm_instance(vm, "root/virt", frozenset({PowerAction.RESUME}))
    slow = pywbem.CIMInstance(
        "VRM_ComputerSystem",
        properties=[
            pywbem.CIMProperty(p.name, p.value, type=p.type, is_array=p.is_array)
            for p in fast.properties.values()
        ],
        path=pywbem.CIMInstanceName(
            "VRM_ComputerSystem",
            {"CreationClassName": "VRM_ComputerSystem", "Name": "u1"},
            namespace="root/virt",
        ),
    )
    assert fast == slow
    assert fast.path == slow.path and hash(fast.path) == hash(slow.path)
    assert fast.tomof() == slow.tomof()
    assert fast["enabledstate"] == 9 and fast["AvailableRequestedStates"] == [2]
    moved = fastinst.with_path(fast, slow.path.copy())
    assert moved == fast and moved.properties is fast.properties


def test_writer_output_is_what_pywbem_parses():
    """Our encoder's instance XML parses with pywbem's parser to the same instance."""
    import pywbem
    from pywbem._tupleparse import TupleParser
    from pywbem._tupletree import xml_to_tupletree_sax

    from vrmgmt.server.cimxml_writer import Writer

    inst = pywbem.CIMInstance(
        "VRM_X",
        properties=[
            pywbem.CIMProperty("S", 'a "quoted" <tag> & \u00e9'),
            pywbem.CIMProperty("N", pywbem.Uint16(7)),
            pywbem.CIMProperty("R", pywbem.Real64(1.5)),
            pywbem.CIMProperty("B", False),
            pywbem.CIMProperty("A", [pywbem.Uint32(1), pywbem.Uint32(2)], type="uint32"),
            pywbem.CIMProperty("E", None, type="string"),
            pywbem.CIMProperty("D", pywbem.CIMDateTime("20261127101500.000000+000")),
            pywbem.CIMProperty(
                "Ref", pywbem.CIMInstanceName("VRM_Y", {"K": "v"}, namespace="root/virt")
            ),
        ],
        path=pywbem.CIMInstanceName("VRM_X", {"K": "k1", "I": pywbem.Uint8(3)}),
    )
    w = Writer(previous={})
    w.named_instance(inst)
    w2 = Writer(previous=w.remembered)  # the next response reuses the encoding
    w2.named_instance(inst)
    assert w2.remembered[id(inst)][1] == w.remembered[id(inst)][1]
    text = w.take().decode() + w2.take().decode()
    assert text.count("<VALUE.NAMEDINSTANCE>") == 2 and "/>" not in text
    first = text[: len(text) // 2]
    parsed = TupleParser().parse_value_namedinstance(xml_to_tupletree_sax(first, "test"))

    def view(i):  # the parser marks properties propagated=False; compare the rest
        return {n: (p.value, p.type, p.is_array) for n, p in i.properties.items()}

    assert parsed.classname == inst.classname and view(parsed) == view(inst)
    assert parsed.path == inst.path


def test_compiled_schema_is_cached_between_starts(tmp_path, monkeypatch):
    """A second start loads the compiled classes from the state dir instead of compiling
    the MOF again; a change to the MOF invalidates the cache."""
    import shutil

    from vrmgmt.server import repository

    mof = tmp_path / "mof"
    shutil.copytree(default_mof_dir(), mof)
    cache = tmp_path / "cache"
    first = repository.load_classes(mof, None, cache)
    assert len(list(cache.glob("classes-*.json"))) == 1

    def no_compile(*a, **k):
        raise AssertionError("compiled again although the cache is valid")

    monkeypatch.setattr(repository, "compile_classes", no_compile)
    second = repository.load_classes(mof, None, cache)
    assert set(second.classes) == set(first.classes)

    (mof / "VRM_System.mof").write_text((mof / "VRM_System.mof").read_text() + "\n// edit\n")
    with pytest.raises(AssertionError, match="compiled again"):
        repository.load_classes(mof, None, cache)
