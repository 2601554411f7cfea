#!/bin/sh
# check_borders.sh — fails when a file includes across a border it may not
# cross: a header of a room that tests/borders.txt does not let it reach, a
# system header of a foreign library outside the rooms that own it, a
# quoted include by "../", or a header name that two rooms share (includes
# are by bare name, so names must be unique).
# usage: check_borders.sh SOURCE_DIR
set -eu
cd "$1"
files=$(find client common server tools gen -name '*.[ch]' | sort)
# Every #include of every file, as "file<TAB>line<TAB>kind<TAB>name".
for f in $files; do
	awk -v f="$f" '
	/^[ \t]*#[ \t]*include[ \t]*"/ { n = $0; sub(/^[^"]*"/, "", n); sub(/".*/, "", n); printf "%s\t%d\tq\t%s\n", f, NR, n }
	/^[ \t]*#[ \t]*include[ \t]*</ { n = $0; sub(/^[^<]*</, "", n); sub(/>.*/, "", n); printf "%s\t%d\ts\t%s\n", f, NR, n }' "$f"
done >"${TMPDIR:-/tmp}/uns-includes.$$"
trap 'rm -f "${TMPDIR:-/tmp}/uns-includes.$$"' EXIT
echo "$files" | awk -v rules=tests/borders.txt -v incs="${TMPDIR:-/tmp}/uns-includes.$$" '
function room_of(path,    best, r) {
	best = ""
	for (r in rooms)
		if ((index(path, r "/") == 1) && length(r) > length(best))
			best = r
	return best
}
function fail(msg) { print msg; bad++ }
BEGIN {
	while ((getline line < rules) > 0) {
		if (line ~ /^[ \t]*(#|$)/) continue
		split(line, w, /[ \t:]+/)
		if (w[1] == "room") {
			rooms[w[2]] = 1
			for (i = 3; i in w; i++) if (w[i] != "") may[w[2], w[i]] = 1
		} else if (w[1] == "lib") {
			libs[w[2]] = 1
			for (i = 3; i in w; i++) if (w[i] != "") owns[w[2], w[i]] = 1
		}
		delete w
	}
}
{	# the tree: index each header by its base name and by its path
	path = $0; base = path; sub(/.*\//, "", base)
	if (path ~ /\.h$/) {
		if (base in byname && byname[base] != path)
			fail("header name " base " is used twice: " byname[base] " and " path)
		byname[base] = path
		allh[path] = 1
	}
	if (room_of(path) == "") fail(path ": in no room of tests/borders.txt")
}
END {
	FS = "\t"
	while ((getline line < incs) > 0) {
		split(line, c, "\t"); f = c[1]; ln = c[2]; kind = c[3]; name = c[4]
		from = room_of(f)
		if (kind == "q") {
			if (name ~ /^\.\.?\//) { fail(f ":" ln ": includes \"" name "\" by a relative path"); continue }
			to = ""
			if (name ~ /\//) {
				for (h in allh) if (substr(h, length(h) - length(name)) == "/" name) to = h
			} else if (name in byname) to = byname[name]
			if (to == "") continue  # not ours (generated in the build tree)
			tr = room_of(to)
			if (tr != from && !((from, tr) in may))
				fail(f ":" ln ": includes " to " (room " tr "), which room " from " may not reach")
		} else {
			for (p in libs)
				if (index(name, p) == 1 && !((p, from) in owns))
					fail(f ":" ln ": includes <" name ">, which only " owners(p) " may include")
		}
	}
	if (bad) { print bad " border crossing(s)"; exit 1 }
	print "borders held"
}
function owners(p,    k, s, parts) {
	s = ""
	for (k in owns) { split(k, parts, SUBSEP); if (parts[1] == p) s = s (s == "" ? "" : ", ") parts[2] }
	return s
}'
