"""What ties a class's five places together (docs/adding-a-class.md): its MOF, its stanza
in registration/vrmgmt.reg, its class module, the line in its provider module and its
test. Each check fails on a single slip: a class registered but not in the MOF, a reg type
that disagrees with the MOF (Association qualifier, methods), a class its provider module
does not serve, a property a provider returns that the MOF does not declare, a method in a
class's table the MOF does not have, a "VRM_…" class name written outside its own module,
or a class without a test under tests/classes/."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import cmpi_testkit as kit
import pytest

from support import rrdsynth
from support.cache import cache_dir
from vrmgmt.audit import AuditLog
from vrmgmt.cim.association import Association
from vrmgmt.cim.classprovider import ClassProvider
from vrmgmt.cim.loader import ProviderTable, default_registration_file
from vrmgmt.cim.methods import MethodCall
from vrmgmt.cim.provider import ProviderContext, ProviderEnv
from vrmgmt.classes.jobs import concrete_job
from vrmgmt.classes.system import computer_system
from vrmgmt.config import BackendConfig, Config
from vrmgmt.errors import VrmError
from vrmgmt.inventory import Inventory
from vrmgmt.jobs import JobStore
from vrmgmt.registration import load_registration
from vrmgmt.server.indications.service import IndicationService
from vrmgmt.server.indications.subscriptions import SubscriptionStore
from vrmgmt.server.repository import ClassRepository, load_classes

PROJECT = Path(__file__).resolve().parents[1]
REGS = load_registration(default_registration_file())
#: classes served with instances (indication classes are only delivered, never enumerated)
INSTANCE_REGS = [r for r in REGS if r.types != ("indication",)]
INDICATION_REGS = [r for r in REGS if r.types == ("indication",)]


@pytest.fixture(scope="module")
def repo() -> ClassRepository:
    return ClassRepository(load_classes(PROJECT / "mof", None, cache_dir() / "schema"))


@pytest.fixture(scope="module")
def table(tmp_path_factory):
    node = kit.write_node_xml(tmp_path_factory.mktemp("consistency") / "node.xml")
    inv = Inventory.from_config(
        [BackendConfig(id=kit.BACKEND, type="libvirt", options={"uri": f"test://{node}"})]
    )
    jobs = JobStore(tmp_path_factory.mktemp("jobs"))
    cfg = Config(state_dir=tmp_path_factory.mktemp("state"))  # the group store lives there
    env = ProviderEnv(
        inventory=inv, config=cfg, namespaces=["root/virt", "root/interop"], jobs=jobs
    )
    # RRD history for alpha and the host (default root <state_dir>/rrd), so the metric
    # value classes have instances
    rrdsynth.vm_tree(cfg.rrd_roots[0], kit.BACKEND, kit.VMS["alpha"][0])
    rrdsynth.host_tree(cfg.rrd_roots[0], kit.BACKEND)
    # one filter, destination and subscription, so the subscription classes have instances
    store = SubscriptionStore(cfg.state_dir)
    env.indication_service = IndicationService(store, lambda sub, sup: sub == sup)
    keys = {"SystemCreationClassName": "CIM_ComputerSystem", "SystemName": "here"}
    store.add(
        "filters",
        {
            "CreationClassName": "CIM_IndicationFilter",
            "Name": "f",
            **keys,
            "Query": "SELECT * FROM CIM_InstCreation",
            "QueryLanguage": "WQL",
        },
    )
    store.add(
        "destinations",
        {
            "CreationClassName": "CIM_ListenerDestinationCIMXML",
            "Name": "d",
            **keys,
            "Destination": "http://127.0.0.1:9",
        },
    )
    store.add(
        "subscriptions",
        {
            "Filter": ["cim_indicationfilter", "f"],
            "Handler": ["cim_listenerdestinationcimxml", "d"],
            "SubscriptionStartTime": "20261202000000.000000+000",
            "TimeOfLastStateChange": "20261202000000.000000+000",
        },
    )
    # a finished and a failed job, so the job classes have instances to check
    vm = computer_system.path(kit.VMS["alpha"][0], "root/virt")
    call = MethodCall(env, ProviderContext(namespace="root/virt"), vm, "RequestStateChange")
    for fn in (lambda progress: {"ok": True}, _fail):
        _, out = concrete_job.start(call, fn, name="consistency", description="", affected=[vm])
        jobs.wait(concrete_job.parse(out["Job"]), 10)
    # two audit records (the audit log's writer), so the record log classes have instances
    log = AuditLog(cfg.state_dir / "audit.log")
    for outcome in ("attempted", "completed"):
        log(user="admin", client="127.0.0.1", action="Act", target="x", outcome=outcome)
    yield ProviderTable(env, REGS)
    jobs.close()
    env.indication_service.close()
    inv.close()


def _fail(progress):
    raise VrmError("this job fails on purpose")


@pytest.mark.parametrize("reg", REGS, ids=[r.class_name for r in REGS])
def test_registration_matches_the_mof(reg, repo):
    assert repo.has_class(reg.class_name), f"{reg.class_name} is registered but not in mof/"
    cls = repo.get_class(reg.class_name)
    is_assoc = bool(cls.qualifiers.get("Association") and cls.qualifiers["Association"].value)
    assert is_assoc == ("association" in reg.types), (
        f"{reg.class_name}: MOF Association={is_assoc}, registration types {reg.types}"
    )


@pytest.mark.parametrize("reg", INSTANCE_REGS, ids=[r.class_name for r in INSTANCE_REGS])
def test_served_by_its_provider_module_with_declared_methods(reg, repo, table):
    ns = reg.namespaces[0]
    prov = table.get(reg.class_name, ns)
    assert prov is not None
    if isinstance(prov, Association):
        assert prov.class_name == reg.class_name
        for end in prov.ends:
            ref = repo.get_class(reg.class_name).properties.get(end.role)
            assert ref is not None and ref.type == "reference", (reg.class_name, end.role)
            assert repo.is_subclass(end.class_name, ref.reference_class), (end, ref)
        assert "method" not in reg.types
        return
    assert isinstance(prov, ClassProvider), f"{reg.class_name}: {prov!r} is not a class module"
    assert prov.class_name == reg.class_name
    table_ = prov.methods
    declared = {m.lower() for m in repo.get_class(reg.class_name).methods}
    if table_ is None:
        assert "method" not in reg.types, f"{reg.class_name} registered as method without METHODS"
        return
    assert "method" in reg.types, f"{reg.class_name} has METHODS; registration lacks 'method'"
    for m in table_:
        assert m.name.lower() in declared, f"{reg.class_name}.{m.name} is not in the MOF"


@pytest.mark.parametrize("reg", INDICATION_REGS, ids=[r.class_name for r in INDICATION_REGS])
def test_indication_registration_is_an_indication_provider(reg, repo, table):
    assert repo.is_subclass(reg.class_name, "CIM_Indication"), reg.class_name
    prov = table.get(reg.class_name, reg.namespaces[0])
    for hook in ("activate_filter", "deactivate_filter", "enable_indications"):
        assert callable(getattr(prov, hook, None)), f"{reg.class_name}: {prov!r} lacks {hook}"
    ctx = ProviderContext(namespace=reg.namespaces[0])
    assert list(prov.enum_instances(ctx, reg.class_name, None)) == []  # events, no instances
    assert list(prov.enum_instance_names(ctx, reg.class_name)) == []


@pytest.mark.parametrize("reg", INSTANCE_REGS, ids=[r.class_name for r in INSTANCE_REGS])
def test_returned_properties_are_declared(reg, repo, table):
    for ns in reg.namespaces:
        prov = table.get(reg.class_name, ns)
        ctx = ProviderContext(namespace=ns, is_subclass_cb=repo.is_subclass)
        insts = list(prov.enum_instances(ctx, reg.class_name, None))
        assert insts, f"{reg.class_name} in {ns}: the test node should give instances"
        declared = repo.get_class(reg.class_name).properties
        for inst in insts:
            undeclared = [p for p in inst.properties if p not in declared]
            assert not undeclared, f"{reg.class_name} returns undeclared {undeclared}"
            assert inst.path is not None and inst.path.classname.lower() == reg.class_name.lower()
            keys = {k.lower() for k in inst.path.keybindings}
            mof_keys = {
                n.lower()
                for n, p in declared.items()
                if p.qualifiers.get("Key") and p.qualifiers["Key"].value
            }
            assert keys == mof_keys, f"{reg.class_name} path keys {keys} != MOF keys {mof_keys}"


def _class_literals(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), str(path))
    docstrings = {
        id(node.body[0].value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef)
        and node.body
        and isinstance(node.body[0], ast.Expr)
        and isinstance(node.body[0].value, ast.Constant)
    }
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            if id(node) in docstrings:
                continue
            found.update(re.findall(r"\bVRM_[A-Za-z0-9_]+", node.value))
    return found


def _own_class(path: Path) -> str | None:
    for node in ast.parse(path.read_text()).body:
        if (
            isinstance(node, ast.Assign)
            and any(isinstance(t, ast.Name) and t.id == "CLASS" for t in node.targets)
            and isinstance(node.value, ast.Constant)
        ):
            return node.value.value
    return None


SOURCES = sorted(
    p
    for p in [*PROJECT.joinpath("src").rglob("*.py"), *PROJECT.joinpath("providers").glob("*.py")]
    if "__pycache__" not in p.parts
)


@pytest.mark.parametrize("path", SOURCES, ids=[str(p.relative_to(PROJECT)) for p in SOURCES])
def test_no_class_name_outside_its_module(path):
    literals = _class_literals(path)
    own = _own_class(path)
    stray = sorted(lit for lit in literals if lit != own)
    assert not stray, f"{path.relative_to(PROJECT)} names {stray}: use that class module's CLASS"


def test_every_registered_vrm_class_has_a_test():
    tested = " ".join(p.read_text() for p in PROJECT.joinpath("tests", "classes").glob("test_*.py"))
    missing = [r.class_name for r in REGS if r.class_name not in tested]
    assert not missing, f"no case in tests/classes/ names {missing}"
