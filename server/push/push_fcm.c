/*
 * push_fcm.c — the FCM transport: HTTP v1, POST
 * {fcm_url}/v1/projects/{project}/messages:send with a data-only message
 *   {"message":{"token":…,"data":{"unsid":…,"cursor":…},
 *               "android":{"priority":…,"ttl":"…s","collapse_key":"feed"}}}
 * The app's FirebaseMessagingService gets the data, pulls its feed and
 * shows what it finds. Priority is high only for High-priority posts:
 * Android demotes apps whose high-priority messages show nothing.
 *
 * Authorization is an OAuth 2 access token for the service account
 * (fcm_credentials), got by the JWT bearer grant (RFC 7523): an RS256
 * assertion {"iss":client_email,"scope":…firebase.messaging,"aud":
 * token_uri,"iat","exp":iat+3600} POSTed to token_uri. The token is
 * cached until a minute before it ends, or until FCM answers 401; the
 * fetch happens inside build(), in a push_token_cache, so one
 * fetch serves every waiting build (push.h allows this one I/O).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "errors.h"
#include "push_impl.h"

extern const uns_push_transport_ops uns_push_fcm; /* below */

#define SCOPE       "https://www.googleapis.com/auth/firebase.messaging"
#define GRANT       "urn:ietf:params:oauth:grant-type:jwt-bearer"
#define ASSERTION_S 3600
#define MAX_TOKEN   4096
#define MAX_TTL_S   2419200 /* 28 days */

typedef struct fcm_vals {
	char url[UNS_CONFIG_STR_MAX];
	char credentials[UNS_CONFIG_STR_MAX]; /* service-account JSON */
	char token_uri[UNS_CONFIG_STR_MAX];
	char project[UNS_CONFIG_STR_MAX];
	int64_t ttl_s;
} fcm_vals;

static const uns_config_key fcm_keys[] = {
    UNS_CONFIG_KEY("push: fcm", "fcm_url", URL, fcm_vals, url, 1, PUSH_STRLEN,
                   "https://fcm.googleapis.com", "FCM HTTP v1 base URL."),
    UNS_CONFIG_KEY("push: fcm", "fcm_credentials", PATH, fcm_vals, credentials,
                   0, PUSH_STRLEN, "",
                   "Firebase service-account JSON (client_email, "
                   "private_key,\n"
                   "token_uri, project_id). \"\" = FCM off."),
    UNS_CONFIG_KEY("push: fcm", "fcm_token_uri", URL, fcm_vals, token_uri, 0,
                   PUSH_STRLEN, "",
                   "OAuth token endpoint for the service account. \"\" = "
                   "the\n"
                   "credentials' token_uri."),
    UNS_CONFIG_KEY("push: fcm", "fcm_project", STRING, fcm_vals, project, 0,
                   255, "",
                   "Firebase project id. \"\" = the credentials' "
                   "project_id."),
    UNS_CONFIG_KEY("push: fcm", "fcm_ttl", DURATION_S, fcm_vals, ttl_s, 0,
                   28 * PUSH_DAY_S, "1d", "android.ttl of FCM taps."),
};

static const uns_config_section fcm_section = {
    fcm_keys, sizeof(fcm_keys) / sizeof(fcm_keys[0]), sizeof(fcm_vals)};

/* The values, with token_uri and project filled from the credentials
 * when not set. */
typedef struct fcm_settings {
	fcm_vals v;
	uns_key *key; /* NULL: not configured */
	char client_email[PUSH_STR];
} fcm_settings;

struct uns_push_transport {
	push_oauth_transport o; /* all of it: push_oauth_open allocates it */
};

static void
fcm_unload(void *settings)
{
	fcm_settings *s = settings;

	if (s == NULL) {
		return;
	}
	uns_key_free(s->key);
	free(s);
}

/* Copies the string member name of obj into out unless out is set. */
static void
json_fill(const uns_jv *obj, const char *name, char *out, size_t cap)
{
	const char *v = uns_jv_string(uns_jv_get(obj, name));

	if (out[0] == '\0' && v != NULL) {
		snprintf(out, cap, "%s", v);
	}
}

static uns_err
read_credentials(fcm_settings *s, char *why, size_t whylen)
{
	const char *path = s->v.credentials, *pk = NULL;
	uns_jv_error jerr;
	uns_jv *root = NULL;
	size_t pk_len = 0;
	char inner[400];
	uns_err err = UNS_EINVAL;

	if (uns_jv_parse_file(path, UNS_JV_DUPLICATES, &root, &jerr) !=
	    UNS_OK) {
		uns_say(why, whylen, "fcm_credentials: %s: %s", path,
		        jerr.reason);
		return UNS_EINVAL;
	}
	json_fill(root, "client_email", s->client_email,
	          sizeof(s->client_email));
	json_fill(root, "token_uri", s->v.token_uri, sizeof(s->v.token_uri));
	json_fill(root, "project_id", s->v.project, sizeof(s->v.project));
	if (s->client_email[0] == '\0' || s->v.token_uri[0] == '\0' ||
	    s->v.project[0] == '\0' ||
	    uns_jv_str(uns_jv_get(root, "private_key"), &pk, &pk_len) !=
	        UNS_OK) {
		uns_say(why, whylen,
		        "fcm_credentials: %s needs client_email, private_key, "
		        "token_uri and project_id",
		        path);
		goto out;
	}
	if (uns_key_parse(&s->key, pk, pk_len, inner, sizeof(inner)) !=
	        UNS_OK ||
	    uns_key_type_of(s->key) != UNS_KEY_RSA ||
	    !uns_key_is_private(s->key)) {
		uns_say(why, whylen,
		        "fcm_credentials: private_key is not an rsa private "
		        "key");
		goto out;
	}
	err = UNS_OK;
out:
	uns_jv_free(root);
	return err;
}

