#!/bin/sh
# check_docs.sh — the docs' own rules, as a test:
#  1. README.md has at most 250 lines (a newcomer reads it in ten minutes;
#     the internals live in docs/);
#  2. every Markdown link of the tree's pages stays inside the repository
#     and names a file that exists (no http(s) links, no ../ past the root);
#  3. every key of docs/unsd.conf.example has its row in
#     docs/configuration.md;
#  4. every source folder (a CMakeLists.txt under client/, common/, server/,
#     tools/) has a README.md.
# usage: check_docs.sh SOURCE_DIR
set -eu
cd "$1"
root=$(pwd -P)
bad=0
fail() {
	echo "docs: $*"
	bad=$((bad + 1))
}

lines=$(wc -l <README.md)
[ "$lines" -le 250 ] || fail "README.md: $lines lines, at most 250"

pages=$(find . -name '*.md' -not -path './build*' -not -path '*/node_modules/*' \
	-not -path './.git/*' | sort)
for page in $pages; do
	dir=$(dirname "$page")
	# Each link target of [text](target), one per line, with its line number.
	awk '{
		s = $0
		while (match(s, /\]\([^) ]+\)/)) {
			print NR "\t" substr(s, RSTART + 2, RLENGTH - 3)
			s = substr(s, RSTART + RLENGTH)
		}
	}' "$page" | while IFS="$(printf '\t')" read -r n target; do
		case $target in
		*://* | mailto:*)
			echo "docs: $page:$n: links outside the repository: $target"
			continue
			;;
		'#'*) continue ;;
		esac
		path=${target%%#*}
		if [ ! -e "$dir/$path" ]; then
			echo "docs: $page:$n: no such file: $target"
			continue
		fi
		real=$(cd "$(dirname "$dir/$path")" && pwd -P)
		case $real/ in
		"$root"/*) ;;
		*) echo "docs: $page:$n: links outside the repository: $target" ;;
		esac
	done
done >"${TMPDIR:-/tmp}/uns-docs.$$"
trap 'rm -f "${TMPDIR:-/tmp}/uns-docs.$$"' EXIT
if [ -s "${TMPDIR:-/tmp}/uns-docs.$$" ]; then
	cat "${TMPDIR:-/tmp}/uns-docs.$$"
	bad=$((bad + $(wc -l <"${TMPDIR:-/tmp}/uns-docs.$$")))
fi

for key in $(sed -n 's/^\([a-z_][a-z0-9_]*\) = .*/\1/p' docs/unsd.conf.example); do
	grep -q "^| \`$key\` |" docs/configuration.md ||
		fail "docs/configuration.md: no row for config key $key"
done

for cm in $(find client common server tools -name CMakeLists.txt | sort); do
	d=$(dirname "$cm")
	[ -f "$d/README.md" ] || fail "$d: no README.md (what it owns, may include, main header)"
done

if [ "$bad" -gt 0 ]; then
	echo "docs: $bad problem(s)"
	exit 1
fi
echo "docs: README.md $lines lines; links, config keys and folder notes in order"
