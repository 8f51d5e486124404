"""Administrator-defined groups of hosts and VMs (issue 12; CIM Schema 2.49 collections)."""
