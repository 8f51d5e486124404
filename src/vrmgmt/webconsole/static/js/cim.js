// A small CIM-XML client (DSP0200 CIM operations over HTTP, DSP0201 CIM-XML encoding)
// for the browser: fetch() to /cimom, DOMParser for the answers. The console speaks to
// vrmgmt exactly like any other WBEM client; the console's session cookie (set by the
// server at login) authenticates it, and every request carries the `VRM-Console`
// header (docs/console-web.md).
//
// Enumerations use the pull operations (DSP0200 §5.3.2: Open* + Pull* until
// EndOfSequence) and always take a property list where the caller knows what it needs.

const XML_HEADER = '<?xml version="1.0" encoding="utf-8" ?>\n';

export const STATUS_NAMES = {
  1: 'CIM_ERR_FAILED', 2: 'CIM_ERR_ACCESS_DENIED', 3: 'CIM_ERR_INVALID_NAMESPACE',
  4: 'CIM_ERR_INVALID_PARAMETER', 5: 'CIM_ERR_INVALID_CLASS', 6: 'CIM_ERR_NOT_FOUND',
  7: 'CIM_ERR_NOT_SUPPORTED', 8: 'CIM_ERR_CLASS_HAS_CHILDREN', 9: 'CIM_ERR_CLASS_HAS_INSTANCES',
  10: 'CIM_ERR_INVALID_SUPERCLASS', 11: 'CIM_ERR_ALREADY_EXISTS', 12: 'CIM_ERR_NO_SUCH_PROPERTY',
  13: 'CIM_ERR_TYPE_MISMATCH', 14: 'CIM_ERR_QUERY_LANGUAGE_NOT_SUPPORTED',
  15: 'CIM_ERR_INVALID_QUERY', 16: 'CIM_ERR_METHOD_NOT_AVAILABLE', 17: 'CIM_ERR_METHOD_NOT_FOUND',
  20: 'CIM_ERR_NAMESPACE_NOT_EMPTY', 21: 'CIM_ERR_INVALID_ENUMERATION_CONTEXT',
  22: 'CIM_ERR_INVALID_OPERATION_TIMEOUT', 23: 'CIM_ERR_PULL_HAS_BEEN_ABANDONED',
  24: 'CIM_ERR_PULL_CANNOT_BE_ABANDONED', 25: 'CIM_ERR_FILTERED_ENUMERATION_NOT_SUPPORTED',
  26: 'CIM_ERR_CONTINUATION_ON_ERROR_NOT_SUPPORTED', 27: 'CIM_ERR_SERVER_LIMITS_EXCEEDED',
  28: 'CIM_ERR_SERVER_IS_SHUTTING_DOWN',
};

/** A CIM error (an ERROR element of the answer), or an HTTP-level failure (status -1). */
export class CimError extends Error {
  constructor(status, description, statusName) {
    const name = statusName || STATUS_NAMES[status] || `CIM status ${status}`;
    super(description ? `${name}: ${description}` : name);
    this.name = 'CimError';
    this.status = status;
    this.statusName = name;
    this.description = description || '';
  }
}

/** The server answered with an HTTP error (not a CIM one): .httpStatus, .description. */
export class HttpError extends CimError {
  constructor(httpStatus, description) {
    super(-1, description, `HTTP ${httpStatus}`);
    this.name = 'HttpError';
    this.httpStatus = httpStatus;
  }
}

/** 401: not logged in, wrong password or an expired session (.reason from the server:
 * bad-credentials | expired | no-session | locked). */
export class AuthError extends HttpError {
  constructor(reason, description) {
    super(401, description);
    this.name = 'AuthError';
    this.reason = reason || 'no-session';
  }
}

// -- XML helpers ---------------------------------------------------------------------

