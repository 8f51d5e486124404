"""DSP1053 Base Metrics 1.0.1 classes over the RRD trees (vrmgmt.metrics): definitions,
latest values, their associations to hosts and VMs, and each host's metric service."""
