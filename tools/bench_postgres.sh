#!/usr/bin/env bash
# bench_postgres.sh — the PostgreSQL store against pgbench, in one run on
# one throwaway cluster (fsync on, default settings, a Unix socket in a
# temporary folder; stopped and removed at the end):
#   1. pgbench at 1, 8 and 64 clients, one Post per transaction: each
#      transaction calls uns_post, the function unsd calls, so it writes the
#      same rows (owner head, notification, feed entry);
#   2. uns-bench post --store postgres: the service over RPC at 1, 8 and 64
#      in flight, group commit on;
#   3. uns-bench post on RocksDB, the same levels, for the CPU per Post;
#   4. uns-bench fetch on both stores (Fetch since a cursor);
#   5. History on both stores: uns-bench scale small (1,000 users, 10,000
#      notifications, one user with 1,000), History's first page and a walk;
#   with "post" as third argument, 1 and 2 only (a before/after of the
#   write path in a minute);
#   6. with "scale" as third argument, instead of 1-5: uns-bench scale
#      --store postgres at its defaults (1,000,000 notifications over
#      100,000 users), then the server's RSS (uns-bench prints it) and the
#      schema's and the cluster's size on disk.
# For each: rate, and CPU µs per Post of the database's processes and of
# the client (pgbench) or of unsd + the database + the client.
#
# usage: tools/bench_postgres.sh BUILD_DIR [SECONDS] [post|scale]
set -euo pipefail

build=$(cd "${1:?usage: bench_postgres.sh BUILD_DIR [SECONDS] [post|scale]}" && pwd)
secs=${2:-5}
mode=${3:-}
. "$(dirname "$0")/bench_pg.sh"

dir=$(mktemp -d /tmp/uns-pgbench.XXXXXX)
cleanup() {
	bench_pg_down "$dir"
	rm -rf "$dir"
}
trap cleanup EXIT
bench_pg_up "$dir"
url=$bench_pg_url
hz=$(getconf CLK_TCK)
TIMEFORMAT='%U %S' # bash's time: the client's user and system seconds

printf 'store = postgres\npostgres_url = "%s"\npostgres_schema = pgbench_uns\n' \
	"$url" >"$dir/unsd.conf"
"$build/unsd" --data "$dir/unsd-data" --config "$dir/unsd.conf" \
	--migrate-only 2>/dev/null

if [ "$mode" = scale ]; then
	echo "== uns-bench scale --store postgres (defaults)"
	"$build/uns-bench" scale --store postgres --postgres-url "$url" |
		tee "$dir/scale.out"
	schema=$(grep -o 'bench_[0-9]*' "$dir/scale.out" | head -1)
	"${bench_pg_psql[@]}" -At -F ' ' -c \
		"SELECT c.relname, pg_size_pretty(pg_total_relation_size(c.oid))
		   FROM pg_class c WHERE c.relnamespace = '$schema'::regnamespace
		    AND c.relkind = 'r' ORDER BY pg_total_relation_size(c.oid) DESC;
		 SELECT 'schema total', pg_size_pretty(sum(pg_total_relation_size(c.oid)))
		   FROM pg_class c WHERE c.relnamespace = '$schema'::regnamespace
		    AND c.relkind = 'r'"
	du -sh "$dir/data" "$dir/data/pg_wal"
	exit 0
fi

cat >"$dir/post.sql" <<'EOF'
\set u random(1, 100000)
SELECT rc FROM uns_post('user' || :u, 'contoso.example.com', (extract(epoch FROM clock_timestamp()) * 1000)::bigint, substr(md5(random()::text), 1, 22), 'app' || substr(md5(random()::text), 1, 16), '', '\x1a0c0a0568656c6c6f12036269'::bytea, '{}'::smallint[], 0, (extract(epoch FROM clock_timestamp()) * 1000)::bigint + 86400000, 1000000000, 2592000000);
EOF

echo "== pgbench: one uns_post per transaction, ${secs}s, fsync on"
for c in 1 8 64; do
	j=$((c < 2 ? c : 2))
	t0=$(bench_pg_ticks "$dir")
	{ time PGOPTIONS="-c search_path=pgbench_uns" "$bench_pg_bin/pgbench" -n \
		-h "$dir" -p 5432 -U postgres -c "$c" -j "$j" -T "$secs" \
		-f "$dir/post.sql" postgres >"$dir/out" 2>&1; } 2>"$dir/time"
	t1=$(bench_pg_ticks "$dir")
	out=$(cat "$dir/out")
	tps=$(echo "$out" | awk '/^tps/ { print $3; exit }')
	n=$(echo "$out" | awk '/number of transactions actually processed/ { split($NF, a, "/"); print a[1] }')
	client=$(cat "$dir/time")
	awk -v c="$c" -v tps="$tps" -v n="$n" -v pg=$((t1 - t0)) -v hz="$hz" \
		-v cl="$client" 'BEGIN { split(cl, u, " ");
		printf "  %2d clients: %7.0f posts/s  postgres CPU %.1f us/post  pgbench CPU %.1f us/post\n",
		c, tps, pg * 1e6 / hz / n, (u[1] + u[2]) * 1e6 / n }'
done

echo "== uns-bench post --store postgres (same cluster)"
"$build/uns-bench" post --store postgres --postgres-url "$url" \
	--seconds "$secs" --rounds 1
[ "$mode" = post ] && exit 0
echo "== uns-bench post (RocksDB)"
"$build/uns-bench" post --seconds "$secs" --rounds 1
echo "== uns-bench fetch --store postgres"
"$build/uns-bench" fetch --store postgres --postgres-url "$url" \
	--seconds "$secs" --rounds 1
echo "== uns-bench fetch (RocksDB)"
"$build/uns-bench" fetch --seconds "$secs" --rounds 1
echo "== History: uns-bench scale, small, --store postgres"
"$build/uns-bench" scale --store postgres --postgres-url "$url" \
	--users 1000 --notifications 10000 --heavy 1000
echo "== History: uns-bench scale, small (RocksDB)"
"$build/uns-bench" scale --users 1000 --notifications 10000 --heavy 1000
