#!/usr/bin/env bash
# cluster.sh — a UNS cluster on this machine, on loopback, in one command.
#
#   tools/cluster.sh up [--ha] [--nodes N] [--dir DIR] [--port P] [--set K=V]...
#   tools/cluster.sh status [--dir DIR]
#   tools/cluster.sh down [--dir DIR] [--keep]
#
# up starts PostgreSQL (one plain server; with --ha etcd and three Patroni
# members in synchronous mode instead), nats-server, N unsd nodes (2 or 3,
# default 2) sharing that database, and one uns-gateway in front of the
# first node; then prints the URLs and a ready-to-paste unsctl line.
# status says what runs (and asks each node for its health); down stops
# everything it started and removes DIR (--keep keeps the logs).
#
# Everything lives in DIR (default /tmp/uns-cluster): a folder per part,
# its log, and pids/ with one pid file per process; DIR/cluster.env holds
# the URLs. Ports are P (default 7500) and up:
#   P      PostgreSQL (plain)      P+1..3   Patroni's PostgreSQL members
#   P+4,5  etcd client, peer       P+6      NATS
#   P+11..13 Patroni REST APIs     P+21..23 unsd RPC (tls+tcp)
#   P+30   uns-gateway (https)
# PostgreSQL and Patroni run as the postgres user when started by root.
# The nodes share one TLS CA, one token secret, the push keys (webhook
# signing, VAPID) and one apps.conf (an app
# "demo" for host demo.example is registered), all made by the first node
# or unsctl in DIR. --set K=V is passed to every unsd (`unsd --set`).
# Programs come from UNS_BUILD (default build/ in the source tree).
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
build=${UNS_BUILD:-$root/build}
pgbin=${UNS_PG_BINDIR:-/usr/lib/postgresql/15/bin}
dir=${UNS_CLUSTER_DIR:-/tmp/uns-cluster}
port=7500
nodes=2
ha=0
keep=0
sets=()

usage() {
	sed -n '4,6p' "$0" | sed 's/^# *//' >&2
	exit 2
}

cmd=${1:-}
[ -n "$cmd" ] || usage
shift
while [ $# -gt 0 ]; do
	case $1 in
	--ha) ha=1 ;;
	--nodes)
		nodes=${2:-}
		shift
		;;
	--dir)
		dir=${2:-}
		shift
		;;
	--port)
		port=${2:-}
		shift
		;;
	--set)
		sets+=(--set "${2:-}")
		shift
		;;
	--keep) keep=1 ;;
	*)
		echo "cluster: unknown option $1" >&2
		usage
		;;
	esac
	shift
done
case $nodes in 2 | 3) ;; *)
	echo "cluster: --nodes takes 2 or 3" >&2
	exit 2
	;;
esac
case $port in '' | *[!0-9]*)
	echo "cluster: --port takes a number" >&2
	exit 2
	;;
esac
[ -n "$dir" ] || usage
dir=$(realpath -m "$dir")

say() { echo "cluster: $*"; }
die() {
	echo "cluster: $*" >&2
	exit 1
}

# A command prefix that runs as the postgres user when we are root
# (PostgreSQL refuses root); setpriv and env exec, so a background
# command's $! is its own pid.
as_pg=()
if [ "$(id -u)" = 0 ]; then
	as_pg=(setpriv --reuid=postgres --regid=postgres --init-groups env HOME=/tmp)
fi

# start NAME LOG CMD...: a daemon in its own session, its pid in pids/NAME.
start() {
	local name=$1 log=$2
	shift 2
	setsid "$@" >>"$log" 2>&1 </dev/null &
	echo $! >"$dir/pids/$name"
}

alive() { [ -f "$dir/pids/$1" ] && kill -0 "$(cat "$dir/pids/$1")" 2>/dev/null; }

# wait_for SECONDS WHAT CMD...: polls CMD every 0.2 s.
wait_for() {
	local secs=$1 what=$2 i
	shift 2
	for ((i = 0; i < secs * 5; i++)); do
		if "$@" >/dev/null 2>&1; then
			return 0
		fi
		sleep 0.2
	done
	die "$what did not come up within ${secs}s (logs in $dir)"
}

# No socket of any state on the port (an outgoing connection's local
# port blocks a listener too).
port_free() { ! ss -Htan "sport = :$1" | grep -q .; }

