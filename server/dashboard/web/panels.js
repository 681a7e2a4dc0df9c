// The panels beside the picture: totals, legend, job tables and the node
// detail. Everything is written with textContent: job and tenant names come
// from users and must never be parsed as HTML.

import { STATES, tenantColor } from './fabric.js';

function h(tag, text, cls) {
  const e = document.createElement(tag);
  if (text !== undefined) e.textContent = text;
  if (cls) e.className = cls;
  return e;
}

function swatch(state, color) {
  const s = h('span', undefined, 'swatch' + (state ? ' s-' + state : ''));
  if (color) s.style.background = color; // CSSOM, which the CSP allows
  return s;
}

// dur formats seconds the way an operator reads a queue: "45s", "12m",
// "3h 05m", "2d 4h".
export function dur(sec) {
  sec = Math.max(0, Math.round(sec));
  if (sec < 60) return `${sec}s`;
  const m = Math.floor(sec / 60);
  if (m < 60) return `${m}m`;
  const hr = Math.floor(m / 60);
  if (hr < 48) return `${hr}h ${String(m % 60).padStart(2, '0')}m`;
  return `${Math.floor(hr / 24)}d ${hr % 24}h`;
}

const secondsBetween = (from, to) => (Date.parse(to) - Date.parse(from)) / 1000;

export function renderCounts(el, ov) {
  const chips = [];
  for (const s of STATES) {
    const n = ov.counts.nodes[s] || 0;
    if (!n && (s === 'draining' || s === 'drained' || s === 'quarantined')) continue;
    const c = h('span', undefined, 'chip');
    c.dataset.state = s;
    c.append(swatch(s), ` ${n} ${s}`);
    chips.push(c);
  }
  chips.push(h('span', `${ov.running.total} running · ${ov.queue.total} queued`, 'chip'));
  el.replaceChildren(...chips);
}

export function renderLegend(el, ov, colorBy) {
  const items = [];
  if (colorBy === 'tenant') {
    const tenants = new Set();
    for (const l of ov.fabric.leaves) for (const t of Object.keys(l.tenants)) tenants.add(t);
    for (const t of [...tenants].sort()) items.push([swatch('', tenantColor(t)), t]);
    items.push([swatch('', tenantColor('')), 'free']);
  } else {
    for (const s of STATES) items.push([swatch(s), s]);
  }
  el.replaceChildren(...items.map(([sw, label]) => { const c = h('span', undefined, 'chip'); c.append(sw, ' ' + label); return c; }));
}

// renderJobs fills a table body from a JobList. kind is "running" or
// "queue": the time column is time running or time waiting.
export function renderJobs(tbody, more, list, kind, now) {
  const rows = list.jobs.map(j => {
    const tr = h('tr');
    tr.dataset.job = j.id || '';
    tr.dataset.state = j.state;
    const since = kind === 'running' ? (j.start_time || j.submit_time) : j.submit_time;
    const nodes = j.nodelist ? `${j.num_nodes} ${j.nodelist}` : String(j.num_nodes);
    const cells = [j.id ? String(j.id) : '—', j.name || (j.id ? '' : '—'), j.tenant, nodes,
      kind === 'running' && j.state === 'scheduled' ? 'starting' : dur(secondsBetween(since, now)), dur(j.time_limit_s)];
    cells.forEach((t, i) => {
      const td = h('td', t, i === 1 ? 'name' : i === 3 ? 'nodes' : undefined);
      if (i === 1 || i === 3) td.title = t; // the cell may be cut short
      tr.append(td);
    });
    if (j.interactive) tr.cells[1].textContent ||= '(allocation)';
    tr.title = j.id ? `job ${j.id} ${j.state}` : `another tenant's job, ${j.state}`;
    return tr;
  });
  if (!rows.length) {
    const tr = h('tr', undefined, 'empty');
    const td = h('td', kind === 'running' ? 'nothing running' : 'queue empty');
    td.colSpan = 6;
    tr.append(td);
    rows.push(tr);
  }
  tbody.replaceChildren(...rows);
  more.textContent = list.total > list.jobs.length ? `and ${list.total - list.jobs.length} more` : '';
}

