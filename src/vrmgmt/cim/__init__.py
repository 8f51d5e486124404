"""CIM layer shared by providers and hosts: Provider base, context, errors, value maps."""

from vrmgmt.cim.provider import MethodResult, Provider, ProviderContext, ProviderEnv

__all__ = ["MethodResult", "Provider", "ProviderContext", "ProviderEnv"]
