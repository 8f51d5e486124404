// Helpers shared by the VM, host, group, new-VM and audit pages (cpages): their style
// sheet, sections and fact lists, the host and services of an element, DSP1052 return
// codes, and running a method that may answer with a job (4096) with a progress bar.
// Everything goes through ctx.cim (CIM-XML to /cimom); nothing here is a second API.

export const RC_COMPLETED = 0;
export const RC_JOB = 4096;

// DSP1052 / CIM_EnabledLogicalElement.RequestStateChange and VSMS return codes
export const RC_TEXT = {
  0: 'completed', 1: 'not supported', 2: 'unknown or unspecified error', 3: 'timed out',
  4: 'failed', 5: 'invalid parameter', 6: 'in use', 4096: 'job started',
  4097: 'not possible in the current state', 4098: 'not possible in the current state',
};

export function rcText(rc) {
  return RC_TEXT[rc] || `return code ${rc}`;
}

// CIM_ConcreteJob.JobState
export const JOB_STATES = {
  2: 'new', 3: 'starting', 4: 'running', 5: 'suspended', 6: 'shutting down',
  7: 'completed', 8: 'terminated', 9: 'killed', 10: 'exception', 11: 'service',
};

let cssLoaded = false;

/** The pages' own style sheet (pages.css), linked once (CSP style-src 'self'). */
export function ensureCss() {
  if (cssLoaded || document.querySelector('link[data-pages-css]')) { cssLoaded = true; return; }
  const link = document.createElement('link');
  link.rel = 'stylesheet';
  link.href = new URL('../../pages.css', import.meta.url).href;
  link.dataset.pagesCss = '1';
  document.head.append(link);
  cssLoaded = true;
}

let sectionSeq = 0;

/** A titled section (<section aria-labelledby>) with its heading and children. */
export function section(ui, title, { id, cls } = {}, ...children) {
  sectionSeq += 1;
  const hid = `${id || 'sec'}-h-${sectionSeq}`;
  return ui.el('section', { class: `card ${cls || ''}`, id, 'aria-labelledby': hid },
    ui.el('h2', { id: hid }, title), ...children);
}

/** A fact list: rows [label, value] (value text or a node); null values are left out. */
export function facts(ui, rows, { cls = 'facts' } = {}) {
  const dl = ui.el('dl', { class: cls });
  for (const [label, value] of rows) {
    if (value === null || value === undefined || value === '') continue;
    dl.append(ui.el('dt', {}, label), ui.el('dd', {}, value));
  }
  return dl;
}

/** A table: headers [text], rows [[cell…]] (text or nodes); caption for screen readers. */
export function table(ui, caption, headers, rows, { cls = '' } = {}) {
  return ui.el('div', { class: 'table-wrap' }, ui.el('table', { class: cls },
    ui.el('caption', { class: 'sr-only' }, caption),
    ui.el('thead', {}, ui.el('tr', {}, headers.map((h) => ui.el('th', { scope: 'col' }, h)))),
    ui.el('tbody', {}, rows)));
}

/** "2026-12-03 09:41:44" from a CIM datetime string (absolute), else the text. */
export function when(dt) {
  if (!dt || typeof dt !== 'string') return '';
  const m = /^(\d{4})(\d\d)(\d\d)(\d\d)(\d\d)(\d\d)\.(\d{6})([+-])(\d{3})$/.exec(dt);
  if (!m) return dt;
  const [, y, mo, d, h, mi, s, , sign, off] = m;
  const utc = Date.UTC(+y, +mo - 1, +d, +h, +mi, +s) - (sign === '+' ? 1 : -1) * Number(off) * 60000;
  return new Date(utc).toISOString().replace('T', ' ').replace(/\.\d+Z$/, ' UTC');
}

/** Milliseconds since 1970 of a CIM datetime (NaN when it is none). */
export function epochMs(dt) {
  const m = /^(\d{4})(\d\d)(\d\d)(\d\d)(\d\d)(\d\d)\.(\d{6})([+-])(\d{3})$/.exec(dt || '');
  if (!m) return NaN;
  const [, y, mo, d, h, mi, s, us, sign, off] = m;
  return Date.UTC(+y, +mo - 1, +d, +h, +mi, +s, Math.floor(+us / 1000))
    - (sign === '+' ? 1 : -1) * Number(off) * 60000;
}

/** The host (VRM_HostSystem) of a VM: VRM_HostedDependency. */
export async function hostOf(cim, vmPath) {
  const [h] = await cim.associators(vmPath, {
    assocClass: 'VRM_HostedDependency', resultClass: 'VRM_HostSystem',
    propertyList: ['Name', 'ElementName', 'BackendID', 'BackendType'],
  });
  return h || null;
}

/** A service of a host (VRM_HostedService, or assocClass) of class className, or null. */
export async function serviceOf(cim, hostPath, className, assocClass = 'VRM_HostedService') {
  const list = await cim.associators(hostPath, {
    assocClass, resultClass: className, propertyList: ['Name', 'ElementName'],
  });
  return list[0] || null;
}

/**
 * Invoke a method that may answer with a job (4096 + Job): a progress bar in `where`
 * follows the job (PercentComplete, JobStatus) until it ends. Returns
 * {returnValue, out, job} — job the finished VRM_ConcreteJob instance or null.
 * A failed job (JobState 8-10) raises an Error with the job's ErrorDescription.
 */
export async function runMethod(ctx, path, method, params, { label, where, onJob } = {}) {
  const { ui, cim } = ctx;
  const res = await cim.invokeMethod(path, method, params);
  const rv = Number(res.returnValue);
  if (rv !== RC_JOB || !res.out.Job) return { returnValue: rv, out: res.out, job: null };
  const bar = ui.progress(label || `${method} progress`);
  bar.node.classList.add('job-progress');
  if (where) where.append(bar.node);
  bar.set(0, 'job started');
  if (onJob) onJob(res.out.Job, bar);
  const job = await cim.waitJob(res.out.Job, (j) => {
    const pc = j.props.PercentComplete;
    bar.set(pc === null || pc === undefined ? null : pc, j.props.JobStatus || JOB_STATES[j.props.JobState] || '');
  }, { interval: 300 });
  if (job.props.JobState !== 7) {
    bar.set(100, `failed: ${job.props.ErrorDescription || JOB_STATES[job.props.JobState]}`);
    bar.node.classList.add('failed');
    const err = new Error(job.props.ErrorDescription || `the job ended ${JOB_STATES[job.props.JobState]}`);
    err.job = job;
    throw err;
  }
  bar.done(job.props.JobStatus || 'completed');
  return { returnValue: 0, out: res.out, job };
}

/** A button with an accessible name; onClick gets the button (disabled while it runs). */
export function actionButton(ui, label, onClick, { ariaLabel, cls = '', id } = {}) {
  const b = ui.el('button', { type: 'button', class: cls, id, 'aria-label': ariaLabel || label }, label);
  b.addEventListener('click', async () => {
    if (b.disabled) return;
    b.disabled = true;
    try { await onClick(b); } finally { b.disabled = false; }
  });
  return b;
}

/** A typed method parameter for ctx.cim.invokeMethod. */
export const P = {
  ref: (value) => ({ type: 'reference', value }),
  u16: (value) => ({ type: 'uint16', value }),
  u32: (value) => ({ type: 'uint32', value }),
  u64: (value) => ({ type: 'uint64', value }),
  str: (value) => ({ type: 'string', value }),
  bool: (value) => ({ type: 'boolean', value }),
  inst: (value) => ({ type: 'instance', value }),
};
