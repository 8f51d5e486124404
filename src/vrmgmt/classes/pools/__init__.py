"""Resource pools of each host (DSP1041 Resource Allocation 1.1, DSP1043 Allocation
Capabilities 1.0, DSP1044/1045/1047/1050 Resource Virtualization): one class per module."""
