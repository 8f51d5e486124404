// The VM page (#/vm/<WBEM URI of a VRM_ComputerSystem>): state and facts, power actions
// (exactly the VM's AvailableRequestedStates, for operators and admins), the console
// link when the VM has a VRM_KVMRedirectionSAP, its settings (VSSD and RASDs through
// VRM_ElementSettingData and VRM_VirtualSystemSettingDataComponent, with property
// lists), snapshots (VRM_SnapshotOfVirtualSystem; create/apply/delete through the host's
// VRM_VirtualSystemSnapshotService) and usage graphs (graphs.js).
//
// Speed: the page is drawn from one GetInstance (property list) and returned; the
// host, settings, snapshots, console and graphs load after, each into its own section,
// so a click shows the VM at once however many VMs the server has.

import {
  ensureCss, section, facts, table, when, hostOf, serviceOf, runMethod, actionButton, rcText, P,
} from './common.js';
import { graphPanel, VM_FAMILIES } from './graphs.js';

const POLL_MS = 5000;
const VM_PROPS = ['Name', 'ElementName', 'EnabledState', 'RequestedState', 'AvailableRequestedStates',
  'OperationalStatus', 'HealthState', 'StatusDescriptions', 'VirtualSystemType', 'NumberOfVirtualCPUs',
  'MemoryKiB', 'BackendID', 'Autostart', 'UptimeSeconds', 'Description'];
const STATE_PROPS = ['EnabledState', 'RequestedState', 'AvailableRequestedStates', 'OperationalStatus', 'UptimeSeconds'];
const VSSD_PROPS = ['InstanceID', 'ElementName', 'VirtualSystemIdentifier', 'VirtualSystemType',
  'AutomaticStartupAction', 'AutomaticRecoveryAction', 'Notes', 'CreationTime'];
const RASD_PROPS = ['InstanceID', 'ElementName', 'ResourceType', 'ResourceSubType', 'VirtualQuantity',
  'AllocationUnits', 'Reservation', 'Limit', 'Weight', 'HostResource', 'Connection', 'Address',
  'AddressOnParent', 'Capacity'];
const SNAP_PROPS = ['InstanceID', 'ElementName', 'Description', 'CreationTime', 'EnabledStateWhenApplied'];
const RESOURCE_TYPES = { 3: 'Processor', 4: 'Memory', 10: 'Ethernet adapter', 15: 'CD drive', 16: 'DVD drive', 17: 'Disk', 31: 'Logical disk' };
const STARTUP = { 2: 'none', 3: 'restart if previously active', 4: 'always start' };
const LOST = 13;

function uptime(s) {
  if (s === null || s === undefined) return null;
  const d = Math.floor(s / 86400); const h = Math.floor((s % 86400) / 3600); const m = Math.floor((s % 3600) / 60);
  return d ? `${d} d ${h} h` : h ? `${h} h ${m} min` : `${m} min`;
}

/** Bytes of a quantity in DSP0004 programmatic units ("byte*2^20"), or null. */
function bytesOf(q, units) {
  const m = /^byte(?:\s*\*\s*2\^(\d+))?$/i.exec(String(units || '').trim());
  return m ? Number(q) * 2 ** Number(m[1] || 0) : null;
}

function quantity(ui, r) {
  const q = r.VirtualQuantity;
  if (r.ResourceType === 3 && q !== null && q !== undefined) return `${q} vCPU${Number(q) === 1 ? '' : 's'}`;
  if (q === null || q === undefined) return r.Capacity ? ui.formatKiB(Number(r.Capacity) / 1024) : '';
  const b = bytesOf(q, r.AllocationUnits);
  if (b !== null) return ui.formatKiB(b / 1024);
  return r.AllocationUnits ? `${q} ${r.AllocationUnits}` : String(q);
}

