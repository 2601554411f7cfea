/*
 * gateway_web.c — GET /web/NAME: the files of one configured folder
 * (gateway_web_root; off when ""), so the reference inbox (client/web) is
 * one origin with the API it calls and its service worker's scope is
 * /web/. /web/ is index.html; /web without the slash is redirected, so the
 * page's relative URLs resolve under /web/.
 *
 * Deliberately small: one folder level (a name, as MHD decoded the path,
 * is letters, digits, '.', '_' and '-' only, and none starts with '.', so
 * nothing outside the folder can be named), text
 * types only from the table below (the reply is text), each file read whole per
 * request (up to 1 MiB) and sent with no-cache, so an edit shows on the next
 * load. Rejected: a general file server (ranges, caching validators, directory
 * listings) that a reference page does not need and every deployment would
 * front with its own web server anyway.
 */
#include <stdio.h>
#include <string.h>

#include "errors.h"
#include "files.h"
#include "gateway_handlers.h"

#define MAX_FILE (1 << 20)

static const struct {
	const char *ext, *type;
} types[] = {
    {".html", "text/html; charset=utf-8"},
    {".js", "text/javascript; charset=utf-8"},
    {".mjs", "text/javascript; charset=utf-8"},
    {".css", "text/css; charset=utf-8"},
    {".json", "application/json; charset=utf-8"},
    {".webmanifest", "application/manifest+json"},
    {".svg", "image/svg+xml"},
    {".txt", "text/plain; charset=utf-8"},
};

static const char *
type_of(const char *name)
{
	const char *dot = strrchr(name, '.');
	for (size_t i = 0; dot && i < sizeof(types) / sizeof(types[0]); i++) {
		if (strcmp(dot, types[i].ext) == 0) {
			return types[i].type;
		}
	}
	return NULL;
}

static int
name_ok(const char *name)
{
	return name[0] != '.' && name[0] != '\0' &&
	       name[strspn(name, "abcdefghijklmnopqrstuvwxyz"
	                         "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-")] ==
	           '\0';
}

void
uns_gw_web(uns_gw_exchange *x)
{
	char path[1200], why[256], loc[600];
	const char *name = strcmp(x->path, "/web/") == 0  ? "index.html"
	                   : strcmp(x->path, "/web") == 0 ? NULL
	                                                  : x->path + 5;
	const char *type = name ? type_of(name) : NULL;
	char *body = NULL;
	size_t len;
	if (x->web_root == NULL || x->web_root[0] == '\0') {
		uns_gw_fail(x, 404, "NotFound",
		            "no resource at %s (gateway_web_root is not set)",
		            x->path);
		return;
	}
	if (name == NULL) {
		snprintf(loc, sizeof(loc), "%s/web/", x->base_url);
		uns_gw_set_header(x, "Location", loc);
		uns_gw_reply_empty(x, 301);
		return;
	}
	snprintf(path, sizeof(path), "%s/%s", x->web_root, name);
	if (!name_ok(name) || type == NULL ||
	    uns_file_read(path, MAX_FILE, &body, &len, why, sizeof(why)) !=
	        UNS_OK) {
		uns_gw_fail(x, 404, "NotFound", "no file %.200s under /web/",
		            name);
		return;
	}
	uns_gw_set_header(x, "Cache-Control", "no-cache");
	uns_gw_set_header(x, "X-Content-Type-Options", "nosniff");
	uns_gw_reply_text(x, 200, type, body);
}
