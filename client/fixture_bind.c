/*
 * fixture_bind.c — see fixture_bind.h.
 *
 * Messages are walked generically through protobuf-c descriptors: a leaf
 * is one scalar, string, bytes or enum value (one element of a repeated
 * field), named by its path. Our protos are proto3 without oneofs, so a
 * field is either repeated or always present (submessages may be NULL).
 */
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fixture_bind.h"
#include "internal.h"
#include "uns_methods.h"

#define PATH_MAX_LEN 256
#define TEXT_MAX     1024

/* --- leaves ------------------------------------------------------------- */

static size_t
elem_size(ProtobufCType t)
{
	switch (t) {
	case PROTOBUF_C_TYPE_INT64:
	case PROTOBUF_C_TYPE_SINT64:
	case PROTOBUF_C_TYPE_SFIXED64:
	case PROTOBUF_C_TYPE_UINT64:
	case PROTOBUF_C_TYPE_FIXED64:
	case PROTOBUF_C_TYPE_DOUBLE:
		return 8;
	case PROTOBUF_C_TYPE_STRING:
	case PROTOBUF_C_TYPE_MESSAGE:
		return sizeof(void *);
	case PROTOBUF_C_TYPE_BYTES:
		return sizeof(ProtobufCBinaryData);
	default:
		return 4;
	}
}

/* The value at p as text: numbers in decimal, enums by name, strings as
 * they are, bytes in hex (cut at cap). */
static void
leaf_text(const ProtobufCFieldDescriptor *fd, const void *p, char *out,
          size_t cap)
{
	const ProtobufCEnumValue *ev;
	const ProtobufCBinaryData *bd;
	switch (fd->type) {
	case PROTOBUF_C_TYPE_INT32:
	case PROTOBUF_C_TYPE_SINT32:
	case PROTOBUF_C_TYPE_SFIXED32:
		snprintf(out, cap, "%" PRId32, *(const int32_t *)p);
		return;
	case PROTOBUF_C_TYPE_UINT32:
	case PROTOBUF_C_TYPE_FIXED32:
		snprintf(out, cap, "%" PRIu32, *(const uint32_t *)p);
		return;
	case PROTOBUF_C_TYPE_INT64:
	case PROTOBUF_C_TYPE_SINT64:
	case PROTOBUF_C_TYPE_SFIXED64:
		snprintf(out, cap, "%" PRId64, *(const int64_t *)p);
		return;
	case PROTOBUF_C_TYPE_UINT64:
	case PROTOBUF_C_TYPE_FIXED64:
		snprintf(out, cap, "%" PRIu64, *(const uint64_t *)p);
		return;
	case PROTOBUF_C_TYPE_BOOL:
		snprintf(out, cap, "%s",
		         *(const protobuf_c_boolean *)p ? "true" : "false");
		return;
	case PROTOBUF_C_TYPE_FLOAT:
		snprintf(out, cap, "%g", (double)*(const float *)p);
		return;
	case PROTOBUF_C_TYPE_DOUBLE:
		snprintf(out, cap, "%g", *(const double *)p);
		return;
	case PROTOBUF_C_TYPE_ENUM:
		ev = protobuf_c_enum_descriptor_get_value(fd->descriptor,
		                                          *(const int *)p);
		ev ? snprintf(out, cap, "%s", ev->name)
		   : snprintf(out, cap, "%d", *(const int *)p);
		return;
	case PROTOBUF_C_TYPE_STRING:
		snprintf(out, cap, "%s", *(char *const *)p);
		return;
	case PROTOBUF_C_TYPE_BYTES:
		bd = p;
		out[0] = '\0';
		for (size_t i = 0, o = 0; i < bd->len && o + 3 < cap; i++) {
			o += (size_t)snprintf(out + o, cap - o, "%02x",
			                      bd->data[i]);
		}
		return;
	default:
		snprintf(out, cap, "?");
	}
}

static int
leaf_equal(const ProtobufCFieldDescriptor *fd, const void *a, const void *b)
{
	if (fd->type == PROTOBUF_C_TYPE_STRING) {
		return strcmp(*(char *const *)a, *(char *const *)b) == 0;
	}
	if (fd->type == PROTOBUF_C_TYPE_BYTES) {
		const ProtobufCBinaryData *x = a, *y = b;
		return x->len == y->len &&
		       (x->len == 0 || memcmp(x->data, y->data, x->len) == 0);
	}
	return memcmp(a, b, elem_size(fd->type)) == 0;
}

/* How a leaf is shown in a diff: strings quoted. */
static void
leaf_show(const ProtobufCFieldDescriptor *fd, const char *text, char *out,
          size_t cap)
{
	if (fd->type == PROTOBUF_C_TYPE_STRING) {
		uns_say(out, cap, "\"%s\"", text);
	} else {
		snprintf(out, cap, "%s", text);
	}
}

static size_t
path_add(char *path, size_t plen, const char *name, long index)
{
	int n;
	const char *dot = plen ? "." : "";
	if (index >= 0) {
		n = snprintf(path + plen, PATH_MAX_LEN - plen, "%s%s[%ld]", dot,
		             name, index);
	} else {
		n = snprintf(path + plen, PATH_MAX_LEN - plen, "%s%s", dot,
		             name);
	}
	return n < 0 || (size_t)n >= PATH_MAX_LEN - plen ? PATH_MAX_LEN - 1
	                                                 : plen + (size_t)n;
}