# The PostgreSQL member that Patroni has made primary, by its REST port.
leader_rest() {
	local i
	for i in 1 2 3; do
		if curl -sf -o /dev/null "http://127.0.0.1:$((port + 10 + i))/primary"; then
			echo $((port + 10 + i))
			return 0
		fi
	done
	return 1
}

need() {
	command -v "$1" >/dev/null 2>&1 || [ -x "$1" ] || die "$1 is missing ($2)"
}

pg_plain_up() {
	mkdir -p "$dir/pg"
	chown postgres: "$dir/pg" 2>/dev/null || true
	"${as_pg[@]}" "$pgbin/initdb" -D "$dir/pg/data" -A trust -U postgres -E UTF8 \
		--locale=C.UTF-8 --no-sync >"$dir/pg/initdb.log" 2>&1 ||
		die "initdb failed: $dir/pg/initdb.log"
	"${as_pg[@]}" "$pgbin/pg_ctl" -D "$dir/pg/data" -l "$dir/pg/log" -w -t 60 \
		-o "-k $dir/pg -c listen_addresses=127.0.0.1 -p $port" start >/dev/null ||
		die "PostgreSQL did not start: $dir/pg/log"
	head -1 "$dir/pg/data/postmaster.pid" >"$dir/pids/postgres"
	url="host=127.0.0.1 port=$port user=postgres dbname=postgres"
}

patroni_conf() {
	local i=$1 pgp=$((port + $1)) rest=$((port + 10 + $1))
	cat <<EOF
scope: uns
name: pg$i
restapi:
  listen: 127.0.0.1:$rest
  connect_address: 127.0.0.1:$rest
etcd3:
  hosts: 127.0.0.1:$((port + 4))
bootstrap:
  dcs:
    ttl: 10
    loop_wait: 2
    retry_timeout: 5
    synchronous_mode: true
    postgresql:
      use_pg_rewind: true
      parameters:
        wal_log_hints: 'on'
        max_connections: 100
  initdb:
    - encoding: UTF8
    - locale: C.UTF-8
  pg_hba:
    - local all all trust
    - host replication replicator 127.0.0.1/32 trust
    - host all all 127.0.0.1/32 trust
postgresql:
  listen: 127.0.0.1:$pgp
  connect_address: 127.0.0.1:$pgp
  data_dir: $dir/patroni/pg$i
  bin_dir: $pgbin
  pgpass: $dir/patroni/pgpass$i
  authentication:
    replication: {username: replicator, password: replicator}
    superuser: {username: postgres, password: postgres}
    rewind: {username: postgres, password: postgres}
  parameters:
    unix_socket_directories: '$dir/patroni'
EOF
}

pg_ha_up() {
	local i hosts="" ports=""
	need etcd "apt-get install etcd-server"
	need patroni "apt-get install patroni"
	mkdir -p "$dir/etcd" "$dir/patroni"
	chown postgres: "$dir/patroni" 2>/dev/null || true
	start etcd "$dir/etcd/log" etcd --name e1 --data-dir "$dir/etcd/data" \
		--listen-client-urls "http://127.0.0.1:$((port + 4))" \
		--advertise-client-urls "http://127.0.0.1:$((port + 4))" \
		--listen-peer-urls "http://127.0.0.1:$((port + 5))" \
		--initial-advertise-peer-urls "http://127.0.0.1:$((port + 5))" \
		--initial-cluster "e1=http://127.0.0.1:$((port + 5))" \
		--initial-cluster-state new
	wait_for 30 etcd curl -sf "http://127.0.0.1:$((port + 4))/health"
	for i in 1 2 3; do
		patroni_conf "$i" >"$dir/patroni/pg$i.yml"
		chown postgres: "$dir/patroni/pg$i.yml" 2>/dev/null || true
		hosts+=${hosts:+,}127.0.0.1
		ports+=${ports:+,}$((port + i))
	done
	# The first member bootstraps alone; the others then copy it.
	start patroni1 "$dir/patroni/pg1.log" "${as_pg[@]}" patroni "$dir/patroni/pg1.yml"
	wait_for 90 "the Patroni leader" leader_rest
	for i in 2 3; do
		start "patroni$i" "$dir/patroni/pg$i.log" "${as_pg[@]}" patroni "$dir/patroni/pg$i.yml"
	done
	wait_for 120 "a synchronous standby" sync_standby
	url="host=$hosts port=$ports user=postgres dbname=postgres target_session_attrs=read-write"
}

