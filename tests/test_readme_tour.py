"""The README's first tour, run line by line against a real server on the default
backend (test:///default) with default authentication (generated admin password)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

from support.server import PROJECT, VrmServer


def tour_lines() -> list[str]:
    text = (PROJECT / "README.md").read_text()
    block = re.search(r"<!-- tour:begin -->\s*```sh\n(.*?)```\s*<!-- tour:end -->", text, re.S)
    assert block, "README has no tour block"
    return block.group(1).splitlines()


def test_readme_tour_runs(tmp_path):
    srv = VrmServer(tmp_path, [{"id": "test", "type": "libvirt", "uri": "test:///default"}])
    # Use the server's own first-start admin user, as a new installation would.
    (srv.state_dir / "users").unlink()
    with srv:
        pw_file = srv.state_dir / "admin-password"
        assert pw_file.exists() and oct(pw_file.stat().st_mode & 0o777) == "0o600"
        script = "\n".join(tour_lines())
        script = script.replace("127.0.0.1:5988", f"127.0.0.1:{srv.port}")
        script = script.replace("/var/lib/vrmgmt/admin-password", str(pw_file))
        script = script.replace("$PWD/.venv/bin", str(Path(sys.executable).parent))
        r = subprocess.run(
            ["bash", "-e", "-x", "-c", script],
            capture_output=True,
            text=True,
            timeout=300,
            cwd=tmp_path,
            env=dict(os.environ),
        )
        assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    out = r.stdout
    assert "6695eb01-f6a4-8304-79aa-97f2502e193f" in out
    assert "instance of VRM_HostSystem" in out
    assert "EnabledState = 9;" in out  # the get between pause and resume
    assert out.count("RequestStateChange: 0") == 2  # wbemcli cm, both
    audit = (srv.state_dir / "audit.log").read_text().splitlines()
    assert all('"user": "admin"' in line for line in audit)
    records = [json.loads(line) for line in audit]
    # the 4 RequestStateChange calls: recorded before (fail closed) and after, with the
    # client address
    host_records = [r for r in records if r.get("client")]
    assert [r["outcome"] for r in host_records] == ["attempted", "completed, return value 0"] * 4
