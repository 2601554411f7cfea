#!/bin/sh
# Fails when gen/ differs from what protoc-c and uns-genstubs make from proto/.
# usage: check_gen.sh PROTOC_C GENSTUBS SOURCE_DIR
set -eu
protoc_c=$1 genstubs=$2 src=$3
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
"$protoc_c" --proto_path="$src/proto" --c_out="$tmp" uns/v1/rpc.proto uns/v1/notifications.proto \
	uns/v1/fixture.proto
"$genstubs" "$tmp"
if ! diff -r "$src/gen" "$tmp" >"$tmp.diff" 2>&1; then
	echo "gen/ is stale: run 'cmake --build build --target gen' and commit gen/" >&2
	head -50 "$tmp.diff" >&2
	rm -f "$tmp.diff"
	exit 1
fi
rm -f "$tmp.diff"
echo "gen/ is fresh"
