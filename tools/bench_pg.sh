# bench_pg.sh — sourced by the benchmark scripts that need a throwaway
# PostgreSQL 15 cluster (bench_postgres.sh, bench_cluster.sh): default
# settings, fsync on, a Unix socket in the cluster's folder only (no TCP
# port to collide with), run as the "postgres" user when run as root.
#
#   bench_pg_up DIR   initdb + pg_ctl start in DIR/data (DIR/pg.log);
#                     sets bench_pg_url (a libpq connection string) and
#                     bench_pg_psql (psql with it, as an array)
#   bench_pg_down DIR pg_ctl stop -m fast (for the caller's EXIT trap)
#   bench_pg_ticks DIR CPU ticks so far of that cluster's processes: the
#                     postmaster and its children, with the children each
#                     reaped (a backend that exits hands its time to the
#                     postmaster); other clusters on the machine (other
#                     helpers', CI's) are not counted
#
# Binaries from $UNS_PG_BINDIR, else Debian's postgresql-15.
bench_pg_bin=${UNS_PG_BINDIR:-/usr/lib/postgresql/15/bin}
bench_pg_as=()
[ "$(id -u)" -eq 0 ] && bench_pg_as=(runuser -u postgres --)

bench_pg_up() {
	local dir=$1
	[ "$(id -u)" -eq 0 ] && chown postgres "$dir"
	"${bench_pg_as[@]}" "$bench_pg_bin/initdb" -D "$dir/data" -A trust \
		-U postgres >/dev/null
	"${bench_pg_as[@]}" "$bench_pg_bin/pg_ctl" -D "$dir/data" \
		-l "$dir/pg.log" -w \
		-o "-k $dir -c listen_addresses='' -p 5432" start >/dev/null
	bench_pg_url="host=$dir port=5432 user=postgres dbname=postgres"
	bench_pg_psql=("$bench_pg_bin/psql" -h "$dir" -p 5432 -U postgres
		-d postgres)
}

bench_pg_down() {
	"${bench_pg_as[@]}" "$bench_pg_bin/pg_ctl" -D "$1/data" -m fast stop \
		>/dev/null 2>&1 || true
}

bench_pg_ticks() {
	local pm sum=0 f line rest
	pm=$(head -1 "$1/data/postmaster.pid")
	for f in /proc/[0-9]*/stat; do
		line=$(cat "$f" 2>/dev/null) || continue
		rest=${line##*) }
		set -- $rest
		[ "${f#/proc/}" = "$pm/stat" ] || [ "$2" = "$pm" ] || continue
		sum=$((sum + ${12} + ${13} + ${14} + ${15}))
	done
	echo "$sum"
}
