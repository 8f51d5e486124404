// The tree: groups (VRM_Group, nested) -> hosts (VRM_HostSystem) -> VMs
// (VRM_ComputerSystem) with state badges and counts, from every backend at once.
//
// Loading: four pull enumerations in parallel, each with a property list (groups,
// memberships = VRM_MemberOfGroup, hosts, VMs). Live updates: every POLL_MS the VMs'
// states only (EnabledState, AvailableRequestedStates, OperationalStatus); everything
// every FULL_EVERY polls and after a change made here. Actions: a VM's power actions
// are exactly its AvailableRequestedStates (RequestStateChange); "Move to" and
// drag-and-drop call VRM_GroupManagementService.MoveMembers. Users below operator see
// neither (the server refuses them anyway).

const POLL_MS = 5000;
const FULL_EVERY = 6; // a full reload every 6th poll (30 s)
const ROOT_ID = 'vrmgmt:group:root';

const VM_PROPS = ['Name', 'ElementName', 'EnabledState', 'AvailableRequestedStates', 'BackendID', 'OperationalStatus', 'VirtualSystemType'];
const VM_STATE_PROPS = ['EnabledState', 'AvailableRequestedStates', 'OperationalStatus'];
const HOST_PROPS = ['Name', 'ElementName', 'BackendID', 'BackendType', 'OperationalStatus', 'StatusDescriptions', 'HostName'];
const GROUP_PROPS = ['InstanceID', 'ElementName', 'HealthState', 'StatusDescriptions'];
const LOST = 13; // OperationalStatus Lost Communication

/** A map key naming an instance: class and key names case-insensitive, the host and
 * namespace left out (one namespace; a reference may come without them). */
function pathKey(p) {
  if (!p) return '';
  const keys = Object.keys(p.keys).map((k) => {
    const v = p.keys[k];
    return `${k.toLowerCase()}=${v && v.classname ? pathKey(v) : String(v)}`;
  }).sort();
  return `${p.classname.toLowerCase()}.${keys.join(',')}`;
}

async function load(cim) {
  const [groups, pairs, hosts, vms] = await Promise.all([
    cim.enumerate('VRM_Group', { propertyList: GROUP_PROPS }),
    cim.enumerate('VRM_MemberOfGroup', { propertyList: ['Collection', 'Member'] }),
    cim.enumerate('VRM_HostSystem', { propertyList: HOST_PROPS }),
    cim.enumerate('VRM_ComputerSystem', { propertyList: VM_PROPS }),
  ]);
  return { groups, pairs, hosts, vms };
}

/** The model: groups by id with children, hosts and VMs. */
function model(data) {
  const groups = new Map();
  for (const g of data.groups) {
    groups.set(pathKey(g.path), {
      inst: g, id: g.props.InstanceID, name: g.props.ElementName || g.props.InstanceID,
      parent: null, subgroups: [], hosts: [], vms: [],
    });
  }
  const hostsByKey = new Map(data.hosts.map((h) => [pathKey(h.path), h]));
  const hostsByBackend = new Map(data.hosts.map((h) => [h.props.BackendID || h.props.Name, h]));
  const vmsByKey = new Map(data.vms.map((v) => [pathKey(v.path), v]));
  const groupOf = new Map(); // member key -> group key
  for (const pair of data.pairs) {
    const coll = pathKey(pair.props.Collection);
    const member = pair.props.Member;
    const g = groups.get(coll);
    if (!g || !member) continue;
    const mk = pathKey(member);
    if (groups.has(mk)) { groups.get(mk).parent = coll; g.subgroups.push(groups.get(mk)); }
    else if (hostsByKey.has(mk)) { g.hosts.push(hostsByKey.get(mk)); groupOf.set(mk, coll); }
    else if (vmsByKey.has(mk)) { g.vms.push(vmsByKey.get(mk)); groupOf.set(mk, coll); }
  }
  let root = null;
  for (const g of groups.values()) if (g.id === ROOT_ID) root = g;
  // VMs no membership names (should not happen): the root holds them
  if (root) {
    for (const [k, v] of vmsByKey) if (!groupOf.has(k)) { root.vms.push(v); groupOf.set(k, pathKey(root.inst.path)); }
    for (const [k, h] of hostsByKey) if (!groupOf.has(k)) { root.hosts.push(h); groupOf.set(k, pathKey(root.inst.path)); }
  }
  const byName = (a, b) => String(a.props.ElementName || a.props.Name).localeCompare(String(b.props.ElementName || b.props.Name), undefined, { numeric: true });
  for (const g of groups.values()) {
    g.subgroups.sort((a, b) => a.name.localeCompare(b.name, undefined, { numeric: true }));
    g.hosts.sort(byName);
    g.vms.sort(byName);
  }
  const tops = [...groups.values()].filter((g) => !g.parent || !groups.has(g.parent));
  tops.sort((a, b) => (a.id === ROOT_ID ? -1 : b.id === ROOT_ID ? 1 : a.name.localeCompare(b.name)));
  return { groups, tops, root, hostsByBackend, groupOf, vms: data.vms, hosts: data.hosts };
}