/* Where field fd of m keeps its value(s); *n is the element count. */
static const char *
field_elems(const ProtobufCMessage *m, const ProtobufCFieldDescriptor *fd,
            size_t *n)
{
	const char *at = (const char *)m + fd->offset;
	if (fd->label == PROTOBUF_C_LABEL_REPEATED) {
		*n = *(const size_t *)((const char *)m + fd->quantifier_offset);
		return *(char *const *)at;
	}
	*n = 1;
	return at;
}

/* --- walking one message ------------------------------------------------ */

typedef void (*leaf_fn)(void *arg, const char *path,
                        const ProtobufCMessage *owner,
                        const ProtobufCFieldDescriptor *fd, const void *p);

static void
visit(const ProtobufCMessage *m, char *path, size_t plen, leaf_fn fn, void *arg,
      int depth)
{
	const ProtobufCMessageDescriptor *d = m->descriptor;
	if (depth > UNS_FIXTURE_MAX_DEPTH) {
		return;
	}
	for (unsigned i = 0; i < d->n_fields; i++) {
		const ProtobufCFieldDescriptor *fd = &d->fields[i];
		size_t n;
		const char *elems = field_elems(m, fd, &n);
		int rep = fd->label == PROTOBUF_C_LABEL_REPEATED;
		for (size_t k = 0; k < n; k++) {
			const char *p = elems + k * elem_size(fd->type);
			size_t sub =
			    path_add(path, plen, fd->name, rep ? (long)k : -1);
			if (fd->type != PROTOBUF_C_TYPE_MESSAGE) {
				fn(arg, path, m, fd, p);
			} else if (*(ProtobufCMessage *const *)p) {
				visit(*(ProtobufCMessage *const *)p, path, sub,
				      fn, arg, depth + 1);
			}
			path[plen] = '\0';
		}
	}
}

/* Finds the leaf at path (segments "name" or "name[i]") in m. */
static int
resolve(ProtobufCMessage *m, const char *path,
        const ProtobufCFieldDescriptor **fd_out, char **p_out)
{
	char seg[PATH_MAX_LEN];
	while (m != NULL) {
		size_t n = strcspn(path, ".");
		if (n == 0 || n >= sizeof(seg)) {
			return -1;
		}
		memcpy(seg, path, n);
		seg[n] = '\0';
		long index = -1;
		char *br = strchr(seg, '[');
		if (br) {
			index = strtol(br + 1, NULL, 10);
			*br = '\0';
		}
		const ProtobufCFieldDescriptor *fd =
		    protobuf_c_message_descriptor_get_field_by_name(
		        m->descriptor, seg);
		if (fd == NULL ||
		    (fd->label == PROTOBUF_C_LABEL_REPEATED) != (index >= 0)) {
			return -1;
		}
		size_t count;
		char *elems = (char *)field_elems(m, fd, &count);
		size_t k = index >= 0 ? (size_t)index : 0;
		if (k >= count) {
			return -1;
		}
		char *p = elems + k * elem_size(fd->type);
		if (path[n] == '\0') {
			*fd_out = fd;
			*p_out = p;
			return fd->type == PROTOBUF_C_TYPE_MESSAGE ? -1 : 0;
		}
		if (fd->type != PROTOBUF_C_TYPE_MESSAGE) {
			return -1;
		}
		m = *(ProtobufCMessage **)p;
		path += n + 1;
	}
	return -1;
}

/* Sets the leaf at p from text: strings copied, integers parsed. */
static int
leaf_set(const ProtobufCFieldDescriptor *fd, char *p, const char *text)
{
	char *end = NULL;
	switch (fd->type) {
	case PROTOBUF_C_TYPE_STRING: {
		char *copy = strdup(text);
		char *old = *(char **)p;
		if (copy == NULL) {
			return -1;
		}
		if (old && old != (const char *)fd->default_value &&
		    old != protobuf_c_empty_string) {
			free(old);
		}
		*(char **)p = copy;
		return 0;
	}
	case PROTOBUF_C_TYPE_UINT64:
	case PROTOBUF_C_TYPE_FIXED64:
		*(uint64_t *)p = strtoull(text, &end, 10);
		break;
	case PROTOBUF_C_TYPE_INT64:
	case PROTOBUF_C_TYPE_SINT64:
	case PROTOBUF_C_TYPE_SFIXED64:
		*(int64_t *)p = strtoll(text, &end, 10);
		break;
	case PROTOBUF_C_TYPE_UINT32:
	case PROTOBUF_C_TYPE_FIXED32:
		*(uint32_t *)p = (uint32_t)strtoul(text, &end, 10);
		break;
	default:
		return -1;
	}
	return end && *end == '\0' && end != text ? 0 : -1;
}

/* --- the binder --------------------------------------------------------- */

typedef struct binding {
	char *name, *value;
} binding;

struct uns_fixture_binder {
	binding *v;
	size_t n, cap;
};