export function esc(s) {
  return String(s).replace(/[&<>"']/g, (c) => (
    { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&apos;' }[c]));
}

function kids(node, tag) {
  const out = [];
  for (const c of node.children) if (!tag || c.tagName === tag) out.push(c);
  return out;
}

function kid(node, tag) {
  for (const c of node.children) if (c.tagName === tag) return c;
  return null;
}

function nsXml(namespace) {
  return '<LOCALNAMESPACEPATH>' + namespace.split('/').filter(Boolean)
    .map((n) => `<NAMESPACE NAME="${esc(n)}"/>`).join('') + '</LOCALNAMESPACEPATH>';
}

function nsFrom(localNsPath) {
  return kids(localNsPath, 'NAMESPACE').map((n) => n.getAttribute('NAME')).join('/');
}

// -- object paths --------------------------------------------------------------------

/** The path of an instance: namespace, class name and keys (name -> string, number,
 * boolean or CimPath). Key names compare case-insensitively (DSP0004). */
export class CimPath {
  constructor(classname, keys = {}, namespace = null, host = null) {
    this.classname = classname;
    this.keys = keys;
    this.namespace = namespace;
    this.host = host;
  }

  key(name) {
    const want = name.toLowerCase();
    for (const [k, v] of Object.entries(this.keys)) if (k.toLowerCase() === want) return v;
    return undefined;
  }

  /** The WBEM URI (DSP0207 untyped form, as pywbem writes it). */
  toWbemUri() {
    const ns = this.namespace ? `/${this.namespace}:` : '';
    const host = this.host ? `//${this.host}` : '';
    const names = Object.keys(this.keys).sort((a, b) => a.toLowerCase().localeCompare(b.toLowerCase()));
    const kv = names.map((k) => `${k}=${uriValue(this.keys[k])}`).join(',');
    return `${host}${ns}${this.classname}${kv ? '.' + kv : ''}`;
  }

  toString() { return this.toWbemUri(); }

  /** Same instance (class and key names case-insensitive, values as typed). */
  equals(other) {
    if (!other || other.classname.toLowerCase() !== this.classname.toLowerCase()) return false;
    const a = Object.keys(this.keys); const b = Object.keys(other.keys);
    if (a.length !== b.length) return false;
    for (const k of a) {
      const v = this.keys[k]; const w = other.key(k);
      if (v instanceof CimPath ? !v.equals(w) : v !== w) return false;
    }
    return true;
  }

  static parse(uri) { return parseUri(uri); }

  /** INSTANCENAME. */
  toXml() {
    const kb = Object.entries(this.keys).map(([k, v]) => {
      if (v instanceof CimPath) {
        return `<KEYBINDING NAME="${esc(k)}"><VALUE.REFERENCE>${v.namespace ? v.toLocalXml() : v.toXml()}</VALUE.REFERENCE></KEYBINDING>`;
      }
      const type = typeof v === 'number' ? 'numeric' : typeof v === 'boolean' ? 'boolean' : 'string';
      const text = typeof v === 'boolean' ? (v ? 'TRUE' : 'FALSE') : String(v);
      return `<KEYBINDING NAME="${esc(k)}"><KEYVALUE VALUETYPE="${type}">${esc(text)}</KEYVALUE></KEYBINDING>`;
    }).join('');
    return `<INSTANCENAME CLASSNAME="${esc(this.classname)}">${kb}</INSTANCENAME>`;
  }

  /** LOCALINSTANCEPATH (needs a namespace). */
  toLocalXml(namespace) {
    return `<LOCALINSTANCEPATH>${nsXml(this.namespace || namespace)}${this.toXml()}</LOCALINSTANCEPATH>`;
  }
}

function uriValue(v) {
  if (v instanceof CimPath) return '"' + v.toWbemUri().replace(/\\/g, '\\\\').replace(/"/g, '\\"') + '"';
  if (typeof v === 'boolean') return v ? 'TRUE' : 'FALSE';
  if (typeof v === 'number') return String(v);
  return '"' + String(v).replace(/\\/g, '\\\\').replace(/"/g, '\\"') + '"';
}

function parseUri(uri) {
  let s = String(uri).trim();
  let host = null; let namespace = null;
  if (s.startsWith('//')) {
    const slash = s.indexOf('/', 2);
    host = s.slice(2, slash < 0 ? s.length : slash);
    s = slash < 0 ? '' : s.slice(slash);
  }
  const colon = s.search(/:(?=[A-Za-z_][A-Za-z0-9_]*(\.|$))/);
  if (colon >= 0) {
    namespace = s.slice(0, colon).replace(/^\/+/, '') || null;
    s = s.slice(colon + 1);
  }
  const dot = s.indexOf('.');
  const classname = dot < 0 ? s : s.slice(0, dot);
  if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(classname)) throw new Error(`not a WBEM URI: ${uri}`);
  const keys = {};
  let i = dot < 0 ? s.length : dot + 1;
  while (i < s.length) {
    const eq = s.indexOf('=', i);
    if (eq < 0) throw new Error(`not a WBEM URI (key without value): ${uri}`);
    const name = s.slice(i, eq);
    i = eq + 1;
    let value;
    if (s[i] === '"') {
      let out = ''; i += 1;
      while (i < s.length && s[i] !== '"') {
        if (s[i] === '\\' && i + 1 < s.length) { out += s[i + 1]; i += 2; } else { out += s[i]; i += 1; }
      }
      if (s[i] !== '"') throw new Error(`not a WBEM URI (unterminated string): ${uri}`);
      i += 1;
      value = /^(\/\/[^/]*)?\/?[^"=]*:?[A-Za-z_][A-Za-z0-9_]*\.[A-Za-z_][A-Za-z0-9_]*=/.test(out) && looksLikePath(out)
        ? parseUri(out) : out;
    } else {
      const end = s.indexOf(',', i);
      const raw = s.slice(i, end < 0 ? s.length : end);
      i = end < 0 ? s.length : end;
      if (/^(true|false)$/i.test(raw)) value = raw.toLowerCase() === 'true';
      else if (/^[-+]?\d+(\.\d+)?([eE][-+]?\d+)?$/.test(raw)) value = Number(raw);
      else value = raw;
    }
    keys[name] = value;
    if (s[i] === ',') i += 1;
  }
  return new CimPath(classname, keys, namespace, host);
}

function looksLikePath(s) {
  try { parseUri(s); return true; } catch { return false; }
}

function pathFromInstanceName(node, namespace = null, host = null) {
  const keys = {};
  for (const kb of kids(node, 'KEYBINDING')) {
    const name = kb.getAttribute('NAME');
    const kv = kid(kb, 'KEYVALUE');
    if (kv) {
      const t = kv.getAttribute('VALUETYPE') || 'string';
      const text = kv.textContent;
      keys[name] = t === 'numeric' ? Number(text) : t === 'boolean' ? text.toUpperCase() === 'TRUE' : text;
    } else {
      const ref = kid(kb, 'VALUE.REFERENCE');
      if (ref) keys[name] = pathFromReference(ref);
    }
  }
  // a single KEYVALUE without KEYBINDING is allowed by DSP0201 for one-key classes
  return new CimPath(node.getAttribute('CLASSNAME'), keys, namespace, host);
}

function pathFromAny(node, defaultNs) {
  switch (node.tagName) {
    case 'INSTANCEPATH': {
      const nsp = kid(node, 'NAMESPACEPATH');
      const host = nsp && kid(nsp, 'HOST') ? kid(nsp, 'HOST').textContent : null;
      const ns = nsp ? nsFrom(kid(nsp, 'LOCALNAMESPACEPATH')) : defaultNs;
      return pathFromInstanceName(kid(node, 'INSTANCENAME'), ns, host);
    }
    case 'LOCALINSTANCEPATH':
      return pathFromInstanceName(kid(node, 'INSTANCENAME'), nsFrom(kid(node, 'LOCALNAMESPACEPATH')));
    case 'INSTANCENAME':
      return pathFromInstanceName(node, defaultNs);
    default:
      return null;
  }
}

function pathFromReference(ref, defaultNs = null) {
  const inner = ref.firstElementChild;
  return inner ? pathFromAny(inner, defaultNs) : null;
}

// -- values --------------------------------------------------------------------------

function scalar(text, type) {
  if (text === null || text === undefined) return null;
  switch (type) {
    case 'boolean': return text.trim().toUpperCase() === 'TRUE';
    case 'uint8': case 'uint16': case 'uint32': case 'uint64':
    case 'sint8': case 'sint16': case 'sint32': case 'sint64':
      return Number(text.trim());
    case 'real32': case 'real64': return Number(text.trim());
    default: return text;
  }
}

function parseEmbedded(text, namespace) {
  const doc = new DOMParser().parseFromString(text, 'application/xml');
  const root = doc.documentElement;
  if (!root || root.tagName !== 'INSTANCE') return text;
  return instanceFrom(root, null, namespace);
}

function propValue(p, namespace) {
  const type = p.getAttribute('TYPE') || 'string';
  const embedded = p.getAttribute('EmbeddedObject') || p.getAttribute('EMBEDDEDOBJECT');
  const conv = (t) => (embedded && t !== null ? parseEmbedded(t, namespace) : scalar(t, type));
  if (p.tagName === 'PROPERTY.ARRAY') {
    const arr = kid(p, 'VALUE.ARRAY');
    if (!arr) return null;
    return kids(arr).map((v) => (v.tagName === 'VALUE.NULL' ? null : conv(v.textContent)));
  }
  if (p.tagName === 'PROPERTY.REFERENCE') {
    const ref = kid(p, 'VALUE.REFERENCE');
    return ref ? pathFromReference(ref, namespace) : null;
  }
  const v = kid(p, 'VALUE');
  return v ? conv(v.textContent) : null;
}

function instanceFrom(node, path, namespace) {
  const props = {};
  for (const p of kids(node)) {
    if (p.tagName.startsWith('PROPERTY')) props[p.getAttribute('NAME')] = propValue(p, namespace);
  }
  return { classname: node.getAttribute('CLASSNAME'), path, props };
}

function instancesOf(ireturn, namespace) {
  const out = [];
  if (!ireturn) return out;
  for (const n of kids(ireturn)) {
    if (n.tagName === 'VALUE.INSTANCEWITHPATH') {
      const path = pathFromAny(kid(n, 'INSTANCEPATH'), namespace);
      out.push(instanceFrom(kid(n, 'INSTANCE'), path, namespace));
    } else if (n.tagName === 'VALUE.NAMEDINSTANCE') {
      const path = pathFromInstanceName(kid(n, 'INSTANCENAME'), namespace);
      out.push(instanceFrom(kid(n, 'INSTANCE'), path, namespace));
    } else if (n.tagName === 'VALUE.OBJECTWITHPATH') {
      const p = n.firstElementChild;
      out.push(instanceFrom(kid(n, 'INSTANCE'), pathFromAny(p, namespace), namespace));
    } else if (n.tagName === 'INSTANCE') {
      out.push(instanceFrom(n, null, namespace));
    }
  }
  return out;
}

/** A value of a method parameter or property as CIM-XML: {type, value} with arrays as
 * value arrays; type 'reference' takes CimPath (or a WBEM URI), 'instance' an instance
 * {classname, props:{name:{type,value}} or plain values}. */
function valueXml(param, namespace) {
  const { type, value } = param;
  const one = (v) => {
    if (type === 'reference') {
      const p = v instanceof CimPath ? v : CimPath.parse(v);
      return `<VALUE.REFERENCE>${p.toLocalXml(namespace)}</VALUE.REFERENCE>`;
    }
    if (type === 'instance') return `<VALUE>${esc(instanceXml(v))}</VALUE>`;
    if (type === 'boolean') return `<VALUE>${v ? 'TRUE' : 'FALSE'}</VALUE>`;
    return `<VALUE>${esc(v)}</VALUE>`;
  };
  if (Array.isArray(value)) {
    if (type === 'reference') return `<VALUE.REFARRAY>${value.map(one).join('')}</VALUE.REFARRAY>`;
    return `<VALUE.ARRAY>${value.map(one).join('')}</VALUE.ARRAY>`;
  }
  return one(value);
}

function guessType(v) {
  if (typeof v === 'boolean') return 'boolean';
  if (typeof v === 'number') return Number.isInteger(v) ? 'sint64' : 'real64';
  if (v instanceof CimPath) return 'reference';
  return 'string';
}

/** INSTANCE; props values are plain (type guessed) or {type, value}. */
export function instanceXml(inst, onlyProps = null) {
  const parts = [];
  for (const [name, raw] of Object.entries(inst.props || {})) {
    if (onlyProps && !onlyProps.some((p) => p.toLowerCase() === name.toLowerCase())) continue;
    const typed = raw !== null && typeof raw === 'object' && 'type' in raw && 'value' in raw && !(raw instanceof CimPath);
    const value = typed ? raw.value : raw;
    const type = typed ? raw.type : guessType(Array.isArray(value) ? value[0] : value);
    if (type === 'reference') {
      parts.push(`<PROPERTY.REFERENCE NAME="${esc(name)}">${value === null ? '' : valueXml({ type, value })}</PROPERTY.REFERENCE>`);
    } else if (Array.isArray(value)) {
      parts.push(`<PROPERTY.ARRAY NAME="${esc(name)}" TYPE="${type}">${valueXml({ type, value })}</PROPERTY.ARRAY>`);
    } else {
      const t = type === 'instance' ? 'string" EmbeddedObject="instance' : type;
      parts.push(`<PROPERTY NAME="${esc(name)}" TYPE="${t}">${value === null || value === undefined ? '' : valueXml({ type, value })}</PROPERTY>`);
    }
  }
  return `<INSTANCE CLASSNAME="${esc(inst.classname)}">${parts.join('')}</INSTANCE>`;
}

function outValue(pv, namespace) {
  const type = pv.getAttribute('PARAMTYPE') || 'string';
  const embedded = pv.getAttribute('EmbeddedObject') || pv.getAttribute('EMBEDDEDOBJECT');
  const c = pv.firstElementChild;
  if (!c) return null;
  const conv = (t) => (embedded ? parseEmbedded(t, namespace) : scalar(t, type));
  switch (c.tagName) {
    case 'VALUE': return conv(c.textContent);
    case 'VALUE.ARRAY': return kids(c).map((v) => (v.tagName === 'VALUE.NULL' ? null : conv(v.textContent)));
    case 'VALUE.REFERENCE': return pathFromReference(c, namespace);
    case 'VALUE.REFARRAY': return kids(c).map((r) => pathFromReference(r, namespace));
    default: return null;
  }
}

// -- the client ----------------------------------------------------------------------

let messageId = 1000;

export class CimClient {
  constructor({ endpoint = '/cimom', namespace = 'root/virt', timeout = 60000, onAuthError = null } = {}) {
    this.endpoint = endpoint;
    this.namespace = namespace;
    this.timeout = timeout;
    this.onAuthError = onAuthError; // called with an AuthError before it is thrown
    this.session = null; // {user, role} once logged in
  }

  async _post(body, cimMethod, cimObject, extraHeaders = {}, quiet = false) {
    const ctl = new AbortController();
    const timer = setTimeout(() => ctl.abort(), this.timeout);
    let resp;
    try {
      resp = await fetch(this.endpoint, {
        method: 'POST',
        credentials: 'same-origin',
        cache: 'no-store',
        signal: ctl.signal,
        headers: {
          'Content-Type': 'application/xml; charset="utf-8"',
          CIMOperation: 'MethodCall',
          CIMMethod: cimMethod,
          CIMObject: encodeURIComponent(cimObject).replace(/%2F/g, '/').replace(/%3A/g, ':'),
          'VRM-Console': '1',
          ...extraHeaders,
        },
        body: XML_HEADER + body,
      });
    } catch (e) {
      if (e.name === 'AbortError') throw new HttpError(0, `no answer from the server within ${this.timeout / 1000} s`);
      throw new HttpError(0, `the server cannot be reached (${e.message})`);
    } finally {
      clearTimeout(timer);
    }
    if (resp.status === 401) {
      const err = new AuthError(resp.headers.get('VRM-Console-Reason'), (await resp.text()).trim());
      if (this.onAuthError && !quiet) this.onAuthError(err);
      throw err;
    }
    if (!resp.ok) throw new HttpError(resp.status, (await resp.text()).trim() || resp.statusText);
    const user = resp.headers.get('VRM-Console-User');
    const role = resp.headers.get('VRM-Console-Role');
    if (role) this.session = { user: user || null, role };
    const text = await resp.text();
    const doc = new DOMParser().parseFromString(text, 'application/xml');
    if (doc.getElementsByTagName('parsererror').length) throw new HttpError(resp.status, 'the answer is not valid XML');
    const err = doc.getElementsByTagName('ERROR')[0];
    if (err) throw new CimError(Number(err.getAttribute('CODE')), err.getAttribute('DESCRIPTION') || '');
    return doc;
  }

  _wrap(inner) {
    messageId += 1;
    return `<CIM CIMVERSION="2.0" DTDVERSION="2.0"><MESSAGE ID="${messageId}" PROTOCOLVERSION="1.0"><SIMPLEREQ>${inner}</SIMPLEREQ></MESSAGE></CIM>`;
  }

  /** An intrinsic operation: params name -> XML text of the IPARAMVALUE's content. */
  async imethod(name, params, namespace = this.namespace, extraHeaders = {}, quiet = false) {
    const ip = Object.entries(params).filter(([, v]) => v !== undefined && v !== null)
      .map(([k, v]) => `<IPARAMVALUE NAME="${k}">${v}</IPARAMVALUE>`).join('');
    const body = this._wrap(`<IMETHODCALL NAME="${name}">${nsXml(namespace)}${ip}</IMETHODCALL>`);
    const doc = await this._post(body, name, namespace, extraHeaders, quiet);
    return doc.getElementsByTagName('IMETHODRESPONSE')[0];
  }

  // -- session ------------------------------------------------------------------------

  /** Log in: a Basic-authenticated request marked as the console's login; the server
   * answers with a session cookie (HttpOnly) and the user's role. */
  async login(user, password) {
    const basic = btoa(String.fromCharCode(...new TextEncoder().encode(`${user}:${password}`)));
    await this.imethod('EnumerateInstanceNames', { ClassName: '<CLASSNAME NAME="CIM_Namespace"/>' }, 'root/interop',
      { Authorization: `Basic ${basic}`, 'VRM-Console': 'login' }, true);
    return this.session;
  }

  /** The session of the cookie, if there is one: {user, role}; AuthError if not. */
  async whoami() {
    await this.imethod('EnumerateInstanceNames', { ClassName: '<CLASSNAME NAME="CIM_Namespace"/>' }, 'root/interop',
      {}, true);
    return this.session;
  }

  async logout() {
    const resp = await fetch(this.endpoint, {
      method: 'POST', credentials: 'same-origin', cache: 'no-store',
      headers: { 'VRM-Console': 'logout' },
    });
    this.session = null;
    return resp.ok;
  }

  // -- instances ------------------------------------------------------------------------

  async getInstance(path, { propertyList, namespace } = {}) {
    const p = path instanceof CimPath ? path : CimPath.parse(path);
    const ns = namespace || p.namespace || this.namespace;
    const r = await this.imethod('GetInstance', {
      InstanceName: p.toXml(), LocalOnly: '<VALUE>FALSE</VALUE>', PropertyList: plXml(propertyList),
    }, ns);
    const inst = r.getElementsByTagName('INSTANCE')[0];
    const withNs = new CimPath(p.classname, p.keys, ns, p.host);
    return instanceFrom(inst, withNs, ns);
  }

  async _pull(open, ns, pullName = 'PullInstancesWithPath', maxObjectCount = 5000) {
    let r = open;
    const out = [];
    for (;;) {
      const ret = kid(r, 'IRETURNVALUE');
      out.push(...instancesOf(ret, ns));
      const outParams = {};
      for (const pv of kids(r, 'PARAMVALUE')) outParams[pv.getAttribute('NAME')] = pv.textContent.trim();
      if ((outParams.EndOfSequence || '').toUpperCase() === 'TRUE' || !outParams.EnumerationContext) return out;
      r = await this.imethod(pullName, {
        EnumerationContext: `<VALUE>${esc(outParams.EnumerationContext)}</VALUE>`,
        MaxObjectCount: `<VALUE>${maxObjectCount}</VALUE>`,
      }, ns);
    }
  }

  /** Every instance of a class (and its subclasses), by pull operations. */
  async enumerate(className, { namespace, propertyList, maxObjectCount = 5000 } = {}) {
    const ns = namespace || this.namespace;
    const r = await this.imethod('OpenEnumerateInstances', {
      ClassName: `<CLASSNAME NAME="${esc(className)}"/>`,
      PropertyList: plXml(propertyList),
      MaxObjectCount: `<VALUE>${maxObjectCount}</VALUE>`,
    }, ns);
    return this._pull(r, ns, 'PullInstancesWithPath', maxObjectCount);
  }

  async associators(path, { assocClass, resultClass, role, resultRole, propertyList, maxObjectCount = 5000 } = {}) {
    const p = path instanceof CimPath ? path : CimPath.parse(path);
    const ns = p.namespace || this.namespace;
    const r = await this.imethod('OpenAssociatorInstances', {
      InstanceName: p.toXml(),
      AssocClass: assocClass && `<CLASSNAME NAME="${esc(assocClass)}"/>`,
      ResultClass: resultClass && `<CLASSNAME NAME="${esc(resultClass)}"/>`,
      Role: role && `<VALUE>${esc(role)}</VALUE>`,
      ResultRole: resultRole && `<VALUE>${esc(resultRole)}</VALUE>`,
      PropertyList: plXml(propertyList),
      MaxObjectCount: `<VALUE>${maxObjectCount}</VALUE>`,
    }, ns);
    return this._pull(r, ns, 'PullInstancesWithPath', maxObjectCount);
  }

  async references(path, { resultClass, role, propertyList, maxObjectCount = 5000 } = {}) {
    const p = path instanceof CimPath ? path : CimPath.parse(path);
    const ns = p.namespace || this.namespace;
    const r = await this.imethod('OpenReferenceInstances', {
      InstanceName: p.toXml(),
      ResultClass: resultClass && `<CLASSNAME NAME="${esc(resultClass)}"/>`,
      Role: role && `<VALUE>${esc(role)}</VALUE>`,
      PropertyList: plXml(propertyList),
      MaxObjectCount: `<VALUE>${maxObjectCount}</VALUE>`,
    }, ns);
    return this._pull(r, ns, 'PullInstancesWithPath', maxObjectCount);
  }

  /** A WQL query (OpenQueryInstances + PullInstances); the instances have no path. */
  async query(wql, { namespace, maxObjectCount = 5000 } = {}) {
    const ns = namespace || this.namespace;
    const r = await this.imethod('OpenQueryInstances', {
      FilterQueryLanguage: '<VALUE>WQL</VALUE>',
      FilterQuery: `<VALUE>${esc(wql)}</VALUE>`,
      ReturnQueryResultClass: '<VALUE>FALSE</VALUE>',
      MaxObjectCount: `<VALUE>${maxObjectCount}</VALUE>`,
    }, ns);
    return this._pull(r, ns, 'PullInstances', maxObjectCount);
  }

  /** An extrinsic method: params name -> {type, value}; {returnValue, out}. */
  async invokeMethod(path, name, params = {}) {
    const p = path instanceof CimPath ? path : CimPath.parse(path);
    const ns = p.namespace || this.namespace;
    const pv = Object.entries(params).filter(([, v]) => v !== undefined && v !== null).map(([k, v]) => {
      const type = v.type === 'instance' ? 'string" EmbeddedObject="instance' : v.type;
      return `<PARAMVALUE NAME="${esc(k)}" PARAMTYPE="${type}">${valueXml(v, ns)}</PARAMVALUE>`;
    }).join('');
    const body = this._wrap(`<METHODCALL NAME="${esc(name)}">${p.toLocalXml(ns)}${pv}</METHODCALL>`);
    const obj = `${ns}:${new CimPath(p.classname, p.keys).toWbemUri()}`;
    const doc = await this._post(body, name, obj);
    const resp = doc.getElementsByTagName('METHODRESPONSE')[0];
    const rv = kid(resp, 'RETURNVALUE');
    const out = {};
    for (const o of kids(resp, 'PARAMVALUE')) out[o.getAttribute('NAME')] = outValue(o, ns);
    return { returnValue: rv ? outValue(rv, ns) : null, out };
  }

  async modifyInstance(instance, propertyList) {
    const p = instance.path instanceof CimPath ? instance.path : CimPath.parse(instance.path);
    const ns = p.namespace || this.namespace;
    await this.imethod('ModifyInstance', {
      ModifiedInstance: `<VALUE.NAMEDINSTANCE>${p.toXml()}${instanceXml(instance, propertyList)}</VALUE.NAMEDINSTANCE>`,
      PropertyList: plXml(propertyList),
    }, ns);
  }

  async createInstance(instance, { namespace } = {}) {
    const ns = namespace || this.namespace;
    const r = await this.imethod('CreateInstance', { NewInstance: instanceXml(instance) }, ns);
    const n = r.getElementsByTagName('INSTANCENAME')[0];
    return n ? pathFromInstanceName(n, ns) : null;
  }

  async deleteInstance(path) {
    const p = path instanceof CimPath ? path : CimPath.parse(path);
    await this.imethod('DeleteInstance', { InstanceName: p.toXml() }, p.namespace || this.namespace);
  }

  /** Follow a VRM_ConcreteJob until it ends (JobState 7 completed, 8 terminated,
   * 9 killed, 10 exception); onProgress(instance) after each look. Returns the job. */
  async waitJob(jobPath, onProgress = null, { interval = 500, timeout = 600000 } = {}) {
    const t0 = Date.now();
    for (;;) {
      const job = await this.getInstance(jobPath, {
        propertyList: ['JobState', 'PercentComplete', 'ErrorCode', 'ErrorDescription', 'ElementName', 'JobStatus'],
      });
      if (onProgress) onProgress(job);
      if ([7, 8, 9, 10].includes(job.props.JobState)) return job;
      if (Date.now() - t0 > timeout) throw new HttpError(0, `the job did not end within ${timeout / 1000} s`);
      await new Promise((res) => setTimeout(res, interval));
    }
  }
}

function plXml(list) {
  if (!list) return undefined;
  return `<VALUE.ARRAY>${list.map((n) => `<VALUE>${esc(n)}</VALUE>`).join('')}</VALUE.ARRAY>`;
}
