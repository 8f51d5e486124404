"""The interop namespace: what pywbem's WBEMServer, pywbemcli (`server`, `namespace`,
`profile`) and other WBEM clients use to discover the server and its profiles.

Follows DSP1033 Profile Registration 1.0.0 (CIM_RegisteredProfile,
CIM_ElementConformsToProfile, CIM_ReferencedProfile) and the discovery classes of
DSP0200/DSP1054 servers (CIM_ObjectManager, CIM_Namespace, CIM_NamespaceInManager).

How pywbem 1.9 (pywbem/_server.py) discovers a server, and so what must answer:
- interop namespace: EnumerateInstanceNames(CIM_Namespace) in "interop",
  "root/interop", "root/PG_Interop" in turn; CIM_ERR_INVALID_NAMESPACE means "try the
  next", CIM_ERR_INVALID_CLASS / CIM_ERR_NOT_FOUND means "this one, without the class";
  the name kept is the probed name if a CIM_Namespace instance has it as Name.
- namespaces: EnumerateInstances(CIM_Namespace) in the interop namespace, property Name.
- brand/version: EnumerateInstances(CIM_ObjectManager) must return exactly one
  instance; brand = ElementName (unless it names Pegasus, SFCB, ...), version =
  re.match(r'^.* (?:version|release) *(.+)?$', Description) -> "vrmgmt version X".
- profiles: EnumerateInstances(CIM_RegisteredProfile); RegisteredOrganization is
  turned into text through the class's ValueMap/Values (2 = "DMTF").
- central instances (get_central_instances): the central class methodology first,
  AssociatorNames(profile path, AssocClass="CIM_ElementConformsToProfile",
  ResultRole="ManagedElement"); only if that answers CIM_ERR_NOT_SUPPORTED does it try
  the scoping class methodology (CIM_ReferencedProfile to the "Dependent" end, DMTF
  direction). vrmgmt implements the central class methodology for every profile, so
  no central/scoping class arguments are needed. GetCentralInstances (DSP1033 1.1) is
  not offered: it is tried only with try_gci_method=True, and CIM_ERR_METHOD_NOT_
  AVAILABLE makes pywbem go on.

Everything vrmgmt advertises is in PROFILES below (DESIGN.md: advertise only what
works). A later profile is one more row there, plus a CentralSource if its central
class is new.
"""

from __future__ import annotations

import socket
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

from pywbem import CIMError, CIMInstance, CIMInstanceName, CIMProperty, Uint16

from vrmgmt import __version__
from vrmgmt.cim import instances
from vrmgmt.cim.errors import describe, invalid_parameter, not_found
from vrmgmt.cim.provider import Provider, ProviderContext, ProviderEnv, keys_of
from vrmgmt.cim.virtual_system import vm_uuid_from_path
from vrmgmt.errors import VrmError

OBJECT_MANAGER_CLASS = "CIM_ObjectManager"
NAMESPACE_CLASS = "CIM_Namespace"
NAMESPACE_IN_MANAGER_CLASS = "CIM_NamespaceInManager"
PROFILE_CLASS = "VRM_RegisteredProfile"
CONFORMS_CLASS = "VRM_ElementConformsToProfile"
REFERENCED_CLASS = "VRM_ReferencedProfile"

#: The system that hosts the object manager (there is no instance of it: the hosting
#: machine is not modelled; DSP1033 needs only the keys).
SYSTEM_CREATION_CLASS = "CIM_ComputerSystem"
BRAND = "vrmgmt"
#: CIM_RegisteredSpecification.RegisteredOrganization: 2 = DMTF
ORG_DMTF = 2
#: CIM_RegisteredSpecification.AdvertiseTypes: 2 = Not Advertised (no SLP)
ADVERTISE_NOT_ADVERTISED = 2
#: CIM_RegisteredProfile.SpecificationType: 2 = Profile
SPEC_TYPE_PROFILE = 2
#: CIM_Namespace.ClassInfo 1 = Other (described in DescriptionOfClassInfo);
#: ClassType 2 = CIM
NS_CLASSINFO_OTHER = 1
NS_CLASSTYPE_CIM = 2
SCHEMA_VERSION = "2.49.0"


