/*
 * gateway_operations.c — the gateway's operational routes: the OAuth2
 * token endpoint (POST /oauth2/v2.0/token → IssueToken), GET /metrics (the
 * server's Prometheus registry) and GET /openapi.json.
 *
 * The token endpoint answers as the Microsoft identity platform does, not
 * with Graph's error envelope: {"token_type","expires_in","access_token"}
 * on success, RFC 6749 §5.2 errors ({"error":"invalid_client",…}) on
 * failure, and "Cache-Control: no-store" on both (§5.1). Form parsing and
 * the status mapping are pure (oauth.c); this file does the HTTP side.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "gateway_handlers.h"
#include "envelope.h"
#include "gateway_openapi.h"
#include "gateway_ops.h"
#include "oauth.h"
#include "uns_stubs.h"

#define BASIC_CHALLENGE "Basic realm=\"uns\", charset=\"UTF-8\""

static void
no_store(uns_gw_exchange *x)
{
	uns_gw_set_header(x, "Cache-Control", "no-store");
	uns_gw_set_header(x, "Pragma", "no-cache");
}

/* RFC 6749 §5.2, with the fields Microsoft adds (trace_id, timestamp). */
static void
oauth_fail(uns_gw_exchange *x, unsigned status, const char *error,
           const char *description, int basic)
{
	char stamp[32];
	time_t now = time(NULL);
	struct tm tm;
	gmtime_r(&now, &tm);
	strftime(stamp, sizeof(stamp), "%Y-%m-%d %H:%M:%SZ", &tm);
	no_store(x);
	if (status == 401 && basic) {
		uns_gw_set_header(x, "WWW-Authenticate", BASIC_CHALLENGE);
	}
	uns_jv *v = uns_jv_new_object();
	if (uns_jv_set_str(v, "error", error) != UNS_OK ||
	    uns_jv_set_str(v, "error_description", description) != UNS_OK ||
	    uns_jv_set_str(v, "trace_id", x->request_id) != UNS_OK ||
	    uns_jv_set_str(v, "timestamp", stamp) != UNS_OK) {
		uns_jv_free(v);
		v = NULL;
	}
	uns_gw_reply_json(x, status, v);
}

/* The request's credentials: the form, or HTTP Basic (not both). */
static int
read_request(uns_gw_exchange *x, uns_oauth_request *r, int *basic)
{
	char why[256];
	const char *auth = uns_gw_header(x, "Authorization");
	if (uns_oauth_parse_form(x->body ? x->body : "", x->body_len, r, why,
	                         sizeof(why)) != UNS_OK) {
		oauth_fail(x, 400, "invalid_request", why, 0);
		return -1;
	}
	*basic = auth != NULL && strncasecmp(auth, "Basic ", 6) == 0;
	if (!*basic) {
		return 0;
	}
	if (r->client_secret[0] != '\0') {
		oauth_fail(x, 400, "invalid_request",
		           "client credentials both in Authorization and in "
		           "the body",
		           1);
		return -1;
	}
	uns_oauth_request b = *r;
	if (uns_oauth_parse_basic(auth, &b, why, sizeof(why)) != UNS_OK) {
		oauth_fail(x, 401, "invalid_client", why, 1);
		return -1;
	}
	if (r->client_id[0] != '\0' && strcmp(r->client_id, b.client_id) != 0) {
		oauth_fail(x, 400, "invalid_request",
		           "client_id in the body differs from Authorization",
		           1);
		return -1;
	}
	*r = b;
	return 0;
}

