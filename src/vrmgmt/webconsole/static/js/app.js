// The console's shell: login and logout, the header and navigation, the hash router
// that loads page modules (pages/<name>.js, each exporting
// `async function render(root, ctx, params)`), and the polling helper pages use for
// live updates.

import { CimClient, CimPath } from './cim.js';
import * as ui from './ui.js';

const { el, clear } = ui;

const ROLES = ['reader', 'operator', 'admin'];

/** Whether role may do what needs role `needed` (as the server's roles.py). */
export function allows(role, needed) {
  return ROLES.indexOf(role) >= 0 && ROLES.indexOf(role) >= ROLES.indexOf(needed);
}

// route name -> module; params from the rest of the hash (URL-encoded WBEM URIs)
const ROUTES = {
  tree: './pages/tree.js',
  vm: './pages/vm.js',
  host: './pages/host.js',
  group: './pages/group.js',
  'new-vm': './pages/newvm.js',
  audit: './pages/audit.js',
};

const NAV = [
  ['tree', 'Tree'],
  ['new-vm', 'New VM'],
  ['audit', 'Audit'],
];

/** The hash URL of a page: href('vm', path) -> '#/vm/<urlencoded WBEM URI>'. */
export function href(page, path = null) {
  if (path === null || path === undefined) return `#/${page}`;
  const uri = path instanceof CimPath ? path.toWbemUri() : String(path);
  return `#/${page}/${encodeURIComponent(uri)}`;
}

