/*
 * fixture.c — see fixture.h.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "fixture.h"
#include "internal.h"

/* --- the wire walk ------------------------------------------------------ */

typedef struct scan {
	const uint8_t *base;
	char *why;
	size_t whylen;
} scan;

static uns_err scan_fail(scan *s, const uint8_t *at, const char *path,
                         const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static uns_err
scan_fail(scan *s, const uint8_t *at, const char *path, const char *fmt, ...)
{
	char reason[256];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(reason, sizeof(reason), fmt, ap);
	va_end(ap);
	uns_say(s->why, s->whylen, "offset %zu: %s%s%s", (size_t)(at - s->base),
	        path, path[0] ? ": " : "", reason);
	return UNS_INVALID_ARGUMENT;
}

/* Bytes taken by the varint at p (at most left), or 0 if it is cut off or
 * longer than ten bytes. */
static size_t
read_varint(const uint8_t *p, size_t left, uint64_t *v)
{
	uint64_t r = 0;
	for (size_t i = 0; i < left && i < 10; i++) {
		r |= (uint64_t)(p[i] & 0x7f) << (7 * i);
		if ((p[i] & 0x80) == 0) {
			*v = r;
			return i + 1;
		}
	}
	return 0;
}

/* The wire type a field of this type is written with (2 also allowed for
 * packed repeated scalars). */
static int
wire_type_of(ProtobufCType t)
{
	switch (t) {
	case PROTOBUF_C_TYPE_FIXED64:
	case PROTOBUF_C_TYPE_SFIXED64:
	case PROTOBUF_C_TYPE_DOUBLE:
		return 1;
	case PROTOBUF_C_TYPE_FIXED32:
	case PROTOBUF_C_TYPE_SFIXED32:
	case PROTOBUF_C_TYPE_FLOAT:
		return 5;
	case PROTOBUF_C_TYPE_STRING:
	case PROTOBUF_C_TYPE_BYTES:
	case PROTOBUF_C_TYPE_MESSAGE:
		return 2;
	default:
		return 0;
	}
}

static size_t
path_push(char *path, size_t plen, size_t cap,
          const ProtobufCFieldDescriptor *fd, uint32_t number, unsigned index)
{
	int n;
	const char *dot = plen ? "." : "";
	if (fd == NULL) {
		n = snprintf(path + plen, cap - plen, "%s#%u", dot, number);
	} else if (fd->label == PROTOBUF_C_LABEL_REPEATED) {
		n = snprintf(path + plen, cap - plen, "%s%s[%u]", dot, fd->name,
		             index);
	} else {
		n = snprintf(path + plen, cap - plen, "%s%s", dot, fd->name);
	}
	return n < 0 || (size_t)n >= cap - plen ? cap - 1 : plen + (size_t)n;
}

static uns_err scan_msg(scan *s, const ProtobufCMessageDescriptor *d,
                        const uint8_t *p, size_t len, char *path, size_t plen,
                        int depth);

/* Checks one field whose tag has been read; *used is what its value
 * takes. */
static uns_err
scan_value(scan *s, const ProtobufCFieldDescriptor *fd, int wt,
           const uint8_t *p, size_t left, char *path, size_t plen, int depth,
           size_t *used)
{
	uint64_t v;
	size_t n;
	switch (wt) {
	case 0:
		if ((n = read_varint(p, left, &v)) == 0) {
			return scan_fail(s, p, path, "varint cut off");
		}
		*used = n;
		return UNS_OK;
	case 1:
	case 5:
		n = wt == 1 ? 8 : 4;
		if (left < n) {
			return scan_fail(s, p, path,
			                 "%zu-byte value, %zu bytes left", n,
			                 left);
		}
		*used = n;
		return UNS_OK;
	case 2:
		if ((n = read_varint(p, left, &v)) == 0) {
			return scan_fail(s, p, path, "length cut off");
		}
		if (v > left - n) {
			return scan_fail(
			    s, p, path,
			    "length %llu runs past the end (%zu bytes left)",
			    (unsigned long long)v, left - n);
		}
		*used = n + (size_t)v;
		if (fd && fd->type == PROTOBUF_C_TYPE_MESSAGE) {
			return scan_msg(s, fd->descriptor, p + n, (size_t)v,
			                path, plen, depth + 1);
		}
		return UNS_OK;
	default:
		return scan_fail(s, p, path, "wire type %d is not used here",
		                 wt);
	}
}

static uns_err
scan_msg(scan *s, const ProtobufCMessageDescriptor *d, const uint8_t *p,
         size_t len, char *path, size_t plen, int depth)
{
	unsigned seen[64] = {0}; /* per field index: elements so far */
	size_t off = 0;
	if (depth > UNS_FIXTURE_MAX_DEPTH) {
		return scan_fail(s, p, path, "nested too deeply");
	}
	while (off < len) {
		uint64_t tag;
		size_t n = read_varint(p + off, len - off, &tag), used = 0;
		if (n == 0) {
			return scan_fail(s, p + off, path, "tag cut off");
		}
		uint32_t number = (uint32_t)(tag >> 3);
		int wt = (int)(tag & 7);
		if (number == 0 || tag >> 32) {
			return scan_fail(s, p + off, path, "bad field number");
		}
		const ProtobufCFieldDescriptor *fd =
		    protobuf_c_message_descriptor_get_field(d, number);
		unsigned idx = 0;
		if (fd) {
			size_t fi = (size_t)(fd - d->fields);
			idx = fi < 64 ? seen[fi]++ : 0;
			int want = wire_type_of(fd->type);
			if (wt != want &&
			    !(wt == 2 && want != 2 &&
			      fd->label == PROTOBUF_C_LABEL_REPEATED)) {
				char sub[512];
				memcpy(sub, path, plen + 1);
				path_push(sub, plen, sizeof(sub), fd, number,
				          idx);
				return scan_fail(s, p + off, sub,
				                 "wire type %d, expected %d",
				                 wt, want);
			}
		}
		size_t sub_len = path_push(path, plen, 512, fd, number, idx);
		uns_err err = scan_value(s, fd, wt, p + off + n, len - off - n,
		                         path, sub_len, depth, &used);
		path[plen] = '\0';
		if (err != UNS_OK) {
			return err;
		}
		off += n + used;
	}
	return UNS_OK;
}

uns_err
uns_fixture_scan(const ProtobufCMessageDescriptor *desc, const uint8_t *buf,
                 size_t len, char *why, size_t whylen)
{
	char path[512] = "";
	scan s = {buf, why, whylen};
	return scan_msg(&s, desc, buf, len, path, 0, 0);
}

/* --- meaning ------------------------------------------------------------ */

static uns_err
check_binding(const Uns__V1__FixtureBinding *b, size_t i, size_t j, char *why,
              size_t whylen)
{
	if (b->side != UNS__V1__FIXTURE_BINDING__SIDE__SIDE_RESPONSE &&
	    b->side != UNS__V1__FIXTURE_BINDING__SIDE__SIDE_REQUEST) {
		uns_say(why, whylen, "exchanges[%zu].bindings[%zu].side: %d", i,
		        j, (int)b->side);
		return UNS_INVALID_ARGUMENT;
	}
	if (b->path[0] == '\0') {
		uns_say(why, whylen, "exchanges[%zu].bindings[%zu].path: empty",
		        i, j);
		return UNS_INVALID_ARGUMENT;
	}
	if (b->name[0] != '$' || b->name[1] == '\0') {
		uns_say(why, whylen,
		        "exchanges[%zu].bindings[%zu].name: \"%s\" is not a "
		        "$name",
		        i, j, b->name);
		return UNS_INVALID_ARGUMENT;
	}
	return UNS_OK;
}

static uns_err
check_request(const Uns__V1__RequestEnvelope *r, size_t i, char *why,
              size_t whylen)
{
	if (r == NULL || r->method[0] == '\0') {
		uns_say(why, whylen, "exchanges[%zu].request.method: missing",
		        i);
		return UNS_INVALID_ARGUMENT;
	}
	for (size_t k = 0; k < r->n_metadata; k++) {
		const Uns__V1__Metadata *md = r->metadata[k];
		uns_fixture_token t;
		const char *v = (const char *)md->value.data;
		size_t n = md->value.len;
		if (strcmp(md->key, "authorization") != 0 || n < 7 ||
		    memcmp(v, "Bearer ", 7) != 0) {
			continue;
		}
		if (uns_fixture_token_parse(v + 7, n - 7, &t) < 0) {
			uns_say(why, whylen,
			        "exchanges[%zu].request.metadata[%zu].value: "
			        "bad token placeholder",
			        i, k);
			return UNS_INVALID_ARGUMENT;
		}
	}
	return UNS_OK;
}

uns_err
uns_fixture_check(const Uns__V1__Fixture *f, char *why, size_t whylen)
{
	if (f->header == NULL) {
		uns_say(why, whylen, "header: missing");
		return UNS_INVALID_ARGUMENT;
	}
	if (f->header->format_version != UNS_FIXTURE_FORMAT_VERSION) {
		uns_say(why, whylen,
		        "header.format_version: %u (this unsctl reads %d)",
		        f->header->format_version, UNS_FIXTURE_FORMAT_VERSION);
		return UNS_INVALID_ARGUMENT;
	}
	if (f->n_exchanges == 0) {
		uns_say(why, whylen, "exchanges: none (cut short?)");
		return UNS_INVALID_ARGUMENT;
	}
	if (f->exchange_count != 0 && f->exchange_count != f->n_exchanges) {
		uns_say(why, whylen,
		        "exchange_count: the file counts %u exchanges but "
		        "holds %zu (cut short?)",
		        f->exchange_count, f->n_exchanges);
		return UNS_INVALID_ARGUMENT;
	}
	for (size_t i = 0; i < f->n_exchanges; i++) {
		const Uns__V1__FixtureExchange *ex = f->exchanges[i];
		uns_err err = check_request(ex->request, i, why, whylen);
		if (err != UNS_OK) {
			return err;
		}
		if (ex->expected == NULL || ex->expected->code < 0 ||
		    ex->expected->code > 16) {
			uns_say(why, whylen,
			        "exchanges[%zu].expected: missing, or a code "
			        "outside 0..16",
			        i);
			return UNS_INVALID_ARGUMENT;
		}
		for (size_t j = 0; j < ex->n_bindings; j++) {
			err = check_binding(ex->bindings[j], i, j, why, whylen);
			if (err != UNS_OK) {
				return err;
			}
		}
	}
	return UNS_OK;
}

uns_err
uns_fixture_parse(const uint8_t *buf, size_t len, Uns__V1__Fixture **out,
                  char *why, size_t whylen)
{
	char reason[512];
	uns_err err = uns_fixture_scan(&uns__v1__fixture__descriptor, buf, len,
	                               why, whylen);
	if (err != UNS_OK) {
		return err;
	}
	Uns__V1__Fixture *f = uns__v1__fixture__unpack(NULL, len, buf);
	if (f == NULL) {
		uns_say(why, whylen, "offset 0: not a uns.v1.Fixture");
		return UNS_INVALID_ARGUMENT;
	}
	if ((err = uns_fixture_check(f, reason, sizeof(reason))) != UNS_OK) {
		/* Meaning faults are found after the bytes: the count says the
		 * end came early, the rest name their exchange. */
		if (f->n_exchanges == 0 ||
		    (f->exchange_count &&
		     f->exchange_count != f->n_exchanges)) {
			uns_say(why, whylen, "offset %zu: %s", len, reason);
		} else {
			uns_say(why, whylen, "%s", reason);
		}
		uns__v1__fixture__free_unpacked(f, NULL);
		return err;
	}
	*out = f;
	return UNS_OK;
}

uns_err
uns_fixture_pack(const ProtobufCMessage *msg, uint8_t **out, size_t *len)
{
	size_t n = protobuf_c_message_get_packed_size(msg);
	uint8_t *buf = malloc(n ? n : 1);
	if (buf == NULL) {
		return UNS_ENOMEM;
	}
	protobuf_c_message_pack(msg, buf);
	*out = buf;
	*len = n;
	return UNS_OK;
}

/* --- token placeholders ------------------------------------------------- */

static int
copy_part(char *dst, size_t cap, const char *src, size_t n)
{
	if (n == 0 || n >= cap || memchr(src, '\0', n) != NULL) {
		return -1;
	}
	memcpy(dst, src, n);
	dst[n] = '\0';
	return 0;
}

/* Takes a trailing ";scp=A+B" off text[0..*len) into t->scopes ("A B"). */
static int
split_scopes(const char *text, size_t *len, uns_fixture_token *t)
{
	const char *mark = NULL;
	for (size_t i = 0; i + 5 <= *len; i++) {
		mark = memcmp(text + i, ";scp=", 5) == 0 ? text + i : mark;
	}
	if (mark == NULL) {
		return 0;
	}
	size_t n = *len - (size_t)(mark + 5 - text);
	if (copy_part(t->scopes, sizeof(t->scopes), mark + 5, n) != 0) {
		return -1;
	}
	for (char *p = t->scopes; *p; p++) {
		*p = *p == '+' ? ' ' : *p;
	}
	*len = (size_t)(mark - text);
	return 0;
}

int
uns_fixture_token_parse(const char *text, size_t len, uns_fixture_token *t)
{
	const size_t plen = strlen(UNS_FIXTURE_TOKEN_PREFIX);
	if (len < plen || memcmp(text, UNS_FIXTURE_TOKEN_PREFIX, plen) != 0) {
		return 0;
	}
	text += plen;
	len -= plen;
	memset(t, 0, sizeof(*t));
	if (split_scopes(text, &len, t) != 0) {
		return -1;
	}
	if (len > 4 && memcmp(text, "app:", 4) == 0) {
		t->app = 1;
		return copy_part(t->subject, sizeof(t->subject), text + 4,
		                 len - 4) == 0
		           ? 1
		           : -1;
	}
	if (len <= 5 || memcmp(text, "user:", 5) != 0) {
		return -1;
	}
	text += 5;
	len -= 5;
	const char *at = NULL;
	for (size_t i = 0; i < len; i++) {
		at = text[i] == '@' ? text + i : at;
	}
	size_t sub_len = at ? (size_t)(at - text) : len;
	if (copy_part(t->subject, sizeof(t->subject), text, sub_len) != 0) {
		return -1;
	}
	if (at && copy_part(t->host, sizeof(t->host), at + 1,
	                    len - sub_len - 1) != 0) {
		return -1;
	}
	return 1;
}

static int
b64url_value(char c)
{
	if (c >= 'A' && c <= 'Z') {
		return c - 'A';
	}
	if (c >= 'a' && c <= 'z') {
		return c - 'a' + 26;
	}
	if (c >= '0' && c <= '9') {
		return c - '0' + 52;
	}
	return c == '-' ? 62 : c == '_' ? 63 : -1;
}

/* Decodes unpadded base64url; returns the length or -1. */
static long
b64url_decode(const char *s, size_t n, char *out, size_t cap)
{
	uint32_t acc = 0;
	int bits = 0;
	size_t o = 0;
	for (size_t i = 0; i < n; i++) {
		int v = b64url_value(s[i]);
		if (v < 0) {
			return -1;
		}
		acc = (acc << 6) | (uint32_t)v;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			if (o == cap) {
				return -1;
			}
			out[o++] = (char)((acc >> bits) & 0xff);
		}
	}
	return (long)o;
}

