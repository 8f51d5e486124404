// The host page (#/host/<WBEM URI of a VRM_HostSystem>): facts, its operating system
// (VRM_RunningOS), its VMs (VRM_HostedDependency, with state badges and links), its
// processes (VRM_OperatingSystem → VRM_OSProcess → VRM_UnixProcess; terminate where the
// process's AvailableRequestedStates allow it, i.e. [host_control]
// allow_process_control, and for admins), reboot / shut down (the host's
// AvailableRequestedStates 10 / 4: [host_control] allow_power_actions and a backend
// that can; admins) and usage graphs. The server refuses what the page does not offer.

import {
  ensureCss, section, facts, table, when, serviceOf, runMethod, actionButton, rcText, P,
} from './common.js';
import { graphPanel, HOST_FAMILIES } from './graphs.js';

const HOST_PROPS = ['Name', 'ElementName', 'HostName', 'BackendID', 'BackendType', 'URI', 'HypervisorType',
  'HypervisorVersion', 'VirtualSystemType', 'CPUModel', 'NumberOfProcessors', 'ProcessorMHz',
  'MemoryTotalKiB', 'MemoryFreeKiB', 'EnabledState', 'OperationalStatus', 'StatusDescriptions',
  'AvailableRequestedStates', 'PowerControl'];
const OS_PROPS = ['Name', 'ElementName', 'Caption', 'Description', 'Version', 'OSType', 'OtherTypeDescription',
  'NumberOfProcesses', 'NumberOfUsers', 'TotalVisibleMemorySize', 'FreePhysicalMemory', 'AvailableRequestedStates'];
const VM_PROPS = ['Name', 'ElementName', 'EnabledState', 'OperationalStatus', 'NumberOfVirtualCPUs', 'MemoryKiB'];
const PROC_PROPS = ['Handle', 'Name', 'Parameters', 'ParentProcessID', 'RealUserID', 'ExecutionState',
  'AvailableRequestedStates', 'CreationDate', 'UserModeTime', 'KernelModeTime'];
const PAGE = 100;
const POWER = [[10, 'Reboot host'], [4, 'Shut down host']];
const TERMINATE = 3; // RequestStateChange 3 (Disabled) = SIGTERM
const LOST = 13;