@dataclass(frozen=True)
class ProfileSpec:
    """One advertised profile: a VRM_RegisteredProfile instance."""

    name: str  # RegisteredName, exactly as the DMTF document spells it
    version: str  # RegisteredVersion
    document: str  # the DMTF document number
    central_class: str  # key into CENTRAL_SOURCES
    #: RegisteredNames of the (component) profiles this profile references
    #: (VRM_ReferencedProfile: Antecedent = referenced, Dependent = this one)
    references: tuple[str, ...] = ()
    organization: int = ORG_DMTF
    #: describes the CIMOM itself: advertised only when vrmgmt is the CIMOM
    #: (`vrmgmt serve`); under SFCB/OpenPegasus the broker advertises it.
    cimom_profile: bool = False

    @property
    def instance_id(self) -> str:
        return f"vrmgmt:{self.document}-{self.version}"


#: The profiles vrmgmt implements now (DESIGN.md "Advertise only what works").
PROFILES: tuple[ProfileSpec, ...] = (
    ProfileSpec(
        "Profile Registration",
        "1.0.0",
        "DSP1033",
        central_class=OBJECT_MANAGER_CLASS,
        cimom_profile=True,
    ),
    ProfileSpec(
        "System Virtualization",
        "1.0.0",
        "DSP1042",
        central_class=instances.HOST_CLASS,
        references=("Virtual System",),
    ),
    ProfileSpec("Virtual System", "1.0.0", "DSP1057", central_class=instances.VM_CLASS),
)


@dataclass(frozen=True)
class CentralSource:
    """How to list and recognise the central instances of a profile."""

    in_interop: bool  # lives in the interop namespace (else the implementation one)
    paths: Callable[[InteropModel], Iterable[CIMInstanceName]]
    exists: Callable[[InteropModel, CIMInstanceName], bool]
    instances: Callable[[InteropModel], Iterable[CIMInstance]]


def _vm_paths(m: InteropModel) -> Iterator[CIMInstanceName]:
    vms, _failures = m.env.inventory.list_vms()
    for vm in vms:
        yield instances.vm_path(vm.uuid, m.implementation_ns)


def _vm_exists(m: InteropModel, path: CIMInstanceName) -> bool:
    try:
        m.env.inventory.backend_of(vm_uuid_from_path(path))
    except (CIMError, VrmError):  # bad keys, unknown VM, unreachable backend
        return False
    return True


def _vm_instances(m: InteropModel) -> Iterator[CIMInstance]:
    inv = m.env.inventory
    vms, _failures = inv.list_vms()
    for vm in vms:
        mgr = inv.managers[vm.backend_id]
        yield instances.vm_instance(vm, m.implementation_ns, mgr.possible_actions(vm))


def _host_paths(m: InteropModel) -> Iterator[CIMInstanceName]:
    for bid in m.env.inventory.managers:
        yield instances.host_path(bid, m.implementation_ns)


def _host_exists(m: InteropModel, path: CIMInstanceName) -> bool:
    name = keys_of(path).get("name")
    ccn = keys_of(path).get("creationclassname")
    if ccn is not None and str(ccn).lower() != instances.HOST_CLASS.lower():
        return False
    return isinstance(name, str) and name in m.env.inventory.managers


def _host_instances(m: InteropModel) -> Iterator[CIMInstance]:
    for host in m.env.inventory.hosts():
        yield instances.host_instance(host, m.implementation_ns)


def _om_paths(m: InteropModel) -> list[CIMInstanceName]:
    return [m.object_manager_path()]


def _om_exists(m: InteropModel, path: CIMInstanceName) -> bool:
    return _same_keys(path, m.object_manager_path())


def _om_instances(m: InteropModel) -> list[CIMInstance]:
    return [m.object_manager()]


#: central class name (lower case) -> where its instances come from
CENTRAL_SOURCES: dict[str, CentralSource] = {
    OBJECT_MANAGER_CLASS.lower(): CentralSource(True, _om_paths, _om_exists, _om_instances),
    instances.HOST_CLASS.lower(): CentralSource(False, _host_paths, _host_exists, _host_instances),
    instances.VM_CLASS.lower(): CentralSource(False, _vm_paths, _vm_exists, _vm_instances),
}


