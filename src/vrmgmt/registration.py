"""Provider registration: which provider serves which class.

registration/vrmgmt.reg is written in SFCB's providerRegister syntax and is the single
source of truth for every host: the embedded server routes classes with it, and
`vrmgmt register` installs it into SFCB or turns it into OpenPegasus registration
instances. Syntax (one stanza per class)::

    [VRM_ComputerSystem]
       provider: VMListProvider
       location: py3CmpiProvider
       type: instance method
       namespace: root/virt
       group: vrmgmt
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from vrmgmt.errors import ConfigError

VALID_TYPES = {"instance", "association", "method", "indication"}
REQUIRED = ("provider", "location", "type", "namespace")


@dataclass(frozen=True)
class Registration:
    class_name: str
    provider: str  # provider module name (providers/<provider>.py) or path
    location: str  # CMPI library, e.g. py3CmpiProvider
    types: tuple[str, ...]
    namespaces: tuple[str, ...]
    group: str | None = None
    unload: str | None = None

    @property
    def module_name(self) -> str:
        name = Path(self.provider).name
        return name[:-3] if name.endswith(".py") else name


def parse_registration(text: str, source: str = "<registration>") -> list[Registration]:
    regs: list[Registration] = []
    current: str | None = None
    fields: dict[str, str] = {}
    start_line = 0

    def flush() -> None:
        if current is None:
            return
        missing = [k for k in REQUIRED if k not in fields]
        if missing:
            raise ConfigError(f"{source}:{start_line}: [{current}] lacks {', '.join(missing)}")
        types = tuple(fields["type"].split())
        bad = set(types) - VALID_TYPES
        if bad:
            raise ConfigError(
                f"{source}:{start_line}: [{current}] unknown type(s) {', '.join(sorted(bad))}"
            )
        regs.append(
            Registration(
                class_name=current,
                provider=fields["provider"],
                location=fields["location"],
                types=types,
                namespaces=tuple(fields["namespace"].split()),
                group=fields.get("group"),
                unload=fields.get("unload"),
            )
        )

    for lineno, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("[") and line.endswith("]"):
            flush()
            current, fields, start_line = line[1:-1].strip(), {}, lineno
            if not current:
                raise ConfigError(f"{source}:{lineno}: empty class name")
            continue
        if current is None or ":" not in line:
            raise ConfigError(f"{source}:{lineno}: expected '[Class]' or 'key: value', got {raw!r}")
        key, _, value = line.partition(":")
        fields[key.strip().lower()] = value.strip()
    flush()
    seen: set[tuple[str, str]] = set()
    for r in regs:
        for ns in r.namespaces:
            key = (r.class_name.lower(), ns.lower())
            if key in seen:
                raise ConfigError(f"{source}: class {r.class_name} registered twice in {ns}")
            seen.add(key)
    return regs


def load_registration(path: Path) -> list[Registration]:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{path}: {exc.strerror}") from None
    return parse_registration(text, str(path))
