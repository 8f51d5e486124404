// The audit and event view (#/audit): vrmgmt's audit records (VRM_LogEntry of the
// DSP1010 record log VRM_RecordLog, newest first; admins only, as the server enforces)
// and the recent jobs (VRM_ConcreteJob, every role), both paged.
//
// The audit log can be large, so its records are read a page at a time: one
// OpenEnumerateInstances with MaxObjectCount = PAGE (the server reads the log from its
// end only as far as that), then PullInstancesWithPath of PAGE more for "Older"; pages
// already seen are kept. Polling refreshes the newest page while it is shown.

import { ensureCss, section, table, when, epochMs, JOB_STATES } from './common.js';

const PAGE = 50;
const JOB_PAGE = 20;
const POLL_MS = 10000;
const ENTRY_PROPS = ['InstanceID', 'RecordID', 'CreationTimeStamp', 'MessageArguments', 'Message', 'PerceivedSeverity'];
const JOB_PROPS = ['InstanceID', 'Name', 'Description', 'JobState', 'PercentComplete', 'Owner', 'TimeSubmitted',
  'TimeOfLastStateChange', 'ErrorDescription', 'JobStatus'];

// -- a bounded pull enumeration (cim.js's enumerate() reads to the end) ----------------
function kids(node, tag) { return [...node.children].filter((c) => !tag || c.tagName === tag); }

function parseInstances(ireturn) {
  const out = [];
  for (const vip of kids(ireturn, 'VALUE.INSTANCEWITHPATH')) {
    const inst = kids(vip, 'INSTANCE')[0];
    const props = {};
    for (const p of kids(inst)) {
      const n = p.getAttribute('NAME');
      if (p.tagName === 'PROPERTY') {
        const v = kids(p, 'VALUE')[0];
        props[n] = v ? v.textContent : null;
      } else if (p.tagName === 'PROPERTY.ARRAY') {
        const a = kids(p, 'VALUE.ARRAY')[0];
        props[n] = a ? kids(a).map((v) => (v.tagName === 'VALUE.NULL' ? null : v.textContent)) : null;
      }
    }
    out.push({ classname: inst.getAttribute('CLASSNAME'), props });
  }
  return out;
}

function pullAnswer(resp) {
  const ret = kids(resp, 'IRETURNVALUE')[0];
  const outParams = {};
  for (const pv of kids(resp, 'PARAMVALUE')) outParams[pv.getAttribute('NAME')] = pv.textContent.trim();
  return {
    instances: ret ? parseInstances(ret) : [],
    context: outParams.EnumerationContext || null,
    eos: (outParams.EndOfSequence || '').toUpperCase() === 'TRUE',
  };
}

const esc = (s) => String(s).replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');

class Window {
  /** Pages of a class's instances, PAGE at a time, from one pull enumeration. */
  constructor(cim, className, propertyList) {
    Object.assign(this, { cim, className, propertyList, pages: [], context: null, eos: false });
  }

  async open() {
    await this.close();
    const pl = `<VALUE.ARRAY>${this.propertyList.map((n) => `<VALUE>${esc(n)}</VALUE>`).join('')}</VALUE.ARRAY>`;
    const r = pullAnswer(await this.cim.imethod('OpenEnumerateInstances', {
      ClassName: `<CLASSNAME NAME="${esc(this.className)}"/>`,
      PropertyList: pl,
      MaxObjectCount: `<VALUE>${PAGE}</VALUE>`,
      OperationTimeout: '<VALUE>300</VALUE>',
    }));
    this.pages = [r.instances];
    this.context = r.eos ? null : r.context;
    this.eos = r.eos;
  }

  async more() {
    if (this.eos || !this.context) return false;
    const r = pullAnswer(await this.cim.imethod('PullInstancesWithPath', {
      EnumerationContext: `<VALUE>${esc(this.context)}</VALUE>`,
      MaxObjectCount: `<VALUE>${PAGE}</VALUE>`,
    }));
    this.context = r.eos ? null : r.context;
    this.eos = r.eos;
    if (r.instances.length) this.pages.push(r.instances);
    return r.instances.length > 0;
  }

  async close() {
    if (this.context) {
      const c = this.context;
      this.context = null;
      try { await this.cim.imethod('CloseEnumeration', { EnumerationContext: `<VALUE>${esc(c)}</VALUE>` }); } catch { /* gone already */ }
    }
  }
}

const SEVERITY = { 2: 'info', 3: 'warning' };

