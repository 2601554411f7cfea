// uns.js — the browser SDK of UNS: one ES module, no dependencies.
//
// A UnsClient talks to the REST gateway (Graph's notifications API) with a
// token supplier: subscribe the device (Web Push or polling), follow the
// feed (Server-Sent Events where the gateway streams them, else the delta
// long poll) resuming from a stored cursor, change state with If-Match and
// a retry on conflict, page the history, unsubscribe. Errors are UnsError,
// typed from Graph's error envelope; 429 and 503 are retried after the
// server's Retry-After, network failures after an exponential backoff.
//
// Chosen: fetch() for the event stream too (EventSource cannot send an
// Authorization header, and tokens never go in URLs or cookies); the
// stream is asked for with Accept: text/event-stream and used only if the
// answer is one, so the same call falls back to the long poll on a gateway
// without streams. Types: uns.d.ts.

export const VERSION = '0.1.0';

const DONE = ['dismissed', 'activated'];
const STATES = { read: { readState: 'read' }, dismissed: { userActionState: 'dismissed' },
  activated: { userActionState: 'activated' } };

/** An answer that is not 2xx, from Graph's {"error":{code,message,innerError}}. */
export class UnsError extends Error {
  constructor(status, code, message, requestId, retryAfter) {
    super(message || code);
    this.name = 'UnsError';
    this.status = status;
    this.code = code;
    this.requestId = requestId || null;
    this.retryAfter = retryAfter; // seconds, or null
  }
}

const sleep = (ms, signal) => new Promise((resolve, reject) => {
  if (signal && signal.aborted) return reject(signal.reason);
  const t = setTimeout(resolve, ms);
  if (signal) signal.addEventListener('abort', () => { clearTimeout(t); reject(signal.reason); }, { once: true });
});

const retryAfterOf = (h) => {
  const v = h && h.get('Retry-After');
  if (v == null) return null;
  const s = /^\d+$/.test(v) ? +v : (Date.parse(v) - Date.now()) / 1000;
  return Number.isFinite(s) ? Math.max(0, s) : null;
};

// The cursor a delta link carries ($deltatoken, or $skiptoken mid-way).
const cursorOf = (link) => {
  if (!link) return null;
  const q = new URL(link, 'http://x').searchParams;
  return q.get('$deltatoken') || q.get('$skiptoken');
};

const memoryStore = () => { const m = new Map(); return { get: (k) => m.get(k) ?? null, set: (k, v) => m.set(k, v), remove: (k) => m.delete(k) }; };
const localStore = () => {
  try {
    const s = globalThis.localStorage;
    s.length; // throws where storage is denied
    return { get: (k) => s.getItem(k), set: (k, v) => s.setItem(k, v), remove: (k) => s.removeItem(k) };
  } catch { return memoryStore(); }
};

/** Backoff with jitter: 0.5 s doubling to max, a random part of each delay's second half. */
export function backoffMs(attempt, maxMs = 30000) {
  const d = Math.min(maxMs, 500 * 2 ** Math.min(attempt, 16));
  return d / 2 + Math.random() * d / 2;
}

export class UnsClient {
  constructor(opts) {
    if (!opts || !opts.baseUrl || !opts.token) throw new TypeError('UnsClient: baseUrl and token are required');
    this.baseUrl = opts.baseUrl.replace(/\/+$/, '');
    this.token = typeof opts.token === 'function' ? opts.token : () => opts.token;
    this.apiVersion = opts.apiVersion || 'v1.0';
    this.store = opts.storage || localStore();
    this.key = opts.storageKey || 'uns';
    this.fetch = opts.fetch || globalThis.fetch.bind(globalThis);
    this.retries = opts.retries ?? 4;
    this.maxBackoffMs = opts.maxBackoffMs ?? 30000;
    this.versions = new Map(); // id -> version seen last (for If-Match)
  }

  get unsid() { return this.store.get(this.key + ':unsid'); }
  get cursor() { return this.store.get(this.key + ':cursor'); }
  set cursor(c) { if (c) this.store.set(this.key + ':cursor', c); }