def _same_keys(a: CIMInstanceName, b: CIMInstanceName) -> bool:
    if a.classname.lower() != b.classname.lower():
        return False
    ka, kb = keys_of(a), keys_of(b)
    if set(ka) != set(kb):
        return False
    return all(
        (str(ka[k]).lower() == str(kb[k]).lower() if k.endswith("classname") else ka[k] == kb[k])
        for k in ka
    )


def _norm_ns(ns: str | None) -> str:
    return (ns or "").strip("/").lower()


class InteropModel:
    """Builds every interop object; shared by the interop providers."""

    def __init__(self, env: ProviderEnv):
        self.env = env
        self.implementation_ns = env.namespace
        self.interop_ns = env.interop_namespace
        # Inside SFCB/OpenPegasus (the CMPI adapter sets extras["host"] = "cmpi") the
        # broker owns the object manager and advertises Profile Registration itself.
        self.embedded_cimom = env.extras.get("host") != "cmpi"
        self._hostname: str | None = None

    # -- the object manager and its namespaces ---------------------------------------
    @property
    def hostname(self) -> str:
        if self._hostname is None:
            self._hostname = self.env.extras.get("hostname") or socket.gethostname()
        return self._hostname

    @property
    def namespaces(self) -> list[str]:
        names = self.env.extras.get("namespaces") or (self.implementation_ns, self.interop_ns)
        out: list[str] = []
        for ns in names:
            if _norm_ns(ns) not in {_norm_ns(n) for n in out}:
                out.append(ns)
        return out

    def object_manager_path(self) -> CIMInstanceName:
        return CIMInstanceName(
            OBJECT_MANAGER_CLASS,
            keybindings={
                "SystemCreationClassName": SYSTEM_CREATION_CLASS,
                "SystemName": self.hostname,
                "CreationClassName": OBJECT_MANAGER_CLASS,
                "Name": f"{BRAND}:{self.hostname}",
            },
            namespace=self.interop_ns,
        )

    def object_manager(self) -> CIMInstance:
        path = self.object_manager_path()
        props = [CIMProperty(k, v) for k, v in path.keybindings.items()]
        props += [
            CIMProperty("ElementName", BRAND),
            CIMProperty("Caption", f"{BRAND} CIM object manager"),
            # pywbem takes the version from "... version X" in Description
            CIMProperty("Description", f"{BRAND} version {__version__}"),
            CIMProperty("Started", True),
            CIMProperty("EnabledState", Uint16(2)),  # Enabled
            CIMProperty("RequestedState", Uint16(12)),  # Not Applicable
            CIMProperty("EnabledDefault", Uint16(2)),  # Enabled
            CIMProperty("OperationalStatus", [Uint16(2)], type="uint16", is_array=True),  # OK
            CIMProperty("HealthState", Uint16(5)),  # OK
            CIMProperty("GatherStatisticalData", False),
        ]
        return CIMInstance(OBJECT_MANAGER_CLASS, properties=props, path=path)

    def namespace_path(self, name: str) -> CIMInstanceName:
        om = self.object_manager_path().keybindings
        return CIMInstanceName(
            NAMESPACE_CLASS,
            keybindings={
                "SystemCreationClassName": om["SystemCreationClassName"],
                "SystemName": om["SystemName"],
                "ObjectManagerCreationClassName": om["CreationClassName"],
                "ObjectManagerName": om["Name"],
                "CreationClassName": NAMESPACE_CLASS,
                "Name": name,
            },
            namespace=self.interop_ns,
        )

    def namespace_instance(self, name: str) -> CIMInstance:
        path = self.namespace_path(name)
        role = "interop" if _norm_ns(name) == _norm_ns(self.interop_ns) else "implementation"
        props = [CIMProperty(k, v) for k, v in path.keybindings.items()]
        props += [
            CIMProperty("ElementName", name),
            CIMProperty("Description", f"{BRAND} {role} namespace"),
            CIMProperty("ClassInfo", Uint16(NS_CLASSINFO_OTHER)),
            CIMProperty("DescriptionOfClassInfo", f"DMTF CIM Schema {SCHEMA_VERSION}"),
            CIMProperty("ClassType", Uint16(NS_CLASSTYPE_CIM)),
            CIMProperty("ClassTypeVersion", SCHEMA_VERSION),
        ]
        return CIMInstance(NAMESPACE_CLASS, properties=props, path=path)

    def namespace_in_manager(self, name: str, namespace: str) -> CIMInstance:
        ante, dep = self.object_manager_path(), self.namespace_path(name)
        return CIMInstance(
            NAMESPACE_IN_MANAGER_CLASS,
            properties=[
                CIMProperty(
                    "Antecedent", ante, type="reference", reference_class=OBJECT_MANAGER_CLASS
                ),
                CIMProperty("Dependent", dep, type="reference", reference_class=NAMESPACE_CLASS),
            ],
            path=CIMInstanceName(
                NAMESPACE_IN_MANAGER_CLASS,
                keybindings={"Antecedent": ante, "Dependent": dep},
                namespace=namespace,
            ),
        )

    # -- profiles ------------------------------------------------------------------------
    @property
    def profiles(self) -> list[ProfileSpec]:
        return [p for p in PROFILES if self.embedded_cimom or not p.cimom_profile]

    def profile_by_name(self, name: str) -> ProfileSpec | None:
        return next((p for p in self.profiles if p.name.lower() == name.lower()), None)

    def profile_path(self, spec: ProfileSpec) -> CIMInstanceName:
        return CIMInstanceName(
            PROFILE_CLASS, keybindings={"InstanceID": spec.instance_id}, namespace=self.interop_ns
        )

    def profile_instance(self, spec: ProfileSpec) -> CIMInstance:
        props = [
            CIMProperty("InstanceID", spec.instance_id),
            CIMProperty("RegisteredOrganization", Uint16(spec.organization)),
            CIMProperty("RegisteredName", spec.name),
            CIMProperty("RegisteredVersion", spec.version),
            CIMProperty("SpecificationType", Uint16(SPEC_TYPE_PROFILE)),
            CIMProperty(
                "AdvertiseTypes", [Uint16(ADVERTISE_NOT_ADVERTISED)], type="uint16", is_array=True
            ),
            CIMProperty("ElementName", spec.name),
            CIMProperty("Caption", f"{spec.name} {spec.version}"),
            CIMProperty("Description", f"DMTF {spec.document} {spec.name} Profile {spec.version}"),
        ]
        return CIMInstance(PROFILE_CLASS, properties=props, path=self.profile_path(spec))

    def profile_of_path(
        self, path: CIMInstanceName, namespace: str | None = None
    ) -> ProfileSpec | None:
        """The advertised profile a VRM_RegisteredProfile path names, if any.
        namespace: where the path is said to live (None: do not check)."""
        if path.classname.lower() != PROFILE_CLASS.lower():
            return None
        if namespace is not None and _norm_ns(namespace) != _norm_ns(self.interop_ns):
            return None
        iid = keys_of(path).get("instanceid")
        return next((p for p in self.profiles if p.instance_id == iid), None)

    def source(self, spec: ProfileSpec) -> CentralSource:
        return CENTRAL_SOURCES[spec.central_class.lower()]

    def central_paths(self, spec: ProfileSpec) -> Iterable[CIMInstanceName]:
        return self.source(spec).paths(self)

    def central_instances(self, spec: ProfileSpec) -> Iterable[CIMInstance]:
        return self.source(spec).instances(self)

    def is_central(
        self, spec: ProfileSpec, path: CIMInstanceName, namespace: str | None = None
    ) -> bool:
        """Whether path names an existing central instance of spec. namespace: where
        the path is said to live (None: do not check)."""
        if path.classname.lower() != spec.central_class.lower():
            return False
        src = self.source(spec)
        if namespace is not None:
            home = self.interop_ns if src.in_interop else self.implementation_ns
            if _norm_ns(namespace) != _norm_ns(home):
                return False
        return src.exists(self, path)

    def conforms(self, spec: ProfileSpec, element: CIMInstanceName, namespace: str) -> CIMInstance:
        """One VRM_ElementConformsToProfile instance (its path in `namespace`)."""
        profile = self.profile_path(spec)
        return CIMInstance(
            CONFORMS_CLASS,
            properties=[
                CIMProperty(
                    "ConformantStandard", profile, type="reference", reference_class=PROFILE_CLASS
                ),
                CIMProperty(
                    "ManagedElement",
                    element,
                    type="reference",
                    reference_class=element.classname,
                ),
            ],
            path=CIMInstanceName(
                CONFORMS_CLASS,
                keybindings={"ConformantStandard": profile, "ManagedElement": element},
                namespace=namespace,
            ),
        )

    def referenced(self, spec: ProfileSpec, component: ProfileSpec, namespace: str) -> CIMInstance:
        """VRM_ReferencedProfile: Antecedent = the referenced (component) profile,
        Dependent = the referencing one (CIM_ReferencedProfile descriptions, DSP1033)."""
        ante, dep = self.profile_path(component), self.profile_path(spec)
        return CIMInstance(
            REFERENCED_CLASS,
            properties=[
                CIMProperty("Antecedent", ante, type="reference", reference_class=PROFILE_CLASS),
                CIMProperty("Dependent", dep, type="reference", reference_class=PROFILE_CLASS),
            ],
            path=CIMInstanceName(
                REFERENCED_CLASS,
                keybindings={"Antecedent": ante, "Dependent": dep},
                namespace=namespace,
            ),
        )


