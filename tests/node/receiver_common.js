// receiver_common.js — what every reference push receiver shares: argument
// parsing, a TLS server on 127.0.0.1 with the test's development
// certificate, the record of every request (accepted or refused, as JSON
// lines), scripted failures, and the control endpoints a test uses.
//
// Every receiver takes:
//   --cert PEM     certificate and key (one file, as `unsctl cert server`
//                  writes it; the certificate must name "localhost")
//   --port N       listening port (default 0: any free port)
//   --log FILE     also append each record to FILE as one JSON line
//   --plain        no TLS: plain HTTP/1.1, or cleartext HTTP/2 (h2c, prior
//                  knowledge only) for the APNs receiver; for engines and
//                  benchmarks that talk cleartext (--cert then unused)
// and prints one JSON line on stdout once listening: {"port":N,
// "scheme":"https"|"http", ...extra}.
//
// Control endpoints (on the same server, never recorded):
//   POST /_control {"status":429,"count":2,"headers":{"retry-after":"3"},
//                   "body":{"reason":"TooManyRequests"}}
//       the next `count` requests that pass every check are answered with
//       this status, headers and JSON body instead of success (recorded
//       with "scripted": true)
//   GET  /_records   every record so far, as a JSON array
//   POST /_reset     forget records and scripts
'use strict';
const fs = require('fs');
const http = require('http');
const http2 = require('http2');
const https = require('https');

const FLAGS = new Set(['plain']);

function parseArgs(argv, defaults) {
	const out = Object.assign({ port: '0', cert: null, log: null, plain: false }, defaults);
	for (let i = 0; i < argv.length; i++) {
		const a = argv[i];
		if (!a.startsWith('--')) throw new Error('unexpected argument ' + a);
		const key = a.slice(2).replace(/-/g, '_');
		out[key] = FLAGS.has(key) ? true : argv[++i];
	}
	if (!out.cert && !out.plain) throw new Error('--cert PEM is required (or --plain)');
	return out;
}

class Receiver {
	constructor(opts) {
		this.opts = opts;
		this.records = [];
		this.scripts = [];
	}

	record(rec) {
		rec.at = Date.now();
		this.records.push(rec);
		if (this.opts.log) fs.appendFileSync(this.opts.log, JSON.stringify(rec) + '\n');
	}

	// Refuse: record why and answer status with a JSON body.
	refuse(res, status, reason, extra) {
		this.record(Object.assign({ ok: false, status, reason }, extra || {}));
		send(res, status, { reason });
	}

	// Accept: either a scripted failure or the success answer.
	accept(res, rec, okStatus, okHeaders, okBody) {
		const s = this.scripts[0];
		if (s) {
			if (--s.count <= 0) this.scripts.shift();
			this.record(Object.assign(rec, { ok: true, scripted: true, status: s.status }));
			send(res, s.status, s.body, s.headers);
			return;
		}
		this.record(Object.assign(rec, { ok: true, status: okStatus }));
		send(res, okStatus, okBody, okHeaders);
	}

	// Routes control requests; returns true when it answered.
	control(req, res, body) {
		if (req.url === '/_records' && req.method === 'GET') {
			send(res, 200, this.records);
			return true;
		}
		if (req.url === '/_reset' && req.method === 'POST') {
			this.records = [];
			this.scripts = [];
			send(res, 200, {});
			return true;
		}
		if (req.url === '/_control' && req.method === 'POST') {
			const s = JSON.parse(body.toString() || '{}');
			this.scripts.push({
				status: s.status || 500,
				count: s.count || 1,
				headers: s.headers || {},
				body: s.body === undefined ? {} : s.body,
			});
			send(res, 200, {});
			return true;
		}
		return false;
	}

	// Starts the server; handler(req, res, body) for every other request.
	listen(handler, extra, h2) {
		const plain = this.opts.plain;
		const pem = plain ? null : fs.readFileSync(this.opts.cert);
		// HTTP/1.1 stays possible on HTTP/2 TLS servers for the control
		// endpoints; receivers that need HTTP/2 check req.httpVersion.
		const tls = { key: pem, cert: pem, allowHTTP1: true };
		const onRequest = (req, res) => {
			const chunks = [];
			req.on('data', (c) => chunks.push(c));
			req.on('end', () => {
				const body = Buffer.concat(chunks);
				try {
					if (!this.control(req, res, body)) handler(req, res, body);
				} catch (e) {
					this.refuse(res, 400, 'receiver error: ' + e.message);
				}
			});
		};
		let server;
		if (plain) server = h2 ? http2.createServer(onRequest) : http.createServer(onRequest);
		else server = h2 ? http2.createSecureServer(tls, onRequest) : https.createServer(tls, onRequest);
		this.scheme = plain ? 'http' : 'https';
		server.listen(Number(this.opts.port), '127.0.0.1', () => {
			const port = server.address().port;
			const info = Object.assign({ port, scheme: this.scheme }, extra ? extra(port) : {});
			process.stdout.write(JSON.stringify(info) + '\n');
		});
		process.on('SIGTERM', () => process.exit(0));
		return server;
	}
}

function send(res, status, body, headers) {
	const text = body === null || body === undefined ? '' : JSON.stringify(body);
	const h = Object.assign({ 'content-type': 'application/json' }, headers || {});
	res.writeHead(status, h);
	res.end(text);
}

// base64url without padding, strictly.
function b64u(buf) {
	return Buffer.from(buf).toString('base64url');
}
function unb64u(s) {
	if (typeof s !== 'string' || !/^[A-Za-z0-9_-]*$/.test(s)) throw new Error('not base64url');
	return Buffer.from(s, 'base64url');
}

// Splits and checks a compact JWS signed with key (a KeyObject), alg
// ES256 (raw r||s) or RS256. Returns {header, claims} or throws.
function verifyJwt(token, key, alg) {
	const crypto = require('crypto');
	const parts = String(token).split('.');
	if (parts.length !== 3) throw new Error('jwt: not three segments');
	const header = JSON.parse(unb64u(parts[0]).toString());
	const claims = JSON.parse(unb64u(parts[1]).toString());
	if (header.alg !== alg) throw new Error('jwt: alg ' + header.alg + ', expected ' + alg);
	const input = Buffer.from(parts[0] + '.' + parts[1]);
	const sig = unb64u(parts[2]);
	const ok = alg === 'ES256'
		? crypto.verify('sha256', input, { key, dsaEncoding: 'ieee-p1363' }, sig)
		: crypto.verify('sha256', input, key, sig);
	if (!ok) throw new Error('jwt: signature does not verify');
	return { header, claims };
}

module.exports = { parseArgs, Receiver, send, b64u, unb64u, verifyJwt };
