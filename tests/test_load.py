"""Load: concurrent pywbem clients against a real server, zero failures, stable RSS.

The short CI form of `python -m bench.load` (same code: bench/load.py): 8 clients in
4 worker processes for 8 s after an 8 s warm-up, over 200 test-driver domains, mixing
EnumerateInstances, GetInstance, Associators and pause/resume RequestStateChange pairs
on each client's own VMs.

RSS threshold. The issue asks for "RSS at the end within 10 % of RSS after warm-up",
which `bench.load` checks over 60 s. An 8 s run sees about an eighth of those requests,
so a leak that breaks 10 % in a minute shows only 1-2 % here; the short run therefore
also bounds growth per request. Measured on the 2-CPU test machine with the encoder
cache neutralised (cimxml_writer.ENCODED_CACHE_CHARS = 0 via sitecustomize, i.e. a
server without the leak below): +0.9 % and +1.4 % in 8 s (0.5-0.9 MiB per 1000
requests), +1.6 % over 60 s with 32 clients. With the current cache: +8.6 % / +9.8 %
in 8 s (5.1-5.4 MiB per 1000 requests), +58 % over 60 s. The bounds used here, 5 % and
2.5 MiB per 1000 requests, sit between the two with room on both sides, and the
per-request bound does not depend on the speed of the machine.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import pywbem

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.load import rss_kib, run_load, start_server, vm_path  # noqa: E402

CLIENTS = 8
SECONDS = 8
RSS_GROWTH_MAX = 0.05  # see the module docstring
RSS_MIB_PER_1000_REQUESTS_MAX = 2.5
RSS_NOISE_MIB = 1.0


@pytest.fixture(scope="module")
def load(tmp_path_factory):
    res = run_load(
        clients=CLIENTS,
        seconds=SECONDS,
        domains=200,
        warmup=8,  # caches and encodings filled first, also on a loaded machine
        workdir=tmp_path_factory.mktemp("load"),
    )
    print()
    print(res.report())
    return res


def test_load_has_no_failures(load):
    assert load.failures == []
    assert load.requests > 100, load.requests
    assert all(load.latencies[op] for op in load.latencies), "an operation never ran"
    assert load.final_states_ok, "some VM is not enabled again after pause/resume pairs"


def test_load_rss_is_stable(load):
    growth_mib = (load.rss_end_kib - load.rss_warm_kib) / 1024
    # RSS moves by up to ~1 MiB with no leak at all (allocator arenas, page granularity);
    # on a loaded machine a run may see only a few hundred requests, and that noise alone
    # would exceed the per-request bound: it applies to the growth beyond the noise
    per_1000 = max(0.0, growth_mib - RSS_NOISE_MIB) / load.requests * 1000
    detail = f"{growth_mib:+.1f} MiB over {load.requests} requests; {load.timeline_summary()}"
    assert load.rss_growth <= RSS_GROWTH_MAX, detail
    assert per_1000 <= RSS_MIB_PER_1000_REQUESTS_MAX, detail


def test_get_instance_does_not_grow_rss(tmp_path):
    """The leak in isolation: 2000 GetInstance from one client after a warm-up."""
    srv = start_server(tmp_path / "srv", 200)
    try:
        conn = srv.conn(timeout=30)
        uuids = [u for _, u in srv.domains]
        for i in range(300):
            conn.GetInstance(vm_path(uuids[i % len(uuids)]))
        before = rss_kib(srv.proc.pid)
        for i in range(2000):
            inst = conn.GetInstance(vm_path(uuids[i % len(uuids)]))
            assert isinstance(inst, pywbem.CIMInstance)
        grown = (rss_kib(srv.proc.pid) - before) / 1024
        assert grown < 2.0, f"RSS grew {grown:.1f} MiB over 2000 GetInstance"
    finally:
        srv.stop()
