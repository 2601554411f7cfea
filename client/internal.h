/*
 * internal.h — declarations shared inside libuns and with the server, not
 * part of the public API.
 */
#ifndef UNS_INTERNAL_H
#define UNS_INTERNAL_H

#include <stdarg.h>
#include <stddef.h>

#include "uns/uns.h"

/* Sets the calling thread's last message and returns err. */
uns_err uns_fail(uns_err err, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
void uns_clear_message(void);

/* Formats a reason into a caller's buffer; why may be NULL or whylen 0. */
void uns_say(char *why, size_t whylen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Reads a regular file of at most max bytes whole, NUL-terminated (the NUL
 * not counted in *len; free() *out). UNS_EIO or UNS_ENOMEM with the reason
 * in why. */
uns_err uns_file_read(const char *path, size_t max, char **out, size_t *len,
                      char *why, size_t whylen);

/* Looks up a code by its canonical name ("NOT_FOUND"); returns 0 if none. */
int uns_err_from_name(const char *name, uns_err *out);

/* The one conversion of NNG error numbers (nngerr.c). */
uns_err uns_err_from_nng(int rv);

#endif /* UNS_INTERNAL_H */
