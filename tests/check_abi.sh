#!/bin/sh
# check_abi.sh — libuns.so exports exactly the public API: every dynamic
# symbol it defines is declared in an installed header, and every function
# or variable those headers declare is exported (client/libuns.map says
# which). libuns.a, which has no export list, must define them all too.
# The installed headers are packaging/CMakeLists.txt's: client/include/uns,
# gen/uns_stubs.h, gen/uns_methods.h, gen/uns/v1. Names are read from the
# headers with comments stripped by the compiler's preprocessor: a function
# is the name before a declaration's first "(" (not "(*", a function
# pointer), a variable an "extern" declaration's last name; typedefs aside.
# usage: check_abi.sh LIB_DIR SOURCE_DIR
set -eu
lib=$1
src=$2
work=$(mktemp -d /tmp/uns-abi-XXXXXX)
trap 'rm -rf "$work"' EXIT
cc=${CC:-cc}

for h in "$src"/client/include/uns/*.h "$src"/gen/uns_stubs.h \
	"$src"/gen/uns_methods.h "$src"/gen/uns/v1/*.h; do
	"$cc" -fpreprocessed -dD -E -P "$h"
done | grep -v '^[[:space:]]*#' | tr '\n' ' ' | tr ';{}' '\n\n\n' | awk '
/^[[:space:]]*typedef/ { next }
{
	s = $0
	p = index(s, "(")
	if (p > 0) {
		rest = substr(s, p + 1)
		sub(/^[[:space:]]*/, "", rest)
		if (substr(rest, 1, 1) == "*")
			next
		pre = substr(s, 1, p - 1)
		if (match(pre, /[A-Za-z_][A-Za-z0-9_]*[[:space:]]*$/))
			name = substr(pre, RSTART, RLENGTH)
		else
			next
	} else if (s ~ /^[[:space:]]*extern[[:space:]]/) {
		sub(/[[:space:]]*(\[[^]]*\])?[[:space:]]*$/, "", s)
		if (!match(s, /[A-Za-z_][A-Za-z0-9_]*$/))
			next
		name = substr(s, RSTART, RLENGTH)
	} else
		next
	gsub(/[[:space:]]/, "", name)
	if (name ~ /^uns_/)
		print name
}' | sort -u >"$work/declared"

# (type A is the version node, UNS_0, not a symbol)
nm -D --defined-only "$lib/libuns.so" | awk '$2 != "A" { print $NF }' | sed 's/@.*//' |
	sort -u >"$work/exported"
nm --defined-only "$lib/libuns.a" 2>/dev/null | awk 'NF == 3 { print $3 }' |
	sort -u >"$work/static"

[ -s "$work/declared" ] || { echo "abi: no declarations read"; exit 1; }
rc=0
extra=$(comm -23 "$work/exported" "$work/declared")
if [ -n "$extra" ]; then
	echo "abi: libuns.so exports names no public header declares:"
	echo "$extra" | sed 's/^/  /'
	rc=1
fi
missing=$(comm -13 "$work/exported" "$work/declared")
if [ -n "$missing" ]; then
	echo "abi: public names libuns.so does not export:"
	echo "$missing" | sed 's/^/  /'
	rc=1
fi
missing=$(comm -13 "$work/static" "$work/declared")
if [ -n "$missing" ]; then
	echo "abi: public names libuns.a does not define:"
	echo "$missing" | sed 's/^/  /'
	rc=1
fi
[ $rc = 0 ] && echo "abi: libuns.so exports the $(wc -l <"$work/declared") public names, and only them"
exit $rc
