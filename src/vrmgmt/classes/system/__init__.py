"""Hosts and virtual systems: DSP1042 System Virtualization, DSP1057 Virtual System."""
