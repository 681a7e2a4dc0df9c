// The dashboard's client: sign-in, reading the API, live updates, redraws.
//
// The token is kept in sessionStorage: it survives a reload but not closing
// the tab, and is not shared with other tabs or sent anywhere but to this
// page's own origin in an Authorization header. Live updates are read with
// fetch() as a stream rather than EventSource because EventSource cannot
// send headers, and the alternative, a token in the URL, leaks it into
// access logs, history and proxies (see API.md).

import { drawFabric } from './fabric.js';
import { renderCounts, renderDetail, renderJobs, renderLegend } from './panels.js';

const TOKEN_KEY = 'ibex.token';
const $ = id => document.getElementById(id);

const ui = {
  token: sessionStorage.getItem(TOKEN_KEY),
  overview: null,
  detail: null,
  selected: null,
  expanded: new Set(),
  colorBy: 'state',
  stream: null, // AbortController of the event stream
};

class AuthError extends Error {}

async function api(path) {
  const r = await fetch(path, { headers: { Authorization: 'Bearer ' + ui.token }, cache: 'no-store' });
  if (r.status === 401) throw new AuthError((await r.json().catch(() => ({}))).error || 'not signed in');
  if (!r.ok) throw new Error(`${path}: HTTP ${r.status}`);
  return r.json();
}

// ---- sign-in ----------------------------------------------------------

function showLogin(message) {
  $('app').hidden = true;
  $('login').hidden = false;
  $('login-error').textContent = message || '';
  $('token').focus();
}

function signOut(message) {
  ui.token = null;
  sessionStorage.removeItem(TOKEN_KEY);
  if (ui.stream) ui.stream.abort();
  ui.stream = null;
  ui.overview = ui.detail = ui.selected = null;
  showLogin(message);
}

async function signIn(event) {
  event.preventDefault();
  ui.token = $('token').value.trim();
  try {
    ui.overview = await api(overviewPath());
  } catch (e) {
    ui.token = null;
    $('login-error').textContent = e instanceof AuthError ? 'That token was not accepted.' : String(e.message || e);
    $('token').value = ''; // as password forms do: retype, do not edit
    $('token').focus();
    return;
  }
  sessionStorage.setItem(TOKEN_KEY, ui.token);
  $('token').value = '';
  start();
}

// ---- reading the API --------------------------------------------------

function overviewPath() {
  return 'api/v1/overview' + (ui.expanded.size ? '?expand=' + encodeURIComponent([...ui.expanded].join(',')) : '');
}

// refresh re-reads the overview (and the selected node). Calls while a read
// is in flight are folded into one more read after it, so a burst of events
// costs at most two requests.
let inflight = null, again = false;
function refresh() {
  if (inflight) { again = true; return inflight; }
  inflight = (async () => {
    try {
      do {
        again = false;
        await load();
      } while (again && ui.token);
    } catch (e) {
      if (e instanceof AuthError) signOut('Signed out: ' + e.message);
      else setLive('offline', String(e.message || e));
    } finally {
      inflight = null;
    }
  })();
  return inflight;
}

async function load() {
  const ov = await api(overviewPath());
  let detail = null;
  if (ui.selected) {
    try {
      detail = await api('api/v1/nodes/' + encodeURIComponent(ui.selected));
    } catch (e) {
      if (e instanceof AuthError) throw e;
      ui.selected = null; // the node is gone
    }
  }
  ui.overview = ov;
  ui.detail = detail;
  render();
}

// ---- live updates -----------------------------------------------------

function setLive(state, why) {
  const el = $('live');
  el.dataset.state = state;
  el.textContent = state;
  el.title = why || 'live updates';
}