function parseHash() {
  const h = (location.hash || '#/tree').replace(/^#\/?/, '');
  const [name, ...rest] = h.split('/');
  return { name: name || 'tree', params: rest.map((r) => decodeURIComponent(r)) };
}

class Console {
  constructor(root) {
    this.root = root;
    this.cim = new CimClient({
      endpoint: '/cimom',
      namespace: 'root/virt',
      onAuthError: (err) => this.authLost(err),
    });
    this.session = null;
    this.timers = [];
    this.renderToken = 0;
    window.addEventListener('hashchange', () => { if (this.session) this.route(); });
    document.addEventListener('visibilitychange', () => {
      for (const t of this.timers) if (!document.hidden && t.due) t.run();
    });
  }

  async start() {
    try {
      const s = await this.cim.whoami();
      this.loggedIn(s);
    } catch (e) {
      this.showLogin(e.reason === 'expired' ? 'Your session has expired. Please log in again.' : '');
    }
  }

  // -- login ---------------------------------------------------------------------------

  showLogin(message = '', kind = 'error') {
    this.stopTimers();
    this.session = null;
    document.body.classList.add('at-login');
    const msg = el('p', { id: 'login-message', class: `login-message ${kind}`, role: 'alert', 'aria-live': 'assertive' }, message);
    const user = el('input', { id: 'login-user', name: 'username', autocomplete: 'username', required: true, autofocus: true });
    const pass = el('input', { id: 'login-password', name: 'password', type: 'password', autocomplete: 'current-password', required: true });
    const submit = el('button', { type: 'submit', class: 'primary', id: 'login-submit' }, 'Log in');
    const form = el('form', { class: 'login', 'aria-labelledby': 'login-title' },
      el('h1', { id: 'login-title' }, 'vrmgmt console'),
      el('label', { for: 'login-user' }, 'User name'), user,
      el('label', { for: 'login-password' }, 'Password'), pass,
      submit, msg);
    form.addEventListener('submit', async (ev) => {
      ev.preventDefault();
      performance.mark('vrm-login-submit'); // the performance test measures from here
      submit.disabled = true;
      msg.textContent = 'Logging in…';
      msg.className = 'login-message info';
      try {
        const s = await this.cim.login(user.value, pass.value);
        pass.value = '';
        this.loggedIn(s);
      } catch (e) {
        msg.className = 'login-message error';
        if (e.reason === 'bad-credentials') msg.textContent = 'Wrong user name or password.';
        else if (e.reason === 'locked') msg.textContent = 'Too many failed logins. Wait a minute and try again.';
        else msg.textContent = `Login failed: ${ui.errorText(e)}`;
        pass.value = '';
        pass.focus();
      } finally {
        submit.disabled = false;
      }
    });
    clear(this.root).append(el('main', { id: 'main', class: 'login-page' }, form));
    (user.value ? pass : user).focus();
  }

  authLost(err) {
    if (!this.session) return;
    const message = err.reason === 'expired'
      ? 'Your session has expired. Please log in again.'
      : 'You are no longer logged in. Please log in again.';
    this.showLogin(message);
  }

  loggedIn(session) {
    this.session = { user: session.user, role: session.role };
    document.body.classList.remove('at-login');
    this.shell();
    this.route();
  }

  async logout() {
    this.stopTimers();
    try { await this.cim.logout(); } finally { this.showLogin('You have logged out.', 'info'); }
  }

  // -- shell ---------------------------------------------------------------------------

  shell() {
    const nav = el('nav', { 'aria-label': 'Main' },
      el('ul', {}, NAV.map(([name, label]) => el('li', {},
        el('a', { href: href(name), dataset: { page: name } }, label)))));
    const who = el('span', { class: 'who', id: 'session-user' },
      this.session.user || '(no authentication)', ' ',
      el('span', { class: 'role', id: 'session-role', dataset: { role: this.session.role } }, this.session.role));
    const logout = el('button', { type: 'button', id: 'logout', onclick: () => this.logout() }, 'Log out');
    this.main = el('main', { id: 'main', tabindex: '-1' });
    clear(this.root).append(
      el('a', { class: 'skip', href: '#main', onclick: (ev) => { ev.preventDefault(); this.main.focus(); } }, 'Skip to content'),
      el('header', { class: 'top' }, el('a', { class: 'brand', href: href('tree') }, 'vrmgmt'), nav, el('div', { class: 'session' }, who, logout)),
      this.main,
    );
  }

  stopTimers() {
    for (const t of this.timers) clearTimeout(t.id);
    this.timers = [];
  }

  async route() {
    const { name, params } = parseHash();
    this.stopTimers();
    const token = ++this.renderToken;
    for (const a of this.root.querySelectorAll('nav a')) {
      if (a.dataset.page === name) a.setAttribute('aria-current', 'page'); else a.removeAttribute('aria-current');
    }
    const mod = ROUTES[name];
    const main = this.main;
    clear(main);
    if (!mod) {
      main.append(el('h1', {}, 'Not found'), el('p', {}, `There is no page “${name}”. `, el('a', { href: href('tree') }, 'Back to the tree')));
      return;
    }
    main.append(el('p', { class: 'loading', role: 'status' }, 'Loading…'));
    let page;
    try {
      page = await import(mod);
    } catch (e) {
      clear(main).append(el('h1', {}, 'Page not available'), el('p', {}, `This console has no ${name} page (${e.message}).`));
      return;
    }
    if (token !== this.renderToken) return;
    const ctx = this.context(token);
    try {
      const root = el('div', { class: `page page-${name}` });
      await page.render(root, ctx, params);
      if (token !== this.renderToken) return;
      clear(main).append(root);
    } catch (e) {
      if (token !== this.renderToken || e.name === 'AuthError') return;
      clear(main).append(el('h1', {}, 'Error'), el('p', { role: 'alert', class: 'error' }, ui.errorText(e)));
    }
  }

  context(token) {
    const app = this;
    return {
      cim: this.cim,
      session: this.session,
      ui,
      href,
      CimPath,
      navigate: (hash) => { location.hash = hash; },
      can: (needed) => allows(app.session && app.session.role, needed),
      alive: () => token === app.renderToken,
      /** Run fn every intervalMs while this page is shown (not while the tab is hidden);
       * the next run is scheduled when one ends, so slow answers never pile up. */
      poll(fn, intervalMs = 5000) {
        const t = { id: null, due: false };
        t.run = async () => {
          t.due = false;
          if (token !== app.renderToken) return;
          try { await fn(); } catch (e) { if (e.name !== 'AuthError') console.warn('poll failed', e); }
          if (token !== app.renderToken) return;
          t.id = setTimeout(() => { if (document.hidden) t.due = true; else t.run(); }, intervalMs);
        };
        t.id = setTimeout(() => t.run(), intervalMs);
        app.timers.push(t);
        return t;
      },
    };
  }
}

const app = new Console(document.getElementById('app'));
app.start();