# -- providers ---------------------------------------------------------------------------
class _InteropProvider(Provider):
    """Base of the interop providers: they all answer from one InteropModel."""

    def __init__(self, env: ProviderEnv, model: InteropModel):
        super().__init__(env)
        self.model = model


class ObjectManagerProvider(_InteropProvider):
    """CIM_ObjectManager: exactly one, vrmgmt itself."""

    def enum_instances(self, ctx, class_name, property_list) -> Iterator[CIMInstance]:
        yield self.model.object_manager()


class NamespaceProvider(_InteropProvider):
    """CIM_Namespace: one per namespace of the server."""

    def enum_instances(self, ctx, class_name, property_list) -> Iterator[CIMInstance]:
        for ns in self.model.namespaces:
            yield self.model.namespace_instance(ns)


class NamespaceInManagerProvider(_InteropProvider):
    """CIM_NamespaceInManager: the object manager (Antecedent) hosts each namespace."""

    def enum_instances(self, ctx, class_name, property_list) -> Iterator[CIMInstance]:
        for ns in self.model.namespaces:
            yield self.model.namespace_in_manager(ns, ctx.namespace)


class RegisteredProfileProvider(_InteropProvider):
    """VRM_RegisteredProfile: one per row of PROFILES."""

    def enum_instances(self, ctx, class_name, property_list) -> Iterator[CIMInstance]:
        for spec in self.model.profiles:
            yield self.model.profile_instance(spec)

    def get_instance(self, ctx, instance_name, property_list) -> CIMInstance:
        spec = self.model.profile_of_path(instance_name)
        if spec is None:
            raise not_found(f"no registered profile {describe(instance_name)}")
        return self.model.profile_instance(spec)