  /** One request: JSON in and out, token from the supplier, 429/503 retried after Retry-After. */
  async request(method, path, { body, headers = {}, signal, retry = true } = {}) {
    const url = /^https?:/.test(path) ? path : `${this.baseUrl}/${this.apiVersion}${path}`;
    for (let attempt = 0; ; attempt++) {
      const h = { ...headers, Authorization: 'Bearer ' + await this.token() };
      if (body !== undefined) h['Content-Type'] = 'application/json';
      if (this.unsid && !h['X-UNS-ID']) h['X-UNS-ID'] = this.unsid;
      const r = await this.fetch(url, { method, headers: h, signal, body: body === undefined ? undefined : JSON.stringify(body) });
      if (r.ok) {
        const text = r.status === 204 ? '' : await r.text();
        const data = text ? JSON.parse(text) : null;
        if (data && data.id && data.version) this.versions.set(data.id, data.version);
        return { status: r.status, headers: r.headers, data };
      }
      const err = await errorOf(r);
      // 429 was not done; a 503 GET or DELETE is safe to repeat.
      const again = r.status === 429 || (r.status === 503 && method !== 'POST' && method !== 'PATCH');
      if (!retry || !again || attempt >= this.retries) throw err;
      await sleep(err.retryAfter != null ? err.retryAfter * 1000 : backoffMs(attempt, this.maxBackoffMs), signal);
    }
  }

  /**
   * Subscribes this device: platform 'polling', or 'webPush' with a
   * PushSubscription (pushSubscription) or one made here from
   * registration.pushManager with the server's VAPID key (vapidKey).
   */
  async subscribe({ deviceId, platform = 'polling', hostName, registration, vapidKey, pushSubscription, appDisplayName } = {}) {
    const body = { deviceId: deviceId || this.store.get(this.key + ':device') || randomId(), platform };
    this.store.set(this.key + ':device', body.deviceId);
    if (hostName) body.targetHostName = hostName;
    if (appDisplayName) body.appDisplayName = appDisplayName;
    if (platform === 'webPush') {
      let sub = pushSubscription;
      if (!sub) {
        if (!registration || !registration.pushManager) throw new TypeError('webPush needs a service worker registration');
        sub = await registration.pushManager.subscribe({ userVisibleOnly: true, applicationServerKey: vapidKey });
      }
      const j = typeof sub.toJSON === 'function' ? sub.toJSON() : sub;
      body.webPush = { endpoint: j.endpoint, keys: { p256dh: j.keys.p256dh, auth: j.keys.auth } };
    }
    const { data } = await this.request('POST', '/me/notifications/subscriptions', { body });
    this.store.set(this.key + ':unsid', data.id);
    return data;
  }

  /** Ends this device's subscription (and its push subscription, if any) and forgets the cursor. */
  async unsubscribe({ registration } = {}) {
    const unsid = this.unsid;
    if (unsid) await this.request('DELETE', '/me/notifications/subscriptions/' + encodeURIComponent(unsid));
    if (registration && registration.pushManager) {
      const s = await registration.pushManager.getSubscription();
      if (s) await s.unsubscribe();
    }
    for (const k of [':unsid', ':cursor']) this.store.remove(this.key + k);
  }

  async get(id) { return (await this.request('GET', '/me/notifications/' + encodeURIComponent(id))).data; }

  /** One page of the history, newest first: { items, next() | null }. */
  async history({ top = 20, filter, link } = {}) {
    // A link names the gateway's public URL; the path is asked of baseUrl.
    let path = link && link.slice(link.indexOf('/me/notifications'));
    if (!path) {
      const q = new URLSearchParams({ $top: String(top) });
      if (filter) q.set('$filter', filter);
      path = '/me/notifications?' + q;
    }
    const { data } = await this.request('GET', path);
    const nextLink = data['@odata.nextLink'];
    return { items: data.value, next: nextLink ? () => this.history({ link: nextLink }) : null };
  }

  markRead(id) { return this.update(id, STATES.read); }
  dismiss(id) { return this.update(id, STATES.dismissed); }
  activate(id) { return this.update(id, STATES.activated); }

  /**
   * PATCH with If-Match on the version last seen; on 412 the notification
   * is read again and the change retried unless it is already so.
   */
  async update(id, change) {
    for (let attempt = 0; ; attempt++) {
      let v = this.versions.get(id);
      if (v == null) v = (await this.get(id)).version;
      try {
        return (await this.request('PATCH', '/me/notifications/' + encodeURIComponent(id),
          { body: change, headers: { 'If-Match': `"${v}"` } })).data;
      } catch (e) {
        if (!(e instanceof UnsError) || e.status !== 412 || attempt >= 3) throw e;
        this.versions.delete(id);
        const now = await this.get(id);
        if (Object.keys(change).every((k) => now[k] === change[k])) return now;
      }
    }
  }

  /** Deletes for this user (a dismissed-and-gone state on every device). */
  async remove(id) {
    const v = this.versions.get(id);
    await this.request('DELETE', '/me/notifications/' + encodeURIComponent(id), { headers: v ? { 'If-Match': `"${v}"` } : {} });
  }

