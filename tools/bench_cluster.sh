#!/usr/bin/env bash
# bench_cluster.sh — wake-ups across nodes: one throwaway PostgreSQL 15
# cluster (fsync on, a Unix socket in a temporary folder), one nats-server
# on loopback, and three unsd on the same database: A and B with nats_url,
# C without (a single node, the baseline). uns-bench wake then times a Post
# waking a long poll, one try at a time:
#   1. post on A, poll on B           (the cross-node wake, through NATS)
#   2. post on A, poll on A           (one node of the cluster: B gets a
#                                      hint that wakes nothing)
#   3. post on C, poll on C           (one node, no NATS)
# and reports wake latency p50/p99 and CPU µs per try of A, B, C,
# nats-server and every postgres process. Everything is stopped and
# removed at the end. Short by default (the machine is shared).
#
# usage: tools/bench_cluster.sh BUILD_DIR [TRIES]
set -euo pipefail

build=$(cd "${1:?usage: bench_cluster.sh BUILD_DIR [TRIES]}" && pwd)
tries=${2:-300}
nats=${UNS_NATS_SERVER:-$(command -v nats-server || echo /usr/sbin/nats-server)}
. "$(dirname "$0")/bench_pg.sh"

dir=$(mktemp -d /tmp/uns-clbench.XXXXXX)
pids=()
cleanup() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
	bench_pg_down "$dir"
	rm -rf "$dir"
}
trap cleanup EXIT
bench_pg_up "$dir"
url=$bench_pg_url

# Waits for TEXT in FILE; prints the number after "(port " or after the
# last ":" of that line.
wait_line() {
	local file=$1 text=$2 line
	for _ in $(seq 600); do
		line=$(grep -m1 -F "$text" "$file" 2>/dev/null || true)
		if [ -n "$line" ]; then
			case $line in
			*"(port "*) line=${line##*(port }; echo "${line%%)*}" ;;
			*) echo "${line##*:}" ;;
			esac
			return 0
		fi
		sleep 0.1
	done
	echo "bench_cluster: no \"$text\" in $file" >&2
	cat "$file" >&2
	return 1
}

"$nats" -a 127.0.0.1 -p -1 2>"$dir/nats.log" &
pids+=($!)
nats_pid=$!
nats_port=$(wait_line "$dir/nats.log" "Listening for client connections on")

secret=$(od -An -tx1 -N32 /dev/urandom | tr -d ' \n')
start_node() { # NAME NATS_URL
	local d="$dir/$1"
	mkdir -m 700 "$d"
	echo "$secret" >"$d/jwt-hs256.secret"
	echo "bench-app bench.example.com -" >"$d/apps.conf"
	chmod 600 "$d/jwt-hs256.secret" "$d/apps.conf"
	"$build/unsd" --data "$d" --listen tcp://127.0.0.1:0 --gateway-listen "" \
		--set store=postgres --set "postgres_url=$url" \
		--set postgres_schema=clbench --set "nats_url=$2" \
		--set rate_limit_user=0 --set rate_limit_app=0 2>"$dir/$1.log" &
	pids+=($!)
	eval "pid_$1=$!"
	eval "port_$1=$(wait_line "$dir/$1.log" "unsd: serving")"
}
start_node A "nats://127.0.0.1:$nats_port"
start_node B "nats://127.0.0.1:$nats_port"
start_node C ""

export UNS_BENCH_USER_TOKEN UNS_BENCH_APP_TOKEN
UNS_BENCH_USER_TOKEN=$("$build/unsctl" token user --sub bench-user \
	--host bench.example.com --secret-file "$dir/A/jwt-hs256.secret")
UNS_BENCH_APP_TOKEN=$("$build/unsctl" token app --app bench-app \
	--secret-file "$dir/A/jwt-hs256.secret")

hz=$(getconf CLK_TCK)
all="A=$pid_A,B=$pid_B,C=$pid_C,nats=$nats_pid"

bench() { # POST WAIT LABEL
	local t0 t1
	t0=$(bench_pg_ticks "$dir")
	"$build/uns-bench" wake --post "tcp://127.0.0.1:$1" \
		--wait "tcp://127.0.0.1:$2" --tries "$tries" --pids "$all" \
		--label "$3"
	t1=$(bench_pg_ticks "$dir")
	awk -v t=$((t1 - t0)) -v hz="$hz" -v n="$tries" \
		'BEGIN { printf "  postgres CPU per try: %.0f us\n", t * 1e6 / hz / n }'
}

echo "== bench_cluster: $tries tries each, PostgreSQL 15 (fsync on), nats-server $("$nats" --version 2>&1 | awk '{print $NF}')"
bench "$port_A" "$port_B" "two nodes: post on A, long poll on B"
bench "$port_A" "$port_A" "one node of the cluster: post and poll on A"
bench "$port_C" "$port_C" "one node, no NATS: post and poll on C"
for n in A B; do
	grep -q "nats: connected" "$dir/$n.log" || echo "bench_cluster: $n never connected to NATS" >&2
done