function countsOf(g) {
  let vms = g.vms.length; let running = g.vms.filter((v) => v.props.EnabledState === 2).length;
  let hosts = g.hosts.length;
  for (const s of g.subgroups) {
    const c = countsOf(s); vms += c.vms; running += c.running; hosts += c.hosts;
  }
  return { vms, running, hosts };
}

function plural(n, one, many) { return `${n} ${n === 1 ? one : many}`; }

export async function render(root, ctx) {
  const { cim, ui } = ctx;
  const { el } = ui;
  const t0 = performance.now();
  const canOperate = ctx.can('operator');
  let service = null; // VRM_GroupManagementService path, looked up on first move
  // the group service, for "Move to" (looked up with the tree, not on a click)
  const serviceLookup = canOperate
    ? cim.enumerate('VRM_GroupManagementService', { propertyList: ['Name'] }).catch(() => [])
    : Promise.resolve([]);
  let m = model(await load(cim));
  const tLoaded = performance.now();
  const expanded = new Map(); // group key -> bool (default: open)
  const rows = new Map(); // vm key -> {row, badgeBox, vm}
  let filter = '';

  const summary = el('span', { class: 'summary', role: 'status', 'aria-live': 'polite' });
  const search = el('input', {
    type: 'search', placeholder: 'Filter VMs by name', 'aria-label': 'Filter VMs by name',
    oninput: () => { filter = search.value.trim().toLowerCase(); applyFilter(); },
  });
  const refreshBtn = el('button', { type: 'button', onclick: () => refresh(true) }, 'Refresh');
  const treeBox = el('ul', { class: 'tree', 'aria-label': 'Groups, hosts and VMs' });
  root.append(el('h1', {}, 'Groups, hosts and VMs'), el('div', { class: 'toolbar' }, search, refreshBtn, summary), treeBox);

  function applyFilter() {
    for (const { row, vm } of rows.values()) {
      const name = String(vm.props.ElementName || vm.props.Name).toLowerCase();
      row.hidden = filter !== '' && !name.includes(filter);
    }
  }

  function stateBadge(vm) {
    const lost = (vm.props.OperationalStatus || []).includes(LOST);
    return ui.badge(vm.props.EnabledState, { lost });
  }

  async function findService() {
    if (!service) {
      const s = await serviceLookup;
      if (!s.length) throw new Error('the server has no VRM_GroupManagementService');
      service = s[0].path;
    }
    return service;
  }

  async function moveTo(memberPaths, target) {
    try {
      const svc = await findService();
      const r = await cim.invokeMethod(svc, 'MoveMembers', {
        TargetGroup: { type: 'reference', value: target.inst.path },
        Members: { type: 'reference', value: memberPaths },
      });
      if (r.returnValue !== 0) throw new Error(`MoveMembers returned ${r.returnValue}`);
      ui.toast(`Moved to ${target.name}`, { kind: 'ok' });
    } catch (e) {
      ui.toast(`Move failed: ${ui.errorText(e)}`, { kind: 'error', timeout: 9000 });
      return;
    }
    // VMs: ask each moved VM for its group (one association request each) and move its
    // row; hosts and groups take other members with them: load the tree again
    const vmKeys = memberPaths.map(pathKey);
    if (!vmKeys.every((k) => rows.has(k))) { await refresh(true); return; }
    try {
      for (const p of memberPaths) {
        const [g] = await cim.associators(p, {
          assocClass: 'VRM_MemberOfGroup', resultClass: 'VRM_Group', propertyList: ['InstanceID'],
        });
        const vm = rows.get(pathKey(p)).vm;
        const from = m.groups.get(m.groupOf.get(pathKey(p)));
        const to = g ? m.groups.get(pathKey(g.path)) : null;
        if (!to) { await refresh(true); return; }
        if (from) from.vms = from.vms.filter((v) => pathKey(v.path) !== pathKey(p));
        to.vms.push(vm);
        to.vms.sort((a, b2) => String(a.props.ElementName).localeCompare(String(b2.props.ElementName), undefined, { numeric: true }));
        m.groupOf.set(pathKey(p), pathKey(to.inst.path));
      }
    } catch (e) {
      await refresh(true);
      return;
    }
    if (ctx.alive()) draw();
  }

  async function power(vm, state, label) {
    const name = vm.props.ElementName || vm.props.Name;
    if ([3, 11].includes(state) && !(await ui.confirmDialog(`${label}: ${name}? The guest is not asked first.`, { ok: label }))) return;
    const entry = rows.get(pathKey(vm.path));
    try {
      const r = await cim.invokeMethod(vm.path, 'RequestStateChange', { RequestedState: { type: 'uint16', value: state } });
      if (r.returnValue === 4096 && r.out.Job) {
        const bar = ui.progress(`${label} ${name}`);
        const t = ui.toast(el('span', {}, `${label} ${name}: `, bar.node), { timeout: 0 });
        const job = await cim.waitJob(r.out.Job, (j) => bar.set(j.props.PercentComplete, `${j.props.PercentComplete ?? 0} %`));
        t.remove();
        if (job.props.JobState !== 7) throw new Error(job.props.ErrorDescription || `job ended in state ${job.props.JobState}`);
      } else if (r.returnValue !== 0) {
        const why = { 1: 'not supported', 2: 'unknown error', 3: 'timeout', 4: 'failed', 5: 'invalid parameter', 4097: 'not possible in its present state' }[r.returnValue] || '';
        throw new Error(`RequestStateChange returned ${r.returnValue}${why ? ` (${why})` : ''}`);
      }
      ui.toast(`${label}: ${name} done`, { kind: 'ok' });
    } catch (e) {
      ui.toast(`${label} ${name} failed: ${ui.errorText(e)}`, { kind: 'error', timeout: 9000 });
    }
    // this VM's state at once (one GetInstance with a property list)
    try {
      const fresh = await cim.getInstance(vm.path, { propertyList: VM_STATE_PROPS });
      Object.assign(vm.props, fresh.props);
      if (entry) updateRow(entry);
      renderCounts();
    } catch (e) { /* the next poll shows it */ }
  }

  function groupItems(exceptKey) {
    const out = [];
    const walk = (g, depth) => {
      const key = pathKey(g.inst.path);
      out.push({ g, depth, disabled: key === exceptKey });
      for (const s of g.subgroups) walk(s, depth + 1);
    };
    for (const t of m.tops) walk(t, 0);
    return out;
  }

  function moveMenu(memberPath, label, currentKey) {
    return ui.menuButton('Move to', () => groupItems(currentKey).map(({ g, depth, disabled }) => ({
      label: `${'\u2003'.repeat(depth)}${g.name}`,
      disabled,
      onSelect: () => moveTo([memberPath], g),
    })), { ariaLabel: `Move ${label} to group` });
  }

  function vmActions(vm) {
    const name = vm.props.ElementName || vm.props.Name;
    const avail = vm.props.AvailableRequestedStates || [];
    return ui.menuButton('Actions', () => ui.POWER_ACTIONS.filter(([s]) => avail.includes(s))
      .map(([s, label]) => ({ label, onSelect: () => power(vm, s, label) })), { ariaLabel: `Power actions for ${name}` });
  }

  function updateRow(entry) {
    const { vm, badgeBox, actionsBox } = entry;
    ui.clear(badgeBox).append(stateBadge(vm));
    entry.row.dataset.state = String(vm.props.EnabledState);
    if (actionsBox) ui.clear(actionsBox).append(vmActions(vm));
  }

  function vmRow(vm, groupKey) {
    const name = vm.props.ElementName || vm.props.Name;
    const badgeBox = el('span', { class: 'state' });
    const row = el('li', {
      class: 'vm', 'aria-label': `VM ${name}`,
      dataset: { vm: vm.props.Name, name, backend: vm.props.BackendID || '' },
    },
    el('span', { class: 'name' }, el('a', { href: ctx.href('vm', vm.path), title: vm.props.VirtualSystemType || '' }, name)),
    badgeBox);
    let actionsBox = null;
    if (canOperate) {
      actionsBox = el('span', {});
      row.append(el('span', { class: 'actions' }, actionsBox, moveMenu(vm.path, name, groupKey)));
      row.draggable = true;
      row.addEventListener('dragstart', (ev) => {
        ev.dataTransfer.setData('application/x-vrm-member', vm.path.toWbemUri());
        ev.dataTransfer.effectAllowed = 'move';
      });
    } else {
      row.append(el('span', { class: 'actions' }));
    }
    const entry = { row, badgeBox, actionsBox, vm };
    rows.set(pathKey(vm.path), entry);
    updateRow(entry);
    return row;
  }

  function hostHead(host, outside) {
    const name = host ? (host.props.ElementName || host.props.Name) : 'unknown host';
    const lost = host && (host.props.OperationalStatus || []).includes(LOST);
    return el('div', { class: 'host-head' },
      host ? el('a', { class: 'name', href: ctx.href('host', host.path) }, name) : el('span', { class: 'name' }, name),
      host ? el('span', { class: 'kind backend' }, [host.props.BackendID, host.props.BackendType].filter(Boolean).join(' · ')) : null,
      lost ? el('span', { class: 'badge badge-lost', title: (host.props.StatusDescriptions || []).join('; ') }, 'unreachable') : null,
      outside ? el('span', { class: 'kind outside' }, `(host in group ${outside})`) : null,
      canOperate && host && !outside ? moveMenu(host.path, `host ${name}`, null) : null);
  }

  function groupNode(g) {
    const key = pathKey(g.inst.path);
    const open = expanded.get(key) !== false;
    const c = countsOf(g);
    const headId = `g-${g.id.replace(/[^A-Za-z0-9_-]/g, '_')}`;
    const toggle = el('button', {
      type: 'button', class: 'toggle', 'aria-expanded': String(open), 'aria-controls': `${headId}-body`,
      'aria-label': `${open ? 'Collapse' : 'Expand'} group ${g.name}`,
      onclick: () => { expanded.set(key, !open); draw(); document.getElementById(`${headId}-toggle`)?.focus(); },
    }, open ? '▾' : '▸');
    toggle.id = `${headId}-toggle`;
    const health = g.inst.props.HealthState && g.inst.props.HealthState !== 5
      ? el('span', { class: 'health', title: (g.inst.props.StatusDescriptions || []).join('; ') }, 'degraded') : null;
    const head = el('div', { class: 'group-head', id: headId },
      toggle,
      g.id === ROOT_ID ? el('span', { class: 'name' }, g.name) : el('a', { class: 'name', href: ctx.href('group', g.inst.path) }, g.name),
      el('span', { class: 'count', dataset: { counts: '' } },
        `${plural(c.vms, 'VM', 'VMs')} · ${c.running} running · ${plural(c.hosts, 'host', 'hosts')}`),
      health,
      canOperate && g.id !== ROOT_ID ? moveMenu(g.inst.path, `group ${g.name}`, key) : null);
    const node = el('li', {
      class: 'group', 'aria-labelledby': headId,
      dataset: { group: g.id, name: g.name },
    }, head);
    if (canOperate) {
      head.addEventListener('dragover', (ev) => { if (ev.dataTransfer.types.includes('application/x-vrm-member')) { ev.preventDefault(); node.classList.add('drop-target'); } });
      head.addEventListener('dragleave', () => node.classList.remove('drop-target'));
      head.addEventListener('drop', (ev) => {
        ev.preventDefault(); node.classList.remove('drop-target');
        const uri = ev.dataTransfer.getData('application/x-vrm-member');
        if (uri) moveTo([ctx.CimPath.parse(uri)], g);
      });
    }
    if (!open) return node;
    const body = el('ul', { id: `${headId}-body`, 'aria-label': `group ${g.name}` });
    // hosts of this group, then the hosts of its VMs that are elsewhere
    const byBackend = new Map();
    for (const h of g.hosts) byBackend.set(h.props.BackendID || h.props.Name, { host: h, vms: [] });
    for (const v of g.vms) {
      const b = v.props.BackendID || '';
      if (!byBackend.has(b)) {
        const h = m.hostsByBackend.get(b) || null;
        const where = h ? m.groups.get(m.groupOf.get(pathKey(h.path))) : null;
        byBackend.set(b, { host: h, vms: [], outside: where ? where.name : '?' });
      }
      byBackend.get(b).vms.push(v);
    }
    for (const { host, vms, outside } of byBackend.values()) {
      const list = el('ul', { class: 'vms', 'aria-label': 'VMs' }, vms.map((v) => vmRow(v, key)));
      body.append(el('li', { class: 'host', 'aria-label': `host ${host ? host.props.ElementName || host.props.Name : 'unknown'}`, dataset: { host: host ? host.props.Name : '', backend: host ? host.props.BackendID || '' : '' } },
        hostHead(host, outside), list));
    }
    for (const s of g.subgroups) body.append(groupNode(s));
    node.append(body);
    return node;
  }

  function renderCounts() {
    const running = m.vms.filter((v) => v.props.EnabledState === 2).length;
    summary.textContent = `${plural(m.groups.size, 'group', 'groups')} · ${plural(m.hosts.length, 'host', 'hosts')} · ${plural(m.vms.length, 'VM', 'VMs')} (${running} running)`;
    for (const node of treeBox.querySelectorAll('li.group')) {
      const g = [...m.groups.values()].find((x) => x.id === node.dataset.group);
      if (!g) continue;
      const c = countsOf(g);
      const span = node.querySelector(':scope > .group-head > .count');
      if (span) span.textContent = `${plural(c.vms, 'VM', 'VMs')} · ${c.running} running · ${plural(c.hosts, 'host', 'hosts')}`;
    }
  }

  /** What the tree's shape depends on (not the VMs' states). */
  function shape(mm) {
    const parts = [];
    for (const [k, g] of mm.groups) {
      parts.push(`${k}|${g.name}|${g.parent}|${g.inst.props.HealthState}|${g.hosts.map((h) => pathKey(h.path)).join()}|${g.vms.map((v) => `${pathKey(v.path)}:${v.props.ElementName}`).join()}`);
    }
    for (const h of mm.hosts) parts.push(`${pathKey(h.path)}|${h.props.ElementName}|${h.props.OperationalStatus}`);
    return parts.sort().join('\n');
  }

  function draw() {
    // keep the keyboard focus on the same control across a redraw
    const focused = treeBox.contains(document.activeElement) ? document.activeElement : null;
    const label = focused && (focused.getAttribute('aria-label') || focused.textContent);
    rows.clear();
    ui.clear(treeBox).append(...m.tops.map(groupNode));
    renderCounts();
    applyFilter();
    if (label) {
      const again = [...treeBox.querySelectorAll('a, button')]
        .find((n) => (n.getAttribute('aria-label') || n.textContent) === label);
      if (again) again.focus();
    }
  }

  let polls = 0;
  async function refresh(full) {
    if (full) {
      const next = model(await load(cim));
      if (!ctx.alive()) return;
      const sameShape = shape(next) === shape(m);
      m = next;
      if (!sameShape) { draw(); return; }
      // only states changed: update the rows in place (no redraw: focus and open menus stay)
      const byKey = new Map(m.vms.map((v) => [pathKey(v.path), v]));
      for (const [k, entry] of rows) {
        const v = byKey.get(k);
        if (!v) continue;
        entry.vm = v;
        if (!entry.row.querySelector('ul.menu')) updateRow(entry);
        else ui.clear(entry.badgeBox).append(stateBadge(v));
      }
      renderCounts();
      return;
    }
    // states only: one pull enumeration with three properties
    const states = await cim.enumerate('VRM_ComputerSystem', { propertyList: VM_STATE_PROPS });
    if (!ctx.alive()) return;
    let changedSet = states.length !== rows.size;
    for (const s of states) {
      const entry = rows.get(pathKey(s.path));
      if (!entry) { changedSet = true; continue; }
      const before = entry.vm.props;
      const same = before.EnabledState === s.props.EnabledState
        && String(before.AvailableRequestedStates) === String(s.props.AvailableRequestedStates)
        && String(before.OperationalStatus) === String(s.props.OperationalStatus);
      if (!same) {
        Object.assign(entry.vm.props, s.props);
        // keep an open menu of this row usable: rebuild its contents only when closed
        if (!entry.row.querySelector('ul.menu')) updateRow(entry);
        else ui.clear(entry.badgeBox).append(stateBadge(entry.vm));
      }
    }
    renderCounts();
    if (changedSet) await refresh(true);
  }

  draw();
  ctx.poll(async () => {
    polls += 1;
    await refresh(polls % FULL_EVERY === 0);
  }, POLL_MS);
  treeBox.dataset.ready = 'true';
  performance.mark('vrm-tree-ready');
  // for the performance test: the CIM requests, and building the page
  treeBox.dataset.loadMs = String(Math.round(tLoaded - t0));
  treeBox.dataset.drawMs = String(Math.round(performance.now() - tLoaded));
}