static uns_err
fcm_load(void **out, const void *vals, const uns_push_config *cfg, char *why,
         size_t whylen)
{
	fcm_settings *s = calloc(1, sizeof(*s));

	(void)cfg;
	if (s == NULL) {
		return UNS_ENOMEM;
	}
	s->v = *(const fcm_vals *)vals;
	*out = s;
	return s->v.credentials[0] == '\0' ? UNS_OK
	                                   : read_credentials(s, why, whylen);
}

static uns_err
fcm_check(const uns_push_config *cfg, const Uns__V1__Subscription *sub,
          const char **field, char *why, size_t whylen)
{
	static const char ok[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrs"
	                         "tuvwxyz0123456789_-:.";
	size_t n = strlen(sub->push_channel);

	*field = "pushChannel";
	if (n < 16 || n > MAX_TOKEN || strspn(sub->push_channel, ok) != n) {
		uns_say(why, whylen,
		        "an FCM registration token is 16 to %d characters "
		        "of A-Z a-z 0-9 _ - : .",
		        MAX_TOKEN);
		return UNS_INVALID_ARGUMENT;
	}
	return UNS_OK;
}

/* The RS256 assertion of the JWT bearer grant. */
static uns_err
assertion(const fcm_settings *s, int64_t now_s, char **out)
{
	uns_jv *c = uns_jv_new_object();
	char *cs;
	uns_err err = UNS_ENOMEM;

	if (c == NULL || uns_jv_set_str(c, "iss", s->client_email) ||
	    uns_jv_set_str(c, "scope", SCOPE) ||
	    uns_jv_set_str(c, "aud", s->v.token_uri) ||
	    uns_jv_set_int(c, "iat", now_s) ||
	    uns_jv_set_int(c, "exp", now_s + ASSERTION_S)) {
		uns_jv_free(c);
		return UNS_ENOMEM;
	}
	if ((cs = push_json_text(c)) != NULL) {
		err = push_jwt_sign(
		    s->key, "{\"alg\":\"RS256\",\"typ\":\"JWT\"}", cs, out);
	}
	free(cs);
	return err;
}

static uns_err
fetch(void *arg, int64_t now_ms, push_token *out, char *why, size_t whylen)
{
	uns_push_transport *t = arg;
	const fcm_settings *s = push_settings(t->o.cfg, &uns_push_fcm);
	char *jwt = NULL, *form = NULL, *esc = NULL;
	uns_err err;
	size_t cap;

	if ((err = assertion(s, now_ms / 1000, &jwt)) != UNS_OK) {
		return err;
	}
	cap = strlen(jwt) * 3 + 1;
	if ((esc = malloc(cap)) == NULL ||
	    (form = malloc(cap + sizeof(GRANT) * 3 + 64)) == NULL) {
		err = UNS_ENOMEM;
		goto out;
	}
	push_form_escape(jwt, esc, cap);
	sprintf(form, "grant_type=%s&assertion=%s",
	        "urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Ajwt-bearer", esc);
	err = push_fetch_token(t->o.cfg, s->v.token_uri, form, now_ms, out, why,
	                       whylen);
out:
	free(jwt);
	free(esc);
	free(form);
	return err;
}

static char *
fcm_body(const fcm_settings *s, const uns_tap *tap)
{
	const Uns__V1__Notification *n = tap->subject;
	bool high = !tap->state_change && n != NULL &&
	            n->priority == UNS__V1__PRIORITY__PRIORITY_HIGH;
	int64_t ttl = s->v.ttl_s < MAX_TTL_S ? s->v.ttl_s : MAX_TTL_S;
	char ttl_s[32];
	uns_jv *doc, *msg, *data, *android;

	if (n != NULL && n->expiration_time_ms > 0 &&
	    (n->expiration_time_ms - tap->now_ms) / 1000 < ttl) {
		ttl = (n->expiration_time_ms - tap->now_ms) / 1000;
		ttl = ttl < 0 ? 0 : ttl;
	}
	snprintf(ttl_s, sizeof(ttl_s), "%llds", (long long)ttl);
	/* {"message":{"token","data":{"unsid","cursor"},
	 *  "android":{"priority","ttl","collapse_key"}}}, each object put
	 * into its parent before it is filled (the parent holds it) */
	doc = uns_jv_new_object();
	msg = uns_jv_new_object();
	data = uns_jv_new_object();
	android = uns_jv_new_object();
	if (uns_jv_set(doc, "message", msg) ||
	    uns_jv_set_str(msg, "token", tap->sub->push_channel) ||
	    uns_jv_set(msg, "data", data) ||
	    uns_jv_set_str(data, "unsid", tap->sub->unsid) ||
	    uns_jv_set_str(data, "cursor", tap->cursor) ||
	    uns_jv_set(msg, "android", android) ||
	    uns_jv_set_str(android, "priority", high ? "high" : "normal") ||
	    uns_jv_set_str(android, "ttl", ttl_s) ||
	    uns_jv_set_str(android, "collapse_key", "feed")) {
		uns_jv_free(doc);
		return NULL;
	}
	return push_json_text(doc);
}

static uns_err
fcm_build(uns_push_transport *t, const uns_tap *tap, uns_push_request *out)
{
	const fcm_settings *s = push_settings(t->o.cfg, &uns_push_fcm);
	uns_push_request r = {0};
	char *body = NULL;
	uns_err err = UNS_ENOMEM;

	if (s->key == NULL) {
		return UNS_FAILED_PRECONDITION; /* fcm_credentials not set */
	}
	if ((body = fcm_body(s, tap)) == NULL ||
	    (err = push_set_url(&r, "%s/v1/projects/%s/messages:send", s->v.url,
	                        s->v.project)) != UNS_OK ||
	    (err = push_token_cache_authorize(&t->o.token, "fcm", tap->now_ms,
	                                      fetch, t, &r)) != UNS_OK ||
	    (err = push_header(&r, "Content-Type: application/json")) !=
	        UNS_OK) {
		goto out;
	}
	push_set_body(&r, (unsigned char *)body, strlen(body));
	body = NULL;
	*out = r;
	memset(&r, 0, sizeof(r));
out:
	free(body);
	uns_push_request_free(&r);
	return err;
}

/* The FcmError errorCode in a google.rpc.Status body, or "". */
static void
error_code(const uns_push_response *resp, char *out, size_t cap)
{
	uns_jv *root = NULL, *details, *d;
	uns_jv_iter it;
	const char *c;

	out[0] = '\0';
	if (resp->body == NULL || resp->body_len == 0 ||
	    uns_jv_parse(resp->body, resp->body_len, UNS_JV_DUPLICATES, &root,
	                 NULL) != UNS_OK) {
		return;
	}
	details = uns_jv_get(uns_jv_get(root, "error"), "details");
	uns_jv_iter_init(&it, uns_jv_typeof(details) == UNS_JV_ARRAY ? details
	                                                             : NULL);
	while (uns_jv_iter_next(&it, NULL, &d)) {
		if ((c = uns_jv_string(uns_jv_get(d, "errorCode"))) != NULL) {
			snprintf(out, cap, "%s", c);
			break;
		}
	}
	uns_jv_free(root);
}

static const struct {
	const char *code;
	uns_push_outcome outcome;
} codes[] = {
    {"UNREGISTERED", UNS_PUSH_DEAD},
    {"SENDER_ID_MISMATCH", UNS_PUSH_DEAD},
    {"QUOTA_EXCEEDED", UNS_PUSH_RETRY},
    {"UNAVAILABLE", UNS_PUSH_RETRY},
    {"INTERNAL", UNS_PUSH_RETRY},
    {"THIRD_PARTY_AUTH_ERROR", UNS_PUSH_REJECTED},
    {"INVALID_ARGUMENT", UNS_PUSH_REJECTED},
};

/*
 * By errorCode first (UNREGISTERED and SENDER_ID_MISMATCH: the token is
 * gone or not ours; QUOTA_EXCEEDED, UNAVAILABLE, INTERNAL: retry;
 * THIRD_PARTY_AUTH_ERROR: Firebase's APNs or web credentials, not ours:
 * drop), else by status: 404 dead, 401 our access token: drop it and
 * retry at once, 429/5xx retry.
 */
static uns_push_outcome
fcm_classify(uns_push_transport *t, const uns_push_response *resp,
             int64_t *retry_after_ms)
{
	uns_push_outcome o;
	char code[64];

	error_code(resp, code, sizeof(code));
	o = push_classify_common(resp, retry_after_ms);
	for (size_t i = 0;
	     code[0] != '\0' && i < sizeof(codes) / sizeof(codes[0]); i++) {
		if (strcmp(code, codes[i].code) == 0) {
			o = codes[i].outcome;
			break;
		}
	}
	if (o == UNS_PUSH_RETRY) {
		*retry_after_ms = push_retry_after(resp);
	}
	if (o == UNS_PUSH_REAUTH && t != NULL) {
		push_token_cache_drop(&t->o.token);
	}
	return o;
}

const uns_push_transport_ops uns_push_fcm = {
    .name = "fcm",
    .platform = UNS__V1__PLATFORM__PLATFORM_ANDROID,
    .keys = &fcm_section,
    .load = fcm_load,
    .unload = fcm_unload,
    .check = fcm_check,
    .open = push_oauth_open,
    .close = push_oauth_close,
    .build = fcm_build,
    .classify = fcm_classify,
};
