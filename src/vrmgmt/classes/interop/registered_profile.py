"""VRM_RegisteredProfile: one per profile vrmgmt implements (DSP1033 Profile
Registration 1.0.0 §7.1; DESIGN.md "advertise only what works").

PROFILES is the table of what is advertised: a later profile is one more row, naming
the class module of its central class (DSP1033 §8.2 central class methodology: pywbem's
get_central_instances asks AssociatorNames(profile, CIM_ElementConformsToProfile,
ResultRole="ManagedElement") and falls back to the scoping class methodology only on
CIM_ERR_NOT_SUPPORTED).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from types import ModuleType, SimpleNamespace

from pywbem import CIMInstance, CIMInstanceName, CIMProperty, Uint16

from vrmgmt.cim import paths as cim_paths
from vrmgmt.cim.errors import describe, not_found
from vrmgmt.cim.provider import ProviderEnv
from vrmgmt.classes.audit import record_log
from vrmgmt.classes.console import kvm_redirection_sap
from vrmgmt.classes.interop import indication_service, namespace, object_manager
from vrmgmt.classes.metrics import base_metric_definition
from vrmgmt.classes.migration import virtual_system_migration_service
from vrmgmt.classes.pools import allocation_capabilities, resource_pool
from vrmgmt.classes.snapshots import virtual_system_snapshot_service
from vrmgmt.classes.system import computer_system, host_system

CLASS = "VRM_RegisteredProfile"
#: CIM_RegisteredSpecification.RegisteredOrganization: 2 = DMTF
ORG_DMTF = 2
#: CIM_RegisteredSpecification.AdvertiseTypes: 2 = Not Advertised (no SLP)
ADVERTISE_NOT_ADVERTISED = 2
#: CIM_RegisteredProfile.SpecificationType: 2 = Profile
SPEC_TYPE_PROFILE = 2


@dataclass(frozen=True)
class ProfileSpec:
    """One advertised profile."""

    name: str  # RegisteredName, exactly as the DMTF document spells it
    version: str  # RegisteredVersion
    document: str  # the DMTF document number
    #: the class module of the central class: CLASS, paths(env, ns),
    #: instances(env, ns), exists(env, path) (or an object with those: a subset of a
    #: class's instances, e.g. resource_pool.central(kind))
    central: ModuleType | SimpleNamespace
    #: RegisteredNames of the (component) profiles this profile references
    #: (VRM_ReferencedProfile: Antecedent = referenced, Dependent = this one)
    references: tuple[str, ...] = ()
    organization: int = ORG_DMTF
    #: describes the CIMOM itself: advertised only when vrmgmt is the CIMOM
    #: (`vrmgmt serve`); under SFCB/OpenPegasus the broker advertises it.
    cimom_profile: bool = False
    #: the central instances live in the interop namespace (else the implementation one)
    central_in_interop: bool = False

    @property
    def instance_id(self) -> str:
        return f"vrmgmt:{self.document}-{self.version}"

    @property
    def central_class(self) -> str:
        return self.central.CLASS


#: the pool profiles System Virtualization references (DSP1042 §5: its components)
POOL_PROFILES = (
    "Resource Allocation",
    "Allocation Capabilities",
    "Processor Resource Virtualization",
    "Memory Resource Virtualization",
    "Storage Resource Virtualization",
    "Ethernet Port Resource Virtualization",
)

PROFILES: tuple[ProfileSpec, ...] = (
    ProfileSpec(
        "Profile Registration",
        "1.0.0",
        "DSP1033",
        central=object_manager,
        cimom_profile=True,
        central_in_interop=True,
    ),
    ProfileSpec(
        "System Virtualization",
        "1.0.0",
        "DSP1042",
        central=host_system,
        references=(
            "Virtual System",
            "Virtual System Snapshot Service",
            "Virtual System Migration",
            *POOL_PROFILES,
        ),
    ),
    ProfileSpec(
        "Virtual System",
        "1.0.0",
        "DSP1057",
        central=computer_system,
        references=("KVM Redirection",),
    ),
    ProfileSpec("KVM Redirection", "1.0.0", "DSP1076", central=kvm_redirection_sap),
    # (DSP1105 as libvirt-cim's tests name it; docs/snapshots.md says what was checked)
    ProfileSpec(
        "Virtual System Snapshot Service",
        "1.0.0",
        "DSP1105",
        central=virtual_system_snapshot_service,
    ),
    # every host's migration service (vrmgmt.classes.migration; docs/migration.md)
    ProfileSpec(
        "Virtual System Migration",
        "1.0.0",
        "DSP1081",
        central=virtual_system_migration_service,
    ),
    # resource pools (vrmgmt.classes.pools): components of System Virtualization; the
    # Resource Virtualization profiles' central instances are the pools of their type
    ProfileSpec("Resource Allocation", "1.1.0", "DSP1041", central=resource_pool),
    ProfileSpec("Allocation Capabilities", "1.0.0", "DSP1043", central=allocation_capabilities),
    ProfileSpec(
        "Processor Resource Virtualization", "1.0.0", "DSP1044", resource_pool.central("proc")
    ),
    ProfileSpec("Memory Resource Virtualization", "1.0.0", "DSP1045", resource_pool.central("mem")),
    ProfileSpec(
        "Storage Resource Virtualization", "1.0.0", "DSP1047", resource_pool.central("disk")
    ),
    ProfileSpec(
        "Ethernet Port Resource Virtualization", "1.0.0", "DSP1050", resource_pool.central("net")
    ),
    ProfileSpec("Base Metrics", "1.0.1", "DSP1053", central=base_metric_definition),
    # the audit trail (vrmgmt.classes.audit; docs/audit.md)
    ProfileSpec("Record Log", "2.0.0", "DSP1010", central=record_log),
    ProfileSpec(
        "Indications",
        "1.2.0",
        "DSP1054",
        central=indication_service,
        cimom_profile=True,
        central_in_interop=True,
    ),
)


def advertised(env: ProviderEnv) -> list[ProfileSpec]:
    """The profiles this host advertises (the CIMOM's own only when vrmgmt is it)."""
    return [p for p in PROFILES if env.cimom != "cmpi" or not p.cimom_profile]


def by_name(env: ProviderEnv, name: str) -> ProfileSpec | None:
    return next((p for p in advertised(env) if p.name.lower() == name.lower()), None)


def path(env: ProviderEnv, spec: ProfileSpec) -> CIMInstanceName:
    return CIMInstanceName(
        CLASS, keybindings={"InstanceID": spec.instance_id}, namespace=env.interop_namespace
    )


def parse(
    env: ProviderEnv, p: CIMInstanceName, namespace_: str | None = None
) -> ProfileSpec | None:
    """The advertised profile a VRM_RegisteredProfile path names, if any. namespace_:
    where the path is said to live (None: do not check)."""
    if p.classname.lower() != CLASS.lower():
        return None
    if namespace_ is not None and namespace.norm(namespace_) != namespace.norm(
        env.interop_namespace
    ):
        return None
    iid = cim_paths.keys_of(p).get("instanceid")
    return next((s for s in advertised(env) if s.instance_id == iid), None)


def instance(env: ProviderEnv, spec: ProfileSpec) -> CIMInstance:
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
    return CIMInstance(CLASS, properties=props, path=path(env, spec))


def central_namespace(env: ProviderEnv, spec: ProfileSpec) -> str:
    return env.interop_namespace if spec.central_in_interop else env.namespace


def is_central(
    env: ProviderEnv, spec: ProfileSpec, p: CIMInstanceName, namespace_: str | None = None
) -> bool:
    """Whether p names an existing central instance of spec. namespace_: where the
    path is said to live (None: do not check)."""
    if p.classname.lower() != spec.central_class.lower():
        return False
    if namespace_ is not None and namespace.norm(namespace_) != namespace.norm(
        central_namespace(env, spec)
    ):
        return False
    return spec.central.exists(env, p)


def paths(env: ProviderEnv, namespace_: str) -> Iterator[CIMInstanceName]:
    for spec in advertised(env):
        yield path(env, spec)


def instances(env, namespace_, paths=None, *, bulk=False) -> Iterator[CIMInstance]:
    if paths is None:
        for spec in advertised(env):
            yield instance(env, spec)
        return
    for p in paths:
        spec = parse(env, p)
        if spec is not None:
            yield instance(env, spec)
        elif len(paths) == 1:
            raise not_found(f"no registered profile {describe(p)}")
