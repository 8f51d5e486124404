"""VRM_LogEntry: one record of vrmgmt's audit log (DSP1010 Record Log Profile §7.5-7.6;
CIM_LogEntry of CIM Schema 2.49), read from <state>/audit.log (vrmgmt.audit).

InstanceID ``vrmgmt:audit:<offset>`` and RecordID ``<offset>`` name the byte offset of
the record's line: the log is append-only, so a record keeps its name and a larger
RecordID is newer. An enumeration yields the newest record first and reads the file
backwards only as far as the client pulls (a pull operation with MaxObjectCount 50
reads the last blocks of a large log, not all of it). Reading records needs the admin
role (READ_ROLE; docs/audit.md): they name users, client addresses and parameters.
"""

from __future__ import annotations

import datetime as _dt
import json
from collections.abc import Iterator
from typing import Any

from pywbem import CIMDateTime, CIMError, CIMInstance, CIMInstanceName, Uint16

from vrmgmt import audit, roles
from vrmgmt.cim import fastinst
from vrmgmt.cim import paths as cim_paths
from vrmgmt.cim.errors import not_found
from vrmgmt.cim.provider import ProviderEnv
from vrmgmt.classes.audit import record_log

CLASS = "VRM_LogEntry"
PREFIX = record_log.INSTANCE_ID + ":"
#: who may read the records (vrmgmt.cim.classprovider checks it on every read)
READ_ROLE = roles.ADMIN
MESSAGE_ID = "VRM.AUDIT"
RECORD_FORMAT = "JSON object: time, user, client, action, target, outcome[, params]"
#: CIM_RecordForLog.PerceivedSeverity: 2 Information, 3 Degraded/Warning
SEV_INFO, SEV_WARNING = 2, 3


def path(offset: int, namespace: str | None) -> CIMInstanceName:
    return fastinst.path(CLASS, {"InstanceID": f"{PREFIX}{offset}"}, namespace)


def parse(p: CIMInstanceName) -> int:
    """The byte offset a VRM_LogEntry path names (CIM_ERR_NOT_FOUND for a foreign one)."""
    iid = cim_paths.keys_of(p).get("instanceid")
    if isinstance(iid, str) and iid.startswith(PREFIX) and iid[len(PREFIX) :].isdigit():
        return int(iid[len(PREFIX) :])
    raise not_found(f"no audit record {iid!r} (their InstanceIDs are {PREFIX}<number>)")


def _when(text: Any) -> CIMDateTime | None:
    if not isinstance(text, str):
        return None
    try:
        return CIMDateTime(_dt.datetime.strptime(text, "%Y-%m-%dT%H:%M:%S%z"))
    except ValueError:
        return None


def _severity(outcome: str) -> int:
    ok = outcome in ("attempted", "completed") or outcome.startswith("completed")
    return SEV_INFO if ok else SEV_WARNING


def instance(offset: int, rec: dict[str, Any], namespace: str) -> CIMInstance:
    P = fastinst.prop
    args = [str(rec.get(k) or "") for k in ("user", "client", "action", "target", "outcome")]
    user, client, action, target, outcome = args
    message = f"{action} by {user or '-'} from {client or '-'} on {target or '-'}: {outcome}"
    props = [
        P("InstanceID", f"{PREFIX}{offset}", "string"),
        P("LogInstanceID", record_log.INSTANCE_ID, "string"),
        P("LogName", record_log.LOG_NAME, "string"),
        P("RecordID", str(offset), "string"),
        P("CreationTimeStamp", _when(rec.get("time")), "datetime"),
        P("MessageID", MESSAGE_ID, "string"),
        P("Message", message, "string"),
        P("MessageArguments", args, "string", True),
        P("OwningEntity", "vrmgmt", "string"),
        P("RecordFormat", RECORD_FORMAT, "string"),
        P("RecordData", json.dumps(rec, ensure_ascii=False), "string"),
        P("PerceivedSeverity", Uint16(_severity(outcome)), "uint16"),
        P("ElementName", action, "string"),
    ]
    return fastinst.instance(CLASS, props, path(offset, namespace))


def instances(env, namespace, paths=None, *, bulk=False) -> Iterator[CIMInstance]:
    f = record_log.log_file(env)
    if paths is None:
        if f is not None:
            for offset, rec in audit.newest_first(f):
                yield instance(offset, rec, namespace)
        return
    for p in paths:
        try:
            offset = parse(p)
        except CIMError:
            if len(paths) == 1:
                raise
            continue
        rec = audit.read_at(f, offset) if f is not None else None
        if rec is not None:
            yield instance(offset, rec, namespace)
        elif len(paths) == 1:
            raise not_found(f"no audit record at {offset}")


def paths(env: ProviderEnv, namespace: str) -> Iterator[CIMInstanceName]:
    f = record_log.log_file(env)
    if f is not None:
        for offset, _rec in audit.newest_first(f):
            yield path(offset, namespace)