uns_err
uns_fixture_binder_alloc(uns_fixture_binder **out)
{
	uns_fixture_binder *b = calloc(1, sizeof(*b));
	if (b == NULL) {
		return UNS_ENOMEM;
	}
	*out = b;
	return UNS_OK;
}

void
uns_fixture_binder_free(uns_fixture_binder *b)
{
	if (b == NULL) {
		return;
	}
	for (size_t i = 0; i < b->n; i++) {
		free(b->v[i].name);
		free(b->v[i].value);
	}
	free(b->v);
	free(b);
}

const char *
uns_fixture_binder_get(const uns_fixture_binder *b, const char *name)
{
	for (size_t i = 0; i < b->n; i++) {
		if (strcmp(b->v[i].name, name) == 0) {
			return b->v[i].value;
		}
	}
	return NULL;
}

static int
binder_set(uns_fixture_binder *b, const char *name, const char *value)
{
	if (b->n == b->cap) {
		size_t cap = b->cap ? b->cap * 2 : 16;
		binding *v = realloc(b->v, cap * sizeof(*v));
		if (v == NULL) {
			return -1;
		}
		b->v = v;
		b->cap = cap;
	}
	binding *e = &b->v[b->n];
	e->name = strdup(name);
	e->value = strdup(value);
	if (e->name == NULL || e->value == NULL) {
		free(e->name);
		free(e->value);
		return -1;
	}
	b->n++;
	return 0;
}

/* --- replay: the request ------------------------------------------------ */

static const Uns__V1__FixtureBinding *
find_binding(const Uns__V1__FixtureExchange *ex, int side, const char *path)
{
	for (size_t i = 0; i < ex->n_bindings; i++) {
		const Uns__V1__FixtureBinding *b = ex->bindings[i];
		if ((int)b->side == side && strcmp(b->path, path) == 0) {
			return b;
		}
	}
	return NULL;
}

/* Applies the REQUEST bindings to the payload; *out is the new payload. */
static uns_err
bind_payload(const uns_fixture_binder *b, const Uns__V1__FixtureExchange *ex,
             ProtobufCBinaryData *out, char *why, size_t whylen)
{
	const Uns__V1__RequestEnvelope *r = ex->request;
	const uns_method *m =
	    uns_service_find(&uns_notifications_service, r->method);
	ProtobufCMessage *req =
	    m ? protobuf_c_message_unpack(m->input, NULL, r->payload.len,
	                                  r->payload.data)
	      : NULL;
	uns_err err = UNS_OK;
	if (req == NULL) {
		uns_say(why, whylen,
		        "request bindings need a known method and a payload "
		        "that decodes");
		return UNS_INVALID_ARGUMENT;
	}
	for (size_t i = 0; i < ex->n_bindings && err == UNS_OK; i++) {
		const Uns__V1__FixtureBinding *bd = ex->bindings[i];
		const ProtobufCFieldDescriptor *fd;
		char *p;
		if (bd->side != UNS__V1__FIXTURE_BINDING__SIDE__SIDE_REQUEST) {
			continue;
		}
		const char *value = uns_fixture_binder_get(b, bd->name);
		const char *path = strncmp(bd->path, "payload.", 8) == 0
		                       ? bd->path + 8
		                       : bd->path;
		if (value == NULL) {
			uns_say(why, whylen,
			        "bindings[%zu]: %s is not bound yet", i,
			        bd->name);
			err = UNS_INVALID_ARGUMENT;
		} else if (resolve(req, path, &fd, &p) != 0 ||
		           leaf_set(fd, p, value) != 0) {
			uns_say(why, whylen,
			        "bindings[%zu]: cannot set %s to %s = \"%s\"",
			        i, bd->path, bd->name, value);
			err = UNS_INVALID_ARGUMENT;
		}
	}
	if (err == UNS_OK) {
		err = uns_fixture_pack(req, &out->data, &out->len);
	}
	protobuf_c_message_free_unpacked(req, NULL);
	return err;
}

static int
has_request_bindings(const Uns__V1__FixtureExchange *ex)
{
	for (size_t i = 0; i < ex->n_bindings; i++) {
		if (ex->bindings[i]->side ==
		    UNS__V1__FIXTURE_BINDING__SIDE__SIDE_REQUEST) {
			return 1;
		}
	}
	return 0;
}

/* Mints the token of an "authorization" placeholder into *value
 * ("Bearer <jwt>", malloc'd); *value stays NULL for other metadata. */
static uns_err
mint_metadata(const Uns__V1__Metadata *md, uns_fixture_mint_fn mint, void *arg,
              char **value, char *why, size_t whylen)
{
	uns_fixture_token t;
	const char *v = (const char *)md->value.data;
	size_t n = md->value.len;
	*value = NULL;
	if (strcmp(md->key, "authorization") != 0 || n < 7 ||
	    memcmp(v, "Bearer ", 7) != 0 ||
	    uns_fixture_token_parse(v + 7, n - 7, &t) != 1) {
		return UNS_OK;
	}
	char *jwt = NULL;
	uns_err err = mint(arg, &t, &jwt, why, whylen);
	if (err != UNS_OK) {
		return err;
	}
	size_t len = strlen(jwt) + 8;
	*value = malloc(len);
	if (*value == NULL) {
		free(jwt);
		return UNS_ENOMEM;
	}
	snprintf(*value, len, "Bearer %s", jwt);
	free(jwt);
	return UNS_OK;
}

