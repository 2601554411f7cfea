#!/usr/bin/env bash
# test_failover.sh — a PostgreSQL primary killed under a Post load loses no
# acknowledged Post. tools/cluster.sh up --ha: etcd, three Patroni members
# in synchronous mode, two unsd nodes on the multi-host URL
# (target_session_attrs=read-write), NATS and a uns-gateway. Four unsctl
# loops post over RPC to both nodes and one curl loop through the gateway,
# each recording every answer; after a few seconds the leader's patroni and
# postmaster get kill -9. Then:
#   - every acknowledged Post is in its user's history (read through the
#     new primary), none lost;
#   - every failed Post failed cleanly: UNAVAILABLE over RPC, 503 with
#     Retry-After at the gateway; nothing else;
#   - Posts succeed again (prints the time from the kill to the first
#     Post that succeeded after it, and when Patroni promoted).
# Needs root (PostgreSQL and Patroni run as postgres), patroni, etcd,
# nats-server and PostgreSQL 15; exits 77 (CTest: skipped) saying what is
# missing. UNS_FAILOVER_KEEP=1 keeps the logs. Takes about a minute.
# usage: test_failover.sh BUILD_DIR SOURCE_DIR
set -euo pipefail
build=$(realpath "$1")
src=$(realpath "$2")
pgbin=${UNS_PG_BINDIR:-/usr/lib/postgresql/15/bin}

skip() {
	echo "failover: skipped: $*"
	exit 77
}
[ "$(id -u)" = 0 ] || skip "needs root (PostgreSQL and Patroni run as postgres)"
for p in patroni etcd nats-server jq curl; do
	command -v "$p" >/dev/null || skip "$p is missing (tools/setup.sh installs it)"
done
[ -x "$pgbin/initdb" ] || skip "PostgreSQL 15 is missing ($pgbin)"
id postgres >/dev/null 2>&1 || skip "no postgres user"

work=$(mktemp -d /tmp/uns-failover-XXXXXX)
chmod 755 "$work"
cl=$work/cluster
U=$build/unsctl
fail=0
bad() {
	echo "failover: FAIL: $*"
	fail=1
}
cleanup() {
	touch "$work/stop"
	wait 2>/dev/null || true
	if [ -f "$cl/cluster.env" ]; then
		"$src/tools/cluster.sh" down --dir "$cl" --keep >/dev/null 2>&1 || true
	fi
	if [ "${UNS_FAILOVER_KEEP:-0}" = 1 ] || [ $fail = 1 ]; then
		echo "failover: logs kept in $work"
	else
		rm -rf "$work"
	fi
}
trap cleanup EXIT

. "$src/tests/free_ports.sh"
port=$(free_port_range)
now_ms() { date +%s%3N; }

echo "failover: starting etcd, 3 Patroni members, NATS, 2 unsd nodes, a gateway"
t0=$(now_ms)
UNS_BUILD=$build "$src/tools/cluster.sh" up --ha --nodes 2 --dir "$cl" --port "$port" \
	--set rate_limit_user=0 --set rate_limit_app=0 >"$work/up.log" 2>&1 || {
	cat "$work/up.log"
	bad "cluster.sh up --ha failed"
	exit 1
}
echo "failover: up in $(($(now_ms) - t0)) ms"
# shellcheck disable=SC1091
. "$cl/cluster.env"
export UNS_CA=$CA
APP=$("$U" token app --app demo --secret-file "$SECRET")

# One user and device per loop: 1-4 over RPC (odd to node 1, even to
# node 2), 5 through the gateway.
for k in 1 2 3 4 5; do
	tok=$("$U" token user --sub "load$k" --host demo.example --secret-file "$SECRET")
	echo "$tok" >"$work/user$k"
	UNS_URL=$NODE1_URL "$U" subscribe --token "$tok" --device "d$k" --platform polling |
		cut -d' ' -f1 >"$work/unsid$k"
done

rpc_loop() {
	local k=$1 url=$2 i=0 a b out unsid
	unsid=$(cat "$work/unsid$k")
	while [ ! -f "$work/stop" ]; do
		i=$((i + 1))
		a=$(now_ms)
		if out=$(UNS_URL=$url "$U" post --token "$APP" --unsid "$unsid" \
			--app-id "r$k-$i" --title "load $k $i" 2>&1); then
			echo "$a $(now_ms) ok $(echo "$out" | cut -d' ' -f2)"
		else
			b=$(now_ms)
			echo "$a $b fail $(echo "$out" | head -1)"
			sleep 0.05
		fi
	done >"$work/load$k"
}

