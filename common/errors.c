/*
 * errors.c — names and descriptions of uns_err, and the per-thread "last
 * message" that tells a synchronous caller why its call failed.
 *
 * The message lives in thread-local storage, like errno, so that concurrent
 * calls on one client handle never see each other's messages. Tables indexed
 * by code keep names and descriptions in one place.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "uns/uns.h"
#include "errors.h"

struct err_row {
	uns_err err;
	const char *name;
	const char *text;
};

static const struct err_row err_rows[] = {
    {UNS_OK, "OK", "ok"},
    {UNS_CANCELLED, "CANCELLED", "cancelled"},
    {UNS_UNKNOWN, "UNKNOWN", "unknown error"},
    {UNS_INVALID_ARGUMENT, "INVALID_ARGUMENT", "invalid argument"},
    {UNS_DEADLINE_EXCEEDED, "DEADLINE_EXCEEDED", "deadline exceeded"},
    {UNS_NOT_FOUND, "NOT_FOUND", "not found"},
    {UNS_ALREADY_EXISTS, "ALREADY_EXISTS", "already exists"},
    {UNS_PERMISSION_DENIED, "PERMISSION_DENIED", "permission denied"},
    {UNS_RESOURCE_EXHAUSTED, "RESOURCE_EXHAUSTED", "resource exhausted"},
    {UNS_FAILED_PRECONDITION, "FAILED_PRECONDITION", "failed precondition"},
    {UNS_ABORTED, "ABORTED", "aborted"},
    {UNS_OUT_OF_RANGE, "OUT_OF_RANGE", "out of range"},
    {UNS_UNIMPLEMENTED, "UNIMPLEMENTED", "unimplemented"},
    {UNS_INTERNAL, "INTERNAL", "internal error"},
    {UNS_UNAVAILABLE, "UNAVAILABLE", "service unavailable"},
    {UNS_DATA_LOSS, "DATA_LOSS", "data loss"},
    {UNS_UNAUTHENTICATED, "UNAUTHENTICATED", "unauthenticated"},
    {UNS_ENOMEM, "ENOMEM", "out of memory"},
    {UNS_EINVAL, "EINVAL", "invalid argument to a library call"},
    {UNS_ETLS, "ETLS", "tls handshake or certificate failure"},
    {UNS_ECONNECT, "ECONNECT", "cannot connect"},
    {UNS_ECLOSED, "ECLOSED", "handle closed"},
    {UNS_EPROTO, "EPROTO", "protocol error"},
    {UNS_EIO, "EIO", "i/o error"},
};

static const struct err_row *
err_row(uns_err err)
{
	for (size_t i = 0; i < sizeof(err_rows) / sizeof(err_rows[0]); i++) {
		if (err_rows[i].err == err) {
			return &err_rows[i];
		}
	}
	return NULL;
}

const char *
uns_strerror(uns_err err)
{
	const struct err_row *row = err_row(err);
	return row ? row->text : "unknown error code";
}

const char *
uns_status_name(uns_err err)
{
	const struct err_row *row = err_row(err);
	return row ? row->name : "UNKNOWN";
}

int
uns_err_from_name(const char *name, uns_err *out)
{
	for (size_t i = 0; i < sizeof(err_rows) / sizeof(err_rows[0]); i++) {
		if (strcmp(err_rows[i].name, name) == 0) {
			*out = err_rows[i].err;
			return 1;
		}
	}
	return 0;
}

static _Thread_local char last_message[512];

const char *
uns_last_message(void)
{
	return last_message;
}

uns_err
uns_fail(uns_err err, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(last_message, sizeof(last_message), fmt, ap);
	va_end(ap);
	return err;
}

void
uns_clear_message(void)
{
	last_message[0] = '\0';
}

void
uns_say(char *why, size_t whylen, const char *fmt, ...)
{
	va_list ap;
	if (why == NULL || whylen == 0) {
		return;
	}
	va_start(ap, fmt);
	vsnprintf(why, whylen, fmt, ap);
	va_end(ap);
}
