/*
 * pg_migrations.h — the schema migrations unsd carries: one per file of
 * migrations/ (NNNN_name.sql), numbered from 1 without gaps, embedded at
 * build time by embed_sql.cmake.
 */
#ifndef UNS_SERVER_PG_MIGRATIONS_H
#define UNS_SERVER_PG_MIGRATIONS_H

typedef struct pg_migration {
	int version;
	const char *name;
	const char *sql;
} pg_migration;

extern const pg_migration pg_migrations[];
extern const int pg_n_migrations;

#endif /* UNS_SERVER_PG_MIGRATIONS_H */
