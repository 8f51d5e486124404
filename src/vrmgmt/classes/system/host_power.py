"""Host power for VRM_HostSystem.RequestStateChange (4 shut down, 10 reboot; DSP1052
§8.1.2) and CIM_OperatingSystem.Reboot() / Shutdown() (CIM Schema 2.49), which map to
the same: who may, what is possible on which backend, and doing it.

Allowed only when `[host_control] allow_power_actions = true` (off by default) and for
the admin role (the method tables say so; the embedded server refuses others with
CIM_ERR_ACCESS_DENIED). Per backend (DESIGN.md "Host control"):

- vSphere (Feature.HOST_POWER): maintenance mode (unless `force_power_actions`), then
  RebootHost_Task / ShutdownHost_Task, as a job;
- local libvirt (qemu:///system, lxc:///): the configured `reboot_command` /
  `shutdown_command` (default systemctl reboot / poweroff);
- remote libvirt and the libvirt test driver: not supported (return code 1).

Every attempt, allowed or not, is audited.
"""

from __future__ import annotations

from dataclasses import dataclass

import pywbem
from pywbem import CIMError, Uint32

from vrmgmt.backends import Feature, HostPowerAction, Locality
from vrmgmt.cim import valuemaps as vm_map
from vrmgmt.cim.methods import MethodCall
from vrmgmt.cim.provider import ProviderEnv
from vrmgmt.classes.jobs import concrete_job
from vrmgmt.config import HostControlConfig
from vrmgmt.errors import NotSupported, VrmError
from vrmgmt.localhost import run_command

#: RequestedState -> action
ACTIONS = {vm_map.RS_SHUT_DOWN: HostPowerAction.SHUTDOWN, vm_map.RS_REBOOT: HostPowerAction.REBOOT}


def settings(env: ProviderEnv) -> HostControlConfig:
    cfg = getattr(env.config, "host_control", None)
    return cfg if cfg is not None else HostControlConfig()


@dataclass(frozen=True)
class PowerControl:
    """How a host's power can be controlled: mode "task" (the backend's API), "command"
    (the configured command) or "" (not possible), and a sentence saying so."""

    mode: str
    description: str

    @property
    def possible(self) -> bool:
        return bool(self.mode)


def power_control(env: ProviderEnv, backend_id: str) -> PowerControl:
    """What power control the host of backend_id has, as the configuration allows."""
    inv = env.inventory
    loc = inv.locality(backend_id)
    if loc is Locality.IN_PROCESS:
        return PowerControl(
            "", "not supported: the libvirt test driver simulates its host inside vrmgmt"
        )
    if Feature.HOST_POWER in inv.features(backend_id):
        mode, how = "task", "reboot and shut down through the hypervisor (as a job)"
    elif loc is Locality.LOCAL:
        cfg = settings(env)
        mode = "command"
        how = (
            f"reboot runs {' '.join(cfg.reboot_command)!r}, shut down runs "
            f"{' '.join(cfg.shutdown_command)!r}"
        )
    else:
        return PowerControl(
            "", "not supported: remote libvirt host (libvirt has no host power API)"
        )
    if not settings(env).allow_power_actions:
        return PowerControl(
            "", "disabled by the configuration ([host_control] allow_power_actions = false)"
        )
    return PowerControl(mode, f"allowed to admins: {how}")


def available_states(env: ProviderEnv, backend_id: str) -> list[int]:
    """AvailableRequestedStates of the host: 4 and 10 when power control is possible."""
    try:
        possible = power_control(env, backend_id).possible
    except VrmError:
        possible = False
    return [vm_map.RS_SHUT_DOWN, vm_map.RS_REBOOT] if possible else []


def request(call: MethodCall, backend_id: str, requested: int, target: str, action_name: str):
    """Carry out RequestedState 4 / 10 on the host; (return code, {"Job": ...})."""
    env = call.env
    out = {"Job": None}

    def audit(outcome: str) -> None:
        env.audit(user=call.ctx.user, action=action_name, target=target, outcome=outcome)

    action = ACTIONS.get(int(requested))
    if action is None:
        audit("rejected: only RequestedState 4 (shut down) and 10 (reboot) are supported")
        return Uint32(vm_map.RC_NOT_SUPPORTED), out
    pc = power_control(env, backend_id)
    cfg = settings(env)
    if not cfg.allow_power_actions and pc.description.startswith("disabled"):
        audit("refused: " + pc.description)
        raise CIMError(
            pywbem.CIM_ERR_ACCESS_DENIED,
            f"host power actions are {pc.description}; an administrator must set "
            "[host_control] allow_power_actions = true",
        )
    if not pc.possible:
        audit(pc.description)
        return Uint32(vm_map.RC_NOT_SUPPORTED), out
    if pc.mode == "command":
        argv = cfg.reboot_command if action is HostPowerAction.REBOOT else cfg.shutdown_command
        try:
            run_command(argv)
        except VrmError as exc:
            audit(f"failed: {exc}")
            raise CIMError(pywbem.CIM_ERR_FAILED, f"host {action.value} failed: {exc}") from None
        audit(f"completed: ran {argv!r}")
        return Uint32(vm_map.RC_COMPLETED), out
    return _as_job(call, backend_id, action, cfg.force_power_actions, audit, action_name)


def _as_job(call: MethodCall, backend_id, action: HostPowerAction, force: bool, audit, name):
    inv = call.env.inventory
    from vrmgmt.classes.system import host_system

    def run(progress):
        how = "forced" if force else "through maintenance mode"
        progress.update(0, f"host {action.value} of {backend_id} requested ({how})")
        try:
            inv.host_power(backend_id, action, force)
        except NotSupported as exc:
            audit(f"job failed: not supported: {exc}")
            raise
        except VrmError as exc:
            audit(f"job failed: {exc}")
            raise
        audit(f"job completed ({action.value})")
        return {"ReturnValue": vm_map.RC_COMPLETED}

    if call.env.jobs is None:  # a host without a job store: wait here
        try:
            inv.host_power(backend_id, action, force)
        except NotSupported as exc:
            audit(f"not supported: {exc}")
            return Uint32(vm_map.RC_NOT_SUPPORTED), {"Job": None}
        except VrmError as exc:
            audit(f"failed: {exc}")
            raise CIMError(pywbem.CIM_ERR_FAILED, f"host {action.value} failed: {exc}") from None
        audit(f"completed ({action.value})")
        return Uint32(vm_map.RC_COMPLETED), {"Job": None}
    result = concrete_job.start(
        call,
        run,
        name=name,
        description=f"host {action.value} of backend {backend_id}",
        affected=[host_system.path(backend_id, call.ctx.namespace)],
    )
    audit(f"job started ({action.value}): {result[1]['Job']['InstanceID']}")
    return result