sync_standby() {
	local i
	for i in 1 2 3; do
		curl -sf -o /dev/null "http://127.0.0.1:$((port + 10 + i))/sync" && return 0
	done
	return 1
}

node_conf() {
	local i=$1
	cat <<EOF
listen = tls+tcp://127.0.0.1:$((port + 20 + i))
data_dir = $dir/node$i
store = postgres
postgres_url = "$url"
gateway_listen = ""
EOF
	if "$build/unsd" --print-example-config 2>/dev/null | grep -q '^nats_url'; then
		echo "nats_url = nats://127.0.0.1:$((port + 6))"
	fi
}

health() { UNS_URL=$1 UNS_CA=$dir/node1/tls/ca.pem "$build/unsctl" health; }

up() {
	local i p
	need "$build/unsd" "build first: cmake --build build"
	need "$pgbin/initdb" "apt-get install postgresql-15"
	need nats-server "apt-get install nats-server"
	if [ -f "$dir/cluster.env" ]; then
		die "a cluster runs in $dir already (tools/cluster.sh down --dir $dir)"
	fi
	for p in $port $((port + 1)) $((port + 2)) $((port + 3)) $((port + 4)) \
		$((port + 5)) $((port + 6)) $((port + 11)) $((port + 12)) \
		$((port + 13)) $((port + 21)) $((port + 22)) $((port + 23)) $((port + 30)); do
		port_free "$p" || die "port $p is taken (--port P picks another range)"
	done
	mkdir -p "$dir/pids"
	chmod 755 "$dir"
	# What down needs, written first so that a failed up can be taken down.
	printf 'MODE=%s\nNODES=%s\nPORT=%s\n' "$([ $ha = 1 ] && echo ha || echo plain)" \
		"$nodes" "$port" >"$dir/cluster.env"
	trap up_failed EXIT
	if [ $ha = 1 ]; then pg_ha_up; else pg_plain_up; fi
	mkdir -p "$dir/nats"
	start nats "$dir/nats/log" nats-server -a 127.0.0.1 -p $((port + 6))
	# Shared material: the app registry, then node 1's TLS CA and token
	# secret, copied to the other nodes before they start.
	mkdir -p "$dir/node1"
	"$build/unsctl" app add --data "$dir/node1" --id demo --hosts demo.example \
		>"$dir/demo-app-secret" 2>&1
	for i in $(seq 1 "$nodes"); do
		mkdir -p "$dir/node$i"
		node_conf "$i" >"$dir/node$i/unsd.conf"
		if [ "$i" -gt 1 ]; then
			cp -a "$dir/node1/tls" "$dir/node1/push" "$dir/node1/jwt-hs256.secret" \
				"$dir/node1/apps.conf" "$dir/node$i/"
		fi
		start "unsd$i" "$dir/node$i/log" "$build/unsd" --config \
			"$dir/node$i/unsd.conf" "${sets[@]}"
		wait_for 60 "unsd node $i" health "tls+tcp://localhost:$((port + 20 + i))"
	done
	start gateway "$dir/gateway.log" "$build/uns-gateway" \
		--rpc "tls+tcp://localhost:$((port + 21))" --ca "$dir/node1/tls/ca.pem" \
		--listen "https://127.0.0.1:$((port + 30))" --cert "$dir/node1/tls/server.pem"
	wait_for 30 uns-gateway curl -sf --cacert "$dir/node1/tls/ca.pem" \
		"https://localhost:$((port + 30))/healthz"
	trap - EXIT
	{
		echo "POSTGRES_URL=\"$url\""
		echo "NATS_URL=nats://127.0.0.1:$((port + 6))"
		for i in $(seq 1 "$nodes"); do
			echo "NODE${i}_URL=tls+tcp://localhost:$((port + 20 + i))"
		done
		echo "GATEWAY_URL=https://localhost:$((port + 30))"
		echo "CA=$dir/node1/tls/ca.pem"
		echo "SECRET=$dir/node1/jwt-hs256.secret"
	} >>"$dir/cluster.env"
	say "up in $dir ($([ $ha = 1 ] && echo "etcd + 3 Patroni members" || echo "one PostgreSQL"), NATS, $nodes unsd nodes, a gateway)"
	say "PostgreSQL: $url"
	say "NATS:       nats://127.0.0.1:$((port + 6))"
	for i in $(seq 1 "$nodes"); do
		say "unsd $i:     tls+tcp://localhost:$((port + 20 + i))"
	done
	say "gateway:    https://localhost:$((port + 30))  (to node 1)"
	say "try:        UNS_URL=tls+tcp://localhost:$((port + 22)) UNS_CA=$dir/node1/tls/ca.pem $build/unsctl health"
	say "tokens:     $build/unsctl token app --app demo --secret-file $dir/node1/jwt-hs256.secret"
}