  /**
   * Follows the feed from the stored cursor (the whole feed the first
   * time): onChange(item) per change, a removal as {id, '@removed'}. Runs
   * until stop(); survives gateway restarts and network loss (backoff),
   * stops on 401/403 (onError). stream: 'auto' tries the event stream.
   */
  listen({ onChange, onError, onState, wait = 30, stream = 'auto', registration } = {}) {
    const ac = new AbortController();
    let streams = stream !== false && stream !== 'off' && typeof ReadableStream !== 'undefined';
    const emit = (item) => {
      if (item.version) this.versions.set(item.id, item.version);
      if (registration && (item['@removed'] || item.readState === 'read' || DONE.includes(item.userActionState)))
        closeShown(registration, item.id);
      onChange && onChange(item);
    };
    const run = async () => {
      let failures = 0, current = false; // current: caught up since the last failure
      while (!ac.signal.aborted) {
        try {
          if (streams) streams = await this._stream(emit, ac.signal, onState);
          else await this._poll(emit, current ? wait : 0, ac.signal, onState); // catch up at once, then wait
          failures = 0;
          current = true;
        } catch (e) {
          current = false;
          if (ac.signal.aborted) return;
          onState && onState('offline');
          if (e instanceof UnsError && (e.status === 401 || e.status === 403 || e.status === 400)) {
            onError && onError(e);
            if (e.status !== 400 || !this.cursor) return;
            this.store.remove(this.key + ':cursor'); // a cursor the server refuses: start over
            continue;
          }
          onError && onError(e);
          const ra = e instanceof UnsError ? e.retryAfter : null;
          await sleep(ra != null ? ra * 1000 : backoffMs(failures++, this.maxBackoffMs), ac.signal).catch(() => {});
        }
      }
    };
    const done = run();
    return { stop: () => { ac.abort(); return done; }, done };
  }

  // One delta answer (long-polled); follows nextLinks at once.
  async _poll(emit, wait, signal, onState) {
    const q = new URLSearchParams({ wait: String(wait) });
    if (this.cursor) q.set('$deltatoken', this.cursor);
    const { data } = await this.request('GET', '/me/notifications/delta?' + q, { signal, retry: false });
    onState && onState('live');
    this._page(data, emit);
  }

  _page(data, emit) {
    for (const item of data.value || []) emit(item);
    this.cursor = cursorOf(data['@odata.deltaLink'] || data['@odata.nextLink']);
  }

  // The event stream; false when the gateway answered a plain delta instead.
  async _stream(emit, signal, onState) {
    const q = new URLSearchParams();
    if (this.cursor) q.set('$deltatoken', this.cursor);
    const url = `${this.baseUrl}/${this.apiVersion}/me/notifications/delta?${q}`;
    const headers = { Accept: 'text/event-stream', Authorization: 'Bearer ' + await this.token() };
    if (this.unsid) headers['X-UNS-ID'] = this.unsid;
    const r = await this.fetch(url, { headers, signal });
    if (!r.ok) throw await errorOf(r);
    onState && onState('live');
    if (!(r.headers.get('Content-Type') || '').startsWith('text/event-stream') || !r.body) {
      this._page(await r.json(), emit);
      return false;
    }
    const reader = r.body.pipeThrough(new TextDecoderStream()).getReader();
    let buf = '';
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return true; // closed by the server: resume from the cursor
      buf += value;
      let end;
      while ((end = buf.indexOf('\n\n')) >= 0) {
        const ev = { data: '' };
        for (const line of buf.slice(0, end).split('\n')) {
          const m = /^([a-z]+): ?(.*)$/i.exec(line);
          if (m) ev[m[1]] = m[1] === 'data' ? ev.data + m[2] : m[2];
        }
        buf = buf.slice(end + 2);
        if (ev.event === 'error') { const j = JSON.parse(ev.data).error || {}; throw new UnsError(503, j.code, j.message); }
        if (ev.data) emit(JSON.parse(ev.data));
        if (ev.id) this.cursor = ev.id;
      }
    }
  }

  /** Hands the token and gateway to the service worker (uns-sw.js), for clicks and pulls. */
  async shareWithWorker(registration) {
    const w = registration && (registration.active || registration.waiting || registration.installing);
    if (w) w.postMessage({ uns: 'config', baseUrl: this.baseUrl, apiVersion: this.apiVersion, token: await this.token(), unsid: this.unsid });
  }
}

async function closeShown(registration, id) {
  try { for (const n of await registration.getNotifications({ tag: id })) n.close(); } catch { /* not shown here */ }
}

async function errorOf(r) {
  let e = {};
  try { e = (await r.json()).error || {}; } catch { /* not JSON */ }
  const inner = e.innerError || {};
  return new UnsError(r.status, e.code || 'HTTP' + r.status, e.message || r.statusText,
    inner['request-id'] || r.headers.get('request-id'), retryAfterOf(r.headers));
}

function randomId() {
  const b = crypto.getRandomValues(new Uint8Array(12));
  return 'web-' + Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('');
}
