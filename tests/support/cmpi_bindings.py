"""cmpi-bindings 1.0.5 as both test CIMOMs (SFCB, OpenPegasus) build it: the source
patches they apply, the part of their build cache key those patches make, and the check
that tells a patched ``libpy3CmpiProvider.so`` from a stock one.

The patch ``patches/cmpi-bindings-1.0.5-cleanup-keep-interpreter.patch`` rewrites
``TargetCleanup`` (src/target_python.c): the stock one drops the per-MI Python object
without the GIL, then calls ``PyEval_AcquireLock()`` with no thread state and
``Py_Finalize()`` when the last MI goes — every provider-process shutdown (OpenPegasus's
cimprovagt, SFCB's provider process) died with SIGSEGV / "Fatal Python error". Patched,
the object is released under ``PyGILState_Ensure`` and the interpreter is kept for the
process's life (CMPI 2.0, DMTF DSP0010, leaves MI cleanup semantics to the provider).
docs/cmpi.md ("The cmpi-bindings cleanup patch") says the same for users.
"""

from __future__ import annotations

import hashlib
import subprocess
from pathlib import Path

PATCH_DIR = Path(__file__).resolve().parent / "patches"

#: applied in this order with ``patch -p1`` in the unpacked cmpi-bindings-1.0.5 tree
PATCHES = ("cmpi-bindings-1.0.5-cleanup-keep-interpreter.patch",)


def patch_paths() -> list[Path]:
    return [PATCH_DIR / name for name in PATCHES]


def patches_key() -> str:
    """Hash of the patches' names and contents, for the builds' cache keys."""
    h = hashlib.sha256()
    for p in patch_paths():
        h.update(p.name.encode() + b"\0" + p.read_bytes() + b"\0")
    return h.hexdigest()[:16]


def apply_patches(src: Path, log: Path) -> None:
    """Apply PATCHES to the unpacked source tree src (RuntimeError naming the patch)."""
    for p in patch_paths():
        r = subprocess.run(
            ["patch", "-p1", "--forward", "--batch", "-i", str(p)],
            cwd=src,
            capture_output=True,
            text=True,
            check=False,
        )
        with log.open("a") as out:
            out.write(f"$ patch -p1 -i {p}\n{r.stdout}{r.stderr}")
        if r.returncode != 0:
            raise RuntimeError(f"{p.name} does not apply to {src}:\n{r.stdout}{r.stderr}")
