"""Console access classes (DSP1076 KVM Redirection 1.0.0, docs/console.md): each running
VM's displays as KVM redirection SAPs hosted by the VM."""