export async function render(root, ctx, params) {
  ensureCss();
  const { ui, cim } = ctx;
  const { el } = ui;
  const path = ctx.CimPath.parse(params[0]);
  const host = await cim.getInstance(path, { propertyList: HOST_PROPS });
  const admin = ctx.can('admin');
  const h = host.props;
  const name = h.ElementName || h.Name;

  const powerBox = el('div', { class: 'power-actions', role: 'group', 'aria-label': 'Host power' });
  const jobs = el('div', { class: 'jobs', 'aria-live': 'polite' });
  const osBox = el('div', {}, el('p', { class: 'loading' }, 'Loading the operating system…'));
  const vmsBox = el('div', {}, el('p', { class: 'loading' }, 'Loading VMs…'));
  const procBox = el('div', {}, el('p', { class: 'loading' }, 'Loading processes…'));
  const graphsBox = el('div', {}, el('p', { class: 'loading' }, 'Loading graphs…'));
  const lost = (h.OperationalStatus || []).includes(LOST);

  const avail = new Set((h.AvailableRequestedStates || []).map(Number));
  if (!admin) powerBox.append(el('span', { class: 'muted', id: 'no-host-power' }, 'Only admins may reboot or shut down a host.'));
  else if (!POWER.some(([rs]) => avail.has(rs))) {
    powerBox.append(el('span', { class: 'muted', id: 'no-host-power' }, h.PowerControl || 'Power control is not possible for this host.'));
  }
  if (admin) {
    for (const [rs, label] of POWER.filter(([s]) => avail.has(s))) {
      powerBox.append(actionButton(ui, label, async () => {
        if (!(await ui.confirmDialog(`${label} ${name}? Its running VMs are affected.`, { ok: label }))) return;
        try {
          const { returnValue } = await runMethod(ctx, path, 'RequestStateChange', { RequestedState: P.u16(rs) }, { label: `${label} progress`, where: jobs });
          ui.toast(returnValue === 0 ? `${label}: requested` : `${label}: ${rcText(returnValue)}`, { kind: returnValue === 0 ? 'ok' : 'error' });
        } catch (e) {
          ui.toast(`${label} failed: ${ui.errorText(e)}`, { kind: 'error', timeout: 10000 });
        }
      }, { cls: 'danger', id: `host-power-${rs}` }));
    }
  }

  root.append(
    el('div', { class: 'page-head' }, el('h1', { id: 'host-title' }, name),
      el('span', { class: `badge ${lost ? 'badge-lost' : 'badge-running'}` }, lost ? 'Not reachable' : 'Connected')),
    section(ui, 'Facts', { id: 'host-facts' }, facts(ui, [
      ['Host name', h.HostName],
      ['Backend', `${h.BackendID || ''} (${h.BackendType || ''})`],
      ['URI', h.URI],
      ['Hypervisor', [h.HypervisorType, h.HypervisorVersion].filter(Boolean).join(' ')],
      ['CPU', [h.CPUModel, h.NumberOfProcessors ? `${h.NumberOfProcessors} CPUs` : null, h.ProcessorMHz ? `${h.ProcessorMHz} MHz` : null].filter(Boolean).join(', ')],
      ['Memory', h.MemoryTotalKiB ? `${ui.formatKiB(h.MemoryTotalKiB)} (${ui.formatKiB(h.MemoryFreeKiB)} free)` : null],
      ['Status', (h.StatusDescriptions || []).join('; ')],
    ])),
    section(ui, 'Power', { id: 'host-power' }, powerBox, jobs),
    section(ui, 'Operating system', { id: 'host-os' }, osBox),
    section(ui, 'Virtual machines', { id: 'host-vms' }, vmsBox),
    section(ui, 'Usage', { id: 'host-graphs', cls: 'wide' }, graphsBox),
    section(ui, 'Processes', { id: 'host-processes', cls: 'wide' }, procBox),
  );
  root.dataset.ready = 'true';

  let os = null;

  async function loadOs() {
    [os] = await cim.associators(path, { assocClass: 'VRM_RunningOS', resultClass: 'VRM_OperatingSystem', propertyList: OS_PROPS });
    if (!ctx.alive()) return;
    if (!os) { ui.clear(osBox).append(el('p', { class: 'muted' }, 'The operating system is not known.')); return; }
    const o = os.props;
    ui.clear(osBox).append(facts(ui, [
      ['System', o.Caption || o.ElementName],
      ['Version', o.Version],
      ['Processes', o.NumberOfProcesses],
      ['Users', o.NumberOfUsers],
      ['Memory', o.TotalVisibleMemorySize ? `${ui.formatKiB(o.TotalVisibleMemorySize)} (${ui.formatKiB(o.FreePhysicalMemory)} free)` : null],
      ['Notes', o.Description],
    ]));
  }

  async function loadVms() {
    const vms = await cim.associators(path, { assocClass: 'VRM_HostedDependency', resultClass: 'VRM_ComputerSystem', propertyList: VM_PROPS });
    if (!ctx.alive()) return;
    vms.sort((a, b) => String(a.props.ElementName).localeCompare(String(b.props.ElementName), undefined, { numeric: true }));
    let shown = 0;
    const tbody = el('tbody', {});
    const more = el('button', { type: 'button', class: 'more-button' }, 'Show more VMs');
    const addRows = () => {
      for (const v of vms.slice(shown, shown + PAGE)) {
        tbody.append(el('tr', { dataset: { name: v.props.ElementName } },
          el('td', {}, el('a', { href: ctx.href('vm', v.path) }, v.props.ElementName || v.props.Name)),
          el('td', {}, ui.badge(v.props.EnabledState, { lost: (v.props.OperationalStatus || []).includes(LOST) })),
          el('td', {}, v.props.NumberOfVirtualCPUs ?? ''),
          el('td', {}, v.props.MemoryKiB ? ui.formatKiB(v.props.MemoryKiB) : '')));
      }
      shown = Math.min(vms.length, shown + PAGE);
      more.hidden = shown >= vms.length;
      more.textContent = `Show more VMs (${vms.length - shown} more)`;
    };
    more.addEventListener('click', addRows);
    addRows();
    const tbl = el('div', { class: 'table-wrap' }, el('table', { class: 'vm-table' },
      el('caption', { class: 'sr-only' }, `VMs of ${name}`),
      el('thead', {}, el('tr', {}, ['Name', 'State', 'vCPUs', 'Memory'].map((t) => el('th', { scope: 'col' }, t)))),
      tbody));
    ui.clear(vmsBox).append(el('p', { class: 'count', id: 'host-vm-count' }, `${vms.length} VMs`),
      vms.length ? tbl : el('p', { class: 'muted' }, 'No VMs.'), more);
  }

  async function loadProcesses() {
    if (!os) { ui.clear(procBox).append(el('p', { class: 'muted' }, 'No process list for this host.')); return; }
    const filter = el('input', { id: 'proc-filter', type: 'search', placeholder: 'PID, name or command', autocomplete: 'off' });
    const refresh = el('button', { type: 'button', id: 'proc-refresh' }, 'Refresh');
    const listBox = el('div', { class: 'proc-list' });
    const draw = async () => {
      const procs = await cim.associators(os.path, { assocClass: 'VRM_OSProcess', resultClass: 'VRM_UnixProcess', propertyList: PROC_PROPS });
      if (!ctx.alive()) return;
      procs.sort((a, b) => Number(a.props.Handle) - Number(b.props.Handle));
      const q = filter.value.trim().toLowerCase();
      const match = (p) => !q || String(p.props.Handle) === q
        || String(p.props.Name || '').toLowerCase().includes(q)
        || (p.props.Parameters || []).join(' ').toLowerCase().includes(q);
      const list = procs.filter(match);
      const rows = list.slice(0, 500).map((p) => {
        const pr = p.props;
        const canTerm = admin && (pr.AvailableRequestedStates || []).map(Number).includes(TERMINATE);
        const cmd = (pr.Parameters || []).join(' ');
        return el('tr', { dataset: { pid: String(pr.Handle) } },
          el('td', { class: 'num' }, pr.Handle),
          el('td', {}, pr.Name || ''),
          el('td', { class: 'num' }, pr.RealUserID ?? ''),
          el('td', { class: 'num' }, pr.ParentProcessID ?? ''),
          el('td', { class: 'cmd', title: cmd }, cmd),
          el('td', {}, when(pr.CreationDate)),
          el('td', { class: 'row-actions' }, canTerm ? actionButton(ui, 'Terminate', async () => {
            if (!(await ui.confirmDialog(`Terminate process ${pr.Handle} (${pr.Name})?`, { ok: 'Terminate' }))) return;
            try {
              const { returnValue } = await runMethod(ctx, p.path, 'RequestStateChange', { RequestedState: P.u16(TERMINATE) }, { where: jobs, label: 'Terminate progress' });
              ui.toast(returnValue === 0 ? `Process ${pr.Handle} terminated` : `Terminate ${pr.Handle}: ${rcText(returnValue)}`, { kind: returnValue === 0 ? 'ok' : 'error' });
            } catch (e) {
              ui.toast(`Terminate ${pr.Handle} failed: ${ui.errorText(e)}`, { kind: 'error', timeout: 10000 });
            }
            await draw();
          }, { ariaLabel: `Terminate process ${pr.Handle} ${pr.Name}`, cls: 'danger' }) : ''));
      });
      ui.clear(listBox).append(
        el('p', { class: 'count', id: 'proc-count' }, `${procs.length} processes${q ? `, ${list.length} matching` : ''}${list.length > 500 ? ' (first 500 shown)' : ''}`),
        el('div', { class: 'scroll', tabindex: '0', 'aria-label': `Processes of ${name}` },
          table(ui, `Processes of ${name}`, ['PID', 'Name', 'UID', 'Parent', 'Command', 'Started', ''], rows, { cls: 'proc-table' })));
      listBox.dataset.ready = 'true';
    };
    let timer = null;
    filter.addEventListener('input', () => { clearTimeout(timer); timer = setTimeout(draw, 250); });
    refresh.addEventListener('click', draw);
    ui.clear(procBox).append(el('div', { class: 'toolbar' },
      el('label', { for: 'proc-filter' }, 'Filter processes'), filter, refresh), listBox);
    await draw();
  }

  async function loadGraphs() {
    const svc = await serviceOf(cim, path, 'VRM_MetricService', 'VRM_HostedMetricService');
    if (!ctx.alive()) return;
    if (!svc) { ui.clear(graphsBox).append(el('p', { class: 'muted' }, 'This host has no metric service.')); return; }
    ui.clear(graphsBox).append(graphPanel(ctx, path, svc.path, { families: HOST_FAMILIES }));
  }

  const fail = (box) => (e) => ui.clear(box).append(el('p', { class: 'error' }, ui.errorText(e)));
  (async () => {
    await Promise.all([
      loadOs().catch(fail(osBox)).then(() => loadProcesses().catch(fail(procBox))),
      loadVms().catch(fail(vmsBox)),
      loadGraphs().catch(fail(graphsBox)),
    ]);
  })();
}
