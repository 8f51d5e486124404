"""Console access to vSphere VMs: a WebMKS ticket from VirtualMachine.AcquireTicket
("webmks"), the browser console's protocol (host, port and a one-time ticket; the URL is
wss://<host>:<port>/ticket/<ticket>). A server that does not implement AcquireTicket
(govmomi's vcsim 0.24 answers MethodNotFound) gives NotSupported saying so. A mixin of
VSphereManager."""

from __future__ import annotations

import urllib.parse

from pyVmomi import vim

from vrmgmt.backends.vsphere.session import _Session
from vrmgmt.model import Console, PowerState


class ConsolesMixin:
    """Console methods of VSphereManager (which provides _call, _vm_state and url)."""

    url: str

    def consoles(self, uuid: str) -> list[Console]:
        """A WebMKS console of the running VM ([] when it is not running)."""
        vm = self._vm_state(uuid)  # type: ignore[attr-defined]
        if vm.state is not PowerState.RUNNING:
            return []

        def acquire(session: _Session) -> list[Console]:
            ticket = session.ref(vim.VirtualMachine, vm.moid).AcquireTicket("webmks")
            # (vCenter may leave the host out: the console is then the server's own)
            host = ticket.host or urllib.parse.urlsplit(self.url).hostname or ""
            port = int(ticket.port or 443)
            url = f"wss://{host}:{port}/ticket/{ticket.ticket}"
            return [Console("webmks", host, port, url, ticket=ticket.ticket)]

        return self._call(acquire, idempotent=False)  # type: ignore[attr-defined]
