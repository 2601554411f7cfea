// web_browser.js — the web client in a real browser (issue 18): Debian's
// chromium, headless, driven by playwright-core, against a real unsd and a
// standalone uns-gateway serving client/web at /web/. Run by CTest
// (web_browser); exits 77 (skipped) only when chromium is missing.
//
//   two contexts of one user (one on the event stream, one long-polling):
//   a Post in both within 1 s, read in one shows
//   read in the other, dismiss, a replace updates the item in place;
//   a push delivered through CDP (ServiceWorker.deliverPushMessage) shows a
//   notification tagged with the id, a second replaces it, and its click
//   marks it activated on the server;
//   Web Push end to end: the SDK subscribes with the PushSubscription of
//   the reference receiver (tests/node/webpush_receiver.js), unsd's
//   encrypted push is decrypted there and its payload, delivered to the
//   worker, is shown; after the SDK's unsubscribe no push is sent;
//   the gateway restarted while the page listens: nothing lost or repeated;
//   a reload resumes from the stored cursor, the history pages;
//   an allowed cross-origin page works, another origin is refused;
//   a 429 with Retry-After: 2 is retried by the SDK after 2 s;
//   a screenshot of the inbox (UNS_WEB_ARTIFACTS, default the cwd).
//
// With --bench N it measures instead: Post -> item in the page's DOM, and
// the same Post's long-poll answer to a plain Node client, over N posts.
'use strict';
const fs = require('fs');
const os = require('os');
const path = require('path');
const http = require('http');
const net = require('net');
const { spawn, execFileSync } = require('child_process');

const CHROMIUM = process.env.UNS_CHROMIUM || '/usr/bin/chromium';
if (!fs.existsSync(CHROMIUM)) {
  console.log(`SKIPPED: ${CHROMIUM} is missing (apt-get install chromium; tools/setup.sh installs it)`);
  process.exit(77);
}
const { chromium } = require('playwright-core');

const SRC = process.env.UNS_SOURCE_DIR || path.resolve(__dirname, '../..');
const BIN = (name, env) => process.env[env] || path.join(SRC, 'build', name);
const UNSD = BIN('unsd', 'UNS_UNSD_PATH');
const GATEWAY = BIN('uns-gateway', 'UNS_GATEWAY_PATH');
const UNSCTL = BIN('unsctl', 'UNS_UNSCTL_PATH');
const ARTIFACTS = process.env.UNS_WEB_ARTIFACTS || process.cwd();
const APP = 'web-svc', HOST = 'web.example.com', SECRET = 'web-secret-0123456789';
const DEADLINE = 1000; // ms: the "within 1 s"
const bench = process.argv.indexOf('--bench') > 0 ? +process.argv[process.argv.indexOf('--bench') + 1] : 0;

const procs = [];
let failed = false;
const log = (...a) => console.log('web_browser:', ...a);
function check(cond, what) {
  if (!cond) throw new Error('check failed: ' + what);
}

function freePort() {
  return new Promise((res) => { const s = net.createServer().listen(0, '127.0.0.1', () => { const p = s.address().port; s.close(() => res(p)); }); });
}

// Starts a program and waits for a stderr line with marker; its "(port N)".
function start(argv, marker) {
  return new Promise((resolve, reject) => {
    const p = spawn(argv[0], argv.slice(1), { stdio: ['ignore', 'ignore', 'pipe'] });
    procs.push(p);
    let out = '';
    const t = setTimeout(() => reject(new Error(`${argv[0]} did not start: ${out}`)), 30000);
    p.stderr.on('data', (d) => {
      out += d;
      const line = out.split('\n').find((l) => l.includes(marker));
      if (line && !p.started) {
        p.started = true;
        clearTimeout(t);
        const m = /\(port (\d+)\)/.exec(line);
        resolve({ proc: p, port: m ? +m[1] : 0, output: () => out });
      }
    });
    p.on('exit', (code) => { if (!p.started) reject(new Error(`${argv[0]} exited ${code}: ${out}`)); });
  });
}

