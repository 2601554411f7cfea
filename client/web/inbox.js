// inbox.js — the reference inbox: the list with an unread count, read and
// dismiss, live updates from the feed, older pages of the history. A
// user token comes in the URL fragment (#token=…, kept for the tab in
// sessionStorage and taken out of the address bar) or from the form; the
// gateway is this page's origin unless ?gateway=URL names another (CORS).
import { UnsClient } from './uns.js';

const $ = (s) => document.querySelector(s);
const params = new URLSearchParams(location.search);
const items = new Map(); // id -> notification
const log = [];          // every change the feed gave, for tests
let client, next = null, registration = null;

function token() {
  const m = /[#&]token=([^&]+)/.exec(location.hash);
  if (m) {
    sessionStorage.setItem('uns-token', decodeURIComponent(m[1]));
    history.replaceState(null, '', location.pathname + location.search);
  }
  return sessionStorage.getItem('uns-token');
}

function render() {
  const list = [...items.values()].sort((a, b) => (b.createdDateTime || '').localeCompare(a.createdDateTime || ''));
  const ul = $('#list');
  ul.replaceChildren(...list.map(li));
  $('#unread').textContent = list.filter((n) => n.readState !== 'read' && n.userActionState !== 'dismissed').length;
}

function li(n) {
  const v = (n.payload && n.payload.visualContent) || {};
  const e = document.createElement('li');
  e.dataset.id = n.id;
  e.dataset.read = n.readState || 'unread';
  e.dataset.action = n.userActionState || 'noInteraction';
  e.dataset.version = n.version;
  e.className = (n.readState === 'read' ? 'read' : 'unread') + (n.userActionState === 'dismissed' ? ' dismissed' : '');
  const t = document.createElement('span');
  t.className = 'title';
  t.textContent = v.title || (n.payload && n.payload.rawContent) || n.appNotificationId || n.id;
  const b = document.createElement('span');
  b.className = 'body';
  b.textContent = v.body || '';
  const w = document.createElement('span');
  w.className = 'when';
  w.textContent = n.createdDateTime ? new Date(n.createdDateTime).toLocaleString() : '';
  const acts = document.createElement('span');
  acts.className = 'actions';
  if (n.readState !== 'read') acts.append(button('Read', 'read', () => client.markRead(n.id)));
  if (n.userActionState !== 'dismissed') acts.append(button('Dismiss', 'dismiss', () => client.dismiss(n.id)));
  e.append(t, acts, b, w);
  return e;
}

function button(text, name, act) {
  const b = document.createElement('button');
  b.textContent = text;
  b.name = name;
  b.onclick = async () => {
    b.disabled = true;
    try { merge(await act()); } catch (e) { fail(e); }
  };
  return b;
}

function merge(n) {
  if (!n) return;
  if (n['@removed']) items.delete(n.id);
  else {
    const had = items.get(n.id);
    if (!had || !(had.version > n.version)) items.set(n.id, n);
  }
  render();
}

function fail(e) {
  $('#error').hidden = false;
  $('#error').textContent = `${e.code || e.name}: ${e.message}`;
}

async function more() {
  if (!next) return;
  const page = await next();
  page.items.forEach((n) => { if (!items.has(n.id)) items.set(n.id, n); });
  next = page.next;
  $('#more').hidden = !next;
  render();
}

async function start() {
  const gateway = params.get('gateway') || location.origin;
  client = new UnsClient({ baseUrl: gateway, token, storageKey: 'uns-inbox:' + gateway });
  if ('serviceWorker' in navigator && !params.has('nosw')) {
    try {
      registration = await navigator.serviceWorker.register('./sw.js', { type: 'module', scope: './' });
      await navigator.serviceWorker.ready;
    } catch (e) { registration = null; }
  }
  if (!client.unsid) await client.subscribe({ platform: 'polling', appDisplayName: 'UNS inbox' });
  if (registration) await client.shareWithWorker(registration);
  if (client.cursor) { next = () => client.history({ top: 20 }); await more(); }
  client.listen({
    registration,
    stream: params.get('stream') === 'off' ? 'off' : 'auto', // ?stream=off: the long poll only
    onChange: (n) => {
      merge(n);
      log.push({ id: n.id, version: n.version, removed: !!n['@removed'], shown: performance.timeOrigin + performance.now() });
    },
    onError: fail,
    onState: (s) => { $('#state').textContent = s; $('#state').className = 'state ' + s; if (s === 'live') $('#error').hidden = true; },
  });
  window.unsInbox = { client, items, log, registration };
}

$('#more').onclick = () => more().catch(fail);
$('#login').onsubmit = (e) => {
  e.preventDefault();
  sessionStorage.setItem('uns-token', new FormData(e.target).get('token'));
  $('#login').hidden = true;
  start().catch(fail);
};
if (token()) start().catch(fail);
else $('#login').hidden = false;
