// webhook_receiver.js — reference receiver for UNS webhooks (server/
// push_webhook.c). Usage:
//   node webhook_receiver.js --cert PEM --secret FILE [--port N] [--log FILE]
//                            [--window SECONDS]
// Checks, in order: POST, Content-Type application/json, UNS-Timestamp
// within --window (default 300) seconds of this clock, UNS-Signature
// "v1=" + hex HMAC-SHA256(secret, timestamp "." raw body) compared in
// constant time with each comma-separated entry (while the server retires
// a key it sends "v1=<new>,v1=<old>"; one match is enough), and a body of exactly {"unsid": string, "cursor": string}.
// The secret file is used as the server uses it: its bytes, one final
// newline dropped. Accepted taps answer 204. See receiver_common.js for
// the control endpoints and records.
'use strict';
const crypto = require('crypto');
const fs = require('fs');
const { parseArgs, Receiver } = require('./receiver_common');

const opts = parseArgs(process.argv.slice(2), { secret: null, window: '300' });
let secret = fs.readFileSync(opts.secret);
if (secret.length && secret[secret.length - 1] === 0x0a) secret = secret.subarray(0, secret.length - 1);
if (secret.length && secret[secret.length - 1] === 0x0d) secret = secret.subarray(0, secret.length - 1);

const r = new Receiver(opts);
r.listen((req, res, body) => {
	if (req.method !== 'POST') return r.refuse(res, 405, 'method ' + req.method);
	if (req.headers['content-type'] !== 'application/json')
		return r.refuse(res, 415, 'content-type ' + req.headers['content-type']);
	const ts = req.headers['uns-timestamp'];
	if (!/^[0-9]+$/.test(ts || '')) return r.refuse(res, 401, 'no UNS-Timestamp');
	const skew = Math.abs(Date.now() / 1000 - Number(ts));
	if (skew > Number(opts.window)) return r.refuse(res, 401, 'timestamp outside the replay window: ' + skew + ' s');
	const sigs = (req.headers['uns-signature'] || '').split(',').map((s) => Buffer.from(s.trim()));
	const want = Buffer.from('v1=' + crypto.createHmac('sha256', secret).update(ts + '.').update(body).digest('hex'));
	if (!sigs.some((s) => s.length === want.length && crypto.timingSafeEqual(s, want)))
		return r.refuse(res, 401, 'signature does not verify');
	const doc = JSON.parse(body.toString());
	const keys = Object.keys(doc).sort().join(',');
	if (keys !== 'cursor,unsid' || typeof doc.unsid !== 'string' || typeof doc.cursor !== 'string')
		return r.refuse(res, 400, 'body is not {unsid, cursor}: ' + body.toString());
	r.accept(res, { kind: 'webhook', path: req.url, unsid: doc.unsid, cursor: doc.cursor, timestamp: Number(ts) }, 204, {}, null);
});
