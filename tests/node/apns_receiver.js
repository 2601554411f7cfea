// apns_receiver.js — reference APNs provider API for UNS (server/
// push_apns.c): HTTP/2 over TLS (ALPN h2 only), token-based auth. Usage:
//   node apns_receiver.js --cert PEM [--port N] [--log FILE]
//        [--team TEAMID] [--key-id KEYID] [--topic BUNDLE]
//        [--max-token-age SECONDS]
// Makes a P-256 signing key and prints, once listening: {"port":N,
// "p8":"-----BEGIN PRIVATE KEY-----…" (PKCS#8, as Apple's .p8 files),
// "team","keyId","topic"}. Defaults: TEAM000001, KEY0000001,
// com.example.uns, 3600.
// With --plain it speaks cleartext HTTP/2 with prior knowledge (h2c), as
// curl's CURL_HTTP_VERSION_2_PRIOR_KNOWLEDGE does.
// On each POST /3/device/<hex token> it checks: HTTP/2; authorization
// "bearer JWT": ES256 (raw r||s) verified with the key, header kid the key
// id, claims iss the team and iat not in the future (60 s slack) nor older
// than --max-token-age (else 403 ExpiredProviderToken, as Apple); apns-topic;
// apns-push-type background (then apns-priority 5 and an aps of exactly
// {"content-available":1}) or alert (then apns-priority 10 and aps.alert
// with title and body); apns-expiration digits; apns-collapse-id at most
// 64 bytes; a JSON body of at most 4096 bytes. Refusals answer as APNs
// does: {"reason":"…"} with 400 or 403. Accepted pushes answer 200 with an
// apns-id header. Each record holds the token's iat, so tests can see
// provider-token reuse.
'use strict';
const crypto = require('crypto');
const { parseArgs, Receiver, verifyJwt } = require('./receiver_common');

const opts = parseArgs(process.argv.slice(2), {
	team: 'TEAM000001', key_id: 'KEY0000001', topic: 'com.example.uns', max_token_age: '3600',
});
const { privateKey, publicKey } = crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' });
const p8 = privateKey.export({ type: 'pkcs8', format: 'pem' });

function apnsError(r, res, status, reason, rec) {
	r.record(Object.assign({ ok: false, status, reason }, rec));
	res.writeHead(status, { 'content-type': 'application/json', 'apns-id': crypto.randomUUID() });
	res.end(JSON.stringify({ reason }));
}

const r = new Receiver(opts);
r.listen((req, res, body) => {
	const h = req.headers;
	const m = /^\/3\/device\/([0-9a-fA-F]+)$/.exec(req.url);
	const rec = { kind: 'apns', path: req.url, httpVersion: req.httpVersion };
	if (req.method !== 'POST' || !m) return apnsError(r, res, 404, 'BadPath', rec);
	if (req.httpVersion !== '2.0') return apnsError(r, res, 400, 'NotHTTP2', rec);
	const auth = /^bearer (.+)$/.exec(h.authorization || '');
	if (!auth) return apnsError(r, res, 403, 'MissingProviderToken', rec);
	let tok;
	try {
		tok = verifyJwt(auth[1], publicKey, 'ES256');
	} catch (e) {
		return apnsError(r, res, 403, 'InvalidProviderToken', Object.assign(rec, { detail: e.message }));
	}
	const now = Date.now() / 1000;
	if (tok.header.kid !== opts.key_id || tok.claims.iss !== opts.team || typeof tok.claims.iat !== 'number')
		return apnsError(r, res, 403, 'InvalidProviderToken', Object.assign(rec, { detail: 'kid/iss/iat' }));
	if (tok.claims.iat > now + 60) return apnsError(r, res, 403, 'InvalidProviderToken', Object.assign(rec, { detail: 'iat in the future' }));
	if (now - tok.claims.iat > Number(opts.max_token_age)) return apnsError(r, res, 403, 'ExpiredProviderToken', rec);
	rec.iat = tok.claims.iat;
	if (h['apns-topic'] !== opts.topic) return apnsError(r, res, 400, h['apns-topic'] ? 'BadTopic' : 'MissingTopic', rec);
	if (!/^[0-9]+$/.test(h['apns-expiration'] || '')) return apnsError(r, res, 400, 'BadExpirationDate', rec);
	if (h['apns-collapse-id'] !== undefined && Buffer.byteLength(h['apns-collapse-id']) > 64)
		return apnsError(r, res, 400, 'BadCollapseId', rec);
	if (body.length > 4096) return apnsError(r, res, 413, 'PayloadTooLarge', rec);
	let doc;
	try {
		doc = JSON.parse(body.toString());
	} catch (e) {
		return apnsError(r, res, 400, 'BadPayload', rec);
	}
	const aps = doc.aps || {};
	const type = h['apns-push-type'];
	const prio = h['apns-priority'];
	if (type === 'background') {
		if (prio !== '5') return apnsError(r, res, 400, 'BadPriority', rec);
		if (JSON.stringify(aps) !== '{"content-available":1}') return apnsError(r, res, 400, 'InvalidPushType', rec);
	} else if (type === 'alert') {
		if (prio !== '10') return apnsError(r, res, 400, 'BadPriority', rec);
		if (!aps.alert || typeof aps.alert.title !== 'string' || typeof aps.alert.body !== 'string')
			return apnsError(r, res, 400, 'PayloadEmpty', rec);
	} else {
		return apnsError(r, res, 400, 'InvalidPushType', rec);
	}
	Object.assign(rec, {
		token: m[1], pushType: type, priority: Number(prio), collapseId: h['apns-collapse-id'] || null,
		expiration: Number(h['apns-expiration']), payload: doc,
	});
	r.accept(res, rec, 200, { 'apns-id': crypto.randomUUID() }, null);
}, () => ({ p8, team: opts.team, keyId: opts.key_id, topic: opts.topic, h2: true }), true);