// The fleet slots. Each is null until something was reported, and null
// with d.restricted for a non-admin (see API.md).
const ago = (t, now) => `${dur(secondsBetween(t, now))} ago`;

const SLOTS = [
  ['hardware', 'Hardware', v => [
    v.power_state && `power ${v.power_state}`,
    ...(v.hcas || []).map(h => `${h.name}: ` + ((h.ports || []).map(p => [p.state, p.rate].filter(Boolean).join(' ')).join(', ') || 'no ports')),
  ]],
  ['firmware', 'Firmware', (v, now) => [
    ...Object.entries(v.hcas || {}).map(([k, x]) => `${k} ${x}`),
    ...Object.entries(v.bmc || {}).sort(([a], [b]) => a.localeCompare(b, undefined, {numeric: true})).map(([id, x]) =>
      `BMC ${id}` + (x.name && x.name !== id ? ` (${x.name})` : '') + ` ${x.version}` + (x.known ? '' : ' (not reported by the BMC)')),
    v.last_check && `last check ${v.last_check.ok ? 'ok' : 'FAILED'} ${ago(v.last_check.time, now)}` + (v.last_check.evidence ? `: ${v.last_check.evidence}` : ''),
  ]],
  ['image', 'Image', (v, now) => [
    v.verified && `${v.verified}` + (v.sha256 ? ` (sha256 ${v.sha256.slice(0, 12)}…)` : ' (verified)'),
    v.writing && `writing ${v.writing} since ${ago(v.since, now)}`,
  ]],
  ['hygiene', 'Hygiene ledger', (v, now) => [
    v.cleaning_done && v.cleaning_done.length && `cleaning done: ${v.cleaning_done.join(', ')}`,
    ...v.ledger.slice(-6).reverse().map(e => `${ago(e.time, now)} ${e.step} ${e.ok ? 'ok' : 'FAILED'}` +
      (e.start && e.end ? ` in ${dur(secondsBetween(e.start, e.end))}` : '') + ` (${e.actor})` + (e.evidence ? `: ${e.evidence}` : '')),
    v.entries > 6 && `… ${v.entries} entries in all (ibex nodes history)`,
  ]],
];

export function renderDetail(el, d, now) {
  if (!d) {
    el.replaceChildren(h('p', 'Click a node for its detail.', 'muted'));
    return;
  }
  const dl = h('dl');
  const row = (k, v, cls) => { dl.append(h('dt', k), h('dd', v, cls)); };
  row('Name', d.name);
  row('Leaf', d.leaf);
  row('State', d.state + (d.state !== d.lifecycle ? ` (${d.lifecycle})` : ''));
  if (d.state_since) row('Since', `${dur(secondsBetween(d.state_since, now))} ago`);
  row('Tenant', d.tenant || '—');
  if (d.job) row('Job', d.job.id ? `${d.job.id} ${d.job.name || ''} (${d.job.state})` : `another tenant's (${d.job.state})`);
  else row('Job', '—');
  if (d.drained || d.drain_reason) row('Drain reason', (d.drain_reason || '—') + (d.drain_by ? ` — by ${d.drain_by}` : ''));
  if (d.reason) row('Reason', d.reason);
  if (d.task) row('Agent task', `${d.task.kind}, started ${ago(d.task.started, now)}`);
  for (const [key, label, lines] of SLOTS) {
    const v = d[key];
    const text = v === null || v === undefined ? null : lines(v, now).filter(Boolean).join('\n');
    dl.append(h('dt', label));
    const dd = text === null || text === ''
      ? h('dd', d.restricted ? 'admins only' : 'not reported', 'slot')
      : h('dd', text, 'slot-value');
    dd.dataset.slot = key;
    dl.append(dd);
  }
  dl.dataset.node = d.name;
  el.replaceChildren(dl);
}
