// The new-VM form (#/new-vm): DefineSystem of the chosen host's
// VRM_VirtualSystemManagementService with an embedded VRM_VirtualSystemSettingData
// (the name) and RASDs (processor, memory, optionally a disk and a network adapter),
// as docs/virtualization-profiles.md describes. For admins (the server refuses
// others). A CIM error is shown with its status and the server's description, and the
// field it names (ResourceSettings[i] / SystemSettings) is marked; on success the form
// opens the new VM's page (a job, e.g. on vSphere, is followed with a progress bar).

import { ensureCss, section, runMethod, rcText, P } from './common.js';

const HOST_PROPS = ['Name', 'ElementName', 'BackendID', 'BackendType', 'OperationalStatus'];

export async function render(root, ctx) {
  ensureCss();
  const { ui, cim } = ctx;
  const { el } = ui;
  const admin = ctx.can('admin');
  const hosts = await cim.enumerate('VRM_HostSystem', { propertyList: HOST_PROPS });
  hosts.sort((a, b) => String(a.props.ElementName).localeCompare(String(b.props.ElementName)));

  const field = (id, label, input, hint) => el('div', { class: 'field', id: `field-${id}` },
    el('label', { for: id }, label), input,
    hint ? el('small', { id: `${id}-hint`, class: 'muted' }, hint) : null,
    el('span', { class: 'field-error', id: `${id}-error`, 'aria-live': 'polite' }));
  const hostSel = el('select', { id: 'nv-host', name: 'host', required: true },
    hosts.map((h) => el('option', { value: h.path.toWbemUri(), dataset: { backend: h.props.BackendID || '' } },
      `${h.props.ElementName || h.props.Name} — ${h.props.BackendID || h.props.Name} (${h.props.BackendType || ''})`)));
  const name = el('input', { id: 'nv-name', name: 'name', required: true, maxlength: '64', autocomplete: 'off', 'aria-describedby': 'nv-name-hint' });
  const cpus = el('input', { id: 'nv-cpus', name: 'cpus', type: 'number', min: '1', max: '256', value: '1', required: true });
  const mem = el('input', { id: 'nv-memory', name: 'memory', type: 'number', min: '1', step: '1', value: '512', required: true });
  const disk = el('input', { id: 'nv-disk', name: 'disk', autocomplete: 'off', placeholder: '/var/lib/libvirt/images/new.qcow2', 'aria-describedby': 'nv-disk-hint' });
  const diskSize = el('input', { id: 'nv-disk-size', name: 'disksize', type: 'number', min: '1', placeholder: 'GiB' });
  const net = el('input', { id: 'nv-net', name: 'network', autocomplete: 'off', placeholder: 'default', 'aria-describedby': 'nv-net-hint' });
  const submit = el('button', { type: 'submit', class: 'primary', id: 'nv-submit', disabled: !admin }, 'Define VM');
  const message = el('div', { id: 'nv-message', class: 'form-message', role: 'alert', 'aria-live': 'assertive' });
  const progressBox = el('div', { class: 'jobs', 'aria-live': 'polite' });
  const form = el('form', { class: 'new-vm', 'aria-labelledby': 'nv-title', novalidate: true },
    field('nv-host', 'Host', hostSel),
    field('nv-name', 'Name', name, 'Letters, digits, - and _; unique on the host.'),
    field('nv-cpus', 'Virtual CPUs', cpus),
    field('nv-memory', 'Memory (MiB)', mem),
    field('nv-disk', 'Disk image (optional)', disk, 'A path on the host; empty: no disk.'),
    field('nv-disk-size', 'Disk size in GiB (optional)', diskSize),
    field('nv-net', 'Network (optional)', net, 'A libvirt network or vSphere port group; empty: no adapter.'),
    el('div', { class: 'form-buttons' }, submit), message, progressBox);

  // which form field a ResourceSettings index stands for (set when the RASDs are built)
  let indexField = [];
  const errorOf = (id) => form.querySelector(`#${id}-error`);
  const clearErrors = () => {
    for (const e of form.querySelectorAll('.field-error')) e.textContent = '';
    for (const i of form.querySelectorAll('[aria-invalid]')) i.removeAttribute('aria-invalid');
    message.textContent = '';
    message.className = 'form-message';
  };
  const markField = (id, text) => {
    const input = form.querySelector(`#${id}`);
    if (input) { input.setAttribute('aria-invalid', 'true'); input.focus(); }
    const e = errorOf(id);
    if (e) e.textContent = text;
  };

  function check() {
    let ok = true;
    if (!/^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/.test(name.value)) { markField('nv-name', 'Give a name: letters, digits, ".", "-" and "_".'); ok = false; }
    if (!(Number(cpus.value) >= 1)) { markField('nv-cpus', 'At least 1.'); ok = false; }
    if (!(Number(mem.value) >= 1)) { markField('nv-memory', 'At least 1 MiB.'); ok = false; }
    if (diskSize.value && !disk.value) { markField('nv-disk', 'A disk size needs a disk image path.'); ok = false; }
    return ok;
  }

  function resourceSettings() {
    const out = [];
    indexField = [];
    out.push({ classname: 'VRM_ProcessorAllocationSettingData', props: { ResourceType: { type: 'uint16', value: 3 }, VirtualQuantity: { type: 'uint64', value: Number(cpus.value) } } });
    indexField.push('nv-cpus');
    out.push({ classname: 'VRM_MemoryAllocationSettingData', props: { ResourceType: { type: 'uint16', value: 4 }, VirtualQuantity: { type: 'uint64', value: Number(mem.value) }, AllocationUnits: 'byte*2^20' } });
    indexField.push('nv-memory');
    if (disk.value) {
      const props = { ResourceType: { type: 'uint16', value: 17 }, HostResource: { type: 'string', value: [disk.value] } };
      if (diskSize.value) props.Capacity = { type: 'uint64', value: Number(diskSize.value) * 1024 * 1024 * 1024 };
      out.push({ classname: 'VRM_StorageAllocationSettingData', props });
      indexField.push('nv-disk');
    }
    if (net.value) {
      out.push({ classname: 'VRM_EthernetPortAllocationSettingData', props: { ResourceType: { type: 'uint16', value: 10 }, Connection: { type: 'string', value: [net.value] } } });
      indexField.push('nv-net');
    }
    return out;
  }

  function explain(e) {
    // "ResourceSettings[1] (VRM_MemoryAllocationSettingData).VirtualQuantity: ..." -> that field
    const d = String(e.description || e.message || '');
    const m = /ResourceSettings\[(\d+)\]/.exec(d);
    if (m && indexField[Number(m[1])]) markField(indexField[Number(m[1])], d);
    else if (/SystemSettings|ElementName|name/i.test(d)) markField('nv-name', d);
    message.className = 'form-message error';
    const what = e.statusName ? `${e.statusName} (${e.status})` : 'Error';
    message.textContent = `The VM was not defined. ${what}: ${d}`;
  }

  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    clearErrors();
    if (!check()) return;
    const host = hosts.find((h) => h.path.toWbemUri() === hostSel.value);
    submit.disabled = true;
    message.className = 'form-message info';
    message.textContent = 'Defining…';
    try {
      const svcs = await cim.associators(host.path, { assocClass: 'VRM_HostedService', resultClass: 'VRM_VirtualSystemManagementService', propertyList: ['Name'] });
      if (!svcs.length) throw Object.assign(new Error(`${host.props.ElementName} has no virtual system management service`), { description: `${host.props.ElementName} has no virtual system management service` });
      const vssd = { classname: 'VRM_VirtualSystemSettingData', props: { ElementName: name.value } };
      const { returnValue, out, job } = await runMethod(ctx, svcs[0].path, 'DefineSystem', {
        SystemSettings: P.inst(vssd), ResourceSettings: P.inst(resourceSettings()),
      }, { label: 'Define progress', where: progressBox });
      if (returnValue !== 0) {
        message.className = 'form-message error';
        message.textContent = `The VM was not defined: ${rcText(returnValue)}.`;
        return;
      }
      let vmPath = out.ResultingSystem || null;
      if (!vmPath && job) {
        const [vm] = await cim.associators(job.path, { assocClass: 'VRM_AffectedJobElement', resultClass: 'VRM_ComputerSystem', propertyList: ['Name'] });
        vmPath = vm ? vm.path : null;
      }
      message.className = 'form-message ok';
      message.textContent = `VM ${name.value} defined.`;
      ui.toast(`VM ${name.value} defined`, { kind: 'ok' });
      if (vmPath) ctx.navigate(ctx.href('vm', vmPath));
    } catch (e) {
      explain(e);
    } finally {
      submit.disabled = !admin;
    }
  });

  root.append(el('h1', { id: 'nv-title' }, 'New VM'),
    admin ? '' : el('p', { class: 'muted', id: 'nv-role-note' }, 'Only admins may define VMs; the form is shown read-only.'),
    section(ui, 'Settings', { id: 'nv-settings' }, form));
  if (!admin) for (const i of form.querySelectorAll('input, select')) i.disabled = true;
  if (!hosts.length) { submit.disabled = true; message.textContent = 'No host is configured.'; }
  root.dataset.ready = 'true';
}
