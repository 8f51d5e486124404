"""Long-running work as CIM jobs: DSP1103 Job Control over vrmgmt.jobs."""
