"""DMTF value maps used by the virtualization profiles.

EnabledState / RequestedState / AvailableRequestedStates: CIM_EnabledLogicalElement
(DSP1052 Computer System §7.4; DSP1057 Virtual System §7.1-7.3 state mapping:
running=2 Enabled, off=3 Disabled, paused=9 Quiesce, suspended/saved=6 Enabled but
Offline). RequestStateChange return codes: DSP1052/DSP1057 (0, 1, 2, 4, 5, 4096-4099).
"""

from __future__ import annotations

from vrmgmt.model import HostStatus, PowerAction, PowerState

# EnabledState (CIM_EnabledLogicalElement)
ES_UNKNOWN = 0
ES_OTHER = 1
ES_ENABLED = 2
ES_DISABLED = 3
ES_SHUTTING_DOWN = 4
ES_NOT_APPLICABLE = 5
ES_ENABLED_OFFLINE = 6
ES_IN_TEST = 7
ES_DEFERRED = 8
ES_QUIESCE = 9
ES_STARTING = 10

# RequestedState values
RS_UNKNOWN = 0
RS_ENABLED = 2
RS_DISABLED = 3
RS_SHUT_DOWN = 4
RS_NO_CHANGE = 5
RS_OFFLINE = 6
RS_TEST = 7
RS_DEFERRED = 8
RS_QUIESCE = 9
RS_REBOOT = 10
RS_RESET = 11
RS_NOT_APPLICABLE = 12

REQUESTED_STATE_NAMES = {
    RS_ENABLED: "Enabled (start/resume)",
    RS_DISABLED: "Disabled (hard power off)",
    RS_SHUT_DOWN: "Shut Down (graceful)",
    RS_OFFLINE: "Offline (save/suspend)",
    RS_QUIESCE: "Quiesce (pause)",
    RS_REBOOT: "Reboot",
    RS_RESET: "Reset",
}
VALID_REQUESTED_STATES = frozenset(range(0, 13)) | frozenset({32768})

# RequestStateChange return codes
RC_COMPLETED = 0
RC_NOT_SUPPORTED = 1
RC_UNKNOWN_ERROR = 2
RC_TIMEOUT = 3
RC_FAILED = 4
RC_INVALID_PARAMETER = 5
RC_IN_USE = 6
RC_JOB_STARTED = 4096
RC_INVALID_STATE_TRANSITION = 4097
RC_TIMEOUT_NOT_SUPPORTED = 4098
RC_BUSY = 4099

# OperationalStatus / HealthState (CIM_ManagedSystemElement)
OS_UNKNOWN = 0
OS_OK = 2
OS_DEGRADED = 3
OS_ERROR = 6
OS_STOPPED = 10
OS_LOST_COMMUNICATION = 13
HS_UNKNOWN = 0
HS_OK = 5
HS_DEGRADED = 10
HS_MAJOR_FAILURE = 20
HS_CRITICAL_FAILURE = 25

ENABLED_STATE: dict[PowerState, int] = {
    PowerState.RUNNING: ES_ENABLED,
    PowerState.OFF: ES_DISABLED,
    PowerState.PAUSED: ES_QUIESCE,
    PowerState.SUSPENDED: ES_ENABLED_OFFLINE,
    PowerState.SHUTTING_DOWN: ES_SHUTTING_DOWN,
    PowerState.CRASHED: ES_DISABLED,
    PowerState.STARTING: ES_STARTING,
    PowerState.UNKNOWN: ES_UNKNOWN,
}

# A VM's RequestedState is the last one requested of it (vrmgmt.requested_states), not
# derived from its current state.


def action_for_request(requested: int, state: PowerState) -> PowerAction | None:
    """The backend action that realises RequestedState `requested` from `state`.

    None means "already there": the request completes without doing anything.
    Raises KeyError for a RequestedState this mapping does not implement."""
    if requested == RS_ENABLED:
        if state == PowerState.RUNNING:
            return None
        if state == PowerState.PAUSED:
            return PowerAction.RESUME
        return PowerAction.START
    if requested == RS_DISABLED:
        return None if state == PowerState.OFF else PowerAction.POWER_OFF
    if requested == RS_SHUT_DOWN:
        return None if state == PowerState.OFF else PowerAction.SHUTDOWN
    if requested == RS_OFFLINE:
        return None if state == PowerState.SUSPENDED else PowerAction.SAVE
    if requested == RS_QUIESCE:
        return None if state == PowerState.PAUSED else PowerAction.PAUSE
    if requested == RS_REBOOT:
        return PowerAction.REBOOT
    if requested == RS_RESET:
        return PowerAction.RESET
    raise KeyError(requested)


# Which RequestedState values each action corresponds to (RequestedStatesSupported).
REQUEST_FOR_ACTION: dict[PowerAction, int] = {
    PowerAction.START: RS_ENABLED,
    PowerAction.RESUME: RS_ENABLED,
    PowerAction.POWER_OFF: RS_DISABLED,
    PowerAction.SHUTDOWN: RS_SHUT_DOWN,
    PowerAction.SAVE: RS_OFFLINE,
    PowerAction.PAUSE: RS_QUIESCE,
    PowerAction.REBOOT: RS_REBOOT,
    PowerAction.RESET: RS_RESET,
}


def requested_states(actions) -> list[int]:
    """Sorted RequestedState values for a set of PowerActions."""
    return sorted({REQUEST_FOR_ACTION[a] for a in actions})


def vm_operational_status(state: PowerState) -> tuple[list[int], int]:
    """(OperationalStatus, HealthState) of a VM."""
    if state == PowerState.CRASHED:
        return [OS_ERROR], HS_CRITICAL_FAILURE
    if state == PowerState.UNKNOWN:
        return [OS_UNKNOWN], HS_UNKNOWN
    if state in (PowerState.OFF, PowerState.SUSPENDED):
        return [OS_OK, OS_STOPPED], HS_OK
    return [OS_OK], HS_OK


def host_operational_status(status: HostStatus) -> tuple[list[int], int]:
    if status == HostStatus.LOST_COMMUNICATION:
        return [OS_LOST_COMMUNICATION], HS_UNKNOWN
    if status == HostStatus.ERROR:
        return [OS_ERROR], HS_MAJOR_FAILURE
    return [OS_OK], HS_OK
