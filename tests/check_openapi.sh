#!/bin/sh
# check_openapi.sh — docs/openapi.json against Redocly's recommended rules
# (docs/redocly.yaml), with tests/node's @redocly/cli (npm ci there first,
# as tools/setup.sh does). An error or a warning fails the test; the
# route table itself is checked against the document by
# test_gateway_openapi.
# usage: check_openapi.sh SOURCE_DIR
set -eu
cd "$1"
cli=tests/node/node_modules/.bin/redocly
if [ ! -x "$cli" ]; then
	echo "openapi: $cli missing: run (cd tests/node && npm ci)"
	exit 1
fi
out=$(REDOCLY_TELEMETRY=off REDOCLY_SUPPRESS_UPDATE_NOTICE=true \
	"$cli" lint --config docs/redocly.yaml --format=stylish \
	--max-problems 1000 docs/openapi.json 2>&1) || {
	echo "$out"
	exit 1
}
if echo "$out" | grep -Eq '(error|warning) +[a-z0-9-]+ '; then
	echo "$out"
	echo "openapi: warnings count as failures"
	exit 1
fi
echo "openapi: docs/openapi.json passes the recommended rules"
