"""vrmgmt's audit trail (vrmgmt.audit, <state>/audit.log) as a DSP1010 record log."""
