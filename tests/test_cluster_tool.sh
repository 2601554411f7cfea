#!/usr/bin/env bash
# test_cluster_tool.sh — tools/cluster.sh as a person would use it, plain mode:
# up (one PostgreSQL, NATS, two unsd nodes, a gateway), status (every
# process running, each node SERVING, the gateway's healthz 200), a
# subscription made through node 1 used by a Post through node 2 and seen
# in the history through node 1 (one database behind both), then down:
# every process it started gone and its folder removed.
# Needs PostgreSQL 15 and nats-server; exits 77 (CTest: skipped) saying
# which is missing.
# usage: test_cluster_tool.sh BUILD_DIR SOURCE_DIR
set -euo pipefail
build=$(realpath "$1")
src=$(realpath "$2")
pgbin=${UNS_PG_BINDIR:-/usr/lib/postgresql/15/bin}
U=$build/unsctl

skip() {
	echo "cluster: skipped: $*"
	exit 77
}
command -v nats-server >/dev/null || skip "nats-server is missing (tools/setup.sh installs it)"
[ -x "$pgbin/initdb" ] || skip "PostgreSQL 15 is missing ($pgbin)"
if [ "$(id -u)" = 0 ]; then
	id postgres >/dev/null 2>&1 || skip "running as root without a postgres user"
fi

work=$(mktemp -d /tmp/uns-cluster-test-XXXXXX)
chmod 755 "$work"
cl=$work/cluster
fail=0
bad() {
	echo "cluster: FAIL: $*"
	fail=1
}
cleanup() {
	if [ -f "$cl/cluster.env" ]; then
		"$src/tools/cluster.sh" down --dir "$cl" >/dev/null 2>&1 || true
	fi
	rm -rf "$work"
}
trap cleanup EXIT

. "$src/tests/free_ports.sh"
port=$(free_port_range)

export UNS_BUILD=$build
"$src/tools/cluster.sh" up --nodes 2 --dir "$cl" --port "$port" >"$work/up.log" 2>&1 || {
	cat "$work/up.log"
	bad "up failed"
	exit 1
}
cat "$work/up.log"
for want in "unsd 1:" "unsd 2:" "gateway:" "PostgreSQL:" "NATS:" "try:"; do
	grep -q "$want" "$work/up.log" || bad "up did not print \"$want\""
done

"$src/tools/cluster.sh" status --dir "$cl" >"$work/status.log" 2>&1 || bad "status failed"
cat "$work/status.log"
for want in "unsd 1: SERVING" "unsd 2: SERVING" "gateway: healthz 200"; do
	grep -q "$want" "$work/status.log" || bad "status did not say \"$want\""
done
if grep -q "NOT running" "$work/status.log"; then bad "status: a process is not running"; fi

# One database behind both nodes.
# shellcheck disable=SC1091
. "$cl/cluster.env"
export UNS_CA=$CA
for i in 1 2; do
	url_var=NODE${i}_URL
	UNS_URL=${!url_var} "$U" health | grep -q SERVING || bad "node $i is not SERVING"
done
user=$("$U" token user --sub alice --host demo.example --secret-file "$SECRET")
app=$("$U" token app --app demo --secret-file "$SECRET")
unsid=$(UNS_URL=$NODE1_URL "$U" subscribe --token "$user" --device phone \
	--platform polling | cut -d' ' -f1)
id=$(UNS_URL=$NODE2_URL "$U" post --token "$app" --unsid "$unsid" \
	--app-id c1 --title "through node 2" | cut -d' ' -f2)
UNS_URL=$NODE1_URL "$U" history --token "$user" | grep -qF -- "$id" ||
	bad "the Post through node 2 ($id) is not in the history through node 1"

pids=$(cat "$cl"/pids/*)
"$src/tools/cluster.sh" down --dir "$cl" || bad "down failed"
for p in $pids; do
	if kill -0 "$p" 2>/dev/null; then
		bad "pid $p ($(ps -o comm= -p "$p")) still runs after down"
	fi
done
[ ! -e "$cl" ] || bad "down left $cl"

if [ $fail = 0 ]; then
	echo "1 passed, 0 failed"
else
	echo "0 passed, 1 failed"
fi
exit $fail