static const char *
claim_str(json_t *claims, const char *name)
{
	const char *s = json_string_value(json_object_get(claims, name));
	return s && s[0] ? s : NULL;
}

/* Appends the words of a string or array claim to out, joined by '+'. */
static void
add_words(json_t *claim, char *out, size_t cap)
{
	size_t n = json_is_array(claim) ? json_array_size(claim) : 1;
	for (size_t i = 0; i < n; i++) {
		const char *w = json_string_value(
		    json_is_array(claim) ? json_array_get(claim, i) : claim);
		for (; w && *w; w++) {
			size_t o = strlen(out);
			char c = *w == ' ' ? '+' : *w;
			if (o + 2 < cap &&
			    !(c == '+' && (o == 0 || out[o - 1] == '+'))) {
				out[o] = c;
				out[o + 1] = '\0';
			}
		}
		size_t o = strlen(out);
		if (o > 0 && o + 2 < cap && out[o - 1] != '+') {
			out[o] = '+';
			out[o + 1] = '\0';
		}
	}
}

/* ";scp=A+B" when the token's scopes are not its kind's default. */
static void
scope_suffix(json_t *claims, int app, char *out, size_t cap)
{
	char words[512] = "", dflt[64];
	add_words(json_object_get(claims, "scp"), words, sizeof(words));
	add_words(json_object_get(claims, "roles"), words, sizeof(words));
	size_t n = strlen(words);
	if (n > 0 && words[n - 1] == '+') {
		words[n - 1] = '\0';
	}
	snprintf(dflt, sizeof(dflt), "%s",
	         app ? UNS_FIXTURE_APP_SCOPES : UNS_FIXTURE_USER_SCOPES);
	out[0] = '\0';
	if (strcmp(words, dflt) != 0) {
		snprintf(out, cap, ";scp=%s", words[0] ? words : "+");
	}
}

