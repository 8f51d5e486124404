"""The interop namespace: DSP1033 Profile Registration and the object manager's
discovery classes (DSP0200 / pywbem WBEMServer)."""
