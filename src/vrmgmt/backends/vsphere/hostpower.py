"""The ESXi host of a vSphere backend: its operating system (HostSystem's product and
boot time) and host power (EnterMaintenanceMode_Task, RebootHost_Task /
ShutdownHost_Task, ExitMaintenanceMode_Task). Host power needs exactly one ESXi host
behind the backend (an ESXi connection, or a vCenter with one host): a VRM_HostSystem is
one backend, and powering several hosts at once is not what a user asks for.

vcsim 0.24 implements Enter/ExitMaintenanceMode_Task but not RebootHost_Task or
ShutdownHost_Task (they answer a NotImplemented / MethodNotFound fault, reported as
NotSupported naming the method).
"""

from __future__ import annotations

from typing import Any

from pyVmomi import vim

from vrmgmt.backends.base import HostPowerAction
from vrmgmt.backends.vsphere.session import _props, _Session, _utc, _view_spec
from vrmgmt.errors import NotSupported
from vrmgmt.model import HostOS

#: CIM_OperatingSystem.OSType "VMware ESXi"
OSTYPE_ESXI = 104
_OS_PATHS = [
    "name",
    "summary.config.product.fullName",
    "summary.config.product.version",
    "runtime.bootTime",
    "runtime.inMaintenanceMode",
    "summary.hardware.memorySize",
    "summary.quickStats.overallMemoryUsage",
]


class HostPowerMixin:
    """Host methods of VSphereManager (which provides _call, _retrieve, _run_task)."""

    backend_id: str

    def _hosts(self, session: _Session) -> list[tuple[Any, dict[str, Any]]]:
        ocs = self._retrieve(  # type: ignore[attr-defined]
            session, [_view_spec(session.view(vim.HostSystem), vim.HostSystem, _OS_PATHS)]
        )
        return [(oc.obj, _props(oc)) for oc in ocs]

    def operating_system(self) -> HostOS:
        def read(session: _Session) -> HostOS:
            hosts = self._hosts(session)
            about = session.content.about
            note = "vSphere host processes are not exposed (DESIGN.md 'Host control')"
            if len(hosts) != 1:
                return HostOS(
                    name=about.fullName or "VMware vSphere",
                    os_type=OSTYPE_ESXI if hosts else 0,
                    version=about.version or None,
                    process_note=note,
                )
            _obj, p = hosts[0]
            total = p.get("summary.hardware.memorySize")
            used = p.get("summary.quickStats.overallMemoryUsage")
            total_kib = int(total) // 1024 if total else None
            return HostOS(
                name=p.get("summary.config.product.fullName") or about.fullName,
                os_type=OSTYPE_ESXI,
                version=p.get("summary.config.product.version") or about.version or None,
                last_boot=_utc(p.get("runtime.bootTime")),
                total_memory_kib=total_kib,
                free_memory_kib=(
                    max(0, total_kib - int(used) * 1024)
                    if total_kib is not None and used is not None
                    else None
                ),
                process_note=note,
            )

        return self._call(read)  # type: ignore[attr-defined]

    def host_power(self, action: HostPowerAction, force: bool = False) -> None:
        """Maintenance mode first (unless force), then the reboot / shutdown task; when
        that task fails, maintenance mode is left again (the host stays as it was)."""

        def find(session: _Session) -> tuple[str, bool]:
            hosts = self._hosts(session)
            if len(hosts) != 1:
                raise NotSupported(
                    f"host power needs exactly one ESXi host behind backend "
                    f"{self.backend_id!r}, found {len(hosts)}"
                )
            obj, p = hosts[0]
            return obj._moId, bool(p.get("runtime.inMaintenanceMode"))

        moid, in_maintenance = self._call(find)  # type: ignore[attr-defined]

        def host(session: _Session) -> Any:
            return session.ref(vim.HostSystem, moid)

        entered = False
        if not force and not in_maintenance:
            self._run_task(  # type: ignore[attr-defined]
                "EnterMaintenanceMode_Task",
                lambda s: host(s).EnterMaintenanceMode_Task(timeout=0),
            )
            entered = True
        method = "RebootHost_Task" if action is HostPowerAction.REBOOT else "ShutdownHost_Task"
        try:
            self._run_task(  # type: ignore[attr-defined]
                method, lambda s: getattr(host(s), method)(force=force)
            )
        except Exception:
            if entered:
                self._run_task(  # type: ignore[attr-defined]
                    "ExitMaintenanceMode_Task",
                    lambda s: host(s).ExitMaintenanceMode_Task(timeout=0),
                )
            raise

    def in_maintenance_mode(self) -> bool | None:
        """Whether the (single) ESXi host is in maintenance mode; None for several."""

        def read(session: _Session) -> bool | None:
            hosts = self._hosts(session)
            return bool(hosts[0][1].get("runtime.inMaintenanceMode")) if len(hosts) == 1 else None

        return self._call(read)  # type: ignore[attr-defined]