uns_err
uns_fixture_request(uns_fixture_binder *b, const Uns__V1__FixtureExchange *ex,
                    uns_fixture_mint_fn mint, void *arg, uint8_t **out,
                    size_t *len, char *why, size_t whylen)
{
	Uns__V1__RequestEnvelope env = *ex->request;
	size_t n_md = env.n_metadata;
	Uns__V1__Metadata *items = calloc(n_md + 1, sizeof(*items));
	Uns__V1__Metadata **md = calloc(n_md + 1, sizeof(*md));
	char **minted = calloc(n_md + 1, sizeof(*minted));
	ProtobufCBinaryData payload = {0, NULL};
	uns_err err = UNS_ENOMEM;
	if (items == NULL || md == NULL || minted == NULL) {
		goto out;
	}
	err = UNS_OK;
	for (size_t i = 0; i < n_md && err == UNS_OK; i++) {
		items[i] = *env.metadata[i];
		md[i] = &items[i];
		err = mint_metadata(env.metadata[i], mint, arg, &minted[i], why,
		                    whylen);
		if (err == UNS_OK && minted[i]) {
			items[i].value.data = (uint8_t *)minted[i];
			items[i].value.len = strlen(minted[i]);
		}
	}
	env.metadata = md;
	if (err == UNS_OK && has_request_bindings(ex)) {
		err = bind_payload(b, ex, &payload, why, whylen);
		env.payload = payload;
	}
	if (err == UNS_OK) {
		err = uns_fixture_pack(&env.base, out, len);
	}
out:
	for (size_t i = 0; minted && i < n_md; i++) {
		free(minted[i]);
	}
	free(minted);
	free(md);
	free(items);
	free(payload.data);
	return err;
}

/* --- replay: the comparison --------------------------------------------- */

typedef struct cmp {
	uns_fixture_binder *b;
	const Uns__V1__FixtureExchange *ex;
	uns_fixture_diff_fn fn;
	void *arg;
	size_t n;
	const char *skip; /* a top-level field compared separately */
} cmp;

static void
report(cmp *c, const char *path, const char *expected, const char *got)
{
	uns_fixture_diff d;
	snprintf(d.path, sizeof(d.path), "%s", path);
	snprintf(d.expected, sizeof(d.expected), "%s", expected);
	snprintf(d.got, sizeof(d.got), "%s", got);
	c->n++;
	if (c->fn) {
		c->fn(c->arg, &d);
	}
}

/* A leaf under a RESPONSE binding: bind on first sight, else match. */
static void
cmp_bound(cmp *c, const char *path, const Uns__V1__FixtureBinding *bd,
          const ProtobufCFieldDescriptor *fd, const void *g)
{
	char got[TEXT_MAX], want[TEXT_MAX], a[TEXT_MAX], bshow[TEXT_MAX];
	leaf_text(fd, g, got, sizeof(got));
	const char *bound = uns_fixture_binder_get(c->b, bd->name);
	if (bound == NULL) {
		if (binder_set(c->b, bd->name, got) != 0) {
			report(c, path, bd->name, "(out of memory binding it)");
		}
		return;
	}
	if (strcmp(bound, got) != 0) {
		leaf_show(fd, bound, bshow, sizeof(bshow));
		uns_say(want, sizeof(want), "%s = %s", bd->name, bshow);
		leaf_show(fd, got, a, sizeof(a));
		report(c, path, want, a);
	}
}

static void
cmp_leaf(cmp *c, const char *path, const ProtobufCFieldDescriptor *fd,
         const void *e, const void *g)
{
	char et[TEXT_MAX], gt[TEXT_MAX], es[TEXT_MAX], gs[TEXT_MAX];
	const Uns__V1__FixtureBinding *bd = find_binding(
	    c->ex, UNS__V1__FIXTURE_BINDING__SIDE__SIDE_RESPONSE, path);
	if (bd) {
		cmp_bound(c, path, bd, fd, g);
		return;
	}
	if (leaf_equal(fd, e, g)) {
		return;
	}
	leaf_text(fd, e, et, sizeof(et));
	leaf_text(fd, g, gt, sizeof(gt));
	leaf_show(fd, et, es, sizeof(es));
	leaf_show(fd, gt, gs, sizeof(gs));
	report(c, path, es, gs);
}

static void cmp_msg(cmp *c, const ProtobufCMessage *e,
                    const ProtobufCMessage *g, char *path, size_t plen,
                    int depth);

