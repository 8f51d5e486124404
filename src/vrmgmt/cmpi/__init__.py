"""Hosting vrmgmt's providers in OpenPegasus or SFCB through cmpi-bindings.

cmpi-bindings' ``libpy3CmpiProvider.so`` embeds Python, imports the top-level module
``cmpi_pywbem_bindings`` (src/cmpi_pywbem_bindings.py, a thin shim) and calls
``get_cmpi_proxy_provider(miname, broker, ctx)``; the returned proxy
(vrmgmt.cmpi.proxy.CMPIProxyProvider) receives the CMPI calls and drives the same
Provider objects the embedded server uses. See docs/cmpi.md.

Modules: convert (CMPI <-> pywbem objects), status ((rc, msg) answers), proxy (the entry
points), indications (delivering indications under CMPI's thread rules), register
(``vrmgmt register --cimom sfcb|pegasus``).
"""

from vrmgmt.cmpi.indications import IndicationSender
from vrmgmt.cmpi.proxy import CMPIProxyProvider, get_cmpi_proxy_provider, reset

__all__ = ["CMPIProxyProvider", "IndicationSender", "get_cmpi_proxy_provider", "reset"]