// tests/node/webpush_receiver.js: its first stdout line names the port and
// a PushSubscription ({endpoint, keys}) of the browser it plays.
function startReceiver(cert) {
  return new Promise((resolve, reject) => {
    const p = spawn(process.execPath, [path.join(__dirname, 'webpush_receiver.js'), '--cert', cert], { stdio: ['ignore', 'pipe', 'inherit'] });
    procs.push(p);
    let out = '';
    p.stdout.on('data', (d) => {
      out += d;
      if (out.includes('\n') && !p.started) {
        p.started = true;
        const info = JSON.parse(out.split('\n')[0]);
        resolve({ proc: p, subscription: info.subscription, url: `https://localhost:${info.port}` });
      }
    });
    p.on('exit', (code) => { if (!p.started) reject(new Error('webpush_receiver.js exited ' + code)); });
  });
}

// The receiver's records (decrypted pushes), over its TLS with our CA.
function receiverRecords(rc, ca) {
  return new Promise((resolve, reject) => {
    require('https').get(rc.url + '/_records', { ca }, (res) => {
      let b = '';
      res.on('data', (d) => { b += d; });
      res.on('end', () => resolve(JSON.parse(b)));
    }).on('error', reject);
  });
}

// SIGTERM, and the exit status; 'hung' (then SIGKILL) after 30 s.
function stop(p) {
  return new Promise((res) => {
    if (p.exitCode !== null) return res(p.exitCode);
    const t = setTimeout(() => { p.kill('SIGKILL'); res('hung'); }, 30000);
    p.on('exit', (c) => { clearTimeout(t); res(c); });
    p.kill('SIGTERM');
  });
}

function serveStatic(files) { // path -> [type, file]
  const s = http.createServer((req, res) => {
    const f = files[new URL(req.url, 'http://x').pathname];
    if (!f) { res.writeHead(404); return res.end(); }
    res.writeHead(200, { 'Content-Type': f[0] });
    res.end(fs.readFileSync(f[1]));
  });
  return new Promise((res) => s.listen(0, '127.0.0.1', () => res(s)));
}

async function api(base, method, p, token, body, headers = {}) {
  const r = await fetch(base + '/v1.0' + p, {
    method, body: body && JSON.stringify(body),
    headers: { Authorization: 'Bearer ' + token, 'Content-Type': 'application/json', ...headers },
  });
  const text = await r.text();
  return { status: r.status, data: text ? JSON.parse(text) : null };
}