load_env() {
	[ -f "$dir/cluster.env" ] || die "no cluster in $dir"
	# shellcheck disable=SC1091
	. "$dir/cluster.env"
	port=$PORT
	nodes=$NODES
	ha=$([ "$MODE" = ha ] && echo 1 || echo 0)
}

status() {
	local f name ok=0 i
	load_env
	say "$MODE cluster in $dir"
	for f in "$dir"/pids/*; do
		[ -f "$f" ] || continue
		name=$(basename "$f")
		if alive "$name"; then
			printf '  %-9s pid %-7s running\n' "$name" "$(cat "$f")"
		else
			printf '  %-9s pid %-7s NOT running\n' "$name" "$(cat "$f")"
			ok=1
		fi
	done
	for i in $(seq 1 "$nodes"); do
		if h=$(health "tls+tcp://localhost:$((port + 20 + i))" 2>&1); then
			printf '  unsd %s: %s\n' "$i" "$h"
		else
			printf '  unsd %s: no answer (%s)\n' "$i" "$h"
			ok=1
		fi
	done
	if curl -sf -o /dev/null --cacert "$dir/node1/tls/ca.pem" "https://localhost:$((port + 30))/healthz"; then
		echo "  gateway: healthz 200"
	else
		echo "  gateway: healthz failed"
		ok=1
	fi
	if [ "$ha" = 1 ]; then
		patronictl -c "$dir/patroni/pg1.yml" list 2>/dev/null | sed 's/^/  /' || ok=1
	fi
	return $ok
}

# stop SECONDS NAME...: TERM to each at once, KILL what is left after
# SECONDS.
stop() {
	local secs=$1 name pid pids=() i left
	shift
	for name in "$@"; do
		[ -f "$dir/pids/$name" ] || continue
		pid=$(cat "$dir/pids/$name")
		kill -TERM "$pid" 2>/dev/null && pids+=("$pid")
		rm -f "$dir/pids/$name"
	done
	for ((i = 0; i < secs * 10; i++)); do
		left=0
		for pid in "${pids[@]}"; do
			kill -0 "$pid" 2>/dev/null && left=1
		done
		[ $left = 1 ] || return 0
		sleep 0.1
	done
	for pid in "${pids[@]}"; do kill -KILL "$pid" 2>/dev/null || true; done
}

# A postmaster left by a killed Patroni (or plain PostgreSQL): fast stop.
postmaster_stop() {
	local data=$1 pid i
	[ -f "$data/postmaster.pid" ] || return 0
	pid=$(head -1 "$data/postmaster.pid")
	kill -INT "$pid" 2>/dev/null || return 0
	for ((i = 0; i < 300; i++)); do
		kill -0 "$pid" 2>/dev/null || return 0
		sleep 0.1
	done
	kill -KILL "$pid" 2>/dev/null || true
}

up_failed() {
	echo "cluster: up failed; stopping what started (logs stay in $dir)" >&2
	down_all
	rm -f "$dir/cluster.env"
}

down_all() {
	local i
	stop 10 gateway
	stop 30 unsd1 unsd2 unsd3
	stop 10 nats
	stop 30 patroni1 patroni2 patroni3
	for i in 1 2 3; do postmaster_stop "$dir/patroni/pg$i"; done
	stop 10 etcd
	postmaster_stop "$dir/pg/data"
	rm -f "$dir/pids/postgres"
}

down() {
	load_env
	down_all
	if [ $keep = 1 ]; then
		rm -f "$dir/cluster.env"
		say "stopped; logs kept in $dir"
	else
		rm -rf "$dir"
		say "stopped; $dir removed"
	fi
}

case $cmd in
up) up ;;
status) status ;;
down) down ;;
*) usage ;;
esac
