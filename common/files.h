/*
 * files.h — reading a small file whole, with the reason on failure
 * (files.c). Shared by libuns, the server and the tools.
 */
#ifndef UNS_FILES_H
#define UNS_FILES_H

#include <stddef.h>

#include "uns/uns.h"

/* Reads a regular file of at most max bytes whole, NUL-terminated (the NUL
 * not counted in *len; free() *out). UNS_EIO or UNS_ENOMEM with the reason
 * in why. */
uns_err uns_file_read(const char *path, size_t max, char **out, size_t *len,
                      char *why, size_t whylen);

#endif /* UNS_FILES_H */
