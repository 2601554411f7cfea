#!/bin/bash
# bench_gateway.sh — the REST gateway's throughput and latency as a ratio
# of the direct RPC rate measured in the same run.
#
#   tools/bench_gateway.sh [BUILD_DIR]      (default build)
#
# For each gateway mode (embedded in unsd over HTTPS, the same with the
# rate limits on but too high to refuse anything, so every request pays
# for identifying its caller, embedded over HTTP, and the standalone
# uns-gateway over HTTPS when it is built) it starts a fresh server with
# rate limits off (but in the limits mode), registers an app, gets its token from
# POST /oauth2/v2.0/token, subscribes users through the gateway, and runs
# wrk with keep-alive connections against
#   POST /beta/me/notifications  (app token, X-UNS-ID, a new
#                                 appNotificationId each time: a create)
#   GET  /beta/me/notifications/delta  (a user with 20 notifications,
#                                 every answer 20 entries)
# The baseline is `uns-bench post` / `uns-bench fetch` over TLS at
# the same number of calls in flight, run right before each gateway run
# (a server of its own; the gateway's server idles meanwhile). Prints a markdown
# table (BENCHMARKS.md keeps the figures). Not a test: CI never runs it.
#
# The last three columns are CPU time per request: the servers' (unsd, plus
# uns-gateway when standalone; utime+stime from /proc over the wrk run),
# wrk's own (the load generator shares the two cores), and the baseline's
# server and client (`uns-bench` prints both). They are the robust
# figures on a shared machine, where calls/s drift, and they bound the
# ratio: on saturated cores it can be at most
# (RPC server + client) / (gateway servers + wrk).
#
# Environment: SECONDS_PER_RUN (10), CONNECTIONS (64), WRK_THREADS (2),
# PORT_BASE (19000), MODES (default: https limits http standalone),
# GATEWAY_CONF (extra lines for the servers' configuration file, which
# uns-gateway reads too).
# Needs wrk (Debian package wrk) and curl.
set -euo pipefail

BUILD=${1:-build}
DUR=${SECONDS_PER_RUN:-10}
CONNS=${CONNECTIONS:-64}
WT=${WRK_THREADS:-2}
PORT_BASE=${PORT_BASE:-19000}
HOST=bench.example.com
APP=bench-app
APP_SECRET=bench-secret-0123456789

for tool in wrk curl; do
	command -v "$tool" >/dev/null || {
		echo "bench_gateway: $tool is not installed (apt-get install $tool)" >&2
		exit 2
	}
done
[ -x "$BUILD/unsd" ] && [ -x "$BUILD/unsctl" ] && [ -x "$BUILD/uns-bench" ] || {
	echo "bench_gateway: build $BUILD first" >&2
	exit 2
}

WORK=$(mktemp -d /tmp/uns-bench-gw-XXXXXX)
PIDS=()
cleanup() {
	for p in "${PIDS[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
	rm -rf "$WORK"
}
trap cleanup EXIT

# ---- baseline: direct RPC over TLS, same calls in flight ----------------
# `uns-bench` prints "  post  N calls/s  p50 X us  p99 Y us" per level;
# take the 64-in-flight block (2 threads x 32).
rpc_line() { # method
	local extra=()
	# The gateway's delta answers 20 entries; so must the baseline's Fetch.
	[ "$1" = fetch ] && extra=(--entries 20)
	"$BUILD/uns-bench" "$1" --transports tls --rounds 1 "${extra[@]}" \
		--seconds "$DUR" --threads 2 --inflight $((CONNS / 2)) 2>&1 |
		awk -v m="$1" '/in flight/ {lvl=$1}
			$1==m && $3=="calls/s" && lvl=='"$CONNS"' {
				s = c = "-"
				if (match($0, /server CPU [0-9.]+/)) s = substr($0, RSTART + 11, RLENGTH - 11)
				if (match($0, /client CPU [0-9.]+/)) c = substr($0, RSTART + 11, RLENGTH - 11)
				print $2, $5, $8, s, c
			}'
}