// follow reads the server-sent event stream with fetch and refreshes on each
// "changed" event; it reconnects with backoff until signed out.
async function follow() {
  let backoff = 1000;
  while (ui.token) {
    const ctrl = new AbortController();
    ui.stream = ctrl;
    try {
      const r = await fetch('api/v1/events', { headers: { Authorization: 'Bearer ' + ui.token, Accept: 'text/event-stream' }, cache: 'no-store', signal: ctrl.signal });
      if (r.status === 401) { signOut('Signed out: token no longer accepted.'); return; }
      if (!r.ok || !r.body) throw new Error('events: HTTP ' + r.status);
      setLive('live');
      backoff = 1000;
      const reader = r.body.pipeThrough(new TextDecoderStream()).getReader();
      let buf = '';
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buf += value;
        let i;
        while ((i = buf.indexOf('\n\n')) >= 0) {
          const block = buf.slice(0, i);
          buf = buf.slice(i + 2);
          if (block.split('\n').includes('event: changed')) refresh();
        }
      }
    } catch (e) {
      if (ctrl.signal.aborted) return; // signed out
    }
    if (!ui.token || ctrl.signal.aborted) return;
    setLive('offline', 'reconnecting');
    await new Promise(res => setTimeout(res, backoff));
    backoff = Math.min(backoff * 2, 10000);
  }
}

// ---- drawing ----------------------------------------------------------

function render() {
  const ov = ui.overview;
  if (!ov) return;
  const total = ov.fabric.leaves.reduce((n, l) => n + l.nodes, 0);
  $('node-total').textContent = String(total);
  $('who').textContent = ov.viewer.tenant + (ov.viewer.admin ? ' (admin)' : '');
  renderCounts($('counts'), ov);
  renderLegend($('legend'), ov, ui.colorBy);
  $('fabric-note').textContent = ov.aggregated
    ? `${total} nodes are summarised per leaf switch; click a leaf to see its nodes.`
    : '';
  const scroll = $('fabric-scroll');
  const undrawn = drawFabric($('fabric'), ov, { colorBy: ui.colorBy, selected: ui.selected, width: scroll.clientWidth - 4 });
  renderLinks(ov.fabric.links, undrawn);
  const now = ov.generated;
  renderJobs($('running').tBodies[0], $('running-more'), ov.running, 'running', now);
  renderJobs($('queue').tBodies[0], $('queue-more'), ov.queue, 'queue', now);
  $('running-total').textContent = String(ov.running.total);
  $('queue-total').textContent = String(ov.queue.total);
  renderDetail($('detail'), ui.detail, now);
  document.body.dataset.index = String(ov.index);
}

// renderLinks lists unhealthy links in words above the picture: the lines
// are easy to miss at thousands of nodes, and some ends are not drawn.
function renderLinks(links, undrawn) {
  const el = $('links');
  el.hidden = links.length === 0;
  if (!links.length) return;
  const text = `${links.length} link${links.length === 1 ? '' : 's'} not healthy: ` +
    links.slice(0, 10).map(l => `${l.from}↔${l.to} ${l.health}`).join(', ') + (links.length > 10 ? ', …' : '') +
    (undrawn.length ? ` (${undrawn.length} not in the picture: open their leaf to see them)` : '');
  el.textContent = text;
}

// ---- wiring -----------------------------------------------------------

function onFabricClick(e) {
  const node = e.target.closest('[data-node]');
  if (node) {
    ui.selected = node.dataset.node;
    refresh();
    return;
  }
  const leaf = e.target.closest('[data-leaf]');
  if (leaf && ui.overview && ui.overview.aggregated) {
    const name = leaf.dataset.leaf;
    if (ui.expanded.has(name)) ui.expanded.delete(name); else ui.expanded.add(name);
    refresh();
  }
}

function start() {
  $('login').hidden = true;
  $('app').hidden = false;
  setLive('connecting');
  render();
  refresh();
  follow();
}

let resizeTimer = 0;
function boot() {
  $('login-form').addEventListener('submit', signIn);
  $('sign-out').addEventListener('click', () => signOut());
  $('fabric').addEventListener('click', onFabricClick);
  $('color-by').addEventListener('change', e => { ui.colorBy = e.target.value; render(); });
  window.addEventListener('resize', () => { clearTimeout(resizeTimer); resizeTimer = setTimeout(render, 150); });
  if (ui.token) start(); else showLogin();
}

boot();
