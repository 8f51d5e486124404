// Usage graphs of a host or VM: PNGs drawn by the server (VRM_MetricService.GetMetricGraph
// of the element's host, docs/metrics.md) for the families cpu, memory, network, disk
// (and users for hosts), with a range switch hour/day/week/month/year and AVERAGE/MAX.
// Each PNG arrives base64 in the method's Image output and is shown as an <img> from a
// blob: URL (CSP img-src 'self' data: blob:); at most two graphs are asked for at once.

import { ensureCss, P } from './common.js';

export const RANGES = ['hour', 'day', 'week', 'month', 'year'];
export const CFS = [['AVERAGE', 'Average'], ['MAX', 'Maximum']];
export const VM_FAMILIES = [['cpu', 'CPU'], ['memory', 'Memory'], ['network', 'Network'], ['disk', 'Disk']];
export const HOST_FAMILIES = [...VM_FAMILIES, ['users', 'Users and load']];
const HEIGHT = 180;
const PARALLEL = 2;

/** The graph's pixel width for a container: what fits, 320-800. */
function widthFor(container) {
  const w = Math.floor((container.clientWidth || 800) - 8);
  return Math.max(320, Math.min(800, w));
}

function pngBlobUrl(b64) {
  const bin = atob(b64);
  const bytes = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i += 1) bytes[i] = bin.charCodeAt(i);
  return URL.createObjectURL(new Blob([bytes], { type: 'image/png' }));
}

/** A radio group (fieldset) of choices [[value, label]]; onChange(value). */
function radioGroup(ui, legend, name, choices, current, onChange) {
  const fs = ui.el('fieldset', { class: 'switch', role: 'radiogroup', 'aria-label': legend },
    ui.el('legend', {}, legend));
  for (const [value, label] of choices) {
    const id = `${name}-${value}`;
    const input = ui.el('input', { type: 'radio', name, id, value, checked: value === current });
    input.addEventListener('change', () => { if (input.checked) onChange(value); });
    fs.append(ui.el('label', { for: id, class: 'switch-option' }, input, ui.el('span', {}, label)));
  }
  return fs;
}

/**
 * The graph panel of an element: elementPath (VRM_HostSystem or VRM_ComputerSystem)
 * and the metric service of its host. Returns the panel node; graphs load after it is
 * in the document (so their width fits).
 */
export function graphPanel(ctx, elementPath, servicePath, { families = VM_FAMILIES, range = 'day', cf = 'AVERAGE' } = {}) {
  ensureCss();
  const { ui } = ctx;
  const state = { range, cf, seq: 0 };
  const urls = [];
  const grid = ui.el('div', { class: 'graphs', 'aria-live': 'polite' });
  const status = ui.el('p', { class: 'graph-status muted', role: 'status' });
  const slots = families.map(([family, label]) => {
    const img = ui.el('img', { class: 'graph', alt: `${label} graph`, dataset: { family } });
    const note = ui.el('p', { class: 'graph-note muted' });
    const fig = ui.el('figure', { class: 'graph-figure', dataset: { family } },
      ui.el('figcaption', {}, label), img, note);
    grid.append(fig);
    return { family, label, img, note, fig };
  });

  async function loadOne(slot, seq, width) {
    slot.fig.dataset.loaded = 'false';
    slot.note.textContent = 'Loading…';
    try {
      const { returnValue, out } = await ctx.cim.invokeMethod(servicePath, 'GetMetricGraph', {
        ManagedElement: P.ref(elementPath),
        Family: P.str(slot.family),
        Range: P.str(state.range),
        Width: P.u32(width),
        Height: P.u32(HEIGHT),
        Consolidation: P.str(state.cf),
      });
      if (seq !== state.seq) return;
      if (Number(returnValue) !== 0) throw new Error(`GetMetricGraph answered ${returnValue}`);
      if (!out.Image) {
        slot.img.removeAttribute('src');
        slot.img.hidden = true;
        slot.note.textContent = out.Description || 'No data.';
        slot.fig.dataset.loaded = 'empty';
        return;
      }
      const url = pngBlobUrl(out.Image);
      urls.push(url);
      await new Promise((resolve) => {
        slot.img.onload = resolve;
        slot.img.onerror = resolve;
        slot.img.src = url;
      });
      if (seq !== state.seq) return;
      slot.img.hidden = false;
      slot.img.alt = `${slot.label}, last ${state.range}, ${state.cf === 'MAX' ? 'maximum' : 'average'}`;
      Object.assign(slot.img.dataset, { range: state.range, cf: state.cf, width: String(width), height: String(HEIGHT) });
      slot.note.textContent = '';
      slot.fig.dataset.loaded = 'true';
    } catch (e) {
      if (seq !== state.seq) return;
      slot.img.hidden = true;
      slot.note.textContent = `No graph: ${ui.errorText(e)}`;
      slot.fig.dataset.loaded = 'error';
    }
  }

  async function loadAll() {
    state.seq += 1;
    const seq = state.seq;
    while (urls.length) URL.revokeObjectURL(urls.pop());
    const width = widthFor(slots[0].fig);
    status.textContent = `Last ${state.range}, ${state.cf === 'MAX' ? 'maximum' : 'average'} values`;
    panel.dataset.ready = 'false';
    const queue = [...slots];
    const workers = Array.from({ length: PARALLEL }, async () => {
      while (queue.length && seq === state.seq) await loadOne(queue.shift(), seq, width);
    });
    await Promise.all(workers);
    if (seq === state.seq) panel.dataset.ready = 'true';
  }

  const controls = ui.el('div', { class: 'graph-controls' },
    radioGroup(ui, 'Range', `range-${Math.random().toString(36).slice(2, 8)}`,
      RANGES.map((r) => [r, r[0].toUpperCase() + r.slice(1)]), state.range,
      (v) => { state.range = v; loadAll(); }),
    radioGroup(ui, 'Values', `cf-${Math.random().toString(36).slice(2, 8)}`, CFS, state.cf,
      (v) => { state.cf = v; loadAll(); }));
  const panel = ui.el('div', { class: 'graph-panel', dataset: { ready: 'false' } }, controls, status, grid);
  // load once the panel is laid out (its width decides the graphs' width)
  let tries = 0;
  const start = () => { if (panel.isConnected || tries > 60) loadAll(); else { tries += 1; requestAnimationFrame(start); } };
  requestAnimationFrame(start);
  panel.reload = loadAll;
  return panel;
}

/** Not a route of its own: `#/graphs/<element>` is not linked; the VM and host pages
 * embed graphPanel. Kept as a page for direct use. */
export async function render(root, ctx, params) {
  const path = ctx.CimPath.parse(params[0]);
  const { hostOf, serviceOf } = await import('./common.js');
  const host = path.classname === 'VRM_HostSystem' ? { path } : await hostOf(ctx.cim, path);
  const svc = host && await serviceOf(ctx.cim, host.path, 'VRM_MetricService', 'VRM_HostedMetricService');
  root.append(ctx.ui.el('h1', {}, 'Graphs'));
  if (!svc) { root.append(ctx.ui.el('p', {}, 'This host has no metric service.')); return; }
  root.append(graphPanel(ctx, path, svc.path, { families: path.classname === 'VRM_HostSystem' ? HOST_FAMILIES : VM_FAMILIES }));
}