# ---- a server with the gateway -------------------------------------------
start_server() { # mode: https | limits | http | standalone
	local mode=$1 data="$WORK/$1"
	local rpc_port=$((PORT_BASE + 1)) gw_port=$((PORT_BASE + 2))
	PORT_BASE=$((PORT_BASE + 10))
	mkdir -p "$data"
	"$BUILD/unsctl" token keygen --hs256 --out "$data" >/dev/null
	"$BUILD/unsctl" app add --data "$data" --id "$APP" --hosts "$HOST" \
		--secret "$APP_SECRET" >/dev/null
	# Listen on 127.0.0.1; dial "localhost", the dev certificate's name.
	local scheme=https
	[ "$mode" = http ] && scheme=http
	local gw_listen="$scheme://127.0.0.1:$gw_port"
	local embedded=$gw_listen
	[ "$mode" = standalone ] && embedded=""
	local rate=0
	[ "$mode" = limits ] && rate=1000000
	cat >"$data/unsd.conf" <<CONF
data_dir = $data
listen = tls+tcp://127.0.0.1:$rpc_port
gateway_listen = "$embedded"
rate_limit_app = $rate
rate_limit_app_burst = $rate
rate_limit_user = $rate
rate_limit_user_burst = $rate
max_live_per_user = 10000000
${GATEWAY_CONF:-}
CONF
	"$BUILD/unsd" --config "$data/unsd.conf" 2>"$data/unsd.log" &
	PIDS+=($!)
	wait_port "$rpc_port"
	if [ "$mode" = standalone ]; then
		"$BUILD/uns-gateway" --config "$data/unsd.conf" --listen "$gw_listen" \
			--rpc "tls+tcp://localhost:$rpc_port" \
			--ca "$data/tls/ca.pem" --cert "$data/tls/server.pem" \
			2>"$data/gateway.log" &
		PIDS+=($!)
	fi
	wait_port "$gw_port"
	GW="$scheme://localhost:$gw_port"
	CA="$data/tls/ca.pem"
	DATA=$data
}

wait_port() {
	for _ in $(seq 100); do
		(exec 3<>/dev/tcp/127.0.0.1/"$1") 2>/dev/null && return 0
		sleep 0.1
	done
	echo "bench_gateway: nothing listens on port $1" >&2
	exit 1
}

gw_curl() { curl -sS --cacert "$CA" "$@"; }

json_field() { # field: reads JSON on stdin
	sed -n 's/.*"'"$1"'":"\([^"]*\)".*/\1/p'
}

prepare() {
	APP_TOKEN=$(gw_curl -X POST "$GW/oauth2/v2.0/token" \
		-d grant_type=client_credentials -d "client_id=$APP" \
		-d "client_secret=$APP_SECRET" | json_field access_token)
	[ -n "$APP_TOKEN" ] || { echo "bench_gateway: no app token" >&2; exit 1; }
	UNSIDS=()
	for u in 1 2 3 4 5 6 7 8; do
		local tok
		tok=$("$BUILD/unsctl" token user --sub "bench-user-$u" \
			--host "$HOST" --secret-file "$DATA/jwt-hs256.secret")
		UNSIDS+=("$(gw_curl -X POST "$GW/beta/me/notifications/subscriptions" \
			-H "Authorization: Bearer $tok" -H 'Content-Type: application/json' \
			-d '{"deviceId":"bench","platform":"polling"}' | json_field id)")
	done
	READER=$("$BUILD/unsctl" token user --sub bench-reader --host "$HOST" \
		--secret-file "$DATA/jwt-hs256.secret")
	local rid
	rid=$(gw_curl -X POST "$GW/beta/me/notifications/subscriptions" \
		-H "Authorization: Bearer $READER" -H 'Content-Type: application/json' \
		-d '{"deviceId":"bench","platform":"polling"}' | json_field id)
	for i in $(seq 20); do
		gw_curl -o /dev/null -X POST "$GW/beta/me/notifications" \
			-H "Authorization: Bearer $APP_TOKEN" -H "X-UNS-ID: $rid" \
			-H 'Content-Type: application/json' \
			-d '{"appNotificationId":"r-'"$i"'","payload":{"visualContent":{"title":"bench"}}}'
	done
}

