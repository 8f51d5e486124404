"""The Python that cmpi-bindings' libpy3CmpiProvider.so embeds, as the CIMOM tests use it.

The library is built against Debian's ``/usr/bin/python3`` (libpython3.11) and starts it
with an isolated configuration: ``PYTHONPATH`` is ignored, but ``.pth`` files in its
site-packages are read. ``install_site_switch()`` writes one small file there,
``vrmgmt-test-site.pth``, that does nothing unless ``$VRMGMT_TEST_SITE_DIR`` is set, and
then adds that directory as a site directory (its ``.pth`` files are read too): each
CIMOM a test starts gets its own directory (the site hook the README tells users to
save, ``vrmgmt register --print-site-hook``, goes there) through its environment, so
runs from different clones never see each other's vrmgmt.

The switch's text is the same as the one tests/support/pegasus.py writes (same file,
same variable), so the two CIMOM helpers share it without rewriting each other's file.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

EMBEDDED_PYTHON = "/usr/bin/python3"
SITE_SWITCH_FILE = "vrmgmt-test-site.pth"
SITE_SWITCH_VAR = "VRMGMT_TEST_SITE_DIR"
SITE_SWITCH = (
    "# vrmgmt's test suite (tests/support/pegasus.py): with $VRMGMT_TEST_SITE_DIR set, that\n"
    "# directory is a site directory too (its .pth files are read). Inert otherwise.\n"
    "import os, site; d = os.environ.get('VRMGMT_TEST_SITE_DIR'); "
    "d and os.path.isdir(d) and site.addsitedir(d)\n"
)


def embedded_site_packages(python: str = EMBEDDED_PYTHON) -> Path:
    """The first site-packages directory of that interpreter (where .pth files go)."""
    out = subprocess.run(
        [python, "-I", "-c", "import site; print(site.getsitepackages()[0])"],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    return Path(out.stdout.strip())


def install_site_switch(python: str = EMBEDDED_PYTHON) -> Path:
    """Write (once per machine) the inert .pth switch into the interpreter's
    site-packages; each run then names its own site directory in its environment."""
    target = embedded_site_packages(python) / SITE_SWITCH_FILE
    if not target.is_file() or target.read_text() != SITE_SWITCH:
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_suffix(f".tmp{os.getpid()}")
        tmp.write_text(SITE_SWITCH)
        tmp.replace(target)
    return target
