// jwt_node_check.js — an independent JWT implementation for test_jwt.c,
// built on Node's own crypto (no npm packages), to cross-check common/crypto/jwt.c.
//
//   node jwt_node_check.js mint ES256|RS256
//       makes a fresh key pair, prints a signed token on the first line and
//       the public key (SPKI PEM) after it
//   node jwt_node_check.js mint HS256 SECRET_FILE
//       prints a token signed with the secret in SECRET_FILE
//   node jwt_node_check.js verify TOKEN KEY_FILE
//       checks TOKEN's signature with KEY_FILE (public key PEM, or an HS256
//       secret file); prints the payload JSON and exits 0 if it verifies,
//       exits 1 if not
//
// Secret files as in jwt.h: optional "hs256:" prefix, raw bytes, one final
// newline dropped. ES256 signatures are raw r||s (dsaEncoding ieee-p1363).
'use strict';
const crypto = require('crypto');
const fs = require('fs');

function readSecret(path) {
	let s = fs.readFileSync(path);
	if (s.subarray(0, 6).toString() === 'hs256:') s = s.subarray(6);
	if (s.length && s[s.length - 1] === 0x0a) s = s.subarray(0, s.length - 1);
	if (s.length && s[s.length - 1] === 0x0d) s = s.subarray(0, s.length - 1);
	return s;
}

function sign(alg, input, key) {
	const data = Buffer.from(input);
	switch (alg) {
	case 'HS256':
		return crypto.createHmac('sha256', key).update(data).digest();
	case 'ES256':
		return crypto.sign('sha256', data,
		                   {key, dsaEncoding: 'ieee-p1363'});
	case 'RS256':
		return crypto.sign('sha256', data, key);
	}
	throw new Error('unsupported alg ' + alg);
}

function verify(alg, input, sig, keyFile) {
	const data = Buffer.from(input);
	switch (alg) {
	case 'HS256': {
		const mac = sign('HS256', input, readSecret(keyFile));
		return mac.length === sig.length &&
		       crypto.timingSafeEqual(mac, sig);
	}
	case 'ES256':
		return crypto.verify('sha256', data,
		                     {key: fs.readFileSync(keyFile),
		                      dsaEncoding: 'ieee-p1363'}, sig);
	case 'RS256':
		return crypto.verify('sha256', data, fs.readFileSync(keyFile),
		                     sig);
	}
	return false;
}

function b64(obj) {
	return Buffer.from(JSON.stringify(obj)).toString('base64url');
}

function mint(alg, secretFile) {
	let priv = null, pub = '';
	if (alg === 'HS256') {
		priv = readSecret(secretFile);
	} else {
		const kp = alg === 'ES256'
		    ? crypto.generateKeyPairSync('ec', {namedCurve: 'P-256'})
		    : crypto.generateKeyPairSync('rsa', {modulusLength: 2048});
		priv = kp.privateKey;
		pub = kp.publicKey.export({type: 'spki', format: 'pem'});
	}
	const now = Date.now() / 1000; // a float on purpose: iat, exp
	const header = {alg, typ: 'JWT', kid: 'node-1'};
	const payload = {
		iss: 'node', sub: 'node-user', azp: 'node-app',
		aud: ['other', 'uns'], iat: now, exp: now + 600,
		scp: 'Notifications.ReadWrite', roles: ['Admin'],
		uns_host: 'node.example.com', 'x-ignored': {nested: [1, 2]},
	};
	const input = b64(header) + '.' + b64(payload);
	const sig = sign(alg, input, priv).toString('base64url');
	process.stdout.write(input + '.' + sig + '\n' + pub);
}

function main(argv) {
	if (argv[0] === 'mint') {
		mint(argv[1], argv[2]);
		return 0;
	}
	if (argv[0] === 'verify') {
		const [h, p, s] = argv[1].split('.');
		const header = JSON.parse(Buffer.from(h, 'base64url'));
		const ok = verify(header.alg, h + '.' + p,
		                  Buffer.from(s, 'base64url'), argv[2]);
		if (ok) process.stdout.write(Buffer.from(p, 'base64url') + '\n');
		return ok ? 0 : 1;
	}
	process.stderr.write('usage: see the top of jwt_node_check.js\n');
	return 2;
}

process.exitCode = main(process.argv.slice(2));