static void
token_done(uns_gw_exchange *x, uns_err err, ProtobufCMessage *m)
{
	const Uns__V1__IssueTokenResponse *resp =
	    (Uns__V1__IssueTokenResponse *)m;
	if (err != UNS_OK) {
		const char *auth = uns_gw_header(x, "Authorization");
		int basic = auth != NULL && strncasecmp(auth, "Basic ", 6) == 0;
		char source[64];
		uns_gw_client_address(x, source, sizeof(source));
		if (err == UNS_UNAUTHENTICATED && source[0] != '\0') {
			uns_gw_ops_token_failed(x->ops, source);
		}
		uns_gw_ops_rpc_error(x->ops, x->route, err);
		uns_oauth_error e = uns_oauth_error_of(err, x->rpc_message);
		const char *ra = strstr(x->rpc_message, "retry after ");
		if (e.http == 429) { /* the server's "retry after N s" */
			char v[24];
			unsigned long secs =
			    ra ? strtoul(ra + 12, NULL, 10) : 0;
			snprintf(v, sizeof(v), "%lu", secs ? secs : 1);
			uns_gw_set_header(x, "Retry-After", v);
		}
		oauth_fail(x, e.http, e.error, x->rpc_message, basic);
		return;
	}
	no_store(x);
	uns_jv *v = uns_jv_new_object();
	if (uns_jv_set_str(v, "token_type", resp->token_type) != UNS_OK ||
	    uns_jv_set_int(v, "expires_in", resp->expires_in) != UNS_OK ||
	    uns_jv_set_int(v, "ext_expires_in", resp->expires_in) != UNS_OK ||
	    uns_jv_set_str(v, "access_token", resp->access_token) != UNS_OK) {
		uns_jv_free(v);
		v = NULL;
	}
	uns_gw_reply_json(x, 200, v);
}

void
uns_gw_token(uns_gw_exchange *x)
{
	char source[64], v[24];
	uint32_t retry_s = 1;
	uns_gw_client_address(x, source, sizeof(source));
	/* anonymous: the endpoint takes credentials, not a token; the
	 * client's address for its limits (believed from inproc:// only) */
	const uns_metadata md = {UNS_MD_CLIENT_ADDRESS, source};
	const uns_gw_call_spec spec = {
	    .method = &uns_notifications_method_issue_token,
	    .anonymous = 1,
	    .metadata = source[0] ? &md : NULL,
	    .n_metadata = source[0] ? 1 : 0,
	    .finish = token_done};
	if (source[0] != '\0' &&
	    !uns_gw_ops_token_admit(x->ops, source, &retry_s)) {
		snprintf(v, sizeof(v), "%u", retry_s ? retry_s : 1);
		uns_gw_set_header(x, "Retry-After", v);
		oauth_fail(x, 429, "temporarily_unavailable",
		           "too many wrong client secrets from this address; "
		           "retry later",
		           0);
		return;
	}
	uns_oauth_request *r = calloc(1, sizeof(*r)); /* 4 KiB, off stack */
	int basic = 0;
	if (r == NULL) {
		oauth_fail(x, 500, "server_error", "out of memory", 0);
		return;
	}
	if (read_request(x, r, &basic) != 0) {
		free(r);
		return;
	}
	Uns__V1__IssueTokenRequest req = UNS__V1__ISSUE_TOKEN_REQUEST__INIT;
	req.grant_type = r->grant_type;
	req.client_id = r->client_id;
	req.client_secret = r->client_secret;
	req.scope = r->scope;
	uns_gw_call(x, &spec, &req.base);
	memset(r, 0, sizeof(*r)); /* the secret */
	free(r);
}

void
uns_gw_metrics(uns_gw_exchange *x)
{
	uns_metrics *m = uns_gw_ops_metrics(x->ops);
	char *text = NULL;
	size_t len = 0;
	if (m == NULL) {
		uns_gw_fail(x, 404, "NotFound",
		            "this gateway keeps no metrics");
		return;
	}
	if (uns_metrics_write(m, &text, &len) != UNS_OK) {
		uns_gw_fail(x, 500, "InternalServerError", "out of memory");
		return;
	}
	uns_gw_reply_text(x, 200, UNS_METRICS_CONTENT_TYPE, text);
}

void
uns_gw_openapi(uns_gw_exchange *x)
{
	char *doc = strdup(uns_gw_openapi_json);
	if (doc == NULL) {
		uns_gw_fail(x, 500, "InternalServerError", "out of memory");
		return;
	}
	uns_gw_reply_text(x, 200, "application/json; charset=utf-8", doc);
}
