"""Shared set-up of the per-class metrics cases (tests/classes/test_metric_service.py,
test_base_metric_value.py): a synthetic year of RRD history (support.rrdsynth) for the
test node's host and its VM alpha (beta runs but has no files, gamma is off), served by
a host of each kind with [metrics] rrd_roots pointing at it."""

from __future__ import annotations

import time

import cmpi_testkit as kit
import pywbem

from support import rrdsynth
from support.classhosts import open_host

ALPHA, BETA, GAMMA = (kit.VMS[n][0] for n in ("alpha", "beta", "gamma"))
VCPUS = 2  # cmpi_testkit's domains
NS = kit.NS


def make_tree(root):
    end = int(time.time()) // rrdsynth.STEP * rrdsynth.STEP
    rrdsynth.vm_tree(root, kit.BACKEND, ALPHA, end)
    rrdsynth.host_tree(root, kit.BACKEND, end)
    return end


def open_metrics_host(kind, d, root):
    return open_host(kind, d, sections={"metrics": {"rrd_roots": [str(root)]}})


def vm(uuid):
    return pywbem.CIMInstanceName(
        "VRM_ComputerSystem", {"CreationClassName": "VRM_ComputerSystem", "Name": uuid}, NS
    )


def host():
    return pywbem.CIMInstanceName(
        "VRM_HostSystem", {"CreationClassName": "VRM_HostSystem", "Name": kit.BACKEND}, NS
    )