static void
cmp_field(cmp *c, const ProtobufCMessage *e, const ProtobufCMessage *g,
          const ProtobufCFieldDescriptor *fd, char *path, size_t plen,
          int depth)
{
	size_t ne, ng;
	const char *ea = field_elems(e, fd, &ne);
	const char *ga = field_elems(g, fd, &ng);
	int rep = fd->label == PROTOBUF_C_LABEL_REPEATED;
	if (ne != ng) {
		char es[32], gs[32];
		size_t sub = path_add(path, plen, fd->name, -1);
		snprintf(es, sizeof(es), "%zu entries", ne);
		snprintf(gs, sizeof(gs), "%zu entries", ng);
		report(c, path, es, gs);
		path[plen] = '\0';
		(void)sub;
	}
	for (size_t k = 0; k < ne && k < ng; k++) {
		size_t off = k * elem_size(fd->type);
		size_t sub = path_add(path, plen, fd->name, rep ? (long)k : -1);
		if (fd->type != PROTOBUF_C_TYPE_MESSAGE) {
			cmp_leaf(c, path, fd, ea + off, ga + off);
		} else {
			const ProtobufCMessage *em =
			    *(ProtobufCMessage *const *)(ea + off);
			const ProtobufCMessage *gm =
			    *(ProtobufCMessage *const *)(ga + off);
			if ((em == NULL) != (gm == NULL)) {
				report(c, path, em ? "present" : "absent",
				       gm ? "present" : "absent");
			} else if (em) {
				cmp_msg(c, em, gm, path, sub, depth + 1);
			}
		}
		path[plen] = '\0';
	}
}

static void
cmp_msg(cmp *c, const ProtobufCMessage *e, const ProtobufCMessage *g,
        char *path, size_t plen, int depth)
{
	const ProtobufCMessageDescriptor *d = e->descriptor;
	if (depth > UNS_FIXTURE_MAX_DEPTH) {
		return;
	}
	for (unsigned i = 0; i < d->n_fields; i++) {
		if (depth == 0 && c->skip &&
		    strcmp(d->fields[i].name, c->skip) == 0) {
			continue;
		}
		cmp_field(c, e, g, &d->fields[i], path, plen, depth);
	}
}

static void
cmp_payload(cmp *c, const Uns__V1__ResponseEnvelope *e,
            const Uns__V1__ResponseEnvelope *g, const char *method)
{
	char path[PATH_MAX_LEN] = "payload";
	const uns_method *m =
	    uns_service_find(&uns_notifications_service, method);
	ProtobufCMessage *em = NULL, *gm = NULL;
	if (m) {
		em = protobuf_c_message_unpack(m->output, NULL, e->payload.len,
		                               e->payload.data);
		gm = protobuf_c_message_unpack(m->output, NULL, g->payload.len,
		                               g->payload.data);
	}
	if (em && gm) {
		cmp_msg(c, em, gm, path, strlen(path), 1);
	} else if (e->payload.len != g->payload.len ||
	           (e->payload.len &&
	            memcmp(e->payload.data, g->payload.data, e->payload.len))) {
		report(c, path, em ? "a valid reply" : "(undecodable bytes)",
		       gm ? "other bytes" : "(undecodable bytes)");
	}
	if (em) {
		protobuf_c_message_free_unpacked(em, NULL);
	}
	if (gm) {
		protobuf_c_message_free_unpacked(gm, NULL);
	}
}

size_t
uns_fixture_compare(uns_fixture_binder *b, const Uns__V1__FixtureExchange *ex,
                    const uint8_t *got, size_t len, uns_fixture_diff_fn fn,
                    void *arg)
{
	char path[PATH_MAX_LEN] = "";
	cmp c = {b, ex, fn, arg, 0, "payload"};
	Uns__V1__ResponseEnvelope *g =
	    uns__v1__response_envelope__unpack(NULL, len, got);
	if (g == NULL) {
		report(&c, "(reply)", "a ResponseEnvelope",
		       "bytes that do not decode");
		return c.n;
	}
	const Uns__V1__ResponseEnvelope *e = ex->expected;
	if (e->code == g->code) {
		cmp_msg(&c, &e->base, &g->base, path, 0, 0);
		if (e->code == 0) {
			cmp_payload(&c, e, g, ex->request->method);
		}
	} else {
		/* Another outcome: its code and message say enough. */
		char es[TEXT_MAX], gs[TEXT_MAX];
		report(&c, "code", uns_status_name((uns_err)e->code),
		       uns_status_name((uns_err)g->code));
		uns_say(es, sizeof(es), "\"%s\"", e->message);
		uns_say(gs, sizeof(gs), "\"%s\"", g->message);
		report(&c, "message", es, gs);
	}
	uns__v1__response_envelope__free_unpacked(g, NULL);
	return c.n;
}

/* --- recording ---------------------------------------------------------- */

/* Reply fields whose values the server makes. Ids, cursors and page tokens
 * are named by value: the same value is the same name. A timestamp is
 * named by what it is the time of — (notification, field, version) or
 * (subscription, field) — since equal times are coincidences: the test
 * clock stands still while recording, and other fixtures move it during a
 * concurrent replay. */
