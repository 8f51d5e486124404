"""GetMetricGraph's drawing from several threads at once (the embedded server answers
requests in threads; the web console asks for a page of graphs together): librrd's
graphing is not thread-safe, so vrmgmt.metrics.graphs draws one at a time. Drawn in a
child process, since the failure is a crash, a hang or heap corruption reported by
GLib, not an exception."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

TESTS = Path(__file__).resolve().parents[1]

CHILD = textwrap.dedent(
    """
    import sys, threading, time
    from pathlib import Path
    sys.path.insert(0, sys.argv[1])
    from support import rrdsynth
    from vrmgmt.metrics import graphs
    from vrmgmt.metrics.rrd import Element, RrdReader

    root = Path(sys.argv[2])
    uuid = "6695eb01-f6a4-8304-79aa-97f2502e193f"
    end = int(time.time()) // 10 * 10
    rrdsynth.vm_tree(root, "kvm1", uuid, end)
    reader, vm = RrdReader([root]), Element("kvm1", uuid)
    sizes = []

    def work():
        for _ in range(30):
            for fam in ("cpu", "memory", "network", "disk"):
                sizes.append(len(graphs.graph(reader, vm, fam, end - 86400, end, 500, 180)))

    threads = [threading.Thread(target=work) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    print(len(sizes), min(sizes))
    """
)


def test_graphs_drawn_from_six_threads_at_once(tmp_path):
    r = subprocess.run(
        [sys.executable, "-c", CHILD, str(TESTS), str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=90,
    )
    assert r.returncode == 0, (r.returncode, r.stderr[-2000:])
    assert "corrupted" not in r.stderr and "CRITICAL" not in r.stderr, r.stderr[-2000:]
    count, smallest = map(int, r.stdout.split())
    assert count == 6 * 30 * 4 and smallest > 1000  # every graph a real PNG
