"""vrmgmt: integrated management of heterogeneous virtual resources over DMTF CIM/WBEM."""

__version__ = "0.1.0"
BRAND = "vrmgmt"
