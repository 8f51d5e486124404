"""Real CIMOMs hosting vrmgmt for the per-class cases of tests/classes/: SFCB 1.3.16 and
OpenPegasus 2.14.4 with cmpi-bindings 1.0.5 (built and cached by tests/support/sfcb.py and
tests/support/pegasus.py), vrmgmt registered as `vrmgmt register` does it.

Starting a CIMOM and registering costs seconds to a minute, and each build allows one
running daemon per machine, so a run has at most one of each, started on first use and
kept for every later case (`shared(kind)`). A case gets its own backends and
configuration by a new $VRMGMT_CONFIG file content: the CMPI adapter builds its
environment again when that file changes (src/vrmgmt/cmpi/proxy.py), so the CIMOM need
not restart. `release()` stops them; the modules that deploy a CIMOM of their own
(tests/test_sfcb.py, tests/test_pegasus.py) call it first, and the session's end does.
"""

from __future__ import annotations

import io
import os
import tempfile
from pathlib import Path

import pywbem

from support import pegasus as pegasus_support
from support import sfcb as sfcb_support

PROJECT = Path(__file__).resolve().parents[2]
KINDS = ("sfcb", "pegasus")


class CimomUnavailable(RuntimeError):
    """The CIMOM could not be built, started or given vrmgmt (the message says why)."""


class SharedCimom:
    """A running CIMOM of `kind` with vrmgmt registered, reading its vrmgmt
    configuration from `config` (rewritten per case by `configure`)."""

    def __init__(self, kind: str, workdir: Path):
        self.kind = kind
        self.interop = "root/interop" if kind == "sfcb" else "root/PG_InterOp"
        self.workdir = workdir
        self.config = workdir / "vrmgmt.toml"
        self.config.write_text("# set per case by tests/support/cimoms.py\n")
        env = {"VRMGMT_CONFIG": str(self.config)}
        if kind == "sfcb":
            self.daemon = sfcb_support.Sfcb(sfcb_support.build_sfcb(), workdir / "run", env=env)
        else:
            reason = pegasus_support.missing_prerequisites()
            if reason:
                raise CimomUnavailable(reason)
            self.daemon = pegasus_support.Pegasus(workdir / "run", env=env)
        self.daemon.start()
        try:
            self._register()
        except BaseException:
            self.daemon.stop()
            raise

    def _register(self) -> None:
        if self.kind == "sfcb":
            from vrmgmt.cmpi import register as reg
            from vrmgmt.cmpi.sfcb import sfcb_layout

            log = io.StringIO()
            layout = sfcb_layout(self.daemon.prefix)
            site = self.daemon.site_dir
            if reg.site_hook(log, PROJECT, layout=layout, site_dir=site, install=True) != 0:
                raise CimomUnavailable(f"site hook for SFCB failed:\n{log.getvalue()}")
            if reg.register("sfcb", False, PROJECT, log, prefix=self.daemon.prefix) != 0:
                raise CimomUnavailable(f"vrmgmt register --cimom sfcb failed:\n{log.getvalue()}")
            self.daemon.restart()
        else:
            r = pegasus_support.install_vrmgmt(self.daemon)
            if r.returncode != 0:
                raise CimomUnavailable(
                    f"vrmgmt register --cimom pegasus failed:\n{r.stdout}{r.stderr}"
                )

    def configure(self, text: str) -> None:
        """The adapter's configuration for the next requests: written to a new file and
        renamed over the old one (a new inode, so the adapter sees the change)."""
        fd, tmp = tempfile.mkstemp(dir=self.workdir, prefix=".vrmgmt-", suffix=".toml")
        with os.fdopen(fd, "w") as f:
            f.write(text)
        os.replace(tmp, self.config)

    def provider_pids(self) -> set[int]:
        """The processes that have this build's libpy3CmpiProvider.so loaded: where the
        providers run (sfcbd's provider process, OpenPegasus's cimprovagt)."""
        lib = str(self.daemon.build.provider_library.resolve())
        found = set()
        for entry in os.listdir("/proc"):
            if entry.isdigit():
                try:
                    maps = Path(f"/proc/{entry}/maps").read_text()
                except OSError:
                    continue
                if lib in maps:
                    found.add(int(entry))
        return found

    def conn(self) -> pywbem.WBEMConnection:
        return self.daemon.conn()

    def crashes(self) -> list[str]:
        return self.daemon.crashes()

    def stop(self) -> list[str]:
        """Stop the daemon; the crash lines of its logs, shutdown included."""
        try:
            self.daemon.stop()
        finally:
            crashes = self.daemon.crashes()
        return crashes


_running: dict[str, SharedCimom] = {}
_crashes: list[str] = []


def shared(kind: str) -> SharedCimom:
    """The run's CIMOM of `kind`, started (and vrmgmt registered) on first use."""
    if kind not in _running:
        workdir = Path(tempfile.mkdtemp(prefix=f"vrmgmt-{kind}-classes-"))
        try:
            _running[kind] = SharedCimom(kind, workdir)
        except (sfcb_support.SfcbUnavailable, pegasus_support.PegasusUnavailable) as exc:
            raise CimomUnavailable(
                f"{exc} (scripts/dev setup test installs the build dependencies)"
            ) from exc
    return _running[kind]


def release(kind: str | None = None) -> None:
    """Stop the shared CIMOM of `kind` (all when None); remember its crash lines."""
    for k in [kind] if kind else list(_running):
        cimom = _running.pop(k, None)
        if cimom is not None:
            _crashes.extend(f"{k}: {line}" for line in cimom.stop())


def crashes() -> list[str]:
    """Crash lines of the shared CIMOMs stopped so far, and of those still running."""
    return _crashes + [f"{k}: {line}" for k, c in _running.items() for line in c.crashes()]
