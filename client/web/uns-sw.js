// uns-sw.js — the service worker half of the browser SDK (an ES module;
// register the worker with { type: 'module' }):
//
//   import { installUnsWorker } from './uns-sw.js';
//   installUnsWorker(self, { appUrl: './' });
//
// On a push it shows the notification, tagged with the notification id so
// that a replace (same id) replaces the one shown: from the payload the
// gateway encrypted to this browser ({unsid, cursor, id, title, body}), or,
// when the payload has no title, fetched by id (push to pull). A payload
// saying the notification was read, dismissed or removed elsewhere closes
// it instead. On a click it marks the notification activated on the server
// and focuses the app's window (or opens appUrl). The page hands the token
// and the gateway's address over with UnsClient.shareWithWorker; they are
// kept in Cache Storage, since a worker may be stopped between pushes.

const CONFIG = new Request('/__uns_sw_config__');
const DONE = ['dismissed', 'activated'];

async function config() {
  const r = await (await caches.open('uns-sw')).match(CONFIG);
  return r ? r.json() : null;
}

async function api(method, path, body, headers = {}) {
  const c = await config();
  if (!c) throw new Error('uns-sw: no configuration from the page yet');
  const h = { ...headers, Authorization: 'Bearer ' + c.token };
  if (c.unsid) h['X-UNS-ID'] = c.unsid;
  if (body) h['Content-Type'] = 'application/json';
  const r = await fetch(`${c.baseUrl}/${c.apiVersion || 'v1.0'}${path}`,
    { method, headers: h, body: body ? JSON.stringify(body) : undefined });
  if (!r.ok) throw new Error(`uns-sw: ${method} ${path}: ${r.status}`);
  return r.status === 204 ? null : r.json();
}

async function close(self, id) {
  for (const n of await self.registration.getNotifications({ tag: id })) n.close();
}

function show(self, n) {
  const v = (n.payload && n.payload.visualContent) || n;
  return self.registration.showNotification(v.title || 'Notification', {
    body: v.body || '', tag: n.id, renotify: false, data: { id: n.id },
  });
}

export async function handlePush(self, msg) {
  if (msg.id && (msg['@removed'] || msg.readState === 'read' || DONE.includes(msg.userActionState)))
    return close(self, msg.id);
  if (msg.id && msg.title) return show(self, msg);
  if (msg.id) {
    const n = await api('GET', '/me/notifications/' + encodeURIComponent(msg.id));
    return n.readState === 'read' || DONE.includes(n.userActionState) ? close(self, n.id) : show(self, n);
  }
}

export async function handleClick(self, notification, appUrl) {
  notification.close();
  const id = notification.data && notification.data.id;
  const marked = id ? api('PATCH', '/me/notifications/' + encodeURIComponent(id),
    { userActionState: 'activated' }).catch(() => null) : null;
  const url = new URL(appUrl, self.registration.scope).href;
  const wins = await self.clients.matchAll({ type: 'window', includeUncontrolled: true });
  const win = wins.find((w) => w.url.startsWith(url));
  await marked;
  try {
    await (win ? win.focus() : self.clients.openWindow(url));
  } catch { /* allowed only while handling a user's click */ }
}

export function installUnsWorker(self, { appUrl = './' } = {}) {
  self.addEventListener('install', () => self.skipWaiting());
  self.addEventListener('activate', (e) => e.waitUntil(self.clients.claim()));
  self.addEventListener('push', (e) => {
    let msg = {};
    try { msg = e.data ? e.data.json() : {}; } catch { msg = { title: e.data.text() }; }
    e.waitUntil(handlePush(self, msg));
  });
  self.addEventListener('notificationclick', (e) => e.waitUntil(handleClick(self, e.notification, appUrl)));
  self.addEventListener('message', (e) => {
    const m = e.data || {};
    if (m.uns === 'config') {
      e.waitUntil(caches.open('uns-sw').then((c) => c.put(CONFIG, new Response(JSON.stringify(m)))));
    } else if (m.uns === 'close') {
      e.waitUntil(Promise.all((m.ids || []).map((id) => close(self, id))));
    }
  });
}
