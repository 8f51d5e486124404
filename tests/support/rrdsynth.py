"""Synthetic RRD history for tests (DESIGN.md "Metrics": `rrdtool dump` XML rewritten
and `rrdtool restore`d): files in collectd's layout with collectd's RRAs (step 10 s,
RRARows 1200, timespans hour/day/week/month/year x AVERAGE/MIN/MAX), every row filled,
so a year of history exists at once.

value(rra, cf, ds, t) is what the row ending at t of that RRA holds: tests compute the
expected values with the same function; a gauge's last value (`rrdtool lastupdate`) is
value(0, "AVERAGE", ds, end).
"""

from __future__ import annotations

import math
import re
import subprocess
import time
from pathlib import Path

STEP = 10
ROWS = 1200
TIMESPANS = (3600, 86400, 604800, 2678400, 31622400)
CFS = ("AVERAGE", "MIN", "MAX")
_CF_BASE = {"AVERAGE": 0.0, "MIN": -0.25, "MAX": 0.25}


def rras(step: int = STEP, rows: int = ROWS) -> list[tuple[int, int]]:
    """(pdp_per_row, rows) per timespan, as collectd's utils_rrdcreate.c computes them."""
    out, cdp_len = [], 0
    for span in TIMESPANS:
        if span // step < rows:
            span = step * rows
        cdp_len = 1 if cdp_len == 0 else int(math.floor(span / (rows * step)))
        out.append((cdp_len, int(math.ceil(span / (cdp_len * step)))))
    return out


def value(rra: int, cf: str, ds: int, t: int, scale: float = 1.0) -> float:
    """Row content: the RRA index in the thousands, the row's position in the low part,
    the CF in the fraction (not for one-PDP rows: there every CF is the same value, and
    rrdtool answers any CF from the first one-PDP RRA)."""
    pdp, _ = rras()[rra]
    base = _CF_BASE[cf] if pdp > 1 else 0.0
    return scale * ((rra + 1) * 1000 + (t // (pdp * STEP)) % 97 + base + ds * 100)


def make(
    path: Path,
    ds: dict[str, str],
    end: int | None = None,
    scale: float = 1.0,
) -> Path:
    """An RRD at path with data sources {name: GAUGE|DERIVE}, a year of rows ending at
    `end` (default: now, rounded down to the step)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    end = (int(time.time()) if end is None else end) // STEP * STEP
    args = ["rrdtool", "create", str(path), "-s", str(STEP), "-b", str(end)]
    for name, kind in ds.items():
        args.append(f"DS:{name}:{kind}:{2 * STEP}:0:U")
    layout = rras()
    for cf in CFS:
        for pdp, rows in layout:
            args.append(f"RRA:{cf}:0.1:{pdp}:{rows}")
    subprocess.run(args, check=True)
    dump = subprocess.run(
        ["rrdtool", "dump", str(path)], check=True, capture_output=True, text=True
    ).stdout
    out, cf, pdp, ds_i = [], "AVERAGE", 1, 0
    kinds = list(ds.values())
    row_re = re.compile(r"<!-- .* / (\d+) --> <row>(.*)</row>")
    for line in dump.splitlines():
        m = re.search(r"<cf>(\w+)</cf>", line)
        if m:
            cf = m.group(1)
        m = re.search(r"<pdp_per_row>(\d+)</pdp_per_row>", line)
        if m:
            pdp = int(m.group(1))
        if "<last_ds>" in line:  # a gauge's last value: what `rrdtool lastupdate` shows
            if kinds[ds_i] == "GAUGE":
                line = line.replace("U", f"{value(0, 'AVERAGE', ds_i, end, scale):.10e}")
            ds_i += 1
        m = row_re.search(line)
        if m:
            t = int(m.group(1))
            rra = [p for p, _ in layout].index(pdp)
            vs = "".join(f"<v>{value(rra, cf, i, t, scale):.10e}</v>" for i in range(len(ds)))
            line = line[: m.start(2)] + vs + line[m.end(2) :]
        out.append(line)
    xml = path.with_suffix(".xml")
    xml.write_text("\n".join(out))
    path.unlink()
    subprocess.run(["rrdtool", "restore", str(xml), str(path)], check=True)
    xml.unlink()
    return path


def vm_tree(root: Path, backend: str, uuid: str, end: int | None = None) -> Path:
    """A VM's files as collectd's virt plugin writes them (one NIC, one disk)."""
    d = root / backend / f"virt-{uuid}"
    make(d / "virt_cpu_total.rrd", {"value": "DERIVE"}, end, scale=1e6)
    make(d / "memory-total.rrd", {"value": "GAUGE"}, end, scale=1e6)
    make(d / "if_octets-52:54:00:00:00:01.rrd", {"rx": "DERIVE", "tx": "DERIVE"}, end)
    make(d / "if_packets-52:54:00:00:00:01.rrd", {"rx": "DERIVE", "tx": "DERIVE"}, end)
    make(d / "disk_octets-vda.rrd", {"read": "DERIVE", "write": "DERIVE"}, end)
    make(d / "disk_ops-vda.rrd", {"read": "DERIVE", "write": "DERIVE"}, end)
    return d


def host_tree(root: Path, backend: str, end: int | None = None) -> Path:
    """A host's files as collectd's host plugins write them."""
    d = root / backend
    make(d / "cpu" / "percent-idle.rrd", {"value": "GAUGE"}, end, scale=0.01)
    make(d / "memory" / "memory-used.rrd", {"value": "GAUGE"}, end, scale=1e6)
    make(d / "interface-eth0" / "if_octets.rrd", {"rx": "DERIVE", "tx": "DERIVE"}, end)
    make(d / "disk-vda" / "disk_octets.rrd", {"read": "DERIVE", "write": "DERIVE"}, end)
    make(
        d / "load" / "load.rrd",
        {"shortterm": "GAUGE", "midterm": "GAUGE", "longterm": "GAUGE"},
        end,
        scale=0.001,
    )
    make(d / "users" / "users.rrd", {"value": "GAUGE"}, end, scale=0.001)
    return d