static const struct made_field {
	const char *message, *field, *kind;
} made_fields[] = {
    {"uns.v1.Subscription", "unsid", "id"},
    {"uns.v1.Subscription", "created_time_ms", "t"},
    {"uns.v1.Subscription", "expiration_time_ms", "t"},
    {"uns.v1.Notification", "id", "id"},
    {"uns.v1.Notification", "app_notification_id", "id"}, /* when minted */
    {"uns.v1.Notification", "created_time_ms", "t"},
    {"uns.v1.Notification", "last_modified_time_ms", "t"},
    {"uns.v1.Notification", "expiration_time_ms", "t"},
    {"uns.v1.FetchResponse", "next_cursor", "cursor"},
    {"uns.v1.HistoryResponse", "next_page_token", "page"},
};
#define N_MADE (sizeof(made_fields) / sizeof(made_fields[0]))

static const char *
made_kind(const ProtobufCMessageDescriptor *owner,
          const ProtobufCFieldDescriptor *fd)
{
	for (size_t i = 0; i < N_MADE; i++) {
		if (strcmp(owner->name, made_fields[i].message) == 0 &&
		    strcmp(fd->name, made_fields[i].field) == 0) {
			return made_fields[i].kind;
		}
	}
	return NULL;
}

struct uns_fixture_recorder {
	pthread_mutex_t mu;
	Uns__V1__Fixture *f;
	/* "kind:value" (ids, cursors, pages) or "t:<what>" -> name */
	uns_fixture_binder *names;
	unsigned counters[4]; /* id, cursor, page, t */
	size_t exchange;      /* exchanges bound so far, forgotten or not */
	int dry;              /* naming only, no bindings (priming) */
	size_t pieces;        /* pieces packed for a file */
	/* the exchange being built */
	Uns__V1__FixtureBinding **bindings;
	size_t n_bindings, cap_bindings;
	int failed;
};

static unsigned *
counter_of(uns_fixture_recorder *r, const char *kind)
{
	static const char *const kinds[] = {"id", "cursor", "page", "t"};
	for (int i = 0; i < 4; i++) {
		if (strcmp(kind, kinds[i]) == 0) {
			return &r->counters[i];
		}
	}
	return &r->counters[0];
}

static void
add_binding(uns_fixture_recorder *r, int side, const char *path,
            const char *name)
{
	if (r->dry) {
		return;
	}
	if (r->n_bindings == r->cap_bindings) {
		size_t cap = r->cap_bindings ? r->cap_bindings * 2 : 8;
		void *v = realloc(r->bindings, cap * sizeof(*r->bindings));
		if (v == NULL) {
			r->failed = 1;
			return;
		}
		r->bindings = v;
		r->cap_bindings = cap;
	}
	Uns__V1__FixtureBinding *b = malloc(sizeof(*b));
	char *p = strdup(path), *n = strdup(name);
	if (b == NULL || p == NULL || n == NULL) {
		free(b);
		free(p);
		free(n);
		r->failed = 1;
		return;
	}
	uns__v1__fixture_binding__init(b);
	b->side = (Uns__V1__FixtureBinding__Side)side;
	b->path = p;
	b->name = n;
	r->bindings[r->n_bindings++] = b;
}

/* The name under key, making one of this kind if new. */
static const char *
name_for(uns_fixture_recorder *r, const char *kind, const char *key)
{
	char name[32];
	const char *have = uns_fixture_binder_get(r->names, key);
	if (have) {
		return have;
	}
	snprintf(name, sizeof(name), "$%s%u", kind, ++*counter_of(r, kind));
	if (binder_set(r->names, key, name) != 0) {
		r->failed = 1;
		return NULL;
	}
	return uns_fixture_binder_get(r->names, key);
}

/* The text of field `field` of m ("" if none). */
static void
sibling_text(const ProtobufCMessage *m, const char *field, char *out,
             size_t cap)
{
	const ProtobufCFieldDescriptor *fd;
	char *p;
	out[0] = '\0';
	if (resolve((ProtobufCMessage *)m, field, &fd, &p) == 0) {
		leaf_text(fd, p, out, cap);
	}
}

/* What a timestamp in owner is the time of, as a key for name_for. */
static void
time_key(uns_fixture_recorder *r, const ProtobufCMessage *owner,
         const ProtobufCFieldDescriptor *fd, char *key, size_t cap)
{
	char id[TEXT_MAX], idkey[TEXT_MAX + 8], version[32];
	int sub = strcmp(owner->descriptor->name, "uns.v1.Subscription") == 0;
	sibling_text(owner, sub ? "unsid" : "id", id, sizeof(id));
	snprintf(idkey, sizeof(idkey), "id:%s", id);
	const char *idname = uns_fixture_binder_get(r->names, idkey);
	if (id[0] == '\0' || idname == NULL) {
		/* nothing to tie it to: a name of its own */
		snprintf(key, cap, "t:#%u", r->counters[3] + 1);
	} else if (sub) {
		/* renewal moves the expiry: per exchange */
		snprintf(key, cap, "t:%s:%s:%zu", idname, fd->name,
		         strcmp(fd->name, "created_time_ms") ? r->exchange : 0);
	} else {
		sibling_text(owner, "version", version, sizeof(version));
		snprintf(key, cap, "t:%s:%s:%s", idname, fd->name,
		         strcmp(fd->name, "created_time_ms") ? version : "");
	}
}

