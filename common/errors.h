/*
 * errors.h — how a failure is said: the calling thread's last message
 * (uns_fail), a reason into a caller's buffer (uns_say), and the one mapping
 * of code names and NNG errors to uns_err. Shared by libuns, the server and
 * the tools; not part of the public API.
 */
#ifndef UNS_ERRORS_H
#define UNS_ERRORS_H

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

/* Looks up a code by its canonical name ("NOT_FOUND"); returns 0 if none. */
int uns_err_from_name(const char *name, uns_err *out);

/* The one conversion of NNG error numbers (nngerr.c). */
uns_err uns_err_from_nng(int rv);

#endif /* UNS_ERRORS_H */
