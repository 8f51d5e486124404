"""Virtualization classes (DSP1042 System Virtualization, DSP1057 Virtual System,
DSP1041 Resource Allocation): the settings of each VM, and the virtual system
management service that defines, changes and destroys VMs."""
