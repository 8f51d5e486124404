"""Loading provider modules by file path, as cmpi-bindings does, and building the
class -> provider table from registration/vrmgmt.reg. Used by every host."""

from __future__ import annotations

import hashlib
import importlib.util
import logging
import sys
import threading
from pathlib import Path
from types import ModuleType

from vrmgmt.cim.provider import Provider, ProviderEnv
from vrmgmt.errors import ConfigError
from vrmgmt.registration import Registration, load_registration

log = logging.getLogger(__name__)


def project_dir(name: str) -> Path:
    """A top-level folder of the project (providers, registration, mof): the source
    checkout's, or the copy installed as package data."""
    here = Path(__file__).resolve()
    for cand in (here.parents[3] / name, here.parents[1] / "data" / name):
        if cand.is_dir():
            return cand
    return here.parents[3] / name


def default_registration_file() -> Path:
    return project_dir("registration") / "vrmgmt.reg"


_modules: dict[str, ModuleType] = {}  # resolved path -> module
_modules_lock = threading.Lock()


def load_provider_module(path: str | Path) -> ModuleType:
    """Import a provider module from a file path (".py" appended when missing), once
    per process and path; every host loads providers through here."""
    path = Path(path)
    if path.suffix != ".py":
        path = path.with_name(path.name + ".py")
    key = str(path.resolve())
    with _modules_lock:
        module = _modules.get(key)
        if module is not None:
            return module
        if not path.is_file():
            raise ConfigError(f"provider module {path} does not exist")
        # a digest of the path keeps two providers/ folders' modules apart
        mod_name = f"vrmgmt_providers.{path.stem}_{hashlib.sha1(key.encode()).hexdigest()[:8]}"
        spec = importlib.util.spec_from_file_location(mod_name, path)
        if spec is None or spec.loader is None:
            raise ConfigError(f"cannot load provider module {path}")
        module = importlib.util.module_from_spec(spec)
        sys.modules[mod_name] = module
        try:
            spec.loader.exec_module(module)
        except BaseException:
            sys.modules.pop(mod_name, None)
            raise
        if not callable(getattr(module, "get_providers", None)):
            sys.modules.pop(mod_name, None)
            raise ConfigError(f"provider module {path} has no get_providers(env)")
        _modules[key] = module
        return module


def forget_provider_modules() -> None:
    """Drop every loaded provider module (a CMPI cleanup or a test's reset)."""
    with _modules_lock:
        for module in _modules.values():
            sys.modules.pop(module.__name__, None)
        _modules.clear()


class ProviderTable:
    """class name (any case) + namespace -> Provider, from the registration."""

    def __init__(
        self,
        env: ProviderEnv,
        registrations: list[Registration] | None = None,
        providers_dir: Path | None = None,
    ):
        self.env = env
        self.registrations = (
            registrations
            if registrations is not None
            else load_registration(default_registration_file())
        )
        self.providers_dir = providers_dir or project_dir("providers")
        self._by_module: dict[str, dict[str, Provider]] = {}
        self._table: dict[tuple[str, str], tuple[Provider, Registration]] = {}
        for reg in self.registrations:
            provs = self._module_providers(reg)
            prov = next((p for c, p in provs.items() if c.lower() == reg.class_name.lower()), None)
            if prov is None:
                raise ConfigError(
                    f"registration names {reg.class_name} for provider {reg.provider}, "
                    f"but its get_providers() does not serve it"
                )
            for ns in reg.namespaces:
                self._table[(reg.class_name.lower(), ns.lower())] = (prov, reg)

    def _module_providers(self, reg: Registration) -> dict[str, Provider]:
        key = reg.module_name
        if key not in self._by_module:
            path = Path(reg.provider)
            if not path.is_absolute():
                path = self.providers_dir / reg.module_name
            module = load_provider_module(path)
            self._by_module[key] = dict(module.get_providers(self.env))
            log.info("loaded provider module %s: %s", key, ", ".join(self._by_module[key]))
        return self._by_module[key]

    def get(self, class_name: str, namespace: str) -> Provider | None:
        entry = self._table.get((class_name.lower(), namespace.lower()))
        return entry[0] if entry else None

    def registration(self, class_name: str, namespace: str) -> Registration | None:
        entry = self._table.get((class_name.lower(), namespace.lower()))
        return entry[1] if entry else None

    def classes(self, namespace: str) -> list[str]:
        ns = namespace.lower()
        return [reg.class_name for (c, n), (_, reg) in self._table.items() if n == ns]

    def enable_indications(self, ctx) -> None:
        """Call every provider's enable_indications(ctx) hook once (CMPI's
        EnableIndications; the embedded server calls it at start)."""
        seen: list = []
        for provs in self._by_module.values():
            for p in provs.values():
                if any(p is q for q in seen):
                    continue
                seen.append(p)
                hook = getattr(p, "enable_indications", None)
                if callable(hook):
                    try:
                        hook(ctx)
                    except Exception:  # noqa: BLE001 - one source must not stop the others
                        log.exception("enable_indications of %r", p)

    def cleanup(self) -> None:
        for provs in self._by_module.values():
            for p in set(provs.values()):
                try:
                    p.cleanup()
                except Exception:  # noqa: BLE001
                    log.exception("provider cleanup failed")