int
uns_fixture_token_placeholder(const char *token, size_t len, char *out,
                              size_t cap)
{
	char payload[4096];
	const char *dot1 = memchr(token, '.', len);
	const char *dot2 =
	    dot1 ? memchr(dot1 + 1, '.', len - (size_t)(dot1 + 1 - token))
	         : NULL;
	if (dot2 == NULL) {
		return -1;
	}
	long n = b64url_decode(dot1 + 1, (size_t)(dot2 - dot1 - 1), payload,
	                       sizeof(payload));
	json_t *claims = n > 0 ? json_loadb(payload, (size_t)n, 0, NULL) : NULL;
	if (claims == NULL) {
		return -1;
	}
	const char *sub = claim_str(claims, "sub");
	const char *app = claim_str(claims, "azp");
	const char *host = claim_str(claims, "uns_host");
	app = app ? app : claim_str(claims, "appid");
	char scp[600];
	int w = -1;
	scope_suffix(claims, sub == NULL, scp, sizeof(scp));
	if (sub) {
		w = snprintf(out, cap, UNS_FIXTURE_TOKEN_PREFIX "user:%s%s%s%s",
		             sub, host ? "@" : "", host ? host : "", scp);
	} else if (app) {
		w = snprintf(out, cap, UNS_FIXTURE_TOKEN_PREFIX "app:%s%s", app,
		             scp);
	}
	json_decref(claims);
	return w < 0 || (size_t)w >= cap ? -1 : 0;
}
