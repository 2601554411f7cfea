// webpush_receiver.js — reference Web Push service + browser for UNS
// (server/push/push_webpush.c). Usage:
//   node webpush_receiver.js --cert PEM [--port N] [--log FILE]
//                            [--vapid-key BASE64URL] [--subscriptions N]
// Plays N browsers (default 1), each with its own P-256 key pair and auth
// secret, and prints, once listening: {"port":N,"subscription":{"endpoint":
// "https://localhost:N/push/sub1","keys":{"p256dh":…,"auth":…}},
// "subscriptions":[…all N…]}. A POST to any other /push/<id> is 404, as
// for an expired subscription. On each POST /push/sub<k> it
// checks: TTL (digits), Urgency (very-low|low|normal|high, one value),
// Topic (1..32 base64url characters, optional), Content-Encoding
// aes128gcm, Content-Type application/octet-stream, a body of at most
// 4096 bytes, and Authorization "vapid t=JWT, k=KEY": the JWT is ES256
// (raw r||s) verified with k by Node's crypto, aud the receiver's origin,
// exp in the future and at most 24 h ahead, sub mailto: or https:, and k
// the --vapid-key when given. Then it decrypts the body with the npm
// package http_ece (aes128gcm, RFC 8291) and records the plaintext (JSON
// parsed when it is JSON). Accepted pushes answer 201 with a Location.
'use strict';
const crypto = require('crypto');
const ece = require('http_ece');
const { parseArgs, Receiver, b64u, unb64u, verifyJwt } = require('./receiver_common');

const opts = parseArgs(process.argv.slice(2), { vapid_key: null, subscriptions: '1' });
const browsers = new Map(); // "/push/sub<k>" -> {ua, auth}
for (let k = 1; k <= Number(opts.subscriptions); k++) {
	const ua = crypto.createECDH('prime256v1');
	ua.generateKeys();
	browsers.set('/push/sub' + k, { ua, auth: crypto.randomBytes(16) });
}
let origin = null;
let seq = 0;

function vapidKey(k) {
	const raw = unb64u(k);
	if (raw.length !== 65 || raw[0] !== 4) throw new Error('k is not an uncompressed P-256 point');
	return crypto.createPublicKey({
		key: { kty: 'EC', crv: 'P-256', x: b64u(raw.subarray(1, 33)), y: b64u(raw.subarray(33)) },
		format: 'jwk',
	});
}

function checkVapid(header) {
	const m = /^vapid t=([A-Za-z0-9_.-]+), ?k=([A-Za-z0-9_-]+)$/.exec(header || '');
	if (!m) throw new Error('authorization is not "vapid t=…, k=…": ' + header);
	const [, t, k] = m;
	if (opts.vapid_key && k !== opts.vapid_key) throw new Error('k is not the expected VAPID key');
	const { header: h, claims } = verifyJwt(t, vapidKey(k), 'ES256');
	if (h.typ !== 'JWT') throw new Error('jwt typ ' + h.typ);
	if (claims.aud !== origin) throw new Error('aud ' + claims.aud + ', expected ' + origin);
	const now = Date.now() / 1000;
	if (!(claims.exp > now && claims.exp <= now + 86400)) throw new Error('exp not within 24 h: ' + claims.exp);
	if (!/^(mailto:|https:)/.test(claims.sub || '')) throw new Error('sub is not mailto: or https:');
	return { aud: claims.aud, exp: claims.exp, sub: claims.sub, k };
}

const r = new Receiver(opts);
r.listen((req, res, body) => {
	const path = req.url;
	const b = browsers.get(path);
	if (req.method !== 'POST' || !b) return r.refuse(res, 404, 'no such subscription ' + path, { path });
	const h = req.headers;
	if (!/^[0-9]+$/.test(h.ttl || '')) return r.refuse(res, 400, 'TTL missing or not a number: ' + h.ttl, { path });
	if (h.urgency !== undefined && !/^(very-low|low|normal|high)$/.test(h.urgency))
		return r.refuse(res, 400, 'bad Urgency ' + h.urgency, { path });
	if (h.topic !== undefined && !/^[A-Za-z0-9_-]{1,32}$/.test(h.topic))
		return r.refuse(res, 400, 'bad Topic ' + h.topic, { path });
	if (h['content-encoding'] !== 'aes128gcm') return r.refuse(res, 400, 'content-encoding ' + h['content-encoding'], { path });
	if (h['content-type'] !== 'application/octet-stream') return r.refuse(res, 400, 'content-type ' + h['content-type'], { path });
	if (body.length > 4096) return r.refuse(res, 413, 'body of ' + body.length + ' bytes', { path });
	let vapid;
	try {
		vapid = checkVapid(h.authorization);
	} catch (e) {
		return r.refuse(res, 403, e.message, { path });
	}
	let plain;
	try {
		plain = ece.decrypt(body, { version: 'aes128gcm', privateKey: b.ua, authSecret: b.auth });
	} catch (e) {
		return r.refuse(res, 400, 'cannot decrypt: ' + e.message, { path });
	}
	let payload = plain.toString();
	try {
		payload = JSON.parse(payload);
	} catch (e) { /* recorded as text */ }
	r.accept(res, {
		kind: 'webpush', path, ttl: Number(h.ttl), urgency: h.urgency || 'normal', topic: h.topic || null,
		vapid, bodyLength: body.length, payload,
	}, 201, { location: '/message/' + ++seq }, null);
}, (port) => {
	origin = r.scheme + '://localhost:' + port;
	const subscriptions = [...browsers].map(([path, b]) => ({
		endpoint: origin + path,
		keys: { p256dh: b64u(b.ua.getPublicKey()), auth: b64u(b.auth) },
	}));
	return { subscription: subscriptions[0], subscriptions };
});