write_lua() {
	local ids
	ids=$(printf '"%s",' "${UNSIDS[@]}")
	cat >"$WORK/post.lua" <<LUA
local ids = {${ids%,}}
local n = 0
local run = tostring(os.time())
function setup(thread) thread:set("tid", math.random(1, 1e9)) end
function request()
  n = n + 1
  local body = string.format(
    '{"appNotificationId":"b-%s-%d-%d","payload":{"visualContent":{"title":"bench"}}}',
    run, tid, n)
  local h = {["Authorization"] = "Bearer $APP_TOKEN",
             ["Content-Type"] = "application/json",
             ["X-UNS-ID"] = ids[(n % #ids) + 1]}
  return wrk.format("POST", "/beta/me/notifications", h, body)
end
LUA
	cat >"$WORK/delta.lua" <<LUA
wrk.method = "GET"
wrk.path = "/beta/me/notifications/delta"
wrk.headers["Authorization"] = "Bearer $READER"
LUA
}

# CPU time (clock ticks) the server processes have used so far.
cpu_ticks() {
	local t=0 p
	for p in "${PIDS[@]}"; do
		t=$((t + $(awk '{print $14 + $15}' "/proc/$p/stat")))
	done
	echo "$t"
}

# "req/s p50 p99 non2xx cpu_us_per_request" from wrk --latency output.
run_wrk() { # lua
	local before after
	before=$(cpu_ticks)
	/usr/bin/time -f '%U %S' -o "$WORK/wrk.time" \
		wrk -t"$WT" -c"$CONNS" -d"${DUR}s" --latency -s "$1" "$GW" >"$WORK/wrk.out" 2>&1
	after=$(cpu_ticks)
	read -r wu ws <"$WORK/wrk.time"
	awk -v ticks=$((after - before)) -v hz="$(getconf CLK_TCK)" \
		-v wrk_s="$(awk -v u="$wu" -v s="$ws" 'BEGIN {print u + s}')" '
		/Requests\/sec/ {rps=$2} $1=="50%" {p50=$2} $1=="99%" {p99=$2}
		$2=="requests" && $3=="in" {n=$1} /Non-2xx/ {bad=$NF}
		END {printf "%s %s %s %d %.0f %.0f\n", rps, p50, p99, bad+0,
		     n ? ticks * 1e6 / hz / n : 0, n ? wrk_s * 1e6 / n : 0}' "$WORK/wrk.out"
}

row() { # mode op gw_line rpc_line
	read -r rps p50 p99 bad cpu wcpu <<<"$3"
	read -r rrps rp50 rp99 rsrv rcli <<<"$4"
	ratio=$(awk -v a="$rps" -v b="$rrps" 'BEGIN {printf "%.2f", a / b}')
	printf '| %s | %s | %s | %s / %s | %s | %s / %s µs | **%s** | %s | %s | %s | %s + %s |\n' \
		"$1" "$2" "$rps" "$p50" "$p99" "$rrps" "$rp50" "$rp99" "$ratio" "$bad" \
		"$cpu" "$wcpu" "$rsrv" "$rcli"
}

echo "| gateway | request | gateway req/s | gateway p50 / p99 | RPC calls/s | RPC p50 / p99 | ratio | non-2xx | server CPU µs/req | wrk CPU µs/req | RPC server + client CPU µs/call |"
echo "|---|---|---|---|---|---|---|---|---|---|---|"
if [ -n "${MODES:-}" ]; then
	read -r -a modes <<<"$MODES"
else
	modes=(https limits http)
	[ -x "$BUILD/uns-gateway" ] && modes+=(standalone)
fi
for mode in "${modes[@]}"; do
	echo "mode $mode" >&2
	start_server "$mode"
	prepare
	write_lua
	# Each gateway run right after its baseline, so both see the same
	# machine (the load of other work on it drifts over minutes).
	rpc=$(rpc_line post)
	row "$mode" "POST create" "$(run_wrk "$WORK/post.lua")" "$rpc"
	rpc=$(rpc_line fetch)
	row "$mode" "GET delta (20)" "$(run_wrk "$WORK/delta.lua")" "$rpc"
	for p in "${PIDS[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
	PIDS=()
done
