// The emulator's inbox page: polls the JSON controls once a second and shows accepted
// messages and rejected sends, newest first, decoded by uprelay's wire format (data `i`
// instance, `m` message id, `b` standard padded base64 body, `s` "1"/"2" on the halves of a
// split body); adds and clears faults. Everything shown is set as text, never as markup:
// tokens and bodies come from whoever pushed.
'use strict';

const POLL_MS = 1000;
const SHOW = 200;
const last = {};

function $(id) { return document.getElementById(id); }

function el(tag, attrs, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v !== undefined && v !== null) e.setAttribute(k, v);
  }
  for (const c of children) {
    if (c === null || c === undefined) continue;
    e.append(c instanceof Node ? c : String(c));
  }
  return e;
}

async function getJson(path) {
  const r = await fetch(path, { cache: 'no-store' });
  if (!r.ok) throw new Error(`GET ${path}: ${r.status}`);
  return r.json();
}

// A write to the controls: always JSON (the emulator refuses other types).
async function control(method, path, body) {
  const r = await fetch(path, {
    method,
    headers: { 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await r.text();
  const json = text ? JSON.parse(text) : null;
  if (!r.ok) throw new Error((json && json.error) || `${method} ${path}: ${r.status}`);
  return json;
}

function shortToken(t) {
  if (typeof t !== 'string') return '';
  return t.length > 20 ? `${t.slice(0, 8)}…${t.slice(-6)}` : t;
}

const utf8 = new TextEncoder();
function byteLen(s) { return utf8.encode(String(s)).length; }

// Standard padded base64 → bytes; null when it is not valid base64.
function b64bytes(s) {
  if (typeof s !== 'string') return null;
  let bin;
  try { bin = atob(s); } catch (_) { return null; }
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out;
}

function concat(parts) {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) { out.set(p, at); at += p.length; }
  return out;
}

// Text when the bytes are UTF-8, else hex.
function showBytes(bytes) {
  try {
    return { kind: 'text', text: new TextDecoder('utf-8', { fatal: true }).decode(bytes) };
  } catch (_) {
    const hex = Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join(' ');
    return { kind: 'hex', text: hex };
  }
}

function dataOf(message) {
  const d = message && message.data;
  return d && typeof d === 'object' ? d : {};
}

function androidOf(message) {
  const a = message && message.android;
  return a && typeof a === 'object' ? a : {};
}

// Accepted messages (oldest first) → entries, newest first; the two halves of a split body
// become one entry, placed where its newest half arrived.
function group(messages) {
  const entries = [];
  const halves = new Map();
  messages.forEach((m, index) => {
    const d = dataOf(m.message);
    if ((d.s === '1' || d.s === '2') && typeof d.m === 'string') {
      const key = [m.project, m.message.token ?? m.message.fid, d.i, d.m].join('\u0000');
      let g = halves.get(key);
      if (!g) {
        g = { parts: {}, index, at: 0 };
        halves.set(key, g);
        entries.push(g);
      }
      g.parts[d.s] = m;
      g.index = index;
      g.at = Math.max(g.at, m.received_at_ms);
    } else {
      entries.push({ parts: { whole: m }, index, at: m.received_at_ms });
    }
  });
  return entries.sort((a, b) => b.at - a.at || b.index - a.index);
}

function meta(pairs) {
  const div = el('div', { class: 'meta' });
  for (const [name, value, title] of pairs) {
    if (value === undefined || value === null || value === '') continue;
    div.append(el('span', { title }, el('b', {}, `${name} `), value));
  }
  return div;
}

function dataTable(data) {
  const table = el('table', { class: 'data' });
  for (const [k, v] of Object.entries(data)) {
    let shown = String(v);
    if (k === 'b' && shown.length > 48) shown = `${shown.slice(0, 40)}… (${shown.length} chars of base64)`;
    table.append(el('tr', {}, el('td', {}, el('code', {}, k)), el('td', {}, el('code', {}, shown))));
  }
  return table;
}

// The body line and block of one push, from the `b` values of its message(s).
function bodyBlock(bs) {
  const decoded = bs.map(b64bytes);
  if (bs.length === 0 || decoded.some((b) => b === null)) return [];
  const bytes = concat(decoded);
  const shown = showBytes(bytes);
  const label = shown.kind === 'text' ? 'UTF-8 text' : 'binary, shown as hex';
  return [
    el('div', { class: 'body-size' }, `body: ${bytes.length} bytes (${label})`),
    el('pre', { class: `body ${shown.kind}` }, shown.text),
  ];
}

// A Web Push request to /fcm/send/<token>: what the phone gets is `raw_data`, ciphertext
// for its key, so only its size and first bytes are shown.
function webpushEntry(m) {
  const h = m.headers || {};
  const raw = b64bytes(m.raw_data || '');
  const size = raw === null ? '?' : `${raw.length} B`;
  const shown = (m.raw_data || '').length > 48 ? `${m.raw_data.slice(0, 40)}… (${m.raw_data.length} chars of base64)` : m.raw_data;
  return el('li', { class: 'entry accepted', 'data-road': 'webpush', 'data-kind': 'single' },
    meta([
      ['at', m.received_at],
      ['road', 'Web Push'],
      ['token', shortToken(m.token), m.token],
      ['TTL', h.ttl === undefined ? undefined : `${h.ttl}s`],
      ['urgency', h.urgency],
      ['topic', h.topic],
      ['encoding', h['content-encoding']],
      ['raw data', size],
    ]),
    el('pre', { class: 'body binary' }, shown || ''),
  );
}

function messageEntry(entry) {
  if (entry.parts.whole && entry.parts.whole.road === 'webpush') return webpushEntry(entry.parts.whole);
  const whole = entry.parts.whole;
  const halves = [entry.parts['1'], entry.parts['2']].filter(Boolean);
  const first = whole || halves[0];
  const msg = first.message;
  const d = dataOf(msg);
  const a = androidOf(msg);
  let split = null;
  let classes = 'entry accepted';
  if (!whole) {
    split = halves.length === 2 ? 'split body: halves 1 + 2 reassembled' : `split body: only half ${first.message.data.s} of 2 received`;
    if (halves.length < 2) classes += ' incomplete';
  }
  const parts = whole ? [whole] : halves;
  const dataBytes = parts.map((p) => Object.entries(dataOf(p.message)).reduce((n, [k, v]) => n + byteLen(k) + byteLen(v), 0));
  const li = el('li', { class: classes, 'data-m': d.m, 'data-road': 'fcm', 'data-kind': whole ? 'single' : 'split' },
    meta([
      ['at', first.received_at],
      ['road', 'FCM v1'],
      ['project', first.project],
      // Which of FCM's target fields the message was sent to, and its value.
      ['target', first.target],
      [targetField(msg), shortToken(targetOf(msg)), targetOf(msg)],
      ['priority', a.priority],
      ['TTL', a.ttl],
      ['collapse key', a.collapse_key || a.collapseKey],
      ['instance', d.i],
      ['message', d.m],
      ['data size', dataBytes.map((n) => `${n} B`).join(' + ')],
    ]),
    split && el('div', { class: 'split' }, split),
    ...bodyBlock(parts.map((p) => dataOf(p.message).b).filter((b) => b !== undefined)),
  );
  for (const p of parts) li.append(dataTable(dataOf(p.message)));
  return li;
}

function rejectedEntry(r) {
  const msg = r.request && typeof r.request === 'object' ? r.request : {};
  const d = dataOf(msg);
  const webpush = r.road === 'webpush';
  const token = webpush ? r.token : targetOf(msg);
  return el('li', { class: 'entry rejected', 'data-m': d.m, 'data-error': r.error, 'data-road': webpush ? 'webpush' : 'fcm' },
    meta([
      ['at', r.received_at],
      ['road', webpush ? 'Web Push' : 'FCM v1'],
      ['project', r.project],
      [webpush ? 'refusal' : 'FCM error', el('span', { class: 'error-code' }, r.error), undefined],
      ['HTTP', String(r.status)],
      [webpush ? 'token' : targetField(msg), shortToken(token), token],
      ['instance', d.i],
      ['message', d.m],
      ['half', d.s],
    ]),
    el('div', { class: 'error-message' }, r.message),
    ...bodyBlock(d.b === undefined ? [] : [d.b]),
  );
}

// The target field an FCM message names (`token`, `fid`, `topic`, `condition`) and its value.
function targetField(msg) {
  return ['token', 'fid', 'topic', 'condition'].find((k) => typeof msg[k] === 'string') || 'token';
}

function targetOf(msg) {
  return msg[targetField(msg)];
}

function faultItem(f) {
  const parts = [`#${f.id}`, f.error || 'latency only'];
  if (f.fid) parts.push(`fid ${shortToken(f.fid)}`);
  else parts.push(f.token ? `token ${shortToken(f.token)}` : 'every token');
  parts.push(f.times === undefined ? 'until cleared' : `${f.times} more send(s)`);
  if (f.retry_after !== undefined) parts.push(`Retry-After ${f.retry_after} s`);
  if (f.delay_ms !== undefined) parts.push(`+${f.delay_ms} ms`);
  return el('li', { class: 'fault', 'data-error': f.error || '' }, parts.join(' · '));
}

// Replace a list's items only when what it shows changed (keeps the page calm).
function renderList(id, items, make) {
  const key = JSON.stringify(items);
  if (last[id] === key) return;
  last[id] = key;
  $(id).replaceChildren(...items.map(make));
}

async function refresh() {
  try {
    const [messages, rejected, faults] = await Promise.all([
      getJson(`/emulator/messages?limit=${SHOW}`),
      getJson(`/emulator/rejected?limit=${SHOW}`),
      getJson('/emulator/faults'),
    ]);
    const entries = group(messages);
    renderList('messages', entries, messageEntry);
    renderList('rejected', rejected.slice().reverse(), rejectedEntry);
    const deadTokens = faults.dead_tokens.map((t) => ({ dead: t }));
    renderList('faults', faults.faults.concat(deadTokens), (f) => (f.dead
      ? el('li', { class: 'dead', title: f.dead }, `dead token ${shortToken(f.dead)} (answers UNREGISTERED until reset)`)
      : faultItem(f)));
    $('messages-count').textContent = `(${entries.length} shown)`;
    $('rejected-count').textContent = `(${rejected.length} shown)`;
    $('status').textContent = `updated ${new Date().toLocaleTimeString()} · polling every ${POLL_MS / 1000} s`;
  } catch (e) {
    $('status').textContent = `cannot reach the emulator: ${e.message}`;
  }
}

function numberField(id) {
  const v = $(id).value.trim();
  return v === '' ? undefined : Number(v);
}

async function addFault(ev) {
  ev.preventDefault();
  const spec = {
    error: $('fault-error').value || undefined,
    token: $('fault-token').value.trim() || undefined,
    fid: $('fault-fid').value.trim() || undefined,
    times: numberField('fault-times'),
    retry_after: numberField('fault-retry'),
    delay_ms: numberField('fault-delay'),
  };
  try {
    const f = await control('POST', '/emulator/faults', spec);
    $('fault-result').textContent = `added fault #${f.id} (${f.error || 'latency'})`;
  } catch (e) {
    $('fault-result').textContent = `not added: ${e.message}`;
  }
  refresh();
}

async function clearFaults() {
  try {
    await control('DELETE', '/emulator/faults');
    $('fault-result').textContent = 'faults cleared';
  } catch (e) {
    $('fault-result').textContent = `not cleared: ${e.message}`;
  }
  refresh();
}

$('fault-form').addEventListener('submit', addFault);
$('fault-clear').addEventListener('click', clearFaults);
refresh();
setInterval(refresh, POLL_MS);
