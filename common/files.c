/*
 * files.c — reading a small file whole (keys, certificates, secrets) and
 * writing a secret file once, the one place that does either, with errno
 * converted here.
 */
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
