// The fabric picture: spines on the left, leaves in the middle, each leaf's
// nodes as a row of tiles (or, in an aggregated overview, a summary bar) on
// the right. Drawn as SVG from the overview alone, so a redraw is a pure
// function of the data and the UI choices.

const NS = 'http://www.w3.org/2000/svg';
const PAD = 12, BOX_W = 96, BOX_H = 24, SPINE_X = PAD, LEAF_X = 180, NODES_X = 300;
const BAR_W = 320, BAR_H = 16, ROW_GAP = 8;
// Past this many spine-leaf cables the healthy links are left out: they are
// implied by the fat tree and would only hide the highlighted ones.
const MAX_PLAIN_LINKS = 1500;

// STATES is the order of states in legends and summary bars: busy first.
export const STATES = ['allocated', 'cleaning', 'draining', 'ready', 'drained', 'quarantined', 'down'];

function el(name, attrs, parent) {
  const e = document.createElementNS(NS, name);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
  if (parent) parent.appendChild(e);
  return e;
}

function title(parent, text) { el('title', {}, parent).textContent = text; }

// tenantColor gives each tenant a stable hue from its name; "other" (someone
// else's, for a tenant viewer) and free nodes get neutral greys.
export function tenantColor(name) {
  if (!name) return '#e3e6ea';
  if (name === 'other') return '#9aa3ad';
  let h = 0;
  for (const c of name) h = (h * 31 + c.codePointAt(0)) >>> 0;
  return `hsl(${h % 360} 62% 46%)`;
}

function box(parent, x, y, label, cls) {
  const g = el('g', { class: 'box ' + cls, transform: `translate(${x} ${y})` }, parent);
  el('rect', { width: BOX_W, height: BOX_H, rx: 4 }, g);
  el('text', { x: 8, y: BOX_H / 2 }, g).textContent = label;
  return g;
}

function tileLabel(n) {
  let s = `${n.name} · ${n.state}`;
  if (n.tenant) s += ` · ${n.tenant}`;
  if (n.job) s += ` · job ${n.job}`;
  return s;
}

// summary draws one leaf's aggregated bar: segments by state, or by tenant
// with the free nodes last.
function summary(parent, leaf, x, cy, colorBy) {
  const g = el('g', { class: 'summary', 'data-leaf': leaf.name, transform: `translate(${x} ${cy - BAR_H / 2})` }, parent);
  const parts = [];
  if (colorBy === 'tenant') {
    let busy = 0;
    for (const [t, n] of Object.entries(leaf.tenants).sort((a, b) => b[1] - a[1])) { parts.push({ n, fill: tenantColor(t), label: t }); busy += n; }
    parts.push({ n: leaf.nodes - busy, fill: tenantColor(''), label: 'free' });
  } else {
    for (const s of STATES) if (leaf.states[s]) parts.push({ n: leaf.states[s], cls: 's-' + s, label: s });
  }
  let at = 0;
  for (const p of parts) {
    if (p.n <= 0) continue;
    const w = BAR_W * p.n / leaf.nodes;
    const r = el('rect', { x: at, width: Math.max(w, 0.5), height: BAR_H }, g);
    if (p.cls) r.setAttribute('class', p.cls); else r.setAttribute('fill', p.fill);
    at += w;
  }
  el('rect', { class: 'frame', width: BAR_W, height: BAR_H }, g);
  const n = s => leaf.states[s] || 0;
  const busy = n('allocated') + n('draining') + n('cleaning'), out = n('down') + n('quarantined');
  el('text', { x: BAR_W + 8, y: BAR_H / 2 }, g).textContent = `${leaf.nodes} nodes · ${busy} busy` + (out ? ` · ${out} out of service` : '');
  title(g, `${leaf.name}: ` + parts.filter(p => p.n > 0).map(p => `${p.n} ${p.label}`).join(', ') + ' — click to expand');
}

