"""A real collectd (Debian collectd-core) for tests, run with the config `vrmgmt
collectd-config` generates (its own BaseDir/PIDFile, Interval 1, CacheTimeout 0: DESIGN.md
"Metrics"). `Collectd(conf)` is a context manager; wait_for(...) polls the RRD tree."""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
import rrdtool

ROOT = Path(__file__).resolve().parents[2]


def binary() -> str:
    exe = shutil.which("collectd") or "/usr/sbin/collectd"
    if not Path(exe).is_file():
        pytest.fail("collectd is not installed (scripts/dev setup test installs collectd-core)")
    return exe


def generate(config: Path, out: Path, backend: str | None = None) -> str:
    """`vrmgmt collectd-config` for the TOML config, written to out; returns the text."""
    args = [sys.executable, "-m", "vrmgmt", "collectd-config", "--config", str(config)]
    if backend:
        args += ["--backend", backend]
    subprocess.run([*args, "-o", str(out)], check=True, cwd=ROOT)
    text = out.read_text()
    for line in text.splitlines():  # its BaseDir must exist
        if line.startswith("BaseDir "):
            Path(line.split(" ", 1)[1].strip('"')).mkdir(parents=True, exist_ok=True)
    return text


class Collectd:
    def __init__(self, conf: Path):
        self.conf = conf
        self.log = conf.with_suffix(".log")
        self.proc: subprocess.Popen | None = None

    def __enter__(self):
        exe = binary()
        r = subprocess.run([exe, "-t", "-C", str(self.conf)], capture_output=True, text=True)
        assert r.returncode == 0, f"collectd -t rejects the generated config: {r.stderr}"
        self.proc = subprocess.Popen(
            [exe, "-f", "-C", str(self.conf)],
            stdout=self.log.open("w"),
            stderr=subprocess.STDOUT,
        )
        return self

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def __exit__(self, *exc):
        self.stop()

    def wait_for(self, files: list[Path], updates: int = 3, timeout: float = 30.0) -> None:
        """Until every file exists and has been updated `updates` times after it appeared
        (rates of DERIVE sources need two updates)."""
        deadline = time.monotonic() + timeout
        first: dict[Path, float] = {}
        while time.monotonic() < deadline:
            assert self.proc is not None and self.proc.poll() is None, (
                "collectd exited:\n" + self.log.read_text()[-2000:]
            )
            done = 0
            for f in files:
                if not f.is_file():
                    continue
                last = rrdtool.lastupdate(str(f))["date"].timestamp()
                first.setdefault(f, last)
                if last - first[f] >= updates - 1:
                    done += 1
            if done == len(files):
                return
            time.sleep(0.3)
        missing = [str(f) for f in files if not f.is_file()]
        pytest.fail(
            f"no RRD updates within {timeout}s (missing: {missing}); collectd log:\n"
            + self.log.read_text()[-2000:]
        )
