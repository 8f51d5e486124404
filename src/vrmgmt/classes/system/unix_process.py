"""VRM_UnixProcess: the processes of the hosts vrmgmt runs on (CIM_UnixProcess, CIM
Schema 2.49 System::Processing), read with psutil (vrmgmt.localhost). Keys: the host's
CSCreationClassName/CSName, the operating system's OSCreationClassName/OSName (both the
backend id), CreationClassName, Handle = the PID. Remote hosts have none (their
VRM_OperatingSystem.Description says why).

RequestStateChange (CIM_EnabledLogicalElement, DSP1052 §8.1.2 return codes): 3 (Disabled)
sends SIGTERM; 4 (Shut Down) sends SIGTERM and SIGKILL after TimeoutPeriod (an interval)
or else `[host_control] kill_grace_seconds` (as a job). Only when
`[host_control] allow_process_control = true`, for the admin role; never PID 1, vrmgmt
itself or its parent."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pywbem
from pywbem import CIMDateTime, CIMError, CIMInstance, CIMInstanceName, Uint16, Uint32, Uint64

from vrmgmt.cim import fastinst
from vrmgmt.cim import paths as cim_paths
from vrmgmt.cim import valuemaps as vm_map
from vrmgmt.cim.errors import invalid_parameter, not_found, to_cim_error
from vrmgmt.cim.methods import MethodCall, MethodTable
from vrmgmt.cim.provider import ProviderEnv
from vrmgmt.classes.jobs import concrete_job
from vrmgmt.classes.system import host_power
from vrmgmt.classes.system import host_system as host
from vrmgmt.classes.system import operating_system as osys
from vrmgmt.errors import NotFound, VrmError
from vrmgmt.localhost import terminate
from vrmgmt.model import HostProcess

CLASS = "VRM_UnixProcess"

#: psutil status -> CIM_Process.ExecutionState (as sblim-cmpi-base maps ps states)
_EXECUTION_STATE = {
    "running": 3,  # Running
    "sleeping": 6,  # Suspended Ready
    "idle": 6,
    "disk-sleep": 4,  # Blocked
    "stopped": 8,  # Stopped
    "tracing-stop": 8,
    "zombie": 7,  # Terminated
    "dead": 7,
    "waking": 2,  # Ready
    "parked": 6,
}


def path(backend_id: str, pid: int, namespace: str | None) -> CIMInstanceName:
    return fastinst.path(
        CLASS,
        {
            "CSCreationClassName": host.CLASS,
            "CSName": backend_id,
            "OSCreationClassName": osys.CLASS,
            "OSName": backend_id,
            "CreationClassName": CLASS,
            "Handle": str(pid),
        },
        namespace,
    )


def parse(p: CIMInstanceName) -> tuple[str, int]:
    """(backend id, PID) of a VRM_UnixProcess path (keys checked)."""
    handle = cim_paths.string_key(p, CLASS, "Handle")
    kb = cim_paths.keys_of(p)
    bid = kb.get("osname") or kb.get("csname")
    if not isinstance(bid, str) or not bid:
        raise invalid_parameter(f"the {CLASS} path needs the string keys OSName and CSName")
    if kb.get("csname") not in (None, bid):
        raise not_found(f"process of OS {bid!r} is not on host {kb.get('csname')!r}")
    for key, cls in (("oscreationclassname", osys.CLASS), ("cscreationclassname", host.CLASS)):
        v = kb.get(key)
        if v is not None and str(v).lower() != cls.lower():
            raise not_found(f"{key} {v!r} is not {cls}")
    if not handle.isdigit():
        raise not_found(f"no process with Handle {handle!r} (a Handle is a PID)")
    return bid, int(handle)


def _states(env: ProviderEnv) -> list[Uint16]:
    if host_power.settings(env).allow_process_control:
        return [Uint16(vm_map.RS_DISABLED), Uint16(vm_map.RS_SHUT_DOWN)]
    return []


def process_instance(bid: str, p: HostProcess, namespace: str, states: list[Uint16]) -> CIMInstance:
    P = fastinst.prop
    zombie = p.state in ("zombie", "dead")
    props = [
        P("CSCreationClassName", host.CLASS, "string"),
        P("CSName", bid, "string"),
        P("OSCreationClassName", osys.CLASS, "string"),
        P("OSName", bid, "string"),
        P("CreationClassName", CLASS, "string"),
        P("Handle", str(p.pid), "string"),
        P("Name", p.name, "string"),
        P("ElementName", p.name, "string"),
        P("ParentProcessID", str(p.ppid), "string"),
        P("RealUserID", Uint64(p.uid), "uint64"),
        P("ProcessGroupID", Uint64(p.pgid) if p.pgid is not None else None, "uint64"),
        P("ProcessSessionID", Uint64(p.sid) if p.sid is not None else None, "uint64"),
        P("ProcessTTY", p.tty, "string"),
        P("Parameters", list(p.args), "string", True),
        P("ModulePath", p.exe, "string"),
        P("CreationDate", CIMDateTime(p.created) if p.created else None, "datetime"),
        P("ExecutionState", Uint16(_EXECUTION_STATE.get(p.state, 0)), "uint16"),
        P("UserModeTime", Uint64(p.user_ms) if p.user_ms is not None else None, "uint64"),
        P("KernelModeTime", Uint64(p.kernel_ms) if p.kernel_ms is not None else None, "uint64"),
        P("Priority", Uint32(p.priority) if p.priority is not None else None, "uint32"),
        P("EnabledState", Uint16(vm_map.ES_DISABLED if zombie else vm_map.ES_ENABLED), "uint16"),
        P("RequestedState", Uint16(vm_map.RS_NOT_APPLICABLE), "uint16"),
        P("AvailableRequestedStates", [] if zombie else states, "uint16", True),
    ]
    return fastinst.instance(CLASS, props, path(bid, p.pid, namespace))


def _local(env: ProviderEnv) -> list[str]:
    inv = env.inventory
    return [bid for bid in inv.backend_ids() if inv.runs_here(bid)]


def paths(env: ProviderEnv, namespace: str) -> Iterator[CIMInstanceName]:
    inv = env.inventory
    for bid in _local(env):
        for p in inv.processes(bid):
            yield path(bid, p.pid, namespace)


def instances(
    env: ProviderEnv,
    namespace: str,
    paths: list[CIMInstanceName] | None = None,
    *,
    bulk: bool = False,
    only: str | None = None,
) -> Iterator[CIMInstance]:
    """Without paths: every process of every local host (of host ``only`` if given)."""
    inv = env.inventory
    states = _states(env)
    if paths is None:
        for bid in _local(env) if only is None else [only]:
            for p in inv.processes(bid):
                yield process_instance(bid, p, namespace, states)
        return
    wanted = [parse(p) for p in paths]
    if len(wanted) == 1:
        bid, pid = wanted[0]
        if not inv.has_backend(bid):
            raise not_found(f"no host {bid!r}")
        try:
            yield process_instance(bid, inv.process(bid, pid), namespace, states)
        except VrmError as exc:
            raise to_cim_error(exc) from None
        return
    by_backend: dict[str, set[int]] = {}
    for bid, pid in wanted:
        by_backend.setdefault(bid, set()).add(pid)
    for bid, pids in by_backend.items():
        if not inv.has_backend(bid) or not inv.runs_here(bid):
            continue
        for p in inv.processes(bid):
            if p.pid in pids:
                yield process_instance(bid, p, namespace, states)


# -- methods -----------------------------------------------------------------------------
METHODS = MethodTable()


def _protected(pid: int) -> str:
    if pid == 1:
        return "PID 1 (init)"
    if pid == os.getpid():
        return "vrmgmt's own process"
    if pid == os.getppid():
        return "the parent of vrmgmt's process"
    return ""


@METHODS.method("RequestStateChange", role="admin")
def request_state_change(call: MethodCall, requested_state=None, timeout_period=None):
    bid, pid = parse(call.instance_path)
    env = call.env
    out = {"Job": None}
    if requested_state is None:
        raise CIMError(
            pywbem.CIM_ERR_INVALID_PARAMETER,
            "RequestStateChange needs the RequestedState parameter",
        )
    requested = int(requested_state)
    target = f"{CLASS}.Handle={pid} on {bid}"

    def audit(outcome: str) -> None:
        env.audit(
            user=call.ctx.user,
            action=f"RequestStateChange({requested})",
            target=target,
            outcome=outcome,
        )

    cfg = host_power.settings(env)
    if not cfg.allow_process_control:
        audit("refused: [host_control] allow_process_control = false")
        raise CIMError(
            pywbem.CIM_ERR_ACCESS_DENIED,
            "process control is disabled by the configuration; an administrator must set "
            "[host_control] allow_process_control = true",
        )
    if not env.inventory.has_backend(bid):
        raise not_found(f"no host {bid!r}")
    try:
        proc = env.inventory.process(bid, pid)
    except VrmError as exc:
        audit(f"failed: {exc}")
        raise to_cim_error(exc) from None
    target += f" ({proc.name})"
    if requested not in (vm_map.RS_DISABLED, vm_map.RS_SHUT_DOWN):
        audit("rejected: only RequestedState 3 (SIGTERM) and 4 (SIGTERM, then SIGKILL)")
        return Uint32(vm_map.RC_NOT_SUPPORTED), out
    grace_s = cfg.kill_grace_seconds
    if timeout_period is not None:  # 4: the time SIGTERM has before SIGKILL
        if not isinstance(timeout_period, pywbem.CIMDateTime) or not timeout_period.is_interval:
            audit("rejected: TimeoutPeriod must be an interval")
            return Uint32(vm_map.RC_INVALID_PARAMETER), out
        grace_s = timeout_period.timedelta.total_seconds()
    protected = _protected(pid)
    if protected:
        audit(f"refused: {protected}")
        raise CIMError(pywbem.CIM_ERR_ACCESS_DENIED, f"vrmgmt does not terminate {protected}")
    if requested == vm_map.RS_DISABLED or call.env.jobs is None:
        grace = None if requested == vm_map.RS_DISABLED else grace_s
        try:
            what = terminate(pid, grace)
        except NotFound as exc:
            audit(f"failed: {exc}")
            raise not_found(str(exc)) from None
        except OSError as exc:
            audit(f"failed: {exc}")
            raise CIMError(pywbem.CIM_ERR_FAILED, f"cannot signal PID {pid}: {exc}") from None
        audit(f"completed: {what}")
        return Uint32(vm_map.RC_COMPLETED), out

    def run(progress):
        progress.update(0, f"SIGTERM sent to PID {pid} ({proc.name})")
        what = terminate(pid, grace_s)
        audit(f"job completed: {what}")
        return {"ReturnValue": vm_map.RC_COMPLETED}

    result = concrete_job.start(
        call,
        run,
        name=f"RequestStateChange({requested})",
        description=(
            f"terminate PID {pid} ({proc.name}) on {bid}: SIGTERM, SIGKILL after {grace_s:g} s"
        ),
        affected=[path(bid, pid, call.ctx.namespace)],
    )
    audit(f"job started: {result[1]['Job']['InstanceID']}")
    return result
