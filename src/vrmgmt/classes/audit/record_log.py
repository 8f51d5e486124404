"""VRM_RecordLog: vrmgmt's audit log, the one record log (DSP1010 Record Log Profile
§7.2-7.4; CIM_RecordLog of CIM Schema 2.49) over <state>/audit.log (vrmgmt.audit).

The log never overwrites (OverwritePolicy 7) and is not cleared through CIM: ClearLog
answers 1 (Not Supported), since an audit trail that its subjects can erase is none.
Its records are VRM_LogEntry instances (readable by admins only, docs/audit.md).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from pywbem import CIMError, CIMInstance, CIMInstanceName, Uint16, Uint32, Uint64

from vrmgmt import audit
from vrmgmt.cim import fastinst
from vrmgmt.cim import paths as cim_paths
from vrmgmt.cim.errors import not_found
from vrmgmt.cim.methods import MethodCall, MethodTable
from vrmgmt.cim.provider import ProviderEnv

CLASS = "VRM_RecordLog"
INSTANCE_ID = "vrmgmt:audit"
LOG_NAME = "audit"
#: CIM_Log.OverwritePolicy 7 = Never Overwrites; LogState 2 = Normal
OVERWRITE_NEVER, LOG_STATE_NORMAL = 7, 2
#: CIM_Log.ClearLog return value 1 = Not Supported
CLEAR_NOT_SUPPORTED = 1

METHODS = MethodTable()


def path(namespace: str | None) -> CIMInstanceName:
    return fastinst.path(CLASS, {"InstanceID": INSTANCE_ID}, namespace)


def parse(p: CIMInstanceName) -> None:
    """Checks that p names the audit log (CIM_ERR_NOT_FOUND otherwise)."""
    iid = cim_paths.keys_of(p).get("instanceid")
    if iid != INSTANCE_ID:
        raise not_found(f"no record log {iid!r} (vrmgmt has one: {INSTANCE_ID!r})")


def exists(env: ProviderEnv, p: CIMInstanceName) -> bool:
    """Whether p names the audit log (DSP1033 central class methodology)."""
    return cim_paths.keys_of(p).get("instanceid") == INSTANCE_ID


def log_file(env: ProviderEnv) -> Path | None:
    """The audit log's file: <state>/audit.log (under a CMPI CIMOM, where the CIMOM
    audits, vrmgmt writes none and the log is empty)."""
    cfg = env.config
    state = getattr(cfg, "state_dir", None)
    return Path(state) / "audit.log" if state is not None else None


def instance(env: ProviderEnv, namespace: str) -> CIMInstance:
    P = fastinst.prop
    f = log_file(env)
    props = [
        P("InstanceID", INSTANCE_ID, "string"),
        P("Name", LOG_NAME, "string"),
        P("ElementName", "vrmgmt audit log", "string"),
        P(
            "Description",
            "Every state change attempted through CIM (user, client, operation, object, "
            "outcome) and every failed login",
            "string",
        ),
        P("MaxNumberOfRecords", Uint64(0), "uint64"),  # no limit: rotated on the host
        P("CurrentNumberOfRecords", Uint64(audit.count(f) if f else 0), "uint64"),
        P("OverwritePolicy", Uint16(OVERWRITE_NEVER), "uint16"),
        P("LogState", Uint16(LOG_STATE_NORMAL), "uint16"),
        P("EnabledState", Uint16(2), "uint16"),  # Enabled
        P("RequestedState", Uint16(12), "uint16"),  # Not Applicable
        P("EnabledDefault", Uint16(2), "uint16"),
        P("HealthState", Uint16(5), "uint16"),  # OK
        P("OperationalStatus", [Uint16(2)], "uint16", True),  # OK
    ]
    return fastinst.instance(CLASS, props, path(namespace))


def instances(env, namespace, paths=None, *, bulk=False) -> Iterator[CIMInstance]:
    if paths is not None:
        for p in paths:
            try:
                parse(p)
            except CIMError:
                if len(paths) == 1:
                    raise
                continue
            yield instance(env, namespace)
        return
    yield instance(env, namespace)


def paths(env: ProviderEnv, namespace: str) -> Iterator[CIMInstanceName]:
    yield path(namespace)


@METHODS.method("ClearLog", role="admin")
def clear_log(call: MethodCall):
    """Not supported: the audit trail is not erased through the interface it audits."""
    parse(call.instance_path)
    return Uint32(CLEAR_NOT_SUPPORTED), {}