class ReferencedProfileProvider(_InteropProvider):
    """VRM_ReferencedProfile: autonomous profile (Dependent) -> component (Antecedent)."""

    def enum_instances(self, ctx, class_name, property_list) -> Iterator[CIMInstance]:
        m = self.model
        for spec in m.profiles:
            for name in spec.references:
                component = m.profile_by_name(name)
                if component is not None:
                    yield m.referenced(spec, component, ctx.namespace)


class ElementConformsToProfileProvider(_InteropProvider):
    """VRM_ElementConformsToProfile: each profile -> its central instances, which may
    live in another namespace (VMs and hosts are in root/virt). Served in the interop
    namespace (profile -> elements, pywbem's central class methodology) and in the
    implementation namespace (element -> its profiles)."""

    def enum_instances(self, ctx, class_name, property_list) -> Iterator[CIMInstance]:
        m = self.model
        for spec in m.profiles:
            for path in m.central_paths(spec):
                yield m.conforms(spec, path, ctx.namespace)

    def get_instance(self, ctx, instance_name, property_list) -> CIMInstance:
        kb = keys_of(instance_name)
        std, elem = kb.get("conformantstandard"), kb.get("managedelement")
        if not isinstance(std, CIMInstanceName) or not isinstance(elem, CIMInstanceName):
            raise invalid_parameter(
                f"{CONFORMS_CLASS} path needs ConformantStandard and ManagedElement references"
            )
        spec = self.model.profile_of_path(std)
        if spec is None or not self.model.is_central(spec, elem):
            raise not_found(f"no instance {describe(instance_name)}")
        return self.model.conforms(spec, self._element_path(spec, elem), ctx.namespace)

    def _element_path(self, spec: ProfileSpec, elem: CIMInstanceName) -> CIMInstanceName:
        """elem with the namespace its instances live in."""
        if elem.namespace is not None:
            return elem
        m = self.model
        elem = elem.copy()
        elem.namespace = m.interop_ns if m.source(spec).in_interop else m.implementation_ns
        return elem

    def _pairs(
        self, ctx: ProviderContext, obj: CIMInstanceName, role: str | None
    ) -> Iterator[tuple[ProfileSpec, CIMInstanceName | None]]:
        """(profile, None) when obj is that profile (the far ends are its central
        instances); (profile, obj) when obj is a central instance of it."""
        m = self.model
        role_l = (role or "").lower()
        if role_l in ("", "conformantstandard"):
            spec = m.profile_of_path(obj, ctx.namespace)
            if spec is not None:
                yield spec, None
        if role_l in ("", "managedelement"):
            for spec in m.profiles:
                if m.is_central(spec, obj, ctx.namespace):
                    yield spec, obj

    def references(self, ctx, assoc_class, object_name, role, property_list):
        m = self.model
        for spec, elem in self._pairs(ctx, object_name, role):
            if elem is None:
                for path in m.central_paths(spec):
                    yield m.conforms(spec, path, ctx.namespace)
            else:
                yield m.conforms(spec, elem, ctx.namespace)

    def associator_names(self, ctx, assoc_class, object_name, result_class, role, result_role):
        yield from self._associated(ctx, object_name, result_class, role, result_role, True)

    def associators(
        self, ctx, assoc_class, object_name, result_class, role, result_role, property_list
    ):
        """Built directly (one backend call for all VMs) rather than one GetInstance
        per central instance."""
        yield from self._associated(ctx, object_name, result_class, role, result_role, False)

    def _associated(self, ctx, obj, result_class, role, result_role, names_only):
        m = self.model
        rr = (result_role or "").lower()
        for spec, elem in self._pairs(ctx, obj, role):
            if elem is None:  # profile -> its central instances
                if rr not in ("", "managedelement"):
                    continue
                if result_class and not ctx.is_subclass(spec.central_class, result_class):
                    continue
                if names_only:
                    yield from m.central_paths(spec)
                else:
                    yield from m.central_instances(spec)
            else:  # central instance -> its profile
                if rr not in ("", "conformantstandard"):
                    continue
                if result_class and not ctx.is_subclass(PROFILE_CLASS, result_class):
                    continue
                yield m.profile_path(spec) if names_only else m.profile_instance(spec)


def get_providers(env: ProviderEnv) -> dict[str, Provider]:
    """All interop providers, sharing one model (used by providers/InteropProvider.py)."""
    model = InteropModel(env)
    return {
        OBJECT_MANAGER_CLASS: ObjectManagerProvider(env, model),
        NAMESPACE_CLASS: NamespaceProvider(env, model),
        NAMESPACE_IN_MANAGER_CLASS: NamespaceInManagerProvider(env, model),
        PROFILE_CLASS: RegisteredProfileProvider(env, model),
        REFERENCED_CLASS: ReferencedProfileProvider(env, model),
        CONFORMS_CLASS: ElementConformsToProfileProvider(env, model),
    }
