#!/usr/bin/env bash
# setup.sh — install what UNS needs, build it, and start it or test it.
#
#   tools/setup.sh start   install, build, start unsd in the background on its
#                          embedded defaults (data and dev TLS certificates in
#                          ./uns-data, RPC on tls+tcp://127.0.0.1:7443, the
#                          REST gateway on https://localhost:8443)
#   tools/setup.sh stop    stop that unsd (it drains first)
#   tools/setup.sh reload  make that unsd read uns-data/apps.conf again
#   tools/setup.sh test    install, build, run every test; then again under
#                          AddressSanitizer + UBSan; then each fuzz target
#                          for a short while on its seed corpus
#   tools/setup.sh build   install and build only
#
# Packages come from Debian 12; apt-get runs as root (through sudo if needed).
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
jobs=$(nproc 2>/dev/null || echo 2)
fuzz_seconds=${UNS_FUZZ_SECONDS:-12} # 20 targets: 4 min of the CI run (24 min in all at 20 s)

packages=(build-essential cmake pkg-config clang clang-format libclang-rt-14-dev
	protobuf-c-compiler libprotobuf-c-dev protobuf-compiler
	libnng-dev libmbedtls-dev librocksdb-dev libcurl4-openssl-dev
	libmicrohttpd-dev libjansson-dev libcmocka-dev zlib1g-dev curl jq
	wrk # wrk: HTTP load for tools/bench_gateway.sh
	postgresql-15 libpq-dev # the PostgreSQL store: libpq, and a server for its tests
	nats-server libnats-dev # wake-ups across nodes (nats_url): the C client, and a server for the cluster tests
	patroni etcd-server # PostgreSQL failover: tools/cluster.sh --ha and the failover test
	chromium # chromium: the web client's browser tests (tests/node/web_browser.js)
	openssl) # openssl s_client: the TLS version and suite tests (test_hardening_tls)

as_root() {
	if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

install_packages() {
	local missing=()
	for p in "${packages[@]}"; do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" ||
			missing+=("$p")
	done
	if [ ${#missing[@]} -gt 0 ]; then
		echo "setup: installing ${missing[*]}"
		as_root apt-get update -qq
		as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}"
	fi
}

# build DIR [cmake options...]
build() {
	local dir=$1
	shift
	cmake -S "$root" -B "$dir" -DUNS_WERROR=ON "$@" >/dev/null
	cmake --build "$dir" -j"$jobs"
}

start() {
	install_packages
	build "$root/build"
	cd "$root"
	mkdir -p uns-data
	if [ -f uns-data/unsd.pid ] && kill -0 "$(cat uns-data/unsd.pid)" 2>/dev/null; then
		echo "setup: unsd already running (pid $(cat uns-data/unsd.pid))"
	else
		# uns-data/unsd.conf, when there is one, is read (README: the inbox)
		conf=()
		[ -f uns-data/unsd.conf ] && conf=(--config uns-data/unsd.conf)
		nohup build/unsd --data uns-data "${conf[@]}" >>uns-data/unsd.log 2>&1 &
		echo $! >uns-data/unsd.pid
	fi
	for _ in $(seq 1 50); do
		if build/unsctl health >/dev/null 2>&1; then
			build/unsctl health
			echo "setup: unsd is serving (pid $(cat uns-data/unsd.pid), log uns-data/unsd.log)"
			grep "gateway on" uns-data/unsd.log | tail -1 || true
			return 0
		fi
		sleep 0.2
	done
	echo "setup: unsd did not answer; see uns-data/unsd.log" >&2
	tail -5 uns-data/unsd.log >&2
	return 1
}

stop() {
	cd "$root"
	if [ -f uns-data/unsd.pid ] && kill -TERM "$(cat uns-data/unsd.pid)" 2>/dev/null; then
		while kill -0 "$(cat uns-data/unsd.pid)" 2>/dev/null; do sleep 0.1; done
		echo "setup: unsd stopped"
	else
		echo "setup: unsd is not running"
	fi
	rm -f uns-data/unsd.pid
}

reload() {
	cd "$root"
	if [ -f uns-data/unsd.pid ] && kill -HUP "$(cat uns-data/unsd.pid)" 2>/dev/null; then
		echo "setup: unsd reloads uns-data/apps.conf"
	else
		echo "setup: unsd is not running" >&2
		return 1
	fi
}

fuzz_smoke() {
	CC=clang cmake -S "$root" -B "$root/build-fuzz" -DUNS_FUZZ=ON >/dev/null
	cmake --build "$root/build-fuzz" -j"$jobs" --target fuzz
	for target in "$root"/build-fuzz/fuzz_*; do
		[ -f "$target" ] && [ -x "$target" ] || continue
		local name corpus work
		name=$(basename "$target")
		corpus="$root/tests/fuzz/corpus/${name#fuzz_}"
		work=$(mktemp -d)
		cp -r "$corpus"/. "$work"/
		echo "setup: fuzzing $name for ${fuzz_seconds}s"
		(cd "$work" && "$target" -max_total_time="$fuzz_seconds" -print_final_stats=0 . 2>&1 | tail -1)
		rm -rf "$work"
	done
}

# Node.js runs test-only reference receivers and third-party clients
# (tests/node/package.json); Debian's nodejs is used when none is installed.
install_node_deps() {
	if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
		as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nodejs npm
	fi
	(cd "$root/tests/node" && npm ci --no-audit --no-fund --loglevel=error)
}

run_tests() {
	install_packages
	install_node_deps
	build "$root/build"
	(cd "$root/build" && ctest --output-on-failure --output-junit junit.xml)
	echo "setup: again under AddressSanitizer and UndefinedBehaviorSanitizer"
	build "$root/build-asan" -DUNS_SANITIZE=ON -DCMAKE_BUILD_TYPE=Debug
	(cd "$root/build-asan" && ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=halt_on_error=1 \
		ctest --output-on-failure --output-junit junit.xml)
	fuzz_smoke
}

case "${1:-start}" in
start) start ;;
stop) stop ;;
reload) reload ;;
test) run_tests ;;
build) install_packages && build "$root/build" ;;
*)
	echo "usage: tools/setup.sh start|stop|reload|test|build" >&2
	exit 2
	;;
esac