export async function render(root, ctx, params) {
  ensureCss();
  const { ui, cim } = ctx;
  const { el } = ui;
  const path = ctx.CimPath.parse(params[0]);
  const vm = await cim.getInstance(path, { propertyList: VM_PROPS });
  const may = ctx.can('operator');

  const title = el('h1', { id: 'vm-title' }, vm.props.ElementName || vm.props.Name);
  const badgeBox = el('span', { class: 'vm-badge', id: 'vm-state' });
  const actions = el('div', { class: 'power-actions', role: 'group', 'aria-label': 'Power actions' });
  const jobs = el('div', { class: 'jobs', 'aria-live': 'polite' });
  const consoleBox = el('span', { class: 'console-link' });
  const hostLink = el('span', { class: 'host-link' });
  const factsBox = el('div', {});
  const settingsBox = el('div', {}, el('p', { class: 'loading' }, 'Loading settings…'));
  const snapsBox = el('div', {}, el('p', { class: 'loading' }, 'Loading snapshots…'));
  const graphsBox = el('div', {}, el('p', { class: 'loading' }, 'Loading graphs…'));
  let busy = false;

  function drawState(v) {
    const lost = (v.props.OperationalStatus || []).includes(LOST);
    ui.clear(badgeBox).append(ui.badge(v.props.EnabledState, { lost }));
    root.dataset.state = String(v.props.EnabledState);
    ui.clear(factsBox).append(facts(ui, [
      ['State', ui.stateName(v.props.EnabledState)],
      ['UUID', v.props.Name],
      ['Type', v.props.VirtualSystemType],
      ['Virtual CPUs', v.props.NumberOfVirtualCPUs],
      ['Memory', v.props.MemoryKiB !== null && v.props.MemoryKiB !== undefined ? ui.formatKiB(v.props.MemoryKiB) : null],
      ['Autostart', v.props.Autostart === null || v.props.Autostart === undefined ? null : (v.props.Autostart ? 'yes' : 'no')],
      ['Uptime', uptime(v.props.UptimeSeconds)],
      ['Backend', v.props.BackendID],
      ['Status', (v.props.StatusDescriptions || []).join('; ')],
    ]));
    ui.clear(actions);
    if (!may) {
      actions.append(el('span', { class: 'muted', id: 'no-power-actions' }, 'Your role may not change power states.'));
      return;
    }
    const avail = new Set((v.props.AvailableRequestedStates || []).map(Number));
    const offered = ui.POWER_ACTIONS.filter(([rs]) => avail.has(rs));
    if (!offered.length) actions.append(el('span', { class: 'muted' }, 'No power action is possible now.'));
    for (const [rs, label] of offered) {
      actions.append(actionButton(ui, label, () => power(rs, label), {
        ariaLabel: `${label} ${vm.props.ElementName}`, cls: 'power', id: `power-${rs}`,
      }));
    }
    for (const b of actions.querySelectorAll('button')) b.disabled = busy;
    actions.dataset.states = offered.map(([rs]) => rs).join(',');
  }

  async function refreshState() {
    const v = await cim.getInstance(path, { propertyList: STATE_PROPS });
    Object.assign(vm.props, v.props);
    drawState(vm);
  }

  async function power(rs, label) {
    if ([3, 11].includes(rs) && !(await ui.confirmDialog(`${label} ${vm.props.ElementName}? Unsaved guest data may be lost.`, { ok: label }))) return;
    busy = true;
    for (const b of actions.querySelectorAll('button')) b.disabled = true;
    try {
      const { returnValue } = await runMethod(ctx, path, 'RequestStateChange', { RequestedState: P.u16(rs) },
        { label: `${label} progress`, where: jobs });
      if (returnValue !== 0) ui.toast(`${label}: ${rcText(returnValue)}`, { kind: 'error' });
      else ui.toast(`${label}: done`, { kind: 'ok' });
    } catch (e) {
      ui.toast(`${label} failed: ${ui.errorText(e)}`, { kind: 'error', timeout: 10000 });
    } finally {
      busy = false;
      await refreshState().catch(() => {});
    }
  }

  drawState(vm);
  root.append(
    el('div', { class: 'page-head' }, title, badgeBox, hostLink, consoleBox),
    section(ui, 'Power', { id: 'vm-power' }, actions, jobs),
    section(ui, 'Facts', { id: 'vm-facts' }, factsBox),
    section(ui, 'Settings', { id: 'vm-settings', cls: 'wide' }, settingsBox),
    section(ui, 'Snapshots', { id: 'vm-snapshots' }, snapsBox),
    section(ui, 'Usage', { id: 'vm-graphs', cls: 'wide' }, graphsBox),
  );
  root.dataset.ready = 'true';

  // -- everything else, after the page is shown -------------------------------------
  const later = async () => {
    const host = await hostOf(cim, path).catch(() => null);
    if (!ctx.alive()) return;
    if (host) {
      hostLink.append('on ', el('a', { href: ctx.href('host', host.path), id: 'vm-host-link' }, host.props.ElementName || host.props.Name));
    }
    await Promise.all([
      loadConsole().catch((e) => consoleBox.append(el('span', { class: 'muted' }, `console: ${ui.errorText(e)}`))),
      loadSettings().catch((e) => ui.clear(settingsBox).append(el('p', { class: 'error' }, ui.errorText(e)))),
      loadSnapshots(host).catch((e) => ui.clear(snapsBox).append(el('p', { class: 'error' }, ui.errorText(e)))),
      loadGraphs(host).catch((e) => ui.clear(graphsBox).append(el('p', { class: 'error' }, ui.errorText(e)))),
    ]);
  };

  async function loadConsole() {
    const saps = await cim.associators(path, {
      assocClass: 'VRM_HostedAccessPoint', resultClass: 'VRM_KVMRedirectionSAP',
      propertyList: ['Name', 'AccessInfo', 'Hostname', 'Port', 'KVMProtocol', 'OtherKVMProtocol'],
    });
    if (!ctx.alive()) return;
    for (const s of saps) {
      const proto = s.props.KVMProtocol === 4 ? 'VNC' : (s.props.OtherKVMProtocol || 'console');
      const url = s.props.AccessInfo || `${proto.toLowerCase()}://${s.props.Hostname}:${s.props.Port}`;
      consoleBox.append(el('a', { href: url, class: 'console', rel: 'noopener', 'aria-label': `Open the ${proto} console of ${vm.props.ElementName}` }, `${proto} console`),
        el('span', { class: 'muted' }, ` ${s.props.Hostname || ''}:${s.props.Port || ''}`));
    }
  }

  async function loadSettings() {
    const [vssd] = await cim.associators(path, {
      assocClass: 'VRM_ElementSettingData', resultClass: 'VRM_VirtualSystemSettingData', propertyList: VSSD_PROPS,
    });
    if (!ctx.alive()) return;
    if (!vssd) { ui.clear(settingsBox).append(el('p', {}, 'No settings are known for this VM.')); return; }
    const rasds = await cim.associators(vssd.path, {
      assocClass: 'VRM_VirtualSystemSettingDataComponent', propertyList: RASD_PROPS,
    });
    if (!ctx.alive()) return;
    const order = (r) => [3, 4, 17, 15, 16, 31, 10].indexOf(r.props.ResourceType);
    rasds.sort((a, b) => order(a) - order(b));
    const rows = rasds.map((r) => {
      const p = r.props;
      const where = [...(p.HostResource || []), ...(p.Connection || [])].join(', ');
      return el('tr', { dataset: { resourceType: String(p.ResourceType) } },
        el('td', {}, RESOURCE_TYPES[p.ResourceType] || `type ${p.ResourceType}`),
        el('td', {}, p.ElementName || ''),
        el('td', {}, quantity(ui, p)),
        el('td', {}, where),
        el('td', {}, p.Address || p.AddressOnParent || ''));
    });
    ui.clear(settingsBox).append(
      facts(ui, [
        ['Name', vssd.props.ElementName],
        ['Startup', STARTUP[vssd.props.AutomaticStartupAction]],
        ['Created', when(vssd.props.CreationTime)],
        ['Notes', (vssd.props.Notes || []).join(' ')],
      ]),
      table(ui, 'Virtual resources', ['Resource', 'Name', 'Quantity', 'Host resource / network', 'Address'], rows, { cls: 'rasds' }),
    );
  }

  async function loadSnapshots(host) {
    const svc = host ? await serviceOf(cim, host.path, 'VRM_VirtualSystemSnapshotService') : null;
    if (!ctx.alive()) return;
    if (!svc) { ui.clear(snapsBox).append(el('p', { class: 'muted' }, 'This host takes no snapshots.')); return; }
    const draw = async () => {
      const [snaps, current] = await Promise.all([
        cim.associators(path, { assocClass: 'VRM_SnapshotOfVirtualSystem', resultClass: 'VRM_SnapshotSettingData', propertyList: SNAP_PROPS }),
        cim.associators(path, { assocClass: 'VRM_LastAppliedSnapshot', propertyList: ['InstanceID'] }),
      ]);
      if (!ctx.alive()) return;
      const currentId = current[0] && current[0].props.InstanceID;
      snaps.sort((a, b) => String(b.props.CreationTime).localeCompare(String(a.props.CreationTime)));
      const rows = snaps.map((s) => {
        const name = s.props.ElementName || s.props.InstanceID;
        const cells = [
          el('td', {}, name, s.props.InstanceID === currentId ? el('span', { class: 'tag' }, ' current') : null),
          el('td', {}, when(s.props.CreationTime)),
          el('td', {}, s.props.Description || ''),
          el('td', {}, ui.stateName(s.props.EnabledStateWhenApplied)),
        ];
        if (may) {
          cells.push(el('td', { class: 'row-actions' },
            actionButton(ui, 'Apply', () => snapAction('ApplySnapshot', { Snapshot: P.ref(s.path) }, `Apply snapshot ${name}`, draw), { ariaLabel: `Apply snapshot ${name}` }),
            actionButton(ui, 'Delete', () => snapAction('DestroySnapshot', { AffectedSnapshot: P.ref(s.path) }, `Delete snapshot ${name}`, draw), { ariaLabel: `Delete snapshot ${name}`, cls: 'danger' })));
        }
        return el('tr', { dataset: { name } }, cells);
      });
      const head = ['Name', 'Taken', 'Description', 'VM state when applied', ...(may ? ['Actions'] : [])];
      const box = el('div', { class: 'snapshots', dataset: { count: String(snaps.length) } },
        snaps.length ? table(ui, 'Snapshots', head, rows, { cls: 'snapshot-table' }) : el('p', { class: 'muted' }, 'No snapshots.'));
      ui.clear(snapsBox).append(box, may ? createForm(draw) : '');
    };

    async function snapAction(method, params, label, redraw) {
      if (!(await ui.confirmDialog(`${label}?`, { ok: label.split(' ')[0] }))) return;
      try {
        const { returnValue } = await runMethod(ctx, svc.path, method, params, { label: `${label} progress`, where: jobs });
        ui.toast(returnValue === 0 ? `${label}: done` : `${label}: ${rcText(returnValue)}`, { kind: returnValue === 0 ? 'ok' : 'error' });
      } catch (e) {
        ui.toast(`${label} failed: ${ui.errorText(e)}`, { kind: 'error', timeout: 10000 });
      }
      await redraw();
      await refreshState().catch(() => {});
    }

    function createForm(redraw) {
      const name = el('input', { id: 'snap-name', name: 'name', required: true, maxlength: '100', autocomplete: 'off' });
      const desc = el('input', { id: 'snap-desc', name: 'description', autocomplete: 'off' });
      const submit = el('button', { type: 'submit', class: 'primary' }, 'Take snapshot');
      const form = el('form', { class: 'inline-form', 'aria-label': 'Take a snapshot' },
        el('label', { for: 'snap-name' }, 'Snapshot name'), name,
        el('label', { for: 'snap-desc' }, 'Description'), desc, submit);
      form.addEventListener('submit', async (ev) => {
        ev.preventDefault();
        submit.disabled = true;
        try {
          const settings = { classname: 'CIM_SettingData', props: { ElementName: name.value } };
          if (desc.value) settings.props.Description = desc.value;
          const { returnValue } = await runMethod(ctx, svc.path, 'CreateSnapshot', {
            AffectedSystem: P.ref(path), SnapshotSettings: P.inst(settings), SnapshotType: P.u16(2),
          }, { label: 'Snapshot progress', where: jobs });
          if (returnValue !== 0) ui.toast(`Snapshot: ${rcText(returnValue)}`, { kind: 'error' });
          else { ui.toast(`Snapshot ${name.value} taken`, { kind: 'ok' }); name.value = ''; desc.value = ''; }
        } catch (e) {
          ui.toast(`Snapshot failed: ${ui.errorText(e)}`, { kind: 'error', timeout: 10000 });
        } finally {
          submit.disabled = false;
        }
        await redraw();
      });
      return form;
    }
    await draw();
  }

  async function loadGraphs(host) {
    const svc = host ? await serviceOf(cim, host.path, 'VRM_MetricService', 'VRM_HostedMetricService') : null;
    if (!ctx.alive()) return;
    if (!svc) { ui.clear(graphsBox).append(el('p', { class: 'muted' }, 'This host has no metric service.')); return; }
    ui.clear(graphsBox).append(graphPanel(ctx, path, svc.path, { families: VM_FAMILIES }));
  }

  later();
  ctx.poll(() => (busy ? null : refreshState()), POLL_MS);
}