static void
bind_reply_leaf(void *arg, const char *path, const ProtobufCMessage *owner,
                const ProtobufCFieldDescriptor *fd, const void *p)
{
	uns_fixture_recorder *r = arg;
	char text[TEXT_MAX], key[2 * TEXT_MAX + 64], full[PATH_MAX_LEN + 8];
	const char *kind = made_kind(owner->descriptor, fd);
	if (kind == NULL) {
		return;
	}
	leaf_text(fd, p, text, sizeof(text));
	if (text[0] == '\0' || strcmp(text, "0") == 0) {
		return;
	}
	if (strcmp(kind, "t") == 0) {
		time_key(r, owner, fd, key, sizeof(key));
	} else {
		snprintf(key, sizeof(key), "%s:%s", kind, text);
	}
	const char *name = name_for(r, kind, key);
	snprintf(full, sizeof(full), "payload.%s", path);
	if (name) {
		add_binding(r, UNS__V1__FIXTURE_BINDING__SIDE__SIDE_RESPONSE,
		            full, name);
	}
}

static void
bind_request_leaf(void *arg, const char *path, const ProtobufCMessage *owner,
                  const ProtobufCFieldDescriptor *fd, const void *p)
{
	static const char *const kinds[] = {"id", "cursor", "page"};
	uns_fixture_recorder *r = arg;
	char key[TEXT_MAX + 16], full[PATH_MAX_LEN + 8];
	(void)owner;
	if (fd->type != PROTOBUF_C_TYPE_STRING ||
	    (*(char *const *)p)[0] == '\0') {
		return;
	}
	for (size_t i = 0; i < 3; i++) {
		snprintf(key, sizeof(key), "%s:%s", kinds[i],
		         *(char *const *)p);
		const char *name = uns_fixture_binder_get(r->names, key);
		if (name) {
			snprintf(full, sizeof(full), "payload.%s", path);
			add_binding(
			    r, UNS__V1__FIXTURE_BINDING__SIDE__SIDE_REQUEST,
			    full, name);
			return;
		}
	}
}

/* Walks the payload of an envelope as a message of type d. */
static void
visit_payload(const ProtobufCMessageDescriptor *d, ProtobufCBinaryData pl,
              leaf_fn fn, uns_fixture_recorder *r)
{
	char path[PATH_MAX_LEN] = "";
	ProtobufCMessage *m =
	    protobuf_c_message_unpack(d, NULL, pl.len, pl.data);
	if (m) {
		visit(m, path, 0, fn, r, 0);
		protobuf_c_message_free_unpacked(m, NULL);
	}
}

/* Replaces a bearer JWT in the request by its placeholder. */
static void
placehold_token(Uns__V1__RequestEnvelope *req)
{
	char ph[600];
	for (size_t i = 0; i < req->n_metadata; i++) {
		Uns__V1__Metadata *md = req->metadata[i];
		const char *v = (const char *)md->value.data;
		size_t n = md->value.len;
		if (strcmp(md->key, "authorization") != 0 || n < 7 ||
		    memcmp(v, "Bearer ", 7) != 0 ||
		    uns_fixture_token_placeholder(v + 7, n - 7, ph + 7,
		                                  sizeof(ph) - 7) != 0) {
			continue;
		}
		memcpy(ph, "Bearer ", 7);
		uint8_t *copy = (uint8_t *)strdup(ph);
		if (copy) {
			free(md->value.data);
			md->value.data = copy;
			md->value.len = strlen(ph);
		}
	}
}

/* Names the server-made values of one exchange and links its request to
 * earlier names; the bindings go to r->bindings (unless r->dry). */
static void
bind_exchange(uns_fixture_recorder *r, const Uns__V1__RequestEnvelope *req,
              const Uns__V1__ResponseEnvelope *resp)
{
	const uns_method *m =
	    uns_service_find(&uns_notifications_service, req->method);
	if (m == NULL) {
		return;
	}
	visit_payload(m->input, req->payload, bind_request_leaf, r);
	if (resp->code == 0) {
		visit_payload(m->output, resp->payload, bind_reply_leaf, r);
	}
}

static uns_err
append_exchange(uns_fixture_recorder *r, Uns__V1__FixtureExchange *ex)
{
	Uns__V1__Fixture *f = r->f;
	void *v = realloc(f->exchanges, (f->n_exchanges + 1) * sizeof(ex));
	if (v == NULL) {
		return UNS_ENOMEM;
	}
	f->exchanges = v;
	f->exchanges[f->n_exchanges++] = ex;
	return UNS_OK;
}

/* Names the values of a fixture recorded before, as recording it did, so
 * that appending continues its names. (Names edited by hand since are not
 * seen: the new exchanges then use the recorded ones.) */
static void
prime(uns_fixture_recorder *r)
{
	r->dry = 1;
	for (size_t i = 0; i < r->f->n_exchanges; i++) {
		bind_exchange(r, r->f->exchanges[i]->request,
		              r->f->exchanges[i]->expected);
		r->exchange++;
	}
	r->dry = 0;
}
static uns_err
new_fixture(const char *description, Uns__V1__Fixture **out)
{
	Uns__V1__Fixture *f = calloc(1, sizeof(*f));
	Uns__V1__FixtureHeader *h = calloc(1, sizeof(*h));
	char *d = strdup(description ? description : "");
	if (f == NULL || h == NULL || d == NULL) {
		free(f);
		free(h);
		free(d);
		return UNS_ENOMEM;
	}
	uns__v1__fixture__init(f);
	uns__v1__fixture_header__init(h);
	h->format_version = UNS_FIXTURE_FORMAT_VERSION;
	h->description = d;
	f->header = h;
	*out = f;
	return UNS_OK;
}