// drawFabric renders ov into svg. ui: {colorBy, selected, width}. It returns
// the names of highlighted links whose ends are not drawn (a node inside a
// collapsed leaf), so the caller can list them in words.
export function drawFabric(svg, ov, ui) {
  // Big tiles while there are few enough to read one by one (a laptop's
  // dev cluster), small ones up to the aggregation threshold.
  const TILE = ov.nodes.length <= 128 ? 22 : 14, STEP = TILE + (TILE > 14 ? 4 : 3);
  const width = Math.max(ui.width, 640);
  const perRow = Math.max(4, Math.floor((width - NODES_X - PAD) / STEP));
  const byLeaf = new Map();
  for (const n of ov.nodes) {
    if (!byLeaf.has(n.leaf)) byLeaf.set(n.leaf, []);
    byLeaf.get(n.leaf).push(n);
  }
  const rows = [];
  let y = PAD;
  for (const leaf of ov.fabric.leaves) {
    const tiles = leaf.expanded ? (byLeaf.get(leaf.name) || []) : null;
    // th: the tiles' block height; ch: the row's content height, in which
    // the leaf box and the tile block are both centred.
    const th = tiles && tiles.length ? Math.ceil(tiles.length / perRow) * STEP - (STEP - TILE) : 0;
    const ch = Math.max(BOX_H, th);
    rows.push({ leaf, tiles, y, ch, ty: y + (ch - th) / 2 });
    y += ch + ROW_GAP;
  }
  const spines = ov.fabric.spines;
  const height = Math.max(y + PAD, spines.length * (BOX_H + ROW_GAP) + 2 * PAD);

  svg.replaceChildren();
  svg.setAttribute('width', width);
  svg.setAttribute('height', height);
  svg.setAttribute('viewBox', `0 0 ${width} ${height}`);
  svg.classList.toggle('by-state', ui.colorBy !== 'tenant');
  const linkLayer = el('g', { class: 'links' }, svg);
  const boxLayer = el('g', {}, svg);
  const hot = el('g', { class: 'hot-links' }, svg);

  // Anchor points for links: the right edge of a spine, either edge of a
  // leaf (left towards spines, right towards nodes), a node tile's centre.
  const spineAt = new Map(), leafAt = new Map(), nodeAt = new Map(), leafBox = new Map();
  // Spines share the height of the picture while it is short; in a tall
  // one they stay near the top, where the operator starts reading.
  const span = Math.min(height - 2 * PAD, Math.max(spines.length * 2 * (BOX_H + ROW_GAP), 400));
  spines.forEach((s, i) => {
    const cy = PAD + (i + 0.5) * span / spines.length;
    spineAt.set(s, { x: SPINE_X + BOX_W, y: cy });
    title(box(boxLayer, SPINE_X, cy - BOX_H / 2, s, 'spine'), `spine switch ${s}`);
  });
  for (const { leaf, tiles, y, ch, ty: top } of rows) {
    const cy = y + ch / 2;
    leafAt.set(leaf.name, { l: { x: LEAF_X, y: cy }, r: { x: LEAF_X + BOX_W, y: cy } });
    const label = ov.aggregated ? (leaf.expanded ? '▾ ' : '▸ ') + leaf.name : leaf.name;
    const g = box(boxLayer, LEAF_X, cy - BOX_H / 2, label, 'leaf' + (ov.aggregated ? ' expandable' : ''));
    g.setAttribute('data-leaf', leaf.name);
    title(g, `leaf switch ${leaf.name}: ${leaf.nodes} nodes` + (ov.aggregated ? (leaf.expanded ? ' — click to collapse' : ' — click to expand') : ''));
    leafBox.set(leaf.name, g);
    el('line', { class: 'bus', x1: LEAF_X + BOX_W, y1: cy, x2: NODES_X - 4, y2: cy }, linkLayer);
    if (!tiles) {
      summary(boxLayer, leaf, NODES_X, cy, ui.colorBy);
      continue;
    }
    tiles.forEach((n, i) => {
      const x = NODES_X + (i % perRow) * STEP, ty = top + Math.floor(i / perRow) * STEP;
      let cls = 'node s-' + n.state;
      if (n.tenant === 'other') cls += ' other';
      if (n.name === ui.selected) cls += ' selected';
      const r = el('rect', { class: cls, x, y: ty, width: TILE, height: TILE, rx: 2,
        'data-node': n.name, 'data-state': n.state, 'data-tenant': n.tenant || '' }, boxLayer);
      if (ui.colorBy === 'tenant') r.setAttribute('fill', tenantColor(n.tenant));
      title(r, tileLabel(n));
      nodeAt.set(n.name, r);
    });
  }
  // A leaf without an uplinks list is cabled to every spine (a fat tree).
  const uplinks = leaf => leaf.uplinks || spines;
  if (rows.reduce((n, r) => n + uplinks(r.leaf).length, 0) <= MAX_PLAIN_LINKS) {
    for (const { leaf } of rows) {
      const l = leafAt.get(leaf.name);
      for (const name of uplinks(leaf)) {
        const s = spineAt.get(name);
        if (s) el('line', { class: 'link', x1: s.x, y1: s.y, x2: l.l.x, y2: l.l.y }, linkLayer);
      }
    }
  }

  // A spine-leaf link is a line. A leaf-node link is the node's tile
  // outlined (a line would cross the tiles beside it), or, when the node is
  // inside a collapsed leaf, the leaf's box.
  const mark = (elem, link) => {
    elem.classList.add('bad-link', link.health);
    title(elem, `${link.from} ↔ ${link.to}: ${link.health}` + (link.detail ? ` (${link.detail})` : ''));
  };
  const undrawn = [];
  for (const link of ov.fabric.links) {
    const [a, b] = [link.from, link.to];
    if (spineAt.has(a) || spineAt.has(b)) {
      const s = spineAt.get(spineAt.has(a) ? a : b), l = leafAt.get(spineAt.has(a) ? b : a);
      if (!s || !l) { undrawn.push(link); continue; }
      const line = el('line', { class: 'link ' + link.health, x1: s.x, y1: s.y, x2: l.l.x, y2: l.l.y,
        'data-link': `${a}-${b}`, 'data-health': link.health }, hot);
      title(line, `${a} ↔ ${b}: ${link.health}` + (link.detail ? ` (${link.detail})` : ''));
      continue;
    }
    const tile = nodeAt.get(a) || nodeAt.get(b);
    if (tile) { mark(tile, link); continue; }
    undrawn.push(link);
    const box = leafBox.get(a) || leafBox.get(b);
    if (box) mark(box, link);
  }
  return undrawn;
}
