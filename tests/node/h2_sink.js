// h2_sink.js — an HTTP/2 sink (TLS, ALPN h2) for benchmarking the
// delivery engine against a provider that multiplexes:
//   node tests/node/h2_sink.js --cert DIR/server.pem     (prints its port)
//   uns-bench taps --receiver https://localhost:PORT --ca DIR/ca.pem
// Answers every POST with 204 once its body is read; checks nothing (the
// reference receivers next to it do the checking). Node's http2 only.
'use strict';
const fs = require('fs');
const http2 = require('http2');

const i = process.argv.indexOf('--cert');
if (i < 0 || !process.argv[i + 1]) {
	console.error('usage: node h2_sink.js --cert PEM [--port N]');
	process.exit(2);
}
const pem = fs.readFileSync(process.argv[i + 1]);
const p = process.argv.indexOf('--port');
const server = http2.createSecureServer({ key: pem, cert: pem, settings: { maxConcurrentStreams: 1000 } });
server.on('stream', (stream) => {
	stream.on('data', () => {});
	stream.on('end', () => stream.respond({ ':status': 204 }, { endStream: true }));
	stream.on('error', () => {});
});
server.listen(p > 0 ? Number(process.argv[p + 1]) : 0, '127.0.0.1', () => {
	console.log(server.address().port);
});
