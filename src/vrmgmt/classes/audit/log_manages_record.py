"""VRM_LogManagesRecord: the audit log and each of its records (DSP1010 Record Log
Profile §7.5; CIM_LogManagesRecord of CIM Schema 2.49). From the log, the records come
newest first, as VRM_LogEntry enumerates them; needs the admin role like the records."""

from __future__ import annotations

from pywbem import CIMError

from vrmgmt import audit, roles
from vrmgmt.cim.association import Association, End
from vrmgmt.cim.classprovider import check_read_role
from vrmgmt.classes.audit import log_entry, record_log

CLASS = "VRM_LogManagesRecord"
READ_ROLE = roles.ADMIN


class LogManagesRecord(Association):
    class_name = CLASS
    ends = (End("Log", record_log), End("Record", log_entry))

    def far(self, ctx, near, path):
        check_read_role(ctx, READ_ROLE, CLASS)
        ns = ctx.namespace
        if near.role == "Log":
            try:
                record_log.parse(path)
            except CIMError:
                return []
            return log_entry.paths(self.env, ns)
        try:
            offset = log_entry.parse(path)
        except CIMError:
            return []
        f = record_log.log_file(self.env)
        if f is None or audit.read_at(f, offset) is None:
            return []
        return [record_log.path(ns)]


provider = LogManagesRecord
