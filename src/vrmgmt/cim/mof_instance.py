"""Embedded instances written in MOF (DSP0221 instance declaration), e.g. what a user
types to sblim wbemcli, which sends the parameter text verbatim inside VALUE::

    instance of CIM_ResourceAllocationSettingData { ResourceType = 3; VirtualQuantity = 2; };

parsed with pywbem's MOF compiler against the host's classes (so values are typed by the
class's property declarations, unknown properties and classes are errors), into one
pywbem CIMInstance. The compiler gets a handle that serves classes and qualifier
declarations and records the instance; it creates nothing. Only a single instance
declaration is accepted: no #pragma (no include of files on the server), no class or
qualifier declarations. Errors are MofInstanceError with the compiler's message.
"""

from __future__ import annotations

import re
from collections.abc import Callable

import pywbem
from pywbem import BaseRepositoryConnection, CIMClass, CIMError, CIMInstance

_PRAGMA = re.compile(r"#\s*pragma", re.I)


class MofInstanceError(ValueError):
    """The text is not one valid MOF instance declaration (message says why)."""


def looks_like_mof(text: str) -> bool:
    """Text that is not CIM-XML (markup starts with "<") is taken as MOF."""
    return not text.lstrip().startswith("<")


class _Handle(BaseRepositoryConnection):
    """What the MOF compiler may ask: classes and qualifiers; instances are recorded."""

    def __init__(self, get_class: Callable[[str], CIMClass], namespace: str):
        self._get_class = get_class
        self._ns = namespace
        self.instances: list[CIMInstance] = []

    @property
    def default_namespace(self) -> str:
        return self._ns

    def GetClass(self, ClassName, *args, **kwargs):  # noqa: N802, N803 - pywbem's API
        return self._get_class(ClassName)

    def CreateInstance(self, NewInstance, *args, **kwargs):  # noqa: N802, N803
        self.instances.append(NewInstance)
        return NewInstance.path

    def GetQualifier(self, QualifierName, *args, **kwargs):  # noqa: N802, N803
        raise CIMError(pywbem.CIM_ERR_NOT_FOUND, f"qualifier {QualifierName} is not declared")

    def EnumerateQualifiers(self, *args, **kwargs):  # noqa: N802
        return []

    def EnumerateInstanceNames(self, *args, **kwargs):  # noqa: N802
        return []

    def _refuse(self, *args, **kwargs):
        raise CIMError(pywbem.CIM_ERR_NOT_SUPPORTED, "only an instance declaration is accepted")

    CreateClass = ModifyClass = DeleteClass = _refuse  # noqa: N815
    ModifyInstance = DeleteInstance = SetQualifier = DeleteQualifier = _refuse  # noqa: N815


def _reason(exc: pywbem.MOFCompileError) -> str:
    text = getattr(exc, "msg", None) or str(exc)
    return " ".join(str(text).split("\n")[0].split())


def parse_instance(text: str, get_class: Callable[[str], CIMClass], namespace: str) -> CIMInstance:
    """The one instance a MOF instance declaration describes, typed by its class."""
    if _PRAGMA.search(text):
        raise MofInstanceError("#pragma is not accepted in an embedded instance")
    handle = _Handle(get_class, namespace)
    logs: list[str] = []
    compiler = pywbem.MOFCompiler(handle, search_paths=[], verbose=False, log_func=logs.append)
    try:
        compiler.compile_string(text, namespace, filename="embedded instance")
    except pywbem.MOFCompileError as exc:
        raise MofInstanceError(_reason(exc)) from None
    except CIMError as exc:  # a declaration the handle refuses
        raise MofInstanceError(exc.status_description) from None
    if len(handle.instances) != 1:
        raise MofInstanceError(f"one instance declaration expected, found {len(handle.instances)}")
    inst = handle.instances[0]
    inst.path = None
    return inst
