// fcm_receiver.js — reference FCM HTTP v1 API and Google OAuth token
// endpoint for UNS (server/push/push_fcm.c). Usage:
//   node fcm_receiver.js --cert PEM [--port N] [--log FILE]
//        [--project ID] [--expires-in SECONDS]
// Makes an RSA-2048 service-account key and prints, once listening:
// {"port":N,"serviceAccount":{"type":"service_account","project_id",
// "client_email","private_key" (PKCS#8 PEM),"token_uri":
// "https://localhost:N/token"}} — write it to a file for fcm_credentials.
//
// POST /token (application/x-www-form-urlencoded): grant_type must be
// urn:ietf:params:oauth:grant-type:jwt-bearer and assertion an RS256 JWT
// verified with the key, iss the client_email, scope naming
// firebase.messaging, aud the token_uri, exp after now and exp - iat at
// most 3600. Answers {"access_token","expires_in" (default 3600),
// "token_type":"Bearer"}, recorded as kind "fcm-token".
// POST /v1/projects/<project>/messages:send: Authorization Bearer with a
// token it issued and that has not expired (else 401 UNAUTHENTICATED), a
// JSON body {"message":{…}} with exactly one of token/topic/condition,
// data values all strings and no reserved keys (from, gcm, google*),
// android.priority normal|high, android.ttl "<seconds>s" up to 28 days,
// at most 4096 bytes. Errors have Google's shape: {"error":{"code",
// "message","status","details":[{"@type":"…FcmError","errorCode"}]}}.
// Accepted messages answer 200 {"name":"projects/<p>/messages/<n>"}.
'use strict';
const crypto = require('crypto');
const { parseArgs, Receiver, verifyJwt } = require('./receiver_common');

const opts = parseArgs(process.argv.slice(2), { project: 'uns-test', expires_in: '3600' });
const { privateKey, publicKey } = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
const email = 'uns-push@' + opts.project + '.iam.gserviceaccount.com';
const tokens = new Map(); // access token -> expiry (ms)
let tokenUri = null;
let seq = 0;

function gError(r, res, status, statusName, errorCode, message, rec) {
	r.record(Object.assign({ ok: false, status, reason: errorCode || statusName, detail: message }, rec));
	const error = { code: status, message, status: statusName };
	if (errorCode) error.details = [{ '@type': 'type.googleapis.com/google.firebase.fcm.v1.FcmError', errorCode }];
	res.writeHead(status, { 'content-type': 'application/json' });
	res.end(JSON.stringify({ error }));
}

function onToken(r, req, res, body) {
	const rec = { kind: 'fcm-token' };
	if (req.headers['content-type'] !== 'application/x-www-form-urlencoded')
		return r.refuse(res, 400, 'content-type ' + req.headers['content-type'], rec);
	const form = new URLSearchParams(body.toString());
	if (form.get('grant_type') !== 'urn:ietf:params:oauth:grant-type:jwt-bearer')
		return r.refuse(res, 400, 'unsupported_grant_type ' + form.get('grant_type'), rec);
	let t;
	try {
		t = verifyJwt(form.get('assertion'), publicKey, 'RS256');
	} catch (e) {
		return r.refuse(res, 400, 'invalid_grant: ' + e.message, rec);
	}
	const c = t.claims;
	const now = Date.now() / 1000;
	if (c.iss !== email) return r.refuse(res, 400, 'invalid_grant: iss ' + c.iss, rec);
	if (!String(c.scope || '').split(' ').includes('https://www.googleapis.com/auth/firebase.messaging'))
		return r.refuse(res, 400, 'invalid_scope ' + c.scope, rec);
	if (c.aud !== tokenUri) return r.refuse(res, 400, 'invalid_grant: aud ' + c.aud, rec);
	if (!(c.exp > now) || c.exp - c.iat > 3600) return r.refuse(res, 400, 'invalid_grant: exp/iat', rec);
	const token = 'ya29.' + crypto.randomBytes(24).toString('base64url');
	const expiresIn = Number(opts.expires_in);
	tokens.set(token, Date.now() + expiresIn * 1000);
	r.accept(res, Object.assign(rec, { iat: c.iat, exp: c.exp }), 200, {},
		{ access_token: token, expires_in: expiresIn, token_type: 'Bearer' });
}

function onSend(r, req, res, body, project) {
	const rec = { kind: 'fcm', path: req.url };
	const auth = /^Bearer (.+)$/.exec(req.headers.authorization || '');
	if (!auth || !tokens.has(auth[1]) || tokens.get(auth[1]) < Date.now())
		return gError(r, res, 401, 'UNAUTHENTICATED', null, 'Request had invalid authentication credentials.', rec);
	if (project !== opts.project) return gError(r, res, 404, 'NOT_FOUND', null, 'no project ' + project, rec);
	if (req.headers['content-type'] !== 'application/json')
		return gError(r, res, 400, 'INVALID_ARGUMENT', 'INVALID_ARGUMENT', 'content-type', rec);
	if (body.length > 4096) return gError(r, res, 400, 'INVALID_ARGUMENT', 'INVALID_ARGUMENT', 'message too big', rec);
	const m = (JSON.parse(body.toString()) || {}).message || {};
	const targets = ['token', 'topic', 'condition'].filter((k) => m[k] !== undefined);
	if (targets.length !== 1 || typeof m.token !== 'string')
		return gError(r, res, 400, 'INVALID_ARGUMENT', 'INVALID_ARGUMENT', 'exactly one target (a token)', rec);
	const data = m.data || {};
	for (const [k, v] of Object.entries(data)) {
		if (typeof v !== 'string') return gError(r, res, 400, 'INVALID_ARGUMENT', 'INVALID_ARGUMENT', 'data.' + k + ' is not a string', rec);
		if (k === 'from' || k === 'gcm' || k.startsWith('google')) return gError(r, res, 400, 'INVALID_ARGUMENT', 'INVALID_ARGUMENT', 'reserved key ' + k, rec);
	}
	if (m.notification !== undefined) return gError(r, res, 400, 'INVALID_ARGUMENT', 'INVALID_ARGUMENT', 'a tap is data-only', rec);
	const a = m.android || {};
	if (a.priority !== undefined && !/^(normal|high)$/.test(a.priority))
		return gError(r, res, 400, 'INVALID_ARGUMENT', 'INVALID_ARGUMENT', 'android.priority', rec);
	const ttl = /^([0-9]+)(\.[0-9]+)?s$/.exec(a.ttl || '0s');
	if (!ttl || Number(ttl[1]) > 2419200) return gError(r, res, 400, 'INVALID_ARGUMENT', 'INVALID_ARGUMENT', 'android.ttl ' + a.ttl, rec);
	Object.assign(rec, { token: m.token, data, android: a });
	r.accept(res, rec, 200, {}, { name: 'projects/' + project + '/messages/' + ++seq });
}

const r = new Receiver(opts);
r.listen((req, res, body) => {
	if (req.method === 'POST' && req.url === '/token') return onToken(r, req, res, body);
	const m = /^\/v1\/projects\/([^/]+)\/messages:send$/.exec(req.url);
	if (req.method === 'POST' && m) return onSend(r, req, res, body, m[1]);
	return gError(r, res, 404, 'NOT_FOUND', null, 'no route ' + req.url, { path: req.url });
}, (port) => {
	tokenUri = r.scheme + '://localhost:' + port + '/token';
	return {
		serviceAccount: {
			type: 'service_account', project_id: opts.project, client_email: email,
			private_key: privateKey.export({ type: 'pkcs8', format: 'pem' }), token_uri: tokenUri,
		},
	};
});
