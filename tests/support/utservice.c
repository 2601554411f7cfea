/*
 * utservice.c — see utservice.h.
 */
#include <stdarg.h>
#include <setjmp.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "store_postgres.h"
#include "testutil.h"
#include "utpg.h"
#include "utservice.h"

const uint8_t ut_secret[] = "0123456789abcdef0123456789abcdef-test";
const size_t ut_secret_len = sizeof(ut_secret) - 1;

/* auth counts seconds, the store and service milliseconds. */
static int64_t
clock_s(void *arg)
{
	const ut_service *s = arg;
	return s->clock_ms(s->clock_arg) / 1000;
}

static void
open_auth(ut_service *s, const ut_service_opts *o)
{
	char why[256];
	assert_int_equal(uns_jwt_keys_alloc(&s->keys), UNS_OK);
	assert_int_equal(
	    uns_jwt_keys_add_secret(s->keys, NULL, ut_secret, ut_secret_len),
	    UNS_OK);
	uns_auth_config ac = {.keys = s->keys,
	                      .audience = "uns",
	                      .skew_seconds = 60,
	                      .now_s = s->clock_ms ? clock_s : NULL,
	                      .now_arg = s,
	                      .token_cache = o->token_cache};
	assert_int_equal(uns_auth_open(&s->auth, &ac), UNS_OK);
	if (o->apps_conf && uns_auth_load_apps(s->auth, o->apps_conf, why,
	                                       sizeof(why)) != UNS_OK) {
		fail_msg("apps.conf: %s", why);
	}
	uns_token_issuer_config tc = {.alg = "HS256",
	                              .key = ut_secret,
	                              .key_len = ut_secret_len,
	                              .audience = "uns",
	                              .lifetime_s = 600};
	if (o->with_issuer && uns_token_issuer_open(&s->issuer, &tc, why,
	                                            sizeof(why)) != UNS_OK) {
		fail_msg("issuer: %s", why);
	}
}

static void
open_rpc(ut_service *s, const ut_service_opts *o)
{
	char url[64];
	uns_rpc_config rc = {.url = "tcp://127.0.0.1:0"};
	uns_rpc_service rs =
	    uns_service_rpc(s->svc, o->blocking ? 0 : UNS_SERVICE_DEFAULT);
	assert_int_equal(uns_rpc_server_open(&s->rpc, &rc, &rs), UNS_OK);
	if (o->hooks) {
		uns_rpc_server_set_hooks(s->rpc, o->hooks);
	}
	if (o->also_listen) {
		assert_int_equal(uns_rpc_server_listen(s->rpc, o->also_listen),
		                 UNS_OK);
	}
	assert_int_equal(uns_rpc_server_start(s->rpc), UNS_OK);
	snprintf(url, sizeof(url), "tcp://127.0.0.1:%d",
	         uns_rpc_server_port(s->rpc));
	assert_int_equal(uns_client_open(&s->client, url, NULL), UNS_OK);
}

void
ut_service_start(ut_service *s, const char *dir, const ut_service_opts *o)
{
	static const ut_service_opts none;
	char path[512];
	o = o ? o : &none;
	memset(s, 0, sizeof(*s));
	s->clock_ms = o->clock_ms;
	s->clock_arg = o->clock_arg;
	snprintf(path, sizeof(path), "%s/store", dir);
	uns_store_config sc = {.dir = path,
	                       .clock = o->clock_ms,
	                       .clock_arg = o->clock_arg,
	                       .reclaim_interval_ms = -1};
	uns_store_postgres_config pc = {.url = ut_pg_shared_url()};
	char schema[64];
	if (pc.url != NULL) { /* UNS_TEST_STORE=postgres (utpg.h) */
		ut_pg_schema_of(path, schema, sizeof(schema));
		pc.schema = schema;
		sc.backend = "postgres";
		sc.postgres = &pc;
	}
	assert_int_equal(uns_store_open(&s->store, &sc), UNS_OK);
	open_auth(s, o);
	uns_service_config svcc = {.store = s->store,
	                           .auth = s->auth,
	                           .issuer = s->issuer,
	                           .push = o->push,
	                           .now_ms = o->clock_ms,
	                           .now_arg = o->clock_arg,
	                           .expiry_resolution_ms =
	                               o->expiry_resolution_ms,
	                           .token_guard = o->token_guard};
	assert_int_equal(uns_service_open(&s->svc, &svcc), UNS_OK);
	open_rpc(s, o);
}

void
ut_service_stop(ut_service *s)
{
	uns_client_close(s->client);
	uns_rpc_server_close(s->rpc);
	uns_service_close(s->svc);
	uns_token_issuer_close(s->issuer);
	uns_auth_close(s->auth);
	uns_jwt_keys_free(s->keys);
	uns_store_close(s->store);
	memset(s, 0, sizeof(*s));
}

void
ut_service_mint(char *out, size_t cap, int64_t now_s, const char *sub,
                const char *app, const char *host, const char *scopes)
{
	ut_mint_hs256(ut_secret, ut_secret_len, now_s, sub, app, host, scopes,
	              out, cap);
}