async function main() {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'uns-web-'));
  const data = path.join(dir, 'data');
  fs.mkdirSync(data);
  execFileSync(UNSCTL, ['app', 'add', '--data', data, '--id', APP, '--hosts', HOST, '--secret', SECRET]);
  const web = path.join(SRC, 'client/web');
  const crossFiles = { '/cross.html': ['text/html', path.join(__dirname, 'cross.html')], '/uns.js': ['text/javascript', path.join(web, 'uns.js')] };
  const allowed = await serveStatic(crossFiles), refused = await serveStatic(crossFiles);
  const allowedOrigin = `http://127.0.0.1:${allowed.address().port}`;
  const refusedOrigin = `http://127.0.0.1:${refused.address().port}`;
  // The Web Push service: the reference receiver (a browser's push service
  // and the browser's keys), on TLS with a CA unsd is told to trust.
  const pki = path.join(dir, 'pki');
  execFileSync(UNSCTL, ['cert', 'ensure', '--dir', pki]);
  const receiver = await startReceiver(path.join(pki, 'server.pem'));
  const conf = path.join(dir, 'unsd.conf');
  fs.writeFileSync(conf, [
    'rate_limit_user = 0', 'rate_limit_app = 0', 'max_live_per_user = 100000',
    `gateway_web_root = ${web}`, `gateway_cors_origins = ${allowedOrigin}`,
    'push_allow_private = true', `push_ca_file = ${path.join(pki, 'ca.pem')}`, 'webpush_hosts = localhost',
    'delivery_backoff = 100ms', '',
  ].join('\n'));
  const unsd = await start([UNSD, '--data', data, '--listen', 'tcp://127.0.0.1:0', '--gateway-listen', '', '--config', conf], 'serving');
  const rpc = `tcp://127.0.0.1:${unsd.port}`;
  const gwPort = await freePort();
  const gwArgs = [GATEWAY, '--rpc', rpc, '--listen', `http://127.0.0.1:${gwPort}`, '--config', conf];
  let gw = await start(gwArgs, 'serving');
  const base = `http://127.0.0.1:${gwPort}`;
  const mint = (...a) => execFileSync(UNSCTL, ['token', ...a, '--secret-file', path.join(data, 'jwt-hs256.secret')]).toString().trim();
  const user = mint('user', '--sub', 'alice', '--host', HOST);
  const app = mint('app', '--app', APP);
  // The app posts to the user through a device of hers (X-UNS-ID).
  const dev = await api(base, 'POST', '/me/notifications/subscriptions', user, { deviceId: 'server-side', platform: 'polling' });
  check(dev.status === 201, 'subscribe: ' + JSON.stringify(dev));
  const unsid = dev.data.id;
  const post = async (aid, title, body) => {
    const r = await api(base, 'POST', '/me/notifications', app,
      { targetHostName: HOST, appNotificationId: aid, payload: { visualContent: { title, body } } }, { 'X-UNS-ID': unsid });
    check(r.status === 201 || r.status === 200, `post ${aid}: ${r.status} ${JSON.stringify(r.data)}`);
    return r.data;
  };

  const browser = await chromium.launch({
    executablePath: CHROMIUM, headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update',
      '--disable-sync', '--no-first-run', '--disable-dev-shm-usage'],
  });
  try {
    // A follows the feed as an event stream, B with the long poll.
    const open = async (query) => {
      const inbox = `${base}/web/${query}#token=${user}`;
      const ctx = await browser.newContext({ viewport: { width: 720, height: 560 } });
      await ctx.grantPermissions(['notifications'], { origin: base });
      const page = await ctx.newPage();
      page.on('pageerror', (e) => log('page error:', e.message));
      page.feedTypes = new Set();
      page.on('response', (r) => { if (r.url().includes('/delta')) page.feedTypes.add((r.headers()['content-type'] || '').split(';')[0]); });
      if (process.env.UNS_WEB_DEBUG) {
        page.on('console', (m) => log('console:', m.text()));
        page.on('response', (r) => log('response:', r.status(), r.url()));
        page.on('requestfailed', (r) => log('failed:', r.url(), r.failure() && r.failure().errorText));
      }
      await page.goto(inbox);
      await page.waitForFunction(() => window.unsInbox && document.querySelector('#state').textContent === 'live', null, { timeout: 20000 })
        .catch(async (e) => { throw new Error(`the inbox did not go live: ${await page.textContent('body')}`); });
      return { ctx, page };
    };
    const A = await open(''), B = await open('?stream=off');
    const item = (id) => `#list li[data-id="${id}"]`;
    const within = async (page, fn, arg, what) => {
      const t0 = Date.now();
      await page.waitForFunction(fn, arg, { timeout: 10000 }).catch(() => { throw new Error(what + ': not within 10 s'); });
      const ms = Date.now() - t0;
      check(ms <= DEADLINE, `${what}: ${ms} ms, over ${DEADLINE} ms`);
      return ms;
    };
    const has = (sel) => !!document.querySelector(sel);
    const attr = ([sel, a, v]) => { const e = document.querySelector(sel); return !!e && e.dataset[a] === v; };

    if (bench) return await runBench({ page: A.page, post, base, user, item, pids: { unsd: unsd.proc.pid, 'uns-gateway': gw.proc.pid } });

    // -- two contexts: post, read, dismiss, replace -----------------------------
    const t0 = Date.now();
    const n1 = await post('order-1', 'Your order shipped', 'Parcel 1Z999 leaves Leeds today');
    const [msA, msB] = await Promise.all([within(A.page, has, item(n1.id), 'post in A'), within(B.page, has, item(n1.id), 'post in B')]);
    log(`post -> both pages: ${Date.now() - t0} ms (A ${msA}, B ${msB})`);
    await A.page.click(`${item(n1.id)} button[name=read]`);
    log(`read in A -> B: ${await within(B.page, attr, [item(n1.id), 'read', 'read'], 'read shown in B')} ms`);
    const n2 = await post('chat-7', 'Ana: lunch?', 'Noodles at 12:30');
    await within(A.page, has, item(n2.id), 'second post in A');
    await B.page.click(`${item(n2.id)} button[name=dismiss]`);
    log(`dismiss in B -> A: ${await within(A.page, attr, [item(n2.id), 'action', 'dismissed'], 'dismissed shown in A')} ms`);
    const count = await A.page.$$eval('#list li', (l) => l.length);
    const n1b = await post('order-1', 'Your order was delivered', 'Left with a neighbour');
    check(n1b.id === n1.id, 'a replace keeps the id');
    for (const P of [A, B]) {
      await within(P.page, ([sel, t]) => { const e = document.querySelector(sel + ' .title'); return e && e.textContent === t; },
        [item(n1.id), 'Your order was delivered'], 'replace shown');
      check(await P.page.$$eval('#list li', (l) => l.length) === count, 'a replace adds no item');
    }
    // If-Match on a stale version: 412, the SDK reads it again and retries
    const patches = [];
    const onReq = (r) => { if (r.method() === 'PATCH') patches.push(r.headers()['if-match']); };
    A.page.on('request', onReq);
    const stale = await A.page.evaluate(async (id) => {
      const c = window.unsInbox.client;
      c.versions.set(id, 1);
      const n = await c.markRead(id);
      return [n.readState, n.version];
    }, n1.id);
    A.page.off('request', onReq);
    check(stale[0] === 'read' && patches.length === 2 && patches[0] === '"1"' && patches[1] !== '"1"',
      `a stale If-Match is retried on the new version: ${JSON.stringify(stale)} ${JSON.stringify(patches)}`);
    await within(B.page, attr, [item(n1.id), 'read', 'read'], 'read after a conflict shown in B');
    await post('build-42', 'Build 42 passed', 'main, 3 min 12 s');
    await within(B.page, () => document.querySelectorAll('#list li').length === 3, null, 'third item');
    check(await B.page.textContent('#unread') === '1', 'unread count 1');
    await B.page.screenshot({ path: path.join(ARTIFACTS, 'web-inbox.png') });
    log('screenshot', path.join(ARTIFACTS, 'web-inbox.png'));

    check(A.page.feedTypes.has('text/event-stream'), 'A reads the event stream: ' + [...A.page.feedTypes]);
    check(!B.page.feedTypes.has('text/event-stream') && B.page.feedTypes.has('application/json'), 'B long-polls: ' + [...B.page.feedTypes]);

    // -- the service worker: a push through CDP, replace, click -----------------
    const cdp = await A.ctx.newCDPSession(A.page);
    const regId = new Promise((res) => cdp.on('ServiceWorker.workerRegistrationUpdated', (e) => {
      const r = e.registrations.find((x) => x.scopeURL === `${base}/web/` && !x.isDeleted);
      if (r) res(r.registrationId);
    }));
    await cdp.send('ServiceWorker.enable');
    const registrationId = await regId;
    const n3 = await post('pr-9', 'Review requested', 'PR 9 by Bo');
    const push = (payload) => cdp.send('ServiceWorker.deliverPushMessage', { origin: base, registrationId, data: JSON.stringify(payload) });
    const shown = () => A.page.evaluate(async () => (await window.unsInbox.registration.getNotifications()).map((n) => ({ tag: n.tag, title: n.title, body: n.body })));
    await push({ unsid, cursor: 'c', id: n3.id, title: 'Review requested', body: 'PR 9 by Bo' });
    await A.page.waitForFunction(async (id) => (await window.unsInbox.registration.getNotifications({ tag: id })).length === 1, n3.id, { timeout: 10000 });
    await push({ unsid, cursor: 'c', id: n3.id, title: 'Review requested (2)', body: 'PR 9 by Bo, again' });
    await A.page.waitForFunction(async (id) => { const l = await window.unsInbox.registration.getNotifications({ tag: id }); return l.length === 1 && l[0].title === 'Review requested (2)'; }, n3.id, { timeout: 10000 });
    check((await shown()).filter((n) => n.tag === n3.id).length === 1, 'a replace replaces the notification shown');
    // push to pull: no title in the payload, the worker fetches it by id
    const n4 = await post('pr-10', 'Fetched by id', 'the worker pulled this');
    await push({ unsid, cursor: 'c', id: n4.id });
    await A.page.waitForFunction(async (id) => (await window.unsInbox.registration.getNotifications({ tag: id })).some((n) => n.title === 'Fetched by id'), n4.id, { timeout: 10000 });
    // a click: the worker's notificationclick listener, with a real NotificationEvent
    const sw = A.ctx.serviceWorkers().find((w) => w.url().endsWith('/web/sw.js'));
    check(sw, 'the service worker runs');
    await sw.evaluate(async (id) => {
      const [n] = await self.registration.getNotifications({ tag: id });
      const ev = new NotificationEvent('notificationclick', { notification: n });
      let done;
      ev.waitUntil = (p) => { done = p; }; // a synthetic event cannot extend itself
      self.dispatchEvent(ev);
      await done;
    }, n3.id);
    const after = await api(base, 'GET', '/me/notifications/' + n3.id, user);
    check(after.data.userActionState === 'activated', 'click marked activated: ' + JSON.stringify(after.data));
    check(!(await shown()).some((n) => n.tag === n3.id), 'clicked notification closed');
    // read elsewhere: the page's feed closes the one shown here
    await api(base, 'PATCH', '/me/notifications/' + n4.id, user, { readState: 'read' });
    await A.page.waitForFunction(async (id) => (await window.unsInbox.registration.getNotifications({ tag: id })).length === 0, n4.id, { timeout: 10000 });
    // a push saying dismissed elsewhere closes it too
    await push({ unsid, cursor: 'c', id: n2.id, title: 'Ana: lunch?' });
    await A.page.waitForFunction(async (id) => (await window.unsInbox.registration.getNotifications({ tag: id })).length === 1, n2.id, { timeout: 10000 });
    await push({ id: n2.id, userActionState: 'dismissed' });
    await A.page.waitForFunction(async (id) => (await window.unsInbox.registration.getNotifications({ tag: id })).length === 0, n2.id, { timeout: 10000 });
    log('service worker: push shown, replaced, pulled by id, click activated, closed when read or dismissed elsewhere');

    // -- Web Push end to end: the SDK subscribes with a PushSubscription (the
    // receiver's; this browser's push service is out of reach), unsd encrypts
    // a push to it, the receiver decrypts it, and that payload, delivered to
    // the worker through CDP, is what the worker shows. Then unsubscribe.
    const ca = fs.readFileSync(path.join(pki, 'ca.pem'));
    const pushSub = await A.page.evaluate(async ([sub]) => {
      const c = new window.unsInbox.client.constructor({ baseUrl: location.origin, token: window.unsInbox.client.token, storageKey: 'push-test' });
      window.pushClient = c;
      return c.subscribe({ platform: 'webPush', deviceId: 'browser-push', pushSubscription: sub });
    }, [receiver.subscription]);
    check(pushSub.platform === 'webPush' && pushSub.id, 'webPush subscription: ' + JSON.stringify(pushSub));
    const n5 = await post('wp-1', 'Pushed through the receiver', 'encrypted to the browser');
    let rec;
    for (let i = 0; i < 200 && !rec; i++) {
      rec = (await receiverRecords(receiver, ca)).find((r) => r.status === 201 && r.payload && r.payload.id === n5.id);
      if (!rec) await new Promise((r) => setTimeout(r, 100));
    }
    check(rec, 'the receiver decrypted a push for the post');
    check(rec.payload.unsid === pushSub.id && rec.payload.title === 'Pushed through the receiver', 'push payload: ' + JSON.stringify(rec.payload));
    await push(rec.payload);
    await A.page.waitForFunction(async (id) => (await window.unsInbox.registration.getNotifications({ tag: id })).some((n) => n.title === 'Pushed through the receiver'), n5.id, { timeout: 10000 });
    await A.page.evaluate(() => window.pushClient.unsubscribe());
    const pushes = (await receiverRecords(receiver, ca)).length;
    await post('wp-2', 'After unsubscribing');
    await new Promise((r) => setTimeout(r, 1500));
    check((await receiverRecords(receiver, ca)).length === pushes, 'no push after unsubscribe');
    log('web push: subscribed from the SDK, a real encrypted push shown by the worker, unsubscribed');

    // -- the gateway restarted while the page listens ---------------------------
    const before = await A.page.evaluate(() => window.unsInbox.log.length);
    const t0stop = Date.now(), gwExit = await stop(gw.proc);
    check(gwExit === 0, `uns-gateway exits 0 on SIGTERM while the page listens: ${gwExit} after ${Date.now() - t0stop} ms\n${gw.output()}`);
    const downIds = [];
    for (let i = 0; i < 3; i++) {
      const out = execFileSync(UNSCTL, ['post', '--url', rpc, '--token', app, '--unsid', unsid, '--app-id', 'down-' + i,
        '--title', 'Posted while the gateway was down ' + i, '--json']).toString();
      downIds.push(JSON.parse(out).notification.id);
    }
    gw = await start(gwArgs, 'serving');
    const upIds = [(await post('up-0', 'Posted after the restart')).id];
    await A.page.waitForFunction((ids) => ids.every((id) => document.querySelector(`#list li[data-id="${id}"]`)), [...downIds, ...upIds], { timeout: 60000 });
    const all = await A.page.evaluate(() => window.unsInbox.log), events = all.slice(before);
    const seen = new Map(); // every change the page was given, before the restart too
    for (const e of all) { const k = e.id + '@' + e.version; seen.set(k, (seen.get(k) || 0) + 1); }
    for (const id of [...downIds, ...upIds]) check(seen.get(id + '@1') === 1, `${id} seen once after the restart (${seen.get(id + '@1')})`);
    check([...seen.values()].every((n) => n === 1), 'no change repeated: ' + JSON.stringify([...seen]));
    log(`gateway restart: ${events.length} changes after it, each once, none lost`);

    // -- a reload resumes from the stored cursor: the list from the history
    // (paged by the Older button), the feed from where it stopped ----------
    const keys = (l) => l.map((e) => e.id + '@' + e.version);
    const had = new Set(keys(await B.page.evaluate(() => window.unsInbox.log)));
    await B.page.reload();
    await B.page.waitForFunction(() => window.unsInbox && document.querySelector('#state').textContent === 'live', null, { timeout: 20000 });
    const pages = await B.page.evaluate(async () => {
      const ids = [];
      for (let p = await window.unsInbox.client.history({ top: 3 }); p; p = p.next && await p.next()) ids.push(...p.items.map((n) => n.id));
      return ids;
    });
    check(pages.length >= 10 && new Set(pages).size === pages.length, `history pages of 3: ${pages.length} distinct`);
    const n6 = await post('after-reload', 'After the reload');
    await within(B.page, has, item(n6.id), 'post after a reload');
    // (B may have reloaded while still catching up after the restart: those
    // changes come now, but none it had before)
    const again = keys(await B.page.evaluate(() => window.unsInbox.log));
    check(again.includes(n6.id + '@1') && again.every((k) => !had.has(k)) && new Set(again).size === again.length,
      `the reloaded page got no change twice: ${JSON.stringify(again)}`);
    for (const id of [...downIds, ...upIds, n6.id]) check(await B.page.$(item(id)), `${id} listed after the reload`);
    log(`reload: resumed from the stored cursor; history ${pages.length} items in pages of 3`);

    // -- cross-origin pages -----------------------------------------------------
    const cross = async (origin, gateway = base, retries = 0) => {
      const ctx = await browser.newContext();
      const page = await ctx.newPage();
      const msgs = [];
      page.on('console', (m) => msgs.push(m.text()));
      await page.goto(`${origin}/cross.html?gateway=${encodeURIComponent(gateway)}&token=${user}&retries=${retries}`);
      const r = await page.waitForFunction(() => window.crossResult, null, { timeout: 20000 }).then((h) => h.jsonValue());
      await ctx.close();
      return [r, msgs.join(' | ')];
    };
    const [ok] = await cross(allowedOrigin);
    check(/^ok \d+ \d+$/.test(ok), 'allowed origin: ' + ok);
    const [no, msgs] = await cross(refusedOrigin);
    check(/^error TypeError/.test(no), 'refused origin: ' + no);
    check(/CORS/.test(msgs), 'the browser names CORS: ' + msgs);
    log(`cross-origin: ${allowedOrigin} ${ok}; ${refusedOrigin} ${no}`);

    // -- Retry-After: a server answering 429 first; the SDK waits as told ---
    const seenAt = [];
    const throttle = http.createServer((req, res) => {
      const cors = { 'Access-Control-Allow-Origin': '*', 'Access-Control-Expose-Headers': 'Retry-After',
        'Access-Control-Allow-Headers': 'Authorization, Content-Type, X-UNS-ID', 'Content-Type': 'application/json' };
      if (req.method === 'OPTIONS') { res.writeHead(204, cors); return res.end(); }
      seenAt.push([Date.now(), req.url]);
      if (seenAt.length === 1) {
        res.writeHead(429, { ...cors, 'Retry-After': '2' });
        return res.end('{"error":{"code":"TooManyRequests","message":"slow down"}}');
      }
      res.writeHead(200, cors);
      res.end(req.url.includes('?') ? '{"value":[{"id":"x","version":4}]}' : '{"id":"x","version":4}');
    });
    await new Promise((r) => throttle.listen(0, '127.0.0.1', r));
    const [retried] = await cross(allowedOrigin, `http://127.0.0.1:${throttle.address().port}`, 2);
    throttle.close();
    const gap = seenAt.length > 1 ? seenAt[1][0] - seenAt[0][0] : -1;
    check(retried === 'ok 1 4' && seenAt.length === 3 && gap >= 1900, `429 retried after Retry-After 2 s: ${retried}, ${gap} ms, ${seenAt.length} requests`);
    log(`Retry-After: 2 honoured (${gap} ms)`);
  } finally {
    await browser.close();
    allowed.close();
    refused.close();
    await stop(gw.proc);
    check(await stop(unsd.proc) === 0, 'unsd exits 0');
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

// Post -> item in the page's DOM, and the same Post's answer to a Node long poll.
// CPU seconds a process has used (utime + stime, /proc/PID/stat).
function cpuSeconds(pid) {
  const f = fs.readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return (+f[11] + +f[12]) / 100; // fields 14 and 15, in USER_HZ (100)
}

async function runBench({ page, post, base, user, item, pids }) {
  let cursor = (await api(base, 'GET', '/me/notifications/delta', user)).data['@odata.deltaLink'];
  cursor = new URL(cursor).searchParams.get('$deltatoken');
  const dom = [], poll = [];
  const cpu0 = Object.fromEntries(Object.entries(pids).map(([k, p]) => [k, cpuSeconds(p)]));
  const now = () => performance.timeOrigin + performance.now();
  for (let i = 0; i < bench; i++) {
    const poller = (async () => {
      for (;;) { // until the post is in an answer
        const r = await api(base, 'GET', `/me/notifications/delta?wait=30&$deltatoken=${cursor}`, user);
        cursor = new URL(r.data['@odata.deltaLink']).searchParams.get('$deltatoken');
        if (r.data.value.length) return now();
      }
    })();
    await new Promise((r) => setTimeout(r, 20)); // the poll is parked
    const t0 = now();
    const n = await post('bench-' + i, 'Bench ' + i);
    const [tPoll, tDom] = await Promise.all([poller,
      page.waitForFunction((sel) => document.querySelector(sel), item(n.id), { polling: 'raf' }).then(() =>
        page.evaluate((id) => window.unsInbox.log.find((e) => e.id === id).shown, n.id))]);
    poll.push(tPoll - t0);
    dom.push(tDom - t0);
  }
  const pct = (a, p) => { const s = [...a].sort((x, y) => x - y); return s[Math.min(s.length - 1, Math.floor(p / 100 * s.length))].toFixed(1); };
  const cpu = Object.entries(pids).map(([k, p]) => `${k} ${((cpuSeconds(p) - cpu0[k]) * 1e6 / bench).toFixed(0)} us`).join(', ');
  console.log(`CPU per post (post, browser long poll or stream, node long poll): ${cpu}; load average ${os.loadavg()[0].toFixed(1)}`);
  console.log(`posts ${bench}: post->DOM p50 ${pct(dom, 50)} ms p99 ${pct(dom, 99)} ms; post->long-poll answer (node) p50 ${pct(poll, 50)} ms p99 ${pct(poll, 99)} ms`);
}

main().then(() => { log(failed ? 'FAILED' : 'all ok'); }, (e) => { console.error('web_browser: FAILED:', e.stack || e); process.exitCode = 1; })
  .finally(() => { for (const p of procs) if (p.exitCode === null) p.kill('SIGKILL'); });
