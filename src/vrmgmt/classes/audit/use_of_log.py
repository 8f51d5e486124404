"""VRM_UseOfLog: the audit log and each host whose changes (and its VMs') it records
(DSP1010 Record Log Profile §7.3; CIM_UseOfLog of CIM Schema 2.49): from a host page,
the log is one association away."""

from __future__ import annotations

from pywbem import CIMError

from vrmgmt.cim.association import Association, End
from vrmgmt.classes.audit import record_log
from vrmgmt.classes.system import host_system as host

CLASS = "VRM_UseOfLog"


class UseOfLog(Association):
    class_name = CLASS
    ends = (End("Antecedent", record_log), End("Dependent", host))

    def far(self, ctx, near, path):
        ns = ctx.namespace
        if near.role == "Antecedent":
            try:
                record_log.parse(path)
            except CIMError:
                return []
            return list(host.paths(self.env, ns))
        return [record_log.path(ns)] if host.exists(self.env, path) else []


provider = UseOfLog
