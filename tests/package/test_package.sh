#!/bin/sh
# test_package.sh — the .deb from CPack, as an operator would meet it:
# dpkg -i, the dedicated user and its state directory, unsd started from
# the installed configuration as that user, health over TLS, apps.conf read
# again on SIGHUP, a C program outside the tree built with
# `pkg-config --cflags --libs uns` that posts and fetches, then purge
# (user, state and files gone). Needs root; exits 77 (CTest: skipped)
# with the reason otherwise, or when a uns package is installed already.
# usage: test_package.sh BUILD_DIR SOURCE_DIR
set -eu
build=$(realpath "$1")
src=$(realpath "$2")
if [ "$(id -u)" != 0 ]; then
	echo "package: skipped: needs root (dpkg -i, useradd)"
	exit 77
fi
# One run at a time on this machine: dpkg and the uns user are global.
exec 9>/tmp/uns-package-test.lock
flock -w 600 9
if dpkg-query -W -f '${Status}' uns 2>/dev/null | grep -q installed; then
	echo "package: skipped: a uns package is installed already"
	exit 77
fi
work=$(mktemp -d /tmp/uns-package-XXXXXX)
pid=
cleanup() {
	[ -n "$pid" ] && kill -TERM "$pid" 2>/dev/null && wait "$pid" || true
	dpkg_waiting --purge uns || true
	rm -rf "$work"
}
trap cleanup EXIT
# dpkg with the others who use it on this machine: wait (up to 10 min) for
# the frontend lock rather than fail on it.
dpkg_waiting() {
	for _ in $(seq 300); do
		if dpkg "$@" >"$work/dpkg.log" 2>&1; then
			return 0
		fi
		grep -q 'lock' "$work/dpkg.log" || return 1
		sleep 2
	done
	return 1
}
fail() {
	echo "package: FAILED: $*"
	[ -f "$work/unsd.log" ] && sed 's/^/  unsd: /' "$work/unsd.log"
	exit 1
}

(cd "$build" && cpack -G DEB -B "$work/pkg" >"$work/cpack.log" 2>&1) ||
	{ cat "$work/cpack.log"; fail "cpack"; }
deb=$(ls "$work"/pkg/uns_*.deb)
dpkg_waiting -i "$deb" || { cat "$work/dpkg.log"; fail "dpkg -i"; }
echo "package: installed $(basename "$deb")"

installed() { dpkg -L uns | grep "$1\$" | head -1; }
unsd=$(installed /sbin/unsd)
unsctl=$(installed /bin/unsctl)
conf=$(installed /uns/unsd.conf)
unit=$(installed /systemd/system/unsd.service)
for f in "$unsd" "$unsctl" "$conf" "$unit" "$(installed /man8/unsd.8)" \
	"$(installed /man1/unsctl.1)" "$(installed /man5/unsd.conf.5)" \
	"$(installed /pkgconfig/uns.pc)" "$(installed /libuns.a)"; do
	[ -n "$f" ] && [ -e "$f" ] || fail "a file is missing from the package"
done
getent passwd uns >/dev/null || fail "no user uns"
[ "$(stat -c '%U %a' /var/lib/uns)" = "uns 700" ] ||
	fail "/var/lib/uns: $(stat -c '%U %a' /var/lib/uns), want uns 700"
for k in User=uns StateDirectory=uns ProtectSystem=strict \
	NoNewPrivileges=yes "ExecReload=/bin/kill -HUP"; do
	grep -q "^$k" "$unit" || fail "$unit: no $k"
done
grep -q "^ExecStart=$unsd --config $conf\$" "$unit" || fail "$unit: ExecStart"
if command -v systemd-analyze >/dev/null; then
	systemd-analyze verify "$unit" >"$work/verify.log" 2>&1 ||
		{ cat "$work/verify.log"; fail "systemd-analyze verify $unit"; }
fi

# An app, registered by the user unsd runs as, before it starts.
as_uns() { setpriv --reuid=uns --regid=uns --init-groups "$@"; }
(cd /var/lib/uns && as_uns "$unsctl" app add --data /var/lib/uns \
	--id pkg-svc --hosts pkg.example.com >/dev/null) || fail "app add"

# unsd from the installed configuration, as uns; port 0 (the machine runs
# other servers), no gateway. setpriv itself, not as_uns: $! must be unsd.
setpriv --reuid=uns --regid=uns --init-groups "$unsd" --config "$conf" --listen tls+tcp://127.0.0.1:0 \
	--gateway-listen "" >"$work/unsd.log" 2>&1 9>&- &
pid=$!
for _ in $(seq 200); do
	grep -q 'serving' "$work/unsd.log" && break
	kill -0 "$pid" 2>/dev/null || fail "unsd exited"
	sleep 0.1
done
port=$(sed -n 's/.*(port \([0-9]*\)).*/\1/p' "$work/unsd.log" | head -1)
[ -n "$port" ] || fail "unsd did not say its port"
[ "$(stat -c %U /var/lib/uns/tls/ca.pem)" = uns ] || fail "tls/ not made by uns"
url="tls+tcp://localhost:$port"
ca=/var/lib/uns/tls/ca.pem
"$unsctl" health --url "$url" --ca "$ca" || fail "health"

# SIGHUP: a second app registered now is known without a restart.
(cd /var/lib/uns && as_uns "$unsctl" app add --data /var/lib/uns \
	--id pkg-late --hosts late.example.com >/dev/null) || fail "app add"
kill -HUP "$pid"
for _ in $(seq 100); do
	grep -q 'reloaded apps.conf' "$work/unsd.log" && break
	sleep 0.1
done
grep -q 'reloaded apps.conf' "$work/unsd.log" || fail "no reload on SIGHUP"

# A program outside the tree, from the installed headers and library.
secret=/var/lib/uns/jwt-hs256.secret
user=$("$unsctl" token user --sub pkg-alice --host pkg.example.com \
	--secret-file "$secret") || fail "token user"
app=$("$unsctl" token app --app pkg-svc --secret-file "$secret") ||
	fail "token app"
cp "$src/tests/package/outside.c" "$work/"
# shellcheck disable=SC2046
cc -o "$work/outside" "$work/outside.c" $(pkg-config --cflags --libs uns) ||
	fail "cc outside.c with pkg-config"
ldd "$work/outside" | grep -q "libuns.so.0 => $(dirname "$(installed /libuns.so.0)")" ||
	fail "outside does not load the installed libuns.so.0: $(ldd "$work/outside")"
"$work/outside" "$url" "$ca" "$user" "$app" || fail "outside"

kill -TERM "$pid"
wait "$pid" || fail "unsd did not exit cleanly on SIGTERM"
pid=
dpkg_waiting --purge uns || { cat "$work/dpkg.log"; fail "purge"; }
! getent passwd uns >/dev/null || fail "user uns left after purge"
[ ! -e /var/lib/uns ] || fail "/var/lib/uns left after purge"
[ ! -e "$unsd" ] || fail "$unsd left after purge"
echo "package: purged; all checks passed"
