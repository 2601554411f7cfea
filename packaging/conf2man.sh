#!/bin/sh
# conf2man.sh — unsd.conf(5) from `unsd --print-example-config`, so the
# man page lists exactly the keys, defaults and help of the config key
# table (server/core/config.c), the one place they are written.
# usage: conf2man.sh VERSION < unsd.conf.example > unsd.conf.5
set -eu
version=$1
awk -v version="$version" '
function esc(s) {
	gsub(/\\/, "\\e", s)
	if (s ~ /^[.\047]/) s = "\\&" s
	return s
}
function flush_text(   i) {
	for (i = 1; i <= n; i++) {
		# indented lines (a table) keep their lines and spaces
		if (text[i] ~ /^ / && !nf) { print ".nf"; nf = 1 }
		if (text[i] !~ /^ / && nf) { print ".fi"; nf = 0 }
		print esc(text[i])
	}
	if (nf) { print ".fi"; nf = 0 }
	n = 0
}
BEGIN {
	print ".TH UNSD.CONF 5 \"\" \"uns " version "\" \"File Formats\""
	print ".SH NAME"
	print "unsd.conf \\- configuration file of unsd, the UNS server"
	print ".SH DESCRIPTION"
	head = 1
}
/^# ====/ {
	if (head) { flush_text(); head = 0 }
	name = $0; sub(/^# =+ */, "", name); sub(/ *=+$/, "", name)
	print ".SH \"KEYS: " toupper(name) "\""
	n = 0
	next
}
head && /^# unsd.conf/ { next }
/^#/ {
	line = $0; sub(/^# ?/, "", line)
	if (line == "" && head) { flush_text(); print ".PP"; next }
	text[++n] = line
	next
}
/^[a-z_0-9]+ *=/ {
	print ".TP"
	key = $0; sub(/ *=.*/, "", key)
	val = $0; sub(/^[^=]*= */, "", val)
	print "\\fB" key "\\fR = " esc(val)
	flush_text()
	next
}
/^$/ { if (!head) n = 0; next }
END {
	print ".SH FILES"
	print ".TP"
	print "/etc/uns/unsd.conf"
	print "the configuration the packaged unsd.service starts with"
	print ".SH SEE ALSO"
	print ".BR unsd (8),"
	print ".BR unsctl (1)"
}'
