"""The shipped systemd unit (src/vrmgmt/data/systemd/vrmgmt.service) is valid for
systemd-analyze verify and keeps its sandboxing (docs/security.md "Safe deployment")."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

UNIT = Path(__file__).resolve().parents[1] / "src/vrmgmt/data/systemd/vrmgmt.service"
SANDBOX = [
    "NoNewPrivileges=yes",
    "ProtectSystem=strict",
    "PrivateTmp=yes",
    "ProtectHome=yes",
    "CapabilityBoundingSet=",
    "RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6",
    "SystemCallFilter=@system-service",
    "StateDirectory=vrmgmt",
    "UMask=0077",
]


def test_unit_keeps_its_sandbox():
    lines = UNIT.read_text().splitlines()
    for directive in SANDBOX:
        assert directive in lines, directive
    assert "ExecStart=/usr/bin/vrmgmt serve --config /etc/vrmgmt/vrmgmt.toml" in lines


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd is not installed")
def test_unit_passes_systemd_analyze_verify(tmp_path):
    # verify checks that ExecStart exists: point it at this installation's vrmgmt
    exe = Path(sys.executable).with_name("vrmgmt")
    assert exe.exists()
    unit = tmp_path / "vrmgmt.service"
    unit.write_text(UNIT.read_text().replace("/usr/bin/vrmgmt", str(exe)))
    r = subprocess.run(
        ["systemd-analyze", "verify", "--man=no", str(unit)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert r.returncode == 0, r.stderr
    assert r.stderr.strip() == "", r.stderr  # also no "ignoring" warnings
