// wns_receiver.js — reference WNS (raw notifications) and its OAuth
// client-credentials token endpoint for UNS (server/push/push_wns.c). Usage:
//   node wns_receiver.js --cert PEM [--port N] [--log FILE]
//        [--scope SCOPE] [--expires-in SECONDS]
// Prints, once listening: {"port":N,"clientId","clientSecret",
// "tokenUrl":"https://localhost:N/token","channel":"https://localhost:N/
// wns/ch1"} (any /wns/<id> is a channel).
// POST /token (form): grant_type client_credentials, client_id and
// client_secret as printed, scope as --scope (default notify.windows.com);
// answers {"access_token","token_type":"bearer","expires_in"} (kind
// "wns-token"). POST /wns/<id>: Authorization Bearer with an issued,
// unexpired token (else 401), X-WNS-Type wns/raw with Content-Type
// application/octet-stream (other types need text/xml), X-WNS-TTL and
// X-WNS-Cache-Policy well-formed when present, a body of at most 5000
// bytes. Accepted: 200 with X-WNS-Status: received and X-WNS-Msg-ID.
'use strict';
const crypto = require('crypto');
const { parseArgs, Receiver } = require('./receiver_common');

const opts = parseArgs(process.argv.slice(2), { scope: 'notify.windows.com', expires_in: '86400' });
const clientId = 'ms-app://s-1-15-2-' + crypto.randomInt(1e9);
const clientSecret = crypto.randomBytes(18).toString('base64url');
const tokens = new Map();

const r = new Receiver(opts);
r.listen((req, res, body) => {
	const h = req.headers;
	if (req.method === 'POST' && req.url === '/token') {
		const rec = { kind: 'wns-token' };
		if (h['content-type'] !== 'application/x-www-form-urlencoded') return r.refuse(res, 400, 'content-type', rec);
		const f = new URLSearchParams(body.toString());
		if (f.get('grant_type') !== 'client_credentials') return r.refuse(res, 400, 'unsupported_grant_type', rec);
		if (f.get('client_id') !== clientId || f.get('client_secret') !== clientSecret)
			return r.refuse(res, 400, 'invalid_client', rec);
		if (f.get('scope') !== opts.scope) return r.refuse(res, 400, 'invalid_scope ' + f.get('scope'), rec);
		const token = crypto.randomBytes(32).toString('base64');
		tokens.set(token, Date.now() + Number(opts.expires_in) * 1000);
		return r.accept(res, rec, 200, {}, { access_token: token, token_type: 'bearer', expires_in: Number(opts.expires_in) });
	}
	const m = /^\/wns\/([A-Za-z0-9_-]+)$/.exec(req.url);
	const rec = { kind: 'wns', path: req.url };
	if (req.method !== 'POST' || !m) return r.refuse(res, 404, 'no channel ' + req.url, rec);
	const auth = /^Bearer (.+)$/.exec(h.authorization || '');
	if (!auth || !tokens.has(auth[1]) || tokens.get(auth[1]) < Date.now()) return r.refuse(res, 401, 'token invalid or expired', rec);
	const type = h['x-wns-type'];
	if (!/^wns\/(raw|toast|tile|badge)$/.test(type || '')) return r.refuse(res, 400, 'X-WNS-Type ' + type, rec);
	const want = type === 'wns/raw' ? 'application/octet-stream' : 'text/xml';
	if (h['content-type'] !== want) return r.refuse(res, 400, 'Content-Type ' + h['content-type'] + ' with ' + type, rec);
	if (h['x-wns-ttl'] !== undefined && !/^[0-9]+$/.test(h['x-wns-ttl'])) return r.refuse(res, 400, 'X-WNS-TTL', rec);
	if (h['x-wns-cache-policy'] !== undefined && !/^(cache|no-cache)$/.test(h['x-wns-cache-policy']))
		return r.refuse(res, 400, 'X-WNS-Cache-Policy', rec);
	if (body.length > 5000) return r.refuse(res, 413, 'payload of ' + body.length + ' bytes', rec);
	let payload = body.toString();
	try {
		payload = JSON.parse(payload);
	} catch (e) { /* recorded as text */ }
	Object.assign(rec, {
		channel: m[1], type, ttl: h['x-wns-ttl'] ? Number(h['x-wns-ttl']) : null,
		cachePolicy: h['x-wns-cache-policy'] || null, payload,
	});
	r.accept(res, rec, 200, { 'x-wns-status': 'received', 'x-wns-msg-id': crypto.randomBytes(8).toString('hex') }, null);
}, (port) => ({
	clientId, clientSecret, tokenUrl: r.scheme + '://localhost:' + port + '/token', channel: r.scheme + '://localhost:' + port + '/wns/ch1',
}));
