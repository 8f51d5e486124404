// The group page (#/group/<WBEM URI of a VRM_Group>): its subgroups, hosts and VMs
// (VRM_MemberOfGroup from the group, Role Collection) and group-wide power actions
// (VRM_GroupManagementService.RequestStateChangeOfMembers, for operators and admins):
// a job whose progress bar follows PercentComplete / JobStatus ("k of n VMs"), then
// its per-member results (GetMemberResults: each VM, its return code, a description).

import { ensureCss, section, table, runMethod, rcText, P } from './common.js';

const VM_PROPS = ['Name', 'ElementName', 'EnabledState', 'OperationalStatus', 'BackendID'];
const ACTIONS = [[2, 'Start all'], [4, 'Shut down all'], [3, 'Power off all'], [9, 'Pause all']];
const LOST = 13;
const PAGE = 200;

function key(p) { return p ? p.toWbemUri().toLowerCase() : ''; }

export async function render(root, ctx, params) {
  ensureCss();
  const { ui, cim } = ctx;
  const { el } = ui;
  const path = ctx.CimPath.parse(params[0]);
  const [group, svcs] = await Promise.all([
    cim.getInstance(path, { propertyList: ['InstanceID', 'ElementName', 'Description', 'HealthState', 'StatusDescriptions'] }),
    cim.enumerate('VRM_GroupManagementService', { propertyList: ['Name'] }),
  ]);
  const svc = svcs[0];
  const name = group.props.ElementName || group.props.InstanceID;
  const may = ctx.can('operator') && svc;
  const membersBox = el('div', {}, el('p', { class: 'loading' }, 'Loading members…'));
  const actionsBox = el('div', { class: 'power-actions', role: 'group', 'aria-label': 'Group power actions' });
  const jobBox = el('div', { class: 'jobs', id: 'group-job', 'aria-live': 'polite' });
  const resultsBox = el('div', { id: 'group-results' });
  const recursive = el('input', { type: 'checkbox', id: 'group-recursive', checked: true });
  const vmNames = new Map();
  let lastSig = null;

  root.append(
    el('div', { class: 'page-head' }, el('h1', { id: 'group-title' }, name),
      group.props.Description ? el('span', { class: 'muted' }, group.props.Description) : null),
    section(ui, 'Actions on every VM', { id: 'group-actions' }, actionsBox, jobBox, resultsBox),
    section(ui, 'Members', { id: 'group-members', cls: 'wide' }, membersBox),
  );

  if (!may) {
    actionsBox.append(el('span', { class: 'muted', id: 'no-group-actions' }, 'Your role may not change power states.'));
  } else {
    actionsBox.append(el('label', { for: 'group-recursive', class: 'check' }, recursive, ' with subgroups'));
    for (const [rs, label] of ACTIONS) {
      const b = el('button', { type: 'button', id: `group-rs-${rs}`, class: rs === 2 ? 'primary' : '', 'aria-label': `${label} VMs of group ${name}` }, label);
      b.addEventListener('click', () => runAll(rs, label));
      actionsBox.append(b);
    }
  }

  async function runAll(rs, label) {
    if (rs !== 2 && !(await ui.confirmDialog(`${label} VMs of group ${name}?`, { ok: label }))) return;
    const buttons = actionsBox.querySelectorAll('button');
    for (const b of buttons) b.disabled = true;
    ui.clear(jobBox);
    ui.clear(resultsBox);
    let jobPath = null;
    try {
      const { returnValue, out } = await runMethod(ctx, svc.path, 'RequestStateChangeOfMembers', {
        Group: P.ref(path), RequestedState: P.u16(rs), Recursive: P.bool(recursive.checked),
      }, { label: `${label} progress`, where: jobBox, onJob: (j) => { jobPath = j; } });
      if (!jobPath) jobPath = out.Job;
      if (returnValue !== 0 || !jobPath) {
        resultsBox.append(el('p', { class: 'error' }, `${label}: ${rcText(returnValue)}`));
        return;
      }
      const res = await cim.invokeMethod(svc.path, 'GetMemberResults', { Job: P.ref(jobPath) });
      await nameMembers(res.out.Members || []);
      showResults(label, res.out);
    } catch (e) {
      resultsBox.append(el('p', { class: 'error', role: 'alert' }, `${label} failed: ${ui.errorText(e)}`));
    } finally {
      for (const b of buttons) b.disabled = false;
      await loadMembers().catch(() => {});
    }
  }

  /** Names of result members that are not direct members (subgroups' VMs): one
   * GetInstance (ElementName only) each, for at most 200 of them. */
  async function nameMembers(uris) {
    const unknown = [];
    for (const uri of uris) {
      try {
        const p = ctx.CimPath.parse(uri);
        if (!vmNames.has(String(p.key('Name')))) unknown.push(p);
      } catch { /* not a path: shown as it is */ }
    }
    await Promise.all(unknown.slice(0, 200).map(async (p) => {
      try {
        const v = await cim.getInstance(p, { propertyList: ['ElementName'] });
        vmNames.set(String(p.key('Name')), v.props.ElementName);
      } catch { /* gone: its UUID is shown */ }
    }));
  }

  function showResults(label, out) {
    const members = out.Members || [];
    const rcs = (out.ReturnCodes || []).map(Number);
    const descs = out.Descriptions || [];
    const ok = rcs.filter((r) => r === 0).length;
    const rows = members.map((uri, i) => {
      let vmName = uri;
      try {
        const p = ctx.CimPath.parse(uri);
        vmName = vmNames.get(String(p.key('Name'))) || String(p.key('Name') || uri);
      } catch { /* keep the URI */ }
      return el('tr', { class: rcs[i] === 0 ? 'ok' : 'failed', dataset: { rc: String(rcs[i]) } },
        el('td', {}, vmName), el('td', {}, rcs[i] === 0 ? 'done' : rcText(rcs[i])), el('td', {}, descs[i] || ''));
    });
    ui.clear(resultsBox).append(
      el('p', { id: 'group-summary', class: ok === members.length ? 'ok' : 'warn' },
        `${label}: ${ok} of ${members.length} VMs done`),
      members.length ? table(ui, `${label} results`, ['VM', 'Result', 'Description'], rows, { cls: 'member-results' }) : '');
    ui.toast(`${label}: ${ok} of ${members.length} VMs done`, { kind: ok === members.length ? 'ok' : 'error' });
  }

  async function loadMembers() {
    const common = { assocClass: 'VRM_MemberOfGroup', role: 'Collection', resultRole: 'Member' };
    const [subgroups, hosts, vms] = await Promise.all([
      cim.associators(path, { ...common, resultClass: 'VRM_Group', propertyList: ['InstanceID', 'ElementName'] }),
      cim.associators(path, { ...common, resultClass: 'VRM_HostSystem', propertyList: ['Name', 'ElementName', 'BackendID'] }),
      cim.associators(path, { ...common, resultClass: 'VRM_ComputerSystem', propertyList: VM_PROPS }),
    ]);
    if (!ctx.alive()) return;
    const sig = [...subgroups, ...hosts, ...vms].map((m) => `${key(m.path)}=${m.props.ElementName}:${m.props.EnabledState}`).join('|');
    if (sig === lastSig) return; // unchanged: keep the DOM (and the keyboard focus)
    lastSig = sig;
    for (const v of vms) vmNames.set(String(v.props.Name), v.props.ElementName);
    const byName = (a, b) => String(a.props.ElementName).localeCompare(String(b.props.ElementName), undefined, { numeric: true });
    subgroups.sort(byName); hosts.sort(byName); vms.sort(byName);
    const list = (items, cls, hrefOf, extra) => el('ul', { class: `member-list ${cls}` }, items.map((m) =>
      el('li', { dataset: { name: m.props.ElementName, key: key(m.path) } },
        el('a', { href: hrefOf(m) }, m.props.ElementName || m.props.Name || m.props.InstanceID), extra ? extra(m) : null)));
    const vmRows = vms.slice(0, PAGE);
    ui.clear(membersBox).append(
      el('p', { class: 'count', id: 'group-counts' }, `${subgroups.length} subgroups, ${hosts.length} hosts, ${vms.length} VMs`),
      subgroups.length ? el('h3', {}, 'Subgroups') : '', subgroups.length ? list(subgroups, 'groups', (g) => ctx.href('group', g.path)) : '',
      hosts.length ? el('h3', {}, 'Hosts') : '', hosts.length ? list(hosts, 'hosts', (h) => ctx.href('host', h.path)) : '',
      vms.length ? el('h3', {}, 'VMs') : '',
      vms.length ? list(vmRows, 'vms', (v) => ctx.href('vm', v.path),
        (v) => ui.badge(v.props.EnabledState, { lost: (v.props.OperationalStatus || []).includes(LOST) })) : '',
      vms.length > PAGE ? el('p', { class: 'muted' }, `and ${vms.length - PAGE} more VMs (see the tree)`) : '');
    membersBox.dataset.ready = 'true';
  }

  await loadMembers().catch((e) => ui.clear(membersBox).append(el('p', { class: 'error' }, ui.errorText(e))));
  root.dataset.ready = 'true';
  ctx.poll(() => loadMembers(), 10000);
}