export async function render(root, ctx) {
  ensureCss();
  const { ui, cim } = ctx;
  const { el } = ui;
  const admin = ctx.can('admin');
  const auditBox = el('div', { id: 'audit-records' });
  const jobsBox = el('div', { id: 'audit-jobs' });
  root.append(
    el('h1', {}, 'Audit and events'),
    section(ui, 'Audit records', { id: 'audit-section', cls: 'wide' }, auditBox),
    section(ui, 'Recent jobs', { id: 'jobs-section', cls: 'wide' }, jobsBox),
  );

  // -- audit records ---------------------------------------------------------------------
  let page = 0;
  const win = new Window(cim, 'VRM_LogEntry', ENTRY_PROPS);
  const nav = el('div', { class: 'pager', role: 'group', 'aria-label': 'Audit pages' });
  const newer = el('button', { type: 'button', id: 'audit-newer' }, 'Newer');
  const older = el('button', { type: 'button', id: 'audit-older' }, 'Older');
  const where = el('span', { class: 'muted', id: 'audit-page', 'aria-live': 'polite' });
  const listBox = el('div', {});
  nav.append(newer, where, older);

  function drawAudit(total) {
    const rows = (win.pages[page] || []).map((r) => {
      const [user, client, action, target, outcome] = r.props.MessageArguments || [];
      const sev = SEVERITY[r.props.PerceivedSeverity] || 'info';
      return el('tr', { class: `sev-${sev}`, dataset: { recordId: r.props.RecordID, action: action || '' } },
        el('td', { class: 'nowrap' }, when(r.props.CreationTimeStamp)),
        el('td', {}, user || '–'), el('td', {}, client || '–'), el('td', {}, action || ''),
        el('td', { class: 'target' }, target || ''), el('td', {}, outcome || ''));
    });
    ui.clear(listBox).append(rows.length
      ? table(ui, 'Audit records, newest first', ['Time', 'User', 'Client', 'Action', 'Target', 'Outcome'], rows, { cls: 'audit-table' })
      : el('p', { class: 'muted' }, 'No audit records.'));
    const first = page * PAGE + 1;
    where.textContent = rows.length ? `records ${first}–${first + rows.length - 1}${total !== null ? ` of ${total}` : ''}` : '';
    newer.disabled = page === 0;
    older.disabled = page + 1 >= win.pages.length && win.eos;
    auditBox.dataset.ready = 'true';
  }

  let total = null;
  async function logTotal() {
    try {
      const [log] = await cim.enumerate('VRM_RecordLog', { propertyList: ['CurrentNumberOfRecords'] });
      return log ? Number(log.props.CurrentNumberOfRecords) : null;
    } catch { return null; }
  }

  if (!admin) {
    total = await logTotal();
    auditBox.append(el('p', { class: 'muted', id: 'audit-denied' },
      `Reading the audit records needs the admin role${total !== null ? ` (the log holds ${total} records)` : ''}.`));
  } else {
    auditBox.append(nav, listBox);
    newer.addEventListener('click', () => { if (page > 0) { page -= 1; drawAudit(total); } });
    older.addEventListener('click', async () => {
      older.disabled = true;
      try {
        if (page + 1 >= win.pages.length && !(await win.more())) { drawAudit(total); return; }
        page += 1;
        drawAudit(total);
      } catch (e) {
        // the enumeration may have expired: start again from the newest
        ui.toast(`Could not read older records (${ui.errorText(e)}); starting from the newest.`, { kind: 'error' });
        page = 0;
        await win.open();
        drawAudit(total);
      }
    });
    [total] = await Promise.all([logTotal(), win.open()]);
    // leaving the page frees the server's enumeration context at once
    window.addEventListener('hashchange', () => win.close(), { once: true });
    drawAudit(total);
  }

  // -- jobs ------------------------------------------------------------------------------
  let jobPage = 0;
  let jobs = [];
  const jobNav = el('div', { class: 'pager', role: 'group', 'aria-label': 'Job pages' });
  const jNewer = el('button', { type: 'button', id: 'jobs-newer' }, 'Newer');
  const jOlder = el('button', { type: 'button', id: 'jobs-older' }, 'Older');
  const jWhere = el('span', { class: 'muted', 'aria-live': 'polite' });
  const jList = el('div', {});
  jobNav.append(jNewer, jWhere, jOlder);
  jobsBox.append(jobNav, jList);
  jNewer.addEventListener('click', () => { jobPage = Math.max(0, jobPage - 1); drawJobs(); });
  jOlder.addEventListener('click', () => { jobPage += 1; drawJobs(); });

  function drawJobs() {
    const slice = jobs.slice(jobPage * JOB_PAGE, (jobPage + 1) * JOB_PAGE);
    const rows = slice.map((j) => {
      const p = j.props;
      const state = JOB_STATES[p.JobState] || String(p.JobState);
      const pr = ui.progress(`${p.Name} progress`);
      pr.set(p.PercentComplete, `${p.PercentComplete ?? 0}%`);
      return el('tr', { class: `job-${state}`, dataset: { jobState: String(p.JobState) } },
        el('td', { class: 'nowrap' }, when(p.TimeSubmitted)), el('td', {}, p.Name || ''), el('td', {}, p.Owner || '–'),
        el('td', {}, state), el('td', {}, pr.node), el('td', {}, p.ErrorDescription || p.JobStatus || p.Description || ''));
    });
    ui.clear(jList).append(rows.length
      ? table(ui, 'Jobs, newest first', ['Submitted', 'Job', 'Owner', 'State', 'Progress', 'Status'], rows, { cls: 'jobs-table' })
      : el('p', { class: 'muted' }, 'No jobs.'));
    jWhere.textContent = jobs.length ? `jobs ${jobPage * JOB_PAGE + 1}–${jobPage * JOB_PAGE + slice.length} of ${jobs.length}` : '';
    jNewer.disabled = jobPage === 0;
    jOlder.disabled = (jobPage + 1) * JOB_PAGE >= jobs.length;
    jobsBox.dataset.ready = 'true';
  }

  async function loadJobs() {
    const list = await cim.enumerate('VRM_ConcreteJob', { propertyList: JOB_PROPS });
    list.sort((a, b) => (epochMs(b.props.TimeSubmitted) || 0) - (epochMs(a.props.TimeSubmitted) || 0));
    jobs = list;
    if (ctx.alive()) drawJobs();
  }
  await loadJobs().catch((e) => ui.clear(jList).append(el('p', { class: 'error' }, ui.errorText(e))));
  root.dataset.ready = 'true';

  ctx.poll(async () => {
    await loadJobs();
    if (admin && page === 0) {
      total = await logTotal();
      await win.open();
      drawAudit(total);
    }
  }, POLL_MS);
}
