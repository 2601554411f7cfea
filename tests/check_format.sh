#!/bin/sh
# Fails when a C file in the tree (gen/ aside) is not clang-formatted.
# usage: check_format.sh SOURCE_DIR
set -eu
cd "$1"
command -v clang-format >/dev/null || { echo "clang-format not installed" >&2; exit 1; }
files=$(find client common server tools tests -name '*.[ch]' -not -path '*/corpus/*' | sort)
clang-format --dry-run --Werror $files
echo "$(echo "$files" | wc -l) files formatted"