uns_err
uns_fixture_recorder_open(uns_fixture_recorder **out, Uns__V1__Fixture *base,
                          const char *description)
{
	uns_fixture_recorder *r = calloc(1, sizeof(*r));
	if (r == NULL || uns_fixture_binder_alloc(&r->names) != UNS_OK ||
	    (base == NULL && new_fixture(description, &r->f) != UNS_OK)) {
		if (r) {
			uns_fixture_binder_free(r->names);
		}
		free(r);
		return UNS_ENOMEM;
	}
	pthread_mutex_init(&r->mu, NULL);
	if (base) {
		r->f = base;
		prime(r);
	}
	*out = r;
	return UNS_OK;
}

void
uns_fixture_recorder_close(uns_fixture_recorder *r)
{
	if (r == NULL) {
		return;
	}
	uns__v1__fixture__free_unpacked(r->f, NULL);
	uns_fixture_binder_free(r->names);
	free(r->bindings);
	pthread_mutex_destroy(&r->mu);
	free(r);
}

void
uns_fixture_recorder_forget(uns_fixture_recorder *r)
{
	pthread_mutex_lock(&r->mu);
	for (size_t i = 0; i < r->f->n_exchanges; i++) {
		uns__v1__fixture_exchange__free_unpacked(r->f->exchanges[i],
		                                         NULL);
	}
	r->f->n_exchanges = 0;
	pthread_mutex_unlock(&r->mu);
}

const Uns__V1__Fixture *
uns_fixture_recorder_fixture(uns_fixture_recorder *r)
{
	return r->f;
}

/* Packs a Fixture holding only ex and the count of pieces so far (the
 * last count read wins). */
static uns_err
pack_piece(uns_fixture_recorder *r, Uns__V1__FixtureExchange *ex,
           uint8_t **piece, size_t *len)
{
	Uns__V1__Fixture one = UNS__V1__FIXTURE__INIT;
	one.exchange_count = (uint32_t)++r->pieces;
	one.n_exchanges = 1;
	one.exchanges = &ex;
	return uns_fixture_pack(&one.base, piece, len);
}

static uns_err
record_locked(uns_fixture_recorder *r, Uns__V1__RequestEnvelope *req,
              Uns__V1__ResponseEnvelope *resp, uint8_t **piece,
              size_t *piece_len)
{
	Uns__V1__FixtureExchange *ex = malloc(sizeof(*ex));
	if (ex == NULL) {
		return UNS_ENOMEM;
	}
	uns__v1__fixture_exchange__init(ex);
	if (resp->code != UNS_UNAUTHENTICATED) {
		/* A refused token is what the exchange tests: keep it. */
		placehold_token(req);
	}
	r->n_bindings = 0;
	r->failed = 0;
	bind_exchange(r, req, resp);
	r->exchange++;
	ex->request = req;
	ex->expected = resp;
	ex->n_bindings = r->n_bindings;
	ex->bindings = r->n_bindings
	                   ? malloc(r->n_bindings * sizeof(*ex->bindings))
	                   : NULL;
	if (r->n_bindings && ex->bindings) {
		memcpy(ex->bindings, r->bindings,
		       r->n_bindings * sizeof(*ex->bindings));
	}
	if ((r->n_bindings && ex->bindings == NULL) || r->failed ||
	    append_exchange(r, ex) != UNS_OK) {
		if (ex->bindings == NULL) {
			for (size_t i = 0; i < r->n_bindings; i++) {
				uns__v1__fixture_binding__free_unpacked(
				    r->bindings[i], NULL);
			}
			ex->n_bindings = 0;
		}
		uns__v1__fixture_exchange__free_unpacked(ex, NULL);
		return UNS_ENOMEM;
	}
	return piece ? pack_piece(r, ex, piece, piece_len) : UNS_OK;
}

uns_err
uns_fixture_recorder_add(uns_fixture_recorder *r, const uint8_t *req,
                         size_t req_len, const uint8_t *resp, size_t resp_len,
                         uint8_t **piece, size_t *piece_len)
{
	Uns__V1__RequestEnvelope *rq =
	    uns__v1__request_envelope__unpack(NULL, req_len, req);
	Uns__V1__ResponseEnvelope *rs =
	    uns__v1__response_envelope__unpack(NULL, resp_len, resp);
	if (rq == NULL || rs == NULL) {
		if (rq) {
			uns__v1__request_envelope__free_unpacked(rq, NULL);
		}
		if (rs) {
			uns__v1__response_envelope__free_unpacked(rs, NULL);
		}
		return UNS_EPROTO;
	}
	pthread_mutex_lock(&r->mu);
	uns_err err = record_locked(r, rq, rs, piece, piece_len);
	pthread_mutex_unlock(&r->mu);
	return err;
}