gw_loop() {
	local k=5 i=0 a code hdr unsid
	unsid=$(cat "$work/unsid$k")
	while [ ! -f "$work/stop" ]; do
		i=$((i + 1))
		a=$(now_ms)
		code=$(curl -s --cacert "$CA" -o "$work/gw.body" -D "$work/gw.hdr" \
			-w '%{http_code}' -H 'Content-Type: application/json' \
			-H "Authorization: Bearer $APP" -H "X-UNS-ID: $unsid" \
			-d "{\"appNotificationId\":\"g-$i\",\"payload\":{\"visualContent\":{\"title\":\"gw $i\"}}}" \
			"$GATEWAY_URL/v1.0/me/notifications" || true)
		case $code in
		201) echo "$a $(now_ms) ok $(jq -r .id "$work/gw.body")" ;;
		*)
			hdr=$(tr -d '\r' <"$work/gw.hdr" | sed -n 's/^[Rr]etry-[Aa]fter: //p')
			echo "$a $(now_ms) fail http=$code retry-after=${hdr:-none}"
			sleep 0.05
			;;
		esac
	done >"$work/load5"
}

rpc_loop 1 "$NODE1_URL" &
rpc_loop 2 "$NODE2_URL" &
rpc_loop 3 "$NODE1_URL" &
rpc_loop 4 "$NODE2_URL" &
gw_loop &
sleep 6

# The leader: its REST port says which member (P+10+i), its postmaster.pid
# which postmaster.
leader=
for i in 1 2 3; do
	if curl -sf -o /dev/null "http://127.0.0.1:$((port + 10 + i))/primary"; then leader=$i; fi
done
[ -n "$leader" ] || {
	bad "no Patroni leader"
	exit 1
}
ppid=$(cat "$cl/pids/patroni$leader")
pmpid=$(head -1 "$cl/patroni/pg$leader/postmaster.pid")
kill_ms=$(now_ms)
kill -9 "$ppid" "$pmpid"
echo "failover: kill -9 of pg$leader's patroni ($ppid) and postmaster ($pmpid) under load"

# Patroni's new leader, then Posts again.
promoted_ms=
for _ in $(seq 1 300); do
	for i in 1 2 3; do
		[ "$i" = "$leader" ] && continue
		if curl -sf -o /dev/null "http://127.0.0.1:$((port + 10 + i))/primary"; then
			promoted_ms=$(now_ms)
			newleader=$i
			break 2
		fi
	done
	sleep 0.2
done
[ -n "$promoted_ms" ] || bad "no member was promoted within 60 s"
sleep 6
touch "$work/stop"
wait

# The verdict. Each load file: start_ms end_ms ok ID | fail WHY.
acked=0 failed=0 unclean=0 lost=0 back_ms=
for k in 1 2 3 4 5; do
	f=$work/load$k
	acked=$((acked + $(grep -c ' ok ' "$f" || true)))
	failed=$((failed + $(grep -c ' fail ' "$f" || true)))
	if [ "$k" = 5 ]; then
		n=$(grep ' fail ' "$f" | grep -vc 'http=503 retry-after=1$' || true)
	else
		n=$(grep ' fail ' "$f" | grep -vc 'UNAVAILABLE' || true)
	fi
	if [ "$n" -gt 0 ]; then
		unclean=$((unclean + n))
		grep ' fail ' "$f" | grep -v 'UNAVAILABLE\|http=503 retry-after=1$' | head -3
	fi
	# The first Post started after the kill that succeeded.
	b=$(awk -v k="$kill_ms" '$1 > k && $3 == "ok" {print $2; exit}' "$f")
	if [ -n "$b" ] && { [ -z "$back_ms" ] || [ "$b" -lt "$back_ms" ]; }; then back_ms=$b; fi
	# Every acknowledged id is in the user's history.
	if ! UNS_URL=$NODE2_URL "$U" history --token "$(cat "$work/user$k")" \
		--all --json >"$work/history$k" 2>&1; then
		bad "the history of load$k cannot be read: $(head -1 "$work/history$k")"
	fi
	jq -r '.notifications[]?.id' "$work/history$k" 2>/dev/null | sort >"$work/have$k" || true
	awk '$3 == "ok" {print $4}' "$f" | sort >"$work/acked$k"
	missing=$(comm -23 "$work/acked$k" "$work/have$k" | wc -l)
	lost=$((lost + missing))
done
echo "failover: $acked Posts acknowledged, $failed failed ($unclean not cleanly), $lost acknowledged Posts missing"
echo "failover: Patroni promoted pg${newleader:-?} $((${promoted_ms:-$kill_ms} - kill_ms)) ms after the kill"
if [ -n "$back_ms" ]; then
	echo "failover: Posts succeed again $((back_ms - kill_ms)) ms after the kill ($((back_ms - ${promoted_ms:-$kill_ms})) ms after the promotion)"
else
	bad "no Post succeeded after the kill"
fi
patronictl -c "$cl/patroni/pg1.yml" list 2>/dev/null | sed 's/^/failover: /' || true
[ "$acked" -gt 0 ] || bad "no Post was acknowledged"
[ "$failed" -gt 0 ] || echo "failover: note: no Post failed (the kill fell between writes)"
[ "$unclean" = 0 ] || bad "$unclean Posts failed with something else than UNAVAILABLE / 503 + Retry-After"
[ "$lost" = 0 ] || bad "$lost acknowledged Posts are missing"
if [ $fail = 0 ]; then
	echo "1 passed, 0 failed"
else
	echo "0 passed, 1 failed"
fi
exit $fail
