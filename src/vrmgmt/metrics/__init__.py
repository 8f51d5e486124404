"""Metrics history (DESIGN.md "Metrics"): collectd writes RRD trees, vrmgmt reads them.

- rrd.py: the RRD tree reader (latest values, history arrays) keyed by backend id and VM
  UUID, with unit conversion to what users read;
- graphs.py: PNG graphs per metric family and time range, in memory;
- collectd.py: the collectd.conf generator (`vrmgmt collectd-config`) and the managed
  collectd child of `vrmgmt serve`.

The CIM side (DSP1053 Base Metrics 1.0.1) is in vrmgmt.classes.metrics.
"""
