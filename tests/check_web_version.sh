#!/bin/sh
# check_web_version.sh VERSION ROOT — the browser SDK (client/web) carries
# the project's version, which CMakeLists.txt's project() states: in
# package.json (what npm pack names) and in uns.js's VERSION export.
set -eu
want=$1
root=$2
rc=0
pkg=$(sed -n 's/^  "version": "\(.*\)",$/\1/p' "$root/client/web/package.json")
js=$(sed -n "s/^export const VERSION = '\(.*\)';$/\1/p" "$root/client/web/uns.js")
for pair in "package.json:$pkg" "uns.js:$js"; do
	if [ "${pair#*:}" != "$want" ]; then
		echo "client/web/${pair%%:*}: version \"${pair#*:}\", the project's is $want" >&2
		rc=1
	fi
done
exit $rc
