// Small DOM helpers of the console: el() builds elements (text only through
// textContent, never innerHTML, so no value from the server is ever markup), state
// badges, toasts, a progress bar, menus and a confirmation dialog.

/** el('div', {class: 'x', onclick: fn, 'aria-label': 'y'}, child, 'text', [more]) */
export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith('on') && typeof v === 'function') node.addEventListener(k.slice(2), v);
    else if (k === 'class') node.className = v;
    else if (k === 'dataset') Object.assign(node.dataset, v);
    else if (k === 'text') node.textContent = v;
    else node.setAttribute(k, v === true ? '' : String(v));
  }
  append(node, children);
  return node;
}

function append(node, children) {
  for (const c of children) {
    if (c === null || c === undefined || c === false) continue;
    if (Array.isArray(c)) append(node, c);
    else node.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
}

export function clear(node) {
  while (node.firstChild) node.removeChild(node.firstChild);
  return node;
}

// CIM_EnabledLogicalElement.EnabledState (DSP1052 / the VM state mapping of vrmgmt)
export const ENABLED_STATES = {
  0: ['unknown', 'Unknown'], 2: ['running', 'Running'], 3: ['off', 'Off'],
  4: ['shutting-down', 'Shutting down'], 5: ['unknown', 'Not applicable'],
  6: ['suspended', 'Suspended'], 7: ['unknown', 'In test'], 8: ['unknown', 'Deferred'],
  9: ['paused', 'Paused'], 10: ['starting', 'Starting'], 11: ['unknown', 'Unknown'],
};

// RequestStateChange's RequestedState values the console offers, in menu order
export const POWER_ACTIONS = [
  [2, 'Start / resume'], [9, 'Pause'], [6, 'Suspend (save)'], [4, 'Shut down'],
  [10, 'Reboot'], [11, 'Reset'], [3, 'Power off'],
];

export function stateName(enabledState) {
  return (ENABLED_STATES[enabledState] || ['unknown', `State ${enabledState}`])[1];
}

/** A state badge: class badge-<kind>, text the state's name. */
export function badge(enabledState, { lost = false } = {}) {
  const [kind, label] = ENABLED_STATES[enabledState] || ['unknown', `State ${enabledState}`];
  const text = lost ? `${label} (stale)` : label;
  return el('span', { class: `badge badge-${lost ? 'lost' : kind}`, dataset: { state: String(enabledState) }, text });
}

let toastBox = null;

/** A short message at the bottom of the screen (role=status, or alert for errors). */
export function toast(message, { kind = 'info', timeout = 5000 } = {}) {
  if (!toastBox) {
    toastBox = el('div', { class: 'toasts', 'aria-live': 'polite' });
    document.body.append(toastBox);
  }
  const t = el('div', { class: `toast toast-${kind}`, role: kind === 'error' ? 'alert' : 'status' }, message);
  toastBox.append(t);
  if (timeout) setTimeout(() => t.remove(), timeout);
  return t;
}

/** A progress bar: .set(percent, text), .done(). */
export function progress(label) {
  const bar = el('progress', { max: '100', value: '0', 'aria-label': label });
  const text = el('span', { class: 'progress-text' });
  const node = el('div', { class: 'progress' }, bar, text);
  return {
    node,
    set(percent, msg = '') {
      if (percent === null || percent === undefined) bar.removeAttribute('value');
      else bar.value = percent;
      text.textContent = msg;
    },
    done(msg = 'done') { bar.value = 100; text.textContent = msg; },
  };
}

/** The message text of an error (CimError, HttpError or anything else). */
export function errorText(e) {
  if (e && e.statusName && e.status >= 0) return `${e.statusName}: ${e.description}`;
  if (e && e.description) return e.description;
  return String(e && e.message ? e.message : e);
}

let openMenu = null;

export function closeMenus() {
  if (openMenu) { openMenu.close(); openMenu = null; }
}

/** A menu button: items [{label, onSelect, disabled}] shown in a list under the button;
 * arrow keys move, Escape closes and returns focus to the button. */
export function menuButton(label, items, { ariaLabel } = {}) {
  const btn = el('button', { type: 'button', class: 'menu-button', 'aria-haspopup': 'menu', 'aria-expanded': 'false', 'aria-label': ariaLabel || label }, label);
  const wrap = el('span', { class: 'menu-wrap' }, btn);
  let list = null;
  const close = () => {
    if (list) { list.remove(); list = null; }
    btn.setAttribute('aria-expanded', 'false');
  };
  const open = () => {
    closeMenus();
    const entries = typeof items === 'function' ? items() : items;
    list = el('ul', { class: 'menu', role: 'menu', 'aria-label': ariaLabel || label });
    for (const it of entries) {
      const li = el('li', { role: 'none' });
      const b = el('button', {
        type: 'button', role: 'menuitem', disabled: it.disabled, tabindex: '-1',
        onclick: (ev) => { ev.stopPropagation(); close(); btn.focus(); it.onSelect(); },
      }, it.label);
      li.append(b);
      list.append(li);
    }
    if (!entries.length) list.append(el('li', { class: 'menu-empty', role: 'none' }, 'nothing possible now'));
    list.addEventListener('keydown', (ev) => {
      const buttons = [...list.querySelectorAll('button:not([disabled])')];
      const i = buttons.indexOf(document.activeElement);
      if (ev.key === 'ArrowDown') { ev.preventDefault(); buttons[(i + 1) % buttons.length]?.focus(); }
      else if (ev.key === 'ArrowUp') { ev.preventDefault(); buttons[(i - 1 + buttons.length) % buttons.length]?.focus(); }
      else if (ev.key === 'Escape') { ev.preventDefault(); close(); btn.focus(); }
      else if (ev.key === 'Tab') close();
    });
    wrap.append(list);
    btn.setAttribute('aria-expanded', 'true');
    openMenu = { close };
    list.querySelector('button:not([disabled])')?.focus();
  };
  btn.addEventListener('click', (ev) => { ev.stopPropagation(); if (list) close(); else open(); });
  btn.addEventListener('keydown', (ev) => {
    if (ev.key === 'ArrowDown' && !list) { ev.preventDefault(); open(); }
  });
  return wrap;
}

document.addEventListener('click', () => closeMenus());

/** A modal confirmation; resolves true/false. */
export function confirmDialog(message, { ok = 'OK', cancel = 'Cancel' } = {}) {
  return new Promise((resolve) => {
    const dlg = el('dialog', { class: 'confirm', 'aria-label': message });
    const finish = (v) => { dlg.close(); dlg.remove(); resolve(v); };
    dlg.append(
      el('p', {}, message),
      el('div', { class: 'dialog-buttons' },
        el('button', { type: 'button', onclick: () => finish(false) }, cancel),
        el('button', { type: 'button', class: 'primary', onclick: () => finish(true) }, ok)),
    );
    dlg.addEventListener('cancel', (ev) => { ev.preventDefault(); finish(false); });
    document.body.append(dlg);
    dlg.showModal();
  });
}

/** Format bytes / KiB for people. */
export function formatKiB(kib) {
  if (kib === null || kib === undefined) return '–';
  const units = ['KiB', 'MiB', 'GiB', 'TiB'];
  let v = Number(kib); let i = 0;
  while (v >= 1024 && i < units.length - 1) { v /= 1024; i += 1; }
  return `${v.toFixed(v >= 10 || i === 0 ? 0 : 1)} ${units[i]}`;
}
