"""The CIM classes vrmgmt serves, one module per class (DESIGN.md "Conventions"):
``<area>/<class>.py`` owns the class name, its paths (``path``/``parse``) and a bulk
instance builder; providers/ serve them through ``vrmgmt.cim.classprovider.serve``."""
