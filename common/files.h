/*
 * files.h — reading a small file whole, with the reason on failure, and
 * writing a secret file once and keeping a data directory private
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

/* Called for each entry uns_private_tree changed: its path and the modes
 * before and after. */
typedef void (*uns_tightened_fn)(void *arg, const char *path, unsigned old_mode,
                                 unsigned new_mode);

/*
 * Makes dir and everything below it (symbolic links are not followed)
 * reachable by its owner only: each directory and file with a group or
 * other permission bit loses them (0755 -> 0700, 0644 -> 0600), fn (may be
 * NULL) told of each. UNS_EIO with the path and the reason in why when one
 * cannot be changed (another owner): the caller refuses to run on it.
 */
uns_err uns_private_tree(const char *dir, uns_tightened_fn fn, void *arg,
                         char *why, size_t whylen);
/* Writes len bytes of data to path (mode 0600, the directories above it
 * made mode 0700) unless path exists, which is UNS_OK too: a key made on
 * first use, whoever comes first. UNS_EIO when it cannot (no partial
 * file is left). */
uns_err uns_file_write_new(const char *path, const void *data, size_t len);

#endif /* UNS_FILES_H */
