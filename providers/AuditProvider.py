"""AuditProvider: VRM_RecordLog, VRM_LogEntry, VRM_LogManagesRecord and VRM_UseOfLog
(DSP1010 Record Log): vrmgmt's audit trail. Thin: the classes are in
vrmgmt.classes.audit."""

from vrmgmt.cim.classprovider import serve
from vrmgmt.classes.audit import log_entry, log_manages_record, record_log, use_of_log


def get_providers(env):
    return serve(env, record_log, log_entry, log_manages_record, use_of_log)
