/*
 * files.c — reading a small file whole (keys, certificates, secrets) and
 * writing a secret file once, the one place that does either, with errno
 * converted here; and the data directory's modes.
 *
 * Modes: a process that creates files sets its umask to 077 (unsd) or
 * passes 0600/0700 and fchmods (unsctl), so new files are private whatever
 * umask it was started with. A directory made under a looser umask by an
 * older version, or copied with cp -r, is tightened on start rather than
 * refused: refusing would stop a server over something it can fix, and
 * each change is reported. Only what cannot be changed is refused.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "files.h"
#include "errors.h"

uns_err
uns_file_read(const char *path, size_t max, char **out, size_t *len, char *why,
              size_t whylen)
{
	struct stat st;
	char *buf = NULL;
	size_t got = 0;
	uns_err err = UNS_EIO;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0 || fstat(fd, &st) != 0) {
		uns_say(why, whylen, "cannot read %s: %s", path,
		        strerror(errno));
		goto out;
	}
	if (!S_ISREG(st.st_mode) || (size_t)st.st_size > max) {
		uns_say(why, whylen,
		        "%s: not a regular file of at most %zu bytes", path,
		        max);
		goto out;
	}
	if ((buf = malloc((size_t)st.st_size + 1)) == NULL) {
		uns_say(why, whylen, "cannot read %s: out of memory", path);
		err = UNS_ENOMEM;
		goto out;
	}
	while (got < (size_t)st.st_size) {
		ssize_t n = read(fd, buf + got, (size_t)st.st_size - got);
		if (n < 0 && errno == EINTR) {
			continue;
		}
		if (n <= 0) {
			uns_say(why, whylen, "cannot read %s: %s", path,
			        n < 0 ? strerror(errno) : "file shrank");
			goto out;
		}
		got += (size_t)n;
	}
	buf[got] = '\0';
	*out = buf;
	*len = got;
	buf = NULL;
	err = UNS_OK;
out:
	free(buf);
	if (fd >= 0) {
		close(fd);
	}
	return err;
}

/* Makes the directories above path (mode 0700), as mkdir -p. */
static uns_err
make_dir_for(const char *path)
{
	char dir[4096];

	if (strlen(path) >= sizeof(dir)) {
		return UNS_EIO;
	}
	snprintf(dir, sizeof(dir), "%s", path);
	for (char *p = dir + 1; *p != '\0'; p++) {
		if (*p != '/') {
			continue;
		}
		*p = '\0';
		if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
			return UNS_EIO;
		}
		*p = '/';
	}
	return UNS_OK;
}

uns_err
uns_file_write_new(const char *path, const void *data, size_t len)
{
	int fd;
	ssize_t n;

	if (make_dir_for(path) != UNS_OK) {
		return UNS_EIO;
	}
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0) {
		return errno == EEXIST ? UNS_OK : UNS_EIO;
	}
	n = write(fd, data, len);
	if (close(fd) != 0 || n != (ssize_t)len) {
		unlink(path);
		return UNS_EIO;
	}
	return UNS_OK;
}

#define TREE_DEPTH 8 /* the store's deepest directory is 2 below data */

/* Clears the group and other bits of path (lstat'ed as *st). */
static uns_err
tighten(const char *path, const struct stat *st, uns_tightened_fn fn, void *arg,
        char *why, size_t whylen)
{
	mode_t old = st->st_mode & 07777;
	if ((old & 077) == 0) {
		return UNS_OK;
	}
	if (chmod(path, old & 07700) != 0) {
		uns_say(why, whylen,
		        "%s is mode %04o (open to other users) and cannot be "
		        "made private: %s; make it 0%o or fix its owner",
		        path, (unsigned)old, strerror(errno),
		        S_ISDIR(st->st_mode) ? 700 : 600);
		return UNS_EIO;
	}
	if (fn) {
		fn(arg, path, (unsigned)old, (unsigned)(old & 07700));
	}
	return UNS_OK;
}

static uns_err
walk_private(const char *dir, int depth, uns_tightened_fn fn, void *arg,
             char *why, size_t whylen)
{
	char path[4096];
	struct dirent *e;
	uns_err err = UNS_OK;
	DIR *d = opendir(dir);
	if (d == NULL) {
		uns_say(why, whylen, "cannot read %s: %s", dir,
		        strerror(errno));
		return UNS_EIO;
	}
	while (err == UNS_OK && (e = readdir(d)) != NULL) {
		struct stat st;
		if (strcmp(e->d_name, ".") == 0 ||
		    strcmp(e->d_name, "..") == 0) {
			continue;
		}
		snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
		if (lstat(path, &st) != 0 || S_ISLNK(st.st_mode)) {
			continue;
		}
		err = tighten(path, &st, fn, arg, why, whylen);
		if (err == UNS_OK && S_ISDIR(st.st_mode) &&
		    depth < TREE_DEPTH) {
			err =
			    walk_private(path, depth + 1, fn, arg, why, whylen);
		}
	}
	closedir(d);
	return err;
}

uns_err
uns_private_tree(const char *dir, uns_tightened_fn fn, void *arg, char *why,
                 size_t whylen)
{
	struct stat st;
	if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode)) {
		uns_say(why, whylen, "%s: not a directory", dir);
		return UNS_EIO;
	}
	uns_err err = tighten(dir, &st, fn, arg, why, whylen);
	return err == UNS_OK ? walk_private(dir, 0, fn, arg, why, whylen) : err;
}
