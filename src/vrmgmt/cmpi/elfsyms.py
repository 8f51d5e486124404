"""The dynamic symbols a shared library imports, read from its ELF file (the System V
gABI's section header table, SHT_DYNSYM and its string table), with no binutils needed.

`vrmgmt register --check` uses it to tell a stock cmpi-bindings 1.0.5
``libpy3CmpiProvider.so`` — whose TargetCleanup calls ``Py_Finalize`` and crashes every
provider-process shutdown — from one built with vrmgmt's cleanup patch, which imports no
``Py_Finalize``/``Py_FinalizeEx`` (docs/cmpi.md, "The cmpi-bindings cleanup patch").
"""

from __future__ import annotations

import struct
from pathlib import Path

_SHT_DYNSYM = 11
_SHN_UNDEF = 0

#: what only TargetCleanup's finalization calls in libpy3CmpiProvider.so
FINALIZE_SYMBOLS = ("Py_Finalize", "Py_FinalizeEx")


class ElfError(ValueError):
    """Not an ELF file this reader understands."""


def undefined_symbols(path: Path) -> set[str]:
    """Names of the dynamic symbols path imports (undefined in its .dynsym)."""
    data = Path(path).read_bytes()
    if data[:4] != b"\x7fELF":
        raise ElfError(f"{path} is not an ELF file")
    cls, enc = data[4], data[5]
    if cls not in (1, 2) or enc not in (1, 2):
        raise ElfError(f"{path}: unknown ELF class/encoding {cls}/{enc}")
    e = "<" if enc == 1 else ">"
    is64 = cls == 2
    try:
        if is64:
            (shoff,) = struct.unpack_from(e + "Q", data, 0x28)
            shentsize, shnum = struct.unpack_from(e + "HH", data, 0x3A)
        else:
            (shoff,) = struct.unpack_from(e + "I", data, 0x20)
            shentsize, shnum = struct.unpack_from(e + "HH", data, 0x2E)
        sections = []
        for i in range(shnum):
            base = shoff + i * shentsize
            if is64:
                _, sh_type, _, _, off, size, link, _, _, entsize = struct.unpack_from(
                    e + "IIQQQQIIQQ", data, base
                )
            else:
                _, sh_type, _, _, off, size, link, _, _, entsize = struct.unpack_from(
                    e + "IIIIIIIIII", data, base
                )
            sections.append((sh_type, off, size, link, entsize))
        names: set[str] = set()
        for sh_type, off, size, link, entsize in sections:
            if sh_type != _SHT_DYNSYM or not entsize:
                continue
            _, str_off, str_size, _, _ = sections[link]
            strtab = data[str_off : str_off + str_size]
            for j in range(1, size // entsize):  # entry 0 is the null symbol
                sym = off + j * entsize
                if is64:
                    st_name, _, _, st_shndx = struct.unpack_from(e + "IBBH", data, sym)
                else:
                    st_name, _, _, _, _, st_shndx = struct.unpack_from(e + "IIIBBH", data, sym)
                if st_shndx == _SHN_UNDEF and st_name:
                    end = strtab.index(b"\0", st_name)
                    names.add(strtab[st_name:end].decode("ascii", "replace"))
    except (struct.error, IndexError, ValueError) as exc:
        raise ElfError(f"{path}: cannot read its dynamic symbols ({exc})") from exc
    return names


def finalize_imports(path: Path) -> list[str]:
    """The Py_Finalize* functions path imports: non-empty for a stock cmpi-bindings."""
    found = undefined_symbols(path)
    return [s for s in FINALIZE_SYMBOLS if s in found]
