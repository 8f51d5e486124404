"""Load test of `vrmgmt serve`: many concurrent pywbem clients, zero failures, stable RSS.

    python -m bench.load --clients 32 --seconds 60 [--domains 200] [--procs N]

Starts a server (authentication on, plain HTTP) over a libvirt test-driver backend with
`--domains` running domains, warms it up with the same workload, records the server's
RSS (VmRSS of /proc/<pid>/status), then runs `--clients` pywbem WBEMConnections for
`--seconds`. The clients run as threads spread over `--procs` worker processes
(default: 2 per CPU, at most one per client), so the client side, which parses CIM-XML
in Python, is not serialised on one GIL. Each client loops over a weighted mix:

- EnumerateInstances VRM_ComputerSystem (all domains),
- GetInstance of a random VM,
- Associators of a random VM (its host, settings, ...),
- RequestStateChange pause (9) then resume (2) of one of the client's *own* VMs (every
  domain belongs to one client), so the state stays consistent: both calls must return
  0, and at the end every VM must be enabled again.

Every loop is bounded by time and by count; every request has a timeout. Prints a
results block for docs/PERFORMANCE.md: requests, failures (must be 0), requests/s,
latency p50/p95/p99 per operation, RSS after warm-up / at the end / peak (end must be
within --rss-tolerance of after warm-up), machine (nproc, CPU model, Python).
tests/test_load.py runs a short form of the same code.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

PROJECT = Path(__file__).resolve().parents[1]
if str(PROJECT / "tests") not in sys.path:
    sys.path.insert(0, str(PROJECT / "tests"))

OPS = ("EnumerateInstances", "GetInstance", "Associators", "RequestStateChange")
DEFAULT_MIX = {"EnumerateInstances": 1, "GetInstance": 4, "Associators": 2, "RequestStateChange": 3}
VM_CLASS = "VRM_ComputerSystem"
ENABLED, QUIESCE = 2, 9


def vm_path(uuid: str):
    import pywbem

    return pywbem.CIMInstanceName(
        VM_CLASS, {"CreationClassName": VM_CLASS, "Name": uuid}, namespace="root/virt"
    )


# --------------------------------------------------------------------------------------
# Measurements


def rss_kib(pid: int) -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise RuntimeError(f"no VmRSS for pid {pid}")


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process (utime + stime of /proc/<pid>/stat)."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def percentile(sorted_values: list[float], p: float) -> float:
    if not sorted_values:
        return float("nan")
    k = (len(sorted_values) - 1) * p / 100
    lo = int(k)
    hi = min(lo + 1, len(sorted_values) - 1)
    return sorted_values[lo] + (sorted_values[hi] - sorted_values[lo]) * (k - lo)


def machine() -> dict[str, str]:
    model = "?"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return {
        "nproc": str(os.cpu_count()),
        "cpu": model,
        "python": platform.python_version(),
        "os": f"{platform.system()} {platform.release()}",
    }


# --------------------------------------------------------------------------------------
# Client side (runs in worker processes)


@dataclass
class ClientSpec:
    index: int
    own: list[str]  # UUIDs this client may pause/resume


@dataclass
class WorkerResult:
    latencies: dict[str, list[float]] = field(default_factory=lambda: {op: [] for op in OPS})
    failures: list[str] = field(default_factory=list)
    requests: int = 0


def _client_loop(
    url: str,
    creds: tuple[str, str] | None,
    spec: ClientSpec,
    all_uuids: list[str],
    mix: dict[str, int],
    deadline: float,
    max_requests: int,
    timeout: float,
    result: WorkerResult,
    lock: threading.Lock,
) -> None:
    import pywbem

    rng = random.Random(spec.index)
    conn = pywbem.WBEMConnection(url, creds, default_namespace="root/virt", timeout=timeout)
    ops = [op for op, w in mix.items() for _ in range(w)]
    n = 0
    local: dict[str, list[float]] = {op: [] for op in OPS}
    failures: list[str] = []
    while time.monotonic() < deadline and n < max_requests:
        op = rng.choice(ops)
        if op == "RequestStateChange" and not spec.own:
            op = "GetInstance"
        try:
            if op == "EnumerateInstances":
                t0 = time.perf_counter()
                insts = conn.EnumerateInstances(VM_CLASS)
                local[op].append(time.perf_counter() - t0)
                n += 1
                if len(insts) != len(all_uuids):
                    failures.append(f"EnumerateInstances: {len(insts)} of {len(all_uuids)}")
            elif op == "GetInstance":
                uuid = rng.choice(all_uuids)
                t0 = time.perf_counter()
                inst = conn.GetInstance(vm_path(uuid))
                local[op].append(time.perf_counter() - t0)
                n += 1
                if inst["Name"] != uuid:
                    failures.append(f"GetInstance {uuid}: got {inst['Name']}")
            elif op == "Associators":
                t0 = time.perf_counter()
                assoc = conn.Associators(vm_path(rng.choice(all_uuids)))
                local[op].append(time.perf_counter() - t0)
                n += 1
                if not assoc:
                    failures.append("Associators: empty")
            else:
                uuid = rng.choice(spec.own)
                for state in (QUIESCE, ENABLED):
                    t0 = time.perf_counter()
                    rv, _ = conn.InvokeMethod(
                        "RequestStateChange", vm_path(uuid), RequestedState=pywbem.Uint16(state)
                    )
                    local[op].append(time.perf_counter() - t0)
                    n += 1
                    if rv != 0:
                        failures.append(f"RequestStateChange({state}) on {uuid} returned {rv}")
        except Exception as exc:  # noqa: BLE001 - every failure is counted and reported
            n += 1
            failures.append(f"{op}: {type(exc).__name__}: {str(exc)[:200]}")
    with lock:
        for op, values in local.items():
            result.latencies[op].extend(values)
        result.failures.extend(failures)
        result.requests += n


def run_worker(
    url: str,
    creds: tuple[str, str] | None,
    specs: list[ClientSpec],
    all_uuids: list[str],
    mix: dict[str, int],
    start_at: float,
    seconds: float,
    max_requests: int,
    timeout: float,
) -> WorkerResult:
    """One worker process: a thread per client, all starting at wall-clock `start_at`
    and stopping `seconds` later (or after `max_requests` each)."""
    import pywbem  # noqa: F401 - imported before the start time, not during the run

    result = WorkerResult()
    lock = threading.Lock()
    time.sleep(max(0.0, start_at - time.time()))
    deadline = time.monotonic() + seconds
    threads = [
        threading.Thread(
            target=_client_loop,
            args=(url, creds, s, all_uuids, mix, deadline, max_requests, timeout, result, lock),
            name=f"client-{s.index}",
            daemon=True,
        )
        for s in specs
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(seconds + timeout + 30)
        if t.is_alive():
            result.failures.append(f"{t.name} did not finish")
    return result


def _worker_main(spec_file: str) -> int:
    """`python -m bench.load --worker SPEC.json`: run_worker, result as JSON on stdout."""
    spec = json.loads(Path(spec_file).read_text())
    res = run_worker(
        spec["url"],
        tuple(spec["creds"]) if spec["creds"] else None,
        [ClientSpec(c["index"], c["own"]) for c in spec["clients"]],
        spec["uuids"],
        spec["mix"],
        spec["start_at"],
        spec["seconds"],
        spec["max_requests"],
        spec["timeout"],
    )
    json.dump(
        {"latencies": res.latencies, "failures": res.failures, "requests": res.requests},
        sys.stdout,
    )
    return 0


# --------------------------------------------------------------------------------------
# Orchestration


@dataclass
class LoadResult:
    clients: int
    procs: int
    seconds: float
    domains: int
    requests: int
    failures: list[str]
    latencies: dict[str, list[float]]
    rss_start_kib: int
    rss_warm_kib: int
    rss_end_kib: int
    rss_peak_kib: int
    rss_timeline: list[tuple[float, int]]
    warmup_requests: int
    elapsed: float
    final_states_ok: bool
    mix: dict[str, int]
    server_cpu: float = 0.0  # CPU seconds the server used during the run
    server_threads: int = 16

    @property
    def rate(self) -> float:
        return self.requests / self.elapsed if self.elapsed else 0.0

    @property
    def rss_growth(self) -> float:
        return (self.rss_end_kib - self.rss_warm_kib) / self.rss_warm_kib

    def timeline_summary(self, points: int = 7) -> str:
        tl = self.rss_timeline
        if not tl:
            return "-"
        step = max(1, (len(tl) - 1) // (points - 1))
        picked = tl[::step]
        if picked[-1] != tl[-1]:
            picked.append(tl[-1])
        return ", ".join(f"{t:.0f}: {kib / 1024:.1f}" for t, kib in picked)

    def report(self) -> str:
        m = machine()
        all_lat = sorted(v for values in self.latencies.values() for v in values)
        lines = [
            f"### Load: {self.clients} concurrent pywbem clients for {self.seconds:g} s",
            "",
            f"- machine: {m['nproc']} CPUs ({m['cpu']}), Python {m['python']}, {m['os']}",
            f"- server: `vrmgmt serve`, HTTP, auth on, {self.server_threads} threads; one libvirt"
            f" test-driver backend with {self.domains} running domains",
            f"- clients: {self.clients} pywbem WBEMConnections as threads in {self.procs} worker"
            " processes (processes so that client-side XML parsing is not serialised on one"
            " GIL), on the same machine as the server",
            "- mix (weights): "
            + ", ".join(f"{op} {w}" for op, w in self.mix.items())
            + "; RequestStateChange = pause (9) + resume (2) of the client's own VM",
            "",
            "| operation | requests | p50 ms | p95 ms | p99 ms |",
            "| --- | ---: | ---: | ---: | ---: |",
        ]
        for op in OPS:
            lat = sorted(self.latencies.get(op, []))
            if lat:
                lines.append(
                    f"| {op} | {len(lat)} | {percentile(lat, 50) * 1e3:.1f} | "
                    f"{percentile(lat, 95) * 1e3:.1f} | {percentile(lat, 99) * 1e3:.1f} |"
                )
        lines.append(
            f"| **all** | {len(all_lat)} | {percentile(all_lat, 50) * 1e3:.1f} | "
            f"{percentile(all_lat, 95) * 1e3:.1f} | {percentile(all_lat, 99) * 1e3:.1f} |"
        )
        lines += [
            "",
            f"- total requests: {self.requests} in {self.elapsed:.1f} s = "
            f"**{self.rate:.0f} requests/s**; failures: **{len(self.failures)}**",
            f"- server CPU: {self.server_cpu:.1f} s in {self.elapsed:.1f} s "
            f"({self.server_cpu / self.elapsed * 100 if self.elapsed else 0:.0f} % of one CPU; "
            "the rest of the machine ran the clients)",
            f"- server RSS: {self.rss_start_kib / 1024:.1f} MiB idle, "
            f"{self.rss_warm_kib / 1024:.1f} MiB after warm-up ({self.warmup_requests} requests), "
            f"{self.rss_end_kib / 1024:.1f} MiB at the end ({self.rss_growth * 100:+.1f} %), "
            f"peak {self.rss_peak_kib / 1024:.1f} MiB",
            "- server RSS during the run (s: MiB): " + self.timeline_summary(),
            f"- every VM enabled again at the end: {'yes' if self.final_states_ok else 'NO'}",
        ]
        for f in self.failures[:10]:
            lines.append(f"- failure: {f}")
        return "\n".join(lines)


def start_server(workdir: Path, domains: int, threads: int = 16):
    from support.server import VrmServer
    from support.testdriver import node_uri, write_node_xml

    workdir.mkdir(parents=True, exist_ok=True)
    node = workdir / "node.xml"
    doms = write_node_xml(node, domains, running_every=1, seed=7)
    srv = VrmServer(
        workdir,
        [{"id": "loadhost", "type": "libvirt", "uri": node_uri(node)}],
        extra_config="",
    )
    srv.domains = doms
    srv.start()
    return srv


def _phase(
    srv,
    procs: int,
    specs: list[ClientSpec],
    uuids: list[str],
    mix: dict[str, int],
    seconds: float,
    max_requests: int,
    timeout: float,
    workdir: Path,
    name: str,
) -> tuple[WorkerResult, float]:
    """Run the clients in `procs` worker processes (`python -m bench.load --worker`),
    all starting at the same wall-clock time; return merged results and that time."""
    start_at = time.time() + 2.0  # time for the workers to start and import pywbem
    workers = []
    for i in range(procs):
        group = specs[i::procs]
        if not group:
            continue
        spec_file = workdir / f"{name}-worker{i}.json"
        spec_file.write_text(
            json.dumps(
                {
                    "url": srv.url,
                    "creds": list(srv.creds) if srv.creds else None,
                    "clients": [{"index": c.index, "own": c.own} for c in group],
                    "uuids": uuids,
                    "mix": mix,
                    "start_at": start_at,
                    "seconds": seconds,
                    "max_requests": max_requests,
                    "timeout": timeout,
                }
            )
        )
        workers.append(
            subprocess.Popen(
                [sys.executable, "-m", "bench.load", "--worker", str(spec_file)],
                cwd=PROJECT,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
        )
    merged = WorkerResult()
    for w in workers:
        try:
            out, err = w.communicate(timeout=seconds + timeout + 120)
        except subprocess.TimeoutExpired:
            w.kill()
            out, err = w.communicate()
            merged.failures.append("a worker process did not finish")
            continue
        if w.returncode != 0:
            merged.failures.append(f"worker exited with {w.returncode}: {err[-500:]}")
            continue
        r = json.loads(out)
        for op, values in r["latencies"].items():
            merged.latencies[op].extend(values)
        merged.failures.extend(r["failures"])
        merged.requests += r["requests"]
    return merged, start_at


def run_load(
    clients: int = 32,
    seconds: float = 60,
    domains: int = 200,
    procs: int | None = None,
    warmup: float | None = None,
    mix: dict[str, int] | None = None,
    timeout: float = 60.0,
    max_requests_per_client: int = 1_000_000,
    workdir: Path | None = None,
) -> LoadResult:
    mix = dict(mix or DEFAULT_MIX)
    procs = procs or max(1, min(clients, 2 * (os.cpu_count() or 1)))
    warmup = warmup if warmup is not None else min(10.0, max(3.0, seconds / 6))
    tmp = None
    if workdir is None:
        tmp = tempfile.TemporaryDirectory(prefix="vrmgmt-load-")
        workdir = Path(tmp.name)
    srv = start_server(workdir / "srv", domains)
    try:
        pid = srv.proc.pid
        uuids = [u for _, u in srv.domains]
        specs = [ClientSpec(i, uuids[i::clients]) for i in range(clients)]
        rss_start = rss_kib(pid)
        warm, _ = _phase(srv, procs, specs, uuids, mix, warmup, 10**9, timeout, workdir, "warmup")
        if warm.failures:
            raise RuntimeError(f"warm-up failed: {warm.failures[:5]}")
        rss_warm = rss_kib(pid)
        timeline: list[tuple[float, int]] = []
        stop = threading.Event()
        t0 = [time.time() + 2.0]

        def sample() -> None:
            while not stop.wait(0.5):
                try:
                    timeline.append((time.time() - t0[0], rss_kib(pid)))
                except (OSError, RuntimeError):
                    return

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        cpu0 = cpu_seconds(pid)
        result, started = _phase(
            srv, procs, specs, uuids, mix, seconds, max_requests_per_client, timeout, workdir, "run"
        )
        t0[0] = started
        elapsed = time.time() - started
        server_cpu = cpu_seconds(pid) - cpu0
        stop.set()
        sampler.join(5)
        timeline = [(t, kib) for t, kib in timeline if t >= 0]
        timeline.insert(0, (0.0, rss_warm))
        rss_end = rss_kib(pid)
        states = {
            str(i["Name"]): int(i["EnabledState"])
            for i in srv.conn(timeout=timeout).EnumerateInstances(VM_CLASS)
        }
        final_ok = len(states) == len(uuids) and all(v == ENABLED for v in states.values())
        if not srv.alive():
            result.failures.append("server process died")
        return LoadResult(
            clients=clients,
            procs=procs,
            seconds=seconds,
            domains=domains,
            requests=result.requests,
            failures=result.failures,
            latencies=result.latencies,
            rss_start_kib=rss_start,
            rss_warm_kib=rss_warm,
            rss_end_kib=rss_end,
            rss_peak_kib=max(max(v for _, v in timeline), rss_end),
            rss_timeline=timeline,
            warmup_requests=warm.requests,
            elapsed=elapsed,
            final_states_ok=final_ok,
            mix=mix,
            server_cpu=server_cpu,
        )
    finally:
        srv.stop()
        if tmp is not None:
            tmp.cleanup()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.load", description=__doc__.split("\n")[0])
    ap.add_argument("--clients", type=int, default=32)
    ap.add_argument("--seconds", type=float, default=60)
    ap.add_argument("--domains", type=int, default=200)
    ap.add_argument("--procs", type=int, default=None, help="worker processes (default 2/CPU)")
    ap.add_argument("--warmup", type=float, default=None, help="warm-up seconds")
    ap.add_argument("--rss-tolerance", type=float, default=0.10)
    ap.add_argument("--worker", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.worker:
        return _worker_main(args.worker)
    res = run_load(args.clients, args.seconds, args.domains, args.procs, args.warmup)
    print(res.report())
    ok = (
        not res.failures
        and res.final_states_ok
        and abs(res.rss_growth) <= args.rss_tolerance
        and res.requests > 0
    )
    print("RESULT:", "PASS" if ok else "FAIL")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
